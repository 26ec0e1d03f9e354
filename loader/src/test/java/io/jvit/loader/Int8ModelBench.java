package io.jvit.loader;

import io.jvit.engine.Int8Matmul;
import io.jvit.engine.Quantizer;
import io.jvit.engine.ViTModel;
import io.jvit.engine.ViTWeights;
import io.jvit.engine.VisionTransformer;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Random;

/**
 * Manual measurement (bench-models are not in CI) of an int8 model against its F32 original:
 * file and packed sizes, cosine similarity of the logits over 16 random images, and batch-1 latency
 * interleaved in one process (F32, int8 W8A32, int8 W8A8). Run:
 * <pre>
 * java --add-modules jdk.incubator.vector -cp "loader/target/classes:loader/target/test-classes:engine/target/classes:cli/target/lib/*" \
 *     io.jvit.loader.Int8ModelBench bench-models/vit_b_16.safetensors [threads] [rounds]
 * </pre>
 */
public final class Int8ModelBench {
    public static void main(String[] args) throws Exception {
        Path fp = Path.of(args[0]);
        int threads = args.length > 1 ? Integer.parseInt(args[1]) : 2;
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 10;
        Path q = Files.createTempFile("jvit-int8-", ".safetensors");
        Files.delete(q);
        try (ViTModel m = ModelLoader.load(fp); Arena arena = Arena.ofConfined()) {
            ViTWeights w = Quantizer.quantize(m.weights(), EnumSet.noneOf(Quantizer.Part.class), arena);
            Int8Writer.write(q, m.config(), w, m.labels(), m.info().get("architecture"), null, false);
        }
        System.out.printf("file: F32 %.1f MB, int8 %.1f MB (%.1f%%)%n", Files.size(fp) / 1e6, Files.size(q) / 1e6, 100.0 * Files.size(q) / Files.size(fp));
        try (ViTModel mf = ModelLoader.load(fp); ViTModel mq = ModelLoader.load(q)) {
            VisionTransformer f = new VisionTransformer(mf, threads);
            VisionTransformer a32 = withMode(mq, threads, Int8Matmul.Mode.W8A32);
            VisionTransformer a8 = withMode(mq, threads, Int8Matmul.Mode.W8A8);
            System.out.printf("packed weights: F32 %.1f MB, int8 %.1f MB (%.1f%%)%n", f.packedWeightBytes() / 1e6, a32.packedWeightBytes() / 1e6,
                    100.0 * a32.packedWeightBytes() / f.packedWeightBytes());
            int size = mf.config().imageSize(), per = 3 * size * size, n = 16;
            Random r = new Random(42);
            float[] px = new float[n * per];
            for (int i = 0; i < px.length; i++) px[i] = (float) r.nextGaussian();
            float[] lf = f.classify(px, n), l32 = a32.classify(px, n), l8 = a8.classify(px, n);
            int nc = mf.config().numClasses();
            report("W8A32", lf, l32, n, nc);
            report("W8A8", lf, l8, n, nc);
            float[] one = Arrays.copyOf(px, per);
            VisionTransformer[] v = {f, a32, a8};
            String[] names = {"F32", "int8 W8A32", "int8 W8A8"};
            for (int warm = 0; warm < 3; warm++) for (VisionTransformer x : v) x.classify(one, 1);
            double[][] ms = new double[3][rounds];
            for (int round = 0; round < rounds; round++)
                for (int i = 0; i < 3; i++) {
                    long t0 = System.nanoTime();
                    for (int it = 0; it < 3; it++) v[i].classify(one, 1);
                    ms[i][round] = (System.nanoTime() - t0) / 3e6;
                }
            StringBuilder s = new StringBuilder(String.format("batch-1 latency, %d threads, median of %d interleaved rounds:", threads, rounds));
            for (int i = 0; i < 3; i++) s.append(String.format("  %s %.1f ms", names[i], median(ms[i])));
            for (int i = 1; i < 3; i++) {
                double[] ratio = new double[rounds];
                for (int k = 0; k < rounds; k++) ratio[k] = ms[i][k] / ms[0][k];
                s.append(String.format("  %s/F32 %.3f", names[i], median(ratio)));
            }
            System.out.println(s);
            for (VisionTransformer x : v) x.close();
        } finally {
            Files.deleteIfExists(q);
        }
    }

    static VisionTransformer withMode(ViTModel m, int threads, Int8Matmul.Mode mode) {
        String prev = System.getProperty(Int8Matmul.MODE_PROPERTY);
        System.setProperty(Int8Matmul.MODE_PROPERTY, mode.name());
        try {
            return new VisionTransformer(m, threads);
        } finally {
            if (prev == null) System.clearProperty(Int8Matmul.MODE_PROPERTY);
            else System.setProperty(Int8Matmul.MODE_PROPERTY, prev);
        }
    }

    static void report(String what, float[] a, float[] b, int n, int nc) {
        double minCos = 1, sumCos = 0;
        int agree = 0;
        for (int i = 0; i < n; i++) {
            double dot = 0, na = 0, nb = 0;
            for (int c = 0; c < nc; c++) {
                dot += a[i * nc + c] * b[i * nc + c];
                na += a[i * nc + c] * a[i * nc + c];
                nb += b[i * nc + c] * b[i * nc + c];
            }
            double cos = dot / Math.sqrt(na * nb);
            minCos = Math.min(minCos, cos);
            sumCos += cos;
            if (Fixtures.argmax(a, i * nc, nc) == Fixtures.argmax(b, i * nc, nc)) agree++;
        }
        System.out.printf("%s vs F32 logits over %d random images: cosine mean %.5f, min %.5f; top-1 agreement %d/%d%n", what, n, sumCos / n, minCos, agree, n);
    }

    static double median(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
