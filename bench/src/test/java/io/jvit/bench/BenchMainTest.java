package io.jvit.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.jvit.cli.Exit;
import io.jvit.cli.Main;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code jvit bench} in-process on the small torchvision fixture and its ONNX export. */
class BenchMainTest {
    record Run(int code, String out, String err) {}

    static Path root() {
        String prop = System.getProperty("jvit.root");
        if (prop != null && Files.isDirectory(Path.of(prop, "fixtures"))) return Path.of(prop);
        Path p = Path.of("").toAbsolutePath();
        while (p != null && !Files.isDirectory(p.resolve("fixtures"))) p = p.getParent();
        if (p == null) throw new IllegalStateException("cannot find the repository's fixtures/ folder");
        return p;
    }

    static final String MODEL = root().resolve("fixtures/tv_vit/model.safetensors").toString();
    static final String ONNX = root().resolve("fixtures/onnx/tv_vit_op17.onnx").toString();

    static Run bench(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cl = Main.commandLine(new BenchMain());
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    /** The fixture, short runs: a few seconds in all. */
    static String[] quick(String... more) {
        List<String> a = new ArrayList<>(List.of("--model", MODEL, "--heads", "3", "--threads", "1", "--warmup", "1", "--runs", "3",
                "--batch-runs", "2", "--batch", "2", "--gap-ms", "0", "--warmup-ms", "0"));
        a.addAll(List.of(more));
        if (!a.contains("--peak-ms")) a.addAll(List.of("--peak-ms", "0"));
        if (!a.contains("--jit-wait-ms")) a.addAll(List.of("--jit-wait-ms", "0"));
        return a.toArray(String[]::new);
    }

    static void assertOneLineError(Run r, int code, String contains) {
        assertEquals(code, r.code(), () -> "exit code; stderr: " + r.err());
        List<String> lines = r.err().lines().filter(l -> !l.isBlank()).filter(l -> !l.startsWith("Try '")).toList();
        assertEquals(1, lines.size(), () -> "one error line expected: " + r.err());
        assertTrue(lines.get(0).startsWith("jvit: "), r.err());
        assertTrue(lines.get(0).contains(contains), () -> "'" + contains + "' expected in: " + r.err());
    }

    @Test
    void comparesWithOnnxRuntimeAndPrintsJson() throws Exception {
        Run r = bench(quick("--compare-onnx", ONNX, "--json", "--profile", "--peak-ms", "20", "--jit-wait-ms", "1500"));
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        for (String k : new String[] {"model", "threads", "batch", "latency_ms_median", "latency_ms_min", "throughput_ips", "gflops_effective",
                "peak_gflops", "onnx_latency_ms_median", "onnx_throughput_ips", "latency_ratio", "throughput_ratio",
                "max_abs_logit_diff", "cosine_similarity", "profile", "matmul_attention_pct", "jit_quiet", "jit_wait_s",
                "burst", "gap_ms", "latency_ms_median_after_pause", "latency_ms_median_steady", "onnx_latency_ms_median_after_pause",
                "onnx_latency_ms_median_steady", "latency_ratio_after_pause", "latency_ratio_steady"})
            assertTrue(j.has(k), () -> k + " missing from " + r.out());
        assertEquals(1, j.get("threads").asInt());
        assertEquals(2, j.get("batch").asInt());
        assertTrue(j.get("latency_ms_median").asDouble() > 0);
        assertTrue(j.get("peak_gflops").asDouble() > 0);
        assertTrue(j.get("throughput_ratio").asDouble() > 0);
        assertTrue(j.get("cosine_similarity").asDouble() > 0.99999, r.out());
        assertTrue(j.get("max_abs_logit_diff").asDouble() < 1e-3, r.out());
        // the last block on the CLS row alone: fewer FLOPs computed than the model's, and the computed rate below the effective one
        // (the tiny test model's GFLOP and rates are rounded to a few digits: compare the unrounded share, the others loosely)
        double share = j.get("computed_flop_share").asDouble();
        assertTrue(share > 0.5 && share < 1, r.out());
        assertTrue(j.get("gflop_computed_per_image").asDouble() <= j.get("gflop_per_image").asDouble(), r.out());
        assertTrue(j.get("gflops_computed").asDouble() <= j.get("gflops_effective").asDouble(), r.out());
        assertTrue(j.get("pct_of_peak_computed").asDouble() <= j.get("pct_of_peak").asDouble(), r.out());
        // probes during the timed runs (before each pair of turns) and after them: the peak is the highest of all
        for (String k : new String[] {"peak_gflops_after_runs", "peak_gflops_during_min", "peak_gflops_during_median", "peak_gflops_during_max"})
            assertTrue(j.has(k) && j.get(k).asDouble() > 0, () -> k + " missing or not positive in " + r.out());
        assertTrue(j.get("peak_gflops_during_min").asDouble() <= j.get("peak_gflops_during_median").asDouble()
                && j.get("peak_gflops_during_median").asDouble() <= j.get("peak_gflops_during_max").asDouble(), r.out());
        assertEquals(Math.max(j.get("peak_gflops_after_runs").asDouble(), j.get("peak_gflops_during_max").asDouble()),
                j.get("peak_gflops").asDouble(), 0.011, r.out());
        assertEquals(9, j.get("profile").size(), r.out());   // 8 stages + other
        // the wait for a quiet JIT ends by its cap (here 1.5 s) at the latest
        double wait = j.get("jit_wait_s").asDouble();
        assertTrue(wait >= 0 && wait < 1.5 + 2, r.out());
        assertTrue(j.get("jit_quiet").asBoolean() || wait >= 1.5, r.out());
    }

    @Test
    void loadReportsTimesAndResidentMemory() throws Exception {
        Run r = bench("--load", "--json", "--model", MODEL, "--heads", "3", "--threads", "1", "--steady-ms", "300");
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        long weights = j.get("weight_bytes").asLong();
        assertTrue(weights > 0, r.out());
        for (String k : new String[] {"rss_before_load_bytes", "rss_after_first_result_bytes", "rss_steady_bytes", "hwm_bytes", "packed_weight_bytes",
                "activation_bytes", "cold_first_result_ms", "warm_first_result_ms_median", "warm_pack_ms_median", "rss_warm_first_result_bytes"})
            assertTrue(j.get(k).asDouble() > 0, () -> k + " in " + r.out());
        assertTrue(j.get("steady_passes").asInt() >= 1, r.out());
        assertTrue(j.get("steady_s").asDouble() >= 0.3, r.out());
        assertEquals((double) j.get("rss_steady_bytes").asLong() / weights, j.get("rss_steady_over_weights").asDouble(), 0.001);
        // the packed weights are the weights (panels padded at most to the next 64 columns)
        assertEquals(weights, j.get("packed_weight_bytes").asLong(), weights * 0.5);
        Run none = bench("--load", "--json", "--model", MODEL, "--heads", "3", "--threads", "1", "--steady-ms", "0");
        assertEquals(0, none.code(), none.err());
        assertFalse(new ObjectMapper().readTree(none.out()).has("rss_steady_bytes"), none.out());
    }

    @Test
    void plainTextWithoutOnnx() {
        Run r = bench(quick());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("batch-1 median ms"), r.out());
        assertTrue(r.out().contains("batch-2 images/s"), r.out());
    }

