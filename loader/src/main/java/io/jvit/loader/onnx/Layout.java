package io.jvit.loader.onnx;

import io.jvit.loader.onnx.Values.Act;
import io.jvit.loader.onnx.Values.Atom;
import io.jvit.loader.onnx.Values.Space;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/** Reshape, slice, gather and friends on activations: they only move atoms (see {@link Values.Act}). */
final class Layout {
    private Layout() {}

    /** Spaces whose atoms a reshape may split (a channel axis into heads x head size, say). */
    private static boolean splittable(Space s) {
        return s == Space.CHAN || s == Space.HEAD || s == Space.VDIM;
    }

    static Act reshape(Act a, Dim[] target, boolean allowZero) {
        Dim[] in = a.shape();
        Dim[] t = target.clone();
        int infer = -1;
        Dim known = Dim.of(1);
        for (int i = 0; i < t.length; i++) {
            if (t[i].isConst() && t[i].value() == 0 && !allowZero) {
                if (i >= in.length) throw new Refusal("Reshape copies dimension " + i + " of a rank-" + in.length + " tensor", true);
                t[i] = in[i];
            }
            if (t[i].isConst() && t[i].value() == -1) {
                if (infer >= 0) throw new Refusal("Reshape with two -1 dimensions", true);
                infer = i;
            } else known = known.times(t[i]);
        }
        Dim total = Dim.of(1);
        for (Dim d : in) total = total.times(d);
        if (infer >= 0) t[infer] = total.div(known);
        Dim check = Dim.of(1);
        for (Dim d : t) check = check.times(d);
        if (!check.equals(total))
            throw new Refusal("reshapes " + a.layout() + " (" + java.util.Arrays.toString(in) + ") to " + java.util.Arrays.toString(t));

        Deque<Atom> atoms = new ArrayDeque<>();
        for (List<Atom> ax : a.axes) atoms.addAll(ax);
        List<List<Atom>> out = new ArrayList<>();
        for (Dim want : t) {
            if (!want.isMonomial()) throw new Refusal("reshapes to a size " + want + " that mixes the batch with a constant");
            List<Atom> group = new ArrayList<>();
            Dim have = Dim.of(1);
            while (!have.equals(want)) {
                if (atoms.isEmpty()) throw new Refusal("cannot reshape " + a.layout() + " to " + java.util.Arrays.toString(t));
                Dim need = want.div(have);
                Atom at = atoms.peekFirst();
                Dim sz = at.size();
                if (sz.equals(need)) {
                    group.add(atoms.pollFirst());
                    have = have.times(sz);
                } else if (!sz.isConst()) {
                    // the batch atom inside a larger group (torchvision's batch * heads)
                    if (need.isConst() || need.b() != 0 || need.a() % sz.a() != 0)
                        throw new Refusal("cannot reshape " + a.layout() + " to " + java.util.Arrays.toString(t) + ": the batch does not fit " + want);
                    group.add(atoms.pollFirst());
                    have = have.times(sz);
                } else if (!need.isConst()) {
                    // the batch is still to come: take this whole constant atom if it divides what is left
                    if (need.a() % sz.value() != 0)
                        throw new Refusal("cannot reshape " + a.layout() + " to " + java.util.Arrays.toString(t));
                    group.add(atoms.pollFirst());
                    have = have.times(sz);
                } else {
                    long n = need.value(), s = sz.value();
                    if (n % s == 0) {
                        group.add(atoms.pollFirst());
                        have = have.times(sz);
                    } else if (s % n == 0 && splittable(at.space())) {
                        atoms.pollFirst();
                        group.add(new Atom(at.space(), Dim.of(n), at.stride() * (s / n)));
                        atoms.addFirst(new Atom(at.space(), Dim.of(s / n), at.stride()));
                        have = have.times(Dim.of(n));
                    } else {
                        throw new Refusal("reshapes " + a.layout() + " to " + java.util.Arrays.toString(t) + ", which splits its "
                                + at.space().name().toLowerCase() + " axis");
                    }
                }
            }
            out.add(group);
        }
        if (!atoms.isEmpty()) throw new Refusal("cannot reshape " + a.layout() + " to " + java.util.Arrays.toString(t));
        return a.with(out, a.base, a.sem);
    }

    static Act unsqueeze(Act a, int[] sortedAxes) {
        List<List<Atom>> out = new ArrayList<>();
        int rank = a.rank() + sortedAxes.length;
        for (int i = 0, j = 0, k = 0; i < rank; i++) {
            if (k < sortedAxes.length && sortedAxes[k] == i) {
                out.add(List.of());
                k++;
            } else out.add(a.axes.get(j++));
        }
        return a.with(out, a.base, a.sem);
    }

