package io.jvit.loader;

/**
 * What a checkpoint may not say about itself. Zero or null means "infer": from config.json, from a
 * known architecture name (vit_b_16, vit_base_patch16_224, ...), or from tensor shapes.
 *
 * @param heads         attention heads (a bare safetensors file cannot tell them)
 * @param layerNormEps  LayerNorm epsilon, overriding the convention's default
 * @param architecture  an architecture name, as timm or torchvision spell it
 */
public record LoadOptions(int heads, Float layerNormEps, String architecture) {
    public static final LoadOptions DEFAULT = new LoadOptions(0, null, null);

    public LoadOptions withHeads(int h) { return new LoadOptions(h, layerNormEps, architecture); }

    public LoadOptions withArchitecture(String a) { return new LoadOptions(heads, layerNormEps, a); }
}
