package io.jvit.loader.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.jvit.loader.ModelFormatException;
import io.jvit.loader.image.Preprocessor.Convention;
import io.jvit.loader.image.Preprocessor.ResizeMode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Recipe parsing, overrides and the rounding conventions, on small synthetic inputs. */
class PreprocessorTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void readsTheModelFixturesRecipes() throws Exception {
        Path fx = Fixtures.root();
        Preprocessor vit = Preprocessor.forModelDir(fx.resolve("hf_vit"), 0, 0);
        assertEquals(Convention.HF, vit.convention());
        assertEquals(ResizeMode.EXACT, vit.resizeMode());
        assertEquals(32, vit.resizeHeight());
        assertEquals(Resample.BILINEAR, vit.resample());
        assertEquals(0, vit.cropHeight());
        assertArrayEquals(Preprocessor.HALF, vit.mean());

        Preprocessor deit = Preprocessor.forModelDir(fx.resolve("hf_deit"), 0, 0);
        assertEquals(36, deit.resizeHeight());
        assertEquals(32, deit.cropHeight());
        assertEquals(Resample.BICUBIC, deit.resample());
        assertArrayEquals(Preprocessor.IMAGENET_STD, deit.std());

        Preprocessor timm = Preprocessor.forModelDir(fx.resolve("timm_vit"), 0, 0);
        assertEquals(Convention.TORCHVISION, timm.convention());
        assertEquals(ResizeMode.SHORTEST_EDGE, timm.resizeMode());
        assertEquals(35, timm.resizeHeight()); // floor(32 / 0.9)
        assertEquals(32, timm.cropHeight());
        assertEquals(Resample.BICUBIC, timm.resample());
        assertArrayEquals(new int[] {32, 32}, timm.outputSize(640, 480));
        System.out.println("[recipe] " + timm.describe());
    }

    @Test
    void defaultsWhenTheModelHasNoRecipe(@TempDir Path dir) throws Exception {
        Preprocessor d = Preprocessor.forModelDir(dir, 224, 224);
        assertEquals(Preprocessor.defaults(224, 224), d);
        assertArrayEquals(Preprocessor.HALF, d.mean());
        assertArrayEquals(Preprocessor.IMAGENET_MEAN, Preprocessor.imagenet(224, 224).mean());
        float[] t = d.apply(RgbImage.blank(10, 7));
        assertEquals(3 * 224 * 224, t.length);
        assertEquals(-1f, t[0]);
    }

    @Test
    void timmWithSizeRecomputesTheScaleFromCropPct() throws Exception {
        Preprocessor p = Preprocessor.fromTimm(JSON.readTree(
                "{\"input_size\":[3,224,224],\"interpolation\":\"bicubic\",\"crop_pct\":0.9}"), "t");
        assertEquals(248, p.resizeHeight()); // floor(224 / 0.9)
        Preprocessor q = p.withSize(384, 384);
        assertEquals(426, q.resizeHeight()); // floor(384 / 0.9), what timm computes
        assertEquals(384, q.cropHeight());
        Preprocessor exact = Preprocessor.defaults(32, 32).withSize(64, 48);
        assertEquals(ResizeMode.EXACT, exact.resizeMode());
        assertArrayEquals(new int[] {64, 48}, exact.outputSize(1000, 10));
    }

    @Test
    void torchvisionPresetEqualsTheTimmRecipeItMatches() throws Exception {
        Preprocessor tv = Preprocessor.torchvision(64, 73, Resample.BILINEAR);
        Preprocessor timm = Preprocessor.fromTimm(JSON.readTree(
                "{\"input_size\":[3,64,64],\"interpolation\":\"bilinear\",\"crop_pct\":0.875}"), "t");
        RgbImage chelsea = ImageLoader.DEFAULT.load(Fixtures.image("chelsea.png"));
        assertArrayEquals(timm.apply(chelsea), tv.apply(chelsea));
        assertArrayEquals(Fixtures.floats("preprocess/pipeline/tv_preset_64.f32"), tv.apply(chelsea));
        assertEquals(438, Preprocessor.torchvision(224, 256, Resample.BILINEAR).withSize(384, 384).resizeHeight());
    }

    @Test
    void huggingFaceVariants() throws Exception {
        Preprocessor convnext = Preprocessor.fromHuggingFace(JSON.readTree(
                "{\"image_processor_type\":\"ConvNextImageProcessor\",\"size\":{\"shortest_edge\":224},"
                        + "\"crop_pct\":0.875,\"resample\":3}"), "c");
        assertEquals(ResizeMode.SHORTEST_EDGE, convnext.resizeMode());
        assertEquals(256, convnext.resizeHeight());
        assertEquals(224, convnext.cropHeight());
        assertArrayEquals(Preprocessor.IMAGENET_MEAN, convnext.mean());
        Preprocessor big = Preprocessor.fromHuggingFace(JSON.readTree(
                "{\"image_processor_type\":\"ConvNextImageProcessor\",\"size\":{\"shortest_edge\":384}}"), "c");
        assertEquals(ResizeMode.EXACT, big.resizeMode());
        assertEquals(0, big.cropHeight());
        Preprocessor legacy = Preprocessor.fromHuggingFace(JSON.readTree(
                "{\"feature_extractor_type\":\"DeiTFeatureExtractor\",\"size\":256,\"crop_size\":224,"
                        + "\"do_center_crop\":true}"), "l");
        assertEquals(256, legacy.resizeWidth());
        assertEquals(224, legacy.cropWidth());
        assertEquals(Resample.BICUBIC, legacy.resample());
        Preprocessor noNorm = Preprocessor.fromHuggingFace(JSON.readTree(
                "{\"size\":{\"height\":2,\"width\":2},\"do_normalize\":false,\"do_rescale\":false}"), "n");
        assertNull(noNorm.mean());
        float[] t = noNorm.apply(new RgbImage(1, 1, new byte[] {(byte) 200, 10, 0}));
        assertArrayEquals(new float[] {200, 200, 200, 200, 10, 10, 10, 10, 0, 0, 0, 0}, t);
    }

    @Test
    void badRecipesAreModelFormatErrors(@TempDir Path dir) throws Exception {
        Path bad = dir.resolve("preprocessor_config.json");
        Files.writeString(bad, "{\"size\": ");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Preprocessor.forModelDir(dir, 1, 1));
        assertTrue(e.getMessage().startsWith(bad.toString()), e.getMessage());
        assertThrows(ModelFormatException.class, () -> Preprocessor.fromHuggingFace(JSON.readTree(
                "{\"resample\":9}"), "x"));
        assertThrows(ModelFormatException.class, () -> Preprocessor.fromTimm(JSON.readTree(
                "{\"input_size\":[3,224,224],\"interpolation\":\"sinc\"}"), "x"));
        assertThrows(ModelFormatException.class, () -> Preprocessor.fromTimm(JSON.readTree("{}"), "x"));
    }

    /** An image whose red value is the column index and green the row index. */
    static RgbImage ramp(int w, int h) {
        byte[] b = new byte[3 * w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                b[3 * (y * w + x)] = (byte) (x + 1);
                b[3 * (y * w + x) + 1] = (byte) (y + 1);
            }
        }
        return new RgbImage(w, h, b);
    }

    static int firstColumn(Preprocessor p, RgbImage img) {
        return p.resizeAndCrop(img).get(0, 0, 0) - 1; // -1: a padded column
    }

    @Test
    void centerCropRoundingHfVersusTorchvision() {
        Preprocessor hf = Preprocessor.defaults(1, 1).withResize(ResizeMode.NONE, 0, 0).withCrop(4, 32);
        Preprocessor tv = hf.withConvention(Convention.TORCHVISION);
        int[][] cases = { // width, HF offset floor(d/2), torchvision round-half-even(d/2)
            {35, 1, 2}, {34, 1, 1}, {37, 2, 2}, {39, 3, 4}, {32, 0, 0}};
        for (int[] c : cases) {
            RgbImage img = ramp(c[0], 4);
            assertEquals(c[1], firstColumn(hf, img), "HF, width " + c[0]);
            assertEquals(c[2], firstColumn(tv, img), "torchvision, width " + c[0]);
        }
        // padding: 29 wide into 32: HF puts the image at ceil(3/2) = 2, torchvision at 3 // 2 = 1
        RgbImage img = ramp(29, 4);
        RgbImage h = hf.resizeAndCrop(img), t = tv.resizeAndCrop(img);
        assertEquals(0, h.get(1, 0, 0));
        assertEquals(1, h.get(2, 0, 0));
        assertEquals(0, t.get(0, 0, 0));
        assertEquals(1, t.get(1, 0, 0));
    }

    @Test
    void shortestEdgeTruncatesTheLongSide() {
        Preprocessor p = Preprocessor.defaults(1, 1).withResize(ResizeMode.SHORTEST_EDGE, 256, 256);
        assertArrayEquals(new int[] {256, 384}, p.resizedSize(600, 400));
        assertArrayEquals(new int[] {384, 256}, p.resizedSize(400, 600));
        assertArrayEquals(new int[] {256, 384}, p.resizedSize(451, 300)); // int(256 * 451 / 300) = int(384.85)
    }

    @Test
    void stackMakesNchw() {
        Preprocessor p = Preprocessor.defaults(2, 2);
        float[] a = p.apply(RgbImage.blank(3, 3));
        float[] b = p.apply(ramp(5, 5));
        float[] s = Preprocessor.stack(List.of(a, b));
        assertEquals(2 * 12, s.length);
        assertEquals(a[0], s[0]);
        assertEquals(b[11], s[23]);
        assertThrows(IllegalArgumentException.class, () -> Preprocessor.stack(List.of(a, new float[3])));
    }

    @Test
    void resampleCodesAndNames() {
        assertEquals(Resample.NEAREST, Resample.fromPil(0));
        assertEquals(Resample.LANCZOS, Resample.fromPil(1));
        assertEquals(Resample.BILINEAR, Resample.fromPil(2));
        assertEquals(Resample.BICUBIC, Resample.fromPil(3));
        assertEquals(Resample.BICUBIC, Resample.fromName("BICUBIC"));
        assertThrows(IllegalArgumentException.class, () -> Resample.fromPil(7));
    }
}