    /** Elements [start, end) of an axis (ONNX Slice semantics, clamped). */
    static Act slice(Act a, int axis, Dim start, Dim end, long step) {
        Dim n = a.axisSize(axis);
        if (!n.isConst()) {
            // the batch axis: only the whole of it
            boolean all = start.isConst() && (start.value() == 0 || start.value() <= -Integer.MAX_VALUE)
                    && ((end.isConst() && end.value() >= Integer.MAX_VALUE) || Dim.equal(end, n)) && step == 1;
            if (!all) throw new Refusal("selects part of the batch; jvit runs every image the same way");
            return a;
        }
        if (!start.isConst() || !end.isConst()) throw new Refusal("slices with batch-dependent bounds");
        long[] b = ViTImporter.sliceBounds(start.value(), end.value(), step, n.value());
        long s = b[0], e = b[1];
        if (step == 1 && s == 0 && e >= n.value()) return a;
        if (step != 1) throw new Refusal("slices an activation with step " + step);
        if (e <= s) throw new Refusal("an empty slice");
        List<Atom> ax = a.axes.get(axis);
        if (ax.isEmpty()) return a;
        // slice the major atom when the range is whole multiples of the minor ones
        long minor = 1;
        for (int i = 1; i < ax.size(); i++) minor *= ax.get(i).size().value();
        if (s % minor != 0 || e % minor != 0)
            throw new Refusal("slices [" + s + ", " + e + ") of axis " + axis + " " + a.layout() + " across its parts");
        Atom major = ax.get(0);
        long ms = s / minor, me = e / minor;
        List<Atom> nax = new ArrayList<>(ax);
        nax.set(0, new Atom(major.space(), Dim.of(me - ms), major.stride()));
        List<List<Atom>> axes = new ArrayList<>(a.axes);
        axes.set(axis, nax);
        long[] base = a.base.clone();
        base[major.space().ordinal()] += ms * major.stride();
        return a.with(axes, base, a.sem);
    }

    /** Index i of an axis; the axis is removed ({@code drop}) or kept with size 1. */
    static Act select(Act a, int axis, long i, boolean drop) {
        Dim n = a.axisSize(axis);
        if (!n.isConst()) throw new Refusal("selects one image of the batch; jvit runs every image the same way");
        long idx = i < 0 ? i + n.value() : i;
        if (idx < 0 || idx >= n.value()) throw new Refusal("index " + i + " is out of range for size " + n, true);
        List<Atom> ax = a.axes.get(axis);
        long[] base = a.base.clone();
        long rem = idx;
        for (int k = ax.size() - 1; k >= 0; k--) {
            Atom at = ax.get(k);
            long sz = at.size().value();
            base[at.space().ordinal()] += (rem % sz) * at.stride();
            rem /= sz;
        }
        List<List<Atom>> axes = new ArrayList<>(a.axes);
        if (drop) axes.remove(axis);
        else axes.set(axis, List.of());
        return a.with(axes, base, a.sem);
    }

    /** For each position along an axis made of one space's atoms, the index in that space. */
    static long[] enumerate(List<Atom> axis, long[] base, Space s) {
        long n = 1;
        for (Atom a : axis) {
            if (a.space() != s) throw new Refusal("an axis mixes " + a.space() + " with " + s);
            n *= a.size().value();
        }
        long[] out = new long[Math.toIntExact(n)];
        for (int p = 0; p < n; p++) {
            long rem = p, idx = base[s.ordinal()];
            for (int k = axis.size() - 1; k >= 0; k--) {
                Atom a = axis.get(k);
                long sz = a.size().value();
                idx += (rem % sz) * a.stride();
                rem /= sz;
            }
            out[p] = idx;
        }
        return out;
    }

    /** Like {@link #enumerate} over two spaces: index1 * extent2 + index2. */
    static long[] enumerate2(List<Atom> axis, long[] base, Space s1, Space s2, long extent2) {
        long n = 1;
        for (Atom a : axis) {
            if (a.space() != s1 && a.space() != s2) throw new Refusal("an axis mixes " + a.space() + " with " + s1 + "/" + s2);
            n *= a.size().value();
        }
        long[] out = new long[Math.toIntExact(n)];
        for (int p = 0; p < n; p++) {
            long rem = p, i1 = base[s1.ordinal()], i2 = base[s2.ordinal()];
            for (int k = axis.size() - 1; k >= 0; k--) {
                Atom a = axis.get(k);
                long sz = a.size().value();
                if (a.space() == s1) i1 += (rem % sz) * a.stride();
                else i2 += (rem % sz) * a.stride();
                rem /= sz;
            }
            out[p] = i1 * extent2 + i2;
        }
        return out;
    }
}