    /** A peak probe whose loop the JIT left uncompiled reports no peak and no shares of it, rather than nonsense. */
    @Test
    void aPeakProbeLeftUncompiledIsReportedAsSuch() throws Exception {
        PeakFlops.Loop stuck = (iters, seed) -> {   // ~100 ns an iteration: a few GFLOP/s, as boxed vectors run
            java.util.concurrent.locks.LockSupport.parkNanos(iters * 100L);
            return seed;
        };
        try {
            PeakFlops.useLoop(stuck, () -> stuck);
            Run text = bench(quick("--peak-ms", "100"));
            assertEquals(0, text.code(), text.err());
            assertTrue(text.out().contains("peak FMA: not measured"), text.out());
            assertFalse(text.out().contains("% of the"), text.out());
            Run json = bench(quick("--peak-ms", "100", "--json"));
            JsonNode j = new ObjectMapper().readTree(json.out());
            assertTrue(j.get("peak_probe_failed").asBoolean(), json.out());
            assertTrue(j.get("pct_of_peak").isNull(), json.out());
            assertTrue(j.get("peak_gflops").isNull(), json.out());
        } finally {
            PeakFlops.useLoop(PeakLoop::kernel, PeakFlops::freshCopy);
        }
    }

    @Test
    void oneRunPerTurnReportsNoSteadyState() throws Exception {
        Run r = bench(quick("--json", "--burst", "1"));
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertEquals(1, j.get("burst").asInt());
        assertFalse(j.has("latency_ms_median_steady"), r.out());
        Run text = bench(quick("--burst", "3"));
        assertTrue(text.out().contains("median back to back"), text.out());
        assertTrue(text.out().contains("turns of 3 runs back to back"), text.out());
    }

