package io.jvit.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.jvit.cli.Exit;
import io.jvit.cli.ModelOptions;
import io.jvit.engine.ViTConfig;
import io.jvit.loader.ImageClassifier;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * {@code jvit bench --load}: time from a model file to the first logits (open: map, parse, pack; then one
 * batch-1 forward pass), first in a cold JVM and then after warm-up (the same load repeated), and the
 * process's resident memory after the first load against the size of the weights.
 */
final class LoadBench {
    private LoadBench() {}

    /**
     * @param steadyMs how long at least the model keeps running after the first result before the steady-state
     *                 reading (0: none); the default, 11 s, covers two of the launcher's 5 s trim periods
     */
    static int run(PrintWriter out, ModelOptions model, boolean prewarm, long steadyMs, boolean json) throws Exception {
        Map<String, Object> j = new LinkedHashMap<>();
        Path path = model.modelPath();
        long tp = System.nanoTime();
        double prewarmMs = prewarm ? KernelCases.prewarm(model.threads) : 0;
        if (prewarm) j.put("prewarm_ms", BenchMain.round(prewarmMs, 1));
        long rss0 = Stats.rss();
        long t0 = System.nanoTime();
        ImageClassifier vit = model.open();
        long t1 = System.nanoTime();
        ViTConfig c = vit.config();
        float[] px = new float[c.channels() * c.imageSize() * c.imageSize()];
        SplittableRandom rnd = new SplittableRandom(7);
        for (int i = 0; i < px.length; i++) px[i] = (float) rnd.nextGaussian();
        vit.logits(px, 1);
        long t2 = System.nanoTime();
        Map<String, Long> st = Stats.procStatus();
        long direct = Stats.nativeBytes();
        long weights = vit.parameterCount() * 4;
        long file = Files.isRegularFile(path) ? Files.size(path) : -1;
        long packed = vit.engine().packedWeightBytes();
        long act = vit.engine().activationBytes();
        Runtime rt = Runtime.getRuntime();
        long heapUsed = rt.totalMemory() - rt.freeMemory();
        long rss = st.getOrDefault("VmRSS", -1L);

        j.put("model", path.toString());
        j.put("threads", vit.threads());
        j.put("weight_bytes", weights);
        j.put("file_bytes", file);
        j.put("packed_weight_bytes", packed);
        j.put("cold_open_ms", BenchMain.round((t1 - t0) / 1e6, 1));
        j.put("cold_first_result_ms", BenchMain.round((t2 - t0) / 1e6, 1));
        j.put("cold_first_result_with_prewarm_ms", BenchMain.round((t2 - tp) / 1e6, 1));
        j.put("rss_before_load_bytes", rss0);
        j.put("rss_after_first_result_bytes", rss);
        j.put("hwm_bytes", st.getOrDefault("VmHWM", -1L));
        j.put("rss_anon_bytes", st.getOrDefault("RssAnon", -1L));
        j.put("rss_file_bytes", st.getOrDefault("RssFile", -1L));
        if (direct >= 0) j.put("native_bytes", direct);
        j.put("activation_bytes", act);
        j.put("heap_committed_bytes", rt.totalMemory());
        j.put("heap_used_bytes", heapUsed);
        j.put("rss_over_weights", BenchMain.round((double) rss / weights, 3));
        j.put("rss_growth_over_weights", BenchMain.round((double) (rss - rss0) / weights, 3));

        // steady state: the same model kept running until the JIT has been quiet for two 1-second windows and
        // at least steadyMs have passed. The compiles that the first pass started hold the JIT's working memory
        // until they finish; the JVM returns its freed arenas to malloc within 5 s (its chunk pool cleaner) and
        // the launcher's periodic trim (-XX:TrimNativeHeapInterval=5000) hands them back to the system.
        int steadyPasses = 0;
        boolean quiet = false;
        double steadyS = 0;
        Map<String, Long> ss = null;
        long rssSteady = -1;
        if (steadyMs > 0) {
            Stats.JitWatch jit = new Stats.JitWatch(1000);
            long s0 = System.nanoTime();
            while (!(quiet && System.nanoTime() - s0 >= steadyMs * 1_000_000L) && System.nanoTime() - s0 < Math.max(60_000, steadyMs) * 1_000_000L) {
                vit.logits(px, 1);
                steadyPasses++;
                quiet = jit.quiet();
            }
            steadyS = (System.nanoTime() - s0) / 1e9;
            ss = Stats.procStatus();
            rssSteady = ss.getOrDefault("VmRSS", -1L);
            j.put("steady_passes", steadyPasses);
            j.put("steady_s", BenchMain.round(steadyS, 1));
            j.put("steady_jit_quiet", quiet);
            j.put("rss_steady_bytes", rssSteady);
            j.put("rss_steady_anon_bytes", ss.getOrDefault("RssAnon", -1L));
            j.put("rss_steady_over_weights", BenchMain.round((double) rssSteady / weights, 3));
            j.put("hwm_steady_bytes", ss.getOrDefault("VmHWM", -1L));
        }

        // warm: the same load and first result again, JIT compiled by now
        int n = 5;
        double[] open = new double[n], first = new double[n];
        for (int i = 0; i < n; i++) {
            vit.close();
            System.gc();
            long a = System.nanoTime();
            vit = model.open();
            long b = System.nanoTime();
            vit.logits(px, 1);
            long e = System.nanoTime();
            open[i] = (b - a) / 1e6;
            first[i] = (e - a) / 1e6;
        }
        // resident right after a warm load's first result (the model held, four before it closed); the JIT is
        // compiling the loading code by now, and its freed memory waits for the next trim
        long rssWarm = Stats.rss();
        j.put("rss_warm_first_result_bytes", rssWarm);
        j.put("rss_warm_first_result_over_weights", BenchMain.round((double) rssWarm / weights, 3));
        // the warm open split: parse and map the file (ModelLoader.load), then pack it (VisionTransformer)
        double[] parse = new double[n], pack = new double[n];
        for (int i = 0; i < n; i++) {
            System.gc();
            long a = System.nanoTime();
            try (io.jvit.engine.ViTModel m = io.jvit.loader.ModelLoader.load(path, model.loadOptions())) {
                long b = System.nanoTime();
                io.jvit.engine.VisionTransformer v = new io.jvit.engine.VisionTransformer(m, model.threads);
                long e = System.nanoTime();
                v.close();
                parse[i] = (b - a) / 1e6;
                pack[i] = (e - b) / 1e6;
            }
        }
        j.put("warm_parse_ms_median", BenchMain.round(Stats.median(parse), 1));
        j.put("warm_pack_ms_median", BenchMain.round(Stats.median(pack), 1));
        // an already warm forward pass, to split load from compute
        long f0 = System.nanoTime();
        vit.logits(px, 1);
        double fwd = (System.nanoTime() - f0) / 1e6;
        vit.close();
        j.put("warm_open_ms_median", BenchMain.round(Stats.median(open), 1));
        j.put("warm_first_result_ms_median", BenchMain.round(Stats.median(first), 1));
        j.put("warm_first_result_ms_min", BenchMain.round(Stats.min(first), 1));
        j.put("warm_forward_ms", BenchMain.round(fwd, 1));

        if (json) {
            out.println(new ObjectMapper().writeValueAsString(j));
        } else {
            out.printf("jvit bench --load: %s (%s), %d thread%s%n", path, c.summary(), model.threads, model.threads == 1 ? "" : "s");
            out.printf("weights: %s fp32 (%,d parameters; file %s); packed off-heap: %s%n", Stats.mb(weights), weights / 4,
                    Stats.mb(file), Stats.mb(packed));
            if (prewarm) out.printf("prewarm (every kernel path on tiny inputs): %.0f ms%n", prewarmMs);
            out.printf("cold JVM: open %.0f ms, open to first logits %.0f ms%s%n", (t1 - t0) / 1e6, (t2 - t0) / 1e6,
                    prewarm ? String.format(" (%.0f ms with the prewarm)", (t2 - tp) / 1e6) : "");
            out.printf("after warm-up (median of %d): open %.0f ms, open to first logits %.0f ms (min %.0f); a warm forward pass alone %.0f ms%n",
                    n, Stats.median(open), Stats.median(first), Stats.min(first), fwd);
            out.printf("  warm open = map and parse (ModelLoader.load) %.0f ms + pack (VisionTransformer) %.0f ms (medians of %d)%n",
                    Stats.median(parse), Stats.median(pack), n);
            out.printf("  resident after the last warm load's first result: RSS %s (%.2fx the weights)%n", Stats.mb(rssWarm), (double) rssWarm / weights);
            out.printf("resident after the first result: RSS %s (%.2fx the weights; %s before loading, so +%.2fx), peak RSS (HWM) %s%n",
                    Stats.mb(rss), (double) rss / weights, Stats.mb(rss0), (double) (rss - rss0) / weights,
                    Stats.mb(st.getOrDefault("VmHWM", -1L)));
            out.printf("  anonymous %s, file-backed %s; %sactivations %s; Java heap committed %s, used %s%n",
                    Stats.mb(st.getOrDefault("RssAnon", -1L)), Stats.mb(st.getOrDefault("RssFile", -1L)),
                    direct >= 0 ? "off-heap (NMT) " + Stats.mb(direct) + ", " : "", Stats.mb(act), Stats.mb(rt.totalMemory()), Stats.mb(heapUsed));
            if (ss != null) {
                out.printf("resident in steady state (%d more passes over %.1f s, the JIT %s): RSS %s (%.2fx the weights), anonymous %s, peak RSS (HWM) %s%n",
                        steadyPasses, steadyS, quiet ? "quiet" : "still compiling", Stats.mb(rssSteady), (double) rssSteady / weights,
                        Stats.mb(ss.getOrDefault("RssAnon", -1L)), Stats.mb(ss.getOrDefault("VmHWM", -1L)));
            }
        }
        out.flush();
        return Exit.OK;
    }
}
