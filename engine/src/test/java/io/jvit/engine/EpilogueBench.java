package io.jvit.engine;

import jdk.incubator.vector.FloatVector;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Where fc1's bias + GELU epilogue should run, measured as the engine meets it (weights streamed from DRAM,
 * M = 198): variants alternate in one process, each round read as ratios to the first. Not a test: run with
 * <pre>
 * java --add-modules jdk.incubator.vector -cp engine/target/classes:engine/target/test-classes \
 *     io.jvit.engine.EpilogueBench K N threads variant[,variant...] [rounds]    # e.g. 768 3072 1 chunk,tile,store
 * </pre>
 * Variants: {@code chunk} (bias, then GELU, over the task's rows once all are computed), {@code tile} (the
 * same per 6-row micro-tile, in L1), {@code store} (bias only: the floor), {@code gelu} (the engine's
 * {@link Matmul#multiply} as it is).
 */
public final class EpilogueBench {
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    private static MemorySegment random(Arena arena, long floats, int seed) {
        MemorySegment s = arena.allocate(floats * 4, 64);
        for (long i = 0; i < floats; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, ((i * 31 + seed) % 17) * 0.05f - 0.4f);
        return s;
    }

    private static void multiply(WorkerPool pool, MemorySegment a, long lda, int m, PackedMatrix w, MemorySegment c, long ldc, String variant) {
        if (variant.equals("gelu")) {
            Matmul.multiply(pool, a, lda, m, w, c, ldc, Matmul.Epilogue.GELU);
            return;
        }
        int panels = w.panels();
        pool.parallelFor(panels, p -> {
            long bOff = w.panelOffset(p), colOff = (long) p * Matmul.NR * 4;
            switch (variant) {
                case "tile" -> {
                    for (int r = 0; r < m; r += Matmul.MR) {
                        long aOff = (long) r * lda * 4, cOff = (long) r * ldc * 4 + colOff;
                        Matmul.kernel(a, aOff, lda * 4, w.data(), bOff, (long) Matmul.NR * 4, w.k(), c, cOff, ldc * 4);
                        Matmul.finish(c, ldc, r, r + Matmul.MR, colOff, w.bias(), Matmul.Epilogue.GELU);
                    }
                }
                case "fused", "rcp" -> {
                    boolean rcp = variant.equals("rcp");
                    for (int r = 0; r < m; r += Matmul.MR) {
                        long aOff = (long) r * lda * 4, cOff = (long) r * ldc * 4 + colOff;
                        Matmul.kernel(a, aOff, lda * 4, w.data(), bOff, (long) Matmul.NR * 4, w.k(), c, cOff, ldc * 4);
                        for (int rr = 0; rr < Matmul.MR; rr++) biasGelu(c, cOff + rr * ldc * 4, w.bias(), colOff, Matmul.NR, rcp);
                    }
                }
                case "chunk", "store" -> {
                    Matmul.blockRows(a, lda, 0, m, 0, w.k(), w.data(), bOff, true, c, ldc, colOff);
                    Matmul.finish(c, ldc, 0, m, colOff, w.bias(), variant.equals("store") ? Matmul.Epilogue.STORE : Matmul.Epilogue.GELU);
                }
                default -> throw new IllegalArgumentException(variant);
            }
        });
    }

    static final jdk.incubator.vector.VectorSpecies<Float> F = VectorMath.F;

    /** c = GELU(c + bias) in one pass; rcp: the division by Newton steps from a bit-trick guess. */
    static void biasGelu(MemorySegment s, long off, MemorySegment bias, long bOff, int n, boolean rcp) {
        FloatVector lo = FloatVector.broadcast(F, -4f), hi = FloatVector.broadcast(F, 4f);
        FloatVector a13 = FloatVector.broadcast(F, -2.72614225801306e-10f), a11 = FloatVector.broadcast(F, 2.77068142495902e-08f),
                a9 = FloatVector.broadcast(F, -2.10102402082508e-06f), a7 = FloatVector.broadcast(F, -5.69250639462346e-05f),
                a5 = FloatVector.broadcast(F, -7.34990630326855e-04f), a3 = FloatVector.broadcast(F, -2.95459980854025e-03f),
                a1 = FloatVector.broadcast(F, -1.60960333262415e-02f);
        FloatVector b8 = FloatVector.broadcast(F, -1.45660718464996e-05f), b6 = FloatVector.broadcast(F, -2.13374055278905e-04f),
                b4 = FloatVector.broadcast(F, -1.68282697438203e-03f), b2 = FloatVector.broadcast(F, -7.37332916720468e-03f),
                b0 = FloatVector.broadcast(F, -1.42647390514189e-02f);
        FloatVector half = FloatVector.broadcast(F, 0.5f), one = FloatVector.broadcast(F, 1f), isq2 = FloatVector.broadcast(F, 0.70710678118654752f);
        for (long o = off, bo = bOff, end = off + n * 4L; o < end; o += F.length() * 4L, bo += F.length() * 4L) {
            FloatVector v = FloatVector.fromMemorySegment(F, s, o, NATIVE).add(FloatVector.fromMemorySegment(F, bias, bo, NATIVE));
            FloatVector x = v.mul(isq2);
            x = x.blend(lo, x.lt(lo));
            x = x.blend(hi, hi.lt(x));
            FloatVector x2 = x.mul(x);
            FloatVector p = x2.fma(a13, a11).fma(x2, a9).fma(x2, a7).fma(x2, a5).fma(x2, a3).fma(x2, a1).mul(x);
            FloatVector q = x2.fma(b8, b6).fma(x2, b4).fma(x2, b2).fma(x2, b0);
            FloatVector erf;
            if (rcp) {   // q < 0 on [-4, 4]: y ~ 1/(-q), three Newton steps
                FloatVector y = q.neg().reinterpretAsInts().neg().add(0x7EF311C7).reinterpretAsFloats();
                y = y.fma(q.fma(y, one), y);     // e = 1 - d y = q y + 1; y += y e
                y = y.fma(q.fma(y, one), y);
                y = y.fma(q.fma(y, one), y);
                erf = p.neg().mul(y);
            } else erf = p.div(q);
            v.mul(half).mul(erf.add(one)).intoMemorySegment(s, o, NATIVE);
        }
    }

    public static void main(String[] args) throws Exception {
        int k = Integer.parseInt(args[0]), n = Integer.parseInt(args[1]), threads = Integer.parseInt(args[2]);
        String[] variants = args[3].split(",");
        int rounds = args.length > 4 ? Integer.parseInt(args[4]) : 8;
        int m = Matmul.padRows(198);
        int panels = Matmul.padCols(n) / Matmul.NR;
        int weights = Integer.getInteger("weights", (int) (400_000_000L / ((long) k * panels * Matmul.NR * 4)) + 1);
        try (Arena arena = Arena.ofShared(); WorkerPool pool = new WorkerPool(threads)) {
            MemorySegment a = random(arena, (long) m * k, 1), c = random(arena, (long) m * panels * Matmul.NR, 3);
            PackedMatrix[] w = new PackedMatrix[weights];
            for (int i = 0; i < weights; i++)
                w[i] = new PackedMatrix(n, k, panels, random(arena, (long) panels * k * Matmul.NR, i), random(arena, (long) panels * Matmul.NR, 7));
            long ldc = (long) panels * Matmul.NR;
            System.out.printf("M=%d K=%d N=%d, %d threads, %d weights in turn%n", m, k, n, threads, weights);
            for (String v : variants) {
                long t0 = System.nanoTime(), calls = 0;
                while (System.nanoTime() - t0 < 2_000_000_000L) multiply(pool, a, k, m, w[(int) (calls++ % weights)], c, ldc, v);
            }
            double[] sum = new double[variants.length];
            for (int round = 0; round < rounds; round++) {
                StringBuilder line = new StringBuilder("round " + round + ":");
                double first = 0;
                for (int i = 0; i < variants.length; i++) {
                    long calls = 0, t0 = System.nanoTime();
                    while (System.nanoTime() - t0 < 300_000_000L) multiply(pool, a, k, m, w[(int) (calls++ % weights)], c, ldc, variants[i]);
                    double gflops = calls * 2.0 * m * k * n / (System.nanoTime() - t0);
                    if (first == 0) first = gflops;
                    sum[i] += gflops / first;
                    line.append(String.format("  %s %.1f (x%.3f)", variants[i], gflops, gflops / first));
                }
                System.out.println(line);
            }
            StringBuilder mean = new StringBuilder("mean ratio to " + variants[0] + ":");
            for (int i = 0; i < variants.length; i++) mean.append(String.format("  %s x%.3f", variants[i], sum[i] / rounds));
            System.out.println(mean);
        }
    }
}