    @Test
    void splitsTurnsIntoFirstRunsAndTheRest() {
        double[] t = {10, 1, 2, 11, 3, 4, 12};
        assertArrayEquals(new double[] {10, 11, 12}, BenchMain.everyNth(t, 3, true));
        assertArrayEquals(new double[] {1, 2, 3, 4}, BenchMain.everyNth(t, 3, false));
    }

    @Test
    void rejectsBadCounts() {
        assertOneLineError(bench(quick("--threads", "0")), Exit.USAGE, "--threads");
        assertOneLineError(bench(quick("--batch", "0")), Exit.USAGE, "--batch");
        assertOneLineError(bench(quick("--runs", "0")), Exit.USAGE, "--runs");
        assertOneLineError(bench(quick("--batch-runs", "-1")), Exit.USAGE, "--batch-runs");
        assertOneLineError(bench(quick("--image-size", "30")), Exit.USAGE, "patch size");
        assertOneLineError(bench(quick("--threads", "x")), Exit.USAGE, "--threads");
        assertOneLineError(bench(quick("--jit-wait-ms", "-1")), Exit.USAGE, "--jit-wait-ms");
        assertOneLineError(bench(quick("--burst", "0")), Exit.USAGE, "--burst");
        assertOneLineError(bench(quick("--load", "--steady-ms", "-1")), Exit.USAGE, "--steady-ms");
    }

    @Test
    void rejectsMissingOrNonOnnxFile(@TempDir Path tmp) throws Exception {
        assertOneLineError(bench(quick("--compare-onnx", tmp.resolve("nope.onnx").toString())), Exit.IO, "no such file");
        Path junk = tmp.resolve("junk.onnx");
        Files.writeString(junk, "this is not a protobuf\n");
        assertOneLineError(bench(quick("--compare-onnx", junk.toString())), Exit.MODEL, "junk.onnx");
        assertOneLineError(bench(quick("--compare-onnx", MODEL)), Exit.MODEL, "model.safetensors");
    }

    @Test
    void rejectsMismatchedOnnx(@TempDir Path tmp) throws Exception {
        // the fixture: 3 x 32 x 32 in, 10 classes out
        Path wrongClasses = TinyOnnx.reduceMean(tmp, "classes.onnx", 3, 32);
        assertOneLineError(bench(quick("--compare-onnx", wrongClasses.toString())), Exit.MODEL, "does not match");
        Path wrongSize = TinyOnnx.reduceMean(tmp, "size.onnx", 3, 16);
        assertOneLineError(bench(quick("--compare-onnx", wrongSize.toString())), Exit.MODEL, "input shape [N, 3, 16, 16]");
        Path wrongChannels = TinyOnnx.reduceMean(tmp, "channels.onnx", 1, 32);
        assertOneLineError(bench(quick("--compare-onnx", wrongChannels.toString())), Exit.MODEL, "does not match");
        // the same shapes (3 x 32 x 32 in, 10 classes out) but other weights: the timm fixture
        String otherWeights = root().resolve("fixtures/onnx/timm_vit_op17.onnx").toString();
        assertOneLineError(bench(quick("--compare-onnx", otherWeights)), Exit.MODEL, "not the same model");
    }

    @Test
    void kernelCasesRun() {
        try (KernelCases.Case c = new KernelCases.AttentionCase(50, 2, 16, 2)) {
            c.run();
            assertEquals(4.0 * 50 * 50 * 16 * 2, c.flops());
        }
        try (KernelCases.Case c = new KernelCases.MatmulCase(20, 48, 96, 1, io.jvit.engine.Matmul.Epilogue.GELU)) {
            c.run();
            assertEquals(2.0 * 20 * 48 * 96, c.flops());
        }
    }
}
