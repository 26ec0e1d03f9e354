package io.jvit.loader.image;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/** Locates fixtures/ (tools/make_preprocess_fixtures.py writes fixtures/images and fixtures/preprocess). */
final class Fixtures {
    private Fixtures() {
    }

    static Path root() {
        String prop = System.getProperty("jvit.root");
        if (prop != null && Files.isDirectory(Paths.get(prop, "fixtures", "preprocess"))) {
            return Paths.get(prop, "fixtures");
        }
        for (Path p = Paths.get("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isDirectory(p.resolve("fixtures/preprocess"))) {
                return p.resolve("fixtures");
            }
        }
        throw new IllegalStateException("fixtures/preprocess not found (run tools/make_preprocess_fixtures.py)");
    }

    static Path path(String rel) {
        return root().resolve(rel);
    }

    static Path image(String name) {
        return root().resolve("images").resolve(name);
    }

    static JsonNode index() {
        try {
            return new ObjectMapper().readTree(path("preprocess/index.json").toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static byte[] bytes(String rel) {
        try {
            return Files.readAllBytes(path(rel));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static float[] floats(String rel) {
        byte[] b = bytes(rel);
        float[] f = new float[b.length / 4];
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
        return f;
    }

    /** mean and max |a - b| over unsigned bytes, and the fraction of equal values. */
    record Diff(double mean, int max, double equal) {
        static Diff of(byte[] a, byte[] b) {
            if (a.length != b.length) {
                throw new AssertionError("lengths differ: " + a.length + " vs " + b.length);
            }
            long sum = 0;
            int max = 0, eq = 0;
            for (int i = 0; i < a.length; i++) {
                int d = Math.abs((a[i] & 0xFF) - (b[i] & 0xFF));
                sum += d;
                max = Math.max(max, d);
                if (d == 0) {
                    eq++;
                }
            }
            return new Diff((double) sum / a.length, max, (double) eq / a.length);
        }

        @Override
        public String toString() {
            return String.format(java.util.Locale.ROOT, "mean %.4f/255, max %d/255, %.2f%% equal", mean, max, 100 * equal);
        }
    }
}
