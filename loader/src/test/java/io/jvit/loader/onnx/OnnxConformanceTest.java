package io.jvit.loader.onnx;

import io.jvit.engine.LayerNorm;
import io.jvit.engine.Linear;
import io.jvit.engine.Matmul;
import io.jvit.engine.PackedMatrix;
import io.jvit.engine.Softmax;
import io.jvit.engine.VectorMath;
import io.jvit.loader.onnx.proto.Onnx;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * jvit's kernels against ONNX's own operator test cases (Debian's libonnx-testdata: a single-node
 * model.onnx plus test_data_set_N/input_*.pb and output_*.pb TensorProtos, read with the importer's
 * protobuf classes). Every non-expanded case of LayerNormalization, Softmax (opset-13 semantics: one
 * axis), MatMul, Gemm and Erf, with the operator's attributes mapped onto the kernels:
 * <ul>
 * <li>LayerNormalization over the trailing axes from {@code axis}: those are flattened into the row,
 *     the scale and bias into the kernel's gamma and beta (output Y; Mean and InvStdDev are not
 *     computed by the engine and not checked);</li>
 * <li>Softmax along {@code axis}: each line along that axis gathered into a row for the kernel;</li>
 * <li>MatMul: one packed 2-D product per batch index (numpy broadcasting of the batch dims);</li>
 * <li>Gemm: alpha folded into A, transA/transB applied while building A and the [N][K] weight, beta*C
 *     as the kernel's bias when C is a row vector or scalar, else preloaded into the output and
 *     added by the kernel's residual epilogue;</li>
 * <li>Erf: the vector erf over the whole tensor.</li>
 * </ul>
 * Tolerance as ONNX's backend tests: |got - expected| <= atol + rtol |expected| with rtol 1e-3 and
 * atol 1e-7, for every element of every case. If the data folder is missing the test fails (CI
 * installs the package); it never skips.
 */
class OnnxConformanceTest {
    static final Path DATA = Path.of(System.getProperty("jvit.onnx.testdata", "/usr/share/libonnx-testdata/data/node"));
    static final double RTOL = 1e-3, ATOL = 1e-7;
    static final String[] OPS = {"test_layer_normalization_", "test_softmax_", "test_matmul_", "test_gemm_", "test_erf"};

    @TestFactory
    Stream<DynamicTest> onnxNodeTests() throws IOException {
        if (!Files.isDirectory(DATA))
            fail("ONNX's operator test data is missing at " + DATA + ": install Debian's libonnx-testdata package "
                    + "(apt-get install libonnx-testdata) or point -Djvit.onnx.testdata at its data/node folder");
        List<Path> cases = new ArrayList<>();
        try (Stream<Path> s = Files.list(DATA)) {
            s.filter(p -> {
                String n = p.getFileName().toString();
                if (n.endsWith("_expanded")) return false;
                for (String op : OPS) if (op.endsWith("_") ? n.startsWith(op) : n.equals(op)) return true;
                return false;
            }).sorted().forEach(cases::add);
        }
        assertTrue(cases.size() >= 40, "expected the LayerNorm/Softmax/MatMul/Gemm/Erf cases, found " + cases.size() + " in " + DATA);
        List<DynamicTest> tests = new ArrayList<>();
        for (Path c : cases) {
            List<Path> sets;
            try (Stream<Path> s = Files.list(c)) {
                sets = s.filter(p -> p.getFileName().toString().startsWith("test_data_set_")).sorted().toList();
            }
            for (Path set : sets) tests.add(DynamicTest.dynamicTest(c.getFileName() + "/" + set.getFileName(), () -> run(c, set)));
        }
        return tests.stream();
    }

    record T(long[] shape, float[] v) {
        int n() { return v.length; }
    }

    static T read(Path pb) throws Exception {
        Tensor t = OnnxFile.decodeInline(Onnx.TensorProto.parseFrom(Files.readAllBytes(pb)), pb.getFileName().toString());
        return new T(t.shape, t.toFloatArray());
    }

