package io.jvit.cli;

import io.jvit.loader.ImageClassifier;
import io.jvit.loader.image.ImageLoader;
import io.jvit.loader.image.Preprocessor;
import io.jvit.loader.image.Resample;
import io.jvit.loader.image.RgbImage;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;

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

    /** Decodes and preprocesses {@code file} into {@code out} at {@code off}; IOException with a one-line message. */
    void load(Path file, float[] out, int off) throws IOException {
        RgbImage img = loader.load(file);
        int[] hw = recipe.outputSize(img.width(), img.height());
        if (hw[0] != size || hw[1] != size)
            throw new IOException("the model's preprocessing gives " + hw[0] + "x" + hw[1] + " for this image, the model takes "
                    + size + "x" + size + " (use --size or a recipe with a crop)");
        float[] chw = recipe.apply(img);
        System.arraycopy(chw, 0, out, off, chw.length);
    }
}
