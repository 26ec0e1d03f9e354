package io.jvit.bench;

import io.jvit.engine.Attention;
import io.jvit.engine.LayerNorm;
import io.jvit.engine.Linear;
import io.jvit.engine.Matmul;
import io.jvit.engine.PackedMatrix;
import io.jvit.engine.Softmax;
import io.jvit.engine.WorkerPool;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

/**
 * The kernels of a ViT forward pass on their real shapes, with random data, called through the engine's
 * public entry points only (so the benchmarks follow the engine as its internals change). Shared by the
 * JMH benchmarks and by {@code jvit bench --kernels}.
 */
public final class KernelCases {
    private KernelCases() {}

    /** One benchmarkable kernel call. */
    public interface Case extends AutoCloseable {
        String name();

        void run();

        /** Useful FLOPs of one {@link #run} (padding rows and columns not counted). */
        double flops();

        /** Bytes one run must at least read and write (for the memory-bound kernels' GB/s). */
        default double bytes() { return 0; }

        @Override
        void close();
    }

    /**
     * Runs a case until C2 has compiled its kernels: the interpreter and C1 run Vector API code 100-1000x
     * slower than C2 (every vector is a heap object there), and on a busy machine the compiler threads
     * take seconds. At least {@code minCalls} calls and {@code minMillis} ms; then until the time per call
     * has stopped improving (three windows of >= 100 ms in a row no better than 0.9x the best window);
     * at most {@code maxMillis} ms.
     */
    public static void warm(Case c, int minCalls, int minMillis, int maxMillis) {
        long t0 = System.nanoTime();
        double best = Double.MAX_VALUE;
        int calls = 0, flat = 0;
        while (true) {
            long w0 = System.nanoTime();
            int n = 0;
            do {
                c.run();
                n++;
            } while (System.nanoTime() - w0 < 100_000_000L && n < 1_000_000);
            calls += n;
            double per = (double) (System.nanoTime() - w0) / n;
            flat = per > 0.9 * best ? flat + 1 : 0;
            best = Math.min(best, per);
            long ms = (System.nanoTime() - t0) / 1_000_000;
            if (ms >= maxMillis) return;
            if (calls >= minCalls && ms >= minMillis && flat >= 3) return;
        }
    }

    /** Warms the code paths of attention on a small case first (fast to run even before compilation). */
    public static void warmAttention(int threads) {
        try (AttentionCase small = new AttentionCase(197, 12, 64, threads)) {
            warm(small, 30, 500, 15_000);
        }
    }

    /**
     * Runs every kernel path of a forward pass on tiny inputs until C2 has compiled it: all four matmul
     * epilogues interleaved (so that none is a branch first taken late, which would deoptimise), attention
     * with partial query and key blocks, LayerNorm. A model of the engine warm-up hook this benchmark asks
     * for; returns the milliseconds it took.
     */
    public static double prewarm(int threads) {
        long t0 = System.nanoTime();
        Matmul.Epilogue[] all = Matmul.Epilogue.values();
        MatmulCase[] mm = new MatmulCase[all.length];
        for (int e = 0; e < all.length; e++) mm[e] = new MatmulCase(2 * Matmul.MR, 64, 2 * Matmul.NR, threads, all[e]);
        try (AttentionCase att = new AttentionCase(70, 1, 64, threads); LayerNormCase ln = new LayerNormCase(8, 768, threads)) {
            for (int i = 0; i < 600; i++) {
                for (MatmulCase c : mm) c.run();
                if (i % 8 == 0) att.run();
                if (i % 2 == 0) ln.run();
            }
        } finally {
            for (MatmulCase c : mm) c.close();
        }
        return (System.nanoTime() - t0) / 1e6;
    }

    static MemorySegment random(Arena arena, long floats, long seed, float scale) {
        MemorySegment s = arena.allocate(Math.max(4, floats * 4), 64);
        SplittableRandom r = new SplittableRandom(seed);
        for (long i = 0; i < floats; i++) s.setAtIndex(JAVA_FLOAT, i, (float) (r.nextDouble() * 2 - 1) * scale);
        return s;
    }

    /** The epilogue the forward pass uses for a weight of K inputs and N outputs of a ViT of width d. */
    public static Matmul.Epilogue epilogueFor(int k, int n, int d) {
        if (k == d && n > d && n != 3 * d) return Matmul.Epilogue.GELU;   // fc1
        return Matmul.Epilogue.STORE;   // qkv; proj and fc2 too: their residual add happens in the next LayerNorm pass
    }

    /** C[M x N] = epilogue(A[M x K] W^T + b) with W packed as at model load. */
    public static final class MatmulCase implements Case {
        final int m, k, n, threads;
        final Matmul.Epilogue epilogue;
        final Arena arena = Arena.ofShared();
        final WorkerPool pool;
        final PackedMatrix w;
        final MemorySegment a, c;
        final long lda, ldc;
        final int rows;

