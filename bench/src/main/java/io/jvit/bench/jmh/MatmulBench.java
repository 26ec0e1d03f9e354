package io.jvit.bench.jmh;

import io.jvit.bench.KernelCases;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.util.concurrent.TimeUnit;

/**
 * The packed matmul on the ViT-B/16 shapes (M x K x N: qkv, proj, fc1, fc2 at 197 tokens), with the
 * epilogue the forward pass uses, on the engine's worker pool of 1 or 2 threads. One op = one product;
 * {@link JmhMain} turns ops/s into GFLOP/s (2 M K N per op) and % of the FMA peak.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class MatmulBench {
    @Param({"197x768x768", "197x768x2304", "197x768x3072", "197x3072x768"})
    public String shape;

    @Param({"1", "2"})
    public int threads;

    KernelCases.MatmulCase c;

    @Setup(Level.Trial)
    public void setup() {
        String[] s = shape.split("x");
        int m = Integer.parseInt(s[0]), k = Integer.parseInt(s[1]), n = Integer.parseInt(s[2]);
        c = new KernelCases.MatmulCase(m, k, n, threads, KernelCases.epilogueFor(k, n, 768));
        KernelCases.warm(c, 30, 500, 8000);
    }

    @Benchmark
    public void matmul() { c.run(); }

    @TearDown(Level.Trial)
    public void tearDown() { c.close(); }
}
