package io.jvit.engine;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;

/**
 * Multi-head self-attention softmax(Q K^T / sqrt(d)) V, blocked like FlashAttention: a work item is
 * (image, head, block of {@value #QB} queries); it streams the keys and values in blocks of
 * {@value #KB} with an online softmax (running max and sum per query), so no N x N score matrix
 * exists. Memory: per worker, one head's keys (transposed) and values, linear in tokens, plus a fixed
 * scratch.
 * <p>
 * Both products reuse the matmul micro-kernels ({@link Matmul#kernel}, {@link Matmul#kernelAccumulate}): S = Q K^T with each key block transposed to
 * [d][KB] as the "panel", and O += P V with the value rows as the panel. Before its first item of a head,
 * a worker packs that head's keys (transposed, per block) and values (rows of padCols(d)) contiguously
 * into its own buffers: read in place, a head's rows sit one qkv row (9 KB for ViT-B) apart, a TLB miss
 * per row at long sequence lengths. Scores are kept in base 2 (scale * log2 e folded in) so the softmax
 * uses exp2.
 * <p>
 * Scheduling: the items, in (image, head, query block) order, are cut into one contiguous range per
 * worker, so each worker packs the few heads its range touches and the packed data is written and read
 * by one core. Packed once into shared buffers by whichever core came first, the packing ran 3-4x slower
 * on 2 threads than on one (a cache line moving between this host's vCPUs costs ~280 ns), and the whole
 * pass was 1-3% slower (docs/BENCHMARKS.md). A worker whose range is done takes items from the back of
 * another's when that pays for packing the head again: two or more left, or one of the head it holds.
 */
public final class Attention implements AutoCloseable {
    static final int QB = 5 * Matmul.MR;
    /** The largest query block a caller may ask for: buffers keep this many slack rows past the last token. */
    static final int MAX_QB = 10 * Matmul.MR;
    static final int KB = 256;
    /** Keys transposed together by {@link #packHead}. */
    private static final int TB = VectorMath.LANES;
    private static final int LANES = VectorMath.LANES;
    private static final int NR = Matmul.NR;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    private final Arena arena = Arena.ofShared();
    private final int heads, headDim, dPad;
    /** Queries per work item: a multiple of {@link Matmul#MR}, at most {@link #MAX_QB}. */
    private final int qb;
    private final MemorySegment[] scores, outputs;   // per worker: [qb][KB], [qb][dPad]
    /** Per worker: each query row's running max and sum of the online softmax, and the max after this key block. */
    private final float[][] runMax, runSum, newMax;
    /** Per worker: the keys and values of the (image, head) it holds, [tPad/KB][d][KB] and [tPad][dPad]. */
    private final MemorySegment[] keysT, values;
    /** Per worker w, at index 16w (a cache line apart): the (image, head) whose keys and values it holds, or -1. */
    private final int[] held;
    /** Gather map for {@link #packHead}: element j of TB key rows of d floats. */
    private final int[] gatherRows;

    public Attention(int workers, int heads, int headDim) {
        this(workers, heads, headDim, QB);
    }

    /** With {@code queryBlock} queries per work item (for measuring the choice; see AttentionBench). */
    Attention(int workers, int heads, int headDim, int queryBlock) {
        if (queryBlock % Matmul.MR != 0 || queryBlock < Matmul.MR || queryBlock > MAX_QB)
            throw new IllegalArgumentException("query block " + queryBlock);
        this.qb = queryBlock;
        this.heads = heads;
        this.headDim = headDim;
        this.dPad = Matmul.padCols(headDim);
        scores = new MemorySegment[workers];
        outputs = new MemorySegment[workers];
        keysT = new MemorySegment[workers];
        values = new MemorySegment[workers];
        held = new int[16 * workers];
        runMax = new float[workers][qb];
        runSum = new float[workers][qb];
        newMax = new float[workers][qb];
        gatherRows = new int[TB];
        for (int i = 0; i < TB; i++) gatherRows[i] = i * headDim;
        for (int w = 0; w < workers; w++) {
            scores[w] = arena.allocate((long) qb * KB * 4, 64);
            outputs[w] = arena.allocate((long) qb * dPad * 4 + (long) LANES * 4, 64);
            keysT[w] = values[w] = MemorySegment.NULL;
        }
    }

    /** Bytes of the transposed-key buffers at this many tokens: one head per worker, linear in tokens. */
    public static long keyBufferBytes(int workers, int tokens, int headDim) {
        return (long) workers * headDim * tPad(tokens) * 4;
    }

