package io.jvit.bench;

import org.junit.jupiter.api.Test;

import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.*;

class JitWatchTest {

    /** With nothing new to compile the JIT goes quiet within a few windows, and not before two have passed. */
    @Test
    void idleJitGoesQuietAfterTwoWindows() {
        long t0 = System.nanoTime();
        Stats.JitWatch w = new Stats.JitWatch(100);
        while (!w.quiet() && System.nanoTime() - t0 < 20_000_000_000L) LockSupport.parkNanos(10_000_000);
        double s = (System.nanoTime() - t0) / 1e9;
        assertTrue(w.quiet(), "JIT still compiling after " + s + " s of idling");
        assertTrue(s >= 0.2, "two quiet windows of 100 ms take at least 0.2 s, took " + s);
    }

    /** The probe's loop in calls of a few ms still reads a sane rate on one thread. */
    @Test
    void peakProbeReadsAPositiveRate() {
        double g = PeakFlops.measure(1, 30, 2);
        assertTrue(g > 1 && g < 10_000, "GFLOP/s " + g);
    }
}
