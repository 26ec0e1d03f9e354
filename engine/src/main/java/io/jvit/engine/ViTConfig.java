package io.jvit.engine;

/**
 * Hyper-parameters of a ViT-family model, in the ViT paper's words.
 *
 * @param imageSize     side of the square input image the position embeddings were trained for
 * @param patchSize     side of a square patch
 * @param channels      input channels (3 for RGB)
 * @param width         hidden size D
 * @param depth         number of encoder blocks
 * @param heads         attention heads (D must be divisible by it)
 * @param mlpDim        hidden size of the MLP
 * @param numClasses    classification head outputs (0: no head, features only)
 * @param layerNormEps  LayerNorm epsilon (1e-6 in timm/torchvision, often 1e-12 in Hugging Face configs)
 * @param distilled     DeiT: a distillation token follows the CLS token and a second head averages in
 * @param preLogitsDim  size of an optional pre-logits Linear+tanh before the head (0: none)
 */
public record ViTConfig(int imageSize, int patchSize, int channels, int width, int depth, int heads,
                        int mlpDim, int numClasses, float layerNormEps, boolean distilled, int preLogitsDim) {

    public ViTConfig {
        if (patchSize <= 0 || imageSize <= 0 || channels <= 0 || width <= 0 || depth <= 0 || heads <= 0 || mlpDim <= 0)
            throw new IllegalArgumentException("ViT sizes must be positive: " + describe(imageSize, patchSize, width, depth, heads, mlpDim));
        if (imageSize % patchSize != 0)
            throw new IllegalArgumentException("image size " + imageSize + " is not divisible by patch size " + patchSize);
        if (width % heads != 0)
            throw new IllegalArgumentException("width " + width + " is not divisible by " + heads + " heads");
        if (numClasses < 0 || preLogitsDim < 0)
            throw new IllegalArgumentException("negative class count or pre-logits size");
        if (!(layerNormEps > 0))
            throw new IllegalArgumentException("LayerNorm epsilon must be positive");
    }

    private static String describe(int img, int patch, int width, int depth, int heads, int mlp) {
        return "image " + img + ", patch " + patch + ", width " + width + ", depth " + depth + ", heads " + heads + ", mlp " + mlp;
    }

    /** Tokens before the patches: CLS, plus the distillation token for DeiT. */
    public int prefixTokens() { return distilled ? 2 : 1; }

    public int gridSize() { return imageSize / patchSize; }

    public int numPatches() { return gridSize() * gridSize(); }

    /** Sequence length at the native image size. */
    public int tokens() { return numPatches() + prefixTokens(); }

    public int headDim() { return width / heads; }

    public int patchDim() { return channels * patchSize * patchSize; }

    public ViTConfig withImageSize(int size) {
        return new ViTConfig(size, patchSize, channels, width, depth, heads, mlpDim, numClasses, layerNormEps, distilled, preLogitsDim);
    }

    /** Multiply-adds x 2 for one image at the given input size (matmuls and attention; element-wise ops ignored). */
    public double gflopsPerImage(int size) {
        return gflopsPerImage(size, false);
    }

    /**
     * The same, counting in the last encoder block, if {@code prefixOnlyLastBlock}, only what the CLS (and
     * distillation) rows need: every token's keys and values, the prefix rows' queries, attention, projection
     * and MLP (what the engine computes for classification).
     */
    public double gflopsPerImage(int size, boolean prefixOnlyLastBlock) {
        long t = (long) (size / patchSize) * (size / patchSize) + prefixTokens();
        long np = t - prefixTokens();
        double macs = (double) np * patchDim() * width;
        double block = (double) t * width * (3L * width) + (double) t * width * width + 2.0 * t * width * mlpDim + 2.0 * t * t * width;
        macs += depth * block;
        if (prefixOnlyLastBlock && depth > 0) {
            int p = prefixTokens();
            macs -= block;
            macs += (double) t * width * (2L * width) + (double) p * width * width   // keys and values of all, queries of the prefix
                    + 2.0 * p * t * width + (double) p * width * width + 2.0 * p * width * mlpDim;
        }
        int feat = preLogitsDim > 0 ? preLogitsDim : width;
        if (preLogitsDim > 0) macs += (double) width * preLogitsDim;
        macs += (double) feat * numClasses * (distilled ? 2 : 1);
        return 2 * macs / 1e9;
    }

    public String summary() {
        return "patch " + patchSize + ", width " + width + ", depth " + depth + ", heads " + heads + ", mlp " + mlpDim
                + ", tokens " + tokens() + (distilled ? " (with distillation token)" : "");
    }
}
