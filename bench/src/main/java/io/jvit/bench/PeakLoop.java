package io.jvit.bench;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * The peak probe's loop, a class of its own so that {@link PeakFlops} can define a fresh copy of it (a hidden class
 * from these bytes, compiled afresh) when the JIT left this one uncompiled.
 */
final class PeakLoop {
    private PeakLoop() {}

    /** The register-only loop: {@code iters} x {@link PeakFlops#CHAINS} FMAs. Returns a value derived from every chain, so nothing is dead. */
    static float kernel(int iters, float seed) {
        FloatVector m = FloatVector.broadcast(PeakFlops.F, 0.9999999f - seed * 1e-9f);
        FloatVector c = FloatVector.broadcast(PeakFlops.F, 1e-7f + seed * 1e-12f);
        FloatVector a0 = FloatVector.broadcast(PeakFlops.F, seed), a1 = a0.add(1), a2 = a0.add(2), a3 = a0.add(3);
        FloatVector a4 = a0.add(4), a5 = a0.add(5), a6 = a0.add(6), a7 = a0.add(7);
        FloatVector a8 = a0.add(8), a9 = a0.add(9), a10 = a0.add(10), a11 = a0.add(11);
        FloatVector a12 = a0.add(12), a13 = a0.add(13), a14 = a0.add(14), a15 = a0.add(15);
        for (int i = 0; i < iters; i++) {
            a0 = a0.fma(m, c); a1 = a1.fma(m, c); a2 = a2.fma(m, c); a3 = a3.fma(m, c);
            a4 = a4.fma(m, c); a5 = a5.fma(m, c); a6 = a6.fma(m, c); a7 = a7.fma(m, c);
            a8 = a8.fma(m, c); a9 = a9.fma(m, c); a10 = a10.fma(m, c); a11 = a11.fma(m, c);
            a12 = a12.fma(m, c); a13 = a13.fma(m, c); a14 = a14.fma(m, c); a15 = a15.fma(m, c);
        }
        FloatVector s = a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7)
                .add(a8).add(a9).add(a10).add(a11).add(a12).add(a13).add(a14).add(a15);
        return s.reduceLanes(VectorOperators.ADD);
    }
}
