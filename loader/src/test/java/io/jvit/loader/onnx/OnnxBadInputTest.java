package io.jvit.loader.onnx;

import com.google.protobuf.ByteString;
import io.jvit.engine.ViTModel;
import io.jvit.engine.VisionTransformer;
import io.jvit.loader.LoadOptions;
import io.jvit.loader.ModelFormatException;
import io.jvit.loader.UnsupportedModelException;
import io.jvit.loader.onnx.proto.Onnx;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Broken or unsupported files, each made here from a good fixture: every one must fail with a
 * ModelFormatException (or its UnsupportedModelException subclass) whose message is one line that
 * names the file and what is wrong, never another exception.
 */
class OnnxBadInputTest {
    @TempDir
    Path tmp;

    private static final Path GOOD = Fixtures.onnxDir().resolve("hf_vit_op14.onnx");
    private static final Path EXTERNAL = Fixtures.onnxDir().resolve("hf_vit_op17_external.onnx");
    private static final String EXTERNAL_DATA = "hf_vit_op17_external.data";

    private static ModelFormatException refused(Path file, String... expect) {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> OnnxLoader.load(file, LoadOptions.DEFAULT).close());
        String m = e.getMessage();
        assertFalse(m.contains("\n"), "multi-line message: " + m);
        assertTrue(m.startsWith(file.toString()), "message does not name the file: " + m);
        for (String s : expect) assertTrue(m.contains(s), "expected '" + s + "' in: " + m);
        return e;
    }

    private Path write(String name, byte[] bytes) throws IOException {
        Path p = tmp.resolve(name);
        Files.createDirectories(p.getParent());
        Files.write(p, bytes);
        return p;
    }

    private Path edit(Path src, String name, Consumer<Onnx.ModelProto.Builder> change) throws IOException {
        Onnx.ModelProto.Builder b = Onnx.ModelProto.parseFrom(Files.readAllBytes(src)).toBuilder();
        change.accept(b);
        return write(name, b.build().toByteArray());
    }

    /** The builder of the initializer with this name. */
    private static Onnx.TensorProto.Builder init(Onnx.ModelProto.Builder m, String name) {
        for (Onnx.TensorProto.Builder t : m.getGraphBuilder().getInitializerBuilderList()) if (t.getName().equals(name)) return t;
        throw new IllegalArgumentException(name);
    }

    @Test
    void truncatedFile() throws IOException {
        byte[] all = Files.readAllBytes(GOOD);
        refused(write("half.onnx", Arrays.copyOf(all, all.length / 2)), "truncated or corrupt");
        // wherever the cut falls, the answer is a one-line ModelFormatException
        for (int cut : new int[] {1, 7, 100, 4096, all.length / 3, all.length - 1000, all.length - 1})
            refused(write("cut" + cut + ".onnx", Arrays.copyOf(all, cut)));
    }

    @Test
    void notProtobuf() throws IOException {
        refused(write("empty.onnx", new byte[0]), "empty file");
        refused(write("text.onnx", "this is not an ONNX model\n".getBytes()), "not an ONNX model");
        byte[] png = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
        refused(write("image.onnx", png), "not an ONNX model");
        refused(write("json.onnx", "{\"model_type\": \"vit\"}".getBytes()), "not an ONNX model");
        refused(Fixtures.root().resolve("fixtures/hf_vit/model.safetensors"), "not an ONNX model");
        refused(tmp.resolve("nope.onnx"), "no such file");
    }

    @Test
    void initializerShorterThanItsShape() throws IOException {
        Path p = edit(GOOD, "short.onnx", m -> {
            Onnx.TensorProto.Builder t = init(m, "classifier.weight");
            t.setRawData(t.getRawData().substring(0, t.getRawData().size() / 2));
        });
        refused(p, "'classifier.weight'", "960 bytes", "needs 1920");
        Path q = edit(GOOD, "short_typed.onnx", m -> {
            Onnx.TensorProto.Builder t = init(m, "classifier.bias");
            t.clearRawData().addAllFloatData(java.util.List.of(1f, 2f, 3f));
        });
        refused(q, "'classifier.bias'", "3 values", "needs 10");
    }

    private Path externalCopy(String dirName, String location) throws IOException {
        Path d = tmp.resolve(dirName);
        Files.createDirectories(d);
        return edit(EXTERNAL, dirName + "/model.onnx", m -> {
            for (Onnx.TensorProto.Builder t : m.getGraphBuilder().getInitializerBuilderList())
                for (Onnx.StringStringEntryProto.Builder e : t.getExternalDataBuilderList())
                    if (e.getKey().equals("location")) e.setValue(location);
        });
    }

    @Test
    void externalDataOutsideTheFolder() throws IOException {
        Files.copy(Fixtures.onnxDir().resolve(EXTERNAL_DATA), tmp.resolve("outside.data"));
        refused(externalCopy("up", "../outside.data"), "outside the model's folder");
        refused(externalCopy("deep", "sub/../../outside.data"), "outside the model's folder");
        refused(externalCopy("abs", tmp.resolve("outside.data").toAbsolutePath().toString()), "absolute path");
        refused(externalCopy("etc", "/etc/passwd"), "absolute path");
        Path link = externalCopy("link", "link.data");
        Files.createSymbolicLink(link.resolveSibling("link.data"), tmp.resolve("outside.data"));
        refused(link, "a link that leads outside");
    }

    @Test
    void externalDataMissingOrShort() throws IOException {
        Path lone = tmp.resolve("lone/model.onnx");
        Files.createDirectories(lone.getParent());
        Files.copy(EXTERNAL, lone);
        refused(lone, "external data file '" + EXTERNAL_DATA + "'", "is missing");
        Path d = tmp.resolve("shortdata");
        Files.createDirectories(d);
        Files.copy(EXTERNAL, d.resolve("model.onnx"));
        byte[] data = Files.readAllBytes(Fixtures.onnxDir().resolve(EXTERNAL_DATA));
        Files.write(d.resolve(EXTERNAL_DATA), Arrays.copyOf(data, data.length - 100));
        refused(d.resolve("model.onnx"), "of external file");
    }

    @Test
    void externalDataInASubfolderWorks() throws IOException {
        Path d = tmp.resolve("nested");
        Files.createDirectories(d.resolve("weights"));
        Files.copy(Fixtures.onnxDir().resolve(EXTERNAL_DATA), d.resolve("weights/w.data"));
        Path m = edit(EXTERNAL, "nested/model.onnx", b -> {
            for (Onnx.TensorProto.Builder t : b.getGraphBuilder().getInitializerBuilderList())
                for (Onnx.StringStringEntryProto.Builder e : t.getExternalDataBuilderList())
                    if (e.getKey().equals("location")) e.setValue("weights/./w.data");
        });
        try (ViTModel model = OnnxLoader.load(m, LoadOptions.DEFAULT)) {
            assertEquals("weights/./w.data", model.info().get("external_data"));
        }
    }

    @Test
    void unsupportedElementTypes() throws IOException {
        for (int type : new int[] {14, 8, 17, 22, 99}) {
            Path p = edit(GOOD, "type" + type + ".onnx", m -> init(m, "classifier.weight").setDataType(type));
            UnsupportedModelException e = assertInstanceOf(UnsupportedModelException.class, refused(p, "'classifier.weight'", "element type"));
            assertTrue(e.getMessage().contains(ElemType.onnxName(type)), e.getMessage());
        }
        // an integer tensor where a weight belongs
        Path p = edit(GOOD, "int.onnx", m -> {
            Onnx.TensorProto.Builder t = init(m, "classifier.weight");
            t.setDataType(6); // INT32, same byte size as FLOAT
        });
        refused(p, "not floating point");
    }

    @Test
    void inputThatIsNotAnImageBatch() throws IOException {
        Path p = edit(GOOD, "int_input.onnx", m -> m.getGraphBuilder().getInputBuilder(0).getTypeBuilder().getTensorTypeBuilder().setElemType(7));
        refused(p, "element type INT64");
        Path q = edit(GOOD, "two_outputs.onnx", m -> m.getGraphBuilder().addOutput(m.getGraph().getOutput(0).toBuilder().setName("extra")));
        refused(q, "2 outputs");
        Path r = edit(GOOD, "undefined.onnx", m -> m.getGraphBuilder().getNodeBuilder(5).setInput(0, "nowhere"));
        refused(r, "'nowhere'", "no node, input or initializer defines it");
    }

    /** The typed repeated fields (float_data...) instead of raw_data: identical logits. */
    @Test
    void typedFieldsGiveTheSameModel() throws Exception {
        Path p = edit(GOOD, "typed.onnx", m -> {
            for (Onnx.TensorProto.Builder t : m.getGraphBuilder().getInitializerBuilderList()) {
                if (t.getDataType() != 1) continue;
                ByteBuffer bb = t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                t.clearRawData();
                while (bb.remaining() >= 4) t.addFloatData(bb.getFloat());
            }
        });
        float[] input = Fixtures.floats(Fixtures.root().resolve("fixtures/hf_vit/input.bin"));
        try (ViTModel a = OnnxLoader.load(GOOD, LoadOptions.DEFAULT); ViTModel b = OnnxLoader.load(p, LoadOptions.DEFAULT);
             VisionTransformer va = new VisionTransformer(a, 2); VisionTransformer vb = new VisionTransformer(b, 2)) {
            assertTrue(Arrays.equals(va.classify(input, 3), vb.classify(input, 3)));
        }
    }

    /** float16 initializers (rounded like torch's .half()) reproduce the hf_vit_f16 fixture. */
    @Test
    void float16Initializers() throws Exception {
        Path p = edit(GOOD, "f16.onnx", m -> {
            for (Onnx.TensorProto.Builder t : m.getGraphBuilder().getInitializerBuilderList()) {
                if (t.getDataType() != 1) continue;
                ByteBuffer bb = t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                ByteBuffer out = ByteBuffer.allocate(bb.remaining() / 2).order(ByteOrder.LITTLE_ENDIAN);
                while (bb.remaining() >= 4) out.putShort(Float.floatToFloat16(bb.getFloat()));
                t.setDataType(10).setRawData(ByteString.copyFrom(out.array()));
            }
        });
        Path fx = Fixtures.root().resolve("fixtures/hf_vit_f16");
        float[] input = Fixtures.floats(fx.resolve("input.bin")), expect = Fixtures.floats(fx.resolve("logits.bin"));
        try (ViTModel model = OnnxLoader.load(p, LoadOptions.DEFAULT); VisionTransformer vt = new VisionTransformer(model, 2)) {
            OnnxFixtureTest.compare("hf_vit as float16 initializers", expect, vt.classify(input, 3), 3, 10);
        }
    }
}
