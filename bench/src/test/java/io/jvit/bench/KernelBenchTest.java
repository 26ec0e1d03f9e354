package io.jvit.bench;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KernelBenchTest {
    private static KernelBench.Result sample(int threads, double median, double... probes) {
        return new KernelBench.Result("k", threads, median, median, 1, Double.NaN, 0, probes, Double.NaN);
    }

    @Test
    void aShortProbeThatReadsLowDoesNotLowerThePeak() {
        // the case seen here: the start's probe at 224.8, the short probes at ~150 while the kernel ran at 205
        KernelBench.Peaks peaks = new KernelBench.Peaks();
        peaks.add(1, 224.8);
        KernelBench.Result r = peaks.share(sample(1, 205.9, 150.2, 148.0, 153.1));
        assertEquals(100 * 205.9 / 224.8, r.pctOfPeak(), 1e-9);
        assertTrue(r.pctOfPeak() < 100);
        assertEquals(224.8, peaks.peak(1));
        assertEquals(148.0, peaks.lowest(1));
    }

    @Test
    void aHigherShortProbeRaisesThePeakForThatThreadCountOnly() {
        KernelBench.Peaks peaks = new KernelBench.Peaks();
        peaks.add(1, 200);
        peaks.add(2, 400);
        KernelBench.Result r = peaks.share(sample(2, 380, 410, 440));
        assertEquals(100 * 380 / 440.0, r.pctOfPeak(), 1e-9);
        assertEquals(200, peaks.peak(1));
        assertEquals(100 * 180 / 200.0, peaks.share(sample(1, 180)).pctOfPeak(), 1e-9);
    }

    @Test
    void withoutAProbeThereIsNoShare() {
        KernelBench.Peaks peaks = new KernelBench.Peaks();
        peaks.add(1, Double.NaN);   // the probe gave up: no reading
        assertTrue(Double.isNaN(peaks.share(sample(1, 100, Double.NaN)).pctOfPeak()));
        assertTrue(Double.isNaN(peaks.lowest(1)));
    }
}
