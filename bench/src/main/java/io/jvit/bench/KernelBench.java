package io.jvit.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.jvit.cli.Exit;
import io.jvit.engine.Matmul;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code jvit bench --kernels}: a quick (about a minute) look at each kernel's GFLOP/s on the ViT-B/16 shapes
 * and its share of the FMA peak measured in the same process. Not JMH (tools/jmh.sh is the careful
 * version): each case is warmed up for a fixed time, then timed in several samples of repeated calls;
 * the median sample is reported, with the best beside it.
 *
 * <p>The peak is the highest reading, at that thread count, of the full probe at the start and of the short probe
 * before every sample so far. A kernel's share used to be set against the short probe right before each sample, to
 * cancel this host's drift; but in some phases that probe read 2/3 of the peak for a whole run while the kernel
 * after it ran at full speed (one-thread matmuls at 121-142% "of the peak"), so a low probe is no measure of the
 * machine. The short probes' range is printed instead, to show the drift.
 */
final class KernelBench {
    /** ViT-B/16: M = 197 tokens, (K, N) of qkv, proj, fc1, fc2. */
    static final int[][] MATMUL_SHAPES = {{197, 768, 768}, {197, 768, 2304}, {197, 768, 3072}, {197, 3072, 768}};
    /**
     * One panel of ViT-B's K = 768, on one thread: its weights (192 KB) stay in L2 from call to call, so this is the
     * micro-kernel's own rate, without the read of each panel from L3 or DRAM that the shapes above pay
     * (tools/matmul_shapes.txt).
     */
    static final int[] MATMUL_ONE_PANEL = {197, 768, Matmul.NR};
    static final int[] ATTENTION_TOKENS = {197, 577, 1370, 4096};
    static final int WIDTH = 768, HEADS = 12, HEAD_DIM = 64;

    private final PrintWriter out;
    private final int threads;
    private final int peakMs;
    private final boolean json;

    KernelBench(PrintWriter out, int threads, int peakMs, boolean json) {
        this.out = out;
        this.threads = threads;
        this.peakMs = peakMs;
        this.json = json;
    }

    /**
     * Median and best GFLOP/s of a case: warm-up for {@code warmMs}, then {@code samples} samples of >= {@code sampleMs}.
     * probes: the short peak probe's reading before each sample (empty without one); pctOfPeak: the median's share of
     * the run's peak at its thread count ({@link Peaks#share}; NaN until then, or without a peak).
     */
    record Result(String name, int threads, double median, double best, double msPerCall, double gbps, long heapPerCall,
                  double[] probes, double pctOfPeak) {}

    /** The peak per thread count: the highest probe reading so far, and the lowest (how far the host drifted). */
    static final class Peaks {
        private final Map<Integer, double[]> range = new LinkedHashMap<>();   // {lowest, highest}

        void add(int threads, double gflops) {
            if (Double.isNaN(gflops)) return;
            double[] r = range.computeIfAbsent(threads, t -> new double[] {gflops, gflops});
            r[0] = Math.min(r[0], gflops);
            r[1] = Math.max(r[1], gflops);
        }

        double peak(int threads) { return range.containsKey(threads) ? range.get(threads)[1] : Double.NaN; }

        double lowest(int threads) { return range.containsKey(threads) ? range.get(threads)[0] : Double.NaN; }

        /** Adds the result's probes, then: the result with its median's share of the peak, in percent. */
        Result share(Result r) {
            for (double p : r.probes()) add(r.threads(), p);
            return new Result(r.name(), r.threads(), r.median(), r.best(), r.msPerCall(), r.gbps(), r.heapPerCall(), r.probes(),
                    100 * r.median() / peak(r.threads()));
        }
    }

