package io.jvit.loader.onnx;

import io.jvit.loader.onnx.Values.Ints;

import java.util.List;
import java.util.function.UnaryOperator;

/** Shape arithmetic on small integer tensors whose elements may be linear in the batch size. */
final class IntsOps {
    private IntsOps() {}

    static Ints map(Ints a, UnaryOperator<Dim> f) {
        Dim[] r = new Dim[a.n()];
        for (int i = 0; i < r.length; i++) r[i] = f.apply(a.v()[i]);
        return new Ints(a.shape(), r);
    }

    static Ints binary(String op, Ints a, Ints b) {
        long[] shape = ConstOps.broadcastShape(a.shape(), b.shape());
        int n = (int) Tensor.numel(shape);
        Dim[] r = new Dim[n];
        for (int i = 0; i < n; i++) {
            Dim x = a.v()[(int) ConstOps.sourceIndex(i, shape, a.shape())], y = b.v()[(int) ConstOps.sourceIndex(i, shape, b.shape())];
            r[i] = switch (op) {
                case "Add" -> x.plus(y);
                case "Sub" -> x.minus(y);
                case "Mul" -> x.times(y);
                case "Div" -> x.div(y);
                case "Mod" -> x.mod(y);
                case "Equal" -> bool(Dim.equal(x, y));
                case "Less" -> bool(Dim.less(x, y));
                case "Greater" -> bool(Dim.less(y, x));
                case "LessOrEqual" -> bool(!Dim.less(y, x));
                case "GreaterOrEqual" -> bool(!Dim.less(x, y));
                case "And" -> bool(x.value() != 0 && y.value() != 0);
                case "Or" -> bool(x.value() != 0 || y.value() != 0);
                case "Max" -> Dim.less(x, y) ? y : x;
                case "Min" -> Dim.less(x, y) ? x : y;
                case "Pow" -> Dim.of((long) Math.pow(x.value(), y.value()));
                default -> throw new Refusal(op + " on integers is not supported");
            };
        }
        return new Ints(shape, r);
    }

    private static Dim bool(boolean b) { return Dim.of(b ? 1 : 0); }

    static Ints where(Ints c, Ints x, Ints y) {
        long[] shape = ConstOps.broadcastShape(ConstOps.broadcastShape(c.shape(), x.shape()), y.shape());
        int n = (int) Tensor.numel(shape);
        Dim[] r = new Dim[n];
        for (int i = 0; i < n; i++) {
            boolean k = c.v()[(int) ConstOps.sourceIndex(i, shape, c.shape())].value() != 0;
            r[i] = k ? x.v()[(int) ConstOps.sourceIndex(i, shape, x.shape())] : y.v()[(int) ConstOps.sourceIndex(i, shape, y.shape())];
        }
        return new Ints(shape, r);
    }

    static Ints expand(Ints a, Ints shape) {
        if (!shape.isConst()) throw new Refusal("expands a shape value to a batch-dependent shape");
        long[] s = ConstOps.broadcastShape(a.shape(), shape.longs());
        int n = (int) Tensor.numel(s);
        Dim[] r = new Dim[n];
        for (int i = 0; i < n; i++) r[i] = a.v()[(int) ConstOps.sourceIndex(i, s, a.shape())];
        return new Ints(s, r);
    }

    static Ints gather(Ints d, int axis, Ints idx) {
        if (!idx.isConst()) throw new Refusal("gathers with batch-dependent indices");
        long[] ix = idx.longs();
        long[] ds = d.shape();
        long n = ds[axis];
        long outer = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= ds[i];
        for (int i = axis + 1; i < ds.length; i++) inner *= ds[i];
        long[] shape = new long[ds.length - 1 + idx.shape().length];
        int j = 0;
        for (int i = 0; i < axis; i++) shape[j++] = ds[i];
        for (long s : idx.shape()) shape[j++] = s;
        for (int i = axis + 1; i < ds.length; i++) shape[j++] = ds[i];
        Dim[] r = new Dim[(int) (outer * ix.length * inner)];
        int p = 0;
        for (long o = 0; o < outer; o++)
            for (long k : ix) {
                long kk = k < 0 ? k + n : k;
                if (kk < 0 || kk >= n) throw new Refusal("index " + k + " is out of range for size " + n, true);
                for (long in = 0; in < inner; in++) r[p++] = d.v()[(int) ((o * n + kk) * inner + in)];
            }
        return new Ints(shape, r);
    }

    static Ints slice(Ints d, int axis, long start, long end, long step) {
        long[] ds = d.shape();
        long n = ds[axis];
        long[] b = ViTImporter.sliceBounds(start, end, step, n);
        List<Long> picks = new java.util.ArrayList<>();
        if (step > 0) for (long i = b[0]; i < b[1]; i += step) picks.add(i);
        else for (long i = b[0]; i > b[1]; i += step) picks.add(i);
        long outer = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= ds[i];
        for (int i = axis + 1; i < ds.length; i++) inner *= ds[i];
        long[] shape = ds.clone();
        shape[axis] = picks.size();
        Dim[] r = new Dim[(int) (outer * picks.size() * inner)];
        int p = 0;
        for (long o = 0; o < outer; o++)
            for (long k : picks)
                for (long in = 0; in < inner; in++) r[p++] = d.v()[(int) ((o * n + k) * inner + in)];
        return new Ints(shape, r);
    }

    static Ints concat(List<Ints> parts, int axis) {
        long[] s0 = parts.get(0).shape();
        long outer = 1, inner = 1, total = 0;
        for (int i = 0; i < axis; i++) outer *= s0[i];
        for (int i = axis + 1; i < s0.length; i++) inner *= s0[i];
        for (Ints p : parts) {
            if (p.shape().length != s0.length) throw new Refusal("concatenates shape values of different ranks", true);
            total += p.shape()[axis];
        }
        long[] shape = s0.clone();
        shape[axis] = total;
        Dim[] r = new Dim[(int) (outer * total * inner)];
        int k = 0;
        for (long o = 0; o < outer; o++)
            for (Ints p : parts) {
                long len = p.shape()[axis] * inner;
                for (long i = 0; i < len; i++) r[k++] = p.v()[(int) (o * len + i)];
            }
        return new Ints(shape, r);
    }

    static Ints transpose(Ints a, int[] perm) {
        long[] s = a.shape();
        long[] ns = new long[s.length];
        for (int i = 0; i < s.length; i++) ns[i] = s[perm[i]];
        long[] st = Tensor.rowMajor(s);
        Dim[] r = new Dim[a.n()];
        for (int i = 0; i < r.length; i++) {
            long rem = i, src = 0;
            for (int d = ns.length - 1; d >= 0; d--) {
                src += (rem % ns[d]) * st[perm[d]];
                rem /= ns[d];
            }
            r[i] = a.v()[(int) src];
        }
        return new Ints(ns, r);
    }
}
