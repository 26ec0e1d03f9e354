package io.jvit.loader;

import com.fasterxml.jackson.databind.JsonNode;
import io.jvit.engine.Int8Matmul;
import io.jvit.engine.Quantizer;
import io.jvit.engine.ViTModel;
import io.jvit.engine.ViTWeights;
import io.jvit.loader.image.Preprocessor;
import io.jvit.loader.image.RgbImage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The bundled Fashion-MNIST model quantized to int8 (written with {@link Int8Writer}, read back through
 * {@link ImageClassifier} like any model) over all 10,000 test images: accuracy within 0.5 point of the
 * F32 model's and the same prediction on >= 99% of images, with the default W8A32 kernels and with
 * dynamic activation quantization (W8A8).
 */
class Int8FashionMnistTest {
    @TempDir
    Path tmp;

    record Result(double accuracy, double agreement) {}

    static final class Data {
        final int n;
        final byte[] labels;
        final float[] inputs;   // n x 3 x 28 x 28, preprocessed with the model's recipe
        final int per;

        Data(Preprocessor recipe) throws Exception {
            JsonNode meta = Fixtures.meta("fashion");
            Path images = Path.of(meta.get("images").asText()), labelsFile = Path.of(meta.get("labels").asText());
            assertTrue(Files.isRegularFile(images), images + " is missing: install Debian's dataset-fashion-mnist (./run-tests does)");
            byte[] px = FashionMnistAccuracyTest.readIdx(images, 0x803);
            labels = FashionMnistAccuracyTest.readIdx(labelsFile, 0x801);
            n = meta.get("count").asInt();
            per = 3 * 28 * 28;
            inputs = new float[n * per];
            for (int i = 0; i < n; i++) {
                byte[] rgb = new byte[28 * 28 * 3];
                for (int p = 0; p < 28 * 28; p++) rgb[3 * p] = rgb[3 * p + 1] = rgb[3 * p + 2] = px[i * 784 + p];
                System.arraycopy(recipe.apply(new RgbImage(28, 28, rgb)), 0, inputs, i * per, per);
            }
        }
    }

    static int[] predict(ImageClassifier vit, Data d) {
        int batch = 100, classes = vit.config().numClasses();
        int[] pred = new int[d.n];
        for (int s = 0; s < d.n; s += batch) {
            float[] in = java.util.Arrays.copyOfRange(d.inputs, s * d.per, (s + batch) * d.per);
            float[] logits = vit.logits(in, batch);
            for (int i = 0; i < batch; i++) pred[s + i] = Fixtures.argmax(logits, i * classes, classes);
        }
        return pred;
    }

    static Result compare(int[] ref, int[] pred, byte[] labels) {
        int agree = 0, correct = 0;
        for (int i = 0; i < ref.length; i++) {
            if (ref[i] == pred[i]) agree++;
            if (pred[i] == labels[i]) correct++;
        }
        return new Result((double) correct / ref.length, (double) agree / ref.length);
    }

    /** Writes the bundled model quantized (keeping {@code keep} in F32) to a file, as {@code jvit quantize} does. */
    static Path quantized(Path dir, Set<Quantizer.Part> keep, String name) throws Exception {
        Path out = dir.resolve(name);
        try (ViTModel m = ModelLoader.load(Fixtures.root().resolve("models/fashion-vit")); Arena arena = Arena.ofConfined()) {
            ViTWeights q = Quantizer.quantize(m.weights(), keep, arena);
            Int8Writer.write(out, m.config(), q, m.labels(), m.info().get("architecture"), null, false);
        }
        return out;
    }

    static ImageClassifier open(Path p, Int8Matmul.Mode mode) throws Exception {
        String prev = System.getProperty(Int8Matmul.MODE_PROPERTY);
        System.setProperty(Int8Matmul.MODE_PROPERTY, mode.name());
        try {
            return ImageClassifier.open(p, LoadOptions.DEFAULT, 2);
        } finally {
            if (prev == null) System.clearProperty(Int8Matmul.MODE_PROPERTY);
            else System.setProperty(Int8Matmul.MODE_PROPERTY, prev);
        }
    }

    @Test
    void int8KeepsAccuracyOnTheWholeTestSet() throws Exception {
        Path q = quantized(tmp, EnumSet.noneOf(Quantizer.Part.class), "fashion-int8.safetensors");
        long fpSize = Files.size(Fixtures.root().resolve("models/fashion-vit/model.safetensors")), qSize = Files.size(q);
        try (ImageClassifier fp = ImageClassifier.open(Fixtures.root().resolve("models/fashion-vit"), LoadOptions.DEFAULT, 2)) {
            Data d = new Data(fp.preprocessor());
            int[] ref = predict(fp, d);
            Result base = compare(ref, ref, d.labels);
            for (Int8Matmul.Mode mode : Int8Matmul.Mode.values()) {
                try (ImageClassifier vit = open(q, mode)) {
                    assertEquals(Int8Writer.SCHEME, vit.info().get("quantization"));
                    assertEquals(fp.labels(), vit.labels());
                    assertEquals(fp.config(), vit.config());
                    Result r = compare(ref, predict(vit, d), d.labels);
                    System.out.printf("Fashion-MNIST int8 %s: accuracy %.4f (F32 %.4f, %+.2f points), agreement with F32 %.4f; file %d bytes (%.1f%% of F32), "
                                    + "packed weights %d bytes (%.1f%% of F32)%n", mode, r.accuracy, base.accuracy, 100 * (r.accuracy - base.accuracy),
                            r.agreement, qSize, 100.0 * qSize / fpSize, vit.engine().packedWeightBytes(),
                            100.0 * vit.engine().packedWeightBytes() / fp.engine().packedWeightBytes());
                    assertEquals(base.accuracy, r.accuracy, 0.005, mode + ": accuracy moved by more than 0.5 point");
                    assertTrue(r.agreement >= 0.99, mode + ": agreement with F32 " + r.agreement);
                }
            }
        }
    }

    /** The measurement behind the default of --keep-fp32 (run with -Djvit.int8.sweep=true). */
    @Test
    void keepFp32Sweep() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Boolean.getBoolean("jvit.int8.sweep"), "set -Djvit.int8.sweep=true to run");
        try (ImageClassifier fp = ImageClassifier.open(Fixtures.root().resolve("models/fashion-vit"), LoadOptions.DEFAULT, 2)) {
            Data d = new Data(fp.preprocessor());
            int[] ref = predict(fp, d);
            System.out.printf("F32 accuracy %.4f%n", compare(ref, ref, d.labels).accuracy);
            int i = 0;
            for (Set<Quantizer.Part> keep : java.util.List.of(EnumSet.noneOf(Quantizer.Part.class), EnumSet.of(Quantizer.Part.PATCH),
                    EnumSet.of(Quantizer.Part.HEAD), EnumSet.allOf(Quantizer.Part.class))) {
                Path q = quantized(tmp, keep, "sweep" + i++ + ".safetensors");
                for (Int8Matmul.Mode mode : Int8Matmul.Mode.values()) {
                    try (ImageClassifier vit = open(q, mode)) {
                        Result r = compare(ref, predict(vit, d), d.labels);
                        System.out.printf("keep %-14s %-5s accuracy %.4f agreement %.4f file %d bytes%n", keep, mode, r.accuracy, r.agreement, Files.size(q));
                    }
                }
            }
        }
    }
}
