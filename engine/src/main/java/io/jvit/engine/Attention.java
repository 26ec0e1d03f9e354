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
 * exists. Memory: the keys transposed per head (linear in tokens) plus a fixed scratch per worker.
 * <p>
 * Both products reuse the matmul micro-kernels ({@link Matmul#kernel}, {@link Matmul#kernelAccumulate}): S = Q K^T with each key block transposed to
 * [d][KB] as the "panel", and O += P V with the value rows as the panel. A pre-pass packs every
 * head's keys (transposed, per block) and values (rows of padCols(d)) contiguously: read in
 * place, a head's rows sit one qkv row (9 KB for ViT-B) apart, a TLB miss per row at long
 * sequence lengths. Scores are kept in base 2 (scale * log2 e folded in) so the softmax uses exp2.
 */
public final class Attention implements AutoCloseable {
    static final int QB = 5 * Matmul.MR;
    static final int KB = 256;
    /** Keys transposed together by {@link #pack}. */
    private static final int TB = VectorMath.LANES;
    /** Keys per packing task: a multiple of TB that divides KB. */
    private static final int PACK_TOKENS = 4 * TB;
    private static final int LANES = VectorMath.LANES;
    private static final int NR = Matmul.NR;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    private final Arena arena = Arena.ofShared();
    private final int heads, headDim, dPad;
    private final MemorySegment[] scores, outputs;   // per worker: [QB][KB], [QB][dPad]
    private final float[][] runMax, runSum;
    /** Gather map for {@link #pack}: element j of TB key rows of d floats. */
    private final int[] gatherRows;
    private MemorySegment keysT = MemorySegment.NULL;    // [images*heads][tPad/KB][d][KB]
    private MemorySegment values = MemorySegment.NULL;   // [images*heads][tPad][dPad]

    public Attention(int workers, int heads, int headDim) {
        this.heads = heads;
        this.headDim = headDim;
        this.dPad = Matmul.padCols(headDim);
        scores = new MemorySegment[workers];
        outputs = new MemorySegment[workers];
        runMax = new float[workers][QB];
        runSum = new float[workers][QB];
        gatherRows = new int[TB];
        for (int i = 0; i < TB; i++) gatherRows[i] = i * headDim;
        for (int w = 0; w < workers; w++) {
            scores[w] = arena.allocate((long) QB * KB * 4, 64);
            outputs[w] = arena.allocate((long) QB * dPad * 4 + (long) LANES * 4, 64);
        }
    }

    /** Bytes of the transposed-key buffer for a batch: linear in tokens. */
    public static long keyBufferBytes(int images, int tokens, int width) {
        return (long) images * width * tPad(tokens) * 4;
    }

    /** All memory attention holds for a batch: packed keys and values plus the per-worker scratch. */
    public long bytesFor(int images, int tokens) {
        return keyBufferBytes(images, tokens, heads * headDim) + (long) images * heads * tPad(tokens) * dPad * 4
                + scores.length * ((long) QB * KB * 4 + (long) QB * dPad * 4);
    }

    private static int tPad(int tokens) { return (tokens + KB - 1) / KB * KB; }

    /**
     * @param qkv    rows b*T+t hold [q | k | v] (each D = heads*d wide, head h at h*d), stride ldq floats;
     *               readable for padCols(d) floats past any head's start and for QB rows past the last token
     * @param out    rows b*T+t receive the heads' outputs side by side (D wide), stride ldo floats
     */
    public void forward(WorkerPool pool, MemorySegment qkv, long ldq, int images, int tokens,
                        MemorySegment out, long ldo) {
        int width = heads * headDim;
        int tp = tPad(tokens);
        long need = keyBufferBytes(images, tokens, width);
        if (keysT.byteSize() < need) keysT = arena.allocate(need, 64);
        long needV = (long) images * heads * tp * dPad * 4;
        if (values.byteSize() < needV) values = arena.allocate(needV, 64);
        MemorySegment kt = keysT, vp = values;
        int pairs = images * heads;
        // packed in chunks of PACK_TOKENS per head, so that few heads (ViT-Ti has 3) still split evenly
        int chunks = (tokens + PACK_TOKENS - 1) / PACK_TOKENS;
        run(pool, pairs * chunks, (w, item) -> pack(qkv, ldq, kt, vp, item / chunks, (item % chunks) * PACK_TOKENS, tokens, tp, width));
        int qBlocks = (tokens + QB - 1) / QB;
        run(pool, pairs * qBlocks, (w, item) -> block(w, qkv, ldq, kt, vp, out, ldo, item / qBlocks, item % qBlocks, tokens, tp, width));
    }

    private static void run(WorkerPool pool, int count, WorkerPool.ItemBody body) {
        if (pool == null) {
            for (int i = 0; i < count; i++) body.run(0, i);
        } else {
            pool.parallelFor(count, body);
        }
    }

    /** Per-thread staging for {@link #pack}: TB key rows, on the heap. */
    private static final ThreadLocal<float[][]> STAGING = ThreadLocal.withInitial(() -> new float[1][0]);

    /**
     * Copies PACK_TOKENS keys of one (image, head), transposed per block of KB, and their values into their buffers. TB key
     * rows at a time are copied to a heap block with vector loads, then each of the d transposed rows is
     * one gather of TB floats from it (a copy per row through MemorySegment.copy cost ~50 ns each and
     * left this pass at a fifth of attention's time). Keys past the last token are never read whole:
     * the scores of the last vector's padding columns are masked in the softmax.
     */
    private void pack(MemorySegment qkv, long ldq, MemorySegment kt, MemorySegment vp, int bh, int from, int tokens, int tp, int width) {
        int b = bh / heads, h = bh % heads, d = headDim;
        float[][] st = STAGING.get();
        if (st[0].length < TB * d) st[0] = new float[TB * d];
        float[] keys = st[0];
        long kBase = (long) bh * d * tp * 4, vBase = (long) bh * tp * dPad * 4;
        long kCol = (width + (long) h * d) * 4, vCol = (2L * width + (long) h * d) * 4;
        boolean vectors = d % LANES == 0;
        int to = Math.min(tokens, from + PACK_TOKENS);
        for (int t = from; t < to; t += TB) {
            int nb = Math.min(TB, to - t);
            if (nb < TB) java.util.Arrays.fill(keys, 0f);
            for (int i = 0; i < nb; i++) {
                long row = (long) (b * tokens + t + i) * ldq * 4;
                long vDst = vBase + (long) (t + i) * dPad * 4;
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
            long blockOff = kBase + ((long) (t / KB) * KB * d + t % KB) * 4;
            for (int j = 0; j < d; j++)
                FloatVector.fromArray(VectorMath.F, keys, j, gatherRows, 0).intoMemorySegment(kt, blockOff + (long) j * KB * 4, NATIVE);
        }
    }

    private void block(int w, MemorySegment qkv, long ldq, MemorySegment kt, MemorySegment vp, MemorySegment out, long ldo,
                       int bh, int qb, int tokens, int tp, int width) {
        int b = bh / heads, h = bh % heads, d = headDim;
        int q0 = qb * QB;
        int nq = Math.min(QB, tokens - q0);
        int rows = Matmul.padRows(nq);
        MemorySegment s = scores[w], o = outputs[w];
        float[] m = runMax[w], l = runSum[w];
        java.util.Arrays.fill(m, -1e30f);
        java.util.Arrays.fill(l, 0f);
        float scale = (float) (VectorMath.LOG2E / Math.sqrt(d));
        long qOff = ((long) (b * tokens + q0) * ldq + (long) h * d) * 4;
        long ktBase = (long) bh * d * tp * 4, vBase = (long) bh * tp * dPad * 4;
        for (int k0 = 0; k0 < tokens; k0 += KB) {
            int nk = Math.min(KB, tokens - k0);
            // S = Q K^T for this key block, whole vectors of keys: panels, then single vectors at the edge
            int kVec = (nk + LANES - 1) / LANES * LANES, kPanels = kVec / NR * NR;
            long kt0 = ktBase + (long) k0 * d * 4;
            // (panel outer: its d x NR keys, 16 KB, stay in L1 while every query row block passes)
            for (int c = 0; c < kPanels; c += NR)
                for (int r = 0; r < rows; r += Matmul.MR)
                    Matmul.kernel(qkv, qOff + (long) r * ldq * 4, ldq * 4, kt, kt0 + c * 4L, (long) KB * 4, d,
                            s, ((long) r * KB + c) * 4, (long) KB * 4);
            for (int c = kPanels; c < kVec; c += LANES)
                for (int r = 0; r < rows; r += Matmul.MR)
                    Matmul.kernel1(qkv, qOff + (long) r * ldq * 4, ldq * 4, kt, kt0 + c * 4L, (long) KB * 4, d,
                            s, ((long) r * KB + c) * 4, (long) KB * 4);
            // online softmax: P = 2^(S*scale - m_new), O *= 2^(m_old - m_new). Padded key columns get a
            // huge negative score (P ~ 1e-38, and P V reads only the nk real keys): whole vectors, no masks.
            for (int r = 0; r < rows; r++) {
                float alpha = softmaxRow(s, (long) r * KB * 4, nk, kVec, scale, m, l, r);
                if (k0 > 0 && alpha != 1f) scaleRow(o, (long) r * dPad * 4, dPad, alpha);
            }
            // O = P V for the first key block, O += P V after it (this block's packed value rows as the panel)
            long vOff = vBase + (long) k0 * dPad * 4;
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
            long dst = ((long) (b * tokens + q0 + r) * ldo + (long) h * d) * 4;
            normaliseRow(o, oo, out, dst, d, inv);
        }
    }

    /**
     * Online-softmax update of one score row: P = 2^(S*scale - m_new) in place, running max and sum
     * updated; returns 2^(m_old - m_new), the factor for the row's output so far. (Kept out of
     * {@link #block}, as are all vector helpers, so C2 inlines them and no vector is boxed.)
     */
    private static float softmaxRow(MemorySegment s, long so, int nk, int kCols, float scale, float[] m, float[] l, int r) {
        // kCols: nk rounded up to whole vectors (P V reads only the nk real columns; the panel's others are never used)
        for (int j = nk; j < kCols; j++) s.set(JAVA_FLOAT_UNALIGNED, so + j * 4L, -1e30f);
        FloatVector vmax = FloatVector.broadcast(VectorMath.F, -1e30f);
        for (int j = 0; j < kCols; j += LANES) {
            FloatVector v = FloatVector.fromMemorySegment(VectorMath.F, s, so + j * 4L, NATIVE);
            vmax = vmax.blend(v, vmax.lt(v));
        }
        float mNew = Math.max(m[r], vmax.reduceLanes(VectorOperators.MAX) * scale);
        float rowSum = VectorMath.exp2InPlace(s, so, kCols, scale, -mNew);
        float alpha = VectorMath.exp2(m[r] - mNew);
        m[r] = mNew;
        l[r] = l[r] * alpha + rowSum;
        return alpha;
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
