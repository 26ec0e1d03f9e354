package io.jvit.engine;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.management.ManagementFactory;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Guards against the failure this engine is most exposed to: a vector kernel that never reaches C2
 * runs its Vector API operations through the Java fallbacks, every vector boxed on the heap
 * (megabytes per forward pass, ~1000x slower). Seen for real: C1's tier-3 compile of a larger matmul
 * kernel sometimes failed ("out of virtual registers") and left it at tier 2 for the whole process.
 * Not a timing test: it gives the JIT up to two minutes, then checks bytes allocated, which a compiled
 * forward pass keeps to its result and a few small objects.
 */
class WarmForwardAllocationTest {
    /**
     * A warm pass of this model allocates ~400 bytes (the logits, a few lambdas). 4 KB also catches a helper
     * that boxes one vector per row: a lane sum through FloatVector.slice, not intrinsified, allocated ~50 KB.
     */
    private static final long LIMIT = 4 * 1024;

    @Test
    void warmForwardPassAllocatesAlmostNothing() {
        ViTConfig c = new ViTConfig(28, 4, 3, 64, 2, 4, 128, 10, 1e-6f, false, 0);
        var mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        try (Arena arena = Arena.ofShared()) {
            ViTModel m = TestModels.model(arena, c, 7);
            try (VisionTransformer vt = new VisionTransformer(m, 1)) {   // one thread: all work on this thread
                float[] pixels = TestModels.randn(new Random(1), 3 * 28 * 28, 1);
                long deadline = System.nanoTime() + 120_000_000_000L, least = Long.MAX_VALUE;
                int runs = 0;
                while (System.nanoTime() < deadline) {
                    long before = mx.getCurrentThreadAllocatedBytes();
                    vt.classify(pixels, 1);
                    long bytes = mx.getCurrentThreadAllocatedBytes() - before;
                    runs++;
                    least = Math.min(least, bytes);
                    if (runs >= 300 && bytes < LIMIT) return;
                }
                fail("after " + runs + " forward passes (2 minutes) one still allocates at least " + least
                        + " bytes (limit " + LIMIT + "): a vector kernel is not compiled by C2 and boxes its vectors");
            }
        }
    }
}
