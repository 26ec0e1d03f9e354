package io.jvit.bench;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes a minimal ONNX model by hand (protobuf wire format), so the tests can build models that do
 * not match the jvit fixture: one float input [N, c, s, s], ReduceMean over H and W, output [N, c].
 */
final class TinyOnnx {
    private TinyOnnx() {}

    static Path reduceMean(Path dir, String name, int channels, int size) throws IOException {
        byte[] graph = msg(
                field(1, msg(                                   // node
                        str(1, "x"), str(2, "y"), str(3, "reduce"), str(4, "ReduceMean"),
                        field(5, msg(str(1, "axes"), varint(8, 2), varint(8, 3), varint(20, 7))),       // ints
                        field(5, msg(str(1, "keepdims"), varint(3, 0), varint(20, 2))))),              // int
                str(2, "tiny"),
                field(11, valueInfo("x", new Object[] {"N", channels, size, size})),
                field(12, valueInfo("y", new Object[] {"N", channels})));
        byte[] model = msg(varint(1, 8), str(2, "jvit-test"), field(7, graph), field(8, msg(str(1, ""), varint(2, 17))));
        Path p = dir.resolve(name);
        Files.write(p, model);
        return p;
    }

    private static byte[] valueInfo(String name, Object[] dims) {
        ByteArrayOutputStream shape = new ByteArrayOutputStream();
        for (Object d : dims) {
            byte[] dim = d instanceof String s ? str(2, s) : varint(1, (Integer) d);
            shape.writeBytes(field(1, dim));
        }
        byte[] tensor = msg(varint(1, 1), field(2, shape.toByteArray()));
        return msg(str(1, name), field(2, msg(field(1, tensor))));
    }

    private static byte[] msg(byte[]... parts) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        for (byte[] p : parts) o.writeBytes(p);
        return o.toByteArray();
    }

    private static byte[] field(int no, byte[] body) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        writeVarint(o, (long) no << 3 | 2);
        writeVarint(o, body.length);
        o.writeBytes(body);
        return o.toByteArray();
    }

    private static byte[] str(int no, String s) { return field(no, s.getBytes(StandardCharsets.UTF_8)); }

    private static byte[] varint(int no, long v) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        writeVarint(o, (long) no << 3);
        writeVarint(o, v);
        return o.toByteArray();
    }

    private static void writeVarint(ByteArrayOutputStream o, long v) {
        while ((v & ~0x7FL) != 0) {
            o.write((int) ((v & 0x7F) | 0x80));
            v >>>= 7;
        }
        o.write((int) v);
    }
}
