package io.jvit.bench;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class JitWatchTest {

    /** With nothing new to compile the JIT goes quiet within a few windows; the wait never outlasts its cap. */
    @Test
    void idleJitGoesQuietAndTheWaitIsCapped() {
        long t0 = System.nanoTime();
        boolean quiet = new Stats.JitWatch(100).await(20_000);
        double s = (System.nanoTime() - t0) / 1e9;
        assertTrue(quiet, "JIT still compiling after " + s + " s of idling");
        assertTrue(s >= 0.2, "two quiet windows of 100 ms take at least 0.2 s, took " + s);

        t0 = System.nanoTime();
        new Stats.JitWatch(10_000).await(300);   // windows far longer than the cap: must give up at the cap
        s = (System.nanoTime() - t0) / 1e9;
        assertTrue(s < 2, "a 300 ms cap took " + s + " s");
    }

    /** The probe's loop in calls of a few ms still reads a sane rate on one thread. */
    @Test
    void peakProbeReadsAPositiveRate() {
        double g = PeakFlops.measure(1, 30, 2);
        assertTrue(g > 1 && g < 10_000, "GFLOP/s " + g);
    }
}
