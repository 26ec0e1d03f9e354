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
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
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
        if (out != null && !Files.isDirectory(out.toAbsolutePath().getParent()))
            throw new CliException(Exit.IO, "cannot write " + out + ": no folder " + out.toAbsolutePath().getParent());
        Inputs.Expanded in = Inputs.expand(paths);
        Inputs.filesOrFail(in, "embed", System.err);
        int failures = in.missing().size();
        try (ImageClassifier vit = model.open()) {
            ImagePipeline images = ImagePipeline.of(vit, prep == null ? new ImagePipeline.Options() : prep);
            int d = vit.config().width();
            try (Sink sink = new Sink(npy, d); ImagePipeline.Batches batches = images.batches(in.files(), batch, model.threads)) {
                while (batches.hasNext()) {
                    ImagePipeline.Batch b = batches.next();
                    for (String e : b.errors()) System.err.println("jvit: " + e);
                    failures += b.errors().size();
                    List<Path> ok = b.ok();
                    if (ok.isEmpty()) continue;
                    float[] f = vit.embed(b.pixels(), ok.size(), pool == Pooling.cls ? VisionTransformer.Pool.CLS : VisionTransformer.Pool.MEAN);
                    for (int i = 0; i < ok.size(); i++) sink.add(ok.get(i), f, i * d);
                }
                sink.finish();
            }
        }
        return failures > 0 ? Exit.SOME_INPUTS_FAILED : Exit.OK;
    }

    /**
     * Where the embeddings go, one at a time as they are computed (memory does not grow with the number of images):
     * stdout, or a temporary file beside --out moved into place by {@link #finish} once everything is written (no
     * file at all when no image could be embedded). A .npy file's header is written wide enough for any row count
     * and rewritten with the real one at the end; the file names go to FILE.npy.txt.
     */
    private final class Sink implements AutoCloseable {
        private final boolean npy;
        private final int d;
        private final Path tmp;
        private final OutputStream os;
        private final ByteBuffer row;
        private final StringBuilder names = new StringBuilder();
        /** The .npy header as first written: room for any row count, overwritten in place with the real one. */
        private final int headerBytes;
        private int rows;

        Sink(boolean npy, int d) {
            this.npy = npy;
            this.d = d;
            this.row = ByteBuffer.allocate(d * 4).order(ByteOrder.LITTLE_ENDIAN);
            byte[] header = npyHeader(Integer.MAX_VALUE, d);
            this.headerBytes = header.length;
            if (out == null) {
                tmp = null;
                os = null;
                return;
            }
            Path abs = out.toAbsolutePath();
            try {
                tmp = Files.createTempFile(abs.getParent(), "." + abs.getFileName(), ".part");
                os = new BufferedOutputStream(Files.newOutputStream(tmp));
                if (npy) os.write(header);
            } catch (IOException e) {
                throw new CliException(Exit.IO, "cannot write " + out + ": " + e.getMessage());
            }
        }

        void add(Path file, float[] features, int off) throws IOException {
            rows++;
            if (out == null) {
                System.out.println(jsonLine(file, features, off, d));
                return;
            }
            try {
                if (npy) {
                    row.clear();
                    row.asFloatBuffer().put(features, off, d);
                    os.write(row.array());
                    names.append(file).append('\n');
                } else {
                    os.write((jsonLine(file, features, off, d) + "\n").getBytes(StandardCharsets.UTF_8));
                }
            } catch (IOException e) {
                throw new CliException(Exit.IO, "cannot write " + out + ": " + e.getMessage());
            }
        }

        void finish() {
            if (out == null) return;
            try {
                os.close();
                if (rows == 0) {
                    Files.deleteIfExists(tmp);
                    return;
                }
                Path abs = out.toAbsolutePath();
                if (npy) {
                    try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                        ByteBuffer h = ByteBuffer.wrap(npyHeader(rows, d, headerBytes));
                        while (h.hasRemaining()) ch.write(h, h.position());
                    }
                    Files.writeString(Path.of(abs + ".txt"), names);
                }
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                throw new CliException(Exit.IO, "cannot write " + out + ": " + e.getMessage());
            }
        }

        /** The temporary file goes unless {@link #finish} moved it into place (an error on the way). */
        @Override
        public void close() {
            if (out == null) return;
            try {
                os.close();
            } catch (IOException ignored) {
                // the file is deleted anyway
            }
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // nothing more to do
            }
        }
    }

    static byte[] npyHeader(int rows, int cols) {
        return npyHeader(rows, cols, 0);
    }

    /** The .npy v1.0 header of a rows x cols float32 matrix, padded with spaces to at least {@code length} bytes (then to 64). */
    static byte[] npyHeader(int rows, int cols, int length) {
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + rows + ", " + cols + "), }";
        int total = Math.max(10 + dict.length() + 1, length);
        int pad = total - (10 + dict.length() + 1) + (64 - total % 64) % 64;
        String header = dict + " ".repeat(pad) + "\n";
        ByteBuffer b = ByteBuffer.allocate(10 + header.length()).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
        b.putShort((short) header.length()).put(header.getBytes(StandardCharsets.US_ASCII));
        return b.array();
    }

    private static String jsonLine(Path file, float[] v, int off, int n) throws IOException {
        StringWriter w = new StringWriter();
        try (JsonGenerator g = new JsonFactory().createGenerator(w)) {
            g.writeStartObject();
            g.writeStringField("file", file.toString());
            g.writeArrayFieldStart("embedding");
            for (int i = off; i < off + n; i++) g.writeNumber(v[i]);
            g.writeEndArray();
            g.writeEndObject();
        }
        return w.toString();
    }
}
