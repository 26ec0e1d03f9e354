package io.jvit.engine;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.EnumSet;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** The int8 kernels against scalar references, on sizes that are not multiples of the tile. */
class Int8MatmulTest {

    @ParameterizedTest(name = "{5} {0}x{1}x{2} {3} threads={4}")
    @CsvSource({"1,1,1,STORE,1,W8A32", "3,17,5,STORE,1,W8A32", "13,37,33,STORE,2,W8A32", "197,48,144,STORE,2,W8A32",
            "29,101,67,GELU,2,W8A32", "29,101,67,RESIDUAL,2,W8A32", "9,31,24,TANH,1,W8A32", "64,768,96,STORE,2,W8A32",
            "1,1,1,STORE,1,W8A8", "3,17,5,STORE,1,W8A8", "13,37,33,STORE,2,W8A8", "197,48,144,STORE,2,W8A8",
            "29,101,67,GELU,2,W8A8", "29,101,67,RESIDUAL,2,W8A8", "9,31,24,TANH,1,W8A8", "64,768,96,STORE,2,W8A8",
            "16,3072,40,STORE,2,W8A8"})
    void matchesReference(int m, int k, int n, Matmul.Epilogue ep, int threads, Int8Matmul.Mode mode) {
        Random r = new Random(m * 31L + k * 7L + n);
        try (Arena arena = Arena.ofShared(); WorkerPool pool = new WorkerPool(threads)) {
            Linear q = Quantizer.quantize(TestModels.linear(arena, r, n, k, true), arena);
            float[] a = TestModels.randn(r, m * k, 1);
            float[] prior = TestModels.randn(r, m * n, 1);
            int mp = Matmul.padRows(m);
            long lda = k + 3, ldc = Matmul.padCols(n) + Matmul.NR; // strides wider than needed on purpose
            MemorySegment as = arena.allocate(mp * lda * 4, 64), cs = arena.allocate(mp * ldc * 4, 64);
            for (int i = 0; i < m; i++) {
                MemorySegment.copy(a, i * k, as, ValueLayout.JAVA_FLOAT, i * lda * 4, k);
                MemorySegment.copy(prior, i * n, cs, ValueLayout.JAVA_FLOAT, i * ldc * 4, n);
            }
            PackedInt8Matrix p = PackedInt8Matrix.pack(q, mode, arena);
            p.multiply(pool, as, lda, mp, cs, ldc, ep);
            // W8A32: the float product with the dequantised weights. W8A8: the same with each activation row
            // replaced by its int8 rounding (the integer arithmetic itself is exact).
            float[] aRef = mode == Int8Matmul.Mode.W8A8 && p.mode() == Int8Matmul.Mode.W8A8 ? quantizeRows(a, m, k) : a;
            float[] ref = Reference.linear(aRef, m, k, q);
            for (int i = 0; i < ref.length; i++) {
                ref[i] = switch (ep) {
                    case STORE -> ref[i];
                    case GELU -> (float) Reference.gelu(ref[i]);
                    case RESIDUAL -> ref[i] + prior[i];
                    case TANH -> (float) Math.tanh(ref[i]);
                };
            }
            float[] got = new float[m * n];
            for (int i = 0; i < m; i++) MemorySegment.copy(cs, ValueLayout.JAVA_FLOAT, i * ldc * 4, got, i * n, n);
            TestModels.assertClose(ref, got, 1e-5, mode + " " + ep);
        }
    }

    @ParameterizedTest(name = "W8A32 in k-blocks of {0}, {1}")
    @CsvSource({"16,STORE", "16,GELU", "16,RESIDUAL", "48,TANH", "100,RESIDUAL"})
    void w8a32InKBlocksMatchesTheWholeK(int kc, Matmul.Epilogue ep) {
        int saved = Int8Matmul.a32Kc;
        Int8Matmul.a32Kc = kc;
        try {
            matchesReference(29, 101, 67, ep, 2, Int8Matmul.Mode.W8A32);
        } finally {
            Int8Matmul.a32Kc = saved;
        }
    }

    /** Each row rounded to its int8 grid: s = max|a|/127, a -> round(a/s)*s (as the W8A8 kernel does). */
    static float[] quantizeRows(float[] a, int m, int k) {
        float[] out = new float[a.length];
        for (int i = 0; i < m; i++) {
            float max = 0;
            for (int j = 0; j < k; j++) max = Math.max(max, Math.abs(a[i * k + j]));
            float inv = max > 0 ? 127f / max : 0, s = max / 127f;
            for (int j = 0; j < k; j++) out[i * k + j] = Math.round(a[i * k + j] * inv) * s;
        }
        return out;
    }

