package io.jvit.cli;

import io.jvit.loader.ImageClassifier;
import io.jvit.loader.LoadOptions;
import io.jvit.loader.ModelFormatException;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;

/** Options shared by every command that loads a model. */
public final class ModelOptions {
    @Option(names = {"-m", "--model"}, paramLabel = "PATH",
            description = "Model: a .safetensors or .onnx file, or a directory with model.safetensors + config.json. Default: the bundled Fashion-MNIST ViT.")
    public Path model;

    @Option(names = "--heads", paramLabel = "N", description = "Attention heads, for a bare checkpoint that cannot say (e.g. a torchvision .safetensors of a non-standard width).")
    public int heads;

    @Option(names = "--eps", paramLabel = "EPS", description = "LayerNorm epsilon, overriding the checkpoint's convention.")
    public Float eps;

    @Option(names = "--arch", paramLabel = "NAME", description = "Architecture name as timm/torchvision spell it (vit_b_16, vit_base_patch16_224...), for bare checkpoints.")
    public String arch;

    @Option(names = {"-t", "--threads"}, paramLabel = "T", description = "Worker threads (default: available cores, ${DEFAULT-VALUE}).")
    public int threads = Runtime.getRuntime().availableProcessors();

    public static Path bundledModel() {
        String home = System.getenv("JVIT_HOME");
        Path root = home != null ? Path.of(home) : Path.of("");
        return root.resolve("models").resolve("fashion-vit");
    }

    public Path modelPath() {
        return model != null ? model : bundledModel();
    }

    public LoadOptions loadOptions() {
        if (heads < 0) throw new CliException(Exit.USAGE, "--heads must be >= 1, got " + heads);
        return new LoadOptions(heads, eps, arch);
    }

    /** Checks the options alone, before any input is touched. */
    public void validate() {
        if (threads < 1) throw new CliException(Exit.USAGE, "--threads must be >= 1, got " + threads);
        if (heads < 0) throw new CliException(Exit.USAGE, "--heads must be >= 1, got " + heads);
        if (eps != null && !(eps > 0)) throw new CliException(Exit.USAGE, "--eps must be positive, got " + eps);
    }

    public ImageClassifier open() {
        validate();
        Path p = modelPath();
        if (model == null && !Files.exists(p))
            throw new CliException(Exit.MODEL, "the bundled model is missing at " + p + "; pass --model PATH");
        try {
            return ImageClassifier.open(p, loadOptions(), threads);
        } catch (ModelFormatException e) {
            throw new CliException(Exit.MODEL, e.getMessage());
        } catch (IllegalArgumentException e) {
            throw new CliException(Exit.MODEL, p + ": " + e.getMessage());
        }
    }
}
