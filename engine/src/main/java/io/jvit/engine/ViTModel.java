package io.jvit.engine;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A loaded model: hyper-parameters, weights and class labels, plus descriptive facts from the loader
 * (format, naming convention, ...). Closing it releases whatever backs the weights (a file mapping, say);
 * a {@link VisionTransformer} built from it keeps its own packed copy and outlives it.
 */
public final class ViTModel implements AutoCloseable {
    private final ViTConfig config;
    private final ViTWeights weights;
    private final List<String> labels;
    private final Map<String, String> info;
    private final AutoCloseable resources;

    public ViTModel(ViTConfig config, ViTWeights weights, List<String> labels, Map<String, String> info, AutoCloseable resources) {
        this.config = config;
        this.weights = weights;
        this.labels = labels == null ? null : List.copyOf(labels);
        this.info = info == null ? Map.of() : java.util.Collections.unmodifiableMap(new LinkedHashMap<>(info));
        this.resources = resources;
        validate();
    }

    public ViTConfig config() { return config; }

    public ViTWeights weights() { return weights; }

    /** Class names by index, or null when the checkpoint has none. */
    public List<String> labels() { return labels; }

    public String label(int index) {
        return labels != null && index < labels.size() && labels.get(index) != null ? labels.get(index) : Integer.toString(index);
    }

    /** Facts from the loader for {@code jvit info}: format, convention, dtype, source... */
    public Map<String, String> info() { return info; }

    /** Checks every tensor against the config; throws {@link IllegalArgumentException} naming the first mismatch. */
    private void validate() {
        ViTConfig c = config;
        int d = c.width();
        expect("patch embedding", weights.patchEmbedding(), d, c.patchDim());
        expectFloats("class token", weights.classToken().byteSize() / 4, d);
        if (c.distilled()) {
            if (weights.distillationToken() == null) throw new IllegalArgumentException("distilled model without a distillation token");
            expectFloats("distillation token", weights.distillationToken().byteSize() / 4, d);
        }
        long pos = weights.positionEmbedding().byteSize() / 4;
        if (pos != (long) c.tokens() * d)
            throw new IllegalArgumentException("position embedding holds " + pos / Math.max(1, d) + " tokens, expected "
                    + c.tokens() + " (" + c.numPatches() + " patches + " + c.prefixTokens() + ")");
        if (weights.blocks().size() != c.depth())
            throw new IllegalArgumentException("model has " + weights.blocks().size() + " encoder blocks, config says " + c.depth());
        for (int i = 0; i < c.depth(); i++) {
            EncoderBlock b = weights.blocks().get(i);
            String p = "block " + i + " ";
            expectFloats(p + "norm1", b.norm1().width(), d);
            expectFloats(p + "norm2", b.norm2().width(), d);
            expect(p + "qkv", b.qkv(), 3 * d, d);
            expect(p + "attention output", b.proj(), d, d);
            expect(p + "fc1", b.fc1(), c.mlpDim(), d);
            expect(p + "fc2", b.fc2(), d, c.mlpDim());
        }
        expectFloats("final norm", weights.finalNorm().width(), d);
        int feat = d;
        if (c.preLogitsDim() > 0) {
            if (weights.preLogits() == null) throw new IllegalArgumentException("config has pre-logits but the weights do not");
            expect("pre-logits", weights.preLogits(), c.preLogitsDim(), d);
            feat = c.preLogitsDim();
        }
        if (c.numClasses() > 0) {
            if (weights.head() == null) throw new IllegalArgumentException("model has no classification head");
            expect("head", weights.head(), c.numClasses(), feat);
            if (c.distilled()) {
                if (weights.distillationHead() == null) throw new IllegalArgumentException("distilled model without a distillation head");
                expect("distillation head", weights.distillationHead(), c.numClasses(), feat);
            }
        }
    }

    private static void expect(String what, Linear l, int out, int in) {
        if (l == null) throw new IllegalArgumentException(what + " is missing");
        if (l.outFeatures() != out || l.inFeatures() != in)
            throw new IllegalArgumentException(what + " is [" + l.outFeatures() + ", " + l.inFeatures() + "], expected [" + out + ", " + in + "]");
    }

    private static void expectFloats(String what, long floats, int d) {
        if (floats != d) throw new IllegalArgumentException(what + " has " + floats + " values, expected " + d);
    }

    @Override
    public void close() {
        if (resources != null) {
            try {
                resources.close();
            } catch (Exception e) {
                throw new IllegalStateException("closing model resources: " + e.getMessage(), e);
            }
        }
    }
}