    static Result measure(KernelCases.Case c, int threads, int warmMs, int samples, int sampleMs, int probeMs) {
        KernelCases.warm(c, 10, warmMs, 10_000);
        long end = System.nanoTime() + warmMs * 1_000_000L;
        int calls = 0;
        long t0 = System.nanoTime();
        do {
            c.run();
            calls++;
        } while (System.nanoTime() < end || calls < 2);
        double perCall = (double) (System.nanoTime() - t0) / calls;
        int reps = (int) Math.max(1, Math.ceil(sampleMs * 1e6 / perCall));
        double[] g = new double[samples], msc = new double[samples], probes = new double[probeMs > 0 ? samples : 0];
        for (int s = 0; s < samples; s++) {
            // this host's speed drifts by up to 1.5x within a minute: a short probe before each sample may find a
            // higher peak than the one at the start (after a pause: the kernel's workers spin for 2 ms after each
            // call and would share the cores with the probe)
            if (probeMs > 0) {
                try {
                    Thread.sleep(10);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                probes[s] = PeakFlops.sample(threads, probeMs);
            }
            long a = System.nanoTime();
            for (int i = 0; i < reps; i++) c.run();
            double ns = (double) (System.nanoTime() - a) / reps;
            g[s] = c.flops() / ns;
            msc[s] = ns / 1e6;
        }
        double med = Stats.median(g);
        double gbps = c.bytes() > 0 ? c.bytes() / (Stats.median(msc) * 1e6) : Double.NaN;
        // a compiled kernel allocates nothing: heap bytes per call (caller and pool workers) after the timing
        long heap = new Stats.Allocation("jvit-worker").perCall(c::run, Math.max(1, Math.min(reps, 20)));
        return new Result(c.name(), threads, med, Stats.max(g), Stats.median(msc), gbps, heap, probes, Double.NaN);
    }

    /** Length of the peak probe before each sample: a fifth of --peak-ms, at least 50 ms (0: no probe). */
    private int probeMs() { return PeakFlops.shortProbeMs(peakMs); }

    int run() throws Exception {
        List<Integer> tcounts = threads == 1 ? List.of(1) : List.of(1, threads);
        Map<Integer, Double> peak = new LinkedHashMap<>();
        Peaks peaks = new Peaks();
        for (int t : tcounts) {
            peak.put(t, peakMs > 0 ? PeakFlops.measure(t, peakMs, 3) : Double.NaN);
            peaks.add(t, peak.get(t));
        }
        if (!json) {
            out.printf("jvit bench --kernels: %d-bit vectors; peak FMA (register-only Vector API loop): %s%n",
                    io.jvit.engine.VectorMath.LANES * 32, peakText(peak));
            out.printf("%-40s %3s %9s %9s %7s %10s %8s %12s%n", "kernel", "thr", "GFLOP/s", "best", "%peak", "ms/call", "GB/s", "heap B/call");
            out.flush();
        }
        List<Result> results = new ArrayList<>();
        Map<Integer, List<Double>> matmulByThreads = new LinkedHashMap<>();
        for (int t : tcounts) {
            for (int[] s : MATMUL_SHAPES) {
                Matmul.Epilogue e = KernelCases.epilogueFor(s[1], s[2], WIDTH);
                try (KernelCases.Case c = new KernelCases.MatmulCase(s[0], s[1], s[2], t, e)) {
                    Result r = peaks.share(measure(c, t, 300, 5, 150, probeMs()));
                    results.add(r);
                    matmulByThreads.computeIfAbsent(t, k -> new ArrayList<>()).add(r.median());
                    print(r);
                }
                if (e == Matmul.Epilogue.STORE) continue;
                // the same product without its activation: the matmul alone, and what the fused GELU costs (not in the mean)
                try (KernelCases.Case c = new KernelCases.MatmulCase(s[0], s[1], s[2], t, Matmul.Epilogue.STORE)) {
                    Result r = peaks.share(measure(c, t, 300, 5, 150, probeMs()));
                    results.add(r);
                    print(r);
                }
            }
            if (t != 1) continue;   // one panel is too little work to share (0.1 ms a call)
            int[] s = MATMUL_ONE_PANEL;   // not in the matmul mean below
            try (KernelCases.Case c = new KernelCases.MatmulCase(s[0], s[1], s[2], t, Matmul.Epilogue.STORE)) {
                Result r = peaks.share(measure(c, t, 300, 5, 150, probeMs()));
                results.add(r);
                print(r);
            }
        }
        for (int t : tcounts) {
            KernelCases.warmAttention(t);
            for (int tokens : ATTENTION_TOKENS) {
                try (KernelCases.Case c = new KernelCases.AttentionCase(tokens, HEADS, HEAD_DIM, t)) {
                    Result r = peaks.share(measure(c, t, 300, tokens >= 4096 ? 3 : 5, 150, probeMs()));
                    results.add(r);
                    print(r);
                }
            }
        }
        for (int t : tcounts) {
            try (KernelCases.Case c = new KernelCases.LayerNormCase(197, WIDTH, t)) {
                Result r = peaks.share(measure(c, t, 200, 5, 100, probeMs()));
                results.add(r);
                print(r);
            }
        }
        for (int n : new int[] {197, 1370}) {
            try (KernelCases.Case c = new KernelCases.SoftmaxCase(Math.min(n, 256), n)) {
                Result r = peaks.share(measure(c, 1, 200, 5, 100, probeMs()));
                results.add(r);
                print(r);
            }
        }
        // attention against the matmul at the same thread count (issue target: >= 50%)
        Map<String, Object> ratio = new LinkedHashMap<>();
        for (int t : tcounts) {
            double mm = matmulByThreads.get(t).stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
            for (Result r : results)
                if (r.threads() == t && r.name().startsWith("attention")) {
                    ratio.put(r.name() + " @" + t, round1(100 * r.median() / mm));
                }
            if (!json) out.printf("attention / matmul GFLOP/s on %d thread%s (matmul: mean of the 4 shapes, %.1f):%s%n", t, t == 1 ? "" : "s", mm,
                    attentionRatios(results, t, mm));
        }
        if (!json) {
            out.println("matmul epilogues as in the forward pass: qkv, proj and fc2 store (the residual add is in the next LayerNorm), fc1 GELU; M = 197 (padded to "
                    + Matmul.padRows(197) + " inside; only 197 rows counted). matmul 197x768x" + Matmul.NR
                    + ": one panel, its weights staying in L2: the micro-kernel's own rate (the others read theirs from L3 or DRAM)."
                    + " fc1's shape also with a plain store: the matmul alone (the GELU's time is the difference; not in the mean).");
            out.println("layernorm: 8 FLOP/element counted; softmax: 20 (exp's polynomial included), rows x n one thread.");
            if (peakMs > 0) out.println("%peak: of the highest probe so far at that thread count (the one at the start, or the short one before a sample);"
                    + " GFLOP/s at the end " + peakRange(peaks, tcounts) + ".");
        } else {
            Map<String, Object> j = new LinkedHashMap<>();
            j.put("threads", threads);
            Map<String, Object> pk = new LinkedHashMap<>();
            for (Map.Entry<Integer, Double> e : peak.entrySet()) pk.put(Integer.toString(e.getKey()), round1(e.getValue()));
            j.put("peak_gflops_start", pk);
            Map<String, Object> hi = new LinkedHashMap<>(), lo = new LinkedHashMap<>();
            for (int t : tcounts) {
                hi.put(Integer.toString(t), round1(peaks.peak(t)));
                lo.put(Integer.toString(t), round1(peaks.lowest(t)));
            }
            j.put("peak_gflops", hi);
            j.put("peak_probe_lowest_gflops", lo);
            List<Map<String, Object>> rs = new ArrayList<>();
            for (Result r : results) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("kernel", r.name());
                m.put("threads", r.threads());
                m.put("gflops", round1(r.median()));
                m.put("gflops_best", round1(r.best()));
                m.put("pct_of_peak", Double.isNaN(r.pctOfPeak()) ? null : round1(r.pctOfPeak()));
                m.put("ms_per_call", BenchMain.round(r.msPerCall(), 4));
                if (!Double.isNaN(r.gbps())) m.put("gbps", round1(r.gbps()));
                m.put("heap_bytes_per_call", r.heapPerCall());
                rs.add(m);
            }
            j.put("kernels", rs);
            j.put("attention_pct_of_matmul", ratio);
            out.println(new ObjectMapper().writeValueAsString(j));
        }
        out.flush();
        return Exit.OK;
    }

