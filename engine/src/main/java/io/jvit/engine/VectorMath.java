package io.jvit.engine;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Vectorised transcendental functions built from FMAs, applied in place over runs of floats.
 * <p>
 * Why in place, with the polynomial written out inside each loop: a method that takes or returns a
 * {@code FloatVector} is only free when C2 inlines it. Once such a helper is hot it gets compiled on
 * its own, and a caller compiled later may refuse to inline the (now large) compiled helper; every
 * vector crossing that call is then boxed on the heap, which cost tens of MB per inference. Loops
 * over memory keep every vector inside one compilation unit. Clamping uses compare+blend
 * (FloatVector.min/max carry NaN rules that make them slow). Errors are tested against the
 * double-precision references in {@link Reference}.
 */
public final class VectorMath {
    public static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    public static final int LANES = F.length();

    static final float LOG2E = 1.4426950408889634f;
    private static final float ROUND_MAGIC = 12582912f;          // 1.5 * 2^23: adding it rounds to an integer
    private static final int EXP_BIAS = 127 - 0x4B400000;          // exponent bias minus the magic's bits
    private static final float INV_SQRT2 = 0.70710678118654752f;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    private VectorMath() {}

    /**
     * The sum of v's lanes in one fixed order, halves folded onto each other. reduceLanes(ADD) may add in
     * any order: the interpreter and C1 add lane by lane, C2 as a tree, so one input gave last-bit
     * different logits before and after the JIT had compiled the forward pass.
     */
    static float sumLanes(FloatVector v) {
        // constant shuffles (C2 compiles each to one permute; slice(n) was not intrinsified and allocated)
        if (LANES >= 16) v = v.add(v.rearrange(SWAP8));
        if (LANES >= 8) v = v.add(v.rearrange(SWAP4));
        if (LANES >= 4) v = v.add(v.rearrange(SWAP2));
        return v.lane(0) + v.lane(1);
    }

    private static final VectorShuffle<Float> SWAP8 = LANES >= 16 ? VectorShuffle.fromOp(F, i -> i ^ 8) : null;
    private static final VectorShuffle<Float> SWAP4 = LANES >= 8 ? VectorShuffle.fromOp(F, i -> i ^ 4) : null;
    private static final VectorShuffle<Float> SWAP2 = LANES >= 4 ? VectorShuffle.fromOp(F, i -> i ^ 2) : null;

    /**
     * s[i] = 2^(s[i] * scale + bias) over n floats (n a multiple of {@link #LANES}) at byte offset off;
     * returns their sum. For arguments up to 127: softmax's, x - max, are at most 0 (not clamped from above: two
     * fewer operations in the exponential's ~17); below -126 they give 2^-126 (not 0).
     * Taylor polynomial of 2^r to degree 6 on [-0.5, 0.5]: relative error below 2e-7.
     */
    public static float exp2InPlace(MemorySegment s, long off, int n, float scale, float bias) {
        FloatVector vs = FloatVector.broadcast(F, scale), vb = FloatVector.broadcast(F, bias);
        FloatVector lo = FloatVector.broadcast(F, -126f);
        FloatVector magic = FloatVector.broadcast(F, ROUND_MAGIC);
        FloatVector c6 = FloatVector.broadcast(F, 1.5403530e-4f), c5 = FloatVector.broadcast(F, 1.3333558e-3f),
                c4 = FloatVector.broadcast(F, 9.6181291e-3f), c3 = FloatVector.broadcast(F, 5.5504109e-2f),
                c2 = FloatVector.broadcast(F, 2.4022651e-1f), c1 = FloatVector.broadcast(F, 6.9314718e-1f),
                one = FloatVector.broadcast(F, 1f);
        FloatVector sum = FloatVector.zero(F);
        for (long o = off, end = off + n * 4L; o < end; o += LANES * 4L) {
            FloatVector x = FloatVector.fromMemorySegment(F, s, o, NATIVE).fma(vs, vb);
            x = x.blend(lo, x.lt(lo));
            FloatVector t = x.add(magic);                     // low mantissa bits of t hold round(x)
            FloatVector r = x.sub(t.sub(magic));              // r in [-0.5, 0.5]
            FloatVector p = r.fma(c6, c5).fma(r, c4).fma(r, c3).fma(r, c2).fma(r, c1).fma(r, one);
            FloatVector pow = t.reinterpretAsInts().add(EXP_BIAS).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
            FloatVector e = p.mul(pow);
            sum = sum.add(e);
            e.intoMemorySegment(s, o, NATIVE);
        }
        return sumLanes(sum);
    }

    /** s[i] = e^(s[i] + bias) over n floats (a multiple of LANES), for arguments up to 88 (softmax: x - max); returns their sum. */
    public static float expInPlace(MemorySegment s, long off, int n, float bias) {
        return exp2InPlace(s, off, n, LOG2E, bias * LOG2E);
    }

    /**
     * s[i] = GELU(s[i]) = 0.5 x (1 + erf(x / sqrt 2)), exact erf form, over n floats (a multiple of
     * LANES). erf is the rational minimax approximation on [-4, 4] used by Eigen and XNNPACK (outside,
     * erf is +-1 in single precision); absolute error about 1e-7.
     */
    public static void geluInPlace(MemorySegment s, long off, int n) {
        erfOrGelu(s, off, n, true);
    }

