package io.jvit.loader;

import com.fasterxml.jackson.databind.JsonNode;
import io.jvit.engine.Linear;
import io.jvit.engine.ViTModel;
import io.jvit.engine.VisionTransformer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/** Every PyTorch fixture (three naming conventions, DeiT in two, F16/BF16) reproduced within 1e-4 x max|logit|. */
class SafetensorsParityTest {

    @ParameterizedTest
    @ValueSource(strings = {"tv_vit", "tv_vit_prelogits", "hf_vit", "hf_vit_f16", "hf_vit_bf16", "timm_vit", "timm_deit", "hf_deit"})
    void logitsMatchPyTorch(String name) throws Exception {
        JsonNode meta = Fixtures.meta(name);
        Path model = Fixtures.dir(name).resolve(meta.get("model").asText());
        // a bare torchvision file cannot say its heads: tell them, as a user would with --heads
        LoadOptions opts = meta.get("convention").asText().equals("torchvision")
                ? LoadOptions.DEFAULT.withHeads(meta.get("heads").asInt()) : LoadOptions.DEFAULT;
        float[] input = Fixtures.floats(Fixtures.dir(name).resolve("input.bin"));
        float[] expected = Fixtures.floats(Fixtures.dir(name).resolve("logits.bin"));
        int classes = meta.get("num_classes").asInt(), batch = meta.get("input_shape").get(0).asInt();
        try (ViTModel m = ModelLoader.load(model, opts); VisionTransformer vt = new VisionTransformer(m, 2)) {
            assertEquals(meta.get("hidden_size").asInt(), m.config().width());
            assertEquals(meta.get("depth").asInt(), m.config().depth());
            assertEquals(meta.get("heads").asInt(), m.config().heads());
            assertEquals(meta.get("distilled").asBoolean(), m.config().distilled());
            assertEquals((float) meta.get("layer_norm_eps").asDouble(), m.config().layerNormEps());
            assertEquals(meta.get("convention").asText(), m.info().get("convention"));
            Fixtures.assertParity(expected, vt.classify(input, batch), classes, 1e-4, name + " batch " + batch);
            int per = input.length / batch;
            for (int b = 0; b < batch; b++) {
                float[] one = vt.classify(Arrays.copyOfRange(input, b * per, (b + 1) * per), 1);
                Fixtures.assertParity(Arrays.copyOfRange(expected, b * classes, (b + 1) * classes), one, classes, 1e-4, name + " image " + b);
            }
        }
    }

    /** Hugging Face's separate q, k and v are stacked as a view of the mapped file: no copy the size of the three. */
    @ParameterizedTest
    @ValueSource(strings = {"hf_vit", "hf_vit_f16", "hf_vit_bf16"})
    void huggingFaceQueryKeyValueAreReadWhereTheyLie(String name) throws Exception {
        JsonNode meta = Fixtures.meta(name);
        Path model = Fixtures.dir(name).resolve(meta.get("model").asText());
        try (ViTModel m = ModelLoader.load(model)) {
            int d = m.config().width();
            for (var block : m.weights().blocks()) {
                Linear qkv = block.qkv();
                assertEquals(3 * d, qkv.outFeatures());
                assertNull(qkv.weight(), "a stacked copy was made");
                assertEquals(3, qkv.parts().size());
                for (Linear part : qkv.parts()) {
                    assertEquals(d, part.outFeatures());
                    assertTrue(part.weight().isMapped(), name + ": a part was copied out of the file");
                }
                assertEquals(qkv.parts().get(1).weightAt(5, 7), qkv.weightAt(d + 5, 7));
                assertEquals(qkv.parts().get(2).biasAt(3), qkv.biasAt(2 * d + 3));
            }
        }
    }
}
