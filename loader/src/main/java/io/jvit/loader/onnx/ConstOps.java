package io.jvit.loader.onnx;

import io.jvit.loader.onnx.Values.Ints;

import java.util.List;

/** Constant folding over small float tensors, in float32 as an ONNX runtime would compute it. */
final class ConstOps {
    private ConstOps() {}

    static long[] broadcastShape(long[] a, long[] b) {
        int r = Math.max(a.length, b.length);
        long[] s = new long[r];
        for (int i = 0; i < r; i++) {
            long x = i < r - a.length ? 1 : a[i - (r - a.length)];
            long y = i < r - b.length ? 1 : b[i - (r - b.length)];
            if (x != y && x != 1 && y != 1)
                throw new Refusal("shapes " + java.util.Arrays.toString(a) + " and " + java.util.Arrays.toString(b) + " do not broadcast", true);
            s[i] = x == 1 ? y : x;
        }
        return s;
    }

    /** Row-major index into a broadcast source of the out-shape's flat index. */
    static long sourceIndex(long flat, long[] out, long[] src) {
        long idx = 0, mul = 1;
        int off = out.length - src.length;
        for (int d = out.length - 1; d >= 0; d--) {
            long i = flat % out[d];
            flat /= out[d];
            int sd = d - off;
            if (sd >= 0) {
                if (src[sd] != 1) idx += i * mul;
                mul *= src[sd];
            }
        }
        return idx;
    }

    private static void checkSize(long n) {
        if (n > 1 << 26) throw new Refusal("constant folding over " + n + " elements is not supported");
    }

    static Tensor binary(String op, Tensor a, Tensor b) {
        long[] shape = broadcastShape(a.shape, b.shape);
        long n = Tensor.numel(shape);
        checkSize(n);
        float[] r = new float[(int) n];
        for (int i = 0; i < n; i++) {
            float x = a.getFloat(sourceIndex(i, shape, a.shape)), y = b.getFloat(sourceIndex(i, shape, b.shape));
            r[i] = switch (op) {
                case "Add" -> x + y;
                case "Sub" -> x - y;
                case "Mul" -> x * y;
                case "Div" -> x / y;
                case "Pow" -> (float) Math.pow(x, y);
                case "Max" -> Math.max(x, y);
                case "Min" -> Math.min(x, y);
                case "Mod" -> x % y;
                case "Equal" -> x == y ? 1 : 0;
                case "Less" -> x < y ? 1 : 0;
                case "Greater" -> x > y ? 1 : 0;
                case "LessOrEqual" -> x <= y ? 1 : 0;
                case "GreaterOrEqual" -> x >= y ? 1 : 0;
                default -> throw new Refusal(op + " on float constants is not supported");
            };
        }
        return Tensor.ofFloats(a.name, shape, r);
    }

    static Tensor unary(String op, Tensor a) {
        long n = a.numel();
        checkSize(n);
        float[] r = new float[(int) n];
        for (int i = 0; i < n; i++) {
            float x = a.getFloat(i);
            r[i] = switch (op) {
                case "Sqrt" -> (float) Math.sqrt(x);
                case "Reciprocal" -> 1f / x;
                case "Neg" -> -x;
                case "Abs" -> Math.abs(x);
                case "Floor" -> (float) Math.floor(x);
                case "Ceil" -> (float) Math.ceil(x);
                case "Round" -> (float) Math.rint(x);
                case "Sign" -> Math.signum(x);
                case "Exp" -> (float) Math.exp(x);
                case "Log" -> (float) Math.log(x);
                case "Tanh" -> (float) Math.tanh(x);
                case "Relu" -> Math.max(0, x);
                case "Sigmoid" -> (float) (1 / (1 + Math.exp(-x)));
                case "Erf" -> (float) io.jvit.engine.Reference.erf(x);
                case "Not" -> x == 0 ? 1 : 0;
                default -> throw new Refusal(op + " on constants is not supported");
            };
        }
        return Tensor.ofFloats(a.name, a.shape, r);
    }

    static Tensor where(Ints c, Tensor x, Tensor y) {
        long[] shape = broadcastShape(broadcastShape(c.shape(), x.shape), y.shape);
        long n = Tensor.numel(shape);
        checkSize(n);
        float[] r = new float[(int) n];
        for (int i = 0; i < n; i++) {
            boolean k = c.v()[(int) sourceIndex(i, shape, c.shape())].value() != 0;
            r[i] = k ? x.getFloat(sourceIndex(i, shape, x.shape)) : y.getFloat(sourceIndex(i, shape, y.shape));
        }
        return Tensor.ofFloats(x.name, shape, r);
    }

    static Tensor concat(List<Tensor> parts, int axis) {
        Tensor t0 = parts.get(0);
        long[] shape = t0.shape.clone();
        long total = 0;
        for (Tensor t : parts) total += t.shape[axis];
        shape[axis] = total;
        long n = Tensor.numel(shape);
        checkSize(n);
        float[] r = new float[(int) n];
        long outer = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= shape[i];
        for (int i = axis + 1; i < shape.length; i++) inner *= shape[i];
        int k = 0;
        for (long o = 0; o < outer; o++)
            for (Tensor t : parts) {
                long len = t.shape[axis] * inner;
                for (long i = 0; i < len; i++) r[k++] = t.getFloat(o * len + i);
            }
        return Tensor.ofFloats(t0.name, shape, r);
    }

    static Tensor scaleTensor(Tensor t, double s) {
        float[] v = t.toFloatArray();
        for (int i = 0; i < v.length; i++) v[i] = (float) (v[i] * s);
        return Tensor.ofFloats(t.name, t.shape, v);
    }

    /** The bias of a projection after adding {@code v} to its output (v already in row space, [out]). */
    static Tensor addBias(Sem.Proj p, Tensor v) {
        // out = rs * s * (xW + b) + v = rs * s * (xW + b + v / (rs * s))
        if (p.bias() == null && p.scale() == 1 && p.rowScale() == null) return v;
        float[] r = v.toFloatArray();
        for (int i = 0; i < r.length; i++) {
            double f = p.scale() * (p.rowScale() == null ? 1 : p.rowScale()[i]);
            if (f == 0) throw new Refusal("adds a bias after scaling a linear layer's output by 0");
            float add = f == 1 ? r[i] : (float) (r[i] / f);
            r[i] = (p.bias() == null ? 0f : p.bias().getFloat(i)) + add;
        }
        return Tensor.ofFloats(v.name, new long[] {r.length}, r);
    }
}
