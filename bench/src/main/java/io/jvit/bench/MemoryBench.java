package io.jvit.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.jvit.cli.CliException;
import io.jvit.cli.Exit;
import io.jvit.cli.ModelOptions;
import io.jvit.engine.Attention;
import io.jvit.engine.ViTConfig;
import io.jvit.engine.VisionTransformer;
import io.jvit.loader.ImageClassifier;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * {@code jvit bench --memory}: shows that attention memory grows linearly with the token count.
 * <ol>
 * <li>Attention alone (12 heads of 64, one image) at 197..4096 tokens: native memory the attention object
 * holds (its fixed per-worker scratch, then the per-worker key and value buffers of one head it grows on first use), heap bytes
 * allocated per call after warm-up, and what a full N x N score matrix would take; GFLOP/s beside the
 * matmul's.</li>
 * <li>The model at several image sizes (position embeddings resampled): activation bytes, tokens, bytes per
 * token, the JVM's native (direct) memory and the process RSS after each size.</li>
 * </ol>
 */
final class MemoryBench {
    private MemoryBench() {}

    static int run(PrintWriter out, ModelOptions model, List<Integer> sizes, int peakMs, boolean json) throws Exception {
        int threads = model.threads;
        Map<String, Object> j = new LinkedHashMap<>();
        j.put("threads", threads);

        // 1. attention alone
        int heads = KernelBench.HEADS, d = KernelBench.HEAD_DIM, width = heads * d;
        boolean nmt = Stats.nmtOn();
        String src = nmt ? "native memory by NMT" : "RssAnon growth (run with JVIT_JAVA_OPTS=-XX:NativeMemoryTracking=summary for exact native bytes)";
        j.put("measured_by", nmt ? "nmt" : "rss_anon");
        long before = Stats.offHeapOrAnon();
        Attention probe = new Attention(threads, heads, d);
        long scratch = Stats.offHeapOrAnon() - before;
        probe.close();
        double matmul = 0;
        for (int[] s : KernelBench.MATMUL_SHAPES)
            try (KernelCases.Case c = new KernelCases.MatmulCase(s[0], s[1], s[2], threads, KernelCases.epilogueFor(s[1], s[2], width))) {
                matmul += KernelBench.measure(c, threads, 200, 3, 100, 0).median() / KernelBench.MATMUL_SHAPES.length;
            }
        if (!json) {
            out.printf("attention alone (1 image, %d heads x %d, %d thread%s): native memory held by the attention object, heap allocated per call%n",
                    heads, d, threads, threads == 1 ? "" : "s");
            out.printf("measured: %s%n", src);
            out.printf("fixed scratch for %d worker%s: %s (measured at construction)%n", threads, threads == 1 ? "" : "s", Stats.mb(scratch));
            out.printf("%7s %12s %14s %12s %12s %16s %12s %10s %9s%n", "tokens", "keys buffer", "engine total", "measured", "heap/call",
                    "N x N scores", "bytes/token", "GFLOP/s", "%matmul");
        }
        List<Map<String, Object>> att = new ArrayList<>();
        KernelCases.warmAttention(threads);
        for (int tokens : KernelBench.ATTENTION_TOKENS) {
            try (KernelCases.AttentionCase c = new KernelCases.AttentionCase(tokens, heads, d, threads)) {
                long d0 = Stats.offHeapOrAnon();
                c.run();
                long grown = Stats.offHeapOrAnon() - d0;
                KernelCases.warm(c, 3, 300, 10_000);
                long heap = new Stats.Allocation("jvit-worker").perCall(c::run, tokens >= 4096 ? 2 : 5);
                double g = KernelBench.measure(c, threads, 100, tokens >= 4096 ? 2 : 3, 100, 0).median();
                long keys = Attention.keyBufferBytes(threads, tokens, d);
                long engine = c.engineBytes();
                long nn = (long) heads * tokens * tokens * 4;
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("tokens", tokens);
                m.put("key_buffer_bytes", keys);
                m.put("engine_bytes", engine);
                m.put("measured_growth_bytes", grown);
                m.put("scratch_bytes", scratch);
                m.put("heap_bytes_per_call", heap);
                m.put("full_score_matrix_bytes", nn);
                m.put("bytes_per_token", engine / tokens);
                m.put("gflops", BenchMain.round(g, 1));
                m.put("pct_of_matmul", BenchMain.round(100 * g / matmul, 1));
                att.add(m);
                if (!json)
                    out.printf("%7d %12s %14s %12s %12d %16s %12d %10.1f %8.0f%%%n", tokens, Stats.mb(keys), Stats.mb(engine), Stats.mb(grown), heap,
                            Stats.mb(nn), engine / tokens, g, 100 * g / matmul);
            }
        }
        j.put("attention", att);
        j.put("matmul_gflops_mean", BenchMain.round(matmul, 1));
        if (!json) {
            out.printf("(keys buffer: Attention.keyBufferBytes, one head per worker; engine total: Attention.bytesFor, keys + values + scratch; measured: growth on the first call;%n");
            out.printf(" heap/call: bytes allocated on the Java heap per call after warm-up; matmul reference: mean of the 4 ViT-B/16 shapes, %.1f GFLOP/s on %d thread%s)%n%n",
                    matmul, threads, threads == 1 ? "" : "s");
        }

        // 2. the whole model at growing image sizes
        List<Integer> sorted = new ArrayList<>(sizes);
        sorted.sort(null);
        List<Map<String, Object>> rows = new ArrayList<>();
        try (ImageClassifier vit = model.open()) {
            ViTConfig c = vit.config();
            VisionTransformer engine = vit.engine();
            for (int s : sorted)
                if (s % c.patchSize() != 0)
                    throw new CliException(Exit.USAGE, "--sizes: " + s + " is not a multiple of the patch size " + c.patchSize());
            if (!json) {
                out.printf("model %s (%s), %d thread%s: one image per size, buffers grown as needed%n", vit.modelPath(), c.summary(),
                        threads, threads == 1 ? "" : "s");
                out.printf("%6s %7s %14s %12s %14s %14s %12s %12s %9s %9s%n", "size", "tokens", "activations", "bytes/token", "attn keys",
                        "N x N scores", nmt ? "native" : "", "RSS", "seconds", "GFLOP/s");
            }
            SplittableRandom rnd = new SplittableRandom(1);
            // warm-up at the smallest size, so the largest is not timed with cold code
            int first = sorted.get(0);
            float[] w = new float[c.channels() * first * first];
            for (int i = 0; i < w.length; i++) w[i] = (float) rnd.nextGaussian();
            for (int i = 0; i < 3; i++) engine.classify(w, 1, first);
            for (int s : sorted) {
                float[] px = new float[c.channels() * s * s];
                for (int i = 0; i < px.length; i++) px[i] = (float) rnd.nextGaussian();
                long t0 = System.nanoTime();
                engine.classify(px, 1, s);
                double sec = (System.nanoTime() - t0) / 1e9;
                int tokens = (s / c.patchSize()) * (s / c.patchSize()) + c.prefixTokens();
                long act = engine.activationBytes();
                long keys = Attention.keyBufferBytes(threads, tokens, c.headDim());
                long nn = (long) c.heads() * tokens * tokens * 4;
                long direct = Stats.nativeBytes(), rss = Stats.rss();
                double g = c.gflopsPerImage(s) / sec;
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("image_size", s);
                m.put("tokens", tokens);
                m.put("activation_bytes", act);
                m.put("activation_bytes_per_token", act / tokens);
                m.put("attention_key_buffer_bytes", keys);
                m.put("full_score_matrix_bytes", nn);
                if (direct >= 0) m.put("native_bytes", direct);
                m.put("rss_bytes", rss);
                m.put("seconds", BenchMain.round(sec, 3));
                m.put("gflops", BenchMain.round(g, 1));
                rows.add(m);
                if (!json)
                    out.printf("%6d %7d %14s %12d %14s %14s %12s %12s %9.3f %9.1f%n", s, tokens, Stats.mb(act), act / tokens, Stats.mb(keys),
                            Stats.mb(nn), direct >= 0 ? Stats.mb(direct) : "", Stats.mb(rss), sec, g);
                out.flush();
            }
            j.put("model", vit.modelPath().toString());
            j.put("packed_weight_bytes", engine.packedWeightBytes());
            // NMT sees Arena allocations only: the 2 MB-page mappings (HugePages) of packed weights and large activation
            // buffers are in RSS, not in NMT's total (with -Djvit.hugePages=false they come from the Arena and are)
            if (!json) out.printf("(activations: VisionTransformer.activationBytes(); native: off-heap memory by NMT, which does not see what is"
                            + " mapped on 2 MB pages: the packed weights, %s, and activation buffers from 2 MB up; RSS holds them)%n",
                    Stats.mb(engine.packedWeightBytes()));
        }
        j.put("sizes", rows);
        if (json) out.println(new ObjectMapper().writeValueAsString(j));
        out.flush();
        return Exit.OK;
    }
}