    @Test
    void w8a8IsExactAtTheExtremes() {
        // every weight and activation at +-127 (and weights at -128, which int8 files may hold): the 16-bit
        // pair sums and the fold are at their limits
        int m = Matmul.padRows(8), k = 4096, n = Matmul.padCols(32);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment w = arena.allocate((long) n * k), s = arena.allocate(n * 4L);
            Random r = new Random(3);
            for (long i = 0; i < (long) n * k; i++) w.set(ValueLayout.JAVA_BYTE, i, (byte) (i % 3 == 0 ? -128 : r.nextBoolean() ? 127 : -127));
            for (int o = 0; o < n; o++) s.setAtIndex(ValueLayout.JAVA_FLOAT, o, 1f);
            Linear q = Linear.i8(n, k, w, s, null);
            float[] a = new float[m * k];
            for (int i = 0; i < a.length; i++) a[i] = r.nextBoolean() ? 127 : -127;
            MemorySegment as = TestModels.seg(arena, a), cs = arena.allocate((long) m * n * 4, 64);
            PackedInt8Matrix.pack(q, Int8Matmul.Mode.W8A8, arena).multiply(null, as, k, m, cs, n, Matmul.Epilogue.STORE);
            for (int i = 0; i < m; i++)
                for (int o = 0; o < n; o++) {
                    long exact = 0;
                    for (int j = 0; j < k; j++) exact += (long) a[i * k + j] * w.get(ValueLayout.JAVA_BYTE, (long) o * k + j);
                    assertEquals((float) exact, cs.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * n + o), 0f, "row " + i + " col " + o);
                }
        }
    }

    @Test
    void quantizerRoundsPerChannelSymmetric() {
        try (Arena arena = Arena.ofConfined()) {
            float[] w = {0.5f, -1f, 0.25f, 0f, 0f, 0f, 3f, 1.5f, -3f};
            Linear q = Quantizer.quantize(Linear.f32(3, 3, TestModels.seg(arena, w), null), arena);
            assertEquals(Linear.DType.I8, q.dtype());
            assertEquals(1f / 127, q.scales().getAtIndex(ValueLayout.JAVA_FLOAT, 0), 1e-9);
            assertEquals(0f, q.scales().getAtIndex(ValueLayout.JAVA_FLOAT, 1));
            assertEquals(3f / 127, q.scales().getAtIndex(ValueLayout.JAVA_FLOAT, 2), 1e-9);
            byte[] got = q.weight().toArray(ValueLayout.JAVA_BYTE);
            assertArrayEquals(new byte[] {64, -127, 32, 0, 0, 0, 127, 64, -127}, got);
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"W8A32", "W8A8"})
    void quantizedForwardPassTracksF32(Int8Matmul.Mode mode) {
        ViTConfig c = new ViTConfig(32, 8, 3, 64, 3, 4, 128, 10, 1e-6f, true, 0);
        try (Arena arena = Arena.ofShared()) {
            ViTModel fp = TestModels.model(arena, c, 11);
            ViTWeights qw = Quantizer.quantize(fp.weights(), EnumSet.noneOf(Quantizer.Part.class), arena);
            assertTrue(Quantizer.isQuantized(qw));
            ViTModel q = new ViTModel(c, qw, null, null, null);
            float[] px = TestModels.randn(new Random(5), 3 * 3 * 32 * 32, 1);
            String prev = System.getProperty(Int8Matmul.MODE_PROPERTY);
            System.setProperty(Int8Matmul.MODE_PROPERTY, mode.name());
            float[] lf, lq;
            try (VisionTransformer vf = new VisionTransformer(fp, 2); VisionTransformer vq = new VisionTransformer(q, 2)) {
                lf = vf.classify(px, 3);
                lq = vq.classify(px, 3);
                assertTrue(vq.packedWeightBytes() < 0.3 * vf.packedWeightBytes(), vq.packedWeightBytes() + " vs " + vf.packedWeightBytes());
            } finally {
                if (prev == null) System.clearProperty(Int8Matmul.MODE_PROPERTY);
                else System.setProperty(Int8Matmul.MODE_PROPERTY, prev);
            }
            double dot = 0, na = 0, nb = 0;
            for (int i = 0; i < lf.length; i++) {
                dot += lf[i] * lq[i];
                na += lf[i] * lf[i];
                nb += lq[i] * lq[i];
            }
            double cos = dot / Math.sqrt(na * nb);
            assertTrue(cos > 0.99, "cosine " + cos);
        }
    }
}