    private static String attentionRatios(List<Result> results, int t, double mm) {
        StringBuilder b = new StringBuilder();
        for (Result r : results)
            if (r.threads() == t && r.name().startsWith("attention"))
                b.append(String.format(" %s tokens %.0f%%", r.name().split(" ")[1], 100 * r.median() / mm));
        return b.toString();
    }

    private static String peakRange(Peaks peaks, List<Integer> tcounts) {
        StringBuilder b = new StringBuilder();
        for (int t : tcounts)
            b.append(b.isEmpty() ? "" : "; ").append(String.format("%d thread%s: peak %.1f, lowest probe %.1f", t, t == 1 ? "" : "s", peaks.peak(t), peaks.lowest(t)));
        return b.toString();
    }

    private static String peakText(Map<Integer, Double> peak) {
        StringBuilder b = new StringBuilder();
        for (Map.Entry<Integer, Double> e : peak.entrySet())
            b.append(b.isEmpty() ? "" : ", ").append(Double.isNaN(e.getValue())
                    ? String.format("not measured on %d thread%s", e.getKey(), e.getKey() == 1 ? "" : "s")
                    : String.format("%.1f GFLOP/s on %d thread%s", e.getValue(), e.getKey(), e.getKey() == 1 ? "" : "s"));
        if (PeakFlops.gaveUp())
            b.append(" (the probe's loop ran under ").append((int) PeakFlops.COMPILED_FLOOR)
                    .append(" GFLOP/s a thread: not compiled by the JIT, fresh copies included)");
        return b.toString();
    }

    private void print(Result r) {
        if (json) return;
        out.printf("%-40s %3d %9.1f %9.1f %6s%% %10.3f %8s %12d%n", r.name(), r.threads(), r.median(), r.best(),
                Double.isNaN(r.pctOfPeak()) ? "-" : String.format("%.0f", r.pctOfPeak()), r.msPerCall(),
                Double.isNaN(r.gbps()) ? "" : String.format("%.1f", r.gbps()), r.heapPerCall());
        out.flush();
    }

    private static Object round1(double v) { return Double.isNaN(v) ? null : BenchMain.round(v, 1); }
}
