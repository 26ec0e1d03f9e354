package io.jvit.loader.onnx;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What the importer knows about each value of the graph while it walks it:
 * <ul>
 * <li>{@link Const}: a constant tensor (initializers, Constant nodes and anything folded from them);</li>
 * <li>{@link Ints}: a small integer tensor whose elements may depend on the batch size (shapes);</li>
 * <li>{@link Act}: an activation, described by what it means ({@link Sem}) and how its axes map onto
 *     the index spaces of that meaning (batch, token, channel, head...).</li>
 * </ul>
 */
final class Values {
    private Values() {}

    sealed interface Value permits Const, Ints, Act {}

    record Const(Tensor t) implements Value {}

    /** A small integer (or boolean) tensor, row-major, elements possibly linear in the batch size. */
    record Ints(long[] shape, Dim[] v) implements Value {
        Ints {
            if (Tensor.numel(shape) != v.length) throw new IllegalArgumentException("Ints shape/value mismatch");
        }

        static Ints scalar(Dim d) { return new Ints(new long[0], new Dim[] {d}); }

        static Ints vector(Dim... d) { return new Ints(new long[] {d.length}, d); }

        static Ints ofLongs(long[] shape, long[] vals) {
            Dim[] d = new Dim[vals.length];
            for (int i = 0; i < vals.length; i++) d[i] = Dim.of(vals[i]);
            return new Ints(shape, d);
        }

        boolean isConst() {
            for (Dim d : v) if (!d.isConst()) return false;
            return true;
        }

        long[] longs() {
            long[] r = new long[v.length];
            for (int i = 0; i < v.length; i++) r[i] = v[i].value();
            return r;
        }

        int n() { return v.length; }

        @Override
        public String toString() { return Arrays.toString(v); }
    }

    /** Index spaces that activation axes are made of. */
    enum Space { BATCH, TOKEN, KTOKEN, CHAN, HEAD, VDIM, IMG_C, IMG_Y, IMG_X, GRID_Y, GRID_X }

    /**
     * One factor of an axis: index i in [0, size) of this atom contributes i * stride to the index in
     * its space. An axis is a list of atoms, major first; a size-1 axis has none.
     */
    record Atom(Space space, Dim size, long stride) {
        @Override
        public String toString() { return space.name().toLowerCase() + "(" + size + (stride != 1 ? "/" + stride : "") + ")"; }
    }

    /**
     * An activation tensor. Index of element (i_0, ..., i_r) in space s is base[s] + sum over the atoms
     * of s of (atom index * stride): so transposes, reshapes, slices and gathers only move atoms, and
     * the importer always knows which token, channel, head... each element is.
     */
    static final class Act implements Value {
        final List<List<Atom>> axes;
        final long[] base;
        final long[] extent;
        final Sem sem;

        Act(List<List<Atom>> axes, long[] base, long[] extent, Sem sem) {
            this.axes = normalize(axes);
            this.base = base;
            this.extent = extent;
            this.sem = sem;
        }

        Act withSem(Sem s) { return new Act(axes, base, extent, s); }

        Act with(List<List<Atom>> ax, long[] b, Sem s) { return new Act(ax, b, extent, s); }

        int rank() { return axes.size(); }

        Dim axisSize(int i) {
            Dim d = Dim.of(1);
            for (Atom a : axes.get(i)) d = d.times(a.size());
            return d;
        }

        Dim[] shape() {
            Dim[] s = new Dim[rank()];
            for (int i = 0; i < s.length; i++) s[i] = axisSize(i);
            return s;
        }

        long base(Space s) { return base[s.ordinal()]; }

        long extent(Space s) { return extent[s.ordinal()]; }

        List<Atom> last() { return axes.get(axes.size() - 1); }

        /** Atoms of a space anywhere in the tensor, with their axis index. */
        List<int[]> find(Space s) {
            List<int[]> r = new ArrayList<>();
            for (int i = 0; i < axes.size(); i++)
                for (int j = 0; j < axes.get(i).size(); j++) if (axes.get(i).get(j).space() == s) r.add(new int[] {i, j});
            return r;
        }

        boolean has(Space s) { return !find(s).isEmpty(); }

        /** Whether the whole of a space's extent is present, each index once, in canonical order. */
        boolean full(Space s) {
            List<int[]> f = find(s);
            long n = 1, expectStride = 1;
            for (int k = f.size() - 1; k >= 0; k--) {
                Atom a = axes.get(f.get(k)[0]).get(f.get(k)[1]);
                if (!a.size().isConst() || a.stride() != expectStride) return false;
                n *= a.size().value();
                expectStride *= a.size().value();
            }
            return base(s) == 0 && n == extent(s);
        }

        String layout() {
            StringBuilder b = new StringBuilder("[");
            for (int i = 0; i < axes.size(); i++) {
                if (i > 0) b.append(", ");
                List<Atom> ax = axes.get(i);
                if (ax.isEmpty()) b.append("1");
                for (int j = 0; j < ax.size(); j++) b.append(j > 0 ? "*" : "").append(ax.get(j));
            }
            return b.append("]").toString();
        }

        /** Same axes, same atoms, same bases: elementwise-compatible without broadcasting. */
        boolean sameLayout(Act o) {
            return axes.equals(o.axes) && Arrays.equals(base, o.base);
        }

        /** Drops size-1 atoms and merges neighbouring atoms of one space that form a single stride run. */
        private static List<List<Atom>> normalize(List<List<Atom>> axes) {
            List<List<Atom>> out = new ArrayList<>(axes.size());
            for (List<Atom> ax : axes) {
                List<Atom> n = new ArrayList<>(ax.size());
                for (Atom a : ax) {
                    if (a.size().isConst() && a.size().value() == 1) continue;
                    if (!n.isEmpty()) {
                        Atom p = n.get(n.size() - 1);
                        if (p.space() == a.space() && a.size().isConst() && p.size().isConst()
                                && p.stride() == a.stride() * a.size().value()) {
                            n.set(n.size() - 1, new Atom(a.space(), Dim.of(p.size().value() * a.size().value()), a.stride()));
                            continue;
                        }
                    }
                    n.add(a);
                }
                out.add(List.copyOf(n));
            }
            return List.copyOf(out);
        }
    }

    static long[] spaces() { return new long[Space.values().length]; }
}
