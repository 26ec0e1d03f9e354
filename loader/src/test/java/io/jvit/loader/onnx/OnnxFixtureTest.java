package io.jvit.loader.onnx;

import com.fasterxml.jackson.databind.JsonNode;
import io.jvit.engine.ViTModel;
import io.jvit.engine.VisionTransformer;
import io.jvit.loader.LoadOptions;
import io.jvit.loader.ModelLoader;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every ONNX fixture (torchvision, Hugging Face-style, timm-style, DeiT from timm and HF; opsets 14
 * and 17; one with external data) imported and run on the engine: logits within 1e-4 x max|logit| of
 * PyTorch's, same top-1, at batch 3 and batch 1.
 * <p>
 * And the same model loaded from safetensors ({@link ModelLoader}) gives bit-identical logits: the
 * importer recovers exactly the engine's weights (an [in, out] MatMul weight transposed back is the
 * same floats, LayerNorm epsilon the same float32, the attention scale 1/sqrt(d) left to the engine
 * rather than folded into the queries), so the engine computes exactly the same thing.
 */
class OnnxFixtureTest {

    static List<String> files() {
        List<String> r = new ArrayList<>();
        for (JsonNode m : Fixtures.json(Fixtures.onnxDir().resolve("index.json")).get("models")) r.add(m.get("file").asText());
        return r;
    }

    private static JsonNode entry(String file) {
        for (JsonNode m : Fixtures.json(Fixtures.onnxDir().resolve("index.json")).get("models"))
            if (m.get("file").asText().equals(file)) return m;
        throw new IllegalArgumentException(file);
    }

    @ParameterizedTest
    @MethodSource("files")
    void matchesPyTorch(String file) throws Exception {
        JsonNode e = entry(file);
        Path fx = Fixtures.root().resolve("fixtures").resolve(e.get("fixture").asText());
        JsonNode meta = Fixtures.json(fx.resolve("meta.json"));
        float[] input = Fixtures.floats(fx.resolve("input.bin"));
        float[] expect = Fixtures.floats(fx.resolve("logits.bin"));
        int classes = meta.get("num_classes").asInt(), batch = meta.get("input_shape").get(0).asInt();
        try (ViTModel model = OnnxLoader.load(Fixtures.onnxDir().resolve(file), LoadOptions.DEFAULT)) {
            var c = model.config();
            assertEquals(meta.get("hidden_size").asInt(), c.width());
            assertEquals(meta.get("depth").asInt(), c.depth());
            assertEquals(meta.get("heads").asInt(), c.heads());
            assertEquals(meta.get("mlp_dim").asInt(), c.mlpDim());
            assertEquals(meta.get("patch_size").asInt(), c.patchSize());
            assertEquals(meta.get("image_size").asInt(), c.imageSize());
            assertEquals(classes, c.numClasses());
            assertEquals(meta.get("distilled").asBoolean(), c.distilled());
            assertEquals((float) meta.get("layer_norm_eps").asDouble(), c.layerNormEps());
            assertEquals("onnx", model.info().get("format"));
            assertEquals(e.get("opset").asText(), model.info().get("opset"));
            assertEquals(e.get("convention").asText(), model.info().get("convention"));
            // a bare torchvision safetensors file cannot tell its heads; the ONNX graph can
            LoadOptions st = LoadOptions.DEFAULT.withHeads(meta.get("heads").asInt());
            try (VisionTransformer vt = new VisionTransformer(model, 2);
                 ViTModel sm = ModelLoader.load(fx.resolve(meta.get("model").asText()), st)) {
                float[] logits = vt.classify(input, batch);
                compare(file + " batch " + batch, expect, logits, batch, classes);
                // the same model from safetensors: the same config and bit for bit the same engine weights...
                assertEquals(sm.config(), c, file + ": config from safetensors vs ONNX");
                sameWeights(file, sm.weights(), model.weights());
                // ...hence the same logits. Compared through the engine's scalar reference forward pass, which is
                // deterministic: the vector kernels' float sums (reduceLanes) may round differently before and
                // after the JIT compiles them, so two runs of the fast path can differ in the last bit.
                float[] ra = io.jvit.engine.Reference.classify(sm, input, batch), rb = io.jvit.engine.Reference.classify(model, input, batch);
                for (int i = 0; i < ra.length; i++)
                    assertEquals(Float.floatToRawIntBits(ra[i]), Float.floatToRawIntBits(rb[i]),
                            file + ": logit " + i + " differs from the safetensors model's: " + ra[i] + " vs " + rb[i]);
                int per = input.length / batch;
                float[] one = vt.classify(Arrays.copyOf(input, per), 1);
                compare(file + " batch 1", Arrays.copyOf(expect, classes), one, 1, classes);
            }
        }
    }

