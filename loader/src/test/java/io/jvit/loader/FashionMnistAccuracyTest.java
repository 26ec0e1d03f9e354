package io.jvit.loader;

import com.fasterxml.jackson.databind.JsonNode;
import io.jvit.loader.image.Preprocessor;
import io.jvit.loader.image.RgbImage;
import org.junit.jupiter.api.Test;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.zip.GZIPInputStream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The bundled model over all 10,000 Fashion-MNIST test images (Debian's dataset-fashion-mnist,
 * which ./run-tests installs): jvit agrees with PyTorch's predictions on >= 99.9% of images and
 * its accuracy is within 0.1 point of PyTorch's (logits from tools/train_fashion_vit.py).
 */
class FashionMnistAccuracyTest {

    static byte[] readIdx(Path gz, int magic) throws IOException {
        try (InputStream in = new GZIPInputStream(Files.newInputStream(gz)); DataInputStream d = new DataInputStream(in)) {
            int m = d.readInt();
            if (m != magic) throw new IOException(gz + ": idx magic " + m + ", expected " + magic);
            int n = d.readInt();
            int per = 1;
            for (int i = 0; i < (magic & 0xff) - 1; i++) per *= d.readInt();
            return d.readNBytes(n * per);
        }
    }

    static void checkSha(Path f, String expect) throws Exception {
        String got = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(f)));
        assertEquals(expect, got, f + " is not the file the reference logits were computed on");
    }

    @Test
    void agreesWithPyTorchOnTheWholeTestSet() throws Exception {
        JsonNode meta = Fixtures.meta("fashion");
        Path images = Path.of(meta.get("images").asText()), labelsFile = Path.of(meta.get("labels").asText());
        assertTrue(Files.isRegularFile(images), images + " is missing: install Debian's dataset-fashion-mnist (./run-tests does)");
        checkSha(images, meta.get("images_sha256").asText());
        byte[] px = readIdx(images, 0x803), labels = readIdx(labelsFile, 0x801);
        int n = meta.get("count").asInt(), classes = meta.get("classes").asInt();
        float[] ref = Fixtures.floats(Fixtures.dir("fashion").resolve("pytorch_logits.bin"));
        assertEquals(n * classes, ref.length);

        try (ImageClassifier vit = ImageClassifier.open(Fixtures.root().resolve("models/fashion-vit"), LoadOptions.DEFAULT, 2)) {
            Preprocessor recipe = vit.preprocessor();
            int size = vit.config().imageSize(), per = 3 * size * size, batch = 100;
            int agree = 0, correct = 0, refCorrect = 0;
            double maxDiff = 0, maxAbs = 0;
            for (int s = 0; s < n; s += batch) {
                float[] in = new float[batch * per];
                for (int i = 0; i < batch; i++) {
                    byte[] rgb = new byte[28 * 28 * 3];
                    for (int p = 0; p < 28 * 28; p++) rgb[3 * p] = rgb[3 * p + 1] = rgb[3 * p + 2] = px[(s + i) * 784 + p];
                    System.arraycopy(recipe.apply(new RgbImage(28, 28, rgb)), 0, in, i * per, per);
                }
                float[] logits = vit.logits(in, batch);
                for (int i = 0; i < batch; i++) {
                    int img = s + i;
                    int mine = Fixtures.argmax(logits, i * classes, classes), theirs = Fixtures.argmax(ref, img * classes, classes);
                    if (mine == theirs) agree++;
                    if (mine == labels[img]) correct++;
                    if (theirs == labels[img]) refCorrect++;
                    for (int c = 0; c < classes; c++) {
                        maxDiff = Math.max(maxDiff, Math.abs(logits[i * classes + c] - ref[img * classes + c]));
                        maxAbs = Math.max(maxAbs, Math.abs(ref[img * classes + c]));
                    }
                }
            }
            double acc = (double) correct / n, refAcc = (double) refCorrect / n;
            System.out.printf("Fashion-MNIST: jvit accuracy %.4f, PyTorch %.4f (recorded %.4f), agreement %.4f, max |logit diff| %.2e (max |logit| %.2f)%n",
                    acc, refAcc, meta.get("accuracy").asDouble(), (double) agree / n, maxDiff, maxAbs);
            assertEquals(meta.get("accuracy").asDouble(), refAcc, 1e-9, "reference logits and recorded accuracy disagree");
            assertTrue(agree >= 0.999 * n, "agreement with PyTorch " + agree + "/" + n);
            assertEquals(refAcc, acc, 0.001, "accuracy differs from PyTorch's by more than 0.1 point");
            assertTrue(maxDiff <= 1e-3 * Math.max(1, maxAbs), "max |logit diff| " + maxDiff);
        }
    }
}
