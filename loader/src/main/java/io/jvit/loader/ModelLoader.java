package io.jvit.loader;

import com.fasterxml.jackson.databind.JsonNode;
import io.jvit.engine.ViTConfig;
import io.jvit.engine.ViTModel;
import io.jvit.engine.ViTWeights;
import io.jvit.loader.onnx.OnnxLoader;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Loads a ViT from a model path: a {@code .safetensors} file, an {@code .onnx} file, or a directory
 * holding {@code model.safetensors} (or one {@code .onnx}) and optionally {@code config.json}
 * (Hugging Face's or timm's) and {@code preprocessor_config.json}.
 * <p>
 * Hyper-parameters come from, in order: {@link LoadOptions}; a {@code jvit.config} JSON entry in the
 * safetensors metadata (written by {@code jvit quantize}); config.json; a standard architecture name
 * (the options', config.json's, or the file name's: {@code vit_b_16.safetensors}); the tensor shapes;
 * and, for heads alone, the ViT papers' standard widths (192, 384, 768, 1024, 1280). A bare file of
 * another width needs {@code heads} said explicitly.
 */
public final class ModelLoader {

    private ModelLoader() {}

    public static ViTModel load(Path path) throws ModelFormatException {
        return load(path, LoadOptions.DEFAULT);
    }

    public static ViTModel load(Path path, LoadOptions options) throws ModelFormatException {
        Path file = resolve(path);
        if (file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".onnx")) return OnnxLoader.load(file, options);
        return loadSafetensors(file, options);
    }

    /** The weights file a model path stands for. */
    public static Path resolve(Path path) throws ModelFormatException {
        if (!Files.exists(path)) throw new ModelFormatException(path + ": no such file or directory");
        if (!Files.isDirectory(path)) return path;
        Path st = path.resolve("model.safetensors");
        if (Files.isRegularFile(st)) return st;
        List<Path> candidates = new ArrayList<>();
        try (Stream<Path> s = Files.list(path)) {
            s.filter(p -> {
                String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
                return n.endsWith(".safetensors") || n.endsWith(".onnx");
            }).sorted().forEach(candidates::add);
        } catch (IOException e) {
            throw new ModelFormatException(path + ": cannot list directory: " + e.getMessage());
        }
        if (candidates.size() == 1) return candidates.get(0);
        if (candidates.isEmpty())
            throw new ModelFormatException(path + ": no model.safetensors or .onnx file in this directory");
        throw new ModelFormatException(path + ": several model files here (" + candidates.stream().map(p -> p.getFileName().toString())
                .reduce((a, b) -> a + ", " + b).orElse("") + "); name one");
    }

    /** config.json beside the weights file, or null. */
    public static JsonNode readConfig(Path weightsFile) throws ModelFormatException {
        Path dir = weightsFile.toAbsolutePath().getParent();
        return dir == null ? null : readJson(dir.resolve("config.json"));
    }

    static JsonNode readJson(Path p) throws ModelFormatException {
        if (!Files.isRegularFile(p)) return null;
        try {
            JsonNode n = Json.read(p);
            if (n == null || !n.isObject()) throw new ModelFormatException(p + ": not a JSON object");
            return n;
        } catch (IOException e) {
            throw new ModelFormatException(p + ": not valid JSON: " + e.getMessage().lines().findFirst().orElse(""));
        }
    }

    private static ViTModel loadSafetensors(Path file, LoadOptions options) throws ModelFormatException {
        Arena arena = Arena.ofShared();
        try {
            SafetensorsFile st = SafetensorsFile.open(file, arena);
            String f = file.toString();
            CheckpointMapper mapper = new CheckpointMapper(st.tensors(), f, arena);
            CheckpointMapper.Convention conv = CheckpointMapper.detect(st.tensors(), f);
            CheckpointMapper.Shapes s = mapper.shapes(conv);
            JsonNode config = readConfig(file);
            JsonNode meta = null;
            if (st.metadata().containsKey("jvit.config")) {
                try {
                    meta = Json.parse(st.metadata().get("jvit.config"));
                } catch (IOException e) {
                    throw new ModelFormatException(f + ": metadata 'jvit.config' is not valid JSON");
                }
            }
            Map<String, String> info = new LinkedHashMap<>();
            info.put("format", "safetensors");
            info.put("file", f);
            info.put("convention", conv.label);
            // int8 files of jvit quantize (docs/INT8.md): the scheme must be one jvit knows; the recipe travels along
            String scheme = st.metadata().get(Int8Writer.SCHEME_KEY);
            if (scheme != null) {
                if (!scheme.equals(Int8Writer.SCHEME))
                    throw new UnsupportedModelException(f + ": unknown quantization scheme '" + scheme + "' in the metadata (jvit reads '"
                            + Int8Writer.SCHEME + "')");
                info.put("quantization", scheme);
            }
            if (meta != null && meta.hasNonNull("preprocessor")) info.put("preprocessor", meta.get("preprocessor").toString());

            // heads: options, metadata, config.json, architecture name, standard widths
            String arch = options.architecture();
            if (arch == null && config != null && config.hasNonNull("architecture")) arch = config.get("architecture").asText();
            if (arch == null) {
                String stem = file.getFileName().toString().replaceFirst("\\.safetensors$", "");
                if (Architectures.parse(stem) != null) arch = stem;
            }
            if (arch != null) info.put("architecture", arch);
            Architectures.Hints hints = Architectures.parse(arch);
            boolean hfConfig = config != null && config.has("model_type");
            if (hfConfig) {
                String type = config.get("model_type").asText();
                if (!type.equals("vit") && !type.equals("deit"))
                    throw new UnsupportedModelException(f + ": config.json model_type '" + type + "' is not a ViT or DeiT");
                String act = config.path("hidden_act").asText("gelu");
                if (!act.equals("gelu"))
                    throw new UnsupportedModelException(f + ": hidden_act '" + act + "' is not supported (jvit implements the exact erf GELU, 'gelu')");
                if (config.hasNonNull("architectures") && config.get("architectures").size() > 0)
                    info.put("architecture", config.get("architectures").get(0).asText());
            }
            int heads = options.heads();
            String headsFrom = "option";
            if (heads <= 0 && meta != null && meta.path("heads").asInt(0) > 0) { heads = meta.get("heads").asInt(); headsFrom = "metadata"; }
            if (heads <= 0 && hfConfig && config.path("num_attention_heads").asInt(0) > 0) { heads = config.get("num_attention_heads").asInt(); headsFrom = "config.json"; }
            if (heads <= 0 && config != null && config.path("model_args").path("num_heads").asInt(0) > 0) {
                heads = config.get("model_args").get("num_heads").asInt();
                headsFrom = "config.json";
            }
            if (heads <= 0 && hints != null && hints.width() == s.width()) { heads = hints.heads(); headsFrom = "architecture " + arch; }
            if (heads <= 0 && Architectures.standardHeads(s.width()) > 0) { heads = Architectures.standardHeads(s.width()); headsFrom = "standard ViT width " + s.width(); }
            if (heads <= 0)
                throw new ModelFormatException(f + ": cannot tell the number of attention heads of a width-" + s.width()
                        + " model; give it (--heads N, or LoadOptions.withHeads) or put a config.json beside the file");
            info.put("heads_from", headsFrom);

            float eps = conv == CheckpointMapper.Convention.HUGGINGFACE ? 1e-12f : 1e-6f;
            if (hfConfig && config.has("layer_norm_eps")) eps = (float) config.get("layer_norm_eps").asDouble();
            if (meta != null && meta.has("layer_norm_eps")) eps = (float) meta.get("layer_norm_eps").asDouble();
            if (options.layerNormEps() != null) eps = options.layerNormEps();

            int prefix = s.distilled() ? 2 : 1;
            int patches = s.tokens() - prefix;
            int grid = (int) Math.round(Math.sqrt(Math.max(0, patches)));
            if (patches <= 0 || grid * grid != patches)
                throw new ModelFormatException(f + ": position embedding of " + s.tokens() + " tokens is not " + prefix + " prefix tokens + a square grid of patches");
            ViTConfig cfg;
            try {
                cfg = new ViTConfig(grid * s.patch(), s.patch(), s.channels(), s.width(), s.depth(), heads, s.mlpDim(),
                        s.numClasses(), eps, s.distilled(), s.preLogits());
            } catch (IllegalArgumentException e) {
                throw new ModelFormatException(f + ": " + e.getMessage());
            }
            if (hfConfig && config.has("hidden_size") && config.get("hidden_size").asInt() != s.width())
                throw new ModelFormatException(f + ": config.json hidden_size " + config.get("hidden_size").asInt() + " disagrees with the weights (" + s.width() + ")");
            ViTWeights w = mapper.weights(conv, cfg);
            Tensor first = st.tensors().values().iterator().next();
            info.put("dtype", weightDtype(st));
            List<String> labels = labels(config, meta, cfg.numClasses());
            try {
                return new ViTModel(cfg, w, labels, info, arena);
            } catch (IllegalArgumentException e) {
                throw new ModelFormatException(f + ": " + e.getMessage());
            }
        } catch (ModelFormatException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static String weightDtype(SafetensorsFile st) {
        Map<DType, Long> bytes = new LinkedHashMap<>();
        for (Tensor t : st.tensors().values()) bytes.merge(t.dtype(), t.data().byteSize(), Long::sum);
        return bytes.entrySet().stream().max(Map.Entry.comparingByValue()).map(e -> e.getKey().name()).orElse("none");
    }

    /** Class names from HF id2label, timm label_names, or jvit metadata; null when there are none. */
    static List<String> labels(JsonNode config, JsonNode meta, int classes) {
        JsonNode arr = meta != null && meta.has("labels") ? meta.get("labels") : config != null && config.has("label_names") ? config.get("label_names") : null;
        if (arr != null && arr.isArray() && arr.size() == classes) {
            List<String> l = new ArrayList<>();
            arr.forEach(n -> l.add(n.asText()));
            return l;
        }
        if (config != null && config.has("id2label") && config.get("id2label").isObject()) {
            String[] names = new String[classes];
            for (Iterator<Map.Entry<String, JsonNode>> it = config.get("id2label").fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                try {
                    int i = Integer.parseInt(e.getKey());
                    if (i >= 0 && i < classes) names[i] = e.getValue().asText();
                } catch (NumberFormatException ignored) {
                    // a non-numeric key is not a class index
                }
            }
            boolean generic = true;
            for (int i = 0; i < classes; i++) if (names[i] != null && !names[i].equals("LABEL_" + i)) generic = false;
            return generic ? null : java.util.Arrays.asList(names);
        }
        return null;
    }
}