    static void run(Path dir, Path set) throws Exception {
        Onnx.ModelProto m = Onnx.ModelProto.parseFrom(Files.readAllBytes(dir.resolve("model.onnx")));
        Onnx.NodeProto node = m.getGraph().getNode(0);
        List<T> in = new ArrayList<>();
        for (int i = 0; i < m.getGraph().getInputCount(); i++) in.add(read(set.resolve("input_" + i + ".pb")));
        T expect = read(set.resolve("output_0.pb"));
        float[] got = switch (node.getOpType()) {
            case "LayerNormalization" -> layerNorm(node, in);
            case "Softmax" -> softmax(node, in.get(0));
            case "MatMul" -> matmul(in.get(0), in.get(1));
            case "Gemm" -> gemm(node, in);
            case "Erf" -> erf(in.get(0));
            default -> throw new IllegalStateException(node.getOpType());
        };
        assertEquals(expect.n(), got.length, "output size");
        double worst = 0;
        for (int i = 0; i < got.length; i++) {
            double e = expect.v()[i], d = Math.abs(got[i] - e);
            assertTrue(d <= ATOL + RTOL * Math.abs(e), dir.getFileName() + ": element " + i + " is " + got[i] + ", ONNX says " + e);
            worst = Math.max(worst, d / (ATOL + RTOL * Math.abs(e)));
        }
        assertTrue(worst <= 1);
    }

    static long attrInt(Onnx.NodeProto n, String name, long def) {
        for (Onnx.AttributeProto a : n.getAttributeList()) if (a.getName().equals(name)) return a.getI();
        return def;
    }

    static float attrFloat(Onnx.NodeProto n, String name, float def) {
        for (Onnx.AttributeProto a : n.getAttributeList()) if (a.getName().equals(name)) return a.getF();
        return def;
    }

    /** Off-heap copy, padded with {@code pad} extra floats (the kernels read whole vectors). */
    static MemorySegment seg(Arena arena, float[] v, int pad) {
        MemorySegment s = arena.allocate((v.length + (long) pad) * 4, 64);
        MemorySegment.copy(v, 0, s, JAVA_FLOAT, 0, v.length);
        return s;
    }

    static float[] layerNorm(Onnx.NodeProto node, List<T> in) {
        T x = in.get(0), w = in.get(1);
        int r = x.shape().length;
        int axis = (int) attrInt(node, "axis", -1);
        if (axis < 0) axis += r;
        int d = 1;
        for (int i = axis; i < r; i++) d *= (int) x.shape()[i];
        int rows = x.n() / d;
        float[] beta = in.size() > 2 && in.get(2) != null ? in.get(2).v() : new float[d];
        assertEquals(d, w.n(), "scale size");
        float eps = attrFloat(node, "epsilon", 1e-5f);
        try (Arena a = Arena.ofConfined()) {
            int lanes = VectorMath.LANES;
            MemorySegment xs = seg(a, x.v(), lanes), ys = a.allocate((long) (x.n() + lanes) * 4, 64);
            LayerNorm.apply(null, xs, d, ys, d, rows, d, seg(a, w.v(), lanes), seg(a, beta, lanes), eps);
            float[] out = new float[x.n()];
            MemorySegment.copy(ys, JAVA_FLOAT, 0, out, 0, out.length);
            return out;
        }
    }

