package io.jvit.loader.onnx;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/** Paths and readers for the committed fixtures. */
final class Fixtures {
    private Fixtures() {}

    static Path root() {
        String p = System.getProperty("jvit.root");
        if (p != null && Files.isDirectory(Path.of(p, "fixtures"))) return Path.of(p);
        Path d = Path.of("").toAbsolutePath();
        while (d != null && !Files.isDirectory(d.resolve("fixtures"))) d = d.getParent();
        if (d == null) throw new IllegalStateException("cannot find the repository's fixtures/ folder (set -Djvit.root)");
        return d;
    }

    static Path onnxDir() { return root().resolve("fixtures/onnx"); }

    static JsonNode json(Path p) {
        try {
            return new ObjectMapper().readTree(p.toFile());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    static float[] floats(Path p) {
        try {
            ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
            float[] f = new float[b.remaining() / 4];
            b.asFloatBuffer().get(f);
            return f;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
