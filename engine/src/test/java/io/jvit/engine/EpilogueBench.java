package io.jvit.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Where fc1's bias + GELU epilogue should run, measured as the engine meets it (weights streamed from DRAM,
 * M = 198): variants alternate in one process, each round read as ratios to the first. Not a test: run with
 * <pre>
 * java --add-modules jdk.incubator.vector -cp engine/target/classes:engine/target/test-classes \
 *     io.jvit.engine.EpilogueBench K N threads variant[,variant...] [rounds]    # e.g. 768 3072 1 chunk,tile,store
 * </pre>
 * Variants: {@code chunk} (bias, then GELU, over the task's rows once all are computed), {@code tile} (the
 * same per 6-row micro-tile, in L1, as the engine does since 2026-11-27), {@code store} (bias only: the floor),
 * {@code gelu} (the engine's {@link Matmul#multiply} as it is). (Bias and GELU fused in one pass, and the division by Newton steps, were
 * variants here until commit 45774b1: 0.996 and 0.967 at ViT-B's K.)
 */
public final class EpilogueBench {
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
                case "chunk", "store" -> {
                    Matmul.blockRows(a, lda, 0, m, 0, w.k(), w.data(), bOff, true, null, Matmul.Epilogue.STORE, c, ldc, colOff);
                    Matmul.finish(c, ldc, 0, m, colOff, w.bias(), variant.equals("store") ? Matmul.Epilogue.STORE : Matmul.Epilogue.GELU);
                }
                default -> throw new IllegalArgumentException(variant);
            }
        });
    }

    public static void main(String[] args) throws Exception {
        int k = Integer.parseInt(args[0]), n = Integer.parseInt(args[1]), threads = Integer.parseInt(args[2]);
        String[] variants = args[3].split(",");
        int rounds = args.length > 4 ? Integer.parseInt(args[4]) : 8;
        int m = Matmul.padRows(198);
        int panels = Matmul.padCols(n) / Matmul.NR;
        try (Arena arena = Arena.ofShared(); WorkerPool pool = new WorkerPool(threads)) {
            MemorySegment a = MatmulTaskBench.random(arena, (long) m * k, 1), c = MatmulTaskBench.random(arena, (long) m * panels * Matmul.NR, 3);
            PackedMatrix[] w = MatmulTaskBench.weights(arena, k, n);
            int weights = w.length;
            long ldc = (long) panels * Matmul.NR;
            System.out.printf("M=%d K=%d N=%d, %d threads, %d weights in turn%n", m, k, n, threads, weights);
            MatmulTaskBench.alternate(variants, rounds, 2000, 2.0 * m * k * n, (v, call) -> multiply(pool, a, k, m, w[(int) (call % weights)], c, ldc, v));
        }
    }
}