    /** s[i] = erf(s[i]) over n floats (a multiple of LANES): the approximation {@link #geluInPlace} uses. */
    public static void erfInPlace(MemorySegment s, long off, int n) {
        erfOrGelu(s, off, n, false);
    }

    /** The one erf loop; each caller passes a constant {@code gelu}, which C2 folds once this is inlined. */
    private static void erfOrGelu(MemorySegment s, long off, int n, boolean gelu) {
        FloatVector lo = FloatVector.broadcast(F, -4f), hi = FloatVector.broadcast(F, 4f);
        FloatVector a13 = FloatVector.broadcast(F, -2.72614225801306e-10f), a11 = FloatVector.broadcast(F, 2.77068142495902e-08f),
                a9 = FloatVector.broadcast(F, -2.10102402082508e-06f), a7 = FloatVector.broadcast(F, -5.69250639462346e-05f),
                a5 = FloatVector.broadcast(F, -7.34990630326855e-04f), a3 = FloatVector.broadcast(F, -2.95459980854025e-03f),
                a1 = FloatVector.broadcast(F, -1.60960333262415e-02f);
        FloatVector b8 = FloatVector.broadcast(F, -1.45660718464996e-05f), b6 = FloatVector.broadcast(F, -2.13374055278905e-04f),
                b4 = FloatVector.broadcast(F, -1.68282697438203e-03f), b2 = FloatVector.broadcast(F, -7.37332916720468e-03f),
                b0 = FloatVector.broadcast(F, -1.42647390514189e-02f);
        FloatVector half = FloatVector.broadcast(F, 0.5f), one = FloatVector.broadcast(F, 1f), isq2 = FloatVector.broadcast(F, INV_SQRT2);
        for (long o = off, end = off + n * 4L; o < end; o += LANES * 4L) {
            FloatVector v = FloatVector.fromMemorySegment(F, s, o, NATIVE);
            FloatVector x = gelu ? v.mul(isq2) : v;
            x = x.blend(lo, x.lt(lo));
            x = x.blend(hi, hi.lt(x));
            FloatVector x2 = x.mul(x);
            FloatVector p = x2.fma(a13, a11).fma(x2, a9).fma(x2, a7).fma(x2, a5).fma(x2, a3).fma(x2, a1).mul(x);
            FloatVector q = x2.fma(b8, b6).fma(x2, b4).fma(x2, b2).fma(x2, b0);
            FloatVector erf = p.div(q);
            (gelu ? v.mul(half).mul(erf.add(one)) : erf).intoMemorySegment(s, o, NATIVE);
        }
    }

    /** s[i] = tanh(s[i]) = 1 - 2 / (e^{2x} + 1) over n floats (a multiple of LANES); clamped at +-10. */
    public static void tanhInPlace(MemorySegment s, long off, int n) {
        FloatVector lo = FloatVector.broadcast(F, -10f), hi = FloatVector.broadcast(F, 10f), two = FloatVector.broadcast(F, 2f),
                one = FloatVector.broadcast(F, 1f), l2e2 = FloatVector.broadcast(F, 2 * LOG2E), magic = FloatVector.broadcast(F, ROUND_MAGIC);
        FloatVector c6 = FloatVector.broadcast(F, 1.5403530e-4f), c5 = FloatVector.broadcast(F, 1.3333558e-3f),
                c4 = FloatVector.broadcast(F, 9.6181291e-3f), c3 = FloatVector.broadcast(F, 5.5504109e-2f),
                c2 = FloatVector.broadcast(F, 2.4022651e-1f), c1 = FloatVector.broadcast(F, 6.9314718e-1f);
        for (long o = off, end = off + n * 4L; o < end; o += LANES * 4L) {
            FloatVector x = FloatVector.fromMemorySegment(F, s, o, NATIVE);
            x = x.blend(lo, x.lt(lo));
            x = x.blend(hi, hi.lt(x));
            FloatVector y = x.mul(l2e2);                      // e^{2x} = 2^{2x log2 e}
            FloatVector t = y.add(magic);
            FloatVector r = y.sub(t.sub(magic));
            FloatVector p = r.fma(c6, c5).fma(r, c4).fma(r, c3).fma(r, c2).fma(r, c1).fma(r, one);
            FloatVector e = p.mul(t.reinterpretAsInts().add(EXP_BIAS).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats());
            one.sub(two.div(e.add(one))).intoMemorySegment(s, o, NATIVE);
        }
    }

    /** Scalar 2^x by the same formula, for the few scalars the kernels need (the online-softmax rescale). */
    public static float exp2(float x) {
        x = Math.max(-126f, Math.min(127f, x));
        float t = x + ROUND_MAGIC;
        float r = x - (t - ROUND_MAGIC);
        float p = ((((((1.5403530e-4f * r + 1.3333558e-3f) * r + 9.6181291e-3f) * r + 5.5504109e-2f) * r + 2.4022651e-1f) * r
                + 6.9314718e-1f) * r) + 1f;
        return p * Float.intBitsToFloat((Float.floatToRawIntBits(t) + EXP_BIAS) << 23);
    }
}
