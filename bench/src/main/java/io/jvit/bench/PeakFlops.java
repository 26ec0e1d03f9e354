package io.jvit.bench;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.concurrent.CyclicBarrier;

/**
 * This machine's fp32 FMA peak as the Vector API reaches it: a register-only loop of independent
 * FloatVector FMA chains (enough of them to cover the FMA latency on every FMA port), no memory traffic.
 * Run it in the process being measured, beside the kernels, so that a ratio to it is meaningful on a
 * shared machine whose clock and load vary from run to run.
 */
public final class PeakFlops {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Independent accumulators: 4-cycle FMA latency x 2 ports = 8 needed for 256-bit pipes; 16 leaves slack. */
    static final int CHAINS = 16;
    /** FLOPs of one loop iteration: CHAINS FMAs of LANES lanes, 2 FLOPs each. */
    public static final long FLOPS_PER_ITER = 2L * CHAINS * F.length();

    private PeakFlops() {}

    /** The register-only loop: {@code iters} x {@link #CHAINS} FMAs. Returns a value derived from every chain, so nothing is dead. */
    public static float kernel(int iters, float seed) {
        FloatVector m = FloatVector.broadcast(F, 0.9999999f - seed * 1e-9f);
        FloatVector c = FloatVector.broadcast(F, 1e-7f + seed * 1e-12f);
        FloatVector a0 = FloatVector.broadcast(F, seed), a1 = a0.add(1), a2 = a0.add(2), a3 = a0.add(3);
        FloatVector a4 = a0.add(4), a5 = a0.add(5), a6 = a0.add(6), a7 = a0.add(7);
        FloatVector a8 = a0.add(8), a9 = a0.add(9), a10 = a0.add(10), a11 = a0.add(11);
        FloatVector a12 = a0.add(12), a13 = a0.add(13), a14 = a0.add(14), a15 = a0.add(15);
        for (int i = 0; i < iters; i++) {
            a0 = a0.fma(m, c); a1 = a1.fma(m, c); a2 = a2.fma(m, c); a3 = a3.fma(m, c);
            a4 = a4.fma(m, c); a5 = a5.fma(m, c); a6 = a6.fma(m, c); a7 = a7.fma(m, c);
            a8 = a8.fma(m, c); a9 = a9.fma(m, c); a10 = a10.fma(m, c); a11 = a11.fma(m, c);
            a12 = a12.fma(m, c); a13 = a13.fma(m, c); a14 = a14.fma(m, c); a15 = a15.fma(m, c);
        }
        FloatVector s = a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7)
                .add(a8).add(a9).add(a10).add(a11).add(a12).add(a13).add(a14).add(a15);
        return s.reduceLanes(VectorOperators.ADD);
    }

    private static volatile float sink;

    /** GFLOP/s on {@code threads} threads at once, best of {@code repeats} runs of about {@code millis} ms each. */
    public static double measure(int threads, int millis, int repeats) {
        warmUp();
        int iters = itersFor(millis);
        // at least `repeats` runs, and on until the best stops improving: right after a model's warm-up the
        // JIT's queue can hold this loop at C1 for seconds (a 1-thread "peak" of 18 GFLOP/s was reported once)
        double best = 0;
        long deadline = System.nanoTime() + 20L * Math.max(millis, 50) * 1_000_000L * repeats;
        for (int r = 0, stable = 0; r < repeats || (stable < 2 && System.nanoTime() < deadline); r++) {
            double g = run(threads, iters);
            stable = g > best * 1.03 ? 0 : stable + 1;
            best = Math.max(best, g);
        }
        return best;
    }

    /** Length of the short probes the benches run beside their samples: a fifth of a full probe's, at least 50 ms; 0 for none. */
    static int shortProbeMs(int peakMs) { return peakMs <= 0 ? 0 : Math.max(50, peakMs / 5); }

    private static final java.util.Map<Integer, Integer> ITERS = new java.util.concurrent.ConcurrentHashMap<>();

    /** One run of about {@code millis} ms on {@code threads} threads (after {@link #measure} has warmed the loop): GFLOP/s. */
    public static double sample(int threads, int millis) {
        warmUp();
        int iters = ITERS.computeIfAbsent(millis, PeakFlops::itersFor);
        return run(threads, iters);
    }

    private static boolean warm;

    private static synchronized void warmUp() {
        if (warm) return;
        // many short calls: the interpreter runs Vector API code very slowly (about 1 us per operation), so
        // reach the C1 and C2 invocation thresholds with few iterations, then run the compiled loop a while
        for (int i = 0; i < 2_000; i++) sink += kernel(64, i);
        long end = System.nanoTime() + 100_000_000L;
        while (System.nanoTime() < end) sink += kernel(20_000, 1);
        warm = true;
    }

    private static int itersFor(int millis) {
        int probe = 2_000_000;
        long t0 = System.nanoTime();
        sink += kernel(probe, 1);
        double ns = Math.max(1, System.nanoTime() - t0);
        return (int) Math.max(100_000, Math.min(Integer.MAX_VALUE / 2, probe * (millis * 1e6 / ns)));
    }

    /** Loop iterations per call of {@link #kernel} (a few ms). */
    private static final int CHUNK = 1 << 20;

    /**
     * {@code iters} iterations as calls of {@link #CHUNK}: one long call stays in whatever code it entered, and in
     * the bench's first probe that was a version of the loop running at 2/3 of the speed of later calls (a 1-thread
     * "peak" of 144-154 GFLOP/s, then 211-225 in the same process, on a new thread or on the same one).
     */
    private static float chunked(int iters, float seed) {
        float v = 0;
        for (int done = 0; done < iters; done += CHUNK) v += kernel(Math.min(CHUNK, iters - done), seed);
        return v;
    }

    private static double run(int threads, int iters) {
        if (threads == 1) {
            long t0 = System.nanoTime();
            sink += chunked(iters, 3);
            return (double) iters * FLOPS_PER_ITER / (System.nanoTime() - t0);
        }
        // each thread times itself: the span from the first start to the last end. Timed by the caller around the
        // barriers, a caller woken after the workers had started read up to 481 GFLOP/s on two 220 GFLOP/s cores.
        CyclicBarrier start = new CyclicBarrier(threads);
        long[] begin = new long[threads], finish = new long[threads];
        Thread[] ts = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            final int id = t;
            ts[t] = new Thread(() -> {
                try {
                    start.await();
                    begin[id] = System.nanoTime();
                    float v = chunked(iters, 3 + id);
                    finish[id] = System.nanoTime();
                    sink += v;
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }, "jvit-peak-" + t);
            ts[t].setDaemon(true);
            ts[t].start();
        }
        try {
            for (Thread t : ts) t.join();
            long ns = java.util.Arrays.stream(finish).max().getAsLong() - java.util.Arrays.stream(begin).min().getAsLong();
            return (double) iters * threads * FLOPS_PER_ITER / ns;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
