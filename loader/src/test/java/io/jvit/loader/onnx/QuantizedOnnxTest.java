package io.jvit.loader.onnx;

import io.jvit.engine.Int8Matmul;
import io.jvit.engine.Linear;
import io.jvit.engine.ViTModel;
import io.jvit.engine.ViTWeights;
import io.jvit.engine.VisionTransformer;
import io.jvit.loader.Fixtures;
import io.jvit.loader.LoadOptions;
import io.jvit.loader.UnsupportedModelException;
import io.jvit.loader.onnx.proto.Onnx;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * ONNX models in the form of ONNX Runtime's quantize_dynamic (fixtures/int8, made by tools/make_int8_onnx.py)
 * imported into the int8 engine through {@link QuantizedMatMulPattern}: logits track the F32 fixture's, and
 * per-channel symmetric int8 weights come through bit-exact.
 */
class QuantizedOnnxTest {
    @TempDir
    Path tmp;

    static Path int8(String name) { return Fixtures.root().resolve("fixtures/int8").resolve(name); }

    /** Imports through OnnxLoader, whose hook rewrites the pattern and requantizes the blocks. */
    ViTModel load(Path quantized) throws Exception {
        Onnx.ModelProto m = Onnx.ModelProto.parseFrom(Files.readAllBytes(quantized));
        assertTrue(QuantizedMatMulPattern.count(m) > 0);
        ViTModel vm = OnnxLoader.load(quantized, LoadOptions.DEFAULT);
        assertTrue(vm.info().get("quantization").startsWith("int8"), vm.info().toString());
        return vm;
    }

