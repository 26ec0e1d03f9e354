package io.jvit.loader.onnx;

import com.fasterxml.jackson.databind.JsonNode;
import io.jvit.engine.ViTModel;
import io.jvit.loader.LoadOptions;
import io.jvit.loader.ModelFormatException;
import io.jvit.loader.UnsupportedModelException;
import io.jvit.loader.onnx.proto.Onnx;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Imports ViT-family ONNX graphs onto the engine's model.
 * <p>
 * The file is memory-mapped and parsed with protobuf-java (classes generated from
 * {@code src/main/proto/onnx.proto}); weights stay in the mapping (or in memory-mapped external data
 * files beside the model) unless their layout has to change, which costs one copy. The graph is then
 * recognised structurally ({@link ViTImporter}): patch-embedding convolution, class/distillation
 * tokens, position embeddings, pre-LN encoder blocks with multi-head attention and a GELU MLP, final
 * LayerNorm and head(s), in the forms torchvision, Hugging Face-style and timm-style code export at
 * opsets 14 to 20. Anything else is refused with one line naming the first node that does not fit.
 */
public final class OnnxLoader {
    private OnnxLoader() {}

    public static ViTModel load(Path file, LoadOptions options) throws ModelFormatException {
        if (options == null) options = LoadOptions.DEFAULT;
        long t0 = System.nanoTime();
        OnnxFile f = OnnxFile.open(file);
        try {
            long t1 = System.nanoTime();
            ViTImporter imp = new ViTImporter(f);
            Values.Act out = imp.run();
            long t2 = System.nanoTime();
            ViTAssembler asm = new ViTAssembler(f, imp);
            asm.build(out, options);
            long t3 = System.nanoTime();
            Map<String, String> info = info(f, imp, asm, options);
            info.put("import_ms", String.format("map+parse %.0f, recognise %.0f, weights %.0f",
                    (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6));
            if (f.quantizedMatMuls > 0) {
                asm.weights = f.dropDequantized(QuantizedMatMulPattern.requantize(asm.weights, f.arena));
                info.put("quantization", "int8 per output channel, requantized from ONNX Runtime quantize_dynamic (MatMulInteger)");
                info.put("dtype", "I8");
                info.put("weights", "int8 per output channel in the encoder blocks (from " + f.quantizedMatMuls
                        + " quantize_dynamic MatMulInteger patterns); " + info.get("weights"));
                info.put("quantization", "int8-per-channel-symmetric (from ONNX Runtime quantize_dynamic MatMulInteger)");
            }
            List<String> labels = labels(file, asm.config.numClasses());
            try {
                return new ViTModel(asm.config, asm.weights, labels, info, f);
            } catch (IllegalArgumentException e) {
                throw new UnsupportedModelException(file + ": " + e.getMessage());
            }
        } catch (ModelFormatException | RuntimeException e) {
            f.close();
            if (e instanceof ModelFormatException m) throw m;
            // a ViT the engine rejects (IllegalArgumentException from its records) or an unforeseen case: one line still
            String msg = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage().lines().findFirst().orElse("");
            if (!(e instanceof IllegalArgumentException || e instanceof IllegalStateException)) msg = "cannot import it (" + e.getClass().getSimpleName() + ": " + msg + ")";
            throw new UnsupportedModelException(file + ": " + msg);
        }
    }

    /** What {@code jvit info} shows about an ONNX model. */
    private static Map<String, String> info(OnnxFile f, ViTImporter imp, ViTAssembler asm, LoadOptions options) {
        Onnx.ModelProto m = f.model;
        Map<String, String> info = new LinkedHashMap<>();
        info.put("format", "onnx");
        info.put("opset", Integer.toString(imp.opset));
        String producer = (m.getProducerName() + " " + m.getProducerVersion()).trim();
        info.put("producer", producer.isEmpty() ? "unknown" : producer);
        info.put("ir_version", Long.toString(m.getIrVersion()));
        info.put("convention", convention(f));
        var c = asm.config;
        info.put("architecture", sizeName(c) + " (" + c.summary() + ", image " + c.imageSize()
                + (c.numClasses() > 0 ? ", " + c.numClasses() + " classes" : "") + (c.preLogitsDim() > 0 ? ", pre-logits " + c.preLogitsDim() : "") + ")");
        info.put("dtype", weightDtype(f));
        info.put("layer_norm", (imp.lnOp && imp.decomposedLn ? "LayerNormalization and decomposed" : imp.lnOp ? "LayerNormalization" : "decomposed (ReduceMean/Sub/Pow/Sqrt/Div)")
                + ", eps " + c.layerNormEps() + (options.layerNormEps() != null ? " (from the load options)" : ""));
        info.put("gelu", "Gelu".equals(asm.geluForm) ? "Gelu operator" : "erf pattern");
        info.put("attention", asm.attentionForm + (asm.scaleFolded ? ", non-standard scale folded into the queries" : "")
                + (asm.layerScale ? "; LayerScale folded into the output projections" : ""));
        info.put("batch", imp.batchDim.isConst() ? "fixed " + imp.batchDim.value() + " in the graph (jvit runs any batch)" : "dynamic");
        info.put("graph", m.getGraph().getNodeCount() + " nodes (" + imp.liveNodes + " used), " + m.getGraph().getInitializerCount() + " initializers");
        info.put("weights", String.format("%d tensors used in place (%.1f MB), %d copied once into the engine layout (%.1f MB)",
                asm.linears.aliased, asm.linears.aliasedBytes / 1e6, asm.linears.copied, asm.linears.copiedBytes / 1e6));
        if (!f.externalFiles.isEmpty()) info.put("external_data", String.join(", ", f.externalFiles));
        info.put("source", f.path.toString());
        return info;
    }

    /** "ViT-B/16", "DeiT-S/16 distilled"... for the ViT papers' sizes, else "ViT" / "DeiT distilled". */
    static String sizeName(io.jvit.engine.ViTConfig c) {
        String size = null;
        int[][] std = {{192, 12, 3}, {384, 12, 6}, {768, 12, 12}, {1024, 24, 16}, {1280, 32, 16}};
        String[] names = {"Ti", "S", "B", "L", "H"};
        for (int i = 0; i < std.length; i++)
            if (c.width() == std[i][0] && c.depth() == std[i][1] && c.heads() == std[i][2] && c.mlpDim() == 4 * c.width()) size = names[i];
        String family = c.distilled() ? "DeiT" : "ViT";
        return (size == null ? family : family + "-" + size + "/" + c.patchSize()) + (c.distilled() ? " distilled" : "");
    }

    /** The element type of most initializer bytes the graph holds. */
    private static String weightDtype(OnnxFile f) {
        Map<String, Long> bytes = new LinkedHashMap<>();
        for (Onnx.TensorProto t : f.model.getGraph().getInitializerList()) {
            long n = 1;
            for (long d : t.getDimsList()) n *= d;
            ElemType e = ElemType.of(t.getDataType());
            String name = switch (e == null ? ElemType.FLOAT : e) {
                case FLOAT -> "F32";
                case FLOAT16 -> "F16";
                case BFLOAT16 -> "BF16";
                case DOUBLE -> "F64";
                default -> null;
            };
            if (name != null) bytes.merge(name, n * (e == null ? 4 : e.size), Long::sum);
        }
        return bytes.entrySet().stream().max(Map.Entry.comparingByValue()).map(Map.Entry::getKey).orElse("F32");
    }

    /** Which exporter's naming the initializers follow. */
    static String convention(OnnxFile f) {
        boolean tv = false, hf = false, timm = false;
        for (Onnx.TensorProto t : f.model.getGraph().getInitializerList()) {
            String n = t.getName();
            if (n.startsWith("encoder.layers.encoder_layer_") || n.equals("conv_proj.weight")) tv = true;
            if (n.contains("embeddings.patch_embeddings") || n.contains("attention.attention.query")) hf = true;
            if (n.startsWith("blocks.") || n.startsWith("patch_embed.")) timm = true;
        }
        return tv ? "torchvision" : hf ? "huggingface" : timm ? "timm" : "unknown";
    }

    /** Class names from a Hugging Face-style config.json beside the model (id2label), if there is one. */
    static List<String> labels(Path model, int numClasses) {
        Path dir = model.toAbsolutePath().getParent();
        if (dir == null || numClasses <= 0) return null;
        Path cfg = dir.resolve("config.json");
        if (!Files.isRegularFile(cfg)) return null;
        try {
            JsonNode root = io.jvit.loader.Json.read(cfg);
            JsonNode id2label = root == null ? null : root.get("id2label");
            if (id2label == null || !id2label.isObject()) return null;
            List<String> labels = new ArrayList<>(java.util.Collections.nCopies(numClasses, (String) null));
            for (Iterator<Map.Entry<String, JsonNode>> it = id2label.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                int i = Integer.parseInt(e.getKey().trim());
                if (i >= 0 && i < numClasses) labels.set(i, e.getValue().asText());
            }
            return labels;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
