package io.jvit.loader.onnx;

import com.fasterxml.jackson.databind.JsonNode;
import io.jvit.engine.ViTModel;
import io.jvit.engine.VisionTransformer;
import io.jvit.loader.LoadOptions;
import io.jvit.loader.UnsupportedModelException;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * fixtures/onnx_extra (tools/make_onnx_extra.py): other exporters' forms that must run and match
 * PyTorch, and graphs that must be refused with one line naming the first node that does not fit.
 */
class OnnxVariantsTest {
    private static Path dir() { return Fixtures.root().resolve("fixtures/onnx_extra"); }

    static List<String> runnable() { return files("ok"); }

    static List<String> refusedFiles() { return files("refused"); }

    private static List<String> files(String expect) {
        List<String> r = new ArrayList<>();
        for (JsonNode m : Fixtures.json(dir().resolve("index.json")).get("models"))
            if (m.get("expect").asText().equals(expect)) r.add(m.get("file").asText());
        return r;
    }

    private static JsonNode entry(String file) {
        for (JsonNode m : Fixtures.json(dir().resolve("index.json")).get("models"))
            if (m.get("file").asText().equals(file)) return m;
        throw new IllegalArgumentException(file);
    }

    @ParameterizedTest
    @MethodSource("runnable")
    void matchesPyTorch(String file) throws Exception {
        Path fx = Fixtures.root().resolve("fixtures").resolve(entry(file).get("fixture").asText());
        float[] input = Fixtures.floats(fx.resolve("input.bin"));
        float[] expect = Fixtures.floats(fx.resolve("logits.bin"));
        int batch = 3, classes = expect.length / batch;
        try (ViTModel model = OnnxLoader.load(dir().resolve(file), LoadOptions.DEFAULT);
             VisionTransformer vt = new VisionTransformer(model, 2)) {
            OnnxFixtureTest.compare(file + " batch 3", expect, vt.classify(input, batch), batch, classes);
            OnnxFixtureTest.compare(file + " batch 1", Arrays.copyOf(expect, classes),
                    vt.classify(Arrays.copyOf(input, input.length / batch), 1), 1, classes);
            Map<String, String> info = model.info();
            if (file.contains("gelu_op20") || file.contains("msgelu")) assertEquals("Gelu operator", info.get("gelu"));
            if (file.contains("static1")) assertTrue(info.get("batch").startsWith("fixed 1"), info.get("batch"));
            if (file.contains("scale")) assertTrue(info.get("attention").contains("folded"), info.get("attention"));
            if (file.contains("prelogits")) assertEquals(24, model.config().preLogitsDim());
            if (file.contains("layerscale")) assertTrue(info.get("attention").contains("LayerScale"), info.get("attention"));
        }
    }

    /** ONNX Runtime quantize_dynamic models (fixtures/int8) load directly: int8 encoder weights, logits near the F32 model's. */
    @org.junit.jupiter.api.Test
    void quantizeDynamicModelsLoadDirectly() throws Exception {
        Path fx = Fixtures.root().resolve("fixtures/timm_vit");
        float[] input = Fixtures.floats(fx.resolve("input.bin")), ref = Fixtures.floats(fx.resolve("logits.bin"));
        try (ViTModel m = OnnxLoader.load(Fixtures.root().resolve("fixtures/int8/timm_vit_op17_s8c.onnx"), LoadOptions.DEFAULT);
             VisionTransformer vt = new VisionTransformer(m, 2)) {
            assertEquals(io.jvit.engine.Linear.DType.I8, m.weights().blocks().get(0).qkv().dtype());
            assertTrue(m.info().get("weights").startsWith("int8"), m.info().get("weights"));
            float[] got = vt.classify(input, 3);
            double dot = 0, na = 0, nb = 0;
            for (int i = 0; i < ref.length; i++) {
                dot += ref[i] * got[i];
                na += ref[i] * ref[i];
                nb += got[i] * got[i];
            }
            assertTrue(dot / Math.sqrt(na * nb) > 0.99, "cosine " + dot / Math.sqrt(na * nb));
        }
    }

    /** The reason each refused graph must give (the first node that does not fit). */
    private static final Map<String, String[]> REASONS = Map.of(
            "resnet_block_op14.onnx", new String[] {"(Conv)", "not a patch embedding"},
            "timm_vit_tanhgelu_op14.onnx", new String[] {"/mlp/act/", "tanh approximation of GELU"},
            "timm_vit_avgpool_op14.onnx", new String[] {"(ReduceMean)", "averages"},
            "timm_vit_postnorm_op14.onnx", new String[] {"a linear layer reads the residual stream without a LayerNorm"},
            "timm_vit_softmax_op14.onnx", new String[] {"(Softmax)", "probabilities"});

    @ParameterizedTest
    @MethodSource("refusedFiles")
    void isRefusedWithOneLine(String file) {
        UnsupportedModelException e = assertThrows(UnsupportedModelException.class, () -> OnnxLoader.load(dir().resolve(file), LoadOptions.DEFAULT));
        String m = e.getMessage();
        assertFalse(m.contains("\n"), m);
        assertTrue(m.startsWith(dir().resolve(file).toString() + ": "), m);
        for (String s : REASONS.getOrDefault(file, new String[0])) assertTrue(m.contains(s), "expected '" + s + "' in: " + m);
        OnnxFixtureTest.report.add(file + " -> " + m.substring(m.indexOf(": ") + 2));
    }

    @org.junit.jupiter.api.AfterAll
    static void printReport() {
        OnnxFixtureTest.printReport();
        OnnxFixtureTest.report.clear();
    }
}
