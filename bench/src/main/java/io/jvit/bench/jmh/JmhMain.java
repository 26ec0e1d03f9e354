package io.jvit.bench.jmh;

import io.jvit.bench.KernelCases;
import io.jvit.bench.PeakFlops;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.CommandLineOptions;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Runs the JMH benchmarks (arguments as JMH's own: include regex, -f, -wi, -i, -w, -r, -jvmArgsAppend...)
 * and then prints each result as GFLOP/s and % of the FMA peak measured in the same run (PeakBench; when
 * it was not selected, the peak is probed in this JVM).
 */
public final class JmhMain {
    private JmhMain() {}

    public static void main(String[] args) throws Exception {
        CommandLineOptions opts = new CommandLineOptions(args);
        if (opts.shouldHelp() || opts.shouldList() || opts.shouldListProfilers() || opts.shouldListResultFormats()) {
            org.openjdk.jmh.Main.main(args);
            return;
        }
        Collection<RunResult> results = new Runner(opts).run();
        Map<Integer, Double> peak = new LinkedHashMap<>();
        List<String[]> rows = new ArrayList<>();
        for (RunResult r : results) {
            String bench = r.getParams().getBenchmark();
            String method = bench.substring(bench.lastIndexOf('.') + 1);
            double ops = r.getPrimaryResult().getScore();
            if (method.startsWith("peak")) {
                int t = r.getParams().getThreads();
                peak.put(t, ops * PeakBench.ITERS * PeakFlops.FLOPS_PER_ITER / 1e9);
            }
        }
        for (int t : new int[] {1, 2}) if (!peak.containsKey(t)) peak.put(t, PeakFlops.measure(t, 300, 3));
        System.out.println();
        System.out.println("GFLOP/s (JMH score x FLOPs per op) and share of the FMA peak of the same run:");
        System.out.printf(Locale.ROOT, "  peak: %.1f GFLOP/s on 1 thread, %.1f on 2%n", peak.get(1), peak.get(2));
        System.out.printf(Locale.ROOT, "%-34s %4s %12s %10s %9s %7s%n", "benchmark", "thr", "ops/s", "GFLOP/s", "+-", "%peak");
        for (RunResult r : results) {
            String bench = r.getParams().getBenchmark();
            String cls = bench.substring(0, bench.lastIndexOf('.'));
            cls = cls.substring(cls.lastIndexOf('.') + 1);
            String method = bench.substring(bench.lastIndexOf('.') + 1);
            double ops = r.getPrimaryResult().getScore(), err = r.getPrimaryResult().getScoreError();
            int threads = r.getParams().getThreads();
            String label = cls.replace("Bench", "");
            double flops;
            switch (cls) {
                case "MatmulBench" -> {
                    String[] s = r.getParams().getParam("shape").split("x");
                    flops = 2.0 * Double.parseDouble(s[0]) * Double.parseDouble(s[1]) * Double.parseDouble(s[2]);
                    threads = Integer.parseInt(r.getParams().getParam("threads"));
                    label += " " + r.getParams().getParam("shape");
                }
                case "AttentionBench" -> {
                    double t = Double.parseDouble(r.getParams().getParam("tokens"));
                    flops = 4.0 * t * t * 64 * 12;
                    threads = Integer.parseInt(r.getParams().getParam("threads"));
                    label += " " + (int) t + " tokens";
                }
                case "LayerNormBench" -> {
                    flops = (double) KernelCases.LayerNormCase.FLOPS_PER_ELEMENT * 197 * 768;
                    threads = Integer.parseInt(r.getParams().getParam("threads"));
                    label += " 197x768";
                }
                case "SoftmaxBench" -> {
                    int n = Integer.parseInt(r.getParams().getParam("n"));
                    flops = (double) KernelCases.SoftmaxCase.FLOPS_PER_ELEMENT * SoftmaxBench.ROWS * n;
                    label += " " + SoftmaxBench.ROWS + "x" + n;
                }
                case "PeakBench" -> {
                    flops = (double) PeakBench.ITERS * PeakFlops.FLOPS_PER_ITER;
                    label += " " + method;
                }
                default -> {
                    flops = Double.NaN;
                    label += "." + method;
                }
            }
            double g = ops * flops / 1e9, ge = err * flops / 1e9;
            Double p = peak.get(threads);
            System.out.printf(Locale.ROOT, "%-34s %4d %12.1f %10.1f %9.1f %6s%%%n", label, threads, ops, g, ge,
                    p == null || Double.isNaN(g) ? "-" : String.format(Locale.ROOT, "%.0f", 100 * g / p));
        }
    }
}
