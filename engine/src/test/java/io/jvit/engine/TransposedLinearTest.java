package io.jvit.engine;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** A transposed Linear (W^T, [in][out], as ONNX's MatMul stores it) packs and quantizes exactly as its [out][in] copy. */
class TransposedLinearTest {

    @Test
    void multipliesAndQuantizesAsTheCopy() {
        try (Arena arena = Arena.ofConfined()) {
            int n = Matmul.NR * 2 + 7, k = 300;   // a partial last panel
            Random r = new Random(5);
            MemorySegment wt = arena.allocate((long) k * n * 4 + 4).asSlice(4), w = arena.allocate((long) n * k * 4, 64);
            MemorySegment bias = arena.allocate(n * 4L, 64);
            for (int i = 0; i < k; i++)
                for (int o = 0; o < n; o++) {
                    float v = (float) r.nextGaussian();
                    wt.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, (long) i * n + o, v);
                    w.setAtIndex(ValueLayout.JAVA_FLOAT, (long) o * k + i, v);
                }
            for (int o = 0; o < n; o++) bias.setAtIndex(ValueLayout.JAVA_FLOAT, o, o * 0.1f);
            Linear t = Linear.f32Transposed(n, k, wt, bias), c = Linear.f32(n, k, w, bias);
            assertTrue(t.transposed());
            assertEquals(c.weightAt(n - 1, 17), t.weightAt(n - 1, 17));
            float[] rt = new float[50], rc = new float[50];
            t.rowF32(70, 200, rt, 50);
            c.rowF32(70, 200, rc, 50);
            assertArrayEquals(rc, rt);
            SameLinear.assertSame(c, t, 11, Matmul.Epilogue.STORE, arena);
            MemorySegment back = arena.allocate((long) n * k * 4);
            t.copyF32(back);
            assertEquals(-1, back.mismatch(w), "copyF32 is not [out][in]");
            // stacked transposed parts (separate q, k, v MatMuls) read the same rows
            Linear s = Linear.stack(t, t);
            assertEquals(t.weightAt(3, 299), s.weightAt(n + 3, 299));
        }
    }

    @Test
    void onlyPlainF32CanBeTransposed() {
        try (Arena arena = Arena.ofConfined()) {
            assertThrows(IllegalArgumentException.class, () -> new Linear(2, 3, Linear.DType.F16, arena.allocate(12), null, null, null, true));
            assertThrows(IllegalArgumentException.class, () -> Linear.f32Transposed(2, 3, arena.allocate(20), null), "wrong size");
        }
    }
}
