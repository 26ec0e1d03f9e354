package io.jvit.loader.onnx;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * A constant tensor: an initializer, a Constant node, or something folded from them. A strided view
 * over little-endian data (memory-mapped or on the heap), so transposes, slices and reshapes of big
 * weights cost nothing until the importer materialises the engine's layout, once.
 */
final class Tensor {
    final String name;
    final ElemType type;
    final long[] shape;
    final long[] strides; // in elements
    final long offset;    // in elements
    final MemorySegment data;

    Tensor(String name, ElemType type, long[] shape, long[] strides, long offset, MemorySegment data) {
        this.name = name;
        this.type = type;
        this.shape = shape;
        this.strides = strides;
        this.offset = offset;
        this.data = data;
    }

    static Tensor contiguous(String name, ElemType type, long[] shape, MemorySegment data) {
        return new Tensor(name, type, shape, rowMajor(shape), 0, data);
    }

    static Tensor ofFloats(String name, long[] shape, float[] v) {
        MemorySegment s = MemorySegment.ofArray(new byte[v.length * 4]);
        for (int i = 0; i < v.length; i++) s.set(ElemType.F32, 4L * i, v[i]);
        return contiguous(name, ElemType.FLOAT, shape, s);
    }

    static long[] rowMajor(long[] shape) {
        long[] st = new long[shape.length];
        long s = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            st[i] = s;
            s *= shape[i];
        }
        return st;
    }

    static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    long numel() { return numel(shape); }

    int rank() { return shape.length; }

    String describe() {
        return "'" + name + "' " + type + Arrays.toString(shape);
    }

    /** Element offset (in elements, from the segment start) of a row-major flat index. */
    long elementOffset(long flat) {
        long off = offset;
        for (int i = shape.length - 1; i >= 0; i--) {
            long d = shape[i];
            off += (flat % d) * strides[i];
            flat /= d;
        }
        return off;
    }

    double getDouble(long flat) { return type.getDouble(data, elementOffset(flat)); }

    float getFloat(long flat) { return type.getFloat(data, elementOffset(flat)); }

    long getLong(long flat) { return type.getLong(data, elementOffset(flat)); }

    float at(long... idx) {
        long off = offset;
        for (int i = 0; i < idx.length; i++) off += idx[i] * strides[i];
        return type.getFloat(data, off);
    }

    boolean isContiguous() {
        return Arrays.equals(strides, rowMajor(shape)) || numel() <= 1 || denseIgnoringUnitDims();
    }

    private boolean denseIgnoringUnitDims() {
        long s = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] == 1) continue;
            if (strides[i] != s) return false;
            s *= shape[i];
        }
        return true;
    }

    // ---- views -------------------------------------------------------------------------------

    Tensor withName(String n) { return new Tensor(n, type, shape, strides, offset, data); }

    Tensor transpose(int[] perm) {
        long[] sh = new long[perm.length], st = new long[perm.length];
        for (int i = 0; i < perm.length; i++) {
            sh[i] = shape[perm[i]];
            st[i] = strides[perm[i]];
        }
        return new Tensor(name, type, sh, st, offset, data);
    }

    /** A row-major reshape; a copy only when this view is not contiguous. */
    Tensor reshape(long[] newShape) {
        if (numel(newShape) != numel())
            throw new IllegalArgumentException("cannot reshape " + Arrays.toString(shape) + " to " + Arrays.toString(newShape));
        Tensor c = isContiguous() ? this : materialize(null);
        return new Tensor(name, c.type, newShape.clone(), rowMajor(newShape), c.offset, c.data);
    }

    /** Elements start, start+step, ... below end along an axis (step > 0). */
    Tensor slice(int axis, long start, long end, long step) {
        long[] sh = shape.clone(), st = strides.clone();
        sh[axis] = Math.max(0, (end - start + step - 1) / step);
        st[axis] = strides[axis] * step;
        return new Tensor(name, type, sh, st, offset + start * strides[axis], data);
    }

    /** Index {@code i} of an axis, the axis removed. */
    Tensor select(int axis, long i) {
        long[] sh = new long[shape.length - 1], st = new long[shape.length - 1];
        for (int a = 0, j = 0; a < shape.length; a++) {
            if (a == axis) continue;
            sh[j] = shape[a];
            st[j++] = strides[a];
        }
        return new Tensor(name, type, sh, st, offset + i * strides[axis], data);
    }

    Tensor unsqueeze(int axis) {
        long[] sh = new long[shape.length + 1], st = new long[shape.length + 1];
        for (int a = 0, j = 0; a < sh.length; a++) {
            if (a == axis) {
                sh[a] = 1;
                st[a] = 0;
            } else {
                sh[a] = shape[j];
                st[a] = strides[j++];
            }
        }
        return new Tensor(name, type, sh, st, offset, data);
    }

    /** Broadcast to a shape (numpy rules, this tensor's dims aligned right). */
    Tensor broadcastTo(long[] target) {
        long[] st = new long[target.length];
        int lead = target.length - shape.length;
        if (lead < 0) throw new IllegalArgumentException("cannot broadcast " + Arrays.toString(shape) + " to " + Arrays.toString(target));
        for (int i = 0; i < target.length; i++) {
            if (i < lead) continue;
            long d = shape[i - lead];
            if (d == target[i]) st[i] = strides[i - lead];
            else if (d == 1) st[i] = 0;
            else throw new IllegalArgumentException("cannot broadcast " + Arrays.toString(shape) + " to " + Arrays.toString(target));
        }
        return new Tensor(name, type, target.clone(), st, offset, data);
    }

    // ---- materialisation ---------------------------------------------------------------------

    float[] toFloatArray() {
        long n = numel();
        if (n > Integer.MAX_VALUE - 16) throw new IllegalStateException("tensor " + describe() + " too large for an array");
        float[] out = new float[(int) n];
        if (type == ElemType.FLOAT && isContiguous() && data.byteSize() >= (offset + n) * 4) {
            MemorySegment.copy(data, ElemType.F32, offset * 4, out, 0, (int) n);
            return out;
        }
        for (int i = 0; i < n; i++) out[i] = getFloat(i);
        return out;
    }

    long[] toLongArray() {
        long n = numel();
        long[] out = new long[(int) n];
        for (int i = 0; i < n; i++) out[i] = getLong(i);
        return out;
    }

    double[] toDoubleArray() {
        long n = numel();
        double[] out = new double[(int) n];
        for (int i = 0; i < n; i++) out[i] = getDouble(i);
        return out;
    }

    /** This tensor's elements as contiguous little-endian float32: a slice when it already is, else one copy. */
    MemorySegment f32(Arena arena) {
        long n = numel();
        if (type == ElemType.FLOAT && isContiguous()) return data.asSlice(offset * 4, n * 4);
        return materialize(arena).data;
    }

    /** A contiguous float32 copy (off-heap in {@code arena}, or on the heap when it is null). */
    Tensor materialize(Arena arena) {
        long n = numel();
        if (!type.isFloat() && arena == null) {
            // integers keep their values exactly as int64
            MemorySegment s = MemorySegment.ofArray(new byte[(int) n * 8]);
            for (long i = 0; i < n; i++) s.set(ElemType.I64, 8 * i, getLong(i));
            return contiguous(name, ElemType.INT64, shape, s);
        }
        MemorySegment s = arena == null ? MemorySegment.ofArray(new byte[Math.toIntExact(n * 4)]) : arena.allocate(n * 4, 64);
        if (type == ElemType.FLOAT && shape.length > 0 && strides[shape.length - 1] == 1) {
            long row = shape[shape.length - 1], rows = n / Math.max(1, row);
            for (long r = 0; r < rows; r++)
                MemorySegment.copy(data, elementOffset(r * row) * 4, s, r * row * 4, row * 4);
        } else {
            for (long i = 0; i < n; i++) s.set(ElemType.F32, 4 * i, getFloat(i));
        }
        return contiguous(name, ElemType.FLOAT, shape, s);
    }
}
