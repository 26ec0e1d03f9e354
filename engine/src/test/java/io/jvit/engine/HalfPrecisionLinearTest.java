package io.jvit.engine;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** F16 and BF16 Linears: packed and quantized exactly as the F32 Linear of their widened values. */
class HalfPrecisionLinearTest {

    /** n x k random weights in one of the half formats, and the same values widened to F32. */
    private record Pair(Linear half, Linear widened) {}

    private static Pair pair(Arena arena, Linear.DType dt, int n, int k, long seed) {
        Random r = new Random(seed);
        MemorySegment h = arena.allocate((long) n * k * 2 + 2).asSlice(2);   // unaligned, as in a mapped file
        MemorySegment f = arena.allocate((long) n * k * 4, 64);
        MemorySegment bias = arena.allocate(n * 4L, 64);
        for (long i = 0; i < (long) n * k; i++) {
            float v = (float) r.nextGaussian() * 0.1f;
            short bits = dt == Linear.DType.F16 ? Float.floatToFloat16(v) : (short) (Float.floatToIntBits(v) >>> 16);
            h.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, bits);
            f.setAtIndex(ValueLayout.JAVA_FLOAT, i, dt == Linear.DType.F16 ? Float.float16ToFloat(bits) : Float.intBitsToFloat((bits & 0xffff) << 16));
        }
        for (int o = 0; o < n; o++) bias.setAtIndex(ValueLayout.JAVA_FLOAT, o, o * 0.01f);
        return new Pair(Linear.half(n, k, dt, h, bias), Linear.f32(n, k, f, bias));
    }

    @Test
    void packsToTheSamePanelsAsTheWidenedWeights() {
        for (Linear.DType dt : new Linear.DType[] {Linear.DType.F16, Linear.DType.BF16}) {
            try (Arena arena = Arena.ofConfined()) {
                // n not a whole number of panels, k not a whole number of packing blocks
                Pair p = pair(arena, dt, Matmul.NR * 2 + 5, 300, dt.ordinal());
                assertEquals(p.widened().weightAt(7, 299), p.half().weightAt(7, 299));
                PackedLinear a = PackedLinear.pack(p.half(), arena), b = PackedLinear.pack(p.widened(), arena);
                assertEquals(b.byteSize(), a.byteSize());
                int m = Matmul.padRows(7);
                long lda = Matmul.padCols(300);
                MemorySegment x = arena.allocate((m + Matmul.MR) * lda * 4, 64);
                Random r = new Random(3);
                for (long i = 0; i < m * lda; i++) x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
                long ldc = Matmul.padCols(Matmul.NR * 2 + 5);
                MemorySegment ca = arena.allocate((m + Matmul.MR) * ldc * 4, 64), cb = arena.allocate((m + Matmul.MR) * ldc * 4, 64);
                a.multiply(null, x, lda, m, ca, ldc, Matmul.Epilogue.STORE, 0, a.panels());
                b.multiply(null, x, lda, m, cb, ldc, Matmul.Epilogue.STORE, 0, b.panels());
                assertEquals(-1, ca.mismatch(cb), dt + ": products differ");
            }
        }
    }

    @Test
    void quantizesAsTheWidenedWeights() {
        for (Linear.DType dt : new Linear.DType[] {Linear.DType.F16, Linear.DType.BF16}) {
            try (Arena arena = Arena.ofConfined()) {
                Pair p = pair(arena, dt, 9, 40, 7 + dt.ordinal());
                Linear qa = Quantizer.quantize(p.half(), arena), qb = Quantizer.quantize(p.widened(), arena);
                assertEquals(-1, qa.weight().mismatch(qb.weight()), dt + ": int8 weights differ");
                assertEquals(-1, qa.scales().mismatch(qb.scales()), dt + ": scales differ");
            }
        }
    }

    @Test
    void checksTheByteSizeAndTheType() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment w = arena.allocate(6 * 2);
            assertEquals(Linear.DType.F16, Linear.half(2, 3, Linear.DType.F16, w, null).dtype());
            assertThrows(IllegalArgumentException.class, () -> Linear.half(2, 4, Linear.DType.F16, w, null));
            assertThrows(IllegalArgumentException.class, () -> Linear.half(2, 3, Linear.DType.F32, w, null));
        }
    }
}
