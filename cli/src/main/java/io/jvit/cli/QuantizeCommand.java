package io.jvit.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import io.jvit.engine.Quantizer;
import io.jvit.engine.ViTModel;
import io.jvit.engine.ViTWeights;
import io.jvit.loader.Int8Writer;
import io.jvit.loader.LoadOptions;
import io.jvit.loader.ModelFormatException;
import io.jvit.loader.ModelLoader;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

@Command(name = "quantize", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Write an int8 copy of a model: Linear weights as int8 with one F32 scale per output channel "
                + "(symmetric), everything else F32, timm tensor names, the configuration and preprocessing recipe in the "
                + "file's metadata (docs/INT8.md). About a quarter of the F32 size; loads wherever an F32 model does."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:written", "2:bad command line", "3:the input could not be loaded or is already quantized",
                "4:the output exists (without --force) or could not be written"})
public final class QuantizeCommand implements Callable<Integer> {
    /** Schemes accepted by --scheme: the short name and the one written in the metadata. */
    static final Set<String> SCHEMES = Set.of("int8-per-channel", Int8Writer.SCHEME);

    @Parameters(index = "0", paramLabel = "IN", description = "Model to quantize: .safetensors (any convention), .onnx, or a model directory.")
    Path in;

    @Parameters(index = "1", paramLabel = "OUT", description = "The int8 .safetensors file to write.")
    Path out;

    @Option(names = "--scheme", paramLabel = "S", description = "Quantization scheme: int8-per-channel (symmetric, one scale per output channel; the only one). Default: ${DEFAULT-VALUE}.")
    String scheme = "int8-per-channel";

    @Option(names = "--force", description = "Replace OUT if it exists.")
    boolean force;

    @Option(names = "--keep-fp32", paramLabel = "PARTS", split = ",",
            description = "Parts left in F32: patch (the patch embedding), head (classifier, distillation head, pre-logits), or none. Default: none (the Fashion-MNIST and ViT-B/16 measurements in docs/INT8.md show no need).")
    java.util.List<String> keep = java.util.List.of("none");

    @Option(names = "--heads", paramLabel = "N", description = "Attention heads, for a bare checkpoint that cannot say.")
    int heads;

    @Option(names = "--eps", paramLabel = "EPS", description = "LayerNorm epsilon, overriding the checkpoint's convention.")
    Float eps;

    @Option(names = "--arch", paramLabel = "NAME", description = "Architecture name (vit_b_16, vit_base_patch16_224...), for bare checkpoints.")
    String arch;

