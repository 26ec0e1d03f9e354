package io.jvit.cli;

import io.jvit.loader.DType;
import io.jvit.loader.Int8Writer;
import io.jvit.loader.SafetensorsFile;
import io.jvit.loader.SafetensorsWriter;
import io.jvit.loader.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.*;

/** jvit quantize, and int8 files everywhere a model is taken; every bad input: one line, non-zero exit. */
class QuantizeCliTest {
    @TempDir
    Path tmp;

    static String model() { return CliTest.root().resolve("models/fashion-vit").toString(); }

    static void assertOneLineError(CliTest.Run r, int code, String... words) {
        assertEquals(code, r.code(), r.out() + r.err());
        String err = r.err().lines().filter(l -> !l.startsWith("WARNING")).reduce((a, b) -> a + "\n" + b).orElse("");
        assertEquals(1, err.lines().count(), "one line on stderr: " + err);
        assertTrue(err.startsWith("jvit: "), err);
        for (String w : words) assertTrue(err.contains(w), "'" + w + "' in: " + err);
    }

    private Path quantize() {
        Path out = tmp.resolve("fashion-int8.safetensors");
        CliTest.Run r = CliTest.run("quantize", model(), out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("wrote"), r.out());
        return out;
    }

    @Test
    void aHalfPrecisionModelKeepsItsUnquantizedLayersAsWidenedF32() throws Exception {
        Path in = CliTest.root().resolve("fixtures/hf_vit_f16");
        Path out = tmp.resolve("f16-int8.safetensors");
        CliTest.Run r = CliTest.run("quantize", "--keep-fp32", "patch,head", in.toString(), out.toString());
        assertEquals(0, r.code(), r.err());
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile src = SafetensorsFile.open(in.resolve("model.safetensors"), arena), st = SafetensorsFile.open(out, arena);
            Tensor h = src.get("vit.embeddings.patch_embeddings.projection.weight"), w = st.get("patch_embed.proj.weight");
            assertEquals(DType.F16, h.dtype());
            assertEquals(DType.F32, w.dtype());
            assertEquals(h.elements(), w.elements());
            for (long i = 0; i < h.elements(); i++)
                assertEquals(Float.float16ToFloat(h.data().getAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, i)),
                        w.data().getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, i), "element " + i);
            assertEquals(DType.I8, st.get("blocks.0.attn.qkv.weight").dtype());
        }
        CliTest.Run c = CliTest.run("classify", "--model", out.toString(), CliTest.root().resolve("samples/0-tshirt-top.png").toString());
        assertEquals(0, c.code(), c.err());
    }

    @Test
    void writesAnInt8FileThatLoadsEverywhere() throws Exception {
        Path out = quantize();
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile st = SafetensorsFile.open(out, arena);
            assertEquals(Int8Writer.SCHEME, st.metadata().get("jvit.quantization"));
            assertEquals("pt", st.metadata().get("format"));
            assertTrue(st.metadata().get("jvit.config").contains("\"heads\":4"), st.metadata().get("jvit.config"));
            assertTrue(st.metadata().get("jvit.config").contains("\"preprocessor\""), st.metadata().get("jvit.config"));
            assertEquals(DType.I8, st.get("blocks.0.attn.qkv.weight").dtype());
            assertEquals(DType.F32, st.get("blocks.0.attn.qkv.weight_scale").dtype());
            assertEquals(DType.I8, st.get("patch_embed.proj.weight").dtype());
            assertEquals(4, st.get("patch_embed.proj.weight").shape().length);
            assertEquals(DType.F32, st.get("blocks.0.norm1.weight").dtype());
        }
        CliTest.Run info = CliTest.run("info", out.toString());
        assertEquals(0, info.code(), info.err());
        assertTrue(info.out().contains("int8-per-channel-symmetric"), info.out());
        assertTrue(info.out().contains("from metadata"), info.out());
        // the same top-1 answers as the F32 model on the bundled samples (lower ranks may swap)
        Path samples = CliTest.root().resolve("samples").toRealPath();
        CliTest.Run fp = CliTest.run("classify", "--model", model(), "--json", samples.toString());
        CliTest.Run q = CliTest.run("classify", "--model", out.toString(), "--json", samples.toString());
        assertEquals(0, q.code(), q.err());
        List<String> a = fp.out().lines().map(l -> l.substring(0, l.indexOf(",\"label\""))).toList();
        List<String> b = q.out().lines().map(l -> l.substring(0, l.indexOf(",\"label\""))).toList();
        assertEquals(a, b);
        assertFalse(a.isEmpty());
    }

    @Test
    void refusesAnExistingOutputUnlessForced() throws Exception {
        Path out = tmp.resolve("exists.safetensors");
        Files.writeString(out, "precious");
        assertOneLineError(CliTest.run("quantize", model(), out.toString()), Exit.IO, "exists", "--force");
        assertEquals("precious", Files.readString(out));
        assertEquals(0, CliTest.run("quantize", "--force", model(), out.toString()).code());
        assertTrue(Files.size(out) > 100_000);
    }

    @Test
    void refusesAnAlreadyQuantizedModel() {
        Path out = quantize();
        assertOneLineError(CliTest.run("quantize", out.toString(), tmp.resolve("again.safetensors").toString()), Exit.MODEL, "already quantized");
        assertFalse(Files.exists(tmp.resolve("again.safetensors")));
    }

    @Test
    void onnxRuntimeQuantizedModelsLoadAndAreNotQuantizedAgain() {
        String onnx = CliTest.root().resolve("fixtures/int8/timm_vit_op17_s8c.onnx").toString();
        CliTest.Run info = CliTest.run("info", onnx);
        assertEquals(0, info.code(), info.err());
        assertTrue(info.out().contains("MatMulInteger"), info.out());
        assertOneLineError(CliTest.run("quantize", onnx, tmp.resolve("x.safetensors").toString()), Exit.MODEL, "already quantized");
    }

    @Test
    void badOptions() {
        Path out = tmp.resolve("o.safetensors");
        assertOneLineError(CliTest.run("quantize", "--scheme", "int4", model(), out.toString()), Exit.USAGE, "int4");
        assertOneLineError(CliTest.run("quantize", "--keep-fp32", "tail", model(), out.toString()), Exit.USAGE, "tail");
        assertOneLineError(CliTest.run("quantize", tmp.resolve("nope").toString(), out.toString()), Exit.MODEL, "nope");
        assertOneLineError(CliTest.run("quantize", model(), tmp.resolve("no/such/dir/x.safetensors").toString()), Exit.IO, "does not exist");
        assertFalse(Files.exists(out));
    }

    @Test
    void keepsPatchAndHeadInF32WhenAsked() throws Exception {
        Path out = tmp.resolve("keep.safetensors");
        assertEquals(0, CliTest.run("quantize", "--keep-fp32", "patch,head", model(), out.toString()).code());
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile st = SafetensorsFile.open(out, arena);
            assertEquals(DType.F32, st.get("patch_embed.proj.weight").dtype());
            assertEquals(DType.F32, st.get("head.weight").dtype());
            assertNull(st.get("head.weight_scale"));
            assertEquals(DType.I8, st.get("blocks.0.mlp.fc2.weight").dtype());
        }
        assertEquals(0, CliTest.run("info", out.toString()).code());
    }

    @Test
    void aFailureMidWriteLeavesNoFile() throws Exception {
        Path out = tmp.resolve("half.safetensors");
        System.setProperty("jvit.test.failWriteAfterBytes", "100000");
        try {
            assertOneLineError(CliTest.run("quantize", model(), out.toString()), Exit.IO, "nothing was written");
        } finally {
            System.clearProperty("jvit.test.failWriteAfterBytes");
        }
        try (var files = Files.list(tmp)) {
            assertEquals(List.of(), files.toList(), "no file, temporary or final, is left");
        }
    }

    /** Copies {@code src} with some tensors and metadata changed, as a broken int8 file would be. */
    private Path doctor(Path src, String name, UnaryOperator<Map<String, Tensor>> tensors, UnaryOperator<Map<String, String>> meta) throws Exception {
        Path out = tmp.resolve(name);
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile st = SafetensorsFile.open(src, arena);
            Map<String, Tensor> t = tensors.apply(new LinkedHashMap<>(st.tensors()));
            List<SafetensorsWriter.Entry> e = new ArrayList<>();
            for (Tensor x : t.values()) e.add(new SafetensorsWriter.Entry(x.name(), x.dtype(), x.shape(), x.data()));
            SafetensorsWriter.write(out, e, meta.apply(new LinkedHashMap<>(st.metadata())), false);
        }
        return out;
    }

    @Test
    void badInt8FilesAreRefusedInOneLine() throws Exception {
        Path good = quantize();
        Path noScale = doctor(good, "noscale.safetensors", t -> { t.remove("blocks.2.mlp.fc1.weight_scale"); return t; }, m -> m);
        assertOneLineError(CliTest.run("info", noScale.toString()), Exit.MODEL, "blocks.2.mlp.fc1.weight", "no scales");
        assertOneLineError(CliTest.run("classify", "--model", noScale.toString(), CliTest.root().resolve("samples").toRealPath().toString()),
                Exit.MODEL, "no scales");

        Path shortScale = doctor(good, "short.safetensors", t -> {
            Tensor s = t.get("blocks.0.attn.proj.weight_scale");
            t.put(s.name(), new Tensor(s.name(), s.dtype(), new long[] {s.shape()[0] - 1}, s.data().asSlice(0, s.data().byteSize() - 4)));
            return t;
        }, m -> m);
        assertOneLineError(CliTest.run("info", shortScale.toString()), Exit.MODEL, "blocks.0.attn.proj.weight_scale", "63", "64");

        Path unknown = doctor(good, "scheme.safetensors", t -> t, m -> { m.put("jvit.quantization", "int4-grouped"); return m; });
        assertOneLineError(CliTest.run("info", unknown.toString()), Exit.MODEL, "unknown quantization scheme", "int4-grouped");
    }
}
