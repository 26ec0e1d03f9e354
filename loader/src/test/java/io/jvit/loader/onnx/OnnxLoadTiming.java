package io.jvit.loader.onnx;

import io.jvit.engine.ViTModel;
import io.jvit.engine.VisionTransformer;
import io.jvit.loader.LoadOptions;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * By hand, not in CI (CI has no ViT-B file): time from "load this ONNX file" to the first logits, after
 * warm-up. Generate the model with {@code /usr/bin/python3 tools/make_bench_models.py --models b}, then
 * <pre>
 * mvn -q -o -pl loader -am test-compile
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
 *   -cp "loader/target/test-classes:loader/target/classes:engine/target/classes:$(cat /tmp/cp.txt)" \
 *   io.jvit.loader.onnx.OnnxLoadTiming bench-models/vit_b_16.onnx [threads] [runs]
 * </pre>
 * (/tmp/cp.txt from {@code mvn -q -o -pl loader dependency:build-classpath -Dmdep.outputFile=/tmp/cp.txt}).
 * Prints, per run: import (parse + recognise + weight layout), engine pack (VisionTransformer), first
 * classify at batch 1, and the total; plus the weight-copy report and the logits' error against
 * PyTorch's when {@code <model>.logits.bin}-style references sit beside it.
 */
public final class OnnxLoadTiming {
    public static void main(String[] args) throws Exception {
        Path file = Path.of(args.length > 0 ? args[0] : "bench-models/vit_b_16.onnx");
        int threads = args.length > 1 ? Integer.parseInt(args[1]) : Runtime.getRuntime().availableProcessors();
        int runs = args.length > 2 ? Integer.parseInt(args[2]) : 5;
        String stem = file.getFileName().toString().replaceFirst("\\.onnx$", "");
        Path inPath = file.resolveSibling(stem + ".input.bin"), refPath = file.resolveSibling(stem + ".logits.bin");
        float[] pixels = Files.exists(inPath) ? Fixtures.floats(inPath) : null;
        float[] ref = Files.exists(refPath) ? Fixtures.floats(refPath) : null;
        System.out.printf("%s (%.0f MB), %d threads%n", file, Files.size(file) / 1e6, threads);
        for (int run = 0; run < runs; run++) {
            var mx = java.lang.management.ManagementFactory.getThreadMXBean();
            long c0 = mx.getCurrentThreadCpuTime();
            long t0 = System.nanoTime();
            try (ViTModel model = OnnxLoader.load(file, LoadOptions.DEFAULT)) {
                long t1 = System.nanoTime();
                long c1 = mx.getCurrentThreadCpuTime();
                if (pixels == null) pixels = new float[3 * model.config().imageSize() * model.config().imageSize()];
                try (VisionTransformer vt = new VisionTransformer(model, threads)) {
                    long t2 = System.nanoTime();
                    float[] logits = vt.classify(pixels, 1);
                    long t3 = System.nanoTime();
                    double err = 0, max = 0;
                    if (ref != null) for (int i = 0; i < ref.length; i++) {
                        err = Math.max(err, Math.abs(ref[i] - logits[i]));
                        max = Math.max(max, Math.abs(ref[i]));
                    }
                    System.out.printf("run %d: import %4.0f ms, engine pack %4.0f ms, first classify %4.0f ms, total %5.0f ms%s%n", run,
                            (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6, (t3 - t0) / 1e6,
                            ref == null ? "" : String.format("; max|diff| vs PyTorch %.3g (%.2g of max|logit|)", err, err / max));
                    System.out.printf("  import on this thread: %.0f ms CPU (%s)%n", (c1 - c0) / 1e6, model.info().get("import_ms"));
                    if (run == 0) model.info().forEach((k, v) -> System.out.println("  " + k + ": " + v));
                }
            }
        }
    }
}
