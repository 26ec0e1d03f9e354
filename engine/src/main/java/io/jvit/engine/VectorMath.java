package io.jvit.engine;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vectorised transcendental functions built from FMAs only, so that C2 keeps them in registers
 * inside the kernels' loops. Clamping uses compare+blend: FloatVector.min/max carry NaN rules that
 * make them several times slower. Errors against the double-precision reference are tested.
 */
public final class VectorMath {
    public static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    public static final int LANES = F.length();

    static final float LOG2E = 1.4426950408889634f;
    private static final float ROUND_MAGIC = 12582912f;          // 1.5 * 2^23: adding it rounds to an integer
    private static final int ROUND_MAGIC_BITS = 0x4B400000;

    private VectorMath() {}

    /** 2^x for x in [-126, 127]; inputs below are clamped (result ~1e-38, not 0), above give 2^127. */
    public static FloatVector exp2(FloatVector x) {
        x = x.blend(-126f, x.lt(-126f));
        x = x.blend(127f, x.compare(VectorOperators.GT, 127f));
        FloatVector t = x.add(ROUND_MAGIC);                 // low mantissa bits of t hold round(x)
        FloatVector n = t.sub(ROUND_MAGIC);
        FloatVector r = x.sub(n);                           // r in [-0.5, 0.5]
        // Taylor polynomial of 2^r = e^(r ln 2) to degree 6: relative error < 1.3e-7 on [-0.5, 0.5]
        FloatVector p = r.fma(1.5403530e-4f, 1.3333558e-3f);
        p = madd(p, r, 9.6181291e-3f);
        p = madd(p, r, 5.5504109e-2f);
        p = madd(p, r, 2.4022651e-1f);
        p = madd(p, r, 6.9314718e-1f);
        p = madd(p, r, 1.0f);
        IntVector bits = t.reinterpretAsInts().add(127 - ROUND_MAGIC_BITS).lanewise(VectorOperators.LSHL, 23);
        return p.mul(bits.reinterpretAsFloats());
    }

    /**
     * e^x with Cody-Waite range reduction (ln 2 split in two so r = x - n ln 2 is exact enough) and
     * Cephes' polynomial: relative error about 2e-7 for x in [-87, 88]; clamped outside.
     */
    public static FloatVector exp(FloatVector x) {
        x = x.blend(-87.3f, x.lt(-87.3f));
        x = x.blend(88.7f, x.compare(VectorOperators.GT, 88.7f));
        FloatVector t = x.fma(LOG2E, ROUND_MAGIC);
        FloatVector n = t.sub(ROUND_MAGIC);
        FloatVector r = n.fma(FloatVector.broadcast(x.species(), -0.693359375f), x);
        r = n.fma(FloatVector.broadcast(x.species(), 2.12194440e-4f), r);
        FloatVector p = r.fma(1.9875691500e-4f, 1.3981999507e-3f);
        p = madd(p, r, 8.3334519073e-3f);
        p = madd(p, r, 4.1665795894e-2f);
        p = madd(p, r, 1.6666665459e-1f);
        p = madd(p, r, 5.0000001201e-1f);
        p = p.mul(r).fma(r, r).add(1f);
        IntVector bits = t.reinterpretAsInts().add(127 - ROUND_MAGIC_BITS).lanewise(VectorOperators.LSHL, 23);
        return p.mul(bits.reinterpretAsFloats());
    }

    /**
     * erf(x) as a rational minimax approximation on [-4, 4] (outside, erf is +-1 in single precision),
     * the form used by Eigen and XNNPACK; absolute error about 1e-7.
     */
    public static FloatVector erf(FloatVector x) {
        x = x.blend(4f, x.compare(VectorOperators.GT, 4f));
        x = x.blend(-4f, x.lt(-4f));
        FloatVector x2 = x.mul(x);
        FloatVector p = x2.fma(-2.72614225801306e-10f, 2.77068142495902e-08f);
        p = madd(p, x2, -2.10102402082508e-06f);
        p = madd(p, x2, -5.69250639462346e-05f);
        p = madd(p, x2, -7.34990630326855e-04f);
        p = madd(p, x2, -2.95459980854025e-03f);
        p = madd(p, x2, -1.60960333262415e-02f);
        p = p.mul(x);
        FloatVector q = x2.fma(-1.45660718464996e-05f, -2.13374055278905e-04f);
        q = madd(q, x2, -1.68282697438203e-03f);
        q = madd(q, x2, -7.37332916720468e-03f);
        q = madd(q, x2, -1.42647390514189e-02f);
        return p.div(q);
    }

    private static final float INV_SQRT2 = 0.70710678118654752f;

    /** GELU with the exact erf form: 0.5 x (1 + erf(x / sqrt 2)). */
    public static FloatVector gelu(FloatVector x) {
        return x.mul(0.5f).mul(erf(x.mul(INV_SQRT2)).add(1f));
    }

    /** tanh(x) = 1 - 2 / (e^{2x} + 1), clamped where it is +-1 in single precision. */
    public static FloatVector tanh(FloatVector x) {
        x = x.blend(10f, x.compare(VectorOperators.GT, 10f));
        x = x.blend(-10f, x.lt(-10f));
        FloatVector e = exp(x.mul(2f));
        return FloatVector.broadcast(x.species(), 1f).sub(FloatVector.broadcast(x.species(), 2f).div(e.add(1f)));
    }

    /** p * x + c, fused. */
    private static FloatVector madd(FloatVector p, FloatVector x, float c) {
        return p.fma(x, FloatVector.broadcast(p.species(), c));
    }

    /** Lane-wise max through compare+blend (see class comment). */
    public static FloatVector max(FloatVector a, FloatVector b) {
        VectorMask<Float> m = a.lt(b);
        return a.blend(b, m);
    }

    // Scalar versions, same formulas, for tails.
    public static float exp2(float x) {
        return exp2(FloatVector.broadcast(F, x)).lane(0);
    }

    public static float gelu(float x) {
        return gelu(FloatVector.broadcast(F, x)).lane(0);
    }
}
