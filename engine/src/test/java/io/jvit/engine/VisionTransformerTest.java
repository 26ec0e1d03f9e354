package io.jvit.engine;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** The fast forward pass against the scalar reference forward pass on random models. */
class VisionTransformerTest {

    private static void check(ViTConfig c, int images, int threads) {
        try (Arena arena = Arena.ofShared()) {
            ViTModel model = TestModels.model(arena, c, 42);
            float[] pixels = TestModels.randn(new Random(7), images * c.channels() * c.imageSize() * c.imageSize(), 1);
            float[] ref = Reference.classify(model, pixels, images);
            try (VisionTransformer vt = new VisionTransformer(model, threads)) {
                float[] got = vt.classify(pixels, images);
                TestModels.assertClose(ref, got, 1e-4, c.summary());
                // reused buffers give the same answer; a smaller batch after a larger one too
                assertArrayEquals(got, vt.classify(pixels, images));
                float[] one = vt.classify(java.util.Arrays.copyOf(pixels, c.channels() * c.imageSize() * c.imageSize()), 1);
                TestModels.assertClose(java.util.Arrays.copyOf(ref, c.numClasses()), one, 1e-4, "batch 1");
            }
        }
    }

    @Test
    void plainVit() {
        check(new ViTConfig(32, 8, 3, 48, 2, 3, 192, 10, 1e-6f, false, 0), 3, 2);
    }

    @Test
    void oddSizesDistilledPreLogits() {
        check(new ViTConfig(30, 6, 3, 40, 2, 5, 72, 7, 1e-12f, true, 0), 2, 1);
        check(new ViTConfig(28, 4, 1, 36, 1, 3, 50, 13, 1e-6f, false, 20), 2, 2);
    }

    @Test
    void batchSplitOverTheThreadsMatchesTheWholePoolOnTheBatch() {
        // distilled, pre-logits: every part of the head; 5 images on 3 threads: shares of 1, 2 and 2
        ViTConfig c = new ViTConfig(30, 6, 3, 40, 2, 5, 72, 7, 1e-12f, true, 20);
        check(c, 5, 3);
        try (Arena arena = Arena.ofShared()) {
            ViTModel model = TestModels.model(arena, c, 3);
            float[] pixels = TestModels.randn(new Random(9), 5 * 3 * 30 * 30, 1);
            try (VisionTransformer split = built(model, 3, "jvit.batchSplit", "true");
                 VisionTransformer whole = built(model, 3, "jvit.batchSplit", "false")) {
                // the same arithmetic row by row, whichever thread runs it
                assertArrayEquals(whole.classify(pixels, 5), split.classify(pixels, 5));
                float[] larger = TestModels.randn(new Random(10), 5 * 3 * 36 * 36, 1);
                assertArrayEquals(whole.classify(larger, 5, 36), split.classify(larger, 5, 36));
            }
        }
    }

    /** A VisionTransformer built while a system property holds a value (engine switches are read at construction). */
    private static VisionTransformer built(ViTModel model, int threads, String property, String value) {
        String old = System.getProperty(property);
        System.setProperty(property, value);
        try {
            return new VisionTransformer(model, threads);
        } finally {
            if (old == null) System.clearProperty(property);
            else System.setProperty(property, old);
        }
    }

    @Test
    void lastBlockOnThePrefixRowsAloneGivesTheSameLogitsBitForBit() {
        // width 64 and 128: the queries fill whole panels (only the keys' and values' panels run over every token);
        // width 48: they do not (all panels run, the prefix rows' queries are copied out). Distilled: two prefix rows.
        ViTConfig[] configs = {
                new ViTConfig(32, 8, 3, 64, 2, 1, 128, 10, 1e-6f, false, 0),
                new ViTConfig(32, 8, 3, 128, 3, 2, 256, 9, 1e-6f, true, 24),
                new ViTConfig(32, 8, 3, 48, 2, 3, 96, 7, 1e-6f, true, 0),
        };
        for (ViTConfig c : configs) {
            try (Arena arena = Arena.ofShared()) {
                ViTModel model = TestModels.model(arena, c, 11);
                int px = c.channels() * c.imageSize() * c.imageSize();
                float[] pixels = TestModels.randn(new Random(12), 5 * px, 1);
                float[] one = java.util.Arrays.copyOf(pixels, px);
                try (VisionTransformer all = built(model, 3, "jvit.lastBlockPrefixOnly", "false");
                     VisionTransformer prefix = built(model, 3, "jvit.lastBlockPrefixOnly", "true")) {
                    assertTrue(prefix.gflopsComputedPerImage(32) < all.gflopsComputedPerImage(32), c.summary());
                    assertEquals(c.gflopsPerImage(32), all.gflopsComputedPerImage(32), 0, c.summary());
                    // batch 1 on the whole pool, 5 images split 1/2/2 over the threads, another image size, twice (reused buffers)
                    for (int round = 0; round < 2; round++) {
                        assertArrayEquals(all.classify(one, 1), prefix.classify(one, 1), c.summary());
                        assertArrayEquals(all.classify(pixels, 5), prefix.classify(pixels, 5), c.summary());
                    }
                    float[] larger = TestModels.randn(new Random(13), 2 * 3 * 40 * 40, 1);
                    assertArrayEquals(all.classify(larger, 2, 40), prefix.classify(larger, 2, 40), c.summary());
                    assertArrayEquals(all.features(pixels, 5, VisionTransformer.Pool.CLS), prefix.features(pixels, 5, VisionTransformer.Pool.CLS), c.summary());
                    assertArrayEquals(all.features(pixels, 5, VisionTransformer.Pool.MEAN), prefix.features(pixels, 5, VisionTransformer.Pool.MEAN), c.summary());
                    TestModels.assertClose(Reference.classify(model, pixels, 5), prefix.classify(pixels, 5), 1e-4, c.summary());
                }
            }
        }
    }

    @Test
    void sameInputGivesTheSameLogitsWhileTheJitCompilesTheForwardPass() {
        // reduceLanes(ADD) sums in an order that depends on the JIT tier; with it the logits changed in the last
        // bits over the first calls. (Run alone, this test starts interpreted; after other tests, compiled.)
        ViTConfig c = new ViTConfig(32, 8, 3, 48, 2, 3, 192, 10, 1e-6f, false, 0);
        try (Arena arena = Arena.ofShared(); VisionTransformer vt = new VisionTransformer(TestModels.model(arena, c, 5), 2)) {
            float[] px = TestModels.randn(new Random(3), 3 * 32 * 32, 1);
            float[] first = vt.classify(px, 1);
            for (int i = 0; i < 300; i++) assertArrayEquals(first, vt.classify(px, 1), "call " + i);
        }
    }

    @Test
    void otherImageSizeResamplesPositions() {
        ViTConfig c = new ViTConfig(32, 8, 3, 32, 1, 2, 64, 5, 1e-6f, false, 0);
        try (Arena arena = Arena.ofShared(); VisionTransformer vt = new VisionTransformer(TestModels.model(arena, c, 1), 2)) {
            float[] px = TestModels.randn(new Random(1), 3 * 48 * 48, 1);
            float[] logits = vt.classify(px, 1, 48);
            assertEquals(5, logits.length);
            for (float f : logits) assertTrue(Float.isFinite(f));
            assertThrows(IllegalArgumentException.class, () -> vt.classify(new float[3 * 30 * 30], 1, 30));
            assertThrows(IllegalArgumentException.class, () -> vt.classify(new float[7], 1));
        }
    }
}
