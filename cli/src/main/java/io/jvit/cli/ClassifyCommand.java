package io.jvit.cli;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import io.jvit.loader.ImageClassifier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.PrintStream;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "classify", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Classify images: prints the top classes of each with softmax probabilities.",
                "PATHs are image files, folders (searched recursively) or globs."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:all images classified", "1:some images could not be read (each named on stderr)",
                "2:bad command line", "3:the model could not be loaded", "4:no images found"})
public final class ClassifyCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @picocli.CommandLine.ArgGroup(exclusive = false, heading = "%nPreprocessing (overrides the model's recipe):%n")
    ImagePipeline.Options prep = new ImagePipeline.Options();

    @Option(names = {"-k", "--top"}, paramLabel = "K", description = "How many classes to print per image (default ${DEFAULT-VALUE}).")
    int top = 5;

    @Option(names = "--json", description = "One JSON object per image: {\"file\", \"top\": [{\"index\", \"label\", \"score\"}]}.")
    boolean json;

    @Option(names = {"-b", "--batch"}, paramLabel = "B", description = "Images per forward pass (default ${DEFAULT-VALUE}).")
    int batch = 8;

    @Parameters(paramLabel = "PATH", arity = "1..*", description = "Image files, folders or globs.")
    List<String> paths;

    @Override
    public Integer call() throws IOException {
        if (top < 1) throw new CliException(Exit.USAGE, "--top must be >= 1, got " + top);
        if (batch < 1) throw new CliException(Exit.USAGE, "--batch must be >= 1, got " + batch);
        model.validate();
        Inputs.Expanded in = Inputs.expand(paths);
        PrintStream err = System.err;
        Inputs.filesOrFail(in, "classify", err);
        int failures = in.missing().size();
        try (ImageClassifier vit = model.open()) {
            ImagePipeline images = ImagePipeline.of(vit, prep == null ? new ImagePipeline.Options() : prep);
            Progress progress = new Progress(in.files().size());
            int done = 0;
            try (ImagePipeline.Batches batches = images.batches(in.files(), batch, model.threads)) {
                while (batches.hasNext()) {
                    ImagePipeline.Batch b = batches.next();
                    if (!b.errors().isEmpty()) progress.clear();
                    for (String e : b.errors()) err.println("jvit: " + e);
                    failures += b.errors().size();
                    List<Path> ok = b.ok();
                    if (!ok.isEmpty()) {
                        List<List<ImageClassifier.Prediction>> res = vit.rank(vit.logits(b.pixels(), ok.size(), images.size()), ok.size(), top);
                        progress.clear();
                        for (int i = 0; i < ok.size(); i++) print(ok.get(i), res.get(i));
                        System.out.flush();
                    }
                    done += ok.size() + b.errors().size();
                    progress.update(done);
                }
            }
            progress.clear();
        }
        return failures > 0 ? Exit.SOME_INPUTS_FAILED : Exit.OK;
    }

    private void print(Path file, List<ImageClassifier.Prediction> top) throws IOException {
        if (json) {
            StringWriter w = new StringWriter();
            try (JsonGenerator g = new JsonFactory().createGenerator(w)) {
                g.writeStartObject();
                g.writeStringField("file", file.toString());
                g.writeArrayFieldStart("top");
                for (ImageClassifier.Prediction p : top) {
                    g.writeStartObject();
                    g.writeNumberField("index", p.index());
                    g.writeStringField("label", p.label());
                    g.writeNumberField("score", p.score());
                    g.writeEndObject();
                }
                g.writeEndArray();
                g.writeEndObject();
            }
            System.out.println(w);
            return;
        }
        StringBuilder sb = new StringBuilder(file.toString()).append('\n');
        for (ImageClassifier.Prediction p : top)
            sb.append(String.format("  %6.2f%%  %s%n", p.score() * 100, labelled(p)));
        System.out.print(sb);
    }

    private static String labelled(ImageClassifier.Prediction p) {
        String idx = Integer.toString(p.index());
        return p.label().equals(idx) ? "class " + idx : p.label() + " (" + idx + ")";
    }
}
