package io.jvit.loader;

import io.jvit.engine.EncoderBlock;
import io.jvit.engine.LayerNormParams;
import io.jvit.engine.Linear;
import io.jvit.engine.ViTConfig;
import io.jvit.engine.ViTWeights;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Maps a checkpoint's tensor names onto the engine's canonical ViT: torchvision
 * ({@code conv_proj}, {@code encoder.layers.encoder_layer_N}), Hugging Face ({@code vit.embeddings},
 * {@code encoder.layer.N.attention.attention.query}, DeiT's {@code distillation_token}) and timm
 * ({@code patch_embed.proj}, {@code blocks.N.attn.qkv}). The convention is detected from the keys;
 * sizes come from the tensor shapes, heads and epsilon from the caller's hints.
 */
final class CheckpointMapper {
    enum Convention {
        TORCHVISION("torchvision"), HUGGINGFACE("huggingface"), TIMM("timm");
        final String label;

        Convention(String label) { this.label = label; }
    }

    private final Map<String, Tensor> t;
    private final String file;
    private final Arena arena;

    CheckpointMapper(Map<String, Tensor> tensors, String file, Arena arena) {
        this.t = tensors;
        this.file = file;
        this.arena = arena;
    }

    static Convention detect(Map<String, Tensor> t, String file) throws UnsupportedModelException {
        if (t.containsKey("conv_proj.weight") && t.containsKey("class_token")) return Convention.TORCHVISION;
        if (t.containsKey("patch_embed.proj.weight") && t.containsKey("pos_embed")) return Convention.TIMM;
        if (hfPrefix(t) != null) return Convention.HUGGINGFACE;
        String sample = t.keySet().stream().limit(4).reduce((a, b) -> a + ", " + b).orElse("no tensors");
        throw new UnsupportedModelException(file + ": not a ViT checkpoint jvit knows (no patch embedding under torchvision, "
                + "Hugging Face or timm names; first keys: " + sample + ")");
    }

    static String hfPrefix(Map<String, Tensor> t) {
        for (String p : new String[] {"vit.", "deit.", ""})
            if (t.containsKey(p + "embeddings.patch_embeddings.projection.weight")) return p;
        return null;
    }

    /** Sizes read off the tensors. */
    record Shapes(int width, int depth, int mlpDim, int patch, int channels, int tokens, int numClasses,
                  boolean distilled, int preLogits) {}

    Shapes shapes(Convention c) throws ModelFormatException {
        String hf = hfPrefix(t);
        String conv = switch (c) {
            case TORCHVISION -> "conv_proj.weight";
            case TIMM -> "patch_embed.proj.weight";
            case HUGGINGFACE -> hf + "embeddings.patch_embeddings.projection.weight";
        };
        Tensor w = need(conv);
        if (w.shape().length != 4 || w.shape()[2] != w.shape()[3])
            throw new ModelFormatException(file + ": tensor '" + conv + "' has shape " + w.shapeString() + ", expected [D, C, P, P]");
        int width = (int) w.shape()[0], channels = (int) w.shape()[1], patch = (int) w.shape()[2];
        String pos = switch (c) {
            case TORCHVISION -> "encoder.pos_embedding";
            case TIMM -> "pos_embed";
            case HUGGINGFACE -> hf + "embeddings.position_embeddings";
        };
        Tensor p = need(pos);
        if (p.shape().length != 3 || p.shape()[2] != width)
            throw new ModelFormatException(file + ": tensor '" + pos + "' has shape " + p.shapeString() + ", expected [1, T, " + width + "]");
        int depth = 0;
        while (t.containsKey(blockKey(c, hf, depth) )) depth++;
        if (depth == 0) throw new UnsupportedModelException(file + ": no encoder blocks found (looked for '" + blockKey(c, hf, 0) + "')");
        String fc1 = switch (c) {
            case TORCHVISION -> t.containsKey("encoder.layers.encoder_layer_0.mlp.0.weight")
                    ? "encoder.layers.encoder_layer_0.mlp.0.weight" : "encoder.layers.encoder_layer_0.mlp.linear_1.weight";
            case TIMM -> "blocks.0.mlp.fc1.weight";
            case HUGGINGFACE -> hf + "encoder.layer.0.intermediate.dense.weight";
        };
        int mlp = (int) need(fc1).shape()[0];
        boolean distilled = switch (c) {
            case TIMM -> t.containsKey("dist_token");
            case HUGGINGFACE -> t.containsKey(hf + "embeddings.distillation_token");
            case TORCHVISION -> false;
        };
        String head = headKey(c, distilled);
        int classes = t.containsKey(head + ".weight") ? (int) t.get(head + ".weight").shape()[0] : 0;
        String pre = preLogitsKey(c);
        int preLogits = pre != null && t.containsKey(pre + ".weight") ? (int) t.get(pre + ".weight").shape()[0] : 0;
        return new Shapes(width, depth, mlp, patch, channels, (int) p.shape()[1], classes, distilled, preLogits);
    }

    private static String blockKey(Convention c, String hf, int i) {
        return switch (c) {
            case TORCHVISION -> "encoder.layers.encoder_layer_" + i + ".ln_1.weight";
            case TIMM -> "blocks." + i + ".norm1.weight";
            case HUGGINGFACE -> hf + "encoder.layer." + i + ".layernorm_before.weight";
        };
    }

    private String headKey(Convention c, boolean distilled) {
        return switch (c) {
            case TORCHVISION -> "heads.head";
            case TIMM -> "head";
            case HUGGINGFACE -> distilled && t.containsKey("cls_classifier.weight") ? "cls_classifier" : "classifier";
        };
    }

    private static String preLogitsKey(Convention c) {
        return switch (c) {
            case TORCHVISION -> "heads.pre_logits";
            case TIMM -> "pre_logits.fc";
            case HUGGINGFACE -> null;
        };
    }

    ViTWeights weights(Convention c, ViTConfig cfg) throws ModelFormatException {
        String hf = hfPrefix(t);
        int d = cfg.width();
        List<EncoderBlock> blocks = new ArrayList<>();
        for (int i = 0; i < cfg.depth(); i++) {
            switch (c) {
                case TORCHVISION -> {
                    String b = "encoder.layers.encoder_layer_" + i + ".";
                    String m1 = t.containsKey(b + "mlp.0.weight") ? "mlp.0" : "mlp.linear_1";
                    String m2 = t.containsKey(b + "mlp.3.weight") ? "mlp.3" : "mlp.linear_2";
                    blocks.add(new EncoderBlock(norm(b + "ln_1"),
                            linear(b + "self_attention.in_proj_weight", b + "self_attention.in_proj_bias", 3 * d, d),
                            linear(b + "self_attention.out_proj", d, d), norm(b + "ln_2"),
                            linear(b + m1, cfg.mlpDim(), d), linear(b + m2, d, cfg.mlpDim())));
                }
                case TIMM -> {
                    String b = "blocks." + i + ".";
                    blocks.add(new EncoderBlock(norm(b + "norm1"), linear(b + "attn.qkv", 3 * d, d), linear(b + "attn.proj", d, d),
                            norm(b + "norm2"), linear(b + "mlp.fc1", cfg.mlpDim(), d), linear(b + "mlp.fc2", d, cfg.mlpDim())));
                }
                case HUGGINGFACE -> {
                    String b = hf + "encoder.layer." + i + ".";
                    blocks.add(new EncoderBlock(norm(b + "layernorm_before"),
                            fusedQkv(b + "attention.attention.query", b + "attention.attention.key", b + "attention.attention.value", d),
                            linear(b + "attention.output.dense", d, d), norm(b + "layernorm_after"),
                            linear(b + "intermediate.dense", cfg.mlpDim(), d), linear(b + "output.dense", d, cfg.mlpDim())));
                }
            }
        }
        int feat = cfg.preLogitsDim() > 0 ? cfg.preLogitsDim() : d;
        return switch (c) {
            case TORCHVISION -> new ViTWeights(patch("conv_proj", d), vec("class_token", d), null,
                    vec("encoder.pos_embedding", (long) cfg.tokens() * d), blocks, norm("encoder.ln"),
                    cfg.preLogitsDim() > 0 ? linear("heads.pre_logits", cfg.preLogitsDim(), d) : null,
                    headOrNull("heads.head", cfg, feat), null);
            case TIMM -> new ViTWeights(patch("patch_embed.proj", d), vec("cls_token", d),
                    cfg.distilled() ? vec("dist_token", d) : null, vec("pos_embed", (long) cfg.tokens() * d), blocks, norm("norm"),
                    cfg.preLogitsDim() > 0 ? linear("pre_logits.fc", cfg.preLogitsDim(), d) : null,
                    headOrNull("head", cfg, feat), cfg.distilled() ? headOrNull("head_dist", cfg, feat) : null);
            case HUGGINGFACE -> new ViTWeights(patch(hf + "embeddings.patch_embeddings.projection", d), vec(hf + "embeddings.cls_token", d),
                    cfg.distilled() ? vec(hf + "embeddings.distillation_token", d) : null,
                    vec(hf + "embeddings.position_embeddings", (long) cfg.tokens() * d), blocks, norm(hf + "layernorm"), null,
                    headOrNull(headKey(c, cfg.distilled()), cfg, feat),
                    cfg.distilled() ? headOrNull(t.containsKey("distillation_classifier.weight") ? "distillation_classifier" : "classifier", cfg, feat) : null);
        };
    }

    private Linear headOrNull(String name, ViTConfig cfg, int feat) throws ModelFormatException {
        if (cfg.numClasses() == 0) return null;
        return linear(name, cfg.numClasses(), feat);
    }

    Tensor need(String name) throws ModelFormatException {
        Tensor x = t.get(name);
        if (x == null) throw new ModelFormatException(file + ": missing tensor '" + name + "'");
        return x;
    }

    private MemorySegment vec(String name, long n) throws ModelFormatException {
        Tensor x = need(name);
        if (x.elements() != n)
            throw new ModelFormatException(file + ": tensor '" + name + "' has shape " + x.shapeString() + " (" + x.elements() + " values), expected " + n);
        return x.asF32(arena, file);
    }

    private LayerNormParams norm(String prefix) throws ModelFormatException {
        Tensor g = need(prefix + ".weight");
        return new LayerNormParams(vec(prefix + ".weight", g.elements()), vec(prefix + ".bias", g.elements()));
    }

    private Linear patch(String prefix, int d) throws ModelFormatException {
        Tensor w = need(prefix + ".weight");
        int in = (int) (w.elements() / d);
        return linear(prefix + ".weight", prefix + ".bias", d, in);
    }

    private Linear linear(String prefix, int out, int in) throws ModelFormatException {
        return linear(prefix + ".weight", prefix + ".bias", out, in);
    }

    /** A Linear from F32/F16/BF16 weights, or I8 weights with a per-output-channel F32 "..._scale" tensor. */
    Linear linear(String weightName, String biasName, int out, int in) throws ModelFormatException {
        Tensor w = need(weightName);
        if (w.elements() != (long) out * in)
            throw new ModelFormatException(file + ": tensor '" + weightName + "' has shape " + w.shapeString() + ", expected [" + out + ", " + in + "]");
        MemorySegment bias = t.containsKey(biasName) ? vec(biasName, out) : null;
        if (w.dtype() == DType.I8) {
            String sn = weightName + "_scale";
            Tensor s = t.get(sn);
            if (s == null) throw new ModelFormatException(file + ": int8 tensor '" + weightName + "' has no scales ('" + sn + "')");
            if (s.elements() != out)
                throw new ModelFormatException(file + ": scales '" + sn + "' hold " + s.elements() + " values, expected one per output channel (" + out + ")");
            if (s.dtype() != DType.F32) throw new ModelFormatException(file + ": scales '" + sn + "' must be F32, not " + s.dtype());
            return Linear.i8(out, in, w.data(), s.data(), bias);
        }
        if (w.dtype() == DType.F16 || w.dtype() == DType.BF16)   // widened when packed: no F32 copy beside the packed one
            return Linear.half(out, in, Linear.DType.valueOf(w.dtype().name()), w.data(), bias);
        return Linear.f32(out, in, w.asF32(arena, file), bias);
    }

    /**
     * Hugging Face keeps q, k and v apart; the engine wants them stacked [q; k; v]. A stacked Linear reads them
     * where they lie (packing drops their file pages one by one), so no stacked copy is ever made.
     */
    private Linear fusedQkv(String q, String k, String v, int d) throws ModelFormatException {
        Linear lq = linear(q, d, d), lk = linear(k, d, d), lv = linear(v, d, d);
        for (Linear l : new Linear[] {lq, lk, lv})
            if (l.dtype() == Linear.DType.I8)
                throw new UnsupportedModelException(file + ": int8 weights with separate q/k/v are not supported; quantize with 'jvit quantize'");
        return Linear.stack(lq, lk, lv);
    }
}