    /** All memory attention holds at this many tokens: each worker's keys, values and scratch. */
    public long bytesFor(int tokens) {
        int workers = scores.length;
        return keyBufferBytes(workers, tokens, headDim) + (long) workers * tPad(tokens) * dPad * 4
                + workers * ((long) qb * KB * 4 + (long) qb * dPad * 4);
    }

    private static int tPad(int tokens) { return (tokens + KB - 1) / KB * KB; }

    /**
     * @param pool   null, or a pool of no more threads than this was built for
     * @param qkv    rows b*T+t hold [q | k | v] (each D = heads*d wide, head h at h*d), stride ldq floats;
     *               readable for padCols(d) floats past any head's start and for MAX_QB rows past the last token
     * @param out    rows b*T+t receive the heads' outputs side by side (D wide), stride ldo floats
     */
    public void forward(WorkerPool pool, MemorySegment qkv, long ldq, int images, int tokens,
                        MemorySegment out, long ldo) {
        forward(pool, qkv, ldq, tokens, qkv, ldq, images, tokens, out, ldo);
    }

    /**
     * Attention for the first {@code queries} tokens of each image only, their queries read from {@code q}:
     * image b's query i is row b * queries + i of q (head h at column h*d, stride ldqq floats; rows are read
     * in whole query blocks, padded to {@link Matmul#MR}, so q must be readable that far past the last), and
     * its output goes to row b * queries + i of {@code out}. The keys and values of all {@code tokens} come
     * from qkv as in the method above, which is this with q = qkv and queries = tokens. (The last encoder
     * block needs no more than its CLS and distillation rows.)
     */
    public void forward(WorkerPool pool, MemorySegment q, long ldqq, int queries, MemorySegment qkv, long ldq,
                        int images, int tokens, MemorySegment out, long ldo) {
        if (queries < 1 || queries > tokens) throw new IllegalArgumentException(queries + " queries of " + tokens + " tokens");
        int workers = pool == null ? 1 : pool.threads();
        if (workers > scores.length)
            throw new IllegalArgumentException("a pool of " + workers + " threads for attention built for " + scores.length);
        int width = heads * headDim, tp = tPad(tokens);
        long kBytes = (long) headDim * tp * 4, vBytes = (long) tp * dPad * 4;
        for (int w = 0; w < workers; w++) {
            if (keysT[w].byteSize() < kBytes) keysT[w] = arena.allocate(kBytes, 64);
            if (values[w].byteSize() < vBytes) values[w] = arena.allocate(vBytes, 64);
        }
        int qBlocks = (queries + qb - 1) / qb, items = images * heads * qBlocks;
        for (int w = 0; w < workers; w++) held[16 * w] = -1;
        if (pool == null) {
            for (int i = 0; i < items; i++) item(0, i, qBlocks, q, ldqq, queries, qkv, ldq, out, ldo, tokens, width);
            return;
        }
        loopQBlocks = qBlocks;
        loopQ = q;
        loopLdqq = ldqq;
        loopQueries = queries;
        loopQkv = qkv;
        loopLdq = ldq;
        loopOut = out;
        loopLdo = ldo;
        loopTokens = tokens;
        loopWidth = width;
        try {
            pool.parallelFor(items, body, rule);
        } finally {
            loopQ = loopQkv = loopOut = null;   // no segment kept reachable between calls
        }
    }

    // The loop's arguments, for body and rule (made once, so that a warm forward pass allocates nothing for them).
    private int loopQBlocks, loopQueries, loopTokens, loopWidth;
    private MemorySegment loopQ, loopQkv, loopOut;
    private long loopLdqq, loopLdq, loopLdo;
    private final WorkerPool.ItemBody body = (w, i) ->
            item(w, i, loopQBlocks, loopQ, loopLdqq, loopQueries, loopQkv, loopLdq, loopOut, loopLdo, loopTokens, loopWidth);
    private final WorkerPool.StealRule rule = this::worthTaking;

    /** Another worker's item pays for packing its head again when two or more are left, or one of a head the thief holds. */
    private boolean worthTaking(int thief, int i, int left) {
        return left >= (i / loopQBlocks == held[16 * thief] ? 1 : 2);
    }

    /** Runs item i on worker w, packing its (image, head) first unless the worker holds it already. */
    private void item(int w, int i, int qBlocks, MemorySegment q, long ldqq, int queries, MemorySegment qkv, long ldq,
                      MemorySegment out, long ldo, int tokens, int width) {
        int bh = i / qBlocks;
        if (bh != held[16 * w]) {
            packHead(qkv, ldq, keysT[w], values[w], bh, tokens, width);
            held[16 * w] = bh;
        }
        block(w, q, ldqq, queries, keysT[w], values[w], out, ldo, bh, i % qBlocks, tokens);
    }