    /**
     * The F32 weights dequantized from the int8 ones live only until they are requantized: then they are freed, and a
     * layer jvit keeps in F32 that still read them (here a head made of a dequantized matrix) is copied first.
     */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"timm_vit_op17_u8.onnx", "hf_vit_op17_s8c.onnx"})
    void theDequantizedWeightsAreFreedOnceRequantized(String file) throws Exception {
        try (OnnxFile f = OnnxFile.open(int8(file))) {
            ViTImporter imp = new ViTImporter(f);
            Values.Act out = imp.run();
            ViTAssembler asm = new ViTAssembler(f, imp);
            asm.build(out, LoadOptions.DEFAULT);
            ViTWeights w = asm.weights;
            Linear fc2 = w.blocks().get(0).fc2();
            assertTrue(f.holdsDequantized());
            assertTrue(fc2.weightSegments().stream().allMatch(f::isDequantized), "fc2 is not read from the dequantized weights");
            float[] expect = new float[fc2.inFeatures()];
            fc2.rowF32(3, 0, expect, expect.length);
            ViTWeights q = QuantizedMatMulPattern.requantize(w, f.arena);
            ViTWeights withF32Head = new ViTWeights(q.patchEmbedding(), q.classToken(), q.distillationToken(), q.positionEmbedding(),
                    q.blocks(), q.finalNorm(), q.preLogits(), fc2, q.distillationHead());
            ViTWeights kept = f.dropDequantized(withF32Head);
            assertFalse(f.holdsDequantized());
            Linear head = kept.head();
            assertEquals(Linear.DType.F32, head.dtype());
            assertTrue(head.weight().scope().isAlive());
            float[] got = new float[head.inFeatures()];
            head.rowF32(3, 0, got, got.length);
            assertArrayEquals(expect, got, "the copied head differs");
            for (var b : kept.blocks())
                for (Linear l : java.util.List.of(b.qkv(), b.proj(), b.fc1(), b.fc2()))
                    for (var seg : l.weightSegments()) assertTrue(seg.scope().isAlive());
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"timm_vit_op17_u8.onnx,timm_vit,W8A32", "timm_vit_op17_s8c.onnx,timm_vit,W8A32", "hf_vit_op17_u8.onnx,hf_vit,W8A32",
            "hf_vit_op17_s8c.onnx,hf_vit,W8A32", "timm_vit_op17_s8c.onnx,timm_vit,W8A8", "hf_vit_op17_u8.onnx,hf_vit,W8A8"})
    void importsAndTracksTheF32Logits(String file, String fixture, Int8Matmul.Mode mode) throws Exception {
        float[] input = Fixtures.floats(Fixtures.dir(fixture).resolve("input.bin"));
        float[] ref = Fixtures.floats(Fixtures.dir(fixture).resolve("logits.bin"));
        try (ViTModel fm = load(int8(file)); Arena arena = Arena.ofShared()) {
            ViTWeights q = QuantizedMatMulPattern.requantize(fm.weights(), arena);
            assertEquals(Linear.DType.I8, q.blocks().get(0).qkv().dtype());
            assertEquals(Linear.DType.I8, q.blocks().get(1).fc2().dtype());
            ViTModel qm = new ViTModel(fm.config(), q, fm.labels(), fm.info(), null);
            String prev = System.getProperty(Int8Matmul.MODE_PROPERTY);
            System.setProperty(Int8Matmul.MODE_PROPERTY, mode.name());
            float[] got;
            try (VisionTransformer vit = new VisionTransformer(qm, 2)) {
                got = vit.classify(input, ref.length / fm.config().numClasses());
            } finally {
                if (prev == null) System.clearProperty(Int8Matmul.MODE_PROPERTY);
                else System.setProperty(Int8Matmul.MODE_PROPERTY, prev);
            }
            double dot = 0, na = 0, nb = 0, maxAbs = 0, maxDiff = 0;
            for (int i = 0; i < ref.length; i++) {
                dot += ref[i] * got[i];
                na += ref[i] * ref[i];
                nb += got[i] * got[i];
                maxAbs = Math.max(maxAbs, Math.abs(ref[i]));
                maxDiff = Math.max(maxDiff, Math.abs(ref[i] - got[i]));
            }
            double cos = dot / Math.sqrt(na * nb);
            System.out.printf("%s %s: cosine to F32 logits %.5f, max |diff| %.3f (max |logit| %.2f)%n", file, mode, cos, maxDiff, maxAbs);
            assertTrue(cos > 0.99, file + ": cosine " + cos);
            assertTrue(maxDiff < 0.1 * maxAbs, file + ": max |diff| " + maxDiff);
        }
    }

    @Test
    void perChannelSymmetricWeightsComeThroughExactly() throws Exception {
        Onnx.ModelProto m = Onnx.ModelProto.parseFrom(Files.readAllBytes(int8("timm_vit_op17_s8c.onnx")));
        // the first MatMulInteger is block 0's qkv projection; its weight's scale is the Mul's other operand
        String wName = null;
        for (Onnx.NodeProto n : m.getGraph().getNodeList())
            if (n.getOpType().equals("MatMulInteger")) { wName = n.getInput(1); break; }
        String base = wName.substring(0, wName.length() - "_quantized".length());
        Onnx.TensorProto wq = null, ws = null;
        for (Onnx.TensorProto t : m.getGraph().getInitializerList()) {
            if (t.getName().equals(wName)) wq = t;
            if (t.getName().equals(base + "_scale")) ws = t;
        }
        assertNotNull(wq, "fixture has the timm qkv weight");
        int k = (int) wq.getDims(0), n = (int) wq.getDims(1);
        int[] q = QuantizedMatMulPattern.ints(wq, "test");
        float[] s = QuantizedMatMulPattern.floats(ws, "test");
        try (ViTModel fm = load(int8("timm_vit_op17_s8c.onnx")); Arena arena = Arena.ofConfined()) {
            Linear l = QuantizedMatMulPattern.requantize(fm.weights(), arena).blocks().get(0).qkv();
            assertEquals(n, l.outFeatures());
            assertEquals(k, l.inFeatures());
            for (int o = 0; o < n; o++) {
                assertEquals(s[o], l.scales().getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, o), Math.ulp(s[o]), "scale " + o);
                for (int i = 0; i < k; i++)
                    assertEquals(q[i * n + o], l.weight().get(ValueLayout.JAVA_BYTE, (long) o * k + i), "q[" + o + "][" + i + "]");
            }
        }
    }

    @Test
    void aMatMulIntegerOutsideThePatternIsRefusedInOneLine() throws Exception {
        Onnx.ModelProto m = Onnx.ModelProto.parseFrom(Files.readAllBytes(int8("timm_vit_op17_u8.onnx")));
        Onnx.GraphProto.Builder g = m.getGraph().toBuilder();
        for (int i = 0; i < g.getNodeCount(); i++)
            if (g.getNode(i).getOpType().equals("MatMulInteger")) {
                g.setNode(i, g.getNode(i).toBuilder().setInput(0, m.getGraph().getInput(0).getName()));
                break;
            }
        Onnx.ModelProto bad = m.toBuilder().setGraph(g).build();
        UnsupportedModelException e = assertThrows(UnsupportedModelException.class, () -> QuantizedMatMulPattern.rewrite(bad));
        assertTrue(e.getMessage().contains("MatMulInteger") && e.getMessage().contains("DynamicQuantizeLinear"), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
    }

    @Test
    void aFloatModelIsLeftAsItIs() throws Exception {
        Onnx.ModelProto m = Onnx.ModelProto.parseFrom(Files.readAllBytes(Fixtures.root().resolve("fixtures/onnx/timm_vit_op17.onnx")));
        assertSame(m, QuantizedMatMulPattern.rewrite(m));
    }
}
