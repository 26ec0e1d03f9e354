package io.jvit.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.jvit.engine.ViTConfig;
import io.jvit.loader.ImageClassifier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "info", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Describe a model: format, naming convention, architecture, parameters, memory, GFLOPs per image, labels.",
        exitCodeListHeading = "%nExit codes:%n", exitCodeList = {"0:ok", "2:bad command line", "3:the model could not be loaded"})
public final class InfoCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @Parameters(paramLabel = "MODEL", arity = "0..1", description = "Model path (same as --model; default: the bundled model).")
    Path positional;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (positional != null) {
            if (model.model != null && !model.model.equals(positional))
                throw new CliException(Exit.USAGE, "give the model once: either MODEL or --model");
            model.model = positional;
        }
        model.threads = 1;
        try (ImageClassifier vit = model.open()) {
            Map<String, Object> m = describe(vit);
            if (json) {
                System.out.println(new ObjectMapper().writeValueAsString(m));
            } else {
                for (Map.Entry<String, Object> e : m.entrySet()) {
                    Object v = e.getValue();
                    if (v instanceof Map<?, ?> sub) {
                        System.out.printf("%-16s%n", e.getKey() + ":");
                        for (Map.Entry<?, ?> s : sub.entrySet()) System.out.printf("  %-14s %s%n", s.getKey() + ":", s.getValue());
                    } else {
                        System.out.printf("%-16s %s%n", e.getKey() + ":", v);
                    }
                }
            }
        }
        return Exit.OK;
    }

    static Map<String, Object> describe(ImageClassifier vit) {
        ViTConfig c = vit.config();
        Map<String, String> info = vit.info();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", vit.modelPath().toString());
        m.put("format", info.getOrDefault("format", "?"));
        m.put("convention", info.getOrDefault("convention", "?"));
        if (info.containsKey("architecture")) m.put("architecture", info.get("architecture"));
        for (String k : new String[] {"opset", "producer", "quantization", "weights", "external_data"}) if (info.containsKey(k)) m.put(k, info.get(k));
        m.put("dtype", info.getOrDefault("dtype", "?"));
        Map<String, Object> arch = new LinkedHashMap<>();
        arch.put("image_size", c.imageSize());
        arch.put("patch_size", c.patchSize());
        arch.put("channels", c.channels());
        arch.put("width", c.width());
        arch.put("depth", c.depth());
        arch.put("heads", c.heads() + (info.containsKey("heads_from") ? " (from " + info.get("heads_from") + ")" : ""));
        arch.put("mlp_dim", c.mlpDim());
        arch.put("tokens", c.tokens() + " (" + c.numPatches() + " patches + " + (c.distilled() ? "CLS + distillation" : "CLS") + ")");
        arch.put("layer_norm_eps", c.layerNormEps());
        if (c.preLogitsDim() > 0) arch.put("pre_logits", c.preLogitsDim());
        arch.put("classes", c.numClasses());
        m.put("architecture_params", arch);
        m.put("parameters", String.format("%,d", vit.parameterCount()));
        m.put("packed_weights_MB", String.format("%.1f", vit.engine().packedWeightBytes() / 1e6));
        m.put("gflops_per_image", String.format("%.3f", c.gflopsPerImage(c.imageSize())));
        m.put("preprocessing", vit.preprocessor().describe());
        List<String> labels = vit.labels();
        if (labels == null) m.put("labels", "none (class indices)");
        else m.put("labels", labels.size() <= 20 ? String.join(", ", labels) : String.join(", ", labels.subList(0, 20)) + ", ... (" + labels.size() + ")");
        return m;
    }
}