        public MatmulCase(int m, int k, int n, int threads, Matmul.Epilogue epilogue) {
            this.m = m;
            this.k = k;
            this.n = n;
            this.threads = threads;
            this.epilogue = epilogue;
            this.pool = new WorkerPool(threads);
            try (Arena src = Arena.ofConfined()) {
                Linear l = Linear.f32(n, k, random(src, (long) n * k, 1, 0.05f), random(src, n, 2, 0.1f));
                this.w = PackedMatrix.pack(l, arena);
            }
            this.rows = Matmul.padRows(m);
            this.lda = Matmul.padCols(k);
            this.ldc = w.paddedN();
            this.a = random(arena, (rows + Matmul.MR) * lda, 3, 1f);
            this.c = random(arena, (rows + Matmul.MR) * ldc, 4, 0.1f);
        }

        public String name() { return "matmul " + m + "x" + k + "x" + n + " " + epilogue.name().toLowerCase(); }

        public void run() { Matmul.multiply(pool, a, lda, rows, w, c, ldc, epilogue); }

        public double flops() { return 2.0 * m * k * n; }

        public double bytes() { return 4.0 * ((double) m * k + (double) k * n + (double) m * n); }

        public void close() {
            pool.close();
            arena.close();
        }
    }

    /** Multi-head self-attention of one image: tokens x (heads x d), from a fused qkv buffer. */
    public static final class AttentionCase implements Case {
        final int tokens, heads, d, threads;
        final Arena arena = Arena.ofShared();
        final WorkerPool pool;
        final Attention attention;
        final MemorySegment qkv, out;
        final long ldq, ldo;

        public AttentionCase(int tokens, int heads, int d, int threads) {
            this.tokens = tokens;
            this.heads = heads;
            this.d = d;
            this.threads = threads;
            this.pool = new WorkerPool(threads);
            this.attention = new Attention(threads, heads, d);
            int width = heads * d;
            this.ldq = Matmul.padCols(3 * width);
            this.ldo = Matmul.padCols(width);
            // slack rows and columns: the kernel reads whole micro-tiles past the last token and head
            long slackRows = 128 + Matmul.MR;
            this.qkv = random(arena, (tokens + slackRows) * ldq + Matmul.NR, 5, 1f);
            this.out = arena.allocate((tokens + slackRows) * ldo * 4, 64);
        }

        public String name() { return "attention " + tokens + " tokens, " + heads + "x" + d; }

        /** What the engine says attention holds for this case: each worker's packed keys and values and scratch. */
        public long engineBytes() { return attention.bytesFor(tokens); }

        public void run() { attention.forward(pool, qkv, ldq, 1, tokens, out, ldo); }

        /** QK^T and PV: 2 x 2 x tokens^2 x d per head. */
        public double flops() { return 4.0 * tokens * (double) tokens * d * heads; }

        public void close() {
            pool.close();
            attention.close();
            arena.close();
        }
    }

    /** LayerNorm of rows x d (the residual stream of one image). */
    public static final class LayerNormCase implements Case {
        /** Counted per element: mean (1 add), variance (sub + FMA = 3), normalise (sub, mul, FMA = 4). */
        public static final int FLOPS_PER_ELEMENT = 8;
        final int rows, d, threads;
        final Arena arena = Arena.ofShared();
        final WorkerPool pool;
        final MemorySegment x, y, gamma, beta;
        final long ld;

        public LayerNormCase(int rows, int d, int threads) {
            this.rows = rows;
            this.d = d;
            this.threads = threads;
            this.pool = new WorkerPool(threads);
            this.ld = Matmul.padCols(d);
            this.x = random(arena, Matmul.padRows(rows) * ld, 6, 2f);
            this.y = arena.allocate(Matmul.padRows(rows) * ld * 4, 64);
            this.gamma = random(arena, ld, 7, 1f);
            this.beta = random(arena, ld, 8, 1f);
        }

        public String name() { return "layernorm " + rows + "x" + d; }

        public void run() { LayerNorm.apply(pool, x, ld, y, ld, rows, d, gamma, beta, 1e-6f); }

        public double flops() { return (double) FLOPS_PER_ELEMENT * rows * d; }

        public double bytes() { return 8.0 * rows * d; }

        public void close() {
            pool.close();
            arena.close();
        }
    }

    /** Row softmax over a rows x n score matrix (what unfused attention would normalise), one thread. */
    public static final class SoftmaxCase implements Case {
        /**
         * Counted per element: max (1), subtract (1), exp (its degree-6 polynomial by FMAs, range reduction and
         * scaling: 16), sum (1), scale (1).
         */
        public static final int FLOPS_PER_ELEMENT = 20;
        final int rows, n;
        final Arena arena = Arena.ofShared();
        final MemorySegment x, src;
        final long ld;

        public SoftmaxCase(int rows, int n) {
            this.rows = rows;
            this.n = n;
            this.ld = Matmul.padCols(n);
            this.src = random(arena, rows * ld, 9, 8f);
            this.x = arena.allocate(rows * ld * 4, 64);
            MemorySegment.copy(src, 0, x, 0, x.byteSize());
        }

        public String name() { return "softmax " + rows + "x" + n; }

        public void run() {
            // in place: the values drift towards a flat distribution, which costs the same per element
            for (int r = 0; r < rows; r++) Softmax.apply(x, (long) r * ld * 4, n);
        }

        public double flops() { return (double) FLOPS_PER_ELEMENT * rows * n; }

        public double bytes() { return 8.0 * rows * n; }

        public void close() { arena.close(); }
    }
}