    /** Per-thread staging for {@link #packHead}: TB key rows, on the heap. */
    private static final ThreadLocal<float[][]> STAGING = ThreadLocal.withInitial(() -> new float[1][0]);

    /**
     * Copies all keys of one (image, head), transposed per block of KB, and its values into a worker's buffers.
     * TB key rows at a time are copied to a heap block with vector loads, then each of the d transposed rows
     * is one gather of TB floats from it (a copy per row through MemorySegment.copy cost ~50 ns each and
     * left this pass at a fifth of attention's time). Keys past the last token are never read whole: the
     * scores of the last vector's padding columns are masked in the softmax.
     */
    private void packHead(MemorySegment qkv, long ldq, MemorySegment kt, MemorySegment vp, int bh, int tokens, int width) {
        int b = bh / heads, h = bh % heads, d = headDim;
        float[][] st = STAGING.get();
        if (st[0].length < TB * d) st[0] = new float[TB * d];
        float[] keys = st[0];
        long kCol = (width + (long) h * d) * 4, vCol = (2L * width + (long) h * d) * 4;
        boolean vectors = d % LANES == 0;
        for (int t = 0; t < tokens; t += TB) {
            int nb = Math.min(TB, tokens - t);
            if (nb < TB) java.util.Arrays.fill(keys, 0f);
            for (int i = 0; i < nb; i++) {
                long row = (long) (b * tokens + t + i) * ldq * 4;
                long vDst = (long) (t + i) * dPad * 4;
                if (vectors) {
                    for (int j = 0; j < d; j += LANES) {
                        FloatVector.fromMemorySegment(VectorMath.F, qkv, row + kCol + j * 4L, NATIVE).intoArray(keys, i * d + j);
                        FloatVector.fromMemorySegment(VectorMath.F, qkv, row + vCol + j * 4L, NATIVE).intoMemorySegment(vp, vDst + j * 4L, NATIVE);
                    }
                } else {
                    MemorySegment.copy(qkv, JAVA_FLOAT_UNALIGNED, row + kCol, keys, i * d, d);
                    MemorySegment.copy(qkv, row + vCol, vp, vDst, (long) d * 4);
                }
            }
            // key t sits in block t / KB, column t % KB of that block's d x KB transposed keys
            long blockOff = ((long) (t / KB) * KB * d + t % KB) * 4;
            for (int j = 0; j < d; j++)
                FloatVector.fromArray(VectorMath.F, keys, j, gatherRows, 0).intoMemorySegment(kt, blockOff + (long) j * KB * 4, NATIVE);
        }
    }

    /**
     * Query block qb of pair bh (image * heads + head), its queries in q (rows b * queries + i), its keys and
     * values packed in kt and vp, on worker w.
     */
    private void block(int w, MemorySegment q, long ldq, int queries, MemorySegment kt, MemorySegment vp, MemorySegment out, long ldo,
                       int bh, int qb, int tokens) {
        int b = bh / heads, h = bh % heads, d = headDim;
        int q0 = qb * this.qb;
        int nq = Math.min(this.qb, queries - q0);
        int rows = Matmul.padRows(nq);
        MemorySegment s = scores[w], o = outputs[w];
        float[] m = runMax[w], l = runSum[w], mNew = newMax[w];
        java.util.Arrays.fill(m, -1e30f);
        java.util.Arrays.fill(l, 0f);
        float scale = (float) (VectorMath.LOG2E / Math.sqrt(d));
        long qOff = ((long) (b * queries + q0) * ldq + (long) h * d) * 4;
        for (int k0 = 0; k0 < tokens; k0 += KB) {
            int nk = Math.min(KB, tokens - k0);
            // S = Q K^T for this key block, whole vectors of keys: panels, then single vectors at the edge
            int kVec = (nk + LANES - 1) / LANES * LANES, kPanels = kVec / NR * NR;
            long kt0 = (long) k0 * d * 4;
            // (panel outer: its d x NR keys, 16 KB, stay in L1 while every query row block passes)
            for (int c = 0; c < kPanels; c += NR)
                for (int r = 0; r < rows; r += Matmul.MR)
                    Matmul.kernel(q, qOff + (long) r * ldq * 4, ldq * 4, kt, kt0 + c * 4L, (long) KB * 4, d,
                            s, ((long) r * KB + c) * 4, (long) KB * 4);
            for (int c = kPanels; c < kVec; c += LANES)
                for (int r = 0; r < rows; r += Matmul.MR)
                    Matmul.kernel1(q, qOff + (long) r * ldq * 4, ldq * 4, kt, kt0 + c * 4L, (long) KB * 4, d,
                            s, ((long) r * KB + c) * 4, (long) KB * 4);
            // online softmax: P = 2^(S*scale - m_new), O *= 2^(m_old - m_new). Padded key columns get a
            // huge negative score (P ~ 1e-38, and P V reads only the nk real keys): whole vectors, no masks.
            // every row's max first, then the exponentials: the rows are independent, so the core overlaps one row's
            // reductions with the next row's work (row by row, each step waited on the last: ~25% slower)
            for (int r = 0; r < rows; r++) mNew[r] = Math.max(m[r], rowMax(s, (long) r * KB * 4, nk, kVec) * scale);
            for (int r = 0; r < rows; r++) {
                float alpha = VectorMath.exp2(m[r] - mNew[r]);
                l[r] = l[r] * alpha + VectorMath.exp2InPlace(s, (long) r * KB * 4, kVec, scale, -mNew[r]);
                m[r] = mNew[r];
                if (k0 > 0 && alpha != 1f) scaleRow(o, (long) r * dPad * 4, dPad, alpha);
            }
            // O = P V for the first key block, O += P V after it (this block's packed value rows as the panel)
            long vOff = (long) k0 * dPad * 4;
            for (int r = 0; r < rows; r += Matmul.MR)
                for (int c = 0; c < dPad; c += NR) {
                    if (k0 == 0)
                        Matmul.kernel(s, (long) r * KB * 4, (long) KB * 4, vp, vOff + c * 4L, (long) dPad * 4, nk,
                                o, ((long) r * dPad + c) * 4, (long) dPad * 4);
                    else
                        Matmul.kernelAccumulate(s, (long) r * KB * 4, (long) KB * 4, vp, vOff + c * 4L, (long) dPad * 4, nk,
                                o, ((long) r * dPad + c) * 4, (long) dPad * 4);
                }
        }
        // normalise and write this head's slice of the output rows
        for (int r = 0; r < nq; r++) {
            float inv = 1f / l[r];
            long oo = (long) r * dPad * 4;
            long dst = ((long) (b * queries + q0 + r) * ldo + (long) h * d) * 4;
            normaliseRow(o, oo, out, dst, d, inv);
        }
    }

