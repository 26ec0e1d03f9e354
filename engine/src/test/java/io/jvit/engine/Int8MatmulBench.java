package io.jvit.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;
import java.util.Random;

/**
 * Kernel throughput of F32 vs int8 (W8A32, W8A8) on the ViT-B/16 matmul shapes, interleaved in one
 * process so that a busy machine hurts all alike. Not a test: run with
 * <pre>
 * java --add-modules jdk.incubator.vector -cp engine/target/classes:engine/target/test-classes \
 *     io.jvit.engine.Int8MatmulBench [threads] [rounds]
 * </pre>
 * With 1 thread it reports G multiply-adds/s of thread CPU time (robust to other load on a shared
 * machine), with more, wall-clock time. Prints per-shape medians and the median of the per-round ratios.
 */
public final class Int8MatmulBench {
    public static void main(String[] args) {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : 1;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 15;
        int[][] shapes = {{197, 768, 768}, {197, 768, 2304}, {197, 768, 3072}, {197, 3072, 768}};
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        String[] names = {"f32", "int8 W8A32", "int8 W8A8"};
        System.out.printf("threads %d, %d rounds, %s time%n", threads, rounds, threads == 1 ? "thread CPU" : "wall");
        double[][] totals = new double[names.length][rounds];
        try (Arena arena = Arena.ofShared(); WorkerPool pool = new WorkerPool(threads)) {
            for (int[] s : shapes) {
                int m = s[0], k = s[1], n = s[2], mp = Matmul.padRows(m);
                Random r = new Random(m + k + n);
                Linear f = TestModels.linear(arena, r, n, k, true);
                Linear q = Quantizer.quantize(f, arena);
                PackedLinear[] p = {PackedMatrix.pack(f, arena), PackedInt8Matrix.pack(q, Int8Matmul.Mode.W8A32, arena),
                        PackedInt8Matrix.pack(q, Int8Matmul.Mode.W8A8, arena)};
                MemorySegment a = TestModels.seg(arena, TestModels.randn(r, mp * k, 1));
                MemorySegment c = arena.allocate((long) mp * Matmul.padCols(n) * 4, 64);
                double macs = (double) m * k * n;
                int iters = (int) Math.max(3, 4e9 / macs / (threads == 1 ? 8 : 4));
                double[][] g = new double[p.length][rounds];
                for (int round = -3; round < rounds; round++) {      // 3 warm-up rounds
                    for (int v = 0; v < p.length; v++) {
                        long c0 = mx.getCurrentThreadCpuTime(), w0 = System.nanoTime();
                        for (int it = 0; it < iters; it++) p[v].multiply(pool, a, k, mp, c, Matmul.padCols(n), Matmul.Epilogue.STORE);
                        long dt = threads == 1 ? mx.getCurrentThreadCpuTime() - c0 : System.nanoTime() - w0;
                        if (round >= 0) {
                            g[v][round] = macs * iters / dt;
                            totals[v][round] += dt / (double) iters;
                        }
                    }
                }
                StringBuilder line = new StringBuilder(String.format("%4dx%4dx%4d", m, k, n));
                for (int v = 0; v < p.length; v++) line.append(String.format("  %s %5.1f", names[v], median(g[v])));
                for (int v = 1; v < p.length; v++) {
                    double[] ratio = new double[rounds];
                    for (int i = 0; i < rounds; i++) ratio[i] = g[v][i] / g[0][i];
                    line.append(String.format("  %s/f32 %.2f", names[v].substring(5), median(ratio)));
                }
                System.out.println(line + "  (G multiply-adds/s, medians)");
            }
        }
        StringBuilder line = new StringBuilder("all four shapes, time per set:");
        for (int v = 1; v < names.length; v++) {
            double[] ratio = new double[rounds];
            for (int i = 0; i < rounds; i++) ratio[i] = totals[0][i] / totals[v][i];
            line.append(String.format("  %s speed-up over f32 %.2f", names[v], median(ratio)));
        }
        System.out.println(line);
    }

    static double median(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
