package io.jvit.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * How many rows one matmul task should cover, measured as the engine meets it: enough different weights
 * (~400 MB) that each call's panels stream from DRAM, as a ViT's do. Row-chunk sizes alternate in one
 * process, each round read as ratios to the first size, so a drifting machine hurts all alike. Not a
 * test: run with
 * <pre>
 * java --add-modules jdk.incubator.vector -cp engine/target/classes:engine/target/test-classes \
 *     io.jvit.engine.MatmulTaskBench K N threads chunk[,chunk...] [rounds]     # e.g. 768 2304 2 60,198
 * </pre>
 * M is 198 (ViT/16 at 224 px, padded), or -DM=rows; -Dweights=1 keeps one weight hot in cache. Prints GFLOP/s per chunk size and round, and the ratio
 * to the first chunk size.
 * It is the measurement behind {@link Matmul#MAX_ROW_CHUNK} (docs/BENCHMARKS.md, second round of 2026-11-26).
 */
public final class MatmulTaskBench {
    static MemorySegment random(Arena arena, long floats, int seed) {
        MemorySegment s = arena.allocate(floats * 4, 64);
        for (long i = 0; i < floats; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, ((i * 31 + seed) % 17) * 0.01f - 0.08f);
        return s;
    }

    /**
     * K x N weights packed, as many as -Dweights says, or enough (~400 MB) that taking them in turn streams each
     * from memory, as a ViT's weights are.
     */
    static PackedMatrix[] weights(Arena arena, int k, int n) {
        int panels = Matmul.padCols(n) / Matmul.NR;
        int count = Integer.getInteger("weights", (int) (400_000_000L / ((long) k * panels * Matmul.NR * 4)) + 1);
        PackedMatrix[] w = new PackedMatrix[count];
        for (int i = 0; i < count; i++)
            w[i] = new PackedMatrix(n, k, panels, random(arena, (long) panels * k * Matmul.NR, i), random(arena, (long) panels * Matmul.NR, 7));
        return w;
    }

    /** C = A W^T + b with tasks of (panel, {@code chunk} rows), as {@link Matmul#multiply} runs them. */
    private static void multiply(WorkerPool pool, MemorySegment a, long lda, int m, PackedMatrix w, MemorySegment c, long ldc, int chunk) {
        int rowChunks = (m + chunk - 1) / chunk, tiles = rowChunks * w.panels();
        pool.parallelFor(tiles, t -> {
            int panel = t / rowChunks, r0 = t % rowChunks * chunk, r1 = Math.min(m, r0 + chunk);
            long bOff = w.panelOffset(panel), colOff = (long) panel * Matmul.NR * 4;
            for (int k0 = 0; k0 < w.k(); k0 += Matmul.KC) {
                int kb = Math.min(Matmul.KC, w.k() - k0);
                Matmul.blockRows(a, lda, r0, r1, k0, kb, w.data(), bOff + (long) k0 * Matmul.NR * 4, k0 == 0,
                        k0 + kb == w.k() ? w.bias() : null, Matmul.Epilogue.STORE, c, ldc, colOff);
            }
        });
    }

    /** One timed call of a variant: the {@code call}-th of its run (the benches take their weights in turn by it). */
    @FunctionalInterface
    interface Call {
        void run(String variant, long call);
    }

    /**
     * The experiments' common loop: each variant warmed up for {@code warmMs} (the interpreter runs vector code
     * ~1000x slower), then {@code rounds} rounds of 300 ms per variant, in turn, each printed as GFLOP/s and the
     * ratio to the round's first variant (a drifting machine hurts all alike), then the mean of those ratios.
     */
    static void alternate(String[] variants, int rounds, long warmMs, double flopsPerCall, Call body) {
        for (String v : variants) {
            long t0 = System.nanoTime(), calls = 0;
            while (System.nanoTime() - t0 < warmMs * 1_000_000L) body.run(v, calls++);
        }
        double[] sum = new double[variants.length];
        for (int round = 0; round < rounds; round++) {
            StringBuilder line = new StringBuilder("round " + round + ":");
            double first = 0;
            for (int i = 0; i < variants.length; i++) {
                long calls = 0, t0 = System.nanoTime();
                while (System.nanoTime() - t0 < 300_000_000L) body.run(variants[i], calls++);
                double gflops = calls * flopsPerCall / (System.nanoTime() - t0);
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

    public static void main(String[] args) throws Exception {
        if (args.length < 4) {
            System.err.println("usage: MatmulTaskBench K N threads chunk[,chunk...] [rounds]");
            System.exit(2);
        }
        int k = Integer.parseInt(args[0]), n = Integer.parseInt(args[1]), threads = Integer.parseInt(args[2]);
        String[] chunks = args[3].split(",");
        int rounds = args.length > 4 ? Integer.parseInt(args[4]) : 8;
        int m = Matmul.padRows(Integer.getInteger("M", 198));
        int panels = Matmul.padCols(n) / Matmul.NR;
        try (Arena arena = Arena.ofShared(); WorkerPool pool = new WorkerPool(threads)) {
            MemorySegment a = random(arena, (long) m * k, 1), c = random(arena, (long) m * panels * Matmul.NR, 3);
            PackedMatrix[] w = weights(arena, k, n);
            int weights = w.length;
            System.out.printf("M=%d K=%d N=%d, %d threads, %d weights streamed from memory in turn%n", m, k, n, threads, weights);
            long ldc = (long) panels * Matmul.NR;
            alternate(chunks, rounds, 1500, 2.0 * m * k * n,
                    (cs, call) -> multiply(pool, a, k, m, w[(int) (call % weights)], c, ldc, Matmul.padRows(Integer.parseInt(cs))));
        }
    }
}