    /**
     * The largest of a score row's nk values. kCols is nk rounded up to whole vectors: that padding is set to -1e30
     * first, so that its exponentials vanish (P V reads only the nk real columns). Two running maxima: one would
     * chain every compare on the last. (Kept out of {@link #block}, as are all vector helpers, and returning a float:
     * no vector crosses a call, so none is boxed whatever C2 inlines.)
     */
    private static float rowMax(MemorySegment s, long so, int nk, int kCols) {
        for (int j = nk; j < kCols; j++) s.set(JAVA_FLOAT_UNALIGNED, so + j * 4L, -1e30f);
        FloatVector a = FloatVector.broadcast(VectorMath.F, -1e30f), b = a;
        int j = 0;
        for (; j + 2 * LANES <= kCols; j += 2 * LANES) {
            FloatVector v = FloatVector.fromMemorySegment(VectorMath.F, s, so + j * 4L, NATIVE);
            FloatVector u = FloatVector.fromMemorySegment(VectorMath.F, s, so + (j + LANES) * 4L, NATIVE);
            a = a.blend(v, a.lt(v));
            b = b.blend(u, b.lt(u));
        }
        if (j < kCols) {
            FloatVector v = FloatVector.fromMemorySegment(VectorMath.F, s, so + j * 4L, NATIVE);
            a = a.blend(v, a.lt(v));
        }
        return a.blend(b, a.lt(b)).reduceLanes(VectorOperators.MAX);
    }

    private static void scaleRow(MemorySegment o, long off, int n, float alpha) {
        FloatVector va = FloatVector.broadcast(VectorMath.F, alpha);
        for (int j = 0; j < n; j += LANES)
            FloatVector.fromMemorySegment(VectorMath.F, o, off + j * 4L, NATIVE).mul(va).intoMemorySegment(o, off + j * 4L, NATIVE);
    }

    private static void normaliseRow(MemorySegment o, long oo, MemorySegment out, long dst, int d, float inv) {
        FloatVector vi = FloatVector.broadcast(VectorMath.F, inv);
        int j = 0;
        for (; j + LANES <= d; j += LANES)
            FloatVector.fromMemorySegment(VectorMath.F, o, oo + j * 4L, NATIVE).mul(vi).intoMemorySegment(out, dst + j * 4L, NATIVE);
        for (; j < d; j++) out.set(JAVA_FLOAT_UNALIGNED, dst + j * 4L, o.get(JAVA_FLOAT_UNALIGNED, oo + j * 4L) * inv);
    }

    @Override
    public void close() {
        arena.close();
    }
}
