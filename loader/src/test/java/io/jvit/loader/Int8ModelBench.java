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
        if (args[0].equals("random")) {   // no files (a machine without the bench models): ViT-B/16, random weights, in memory
            random(args.length > 1 ? Integer.parseInt(args[1]) : 2, args.length > 2 ? Integer.parseInt(args[2]) : 10);
            return;
        }
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
            compare(mf, mq, threads, rounds);
        } finally {
            Files.deleteIfExists(q);
        }
    }

    static void compare(ViTModel mf, ViTModel mq, int threads, int rounds) {
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
    }

    static void random(int threads, int rounds) {
        io.jvit.engine.ViTConfig c = new io.jvit.engine.ViTConfig(224, 16, 3, 768, 12, 12, 3072, 1000, 1e-6f, false, 0);
        try (Arena arena = Arena.ofShared()) {
            Random r = new Random(7);
            java.util.List<io.jvit.engine.EncoderBlock> blocks = new java.util.ArrayList<>();
            for (int i = 0; i < c.depth(); i++)
                blocks.add(new io.jvit.engine.EncoderBlock(norm(arena, c.width()), lin(arena, r, 3 * c.width(), c.width()), lin(arena, r, c.width(), c.width()),
                        norm(arena, c.width()), lin(arena, r, c.mlpDim(), c.width()), lin(arena, r, c.width(), c.mlpDim())));
            ViTWeights w = new ViTWeights(lin(arena, r, c.width(), c.patchDim()), seg(arena, r, c.width(), 0.02),
                    null, seg(arena, r, c.tokens() * c.width(), 0.02), blocks, norm(arena, c.width()), null,
                    lin(arena, r, c.numClasses(), c.width()), null);
            ViTModel mf = new ViTModel(c, w, null, null, null);
            ViTModel mq = new ViTModel(c, Quantizer.quantize(w, EnumSet.noneOf(Quantizer.Part.class), arena), null, null, null);
            compare(mf, mq, threads, rounds);
        }
    }

    static java.lang.foreign.MemorySegment seg(Arena a, Random r, int n, double std) {
        java.lang.foreign.MemorySegment s = a.allocate(4L * n, 64);
        for (int i = 0; i < n; i++) s.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, (float) (r.nextGaussian() * std));
        return s;
    }

    static io.jvit.engine.Linear lin(Arena a, Random r, int out, int in) {
        return io.jvit.engine.Linear.f32(out, in, seg(a, r, out * in, 1 / Math.sqrt(in)), seg(a, r, out, 0.02));
    }

    static io.jvit.engine.LayerNormParams norm(Arena a, int d) {
        java.lang.foreign.MemorySegment g = a.allocate(4L * d, 64), b = a.allocate(4L * d, 64);
        for (int i = 0; i < d; i++) g.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, 1f);
        return new io.jvit.engine.LayerNormParams(g, b);
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