    @Override
    public Integer call() {
        if (!SCHEMES.contains(scheme))
            throw new CliException(Exit.USAGE, "unknown --scheme '" + scheme + "' (jvit writes int8-per-channel)");
        Set<Quantizer.Part> keepF32 = parts(keep);
        if (heads < 0) throw new CliException(Exit.USAGE, "--heads must be >= 1, got " + heads);
        if (Files.isDirectory(out)) throw new CliException(Exit.IO, out + ": is a directory; name the .safetensors file to write");
        if (!force && Files.exists(out)) throw new CliException(Exit.IO, out + ": exists (use --force to replace it)");
        Path parent = out.toAbsolutePath().getParent();
        if (parent == null || !Files.isDirectory(parent)) throw new CliException(Exit.IO, out + ": folder " + parent + " does not exist");
        if (!Files.exists(in)) throw new CliException(Exit.MODEL, in + ": no such file or directory");
        try {
            Path src = ModelLoader.resolve(in);
            if (Files.exists(out) && Files.isSameFile(src, out))
                throw new CliException(Exit.USAGE, out + ": is the input model; write the int8 copy elsewhere");
        } catch (ModelFormatException e) {
            throw new CliException(Exit.MODEL, e.getMessage());
        } catch (IOException e) {
            throw new CliException(Exit.IO, out + ": " + e.getMessage());
        }
        try (ViTModel m = ModelLoader.load(in, new LoadOptions(heads, eps, arch)); Arena arena = Arena.ofConfined()) {
            if (Quantizer.isQuantized(m.weights()) || m.info().containsKey("quantization"))
                throw new CliException(Exit.MODEL, in + ": already quantized (int8 weights); quantize the F32 original instead");
            ViTWeights q = Quantizer.quantize(m.weights(), keepF32, arena);
            Map<String, JsonNode> extra = new LinkedHashMap<>();
            JsonNode recipe = recipe(in);
            if (recipe != null) extra.put("preprocessor", recipe);
            var kept = JsonNodeFactory.instance.arrayNode();
            keepF32.forEach(p -> kept.add(p.name().toLowerCase(Locale.ROOT)));
            extra.put("keep_fp32", kept);
            extra.put("source", JsonNodeFactory.instance.textNode(in.getFileName() == null ? in.toString() : in.getFileName().toString()));
            Int8Writer.write(out, m.config(), q, m.labels(), m.info().get("architecture"), extra, force);
            long[] sizes = Int8Writer.sizes(m.weights());
            long file = Files.size(out);
            System.out.printf("wrote %s: %.1f MB, %.1f%% of the F32 weights (%.1f MB); int8: %s; F32: biases, LayerNorms, tokens, position embeddings%s%n",
                    out, file / 1e6, 100.0 * file / sizes[0], sizes[0] / 1e6,
                    keepF32.isEmpty() ? "every Linear layer" : "the encoder blocks" + (keepF32.contains(Quantizer.Part.PATCH) ? "" : ", patch embedding")
                            + (keepF32.contains(Quantizer.Part.HEAD) ? "" : ", head"),
                    keepF32.isEmpty() ? "" : ", " + String.join(", ", keepF32.stream().map(p -> p == Quantizer.Part.PATCH ? "patch embedding" : "head").toList()));
            return Exit.OK;
        } catch (FileAlreadyExistsException e) {
            throw new CliException(Exit.IO, out + ": exists (use --force to replace it)");
        } catch (ModelFormatException e) {
            throw new CliException(Exit.MODEL, e.getMessage());
        } catch (IOException e) {
            throw new CliException(Exit.IO, "cannot write " + out + ": " + firstLine(e.getMessage()) + " (nothing was written)");
        } catch (IllegalArgumentException e) {
            throw new CliException(Exit.MODEL, in + ": " + firstLine(e.getMessage()));
        }
    }

    private static String firstLine(String s) {
        return s == null ? "I/O error" : s.lines().findFirst().orElse(s);
    }

    static Set<Quantizer.Part> parts(java.util.List<String> names) {
        Set<Quantizer.Part> s = EnumSet.noneOf(Quantizer.Part.class);
        for (String n : names) {
            switch (n.trim().toLowerCase(Locale.ROOT)) {
                case "none", "" -> { }
                case "patch", "patch_embed", "patch-embedding" -> s.add(Quantizer.Part.PATCH);
                case "head", "heads", "classifier" -> s.add(Quantizer.Part.HEAD);
                default -> throw new CliException(Exit.USAGE, "--keep-fp32: unknown part '" + n + "' (patch, head or none)");
            }
        }
        return s;
    }

    /** The preprocessing recipe beside the input: preprocessor_config.json, else timm's pretrained_cfg; or null. */
    static JsonNode recipe(Path in) {
        Path dir = Files.isDirectory(in) ? in : in.toAbsolutePath().getParent();
        if (dir == null) return null;
        try {
            Path hf = dir.resolve("preprocessor_config.json");
            if (Files.isRegularFile(hf)) return io.jvit.loader.Json.read(hf);
            Path cfg = dir.resolve("config.json");
            if (Files.isRegularFile(cfg)) {
                JsonNode c = io.jvit.loader.Json.read(cfg);
                if (c.has("pretrained_cfg")) return c.get("pretrained_cfg");
                if (c.has("input_size")) return c;
            }
        } catch (IOException e) {
            throw new CliException(Exit.MODEL, dir + ": preprocessing recipe is not valid JSON: " + firstLine(e.getMessage()));
        }
        return null;
    }
}
