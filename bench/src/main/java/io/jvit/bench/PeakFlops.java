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
        return PeakLoop.kernel(iters, seed);
    }

    /** A copy of the loop: {@code iters} x {@link #CHAINS} FMAs. */
    @FunctionalInterface
    interface Loop {
        float run(int iters, float seed);
    }

    /**
     * Under this many GFLOP/s per thread the loop is not C2's code: the Vector API's operations then run boxed on the
     * heap, ~100x slower (2.5-3.6 GFLOP/s, seen once on this host with a 220 GFLOP/s core: the bench printed a
     * model at "11801% of the peak"). Any vector unit, even 128 bits wide at 1 GHz, is above it.
     */
    static final double COMPILED_FLOOR = 8;
    /** Fresh copies of the loop tried when one reads under the floor. */
    private static final int MAX_COPIES = 2;

    private static volatile Loop loop = PeakLoop::kernel;
    private static java.util.function.Supplier<Loop> fresh = PeakFlops::freshCopy;
    private static int copiesTried;
    private static volatile boolean gaveUp;

    /** Whether the probe gave up: its loop and {@link #MAX_COPIES} fresh copies all ran under {@link #COMPILED_FLOOR}. */
    public static boolean gaveUp() { return gaveUp; }

    /** The loop, as a new hidden class defined from PeakLoop's bytes: its own methods, compiled on their own. */
    static Loop freshCopy() {
        try (java.io.InputStream in = PeakFlops.class.getResourceAsStream("PeakLoop.class")) {
            java.lang.invoke.MethodHandles.Lookup copy = java.lang.invoke.MethodHandles.lookup().defineHiddenClass(in.readAllBytes(), true);
            java.lang.invoke.MethodHandle mh = copy.findStatic(copy.lookupClass(), "kernel",
                    java.lang.invoke.MethodType.methodType(float.class, int.class, float.class));
            return (iters, seed) -> {
                try {
                    return (float) mh.invokeExact(iters, seed);
                } catch (Throwable t) {
                    throw new IllegalStateException(t);
                }
            };
        } catch (ReflectiveOperationException | java.io.IOException e) {
            throw new IllegalStateException("the peak probe's loop cannot be copied", e);
        }
    }

    /** Uses {@code l} as the loop from now on, and {@code copies} for fresh ones (tests: stand-ins for uncompiled loops). */
    static synchronized void useLoop(Loop l, java.util.function.Supplier<Loop> copies) {
        loop = l;
        fresh = copies;
        copiesTried = 0;
        gaveUp = false;
        warm = false;
        ITERS.clear();
    }

    /**
     * {@code g} GFLOP/s read on {@code threads} threads: if under the floor, the loop was not compiled; then a fresh
     * copy is warmed up and read again ({@code again}), up to {@link #MAX_COPIES} times; NaN if none of them is.
     */
    private static synchronized double checked(double g, int threads, java.util.function.DoubleSupplier again) {
        while (g < COMPILED_FLOOR * threads) {
            if (copiesTried >= MAX_COPIES) {
                gaveUp = true;
                return Double.NaN;
            }
            copiesTried++;
            loop = fresh.get();
            warm = false;
            ITERS.clear();
            g = again.getAsDouble();
        }
        return g;
    }

    private static volatile float sink;

    /** GFLOP/s on {@code threads} threads at once, best of {@code repeats} runs of about {@code millis} ms each. */
    public static double measure(int threads, int millis, int repeats) {
        if (gaveUp) return Double.NaN;
        return checked(measureOnce(threads, millis, repeats), threads, () -> measureOnce(threads, millis, repeats));
    }

    private static double measureOnce(int threads, int millis, int repeats) {
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
        if (gaveUp) return Double.NaN;
        return checked(sampleOnce(threads, millis), threads, () -> sampleOnce(threads, millis));
    }

    private static double sampleOnce(int threads, int millis) {
        warmUp();
        int iters = ITERS.computeIfAbsent(millis, PeakFlops::itersFor);
        return run(threads, iters);
    }

    private static boolean warm;

    private static synchronized void warmUp() {
        if (warm) return;
        // many short calls: the interpreter runs Vector API code very slowly (about 1 us per operation), so
        // reach the C1 and C2 invocation thresholds with few iterations, then run the compiled loop a while
        Loop l = loop;
        for (int i = 0; i < 2_000; i++) sink += l.run(64, i);
        long end = System.nanoTime() + 100_000_000L;
        while (System.nanoTime() < end) sink += l.run(20_000, 1);
        warm = true;
    }

    private static int itersFor(int millis) {
        int probe = 2_000_000;
        long t0 = System.nanoTime();
        sink += loop.run(probe, 1);
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
        Loop l = loop;
        for (int done = 0; done < iters; done += CHUNK) v += l.run(Math.min(CHUNK, iters - done), seed);
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
