package io.jvit.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Two Linears of the same values in different storage: they must pack, multiply and quantize bit for bit alike. */
final class SameLinear {
    private SameLinear() {}

    static void assertSame(Linear expected, Linear actual, int rows, Matmul.Epilogue epilogue, Arena arena) {
        PackedLinear a = PackedLinear.pack(actual, arena), b = PackedLinear.pack(expected, arena);
        int m = Matmul.padRows(rows);
        long lda = Matmul.padCols(expected.inFeatures()), ldc = Matmul.padCols(expected.outFeatures());
        MemorySegment x = arena.allocate((m + Matmul.MR) * lda * 4, 64);
        Random r = new Random(rows);
        for (long i = 0; i < m * lda; i++) x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
        MemorySegment ca = arena.allocate(m * ldc * 4, 64), cb = arena.allocate(m * ldc * 4, 64);
        a.multiply(null, x, lda, m, ca, ldc, epilogue, 0, a.panels());
        b.multiply(null, x, lda, m, cb, ldc, epilogue, 0, b.panels());
        assertEquals(-1, ca.mismatch(cb), "products differ");
        Linear qa = Quantizer.quantize(actual, arena), qb = Quantizer.quantize(expected, arena);
        assertEquals(-1, qa.weight().mismatch(qb.weight()), "int8 weights differ");
        assertEquals(-1, qa.scales().mismatch(qb.scales()), "scales differ");
    }
}