    static float[] softmax(Onnx.NodeProto node, T x) {
        int r = x.shape().length;
        int axis = (int) attrInt(node, "axis", -1);
        if (axis < 0) axis += r;
        int n = (int) x.shape()[axis], inner = 1;
        for (int i = axis + 1; i < r; i++) inner *= (int) x.shape()[i];
        int outer = x.n() / (n * inner);
        float[] out = new float[x.n()], row = new float[n];
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++) {
                for (int k = 0; k < n; k++) row[k] = x.v()[(o * n + k) * inner + i];
                float[] p = Softmax.of(row, 0, n);
                for (int k = 0; k < n; k++) out[(o * n + k) * inner + i] = p[k];
            }
        return out;
    }

    /** C [m][n] = A [m][k] B (+ bias), via the packed kernel; A rows padded to the micro-tile. */
    static float[] product(float[] a, int m, int k, float[][] bT, float[] bias, float[] preload, Matmul.Epilogue ep) {
        int n = bT.length;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment w = arena.allocate((long) n * k * 4, 64);
            for (int o = 0; o < n; o++) MemorySegment.copy(bT[o], 0, w, JAVA_FLOAT, (long) o * k * 4, k);
            Linear lin = Linear.f32(n, k, w, bias == null ? null : seg(arena, bias, 0).asSlice(0, n * 4L));
            PackedMatrix pm = PackedMatrix.pack(lin, arena);
            int mp = Matmul.padRows(m), ldc = pm.paddedN();
            MemorySegment as = arena.allocate((long) mp * k * 4 + 64, 64);
            MemorySegment.copy(a, 0, as, JAVA_FLOAT, 0, m * k);
            MemorySegment cs = arena.allocate((long) mp * ldc * 4, 64);
            if (preload != null)
                for (int i = 0; i < m; i++) MemorySegment.copy(preload, i * n, cs, JAVA_FLOAT, (long) i * ldc * 4, n);
            Matmul.multiply(null, as, k, mp, pm, cs, ldc, ep);
            float[] c = new float[m * n];
            for (int i = 0; i < m; i++) MemorySegment.copy(cs, JAVA_FLOAT, (long) i * ldc * 4, c, i * n, n);
            return c;
        }
    }

    static float[] matmul(T a, T b) {
        int ra = a.shape().length, rb = b.shape().length;
        int m = (int) a.shape()[ra - 2], k = (int) a.shape()[ra - 1], n = (int) b.shape()[rb - 1];
        assertEquals(k, b.shape()[rb - 2]);
        long[] batchA = java.util.Arrays.copyOf(a.shape(), ra - 2), batchB = java.util.Arrays.copyOf(b.shape(), rb - 2);
        long[] batch = ConstOps.broadcastShape(batchA, batchB);
        int nb = (int) Tensor.numel(batch);
        float[] out = new float[nb * m * n];
        for (int bi = 0; bi < nb; bi++) {
            int ia = (int) ConstOps.sourceIndex(bi, batch, batchA), ib = (int) ConstOps.sourceIndex(bi, batch, batchB);
            float[] am = java.util.Arrays.copyOfRange(a.v(), ia * m * k, (ia + 1) * m * k);
            float[][] bT = new float[n][k];
            for (int kk = 0; kk < k; kk++) for (int j = 0; j < n; j++) bT[j][kk] = b.v()[ib * k * n + kk * n + j];
            System.arraycopy(product(am, m, k, bT, null, null, Matmul.Epilogue.STORE), 0, out, bi * m * n, m * n);
        }
        return out;
    }

    static float[] gemm(Onnx.NodeProto node, List<T> in) {
        T a = in.get(0), b = in.get(1);
        T c = in.size() > 2 ? in.get(2) : null;
        boolean ta = attrInt(node, "transA", 0) != 0, tb = attrInt(node, "transB", 0) != 0;
        float alpha = attrFloat(node, "alpha", 1f), beta = attrFloat(node, "beta", 1f);
        int m = (int) (ta ? a.shape()[1] : a.shape()[0]), k = (int) (ta ? a.shape()[0] : a.shape()[1]);
        int n = (int) (tb ? b.shape()[0] : b.shape()[1]);
        float[] am = new float[m * k];
        for (int i = 0; i < m; i++)
            for (int kk = 0; kk < k; kk++) am[i * k + kk] = alpha * (ta ? a.v()[kk * m + i] : a.v()[i * k + kk]);
        float[][] bT = new float[n][k];
        for (int j = 0; j < n; j++)
            for (int kk = 0; kk < k; kk++) bT[j][kk] = tb ? b.v()[j * k + kk] : b.v()[kk * n + j];
        if (c == null) return product(am, m, k, bT, null, null, Matmul.Epilogue.STORE);
        long[] cs = c.shape();
        boolean rowVector = c.n() == 1 || (cs.length >= 1 && cs[cs.length - 1] == n && c.n() == n);
        if (rowVector) {
            float[] bias = new float[n];
            for (int j = 0; j < n; j++) bias[j] = beta * c.v()[c.n() == 1 ? 0 : j];
            return product(am, m, k, bT, bias, null, Matmul.Epilogue.STORE);
        }
        float[] pre = new float[m * n];
        long[] out = {m, n};
        for (int i = 0; i < m * n; i++) pre[i] = beta * c.v()[(int) ConstOps.sourceIndex(i, out, cs)];
        return product(am, m, k, bT, null, pre, Matmul.Epilogue.RESIDUAL);
    }

    static float[] erf(T x) {
        int lanes = VectorMath.LANES, n = x.n();
        int padded = (n + lanes - 1) / lanes * lanes;
        java.lang.foreign.MemorySegment buf = java.lang.foreign.MemorySegment.ofArray(new byte[padded * 4]);
        java.lang.foreign.MemorySegment.copy(x.v(), 0, buf, java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, 0, n);
        VectorMath.erfInPlace(buf, 0, padded);
        return java.util.Arrays.copyOf(buf.toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED), n);
    }
}
