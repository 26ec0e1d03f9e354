package io.jvit.loader;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jvit.engine.EncoderBlock;
import io.jvit.engine.LayerNormParams;
import io.jvit.engine.Linear;
import io.jvit.engine.ViTConfig;
import io.jvit.engine.ViTWeights;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a ViT as a jvit int8 safetensors file (the format of {@code jvit quantize}, described in
 * docs/INT8.md): canonical timm tensor names; quantized Linear weights as I8 [out, in] (the patch
 * embedding as [D, C, P, P]) with an F32 {@code <weight name>_scale} [out] tensor, W = q * scale per
 * output channel; every other tensor F32; and {@code __metadata__} saying what the file is:
 * {@code format} "pt", {@code jvit.quantization} the scheme, {@code jvit.config} a JSON object with
 * the hyper-parameters the tensors cannot tell (heads, LayerNorm epsilon, labels, the preprocessing
 * recipe...).
 */
public final class Int8Writer {
    /** The one scheme jvit writes and reads: symmetric int8 weights, one F32 scale per output channel. */
    public static final String SCHEME = "int8-per-channel-symmetric";
    /** Metadata key naming the quantization scheme. */
    public static final String SCHEME_KEY = "jvit.quantization";
    /** Metadata key of the JSON configuration. */
    public static final String CONFIG_KEY = "jvit.config";

    private static final ObjectMapper JSON = new ObjectMapper();

    private Int8Writer() {}

    /**
     * @param config       the model's hyper-parameters
     * @param w            the weights, some Linear layers I8 (the rest F32)
     * @param labels       class names or null
     * @param architecture architecture name or null
     * @param extra        more entries for {@code jvit.config} (preprocessing recipe, source...), may be null
     */
    public static void write(Path out, ViTConfig config, ViTWeights w, List<String> labels, String architecture,
                             Map<String, JsonNode> extra, boolean overwrite) throws IOException {
        List<SafetensorsWriter.Entry> f32 = new ArrayList<>(), i8 = new ArrayList<>();
        int d = config.width();
        f32.add(new SafetensorsWriter.Entry("cls_token", DType.F32, new long[] {1, 1, d}, w.classToken()));
        if (w.distillationToken() != null)
            f32.add(new SafetensorsWriter.Entry("dist_token", DType.F32, new long[] {1, 1, d}, w.distillationToken()));
        f32.add(new SafetensorsWriter.Entry("pos_embed", DType.F32, new long[] {1, config.tokens(), d}, w.positionEmbedding()));
        int p = config.patchSize();
        linear("patch_embed.proj", w.patchEmbedding(), new long[] {d, config.channels(), p, p}, f32, i8);
        for (int i = 0; i < w.blocks().size(); i++) {
            EncoderBlock b = w.blocks().get(i);
            String pre = "blocks." + i + ".";
            norm(pre + "norm1", b.norm1(), f32);
            linear(pre + "attn.qkv", b.qkv(), null, f32, i8);
            linear(pre + "attn.proj", b.proj(), null, f32, i8);
            norm(pre + "norm2", b.norm2(), f32);
            linear(pre + "mlp.fc1", b.fc1(), null, f32, i8);
            linear(pre + "mlp.fc2", b.fc2(), null, f32, i8);
        }
        norm("norm", w.finalNorm(), f32);
        if (w.preLogits() != null) linear("pre_logits.fc", w.preLogits(), null, f32, i8);
        if (w.head() != null) linear("head", w.head(), null, f32, i8);
        if (w.distillationHead() != null) linear("head_dist", w.distillationHead(), null, f32, i8);
        List<SafetensorsWriter.Entry> all = new ArrayList<>(f32);  // 4-byte tensors first: they stay 4-byte aligned
        all.addAll(i8);

        ObjectNode cfg = JSON.createObjectNode();
        if (architecture != null) cfg.put("architecture", architecture);
        cfg.put("heads", config.heads());
        cfg.put("layer_norm_eps", (double) config.layerNormEps());
        cfg.put("image_size", config.imageSize());
        cfg.put("patch_size", config.patchSize());
        cfg.put("num_classes", config.numClasses());
        if (labels != null && labels.size() == config.numClasses()) {
            var arr = cfg.putArray("labels");
            labels.forEach(arr::add);
        }
        if (extra != null) extra.forEach(cfg::set);
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", "pt");
        meta.put(SCHEME_KEY, SCHEME);
        meta.put(CONFIG_KEY, cfg.toString());
        SafetensorsWriter.write(out, all, meta, overwrite);
    }

    private static void norm(String name, LayerNormParams n, List<SafetensorsWriter.Entry> f32) {
        f32.add(new SafetensorsWriter.Entry(name + ".weight", DType.F32, new long[] {n.width()}, n.gamma().asSlice(0, 4L * n.width())));
        f32.add(new SafetensorsWriter.Entry(name + ".bias", DType.F32, new long[] {n.width()}, n.beta().asSlice(0, 4L * n.width())));
    }

    private static void linear(String name, Linear l, long[] shape, List<SafetensorsWriter.Entry> f32, List<SafetensorsWriter.Entry> i8) {
        long[] s = shape != null ? shape : new long[] {l.outFeatures(), l.inFeatures()};
        if (l.dtype() == Linear.DType.I8) {
            i8.add(new SafetensorsWriter.Entry(name + ".weight", DType.I8, s, l.weight()));
            f32.add(new SafetensorsWriter.Entry(name + ".weight_scale", DType.F32, new long[] {l.outFeatures()}, l.scales()));
        } else {
            f32.add(new SafetensorsWriter.Entry(name + ".weight", DType.F32, s, f32Weights(l)));
        }
        if (l.bias() != null) f32.add(new SafetensorsWriter.Entry(name + ".bias", DType.F32, new long[] {l.outFeatures()}, l.bias()));
    }

    /** A layer left unquantized is written as F32 [out][in]: its own segment, or a copy (widened, stacked or transposed). */
    private static java.lang.foreign.MemorySegment f32Weights(Linear l) {
        if (l.dtype() == Linear.DType.F32 && l.parts() == null && !l.transposed()) return l.weight();
        java.lang.foreign.MemorySegment w = java.lang.foreign.Arena.ofAuto().allocate((long) l.outFeatures() * l.inFeatures() * 4, 64);
        l.copyF32(w);
        return w;
    }

    /** The bytes the weights take in F32 and as written here (tensor data only), for reports. */
    public static long[] sizes(ViTWeights w) {
        long fp = 0, q = 0;
        List<Linear> ls = new ArrayList<>(List.of(w.patchEmbedding()));
        for (EncoderBlock b : w.blocks()) ls.addAll(List.of(b.qkv(), b.proj(), b.fc1(), b.fc2()));
        for (Linear l : new Linear[] {w.preLogits(), w.head(), w.distillationHead()}) if (l != null) ls.add(l);
        for (Linear l : ls) {
            fp += l.parameterCount() * 4;
            q += l.dtype() == Linear.DType.I8 ? l.weightBytes() : l.parameterCount() * 4;   // kept layers are written as F32
        }
        long rest = (w.parameterCount() - ls.stream().mapToLong(Linear::parameterCount).sum()) * 4;
        return new long[] {fp + rest, q + rest};
    }
}
