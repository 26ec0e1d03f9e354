package io.jvit.loader.onnx;

import io.jvit.engine.Linear;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Builds the engine's Linear layers from projections found in the graph. A float32 weight used whole and as
 * stored is handed over in place, no copy: [out][in] rows (PyTorch's layout, e.g. a Gemm with transB) as a slice
 * of the mapping, an [in][out] MatMul weight as a transposed Linear, separate q, k, v matrices as a stack of
 * those. Anything else (rows gathered from a fused q/k/v matrix, a folded scale, float16) is written once,
 * [out][in], into the model's arena.
 */
final class Weights {
    private Weights() {}

    /**
     * Rows of an engine Linear taken from one projection.
     *
     * @param wmat   the graph's weight viewed [in, out]
     * @param rows   for each engine output row, the column of wmat
     * @param colOf  for each engine input, the row of wmat (null: identity)
     * @param bias   [out of wmat] or null
     * @param scale  multiplies weight and bias
     * @param rowScale per column of wmat, multiplies weight and bias too (LayerScale); null for none
     */
    record Seg(Tensor wmat, long[] rows, long[] colOf, Tensor bias, double scale, float[] rowScale) {
        Seg(Tensor wmat, long[] rows, long[] colOf, Tensor bias, double scale) {
            this(wmat, rows, colOf, bias, scale, null);
        }

        /** The factor for wmat column r. */
        double factor(long r) { return rowScale == null ? scale : scale * rowScale[(int) r]; }
    }

    /**
     * Allocates engine Linears and queues the copies that fill them; {@link #finish()} runs the copies
     * in parallel (row chunks of every matrix across the available cores).
     */
    static final class Builder {
        private final Arena arena;
        long aliasedBytes, copiedBytes;
        int aliased, copied;
        private final List<Runnable> fills = new ArrayList<>();

        Builder(Arena arena) {
            this.arena = arena;
        }

        Linear build(int in, Seg... segs) {
            int out = 0;
            for (Seg s : segs) out += s.rows.length;
            for (Seg s : segs) {
                if (s.colOf != null && s.colOf.length != in) throw new IllegalStateException("input map of " + s.colOf.length + " for " + in);
                if (s.colOf == null && s.wmat.shape[0] != in)
                    throw new IllegalStateException("weight " + s.wmat.describe() + " does not have " + in + " inputs");
            }
            MemorySegment b = aliasBias(segs);
            if (b == null && hasBias(segs)) {
                b = arena.allocate(out * 4L, 64);
                int eo = 0;
                for (Seg s : segs)
                    for (long r : s.rows) {
                        float v = s.bias == null ? 0f : (float) (s.bias.getFloat(r) * s.factor(r));
                        b.setAtIndex(ElemType.F32, eo++, v);
                    }
            }
            Linear l = inPlace(segs, in, out, b);
            if (l == null && segs.length > 1) {   // separate q, k, v matrices, each usable in place: stacked
                Linear[] parts = new Linear[segs.length];
                boolean all = true;
                for (int i = 0; i < segs.length && all; i++) all = (parts[i] = inPlace(new Seg[] {segs[i]}, in, segs[i].rows.length, null)) != null;
                if (all) l = Linear.stacked(b, parts);
            }
            if (l != null) {
                aliased++;
                aliasedBytes += (long) out * in * 4;
                return l;
            }
            MemorySegment w = arena.allocate((long) out * in * 4, 64);
            queueCopies(w, in, segs);
            copied++;
            copiedBytes += w.byteSize();
            return Linear.f32(out, in, w, b);
        }

        /** Runs the queued copies, in parallel; the Linears built so far are then filled. */
        void finish() {
            List<Runnable> work = List.copyOf(fills);
            fills.clear();
            if (work.size() <= 1 || Runtime.getRuntime().availableProcessors() == 1) work.forEach(Runnable::run);
            else work.parallelStream().forEach(Runnable::run);
        }

        private void queueCopies(MemorySegment dst, int in, Seg[] segs) {
            // group the engine rows by source matrix (and input order), so a fused q/k/v matrix is read once
            List<Tensor> sources = new ArrayList<>();
            List<long[]> colOfs = new ArrayList<>();
            List<List<long[]>> jobs = new ArrayList<>();
            long eo = 0;
            for (Seg s : segs) {
                long[] colOf = s.colOf == null ? identityMap(in) : s.colOf;
                int g = -1;
                for (int k = 0; k < sources.size(); k++)
                    if (sources.get(k) == s.wmat && java.util.Arrays.equals(colOfs.get(k), colOf)) g = k;
                if (g < 0) {
                    sources.add(s.wmat);
                    colOfs.add(colOf);
                    jobs.add(new ArrayList<>());
                    g = sources.size() - 1;
                }
                for (long r : s.rows) jobs.get(g).add(new long[] {eo++, r, Double.doubleToRawLongBits(s.factor(r))});
            }
            for (int g = 0; g < sources.size(); g++) {
                Tensor w = sources.get(g);
                long[] colOf = colOfs.get(g);
                long[][] js = jobs.get(g).toArray(new long[0][]);
                if (w.type == ElemType.FLOAT && w.strides[1] == 1) {
                    // [in][out] rows in the file: tasks take ranges of input rows, every engine row
                    for (int i0 = 0; i0 < in; i0 += RANGE) {
                        int from = i0, to = Math.min(in, i0 + RANGE);
                        fills.add(() -> transposeRows(dst, in, w, colOf, js, from, to));
                    }
                } else {
                    // [out][in] rows (or anything else): tasks take ranges of engine rows
                    for (int j0 = 0; j0 < js.length; j0 += RANGE) {
                        long[][] part = java.util.Arrays.copyOfRange(js, j0, Math.min(js.length, j0 + RANGE));
                        fills.add(() -> gatherRows(dst, in, w, colOf, part));
                    }
                }
            }
        }
    }

    /** Input rows (or engine rows) per copy task; tasks run in parallel. */
    private static final int RANGE = 128;
    /** Source rows streamed at a time by the transposing copy. */
    private static final int IB = 32;

    private static boolean hasBias(Seg[] segs) {
        for (Seg s : segs) if (s.bias != null) return true;
        return false;
    }

    private static boolean identity(long[] colOf) {
        if (colOf == null) return true;
        for (int i = 0; i < colOf.length; i++) if (colOf[i] != i) return false;
        return true;
    }

    /**
     * The rows of {@code segs} as a Linear over the mapping, when they are a float32 matrix used whole and as
     * stored: consecutive [out][in] rows (a slice), or all the columns of an [in][out] one in order (a transposed
     * Linear, which packing reads as is). Null otherwise.
     */
    private static Linear inPlace(Seg[] segs, int in, int out, MemorySegment bias) {
        MemorySegment w = alias(segs, in);
        if (w != null) return Linear.f32(out, in, w, bias);
        w = aliasTransposed(segs, in, out);
        return w == null ? null : Linear.f32Transposed(out, in, w, bias);
    }

    /** All columns 0, 1, ... out-1 of one contiguous [in][out] float32 matrix, unscaled: the whole of it. */
    private static MemorySegment aliasTransposed(Seg[] segs, int in, int out) {
        Tensor w = segs[0].wmat;
        if (w.type != ElemType.FLOAT || w.rank() != 2 || w.shape[0] != in || w.shape[1] != out || w.strides[0] != out || w.strides[1] != 1)
            return null;
        long next = 0;
        for (Seg s : segs) {
            if (s.wmat.data != w.data || s.wmat.offset != w.offset || s.wmat.strides[0] != out || s.wmat.strides[1] != 1
                    || s.scale != 1 || s.rowScale != null || !identity(s.colOf)) return null;
            for (long r : s.rows) if (r != next++) return null;
        }
        return next == out ? w.data.asSlice(w.offset * 4, (long) in * out * 4) : null;
    }

    /** Consecutive rows r0, r0+1, ... of one [out][in] float32 matrix: a slice. */
    private static MemorySegment alias(Seg[] segs, int in) {
        Tensor w = segs[0].wmat;
        if (w.type != ElemType.FLOAT || w.strides[0] != 1 || w.strides[1] != in) return null;
        long next = segs[0].rows.length == 0 ? 0 : segs[0].rows[0];
        long first = next;
        for (Seg s : segs) {
            if (s.wmat.data != w.data || s.wmat.offset != w.offset || s.wmat.strides[1] != in || s.wmat.strides[0] != 1
                    || s.scale != 1 || s.rowScale != null || !identity(s.colOf)) return null;
            for (long r : s.rows) if (r != next++) return null;
        }
        long rows = next - first;
        return w.data.asSlice((w.offset + first * in) * 4, rows * in * 4);
    }

    private static MemorySegment aliasBias(Seg[] segs) {
        Tensor b = segs[0].bias;
        if (b == null || b.type != ElemType.FLOAT || b.rank() != 1 || b.strides[0] != 1) return null;
        long next = segs[0].rows.length == 0 ? 0 : segs[0].rows[0], first = next;
        for (Seg s : segs) {
            if (s.bias == null || s.bias.data != b.data || s.bias.offset != b.offset || s.bias.strides[0] != 1 || s.scale != 1
                    || s.rowScale != null) return null;
            for (long r : s.rows) if (r != next++) return null;
        }
        return b.data.asSlice((b.offset + first) * 4, (next - first) * 4);
    }

    private static long[] identityMap(int n) {
        long[] m = new long[n];
        for (int i = 0; i < n; i++) m[i] = i;
        return m;
    }

    /**
     * From a matrix stored [in][out] (a pre-transposed MatMul weight): W[e][i] = src[colOf[i]][col] * scale
     * for each job (e, col, scale) and i in [from, to). Streams IB whole source rows, then writes an
     * IB-float run into each engine row.
     */
    static void transposeRows(MemorySegment dst, int in, Tensor w, long[] colOf, long[][] jobs, int from, int to) {
        long s0 = w.strides[0];
        int outTotal = (int) w.shape[1];
        float[][] buf = rowBuffers(outTotal);
        float[] run = new float[IB];
        for (int i0 = from; i0 < to; i0 += IB) {
            int ib = Math.min(IB, to - i0);
            for (int ii = 0; ii < ib; ii++)
                MemorySegment.copy(w.data, ElemType.F32, (w.offset + colOf[i0 + ii] * s0) * 4, buf[ii], 0, outTotal);
            for (long[] j : jobs) {
                int c = (int) j[1];
                float sc = (float) Double.longBitsToDouble(j[2]);
                if (sc == 1f) for (int ii = 0; ii < ib; ii++) run[ii] = buf[ii][c];
                else for (int ii = 0; ii < ib; ii++) run[ii] = buf[ii][c] * sc;
                MemorySegment.copy(run, 0, dst, ElemType.F32, (j[0] * in + i0) * 4, ib);
            }
        }
    }

    private static final ThreadLocal<float[][]> ROWS = new ThreadLocal<>();

    /** IB rows of at least n floats, reused by each copying thread (a ViT-B load would otherwise churn ~170 MB). */
    private static float[][] rowBuffers(int n) {
        float[][] b = ROWS.get();
        if (b == null || b[0].length < n) {
            b = new float[IB][n];
            ROWS.set(b);
        }
        return b;
    }

    /** Any other layout: one engine row at a time, inputs permuted, scaled and converted as needed. */
    static void gatherRows(MemorySegment dst, int in, Tensor w, long[] colOf, long[][] jobs) {
        long s0 = w.strides[0], s1 = w.strides[1];
        float[] o = new float[in];
        float[] row = w.type == ElemType.FLOAT && s0 == 1 ? new float[(int) w.shape[0]] : null;
        for (long[] j : jobs) {
            float sc = (float) Double.longBitsToDouble(j[2]);
            if (row != null) {
                MemorySegment.copy(w.data, ElemType.F32, (w.offset + j[1] * s1) * 4, row, 0, row.length);
                for (int i = 0; i < in; i++) o[i] = row[(int) colOf[i]] * sc;
            } else {
                for (int i = 0; i < in; i++) o[i] = w.type.getFloat(w.data, w.offset + colOf[i] * s0 + j[1] * s1) * sc;
            }
            MemorySegment.copy(o, 0, dst, ElemType.F32, j[0] * in * 4, in);
        }
    }
}
