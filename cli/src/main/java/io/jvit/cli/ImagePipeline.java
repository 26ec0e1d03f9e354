package io.jvit.cli;

import io.jvit.loader.ImageClassifier;
import io.jvit.loader.image.ImageLoader;
import io.jvit.loader.image.Preprocessor;
import io.jvit.loader.image.Resample;
import io.jvit.loader.image.RgbImage;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.FutureTask;

/** Image files to model input: decode (Pillow's convert("RGB") semantics), then the model's recipe. */
final class ImagePipeline {
    /** Flags that override the model's preprocessing recipe. */
    static final class Options {
        @Option(names = "--size", paramLabel = "S", description = "Input size (square); other than the model's, the position embeddings are resampled.")
        int size;

        @Option(names = "--resample", paramLabel = "MODE", description = "Resampling: nearest, bilinear, bicubic, lanczos, box, hamming.")
        String resample;

        @Option(names = "--mean", paramLabel = "R,G,B", split = ",", description = "Normalisation mean per channel.")
        float[] mean;

        @Option(names = "--std", paramLabel = "R,G,B", split = ",", description = "Normalisation std per channel.")
        float[] std;

        @Option(names = "--max-pixels", paramLabel = "N", description = "Refuse images larger than this before decoding them (default ${DEFAULT-VALUE}).")
        long maxPixels = 100_000_000L;

        @Option(names = "--no-exif-rotate", description = "Ignore the EXIF orientation of photos (Pillow's plain open ignores it too).")
        boolean noExif;
    }

    private final Preprocessor recipe;
    private final ImageLoader loader;
    private final int size;

    private ImagePipeline(Preprocessor recipe, ImageLoader loader, int size) {
        this.recipe = recipe;
        this.loader = loader;
        this.size = size;
    }

    static ImagePipeline of(ImageClassifier vit) {
        return of(vit, new Options());
    }

    static ImagePipeline of(ImageClassifier vit, Options o) {
        if (vit.config().channels() != 3)
            throw new CliException(Exit.MODEL, "the model takes " + vit.config().channels() + " channels; jvit feeds RGB images (3)");
        Preprocessor p = vit.preprocessor();
        int size = vit.config().imageSize();
        if (o.size != 0) {
            if (o.size < 0 || o.size % vit.config().patchSize() != 0)
                throw new CliException(Exit.USAGE, "--size must be a positive multiple of the patch size " + vit.config().patchSize() + ", got " + o.size);
            size = o.size;
            p = p.withSize(size, size);
        }
        if (o.resample != null) {
            try {
                p = p.withResample(Resample.fromName(o.resample));
            } catch (IllegalArgumentException e) {
                throw new CliException(Exit.USAGE, "--resample: " + e.getMessage());
            }
        }
        if (o.mean != null) {
            if (o.mean.length != 3) throw new CliException(Exit.USAGE, "--mean needs 3 values, got " + o.mean.length);
            p = p.withMean(o.mean);
        }
        if (o.std != null) {
            if (o.std.length != 3) throw new CliException(Exit.USAGE, "--std needs 3 values, got " + o.std.length);
            for (float v : o.std) if (!(v > 0)) throw new CliException(Exit.USAGE, "--std values must be positive");
            p = p.withStd(o.std);
        }
        if (o.maxPixels < 1) throw new CliException(Exit.USAGE, "--max-pixels must be >= 1");
        return new ImagePipeline(p, ImageLoader.DEFAULT.withMaxPixels(o.maxPixels).withExifTranspose(!o.noExif), size);
    }

    int size() { return size; }

    int pixelsPerImage() { return 3 * size * size; }

    Preprocessor recipe() { return recipe; }

    /** Decodes and preprocesses {@code file} into 3 x size x size floats; IOException with a one-line message. */
    float[] load(Path file) throws IOException {
        RgbImage img = loader.load(file);
        int[] hw = recipe.outputSize(img.width(), img.height());
        if (hw[0] != size || hw[1] != size)
            throw new IOException("the model's preprocessing gives " + hw[0] + "x" + hw[1] + " for this image, the model takes "
                    + size + "x" + size + " (use --size or a recipe with a crop)");
        return recipe.apply(img);
    }