    /**
     * The encoder's weights are read where the file holds them: MatMul's [in][out] matrices as transposed Linears,
     * separate q, k, v as a stack of those, Gemm's [out][in] as slices, all in the mapping (or the external data
     * file's), none copied into the engine's layout.
     */
    @ParameterizedTest
    @MethodSource("files")
    void encoderWeightsStayInTheMapping(String file) throws Exception {
        try (ViTModel model = OnnxLoader.load(Fixtures.onnxDir().resolve(file), LoadOptions.DEFAULT)) {
            for (var b : model.weights().blocks())
                for (io.jvit.engine.Linear l : List.of(b.qkv(), b.proj(), b.fc1(), b.fc2()))
                    for (var seg : l.weightSegments())
                        assertTrue(seg.isMapped(), file + ": a " + l.outFeatures() + "x" + l.inFeatures() + " weight was copied");
            assertTrue(model.info().get("weights").toString().contains(" 0 copied"), file + ": " + model.info().get("weights"));
        }
    }

    static void sameWeights(String file, io.jvit.engine.ViTWeights a, io.jvit.engine.ViTWeights b) {
        same(file + " patch embedding", a.patchEmbedding(), b.patchEmbedding());
        same(file + " class token", a.classToken(), b.classToken());
        same(file + " distillation token", a.distillationToken(), b.distillationToken());
        same(file + " position embedding", a.positionEmbedding(), b.positionEmbedding());
        for (int i = 0; i < a.blocks().size(); i++) {
            var x = a.blocks().get(i);
            var y = b.blocks().get(i);
            String p = file + " block " + i + " ";
            same(p + "norm1", x.norm1().gamma(), y.norm1().gamma());
            same(p + "norm1 bias", x.norm1().beta(), y.norm1().beta());
            same(p + "qkv", x.qkv(), y.qkv());
            same(p + "proj", x.proj(), y.proj());
            same(p + "norm2", x.norm2().gamma(), y.norm2().gamma());
            same(p + "norm2 bias", x.norm2().beta(), y.norm2().beta());
            same(p + "fc1", x.fc1(), y.fc1());
            same(p + "fc2", x.fc2(), y.fc2());
        }
        same(file + " final norm", a.finalNorm().gamma(), b.finalNorm().gamma());
        same(file + " final norm bias", a.finalNorm().beta(), b.finalNorm().beta());
        same(file + " pre-logits", a.preLogits(), b.preLogits());
        same(file + " head", a.head(), b.head());
        same(file + " distillation head", a.distillationHead(), b.distillationHead());
    }

    private static void same(String what, io.jvit.engine.Linear a, io.jvit.engine.Linear b) {
        if (a == null || b == null) {
            assertEquals(a == null, b == null, what);
            return;
        }
        assertEquals(a.outFeatures(), b.outFeatures(), what);
        assertEquals(a.inFeatures(), b.inFeatures(), what);
        // a Hugging Face q/k/v stack, or ONNX's [in][out] MatMul weight read in place: compare the rows
        boolean stacked = a.parts() != null || b.parts() != null || a.transposed() || b.transposed();
        same(what + " weight", stacked ? f32(a) : a.weight(), stacked ? f32(b) : b.weight());
        same(what + " bias", a.bias(), b.bias());
    }

    private static java.lang.foreign.MemorySegment f32(io.jvit.engine.Linear l) {
        var s = java.lang.foreign.Arena.ofAuto().allocate((long) l.outFeatures() * l.inFeatures() * 4);
        l.copyF32(s);
        return s;
    }

    private static void same(String what, java.lang.foreign.MemorySegment a, java.lang.foreign.MemorySegment b) {
        if (a == null || b == null) {
            assertEquals(a == null, b == null, what);
            return;
        }
        assertEquals(-1L, a.mismatch(b), what + " differs between the safetensors and the ONNX model");
    }

    static double maxAbs(float[] v) {
        double m = 0;
        for (float x : v) m = Math.max(m, Math.abs(x));
        return m;
    }

    static void compare(String what, float[] expect, float[] got, int batch, int classes) {
        assertEquals(expect.length, got.length, what + ": logits count");
        double tol = 1e-4 * maxAbs(expect), worst = 0;
        for (int i = 0; i < expect.length; i++) worst = Math.max(worst, Math.abs(expect[i] - got[i]));
        assertTrue(worst <= tol, what + ": max |diff| " + worst + " > " + tol);
        for (int b = 0; b < batch; b++)
            assertEquals(argmax(expect, b * classes, classes), argmax(got, b * classes, classes), what + ": top-1 of image " + b);
        OnnxFixtureTest.report.add(String.format("%-28s max|diff| %.3g (%.3g of max|logit|)", what, worst, worst / maxAbs(expect)));
    }

    static final List<String> report = java.util.Collections.synchronizedList(new ArrayList<>());

    @org.junit.jupiter.api.AfterAll
    static void printReport() {
        report.forEach(System.out::println);
    }

    static int argmax(float[] v, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (v[off + i] > v[off + best]) best = i;
        return best;
    }
}
