package io.jvit.engine;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

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
 * forward pass keeps to the logits it returns.
 */
class WarmForwardAllocationTest {
    /**
     * Bytes a warm pass may allocate besides the logits it returns: none are expected (the loops' bodies are
     * made once and reused), 64 leave room for nothing but an object or two. A helper that boxes one vector
     * per row (a lane sum through FloatVector.slice, not intrinsified, once allocated ~50 KB) or a lambda
     * made per parallel loop (~3.5 KB per ViT-B pass on one thread, 7.5 KB on two, before they were reused) fails it.
     */
    private static final long SLACK = 64;

    @ParameterizedTest(name = "{0} thread(s)")
    @ValueSource(ints = {1, 2})
    void warmForwardPassAllocatesOnlyItsLogits(int threads) {
        ViTConfig c = new ViTConfig(28, 4, 3, 64, 2, 4, 128, 10, 1e-6f, false, 0);
        var mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        try (Arena arena = Arena.ofShared()) {
            ViTModel m = TestModels.model(arena, c, 7);
            try (VisionTransformer vt = new VisionTransformer(m, threads)) {
                float[] pixels = TestModels.randn(new Random(1), 3 * 28 * 28, 1);
                float[] out = vt.classify(pixels, 1);   // the workers started, so that they are found
                long[] workers = threads == 1 ? new long[0] : workerIds();
                long idle = allocated(mx, workers) - allocated(mx, workers);   // a reading's own cost, 0 as a rule
                long logits = 16 + 4L * out.length;   // a float[] of numClasses: header and data
                long limit = logits + SLACK + idle, deadline = System.nanoTime() + 120_000_000_000L, least = Long.MAX_VALUE;
                int runs = 0;
                while (System.nanoTime() < deadline) {
                    long before = allocated(mx, workers);
                    vt.classify(pixels, 1);
                    long bytes = allocated(mx, workers) - before;
                    runs++;
                    least = Math.min(least, bytes);
                    if (runs >= 300 && bytes <= limit) return;
                }
                fail("after " + runs + " forward passes (2 minutes) on " + threads + " thread(s) one still allocates at least " + least
                        + " bytes (limit " + limit + ", of which the logits " + logits + "): a vector kernel is not compiled by C2 and"
                        + " boxes its vectors, or a parallel loop makes its body per call");
            }
        }
    }

    /** The pool's workers (and any idle ones of pools still open: they allocate nothing). */
    private static long[] workerIds() {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("jvit-worker-"))
                .mapToLong(Thread::threadId).toArray();
    }

    /** Heap bytes allocated so far by this thread and the workers, read without allocating. */
    private static long allocated(com.sun.management.ThreadMXBean mx, long[] workers) {
        long sum = mx.getCurrentThreadAllocatedBytes();
        for (long id : workers) sum += Math.max(0, mx.getThreadAllocatedBytes(id));
        return sum;
    }
}
