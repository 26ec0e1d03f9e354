package io.jvit.loader.onnx;

/**
 * A size or shape element that may depend on the dynamic batch size B: the value a*B + b.
 * Shape arithmetic in exported graphs stays linear in B (B, B*heads, B*tokens, ...); anything else
 * is refused.
 */
record Dim(long a, long b) {
    static final Dim BATCH = new Dim(1, 0);

    static Dim of(long v) { return new Dim(0, v); }

    boolean isConst() { return a == 0; }

    long value() {
        if (a != 0) throw new Refusal("a size depends on the batch where a constant is needed");
        return b;
    }

    /** A single term: c or c*B. */
    boolean isMonomial() { return a == 0 || b == 0; }

    Dim plus(Dim o) { return new Dim(a + o.a, b + o.b); }

    Dim minus(Dim o) { return new Dim(a - o.a, b - o.b); }

    Dim times(Dim o) {
        if (a != 0 && o.a != 0) throw new Refusal("shape arithmetic multiplies the batch size by itself");
        return new Dim(Math.multiplyExact(a, o.b) + Math.multiplyExact(o.a, b), Math.multiplyExact(b, o.b));
    }

    /** Integer division as ONNX does it for positive sizes; only exact in B. */
    Dim div(Dim o) {
        if (o.a != 0) {
            if (b == 0 && o.b == 0 && o.a != 0 && a % o.a == 0) return of(a / o.a);
            throw new Refusal("shape arithmetic divides by the batch size");
        }
        if (o.b == 0) throw new Refusal("shape arithmetic divides by zero");
        if (a % o.b != 0) throw new Refusal("shape arithmetic divides the batch size unevenly");
        return new Dim(a / o.b, Math.floorDiv(b, o.b));
    }

    Dim mod(Dim o) {
        if (o.a != 0 || (a != 0 && a % o.b != 0)) throw new Refusal("shape arithmetic takes a remainder of the batch size");
        return of(Math.floorMod(b, o.b));
    }

    /** a*B + b == c*B + d for every batch size B >= 1? Refused when it holds for some B only. */
    static boolean equal(Dim x, Dim y) {
        if (x.equals(y)) return true;
        long da = x.a - y.a, db = y.b - x.b;
        if (da == 0) return false;
        // equal exactly when B = db / da
        if (db % da == 0 && db / da >= 1) throw new Refusal("a shape comparison holds for batch size " + (db / da) + " only");
        return false;
    }

    /** x < y for every B >= 1 (or refused). */
    static boolean less(Dim x, Dim y) {
        Dim d = y.minus(x); // need d.a*B + d.b > 0
        if (d.a == 0) return d.b > 0;
        boolean at1 = d.a + d.b > 0;
        if (d.a > 0 && at1) return true;
        if (d.a < 0 && !at1) return false;
        throw new Refusal("a shape comparison depends on the batch size");
    }

    @Override
    public String toString() {
        if (a == 0) return Long.toString(b);
        String s = (a == 1 ? "" : a + "*") + "batch";
        return b == 0 ? s : s + (b > 0 ? "+" : "") + b;
    }
}
