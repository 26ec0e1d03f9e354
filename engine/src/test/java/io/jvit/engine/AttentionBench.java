package io.jvit.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Attention's query block, measured in one process: engines with different blocks run in turn, each
 * round read as ratios to the first, so a drifting machine hurts all alike. Not a test: run with
 * <pre>
 * java --add-modules jdk.incubator.vector -cp engine/target/classes:engine/target/test-classes \
 *     io.jvit.engine.AttentionBench heads d tokens images threads qb[,qb...] [rounds]   # e.g. 3 64 197 1 2 30,12
 * </pre>
 * With -Dsplit=true the workers rewrite the qkv buffer panel by panel before every pass, as the qkv matmul
 * leaves it in the model (each panel modified in the cache of whichever core computed it).
 */
public final class AttentionBench {
    public static void main(String[] args) {
        if (args.length < 6) {
            System.err.println("usage: AttentionBench heads d tokens images threads qb[,qb...] [rounds]");
            System.exit(2);
        }
        int heads = Integer.parseInt(args[0]), d = Integer.parseInt(args[1]), tokens = Integer.parseInt(args[2]);
        int images = Integer.parseInt(args[3]), threads = Integer.parseInt(args[4]);
        String[] qbs = args[5].split(",");
        int rounds = args.length > 6 ? Integer.parseInt(args[6]) : 8;
        int width = heads * d, ldq = Matmul.padCols(3 * width), ldo = Matmul.padCols(width);
        long rows = (long) images * tokens + Attention.MAX_QB + Matmul.MR;
        double flops = 4.0 * images * heads * tokens * (double) tokens * d;
        try (Arena arena = Arena.ofShared(); WorkerPool pool = new WorkerPool(threads)) {
            MemorySegment out = arena.allocate(rows * ldo * 4, 64);
            // -Dscale=S[,S...] multiplies the Gaussian inputs (scores by S^2): peaked rows, most probabilities tiny,
            // as random-weight models give; each scale is a column
            String[] scales = System.getProperty("scale", "1").split(",");
            MemorySegment[] inputs = new MemorySegment[scales.length];
            for (int si = 0; si < scales.length; si++) {
                inputs[si] = arena.allocate(rows * ldq * 4 + Matmul.NR * 4L, 64);
                float scale = Float.parseFloat(scales[si]);
                java.util.SplittableRandom rnd = new java.util.SplittableRandom(5);
                for (long i = 0; i < inputs[si].byteSize() / 4; i++) inputs[si].setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rnd.nextGaussian() * scale);
            }
            MemorySegment qkv = inputs[0];
            Attention[] att = new Attention[qbs.length];
            for (int i = 0; i < qbs.length; i++) att[i] = new Attention(threads, heads, d, Integer.parseInt(qbs[i]));
            System.out.printf("attention: %d heads of %d, %d tokens, %d images, %d threads%n", heads, d, tokens, images, threads);
            boolean splitOpt = Boolean.getBoolean("split");
            int panels = ldq / Matmul.NR;
            long rowsUsed = (long) images * tokens;
            java.util.function.IntConsumer touch = p -> {
                for (long r = 0; r < rowsUsed; r++)
                    for (int j = 0; j < Matmul.NR; j += VectorMath.LANES) {
                        long off = (r * ldq + (long) p * Matmul.NR + j) * 4;
                        jdk.incubator.vector.FloatVector.fromMemorySegment(VectorMath.F, qkv, off, java.nio.ByteOrder.nativeOrder())
                                .intoMemorySegment(qkv, off, java.nio.ByteOrder.nativeOrder());
                    }
            };
            for (Attention a : att) {   // the JIT
                long t0 = System.nanoTime();
                while (System.nanoTime() - t0 < 2_000_000_000L) {
                    if (splitOpt) pool.parallelFor(panels, touch);
                    a.forward(pool, qkv, ldq, images, tokens, out, ldo);
                }
            }
            for (int round = 0; round < rounds; round++) {
                StringBuilder line = new StringBuilder("round " + round + ":");
                double first = 0;
                for (int col = 0; col < att.length * scales.length * (splitOpt ? 2 : 1); col++) {
                    boolean split = splitOpt && col % 2 == 1;
                    int rest = col / (splitOpt ? 2 : 1), si = rest % scales.length, i = rest / scales.length;
                    MemorySegment in = inputs[si];
                    long calls = 0, t0 = System.nanoTime(), spent = 0;
                    while (System.nanoTime() - t0 < 300_000_000L) {
                        if (split) pool.parallelFor(panels, touch);
                        long a0 = System.nanoTime();
                        att[i].forward(pool, in, ldq, images, tokens, out, ldo);
                        spent += System.nanoTime() - a0;
                        calls++;
                    }
                    double us = spent / 1e3 / calls;
                    if (first == 0) first = us;
                    line.append(String.format("  qb %s%s%s: %.1f us, %.0f GFLOP/s (x%.3f)", qbs[i], scales.length > 1 ? " x" + scales[si] : "",
                            split ? " split" : "", us, flops / us / 1e3, first / us));
                }
                System.out.println(line);
            }
            for (Attention a : att) a.close();
        }
    }
}
