package io.jvit.loader.onnx;

import io.jvit.engine.Linear;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds the engine's Linear layers ([out][in] float32, PyTorch's layout) from projections found in
 * the graph. A weight that already is [out][in] float32 in the file is handed over as a slice of the
 * mapping (no copy); anything else (a pre-transposed [in][out] MatMul weight, rows gathered from a
 * fused q/k/v matrix, a folded scale, float16) is written once into the model's arena.
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
     */
    record Seg(Tensor wmat, long[] rows, long[] colOf, Tensor bias, double scale) {}

    /** Counters for the load report: bytes handed over without a copy, and bytes copied (once). */
    static final class Stats {
        long aliasedBytes, copiedBytes;
        int aliased, copied;
    }

    static Linear build(Arena arena, Stats stats, int in, Seg... segs) {
        int out = 0;
        for (Seg s : segs) out += s.rows.length;
        for (Seg s : segs) {
            if (s.wmat.shape[0] != (s.colOf == null ? in : s.wmat.shape[0]))
                throw new IllegalStateException("weight " + s.wmat.describe() + " does not have " + in + " inputs");
            if (s.colOf != null && s.colOf.length != in) throw new IllegalStateException("input map of " + s.colOf.length + " for " + in);
        }
        MemorySegment w = alias(segs, in);
        if (w != null) {
            stats.aliased++;
            stats.aliasedBytes += w.byteSize();
        } else {
            w = arena.allocate((long) out * in * 4, 64);
            copyWeights(w, in, segs);
            stats.copied++;
            stats.copiedBytes += w.byteSize();
        }
        MemorySegment b = aliasBias(segs);
        if (b == null && hasBias(segs)) {
            b = arena.allocate(out * 4L, 64);
            int eo = 0;
            for (Seg s : segs)
                for (long r : s.rows) {
                    float v = s.bias == null ? 0f : (float) (s.bias.getFloat(r) * s.scale);
                    b.setAtIndex(ElemType.F32, eo++, v);
                }
        }
        return Linear.f32(out, in, w, b);
    }

    private static boolean hasBias(Seg[] segs) {
        for (Seg s : segs) if (s.bias != null) return true;
        return false;
    }

    private static boolean identity(long[] colOf) {
        if (colOf == null) return true;
        for (int i = 0; i < colOf.length; i++) if (colOf[i] != i) return false;
        return true;
    }

    /** Consecutive rows r0, r0+1, ... of one [out][in] float32 matrix: a slice. */
    private static MemorySegment alias(Seg[] segs, int in) {
        Tensor w = segs[0].wmat;
        if (w.type != ElemType.FLOAT || w.strides[0] != 1 || w.strides[1] != in) return null;
        long next = segs[0].rows.length == 0 ? 0 : segs[0].rows[0];
        long first = next;
        for (Seg s : segs) {
            if (s.wmat.data != w.data || s.wmat.offset != w.offset || s.wmat.strides[1] != in || s.wmat.strides[0] != 1
                    || s.scale != 1 || !identity(s.colOf)) return null;
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
            if (s.bias == null || s.bias.data != b.data || s.bias.offset != b.offset || s.bias.strides[0] != 1 || s.scale != 1) return null;
            for (long r : s.rows) if (r != next++) return null;
        }
        return b.data.asSlice((b.offset + first) * 4, (next - first) * 4);
    }

    private record Job(long engineRow, long col, float scale) {}

    private static void copyWeights(MemorySegment dst, int in, Seg[] segs) {
        // group engine rows by source matrix, so a fused matrix is read once
        Map<Tensor, List<Job>> bySource = new IdentityHashMap<>();
        Map<Tensor, long[]> colOfs = new IdentityHashMap<>();
        long eo = 0;
        for (Seg s : segs) {
            List<Job> jobs = bySource.computeIfAbsent(s.wmat, k -> new ArrayList<>());
            long[] colOf = s.colOf;
            long[] prev = colOfs.putIfAbsent(s.wmat, colOf == null ? identityMap(in) : colOf);
            if (prev != null && !java.util.Arrays.equals(prev, colOf == null ? identityMap(in) : colOf)) {
                // the same matrix read with two input orders: keep them apart
                Tensor alias = s.wmat.withName(s.wmat.name);
                bySource.put(alias, jobs = new ArrayList<>());
                colOfs.put(alias, colOf == null ? identityMap(in) : colOf);
            }
            for (long r : s.rows) jobs.add(new Job(eo++, r, (float) s.scale));
        }
        for (Map.Entry<Tensor, List<Job>> e : bySource.entrySet())
            copyFrom(dst, in, e.getKey(), colOfs.get(e.getKey()), e.getValue());
    }

    private static long[] identityMap(int n) {
        long[] m = new long[n];
        for (int i = 0; i < n; i++) m[i] = i;
        return m;
    }

    private static final int IB = 16;

    private static void copyFrom(MemorySegment dst, int in, Tensor w, long[] colOf, List<Job> jobs) {
        long s0 = w.strides[0], s1 = w.strides[1];
        if (w.type == ElemType.FLOAT && s1 == 1) {
            // [in][out] rows contiguous: read IB input rows at a time, write IB-float runs of each output row
            long outTotal = w.shape[1];
            float[][] buf = new float[IB][(int) outTotal];
            float[] run = new float[IB];
            for (int i0 = 0; i0 < in; i0 += IB) {
                int ib = Math.min(IB, in - i0);
                for (int ii = 0; ii < ib; ii++)
                    MemorySegment.copy(w.data, ElemType.F32, (w.offset + colOf[i0 + ii] * s0) * 4, buf[ii], 0, (int) outTotal);
                for (Job j : jobs) {
                    int c = (int) j.col;
                    float sc = j.scale;
                    if (sc == 1f) for (int ii = 0; ii < ib; ii++) run[ii] = buf[ii][c];
                    else for (int ii = 0; ii < ib; ii++) run[ii] = buf[ii][c] * sc;
                    MemorySegment.copy(run, 0, dst, ElemType.F32, (j.engineRow * in + i0) * 4, ib);
                }
            }
            return;
        }
        if (w.type == ElemType.FLOAT && s0 == 1) {
            // [out][in] rows contiguous: one row at a time, inputs permuted and scaled as needed
            long inTotal = w.shape[0];
            float[] row = new float[(int) inTotal];
            float[] o = new float[in];
            for (Job j : jobs) {
                MemorySegment.copy(w.data, ElemType.F32, (w.offset + j.col * s1) * 4, row, 0, (int) inTotal);
                for (int i = 0; i < in; i++) o[i] = row[(int) colOf[i]] * j.scale;
                MemorySegment.copy(o, 0, dst, ElemType.F32, j.engineRow * in * 4, in);
            }
            return;
        }
        float[] o = new float[in];
        for (Job j : jobs) {
            for (int i = 0; i < in; i++) o[i] = w.type.getFloat(w.data, w.offset + colOf[i] * s0 + j.col * s1) * j.scale;
            MemorySegment.copy(o, 0, dst, ElemType.F32, j.engineRow * in * 4, in);
        }
    }
}
