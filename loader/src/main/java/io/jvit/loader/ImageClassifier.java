package io.jvit.loader;

import io.jvit.engine.Softmax;
import io.jvit.engine.ViTConfig;
import io.jvit.engine.ViTModel;
import io.jvit.engine.VisionTransformer;
import io.jvit.loader.image.Preprocessor;
import io.jvit.loader.image.Resample;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * The library API: a ViT loaded from a model path, ready to classify preprocessed images.
 * <pre>{@code
 * try (ImageClassifier vit = ImageClassifier.open(Path.of("models/fashion-vit"))) {
 *     float[] logits = vit.logits(pixels, n);                 // n x 3 x H x W, preprocessed
 *     List<List<ImageClassifier.Prediction>> top = vit.topK(pixels, n, 5);
 * }
 * }</pre>
 * The weights are packed once into off-heap memory owned by this object (the file mapping is
 * released after packing). Thread safety: any number of threads may share one instance; calls run
 * one at a time, each using the whole worker pool. Close it to free the memory and stop the pool.
 */
public final class ImageClassifier implements AutoCloseable {
    /** One ranked class: its index, its label (the index as text when the model has none) and softmax probability. */
    public record Prediction(int index, String label, float score) {}

    private final VisionTransformer vit;
    private final ViTConfig config;
    private final List<String> labels;
    private final Map<String, String> info;
    private final Path modelPath;
    private final long parameters;
    private final Preprocessor preprocessor;

    private ImageClassifier(Path modelPath, ViTModel model, int threads, Preprocessor preprocessor) {
        this.preprocessor = preprocessor;
        this.modelPath = modelPath;
        this.config = model.config();
        this.labels = model.labels();
        this.info = model.info();
        this.parameters = model.weights().parameterCount();
        this.vit = new VisionTransformer(model, threads);
    }

    /** Loads with default options and one worker per available core. */
    public static ImageClassifier open(Path model) throws ModelFormatException {
        return open(model, LoadOptions.DEFAULT, Runtime.getRuntime().availableProcessors());
    }

    public static ImageClassifier open(Path model, LoadOptions options, int threads) throws ModelFormatException {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        try (ViTModel m = ModelLoader.load(model, options)) {
            return new ImageClassifier(model, m, threads, recipe(model, m));
        }
    }

    /**
     * The preprocessing the checkpoint asks for: preprocessor_config.json or timm's pretrained_cfg
     * beside the weights, a recipe stored in the file's metadata (quantized files), torchvision's
     * ImageNet evaluation transform for bare torchvision checkpoints, else resize + rescale + 0.5/0.5.
     */
    static Preprocessor recipe(Path modelPath, ViTModel m) throws ModelFormatException {
        int size = m.config().imageSize();
        String embedded = m.info().get("preprocessor");
        if (embedded != null) {
            try {
                var node = Json.parse(embedded);
                return node.has("input_size") ? Preprocessor.fromTimm(node, modelPath + " metadata")
                        : Preprocessor.fromHuggingFace(node, modelPath + " metadata");
            } catch (java.io.IOException e) {
                throw new ModelFormatException(modelPath + ": preprocessing recipe in the metadata is not valid JSON");
            }
        }
        Path dir = java.nio.file.Files.isDirectory(modelPath) ? modelPath : modelPath.toAbsolutePath().getParent();
        boolean hasRecipe = dir != null && (java.nio.file.Files.isRegularFile(dir.resolve("preprocessor_config.json"))
                || java.nio.file.Files.isRegularFile(dir.resolve("config.json")));
        try {
            if (hasRecipe) return Preprocessor.forModelDir(dir, size, size);
        } catch (java.io.IOException e) {
            throw new ModelFormatException(e.getMessage());
        }
        if ("torchvision".equals(m.info().get("convention")))
            return Preprocessor.torchvision(size, Math.round(size * 256f / 224f), Resample.BILINEAR);
        return Preprocessor.defaults(size, size);
    }

    /** How images must be prepared for this model (see {@link Preprocessor#apply}). */
    public Preprocessor preprocessor() { return preprocessor; }

    /** Logits at another square input size (position embeddings resampled bicubically). */
    public float[] logits(float[] pixels, int images, int imageSize) {
        return vit.classify(pixels, images, imageSize);
    }

    public ViTConfig config() { return config; }

    public Path modelPath() { return modelPath; }

    /** Class names by index, or null. */
    public List<String> labels() { return labels; }

    public String label(int i) {
        return labels != null && i < labels.size() && labels.get(i) != null ? labels.get(i) : Integer.toString(i);
    }

    /** What the loader found: format, convention, dtype, architecture... */
    public Map<String, String> info() { return info; }

    public long parameterCount() { return parameters; }

    public int threads() { return vit.threads(); }

    /** The engine underneath, for benchmarks and profiling. */
    public VisionTransformer engine() { return vit; }

    /** images x classes logits of preprocessed NCHW pixels at the model's image size. */
    public float[] logits(float[] pixels, int images) {
        return vit.classify(pixels, images);
    }

    /** The k most probable classes of each image, best first. */
    public List<List<Prediction>> topK(float[] pixels, int images, int k) {
        return rank(logits(pixels, images), images, k);
    }

    /** Ranks already computed logits (images x classes). */
    public List<List<Prediction>> rank(float[] logits, int images, int k) {
        int nc = config.numClasses();
        List<List<Prediction>> out = new ArrayList<>(images);
        for (int b = 0; b < images; b++) {
            float[] p = Softmax.of(logits, b * nc, nc);
            Integer[] idx = new Integer[nc];
            for (int i = 0; i < nc; i++) idx[i] = i;
            Arrays.sort(idx, Comparator.comparingDouble((Integer i) -> -p[i]).thenComparingInt(i -> i));
            List<Prediction> top = new ArrayList<>();
            for (int i = 0; i < Math.min(k, nc); i++) top.add(new Prediction(idx[i], label(idx[i]), p[idx[i]]));
            out.add(top);
        }
        return out;
    }

    /** images x width features: the final-LayerNorm CLS token, or the mean of the patch tokens. */
    public float[] embed(float[] pixels, int images, VisionTransformer.Pool pool) {
        return vit.features(pixels, images, pool);
    }

    @Override
    public void close() {
        vit.close();
    }
}
