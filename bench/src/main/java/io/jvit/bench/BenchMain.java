package io.jvit.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.jvit.cli.CliException;
import io.jvit.cli.Exit;
import io.jvit.cli.Main;
import io.jvit.cli.ModelOptions;
import io.jvit.engine.ViTConfig;
import io.jvit.engine.VisionTransformer;
import io.jvit.loader.ImageClassifier;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * {@code jvit bench}: end-to-end latency and throughput of a model, optionally side by side with ONNX
 * Runtime on the same input in the same process (interleaved run by run), with the machine's FMA peak
 * probed in the same run. Other modes: {@code --kernels} (GFLOP/s per kernel shape), {@code --memory}
 * (attention and activation memory against tokens), {@code --load} (load time and resident memory).
 */
@Command(name = "jvit bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Benchmark a model: batch-1 latency (median and min after warm-up) and batch-B throughput, "
                + "optionally against ONNX Runtime on the same input, interleaved run by run in this process.",
                "Other modes: --kernels, --memory, --load. See docs/BENCHMARKS.md."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:ok", "2:bad command line (threads, batch, runs < 1; image size not a multiple of the patch)",
                "3:the model could not be loaded, or the ONNX model cannot be loaded or does not match it",
                "4:the ONNX file is missing or unreadable"})
