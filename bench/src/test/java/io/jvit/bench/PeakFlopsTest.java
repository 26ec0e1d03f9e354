package io.jvit.bench;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The peak probe when the JIT leaves its loop uncompiled (its vectors boxed, ~100x slower). */
class PeakFlopsTest {
    /** A stand-in for a loop left to boxed vectors: 100 ns an iteration, ~5 GFLOP/s with 512-bit vectors. */
    private static final PeakFlops.Loop STUCK = (iters, seed) -> {
        LockSupport.parkNanos(iters * 100L * PeakFlops.F.length() / 16);
        return seed;
    };

    @AfterEach
    void realLoop() {
        PeakFlops.useLoop(PeakLoop::kernel, PeakFlops::freshCopy);
    }

    @Test
    void aFreshCopyComputesWhatTheLoopDoes() {
        assertEquals(PeakFlops.kernel(1000, 2f), PeakFlops.freshCopy().run(1000, 2f));
    }

    @Test
    void aLoopUnderTheFloorIsReplacedByAFreshCopy() {
        PeakFlops.useLoop(STUCK, PeakFlops::freshCopy);
        double g = PeakFlops.measure(1, 30, 2);
        assertTrue(g >= PeakFlops.COMPILED_FLOOR, "GFLOP/s after a fresh copy: " + g);
        assertFalse(PeakFlops.gaveUp());
    }

    @Test
    void whenEveryCopyIsUnderTheFloorThereIsNoPeak() {
        PeakFlops.useLoop(STUCK, () -> STUCK);
        assertTrue(Double.isNaN(PeakFlops.measure(1, 30, 2)));
        assertTrue(PeakFlops.gaveUp());
        assertTrue(Double.isNaN(PeakFlops.sample(1, 50)), "no samples once given up");
    }
}
