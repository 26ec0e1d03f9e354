package io.jvit.loader.onnx;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import io.jvit.engine.EncoderBlock;
import io.jvit.engine.Quantizer;
import io.jvit.engine.ViTWeights;
import io.jvit.loader.UnsupportedModelException;
import io.jvit.loader.onnx.proto.Onnx;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Recognises the graphs ONNX Runtime's {@code quantize_dynamic} makes of a MatMul with a constant weight:
 * <pre>
 *   x -> DynamicQuantizeLinear -> (xq, xs, xzp)
 *   MatMulInteger(xq, Wq, xzp, Wzp) -> Cast(to FLOAT) -> Mul(., Mul(xs, Ws)) -> y      (either operand order)
 * </pre>
 * with Wq int8 or uint8, per tensor or per output column, with or without a zero point, and rewrites each
 * into {@code MatMul(x, W)} on the dequantized weight W = (Wq - Wzp) * Ws, an F32 initializer: the float
 * graph {@link ViTImporter} recognises. The activation quantization is dropped (jvit quantizes activations
 * itself when asked, per row: see Int8Matmul). After import, {@link #requantize} turns the encoder blocks'
 * Linear layers back into int8 with one symmetric scale per output channel: exact for per-channel symmetric
 * int8 weights (each channel's largest |q| is 127, so the scale and every q come back unchanged); for
 * per-tensor or asymmetric (uint8, zero point) weights, (q - zp) may span up to 255 steps and is rounded onto
 * the per-channel grid (the error is at most half a step of that grid). Heads and the patch embedding keep
 * their F32 weights.
 * <p>
 * Hook (in OnnxLoader, 2 lines): {@code model = QuantizedMatMulPattern.rewrite(model)} before the
 * importer reads the graph, and {@code if (QuantizedMatMulPattern.count(original) > 0) weights =
 * QuantizedMatMulPattern.requantize(weights, arena)} on the assembled weights.
 */
public final class QuantizedMatMulPattern {
    private QuantizedMatMulPattern() {}

    /** How many MatMulInteger nodes the graph holds. */
    public static int count(Onnx.ModelProto m) {
        int n = 0;
        for (Onnx.NodeProto p : m.getGraph().getNodeList()) if (p.getOpType().equals("MatMulInteger")) n++;
        return n;
    }

    /**
     * The model with every quantize_dynamic MatMul pattern replaced by a float MatMul; the same model when
     * there is none. A MatMulInteger outside the pattern is refused with one line.
     */
    public static Onnx.ModelProto rewrite(Onnx.ModelProto m) throws UnsupportedModelException {
        return rewrite(m, Arena.ofAuto());
    }

    /**
     * {@link #rewrite(Onnx.ModelProto)} with the dequantized weights in {@code arena}, off the heap: the caller closes
     * it once the weights are requantized ({@link OnnxFile} does), so the F32 round trip is not kept.
     */
    static Onnx.ModelProto rewrite(Onnx.ModelProto m, Arena arena) throws UnsupportedModelException {
        if (count(m) == 0) return m;
        Onnx.GraphProto g = m.getGraph();
        Map<String, Onnx.TensorProto> inits = new HashMap<>();
        for (Onnx.TensorProto t : g.getInitializerList()) inits.put(t.getName(), t);
        Map<String, Onnx.NodeProto> producer = new HashMap<>();
        Map<String, List<Onnx.NodeProto>> consumers = new HashMap<>();
        for (Onnx.NodeProto n : g.getNodeList()) {
            for (String o : n.getOutputList()) producer.put(o, n);
            for (String i : n.getInputList()) consumers.computeIfAbsent(i, k -> new ArrayList<>()).add(n);
        }
        Set<Onnx.NodeProto> drop = new HashSet<>();
        Map<Onnx.NodeProto, Onnx.NodeProto> replace = new HashMap<>();
        List<Dequantize> jobs = new ArrayList<>();
        for (Onnx.NodeProto mm : g.getNodeList()) {
            if (!mm.getOpType().equals("MatMulInteger")) continue;
            String where = "node '" + (mm.getName().isEmpty() ? mm.getOutput(0) : mm.getName()) + "' (MatMulInteger)";
            Onnx.NodeProto dql = producer.get(mm.getInput(0));
            if (dql == null || !dql.getOpType().equals("DynamicQuantizeLinear") || !dql.getOutput(0).equals(mm.getInput(0)))
                throw refuse(where, "its input A does not come from DynamicQuantizeLinear");
            if (mm.getInputCount() > 2 && !mm.getInput(2).isEmpty() && !mm.getInput(2).equals(dql.getOutput(2)))
                throw refuse(where, "A's zero point is not DynamicQuantizeLinear's");
            Onnx.TensorProto wq = inits.get(mm.getInput(1));
            if (wq == null) throw refuse(where, "its weight B is not an initializer");
            Onnx.TensorProto wzp = mm.getInputCount() > 3 && !mm.getInput(3).isEmpty() ? inits.get(mm.getInput(3)) : null;
            if (mm.getInputCount() > 3 && !mm.getInput(3).isEmpty() && wzp == null) throw refuse(where, "B's zero point is not an initializer");
            Onnx.NodeProto cast = only(consumers.get(mm.getOutput(0)));
            if (cast == null || !cast.getOpType().equals("Cast") || attrInt(cast, "to") != Onnx.TensorProto.DataType.FLOAT_VALUE)
                throw refuse(where, "its output is not only cast to float");
            Onnx.NodeProto mul = only(consumers.get(cast.getOutput(0)));
            if (mul == null || !mul.getOpType().equals("Mul")) throw refuse(where, "the cast is not only multiplied by the scales");
            String other = mul.getInput(0).equals(cast.getOutput(0)) ? mul.getInput(1) : mul.getInput(0);
            Onnx.NodeProto scales = producer.get(other);
            if (scales == null || !scales.getOpType().equals("Mul")) throw refuse(where, "the output scale is not Mul(x_scale, w_scale)");
            String ws;
            if (scales.getInput(0).equals(dql.getOutput(1))) ws = scales.getInput(1);
            else if (scales.getInput(1).equals(dql.getOutput(1))) ws = scales.getInput(0);
            else throw refuse(where, "the output scale does not use DynamicQuantizeLinear's scale");
            Onnx.TensorProto wscale = inits.get(ws);
            if (wscale == null) throw refuse(where, "the weight scale is not an initializer");

            jobs.add(new Dequantize(wq, wzp, wscale, where));
            replace.put(mm, Onnx.NodeProto.newBuilder().setOpType("MatMul").setName(mm.getName() + "_dequantized")
                    .addInput(dql.getInput(0)).addInput(dequantizedName(wq)).addOutput(mul.getOutput(0)).build());
            drop.add(cast);
            drop.add(mul);
        }
        // the weights dequantized in parallel (each its own rows of its own buffer)
        Onnx.TensorProto[] added = new Onnx.TensorProto[jobs.size()];
        UnsupportedModelException[] failed = new UnsupportedModelException[jobs.size()];
        java.util.stream.IntStream.range(0, jobs.size()).parallel().forEach(i -> {
            Dequantize j = jobs.get(i);
            try {
                added[i] = dequantize(j.wq, j.wzp, j.wscale, j.where, arena);
            } catch (UnsupportedModelException e) {
                failed[i] = e;
            }
        });
        for (UnsupportedModelException e : failed) if (e != null) throw e;   // the first in graph order
        Onnx.GraphProto.Builder gb = g.toBuilder().clearNode();
        for (Onnx.NodeProto n : g.getNodeList()) {
            if (drop.contains(n)) continue;
            gb.addNode(replace.getOrDefault(n, n));
        }
        gb.addAllInitializer(List.of(added));
        return m.toBuilder().setGraph(gb).build();
    }

    private static UnsupportedModelException refuse(String where, String why) {
        return new UnsupportedModelException(where + ": not the quantize_dynamic pattern jvit imports (" + why + ")");
    }

    private static Onnx.NodeProto only(List<Onnx.NodeProto> l) {
        return l != null && l.size() == 1 ? l.get(0) : null;
    }

    private static long attrInt(Onnx.NodeProto n, String name) {
        for (Onnx.AttributeProto a : n.getAttributeList()) if (a.getName().equals(name)) return a.getI();
        return -1;
    }

    /** Integer values of an int8/uint8 initializer (raw_data or int32_data). */
    static int[] ints(Onnx.TensorProto t, String where) throws UnsupportedModelException {
        int[] v = new int[Math.toIntExact(checkInts(t, where))];
        ints(t, 0, v);
        return v;
    }

    /** The number of values of an int8/uint8 initializer, refused with one line if it is anything else. */
    static long checkInts(Onnx.TensorProto t, String where) throws UnsupportedModelException {
        int type = t.getDataType();
        if (type != Onnx.TensorProto.DataType.INT8_VALUE && type != Onnx.TensorProto.DataType.UINT8_VALUE)
            throw refuse(where, "'" + t.getName() + "' is not int8 or uint8");
        if (t.getDataLocation() == Onnx.TensorProto.DataLocation.EXTERNAL)
            throw refuse(where, "'" + t.getName() + "' is stored in an external file");
        long n = 1;
        for (long d : t.getDimsList()) n *= d;
        long have = t.hasRawData() ? t.getRawData().size() : t.getInt32DataCount();
        if (have != n) throw refuse(where, "'" + t.getName() + "' holds " + have + (t.hasRawData() ? " bytes" : " values") + " for " + n + " values");
        return n;
    }

    /** Values [from, from + dst.length) of an initializer {@link #checkInts} accepted. */
    static void ints(Onnx.TensorProto t, long from, int[] dst) {
        boolean signed = t.getDataType() == Onnx.TensorProto.DataType.INT8_VALUE;
        if (t.hasRawData()) {
            // an alias of the mapped file, read in place: a bulk copy of the run, then widened
            byte[] run = new byte[dst.length];
            t.getRawData().asReadOnlyByteBuffer().get(Math.toIntExact(from), run);
            for (int i = 0; i < dst.length; i++) dst[i] = signed ? run[i] : run[i] & 0xff;
        } else {
            for (int i = 0; i < dst.length; i++) {
                int v = t.getInt32Data(Math.toIntExact(from + i));
                dst[i] = signed ? (byte) v : v & 0xff;
            }
        }
    }

    static float[] floats(Onnx.TensorProto t, String where) throws UnsupportedModelException {
        if (t.getDataType() != Onnx.TensorProto.DataType.FLOAT_VALUE) throw refuse(where, "scale '" + t.getName() + "' is not float");
        if (t.hasRawData()) {
            ByteBuffer b = t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            float[] f = new float[b.remaining() / 4];
            b.asFloatBuffer().get(f);
            return f;
        }
        float[] f = new float[t.getFloatDataCount()];
        for (int i = 0; i < f.length; i++) f[i] = t.getFloatData(i);
        return f;
    }

    /** One weight to dequantize: the int8 values, their zero point (or null) and scale, and the node for messages. */
    private record Dequantize(Onnx.TensorProto wq, Onnx.TensorProto wzp, Onnx.TensorProto wscale, String where) {}

    private static String dequantizedName(Onnx.TensorProto wq) { return wq.getName() + "_dequantized_by_jvit"; }

    /** W = (q - zp) * scale as an F32 initializer [K, N]; scale and zp per tensor or per column (N). */
    static Onnx.TensorProto dequantize(Onnx.TensorProto wq, Onnx.TensorProto wzp, Onnx.TensorProto wscale, String where, Arena arena)
            throws UnsupportedModelException {
        if (wq.getDimsCount() != 2) throw refuse(where, "the weight is " + wq.getDimsCount() + "-D, not [K, N]");
        int k = (int) wq.getDims(0), n = (int) wq.getDims(1);
        if (checkInts(wq, where) != (long) k * n) throw refuse(where, "the weight's dimensions do not match its data");
        float[] s = floats(wscale, where);
        int[] zp = wzp == null ? new int[] {0} : ints(wzp, where);
        if (wzp != null && wzp.getDataType() != wq.getDataType()) throw refuse(where, "the weight and its zero point differ in type");
        if (s.length != 1 && s.length != n) throw refuse(where, "the weight scale has " + s.length + " values for " + n + " columns");
        if (zp.length != 1 && zp.length != n) throw refuse(where, "the weight zero point has " + zp.length + " values for " + n + " columns");
        MemorySegment out = arena.allocate(4L * k * n, 64);
        for (int j = 0; j < n; j++)
            if (!Float.isFinite(s[s.length == 1 ? 0 : j])) throw refuse(where, "the weight scale is not finite");
        int[] q = new int[n];   // one row at a time: a whole int[] copy of the weight was 4 bytes per weight of garbage
        float[] row = new float[n];
        for (int i = 0; i < k; i++) {
            ints(wq, (long) i * n, q);
            for (int j = 0; j < n; j++) row[j] = (q[j] - zp[zp.length == 1 ? 0 : j]) * s[s.length == 1 ? 0 : j];
            MemorySegment.copy(row, 0, out, ElemType.F32, (long) i * n * 4, n);
        }
        // wrapped, not copied: the importer reads a direct buffer's bytes in place
        return Onnx.TensorProto.newBuilder().setName(dequantizedName(wq)).setDataType(Onnx.TensorProto.DataType.FLOAT_VALUE)
                .addDims(k).addDims(n).setRawData(UnsafeByteOperations.unsafeWrap(out.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN))).build();
    }

    /** The encoder blocks' Linear layers quantized per output channel (symmetric int8); the rest as it is. */
    public static ViTWeights requantize(ViTWeights w, Arena arena) {
        // the blocks in parallel (a shared arena allocates from any thread): ~1 s on one core for ViT-B at first load
        List<EncoderBlock> blocks = w.blocks().parallelStream().map(b -> new EncoderBlock(b.norm1(), Quantizer.quantize(b.qkv(), arena),
                Quantizer.quantize(b.proj(), arena), b.norm2(), Quantizer.quantize(b.fc1(), arena), Quantizer.quantize(b.fc2(), arena))).toList();
        return new ViTWeights(w.patchEmbedding(), w.classToken(), w.distillationToken(), w.positionEmbedding(), blocks, w.finalNorm(),
                w.preLogits(), w.head(), w.distillationHead());
    }
}