    /** The images of one batch that loaded (their pixels, NCHW, in file order) and one line per file that did not. */
    record Batch(float[] pixels, List<Path> ok, List<String> errors) {}

    /**
     * The files in batches of {@code batch}, decoded on {@code threads} threads: a batch's images at once, and the
     * next batch while the caller runs this one. A 3 MP photo takes ~55 ms to decode and preprocess, longer than a
     * small model's forward pass, and one image at a time between passes left the other cores idle (48 such photos
     * with ViT-Ti/16 on 2 cores: 12.1 s and a 1.1 GB peak before, with {@link Batches#collectIfGrown}, 7.6-8.0 s and 344-361 MB).
     */
    Batches batches(List<Path> files, int batch, int threads) { return new Batches(files, batch, threads); }

    /** Heap in use above which {@link Batches} collects between batches. */
    private static final long GC_AT = 96L << 20;

    final class Batches implements AutoCloseable {
        private final List<Path> files;
        private final int batch;
        private final ExecutorService decoders;
        private int submitted;
        private List<FutureTask<float[]>> pending = new ArrayList<>();

        private Batches(List<Path> files, int batch, int threads) {
            this.files = files;
            this.batch = batch;
            // one thread asked for: decode on the caller's thread when the batch is taken, nothing alongside the model
            this.decoders = threads == 1 ? null : Executors.newFixedThreadPool(threads, r -> {
                Thread t = new Thread(r, "jvit-decode");
                t.setDaemon(true);
                return t;
            });
            submit();
        }

        boolean hasNext() { return !pending.isEmpty(); }

        /** The next batch, waiting for its images; the one after it starts decoding first. */
        Batch next() {
            List<FutureTask<float[]>> current = pending;
            int start = submitted - current.size();
            submit();
            int per = pixelsPerImage();
            float[] px = new float[current.size() * per];
            List<Path> ok = new ArrayList<>();
            List<String> errors = new ArrayList<>();
            for (int i = 0; i < current.size(); i++) {
                Path file = files.get(start + i);
                try {
                    if (decoders == null) current.get(i).run();
                    System.arraycopy(current.get(i).get(), 0, px, ok.size() * per, per);
                    ok.add(file);
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof IOException io)) {
                        if (e.getCause() instanceof RuntimeException r) throw r;
                        if (e.getCause() instanceof Error err) throw err;
                        throw new IllegalStateException(e.getCause());
                    }
                    String msg = io.getMessage();
                    errors.add(msg.startsWith(file.toString()) ? msg : file + ": " + msg);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while decoding images");
                }
            }
            collectIfGrown();
            return new Batch(ok.size() < current.size() ? Arrays.copyOf(px, ok.size() * per) : px, ok, errors);
        }

        /**
         * A decoded photo is tens of MB of short-lived arrays, each too large for the launcher's 2 MB young generation,
         * so they go straight to the old one, which the serial collector grows rather than collects: 48 photos of
         * 3 MP took the heap to 1 GB. Once the garbage of past batches passes GC_AT, one full collection frees it.
         */
        private void collectIfGrown() {
            Runtime rt = Runtime.getRuntime();
            if (rt.totalMemory() - rt.freeMemory() > GC_AT) System.gc();
        }

        private void submit() {
            int end = Math.min(files.size(), submitted + batch);
            pending = new ArrayList<>();
            for (int i = submitted; i < end; i++) {
                Path file = files.get(i);
                FutureTask<float[]> task = new FutureTask<>(() -> load(file));
                if (decoders != null) decoders.execute(task);
                pending.add(task);
            }
            submitted = end;
        }

        @Override
        public void close() {
            if (decoders != null) decoders.shutdownNow();
        }
    }
}
