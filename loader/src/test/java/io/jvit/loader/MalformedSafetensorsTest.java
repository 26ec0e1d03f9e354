package io.jvit.loader;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/** Each way a safetensors file can lie gets a specific exception with one line naming the file (and tensor). */
class MalformedSafetensorsTest {
    @TempDir
    Path tmp;

    private static byte[] file(String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(data);
        return b.array();
    }

    private Path write(String name, byte[] bytes) throws IOException {
        Path p = tmp.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    private ModelFormatException fails(Path p) {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelLoader.load(p, LoadOptions.DEFAULT.withHeads(3)));
        assertTrue(e.getMessage().contains(p.toString()), "message names the file: " + e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        return e;
    }

    @Test
    void truncatedFile() throws IOException {
        byte[] good = Files.readAllBytes(Fixtures.dir("tv_vit").resolve("model.safetensors"));
        Path p = write("truncated.safetensors", Arrays.copyOf(good, good.length - 100));
        assertTrue(fails(p).getMessage().contains("truncated"));
        assertTrue(fails(write("tiny.safetensors", new byte[] {1, 2, 3})).getMessage().contains("shorter than"));
    }

    @Test
    void headerLongerThanFile() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1000).put("{}      ".getBytes());
        assertTrue(fails(write("h.safetensors", b.array())).getMessage().contains("longer than the file"));
        ByteBuffer huge = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(200_000_000L).put("{}      ".getBytes());
        assertTrue(fails(write("huge.safetensors", huge.array())).getMessage().contains("exceeds the limit"));
    }

    @Test
    void overlappingAndOutOfRangeOffsets() throws IOException {
        String overlap = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
        ModelFormatException e = fails(write("o.safetensors", file(overlap, new byte[12])));
        assertTrue(e.getMessage().contains("overlap") && e.getMessage().contains("'b'"), e.getMessage());
        String gap = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}";
        assertTrue(fails(write("g.safetensors", file(gap, new byte[20]))).getMessage().contains("gap"));
        String beyond = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
        assertTrue(fails(write("r.safetensors", file(beyond, new byte[8]))).getMessage().contains("truncated"));
        String trailing = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        assertTrue(fails(write("t.safetensors", file(trailing, new byte[8]))).getMessage().contains("trailing"));
        String negative = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}";
        assertTrue(fails(write("n.safetensors", file(negative, new byte[4]))).getMessage().contains("invalid data_offsets"));
    }

    @Test
    void dtypeShapeLengthMismatch() throws IOException {
        String h = "{\"w\":{\"dtype\":\"F16\",\"shape\":[3,3],\"data_offsets\":[0,36]}}";
        ModelFormatException e = fails(write("m.safetensors", file(h, new byte[36])));
        assertTrue(e.getMessage().contains("'w'") && e.getMessage().contains("needs 18 bytes"), e.getMessage());
        String overflow = "{\"w\":{\"dtype\":\"F32\",\"shape\":[9223372036854775807,4],\"data_offsets\":[0,4]}}";
        assertTrue(fails(write("ov.safetensors", file(overflow, new byte[4]))).getMessage().contains("overflows"));
        String unknown = "{\"w\":{\"dtype\":\"F48\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        assertTrue(fails(write("u.safetensors", file(unknown, new byte[4]))).getMessage().contains("unknown dtype"));
    }

    @Test
    void headerNotJson() throws IOException {
        assertTrue(fails(write("j.safetensors", file("{not json at all", new byte[0]))).getMessage().contains("not valid JSON"));
        assertTrue(fails(write("k.safetensors", file("[1,2,3]   ", new byte[0]))).getMessage().contains("'{'"));
        String dup = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        assertTrue(fails(write("d.safetensors", file(dup, new byte[4]))).getMessage().contains("not valid JSON"));
    }

    @Test
    void missingTensor() throws IOException {
        // drop one encoder tensor from a real checkpoint by renaming it in the header (same length)
        byte[] good = Files.readAllBytes(Fixtures.dir("tv_vit").resolve("model.safetensors"));
        String s = new String(good, StandardCharsets.ISO_8859_1).replace("encoder_layer_1.ln_2.bias", "encoder_layer_1.ln_2.bia_");
        Path p = write("missing.safetensors", s.getBytes(StandardCharsets.ISO_8859_1));
        ModelFormatException e = fails(p);
        assertTrue(e.getMessage().contains("missing tensor 'encoder.layers.encoder_layer_1.ln_2.bias'"), e.getMessage());
    }

    @Test
    void nonVitCheckpoint() throws IOException {
        String h = "{\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},\"fc.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[16,20]}}";
        ModelFormatException e = fails(write("resnet.safetensors", file(h, new byte[20])));
        assertInstanceOf(UnsupportedModelException.class, e);
        assertTrue(e.getMessage().contains("not a ViT"), e.getMessage());
    }

    @Test
    void unsupportedWeightDtype() throws IOException {
        byte[] good = Files.readAllBytes(Fixtures.dir("hf_vit").resolve("model.safetensors"));
        ModelFormatException e = fails(writeWithDtype(good, "vit.layernorm.weight", "I32"));
        assertInstanceOf(UnsupportedModelException.class, e);
        assertTrue(e.getMessage().contains("dtype I32"), e.getMessage());
    }

    private Path writeWithDtype(byte[] good, String tensor, String dtype) throws IOException {
        String s = new String(good, StandardCharsets.ISO_8859_1);
        int i = s.indexOf("\"" + tensor + "\"");
        int d = s.indexOf("\"F32\"", i);
        s = s.substring(0, d) + "\"" + dtype + "\"" + s.substring(d + 5);
        return write("dtype.safetensors", s.getBytes(StandardCharsets.ISO_8859_1));
    }

    @Test
    void missingPathAndEmptyDirectory() throws IOException {
        assertThrows(ModelFormatException.class, () -> ModelLoader.load(tmp.resolve("nope.safetensors")));
        Path empty = Files.createDirectory(tmp.resolve("empty"));
        assertTrue(assertThrows(ModelFormatException.class, () -> ModelLoader.load(empty)).getMessage().contains("no model.safetensors"));
    }

    @Test
    void headsMustBeKnownForNonStandardBareFile() throws IOException {
        Path bare = write("odd.safetensors", Files.readAllBytes(Fixtures.dir("tv_vit").resolve("model.safetensors")));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelLoader.load(bare));
        assertTrue(e.getMessage().contains("--heads"), e.getMessage());
    }
}
