package io.jvit.loader.onnx;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.protobuf.ByteString;
import io.jvit.engine.ViTModel;
import io.jvit.engine.VisionTransformer;
import io.jvit.loader.LoadOptions;
import io.jvit.loader.ModelFormatException;
import io.jvit.loader.onnx.proto.Onnx;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Never a wrong answer: fixtures/onnx_extra/mutants.json (tools/make_onnx_extra.py) holds seeded
 * single-point mutations of the fixture graphs (a Transpose perm, an axis, an integer or float
 * constant, swapped or rewired inputs) with each mutant's own logits from a numpy ONNX interpreter,
 * or "error" where the mutated graph no longer evaluates to [batch, 10] logits. jvit must refuse a
 * mutant with a one-line ModelFormatException, or run it and reproduce the numpy logits at batch 3
 * and 1 (within 1e-4 x max|logit|); an invalid mutant must be refused.
 */
class OnnxMutantsTest {
    @TempDir
    Path tmp;

    @Test
    void everyMutantIsRefusedOrRightAnswer() throws Exception {
        JsonNode all = Fixtures.json(Fixtures.root().resolve("fixtures/onnx_extra/mutants.json")).get("mutants");
        Map<String, byte[]> bases = new HashMap<>();
        Map<String, float[]> inputs = new HashMap<>();
        int accepted = 0, refusedValid = 0, refusedInvalid = 0, k = 0;
        List<String> problems = new ArrayList<>();
        for (JsonNode m : all) {
            String base = m.get("base").asText();
            byte[] bytes = bases.computeIfAbsent(base, b -> read(Fixtures.onnxDir().resolve(b)));
            float[] input = inputs.computeIfAbsent(m.get("fixture").asText(),
                    f -> Fixtures.floats(Fixtures.root().resolve("fixtures").resolve(f).resolve("input.bin")));
            Onnx.ModelProto.Builder b = Onnx.ModelProto.parseFrom(bytes).toBuilder();
            apply(b, m.get("mutation"));
            Path file = tmp.resolve("mutant" + (k++) + ".onnx");
            Files.write(file, b.build().toByteArray());
            String what = base + " " + m.get("op").asText() + " '" + m.get("name").asText() + "' " + m.get("mutation");
            String expect = m.get("expect").asText();
            ViTModel model;
            try {
                model = OnnxLoader.load(file, LoadOptions.DEFAULT);
            } catch (ModelFormatException e) {
                assertFalse(e.getMessage().contains("\n"), e.getMessage());
                if (expect.equals("logits")) {
                    refusedValid++;
                    if (Boolean.getBoolean("jvit.onnx.verbose")) System.out.println("refused valid " + what + "\n    " + e.getMessage().substring(e.getMessage().indexOf(": ") + 2));
                }
                else refusedInvalid++;
                continue;
            }
            try (model; VisionTransformer vt = new VisionTransformer(model, 1)) {
                accepted++;
                if (expect.equals("error")) {
                    problems.add("accepted an invalid graph: " + what);
                    continue;
                }
                if (!expect.equals("logits")) continue;
                float[] ref3 = floats(m.get("logits3")), ref1 = floats(m.get("logits1"));
                String d3 = diff(ref3, vt.classify(input, 3)), d1 = diff(ref1, vt.classify(Arrays.copyOf(input, input.length / 3), 1));
                if (d3 != null || d1 != null) problems.add("wrong answer (" + (d3 != null ? d3 : d1) + "): " + what);
            }
        }
        System.out.printf("mutants: %d accepted and matched, %d valid ones refused, %d invalid ones refused%n",
                accepted - problems.size(), refusedValid, refusedInvalid);
        assertTrue(problems.isEmpty(), problems.size() + " problems:\n" + String.join("\n", problems));
        assertEquals(all.size(), accepted + refusedValid + refusedInvalid);
    }

    private static String diff(float[] ref, float[] got) {
        if (ref.length != got.length) return "length " + got.length + " vs " + ref.length;
        double max = 0, worst = 0;
        for (float v : ref) max = Math.max(max, Math.abs(v));
        for (int i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ref[i] - got[i]));
        return worst <= 1e-4 * max + 1e-6 ? null : String.format("max|diff| %.3g of max|logit| %.3g", worst, max);
    }

    private static float[] floats(JsonNode a) {
        float[] f = new float[a.size()];
        for (int i = 0; i < f.length; i++) f[i] = (float) a.get(i).asDouble();
        return f;
    }

    private static byte[] read(Path p) {
        try {
            return Files.readAllBytes(p);
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The same edits as tools/make_onnx_extra.py's _apply, through protobuf-java. */
    static void apply(Onnx.ModelProto.Builder b, JsonNode mut) {
        Onnx.NodeProto.Builder n = b.getGraphBuilder().getNodeBuilder(mut.get("node").asInt());
        switch (mut.get("kind").asText()) {
            case "attr_ints", "attr_int" -> {
                String name = mut.get("name").asText();
                for (int i = n.getAttributeCount() - 1; i >= 0; i--) if (n.getAttribute(i).getName().equals(name)) n.removeAttribute(i);
                Onnx.AttributeProto.Builder a = Onnx.AttributeProto.newBuilder().setName(name);
                JsonNode v = mut.get("value");
                if (v.isArray()) {
                    a.setType(Onnx.AttributeProto.AttributeType.INTS);
                    for (JsonNode x : v) a.addInts(x.asLong());
                } else if (v.isFloatingPointNumber()) a.setType(Onnx.AttributeProto.AttributeType.FLOAT).setF((float) v.asDouble());
                else a.setType(Onnx.AttributeProto.AttributeType.INT).setI(v.asLong());
                n.addAttribute(a);
            }
            case "const" -> {
                boolean isFloat = mut.get("float").asBoolean();
                JsonNode vals = mut.get("value");
                ByteBuffer bb = ByteBuffer.allocate(vals.size() * (isFloat ? 4 : 8)).order(ByteOrder.LITTLE_ENDIAN);
                for (JsonNode x : vals) {
                    if (isFloat) bb.putFloat((float) x.asDouble());
                    else bb.putLong(x.asLong());
                }
                for (Onnx.AttributeProto.Builder a : n.getAttributeBuilderList()) {
                    if (!a.getName().equals("value")) continue;
                    Onnx.TensorProto.Builder t = Onnx.TensorProto.newBuilder().setName(a.getT().getName())
                            .setDataType(isFloat ? 1 : 7).setRawData(ByteString.copyFrom(bb.array()));
                    for (JsonNode d : mut.get("dims")) t.addDims(d.asLong());
                    a.setT(t);
                }
            }
            case "swap_inputs" -> {
                String i0 = n.getInput(0);
                n.setInput(0, n.getInput(1)).setInput(1, i0);
            }
            case "set_input" -> n.setInput(mut.get("slot").asInt(), mut.get("value").asText());
            default -> throw new IllegalArgumentException(mut.toString());
        }
    }
}
