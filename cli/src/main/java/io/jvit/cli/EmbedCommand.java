package io.jvit.cli;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import io.jvit.engine.VisionTransformer;
import io.jvit.loader.ImageClassifier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "embed", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Image features for retrieval and clustering: the final-LayerNorm CLS token, or the mean of the patch tokens.",
                "Writes JSON lines ({\"file\", \"embedding\": [...]}) to stdout or --out FILE.jsonl, or a float32 .npy matrix",
                "(--out FILE.npy; its rows follow the file names listed in FILE.npy.txt)."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:ok", "1:some images could not be read", "2:bad command line", "3:the model could not be loaded",
                "4:no images, or the output exists / cannot be written"})
public final class EmbedCommand implements Callable<Integer> {
    enum Pooling { cls, mean }

    @Mixin
    ModelOptions model;

    @picocli.CommandLine.ArgGroup(exclusive = false, heading = "%nPreprocessing (overrides the model's recipe):%n")
    ImagePipeline.Options prep = new ImagePipeline.Options();

    @Option(names = "--pool", paramLabel = "cls|mean", description = "cls (default) or mean.")
    Pooling pool = Pooling.cls;

    @Option(names = {"-o", "--out"}, paramLabel = "FILE", description = "Output: .npy for a float32 matrix, anything else for JSON lines. Default: JSON lines on stdout.")
    Path out;

    @Option(names = "--force", description = "Overwrite an existing output file.")
    boolean force;

    @Option(names = {"-b", "--batch"}, paramLabel = "B", description = "Images per forward pass (default ${DEFAULT-VALUE}).")
    int batch = 8;

    @Parameters(paramLabel = "PATH", arity = "1..*", description = "Image files, folders or globs.")
    List<String> paths;

    @Override
    public Integer call() throws IOException {
        if (batch < 1) throw new CliException(Exit.USAGE, "--batch must be >= 1, got " + batch);
        model.validate();
        boolean npy = out != null && out.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".npy");
        if (out != null && Files.exists(out) && !force) throw new CliException(Exit.IO, out + " exists; pass --force to overwrite");
        if (out != null && Files.isDirectory(out)) throw new CliException(Exit.IO, out + " is a directory");
        Inputs.Expanded in = Inputs.expand(paths);
        for (Inputs.Missing m : in.missing()) System.err.println("jvit: " + m.path() + ": " + m.reason());
        if (in.files().isEmpty()) throw new CliException(Exit.IO, "no images to embed");
        int failures = in.missing().size();
        List<Path> done = new ArrayList<>();
        List<float[]> rows = new ArrayList<>();
        try (ImageClassifier vit = model.open()) {
            ImagePipeline images = ImagePipeline.of(vit, prep == null ? new ImagePipeline.Options() : prep);
            int d = vit.config().width();
            try (ImagePipeline.Batches batches = images.batches(in.files(), batch, model.threads)) {
                while (batches.hasNext()) {
                    ImagePipeline.Batch b = batches.next();
                    for (String e : b.errors()) System.err.println("jvit: " + e);
                    failures += b.errors().size();
                    List<Path> ok = b.ok();
                    if (ok.isEmpty()) continue;
                    float[] f = vit.embed(b.pixels(), ok.size(), pool == Pooling.cls ? VisionTransformer.Pool.CLS : VisionTransformer.Pool.MEAN);
                    for (int i = 0; i < ok.size(); i++) rows.add(java.util.Arrays.copyOfRange(f, i * d, (i + 1) * d));
                    done.addAll(ok);
                }
            }
            if (!done.isEmpty()) write(npy, done, rows, d);
        }
        return failures > 0 ? Exit.SOME_INPUTS_FAILED : Exit.OK;
    }

    private void write(boolean npy, List<Path> files, List<float[]> rows, int d) throws IOException {
        if (out == null) {
            for (int i = 0; i < files.size(); i++) System.out.println(jsonLine(files.get(i), rows.get(i)));
            return;
        }
        Path abs = out.toAbsolutePath();
        Path dir = abs.getParent();
        Path tmp = Files.createTempFile(dir, "." + abs.getFileName(), ".part");
        try {
            try (OutputStream os = new BufferedOutputStream(Files.newOutputStream(tmp))) {
                if (npy) {
                    os.write(npyHeader(rows.size(), d));
                    ByteBuffer b = ByteBuffer.allocate(d * 4).order(ByteOrder.LITTLE_ENDIAN);
                    for (float[] r : rows) {
                        b.clear();
                        b.asFloatBuffer().put(r);
                        os.write(b.array());
                    }
                } else {
                    for (int i = 0; i < files.size(); i++) os.write((jsonLine(files.get(i), rows.get(i)) + "\n").getBytes(StandardCharsets.UTF_8));
                }
            }
            if (npy) {
                StringBuilder names = new StringBuilder();
                for (Path f : files) names.append(f).append('\n');
                Files.writeString(Path.of(abs + ".txt"), names);
            }
            Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            Files.deleteIfExists(tmp);
            throw new CliException(Exit.IO, "cannot write " + out + ": " + e.getMessage());
        }
    }

    static byte[] npyHeader(int rows, int cols) {
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + rows + ", " + cols + "), }";
        int total = 10 + dict.length() + 1;
        int pad = (64 - total % 64) % 64;
        String header = dict + " ".repeat(pad) + "\n";
        ByteBuffer b = ByteBuffer.allocate(10 + header.length()).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
        b.putShort((short) header.length()).put(header.getBytes(StandardCharsets.US_ASCII));
        return b.array();
    }

    private static String jsonLine(Path file, float[] v) throws IOException {
        StringWriter w = new StringWriter();
        try (JsonGenerator g = new JsonFactory().createGenerator(w)) {
            g.writeStartObject();
            g.writeStringField("file", file.toString());
            g.writeArrayFieldStart("embedding");
            for (float x : v) g.writeNumber(x);
            g.writeEndArray();
            g.writeEndObject();
        }
        return w.toString();
    }
}