public final class BenchMain implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @Option(names = {"-b", "--batch"}, paramLabel = "B", description = "Batch size of the throughput runs (default ${DEFAULT-VALUE}).")
    int batch = 8;

    @Option(names = "--warmup", paramLabel = "N", description = "Warm-up runs of each engine and batch size (default ${DEFAULT-VALUE}).")
    int warmup = 5;

    @Option(names = "--warmup-ms", paramLabel = "MS", description = "Keep warming up (both engines, interleaved) until jvit has run this long: the JIT needs it (default ${DEFAULT-VALUE}).")
    int warmupMs = 3000;

    @Option(names = "--jit-wait-ms", paramLabel = "MS", description = "After the warm-up, keep warming up until the JIT has been quiet for 2 s "
            + "(its compiler threads take cores from the engines), at most this long (default ${DEFAULT-VALUE}; 0: do not wait).")
    int jitWaitMs = 30000;

    @Option(names = "--runs", paramLabel = "N", description = "Timed batch-1 runs of each engine; median and min reported (default ${DEFAULT-VALUE}).")
    int runs = 30;

    @Option(names = "--batch-runs", paramLabel = "N", description = "Timed batch-B runs of each engine; median reported (default ${DEFAULT-VALUE}).")
    int batchRuns = 10;

    @Option(names = "--image-size", paramLabel = "S", description = "Input side in pixels (default: the model's); other sizes resample the position embeddings.")
    Integer imageSize;

    @Option(names = "--compare-onnx", paramLabel = "FILE.onnx", description = "The same model as ONNX: run it with ONNX Runtime (graph optimisation ALL, T intra-op threads, 1 inter-op) interleaved with jvit.")
    Path onnx;

    @Option(names = "--json", description = "Print one JSON object instead of the tables.")
    boolean json;

    @Option(names = "--profile", description = "Per-stage breakdown of the batch-1 forward pass (extra runs after the timed ones).")
    boolean profile;

    @Option(names = "--profile-batch", paramLabel = "N", description = "Profile the forward pass of N images instead of one (implies --profile; default ${DEFAULT-VALUE}).")
    int profileBatch = 1;

    @Option(names = "--kernels", description = "Instead: GFLOP/s and %% of peak of each kernel on the ViT-B/16 shapes (about a minute; JMH: tools/jmh.sh).")
    boolean kernels;

    @Option(names = "--memory", description = "Instead: attention and activation memory against tokens (attention alone at 197..4096 tokens, then the model at --sizes).")
    boolean memory;

    @Option(names = "--sizes", paramLabel = "S", split = ",", description = "Image sizes for --memory (default 224,448,1024).")
    List<Integer> sizes;

    @Option(names = "--load", description = "Instead: load time (safetensors to first result, cold and after warm-up) and resident memory against the weights.")
    boolean load;

    @Option(names = "--steady-ms", paramLabel = "MS", description = "With --load: keep the model running at least this long after the first result, "
            + "and until the JIT is quiet (at most 60 s), before reading the steady-state resident memory (default ${DEFAULT-VALUE}; 0: no steady-state reading).")
    long steadyMs = 11000;

    @Option(names = "--prewarm", description = "With --load: first run every kernel path on tiny inputs (a model of an engine warm-up hook), and time it.")
    boolean prewarm;

    @Option(names = "--peak-ms", paramLabel = "MS", description = "Duration of one FMA peak probe; 0 skips the probe (default ${DEFAULT-VALUE}).")
    int peakMs = 200;

    @Option(names = "--gap-ms", paramLabel = "MS", description = "Pause before each engine's turn, so one engine's spinning workers are asleep before the other starts (default ${DEFAULT-VALUE}).")
    int gapMs = 50;

    @Option(names = "--burst", paramLabel = "N", description = "Timed runs per turn, back to back, each timed alone: the first of a turn comes after "
            + "the pause, the others in a steady state; medians of both kinds are reported too. 1: every run after a pause (default ${DEFAULT-VALUE}).")
    int burst = 5;

    /** Below this cosine similarity of the two engines' logits the ONNX file is refused as another model. */
    static final double MIN_COSINE = 0.99;

    @Option(names = "--seed", paramLabel = "N", description = "Seed of the random input (default ${DEFAULT-VALUE}).")
    long seed = 42;

    @Spec
    CommandLine.Model.CommandSpec spec;

    PrintWriter out;

    public static void main(String[] args) {
        // the launcher passes the subcommand name along
        if (args.length > 0 && args[0].equals("bench")) args = java.util.Arrays.copyOfRange(args, 1, args.length);
        int code;
        try {
            code = Main.commandLine(new BenchMain()).execute(args);
        } catch (OutOfMemoryError e) {
            System.err.println("jvit: out of memory (raise it with JVIT_JAVA_OPTS=-Xmx8g, or use a smaller --batch)");
            code = Exit.INTERNAL;
        }
        System.exit(code);
    }

    @Override
    public Integer call() throws Exception {
        out = spec.commandLine().getOut();
        if (model.threads < 1) throw new CliException(Exit.USAGE, "--threads must be >= 1, got " + model.threads);
        if (batch < 1) throw new CliException(Exit.USAGE, "--batch must be >= 1, got " + batch);
        if (profileBatch < 1) throw new CliException(Exit.USAGE, "--profile-batch must be >= 1, got " + profileBatch);
        if (profileBatch != 1) profile = true;
        if (runs < 1) throw new CliException(Exit.USAGE, "--runs must be >= 1, got " + runs);
        if (batchRuns < 1) throw new CliException(Exit.USAGE, "--batch-runs must be >= 1, got " + batchRuns);
        if (warmup < 0) throw new CliException(Exit.USAGE, "--warmup must be >= 0, got " + warmup);
        if (warmupMs < 0) throw new CliException(Exit.USAGE, "--warmup-ms must be >= 0, got " + warmupMs);
        if (jitWaitMs < 0) throw new CliException(Exit.USAGE, "--jit-wait-ms must be >= 0, got " + jitWaitMs);
        if (steadyMs < 0) throw new CliException(Exit.USAGE, "--steady-ms must be >= 0, got " + steadyMs);
        if (peakMs < 0 || gapMs < 0) throw new CliException(Exit.USAGE, "--peak-ms and --gap-ms must be >= 0");
        if (burst < 1) throw new CliException(Exit.USAGE, "--burst must be >= 1");
        int modes = (kernels ? 1 : 0) + (memory ? 1 : 0) + (load ? 1 : 0);
        if (modes > 1) throw new CliException(Exit.USAGE, "choose one of --kernels, --memory, --load");
        if (modes == 1 && onnx != null) throw new CliException(Exit.USAGE, "--compare-onnx goes with the default mode only");
        if (imageSize != null && imageSize < 1) throw new CliException(Exit.USAGE, "--image-size must be >= 1, got " + imageSize);
        if (sizes != null) for (int s : sizes) if (s < 1) throw new CliException(Exit.USAGE, "--sizes must be >= 1, got " + s);
        if (kernels) return new KernelBench(out, model.threads, peakMs, json).run();
        if (load) return LoadBench.run(out, model, prewarm, steadyMs, json);
        if (memory) return MemoryBench.run(out, model, sizes == null ? List.of(224, 448, 1024) : sizes, peakMs, json);
        return endToEnd();
    }

    private static String ms(double v) { return String.format(Locale.ROOT, "%.2f", v); }

    private int endToEnd() throws Exception {
        int threads = model.threads;
        if (onnx != null && !java.nio.file.Files.exists(onnx)) throw new CliException(Exit.IO, onnx + ": no such file");
        try (ImageClassifier vit = model.open()) {
            ViTConfig c = vit.config();
            int size = imageSize == null ? c.imageSize() : imageSize;
            if (size % c.patchSize() != 0)
                throw new CliException(Exit.USAGE, "--image-size " + size + " is not a multiple of the patch size " + c.patchSize());
            VisionTransformer engine = vit.engine();
            int per = c.channels() * size * size;
            SplittableRandom rnd = new SplittableRandom(seed);
            float[] pxB = new float[batch * per];
            for (int i = 0; i < pxB.length; i++) pxB[i] = (float) rnd.nextGaussian();
            float[] px1 = java.util.Arrays.copyOf(pxB, per);
            double gflop = c.gflopsPerImage(size);
            // what jvit computes: less when its last block runs the CLS (and distillation) rows alone
            double gflopComputed = engine.gflopsComputedPerImage(size);
            String modelName = vit.modelPath().getFileName() == null ? vit.modelPath().toString() : vit.modelPath().getFileName().toString();

            OrtModel ort = onnx == null ? null : new OrtModel(onnx, threads, c.channels(), size, c.numClasses());
            try {
                if (ort != null && ort.fixedBatch() > 0 && (ort.fixedBatch() != 1 || batch != 1))
                    throw new CliException(Exit.MODEL, onnx + ": ONNX model has a fixed batch of " + ort.fixedBatch()
                            + "; export it with a dynamic batch (or run --batch 1)");
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("model", modelName);
                r.put("threads", threads);
                r.put("batch", batch);
                r.put("image_size", size);
                r.put("gap_ms", gapMs);
                r.put("burst", burst);
                r.put("gflop_per_image", round(gflop, 3));
                r.put("gflop_computed_per_image", round(gflopComputed, 3));
                if (!json) {
                    out.printf("jvit bench: %s (%s), %d px, %.2f GFLOP/image; %d thread%s, batch %d; %d warm-up (and >= %d ms), median of %d (batch 1) and %d (batch %d); %s%n",
                            modelName, c.summary(), size, gflop, threads, threads == 1 ? "" : "s", batch, warmup, warmupMs, runs, batchRuns, batch,
                            burst == 1 ? "a " + gapMs + " ms pause before every run" : "turns of " + burst + " runs back to back, a " + gapMs + " ms pause before each turn");
                    if (ort != null)
                        out.printf("ONNX Runtime %s: %s (optimisation ALL, intra-op %d, inter-op 1); turns interleaved jvit/ORT, order alternating%n",
                                ort.version(), onnx, threads);
                }

                // sanity: the same input through both
                float[] lj = engine.classify(px1, 1, size);
                if (ort != null) {
                    ort.prepare(px1, 1);
                    if (batch > 1) ort.prepare(pxB, batch);
                    float[] lo = ort.run(1, true);
                    if (lo.length != lj.length)
                        throw new CliException(Exit.MODEL, onnx + ": ONNX model gives " + lo.length + " logits per image, jvit " + lj.length);
                    double maxDiff = 0, dot = 0, na = 0, nb = 0;
                    for (int i = 0; i < lj.length; i++) {
                        maxDiff = Math.max(maxDiff, Math.abs(lj[i] - lo[i]));
                        dot += (double) lj[i] * lo[i];
                        na += (double) lj[i] * lj[i];
                        nb += (double) lo[i] * lo[i];
                    }
                    double cos = dot / Math.sqrt(Math.max(na * nb, 1e-300));
                    // an int8 model against its F32 original still gives >= 0.999; another model's logits are unrelated
                    if (!(cos >= MIN_COSINE))
                        throw new CliException(Exit.MODEL, String.format(Locale.ROOT,
                                "%s: not the same model: on the same input its logits have cosine similarity %.4f with jvit's (< %.2f)",
                                onnx, cos, MIN_COSINE));
                    r.put("onnx_model", onnx.toString());
                    r.put("onnxruntime_version", ort.version());
                    r.put("max_abs_logit_diff", maxDiff);
                    r.put("cosine_similarity", cos);
                    if (!json)
                        out.printf("check: same input, max |logit difference| %.3g, cosine similarity %.7f%s%n", maxDiff, cos,
                                cos < 0.999 ? "  (WARNING: the two models disagree; are they the same weights?)" : "");
                }

                out.flush();

                Runnable jv1 = () -> engine.classify(px1, 1, size);
                Runnable jvB = () -> engine.classify(pxB, batch, size);
                Runnable or1 = ort == null ? null : () -> ort.run(1, false);
                Runnable orB = ort == null ? null : () -> ort.run(batch, false);

                // one warm-up step: jvit then ORT (when compared) at batch 1 or batch B
                Runnable both1 = () -> { jv1.run(); if (ort != null) or1.run(); };
                Runnable bothB = () -> { jvB.run(); if (ort != null) orB.run(); };
                long jitNanos = 0;
                for (int i = 0; i < warmup || (warmup > 0 && jitNanos < warmupMs * 1_000_000L); i++) {
                    long w0 = System.nanoTime();
                    jv1.run();
                    jitNanos += System.nanoTime() - w0;
                    if (ort != null) or1.run();
                }
                if (batch > 1) for (int i = 0; i < Math.min(warmup, 2); i++) bothB.run();
                // then on, both engines and both batch sizes, until the JIT has been quiet for two 1-second windows
                long jw0 = System.nanoTime();
                Stats.JitWatch jit = new Stats.JitWatch(1000);
                boolean jitQuiet = warmup == 0 || jitWaitMs == 0;
                for (int i = 0; !jitQuiet && System.nanoTime() - jw0 < jitWaitMs * 1_000_000L; i++) {
                    both1.run();
                    if (batch > 1 && i % 4 == 3) bothB.run();
                    jitQuiet = jit.quiet();
                }
                double jitWaitS = (System.nanoTime() - jw0) / 1e9;
                r.put("jit_wait_s", round(jitWaitS, 2));
                r.put("jit_quiet", jitQuiet);
                if (!json)
                    out.printf(jitQuiet ? "JIT quiet after %.1f s more warm-up%n" : "WARNING: the JIT was still compiling after %.1f s more warm-up (--jit-wait-ms); timings may run slow%n", jitWaitS);
                if (peakMs > 0) PeakFlops.sample(threads, probeMs());   // compiled before the timed runs
                double[][] t1 = timeInterleaved(jv1, or1, runs, threads);
                double[][] tB = batch > 1 ? timeInterleaved(jvB, orB, batchRuns, threads) : null;
                // the peak probe after the timed runs: before them the JIT's compiler threads were still busy with
                // the warm-up's methods and took a core from it (a 1-thread "peak" of 151 against 215-225 in quiet runs)
                // and short probes before each pair of turns (timeInterleaved): the peak is the highest of them all. Those
                // short probes read low whenever the host takes a vCPU away for a moment (a 50 ms probe feels it more
                // than a run of several hundred ms), so their median is no fairer a peak; they show the drift
                double peak1 = Double.NaN, peakT = Double.NaN, peakAfter = Double.NaN;
                double[] during = java.util.stream.DoubleStream.concat(java.util.Arrays.stream(t1[2]),
                        tB == null ? java.util.stream.DoubleStream.empty() : java.util.Arrays.stream(tB[2])).filter(v -> !Double.isNaN(v)).toArray();
                if (peakMs > 0) {
                    peak1 = PeakFlops.measure(1, peakMs, 3);
                    peakAfter = threads == 1 ? peak1 : PeakFlops.measure(threads, peakMs, 3);
                    peakT = during.length > 0 ? Math.max(peakAfter, Stats.max(during)) : peakAfter;
                }
                if (peakMs > 0 && PeakFlops.gaveUp()) {   // a loop left to boxed vectors is no peak: say so, report no shares of it
                    r.put("peak_probe_failed", true);
                    if (!json) out.println("peak FMA: not measured: the probe's loop ran under " + (int) PeakFlops.COMPILED_FLOOR
                            + " GFLOP/s a thread (not compiled by the JIT, fresh copies included); no shares of the peak in this run");
                } else if (peakMs > 0) {
                    if (!json) {
                        out.printf("peak FMA (Java Vector API, register-only loop): %.1f GFLOP/s on 1 thread after the timed runs; on %d: %.1f after them",
                                peak1, threads, peakAfter);
                        if (during.length > 0)
                            out.printf(", %.1f-%.1f (median %.1f) in %d probes of %d ms during them", Stats.min(during), Stats.max(during), Stats.median(during),
                                    during.length, probeMs());
                        out.printf("; the peak: %.1f%n", peakT);
                    }
                    r.put("peak_gflops_after_runs", round(peakAfter, 2));
                    if (during.length > 0) {
                        r.put("peak_gflops_during_min", round(Stats.min(during), 2));
                        r.put("peak_gflops_during_median", round(Stats.median(during), 2));
                        r.put("peak_gflops_during_max", round(Stats.max(during), 2));
                    }
                }

                double jMed = Stats.median(t1[0]), jMin = Stats.min(t1[0]);
                double jBatchMed = tB == null ? jMed : Stats.median(tB[0]);
                double jIps = batch / (jBatchMed / 1e3);
                double eff1 = gflop / (jMed / 1e3), effB = gflop * batch / (jBatchMed / 1e3);
                r.put("latency_ms_median", round(jMed, 3));
                r.put("latency_ms_min", round(jMin, 3));
                r.put("throughput_ips", round(jIps, 3));
                r.put("gflops_effective", round(eff1, 2));
                r.put("gflops_effective_batch", round(effB, 2));
                r.put("peak_gflops", Double.isNaN(peakT) ? null : round(peakT, 2));
                r.put("peak_gflops_1thread", Double.isNaN(peak1) ? null : round(peak1, 2));
                r.put("pct_of_peak", Double.isNaN(peakT) ? null : round(100 * eff1 / peakT, 1));
                r.put("pct_of_peak_batch", Double.isNaN(peakT) ? null : round(100 * effB / peakT, 1));
                double share = gflopComputed / gflop;   // computed FLOP/s = effective (model) FLOP/s x share
                r.put("computed_flop_share", round(share, 4));
                r.put("gflops_computed", round(eff1 * share, 2));
                r.put("pct_of_peak_computed", Double.isNaN(peakT) ? null : round(100 * eff1 * share / peakT, 1));
                r.put("pct_of_peak_computed_batch", Double.isNaN(peakT) ? null : round(100 * effB * share / peakT, 1));
                double oMed = 0, oMin = 0, oIps = 0;
                if (ort != null) {
                    oMed = Stats.median(t1[1]);
                    oMin = Stats.min(t1[1]);
                    double oBatchMed = tB == null ? oMed : Stats.median(tB[1]);
                    oIps = batch / (oBatchMed / 1e3);
                    r.put("onnx_latency_ms_median", round(oMed, 3));
                    r.put("onnx_latency_ms_min", round(oMin, 3));
                    r.put("onnx_throughput_ips", round(oIps, 3));
                    r.put("onnx_gflops_effective", round(gflop / (oMed / 1e3), 2));
                    r.put("latency_ratio", round(jMed / oMed, 4));
                    r.put("latency_ratio_min", round(jMin / oMin, 4));
                    r.put("throughput_ratio", round(jIps / oIps, 4));
                }
                // with turns of several runs: the first run of each turn (after the pause: parked workers, cooled
                // caches) apart from the back-to-back ones
                double[][] kinds = null;   // [engine][after pause, steady]
                if (burst > 1 && runs > 1) {
                    kinds = new double[ort == null ? 1 : 2][];
                    String[] prefix = {"", "onnx_"};
                    for (int e = 0; e < kinds.length; e++) {
                        kinds[e] = new double[] {Stats.median(everyNth(t1[e], burst, true)), Stats.median(everyNth(t1[e], burst, false))};
                        r.put(prefix[e] + "latency_ms_median_after_pause", round(kinds[e][0], 3));
                        r.put(prefix[e] + "latency_ms_median_steady", round(kinds[e][1], 3));
                    }
                    if (ort != null) {
                        r.put("latency_ratio_after_pause", round(kinds[0][0] / kinds[1][0], 4));
                        r.put("latency_ratio_steady", round(kinds[0][1] / kinds[1][1], 4));
                    }
                }

                // the hot path should allocate nothing: heap bytes per warm forward pass, caller and workers
                long heapPerForward = new Stats.Allocation("jvit-worker").perCall(jv1, 3);
                r.put("heap_bytes_per_forward", heapPerForward);

                Map<String, Object> prof = null;
                double mmShare = Double.NaN;
                if (profile) {
                    Runnable jvP = profileBatch == 1 ? jv1 : profileBatch == batch ? jvB : null;
                    if (jvP == null) {
                        float[] pxP = new float[profileBatch * per];
                        for (int i = 0; i < pxP.length; i++) pxP[i] = pxB[i % pxB.length];
                        jvP = () -> engine.classify(pxP, profileBatch, size);
                    }
                    engine.profile(true);
                    int n = Math.max(3, Math.min(runs, 20));
                    // turning profiling on takes branches of the forward pass that were never taken: it is
                    // deoptimised and recompiled. Run it that way until it has settled, then count.
                    long warmEnd = System.nanoTime() + Math.max(1000, warmupMs / 2) * 1_000_000L;
                    for (int i = 0; i < n || System.nanoTime() < warmEnd; i++) jvP.run();
                    engine.profile(true);
                    long t0 = System.nanoTime();
                    for (int i = 0; i < n; i++) jvP.run();
                    double wall = System.nanoTime() - t0;
                    long[] ns = engine.kernelNanos();
                    engine.profile(false);
                    prof = new LinkedHashMap<>();
                    double sum = 0, mm = 0;
                    for (VisionTransformer.Stage s : VisionTransformer.Stage.values()) {
                        double pct = 100.0 * ns[s.ordinal()] / wall;
                        sum += ns[s.ordinal()];
                        if (s == VisionTransformer.Stage.QKV_MATMUL || s == VisionTransformer.Stage.ATTENTION
                                || s == VisionTransformer.Stage.PROJ_MATMUL || s == VisionTransformer.Stage.MLP_FC1_GELU
                                || s == VisionTransformer.Stage.MLP_FC2) mm += ns[s.ordinal()];
                        Map<String, Object> e = new LinkedHashMap<>();
                        e.put("ms", round(ns[s.ordinal()] / 1e6 / n, 3));
                        e.put("pct", round(pct, 1));
                        prof.put(s.name().toLowerCase(Locale.ROOT), e);
                    }
                    Map<String, Object> other = new LinkedHashMap<>();
                    other.put("ms", round((wall - sum) / 1e6 / n, 3));
                    other.put("pct", round(100 * (wall - sum) / wall, 1));
                    prof.put("other", other);
                    mmShare = 100 * mm / wall;
                    r.put("profile_batch", profileBatch);
                    r.put("profile_forward_ms", round(wall / 1e6 / n, 3));
                    r.put("profile", prof);
                    r.put("matmul_attention_pct", round(mmShare, 1));
                }

                if (json) {
                    out.println(new ObjectMapper().writeValueAsString(r));
                } else {
                    out.println();
                    if (ort != null) {
                        out.printf("%-24s %12s %12s %10s%n", "", "jvit", "ORT", "jvit/ORT");
                        out.printf("%-24s %12s %12s %10.3f%n", "batch-1 median ms", ms(jMed), ms(oMed), jMed / oMed);
                        out.printf("%-24s %12s %12s %10.3f%n", "batch-1 min ms", ms(jMin), ms(oMin), jMin / oMin);
                        if (kinds != null) {
                            out.printf("%-24s %12s %12s %10.3f%n", "  median after a pause", ms(kinds[0][0]), ms(kinds[1][0]), kinds[0][0] / kinds[1][0]);
                            out.printf("%-24s %12s %12s %10.3f%n", "  median back to back", ms(kinds[0][1]), ms(kinds[1][1]), kinds[0][1] / kinds[1][1]);
                        }
                        out.printf("%-24s %12.1f %12.1f %10.3f%n", "batch-" + batch + " images/s", jIps, oIps, jIps / oIps);
                        out.printf("%-24s %12.1f %12.1f%n", "effective GFLOP/s (b1)", eff1, gflop / (oMed / 1e3));
                        out.println("(latency ratio < 1 and throughput ratio > 1: jvit is faster)");
                    } else {
                        out.printf("%-24s %12s%n", "batch-1 median ms", ms(jMed));
                        out.printf("%-24s %12s%n", "batch-1 min ms", ms(jMin));
                        if (kinds != null) {
                            out.printf("%-24s %12s%n", "  median after a pause", ms(kinds[0][0]));
                            out.printf("%-24s %12s%n", "  median back to back", ms(kinds[0][1]));
                        }
                        out.printf("%-24s %12.1f%n", "batch-" + batch + " images/s", jIps);
                    }
                    out.printf("jvit heap allocation per batch-1 forward pass (warm, all threads): %,d bytes (of which the returned logits: %,d)%n",
                            heapPerForward, 16 + 4L * c.numClasses());
                    if (!Double.isNaN(peakT))
                        out.printf("jvit effective: %.1f GFLOP/s at batch 1 (%.0f%% of the %.1f GFLOP/s peak), %.1f at batch %d (%.0f%%)%n",
                                eff1, 100 * eff1 / peakT, peakT, effB, batch, 100 * effB / peakT);
                    else
                        out.printf("jvit effective: %.1f GFLOP/s at batch 1, %.1f at batch %d%n", eff1, effB, batch);
                    if (share < 1)
                        out.printf("  (effective: the model's %.2f GFLOP per image over the time; jvit computes %.2f, its last block on the CLS%s"
                                        + " row%s alone: %.1f GFLOP/s at batch 1%s)%n", gflop, gflopComputed,
                                c.distilled() ? " and distillation" : "", c.distilled() ? "s" : "", eff1 * share,
                                Double.isNaN(peakT) ? "" : String.format(" = %.0f%% of the peak", 100 * eff1 * share / peakT));
                    if (prof != null) {
                        out.printf("%nprofile (batch %d, %.2f ms per forward pass with profiling on):%n", profileBatch, (double) r.get("profile_forward_ms"));
                        for (Map.Entry<String, Object> e : prof.entrySet()) {
                            @SuppressWarnings("unchecked") Map<String, Object> v = (Map<String, Object>) e.getValue();
                            out.printf("  %-18s %9.3f ms %6.1f%%%n", e.getKey(), (double) v.get("ms"), (double) v.get("pct"));
                        }
                        out.printf("  matmul + attention (qkv, attention, proj, fc1+gelu, fc2): %.1f%% of the forward pass%n", mmShare);
                    }
                }
                out.flush();
                return Exit.OK;
            } finally {
                if (ort != null) ort.close();
            }
        }
    }

    /**
     * Times n runs each of a and b in turns of {@link #burst} runs (the order alternating per pair of turns, a
     * pause before each turn); milliseconds, one sample per run.
     */
    private double[][] timeInterleaved(Runnable a, Runnable b, int n, int threads) throws InterruptedException {
        double[] ta = new double[n], tb = new double[n];
        int turns = (n + burst - 1) / burst;
        double[] peaks = new double[peakMs > 0 ? turns : 0];
        for (int i0 = 0, turn = 0; i0 < n; i0 += burst, turn++) {
            boolean aFirst = turn % 2 == 0;
            // a short peak probe before each pair of turns, so that the peak is measured across the timed runs (this
            // host's clock drifts by up to 1.5x within a minute); after a pause, as the turns: the last turn's spinning
            // workers would share the cores with it
            if (peakMs > 0) {
                if (gapMs > 0) Thread.sleep(gapMs);
                peaks[turn] = PeakFlops.sample(threads, probeMs());
            }
            for (int j = 0; j < (b == null ? 1 : 2); j++) {
                boolean runA = (j == 0) == aFirst || b == null;
                Runnable r = runA ? a : b;
                if (gapMs > 0) Thread.sleep(gapMs);
                for (int i = i0; i < Math.min(n, i0 + burst); i++) {
                    long t0 = System.nanoTime();
                    r.run();
                    double dt = (System.nanoTime() - t0) / 1e6;
                    if (runA) ta[i] = dt;
                    else tb[i] = dt;
                }
            }
        }
        if (Boolean.getBoolean("jvit.bench.samples"))
            System.err.println("samples: jvit " + java.util.Arrays.toString(ta) + (b == null ? "" : " other " + java.util.Arrays.toString(tb)));
        return new double[][] {ta, tb, peaks};
    }

    /** Length of the peak probe before each pair of turns (only run when --peak-ms > 0). */
    private int probeMs() { return PeakFlops.shortProbeMs(peakMs); }

    /** The samples at indices that are multiples of n ({@code first}), or all the others. */
    static double[] everyNth(double[] t, int n, boolean first) {
        return java.util.stream.IntStream.range(0, t.length).filter(i -> (i % n == 0) == first).mapToDouble(i -> t[i]).toArray();
    }

    static double round(double v, int digits) {
        if (Double.isNaN(v) || Double.isInfinite(v)) return v;
        double s = Math.pow(10, digits);
        return Math.round(v * s) / s;
    }

    static List<Object> list(Object... o) { return new ArrayList<>(List.of(o)); }
}
