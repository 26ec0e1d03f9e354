package io.jvit.engine;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** Each Vector API kernel against its scalar reference, on sizes that are not multiples of the vector length. */
class KernelsTest {

    @ParameterizedTest(name = "matmul {0}x{1}x{2} {3} threads={4}")
    @CsvSource({"1,1,1,STORE,1", "3,17,5,STORE,1", "13,37,33,STORE,2", "197,48,144,STORE,2", "8,64,1000,STORE,2",
            "29,101,67,GELU,2", "29,101,67,RESIDUAL,2", "9,31,24,TANH,1", "64,768,96,STORE,2",
            // K over one k-block (Matmul.KC = 768): later blocks accumulate, the activation runs after the last
            "19,1700,70,STORE,2", "19,1700,70,GELU,1", "19,1700,70,RESIDUAL,2", "7,1537,65,TANH,2",
            // rows cut into several chunks: more than Matmul.MAX_ROW_CHUNK, or few panels for the threads
            "420,40,130,RESIDUAL,3", "197,64,192,GELU,2", "1577,24,64,STORE,2", "23,16,20,STORE,3"})
    void matmulMatchesReference(int m, int k, int n, Matmul.Epilogue ep, int threads) {
        Random r = new Random(m * 31L + k * 7L + n);
        try (Arena arena = Arena.ofShared(); WorkerPool pool = new WorkerPool(threads)) {
            Linear w = TestModels.linear(arena, r, n, k, true);
            float[] a = TestModels.randn(r, m * k, 1);
            float[] prior = TestModels.randn(r, m * n, 1);
            int mp = Matmul.padRows(m);
            long lda = k + 3, ldc = Matmul.padCols(n) + Matmul.NR; // strides wider than needed on purpose
            MemorySegment as = arena.allocate(mp * lda * 4, 64), cs = arena.allocate(mp * ldc * 4, 64);
            for (int i = 0; i < m; i++) {
                MemorySegment.copy(a, i * k, as, ValueLayout.JAVA_FLOAT, i * lda * 4, k);
                MemorySegment.copy(prior, i * n, cs, ValueLayout.JAVA_FLOAT, i * ldc * 4, n);
            }
            Matmul.multiply(pool, as, lda, mp, PackedMatrix.pack(w, arena), cs, ldc, ep);
            float[] ref = Reference.linear(a, m, k, w);
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
            TestModels.assertClose(ref, got, 1e-5, "matmul " + ep);
        }
    }

