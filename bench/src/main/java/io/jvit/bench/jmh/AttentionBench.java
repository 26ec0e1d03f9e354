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
 * Blocked multi-head attention of one image, 12 heads of 64 (ViT-B), at 197 (224 px), 577 (384 px),
 * 1370 (592 px) and 4096 tokens. One op = softmax(QK^T/sqrt d)V for all heads: 4 T^2 d FLOPs per head.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class AttentionBench {
    @Param({"197", "577", "1370", "4096"})
    public int tokens;

    @Param({"1", "2"})
    public int threads;

    KernelCases.AttentionCase c;

    @Setup(Level.Trial)
    public void setup() {
        KernelCases.warmAttention(threads);
        c = new KernelCases.AttentionCase(tokens, 12, 64, threads);
        KernelCases.warm(c, 2, 0, 0);
    }

    @Benchmark
    public void attention() { c.run(); }

    @TearDown(Level.Trial)
    public void tearDown() { c.close(); }
}