    /** The kernel's read-ahead loads change nothing, whatever bits they read (NaN, infinity, any int). */
    @Test
    void readAheadLeavesTheProductAlone() {
        int k = 40;
        Random r = new Random(3);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = arena.allocate((long) Matmul.MR * k * 4, 64), b = arena.allocate((long) k * Matmul.NR * 4 + 4096, 64);
            for (long i = 0; i < a.byteSize() / 4; i++) a.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
            long ahead = (long) k * Matmul.NR * 4;   // the read-ahead region after the panel: NaN, infinity and random bits
            for (long i = 0; i < ahead / 4; i++) b.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
            int[] odd = {0x7fc00000, 0x7f800000, 0xff800000, 0x7fc00123, -1};
            for (long i = ahead / 4; i < b.byteSize() / 4; i++) b.setAtIndex(ValueLayout.JAVA_INT, i, odd[(int) (i % odd.length)] ^ (int) (i * 0x9E37));
            long ldc = (long) Matmul.NR * 4;
            MemorySegment plain = arena.allocate(Matmul.MR * ldc, 64), read = arena.allocate(Matmul.MR * ldc, 64);
            Matmul.kernel(a, 0, k * 4L, b, 0, Matmul.NR * 4L, k, plain, 0, ldc, 0, 0);
            for (long step : new long[] {4, 8, 64})
                for (long start = ahead; start + k * step <= b.byteSize(); start += 1028) {
                    Matmul.kernel(a, 0, k * 4L, b, 0, Matmul.NR * 4L, k, read, 0, ldc, start, step);
                    assertEquals(-1L, plain.mismatch(read), "read ahead from " + start + " by " + step);
                }
        }
    }

    @Test
    void rowChunksSplitEvenlyAndRespectTheL2Bound() {
        assertEquals(1, Matmul.rowChunks(198, 36, 1));    // ViT-B qkv, one thread: one task per panel
        assertEquals(1, Matmul.rowChunks(198, 12, 2));    // proj: 12 panels split evenly over 2 threads
        assertEquals(2, Matmul.rowChunks(198, 3, 2));     // ViT-Ti proj: 3 panels need 2 row chunks for 2 threads
        assertEquals(8, Matmul.rowChunks(1578, 36, 2));   // batch 8: rows bounded by MAX_ROW_CHUNK
        assertEquals(1, Matmul.rowChunks(6, 5, 4));       // one micro-tile of rows cannot be split
        for (int m : new int[] {6, 198, 1578})
            for (int panels : new int[] {1, 3, 12, 36})
                for (int t : new int[] {1, 2, 3, 16}) {
                    int rc = Matmul.rowChunks(m, panels, t);
                    assertTrue(rc >= 1 && rc <= m / Matmul.MR, "chunks " + rc);
                    assertTrue(Matmul.padRows((m + rc - 1) / rc) <= Math.max(Matmul.MAX_ROW_CHUNK, Matmul.MR) || rc == m / Matmul.MR,
                            m + " rows in " + rc + " chunks");
                }
    }

    @Test
    void layerNormMatchesReference() {
        Random r = new Random(1);
        for (int d : new int[] {1, 7, 17, 48, 100, 768}) {
            int rows = 37;
            float[] x = TestModels.randn(r, rows * d, 3), g = TestModels.randn(r, d, 1), b = TestModels.randn(r, d, 1);
            for (int i = 0; i < x.length; i++) x[i] += 5; // an offset mean exercises the two-pass variance
            float[] ref = new float[x.length];
            Reference.layerNorm(x, rows, d, g, b, 1e-6f, ref);
            try (Arena arena = Arena.ofShared(); WorkerPool pool = new WorkerPool(2)) {
                MemorySegment xs = TestModels.seg(arena, x), ys = arena.allocate(x.length * 4L, 64);
                LayerNorm.apply(pool, xs, d, ys, d, rows, d, TestModels.seg(arena, g), TestModels.seg(arena, b), 1e-6f);
                TestModels.assertClose(ref, ys.toArray(ValueLayout.JAVA_FLOAT), 2e-6, "layernorm d=" + d);
            }
        }
    }

    @Test
    void residualAddThenLayerNormMatchesReference() {
        Random r = new Random(5);
        for (int d : new int[] {7, 48, 192, 768}) {
            for (int rows : new int[] {5, 400}) {   // 400 x 768 is over LayerNorm's threshold for using the workers
                float[] x = TestModels.randn(r, rows * d, 3), res = TestModels.randn(r, rows * d, 2);
                float[] g = TestModels.randn(r, d, 1), b = TestModels.randn(r, d, 1);
                float[] sum = new float[x.length], ref = new float[x.length];
                for (int i = 0; i < x.length; i++) sum[i] = x[i] + res[i];
                Reference.layerNorm(sum, rows, d, g, b, 1e-6f, ref);
                try (Arena arena = Arena.ofShared(); WorkerPool pool = new WorkerPool(2)) {
                    MemorySegment xs = TestModels.seg(arena, x), rs = TestModels.seg(arena, res), ys = arena.allocate(x.length * 4L, 64);
                    LayerNorm.addApply(pool, xs, rs, d, ys, d, rows, d, TestModels.seg(arena, g), TestModels.seg(arena, b), 1e-6f);
                    TestModels.assertClose(sum, xs.toArray(ValueLayout.JAVA_FLOAT), 0, "x += r, d=" + d);
                    TestModels.assertClose(ref, ys.toArray(ValueLayout.JAVA_FLOAT), 2e-6, "layernorm(x + r) d=" + d);
                    LayerNorm.add(pool, xs, rs, d, rows, d);
                    float[] twice = new float[x.length];
                    for (int i = 0; i < x.length; i++) twice[i] = sum[i] + res[i];
                    TestModels.assertClose(twice, xs.toArray(ValueLayout.JAVA_FLOAT), 0, "x += r again, d=" + d);
                }
            }
        }
    }

    @Test
    void softmaxMatchesReference() {
        Random r = new Random(2);
        for (int n : new int[] {1, 2, 15, 16, 17, 197, 1000}) {
            float[] x = TestModels.randn(r, n, 4);
            float[] ref = x.clone();
            Reference.softmax(ref, 0, n);
            float[] got = Softmax.of(x, 0, n);
            TestModels.assertClose(ref, got, 1e-6, "softmax n=" + n);
            double sum = 0;
            for (float v : got) sum += v;
            assertEquals(1.0, sum, 1e-5);
        }
    }

    @Test
    void expErfGeluAndTanhAreAccurate() {
        int n = 60000 / VectorMath.LANES * VectorMath.LANES;
        float[] xs = new float[n];
        for (int i = 0; i < n; i++) xs[i] = -30f + i * (60f / n);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment erf = TestModels.seg(arena, xs);
            VectorMath.erfInPlace(erf, 0, n);
            double maxErf = 0;
            for (int i = 0; i < n; i++) maxErf = Math.max(maxErf, Math.abs(erf.getAtIndex(ValueLayout.JAVA_FLOAT, i) - Reference.erf(xs[i])));
            assertTrue(maxErf < 5e-7, "erf error " + maxErf);
            MemorySegment e = TestModels.seg(arena, xs), g = TestModels.seg(arena, xs), t = TestModels.seg(arena, xs), e2 = TestModels.seg(arena, xs);
            float sum = VectorMath.expInPlace(e, 0, n, 0f);
            VectorMath.geluInPlace(g, 0, n);
            VectorMath.tanhInPlace(t, 0, n);
            VectorMath.exp2InPlace(e2, 0, n, 0.5f, -1f);
            double maxExp = 0, maxGelu = 0, maxTanh = 0, maxExp2 = 0, refSum = 0, maxScalar = 0;
            for (int i = 0; i < n; i++) {
                double x = xs[i];
                refSum += Math.exp(x);
                maxExp = Math.max(maxExp, Math.abs(e.getAtIndex(ValueLayout.JAVA_FLOAT, i) - Math.exp(x)) / Math.exp(x));
                maxGelu = Math.max(maxGelu, Math.abs(g.getAtIndex(ValueLayout.JAVA_FLOAT, i) - Reference.gelu(x)) / Math.max(1, Math.abs(x)));
                maxTanh = Math.max(maxTanh, Math.abs(t.getAtIndex(ValueLayout.JAVA_FLOAT, i) - Math.tanh(x)));
                double p2 = Math.pow(2, x * 0.5 - 1);
                maxExp2 = Math.max(maxExp2, Math.abs(e2.getAtIndex(ValueLayout.JAVA_FLOAT, i) - p2) / p2);
                if (x > -100) maxScalar = Math.max(maxScalar, Math.abs(VectorMath.exp2((float) x) - Math.pow(2, x)) / Math.pow(2, x));
            }
            // e^x is computed as 2^(x log2 e): rounding x log2 e to float costs ~1 ulp of |x| log2 e, so up to
            // ~2e-6 relative at |x| = 30 (softmax only feeds it x - max <= 0; those tiny terms barely count)
            assertTrue(maxExp < 2e-6, "exp relative error " + maxExp);
            assertTrue(maxExp2 < 1e-6, "exp2 relative error " + maxExp2);
            assertTrue(maxScalar < 5e-7, "scalar exp2 relative error " + maxScalar);
            assertTrue(maxGelu < 5e-7, "gelu error " + maxGelu);
            assertTrue(maxTanh < 1e-6, "tanh error " + maxTanh);
            assertEquals(1.0, sum / refSum, 1e-5);
        }
        assertEquals(0.8427007929497149, Reference.erf(1), 1e-15);
        assertEquals(0.9999779095030014, Reference.erf(3), 1e-15);
        assertEquals(-0.9953222650189527, Reference.erf(-2), 1e-15);
        assertEquals(1.0, Reference.erf(6), 1e-15);
    }

    @ParameterizedTest(name = "attention images={0} tokens={1} heads={2} d={3} threads={4}")
    @CsvSource({"1,1,1,16,2", "1,5,2,8,2", "2,17,3,16,2", "1,197,3,64,2", "3,70,2,24,2", "1,130,1,40,2", "2,33,4,7,2",
            "1,300,2,64,2", "2,530,1,24,2",   // these two: several key blocks of Attention.KB = 256, the last partial
            "1,197,3,64,1", "2,100,3,16,1",   // one thread: the items in order on the caller
            "1,197,3,64,3", "2,95,5,16,4", "1,40,1,8,4"})   // ranges that cut heads, workers with nothing of their own
    void attentionMatchesReference(int images, int tokens, int heads, int d, int threads) {
        Random r = new Random(tokens * 13L + heads);
        int w = heads * d;
        float[] q = TestModels.randn(r, images * tokens * w, 1), k = TestModels.randn(r, images * tokens * w, 1),
                v = TestModels.randn(r, images * tokens * w, 1);
        int ldq = Matmul.padCols(3 * w), ldo = Matmul.padCols(w);
        int rows = images * tokens + Attention.QB + Matmul.MR;
        try (Arena arena = Arena.ofShared(); WorkerPool pool = new WorkerPool(threads); Attention att = new Attention(threads, heads, d)) {
            MemorySegment qkv = arena.allocate((long) rows * ldq * 4 + Matmul.NR * 4L, 64), out = arena.allocate((long) rows * ldo * 4, 64);
            for (int t = 0; t < images * tokens; t++) {
                MemorySegment.copy(q, t * w, qkv, ValueLayout.JAVA_FLOAT, (long) t * ldq * 4, w);
                MemorySegment.copy(k, t * w, qkv, ValueLayout.JAVA_FLOAT, ((long) t * ldq + w) * 4, w);
                MemorySegment.copy(v, t * w, qkv, ValueLayout.JAVA_FLOAT, ((long) t * ldq + 2L * w) * 4, w);
            }
            // twice: the second pass reuses the buffers the first grew
            for (int pass = 0; pass < 2; pass++) att.forward(threads == 1 ? null : pool, qkv, ldq, images, tokens, out, ldo);
            for (int b = 0; b < images; b++) {
                int o = b * tokens * w;
                float[] ref = Reference.attention(java.util.Arrays.copyOfRange(q, o, o + tokens * w),
                        java.util.Arrays.copyOfRange(k, o, o + tokens * w), java.util.Arrays.copyOfRange(v, o, o + tokens * w), tokens, heads, d);
                float[] got = new float[tokens * w];
                for (int t = 0; t < tokens; t++)
                    MemorySegment.copy(out, ValueLayout.JAVA_FLOAT, ((long) (b * tokens + t) * ldo) * 4, got, t * w, w);
                TestModels.assertClose(ref, got, 2e-5, "attention image " + b);
            }
        }
    }

    @Test
    void attentionRefusesAPoolLargerThanItWasBuiltFor() {
        try (Arena arena = Arena.ofShared(); WorkerPool pool = new WorkerPool(3); Attention att = new Attention(2, 1, 16)) {
            MemorySegment qkv = arena.allocate(4096, 64);
            assertThrows(IllegalArgumentException.class, () -> att.forward(pool, qkv, 64, 1, 2, qkv, 64));
        }
    }

    @Test
    void attentionMemoryIsLinearInTokens() {
        long a = Attention.keyBufferBytes(2, 1024, 64), b = Attention.keyBufferBytes(2, 4096, 64);
        assertEquals(4.0, (double) b / a, 0.01);
        try (Attention att = new Attention(2, 12, 64)) {
            assertEquals(4.0, (double) (att.bytesFor(4096) - att.bytesFor(0)) / (att.bytesFor(1024) - att.bytesFor(0)), 0.01);
        }
    }

    @Test
    void positionEmbeddingResampleKeepsNativeGridAndPrefix() {
        Random r = new Random(3);
        float[] pos = TestModels.randn(r, (1 + 16) * 5, 1);
        assertArrayEquals(pos, PositionEmbedding.resample(pos, 1, 4, 4, 5));
        float[] up = PositionEmbedding.resample(pos, 1, 4, 8, 5);
        assertEquals((1 + 64) * 5, up.length);
        for (int i = 0; i < 5; i++) assertEquals(pos[i], up[i]);
        // a constant field stays constant under bicubic resampling (weights sum to one)
        float[] flat = new float[(1 + 16) * 2];
        java.util.Arrays.fill(flat, 0.25f);
        for (float f : PositionEmbedding.resample(flat, 1, 4, 7, 2)) assertEquals(0.25f, f, 1e-6);
    }

    /**
     * Packing drops the source's pages when it is a read-only file mapping (the packed copy replaces it), and
     * only then: the mapping still reads the file's values afterwards, and a private writable mapping keeps
     * its in-memory changes (dropping its pages would silently revert them to the file).
     */
    @Test
    void packingFromMappedWeightsKeepsTheirContents(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        int n = 70, k = 300;
        Random r = new Random(11);
        float[] w = TestModels.randn(r, n * k, 1);
        java.nio.file.Path f = dir.resolve("w.bin");
        java.nio.ByteBuffer bb = java.nio.ByteBuffer.allocate(w.length * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (float x : w) bb.putFloat(x);
        java.nio.file.Files.write(f, bb.array());
        try (Arena arena = Arena.ofShared();
             var ch = java.nio.channels.FileChannel.open(f, java.nio.file.StandardOpenOption.READ, java.nio.file.StandardOpenOption.WRITE)) {
            MemorySegment heap = arena.allocate((long) w.length * 4, 64);
            MemorySegment.copy(w, 0, heap, ValueLayout.JAVA_FLOAT, 0, w.length);
            PackedMatrix expected = PackedMatrix.pack(Linear.f32(n, k, heap, null), arena);

            MemorySegment ro = ch.map(java.nio.channels.FileChannel.MapMode.READ_ONLY, 0, (long) w.length * 4, arena);
            PackedMatrix fromMap = (PackedMatrix) PackedLinear.pack(Linear.f32(n, k, ro, null), arena);
            assertEquals(-1, expected.data().mismatch(fromMap.data()), "packed from a read-only mapping");
            for (int i = 0; i < w.length; i += 997) assertEquals(w[i], ro.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i));

            MemorySegment priv = ch.map(java.nio.channels.FileChannel.MapMode.PRIVATE, 0, (long) w.length * 4, arena);
            for (int i = 0; i < w.length; i++) priv.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, 2 * w[i]);
            PackedLinear.pack(Linear.f32(n, k, priv, null), arena);
            for (int i = 0; i < w.length; i += 997)
                assertEquals(2 * w[i], priv.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i), "private mapping changed at " + i);
        }
    }
}
