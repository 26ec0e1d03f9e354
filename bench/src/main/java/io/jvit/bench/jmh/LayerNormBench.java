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

/** LayerNorm of the ViT-B residual stream (197 x 768). 8 FLOPs per element counted. */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class LayerNormBench {
    @Param({"1", "2"})
    public int threads;

    KernelCases.LayerNormCase c;

    @Setup(Level.Trial)
    public void setup() {
        c = new KernelCases.LayerNormCase(197, 768, threads);
        KernelCases.warm(c, 30, 500, 8000);
    }

    @Benchmark
    public void layerNorm() { c.run(); }

    @TearDown(Level.Trial)
    public void tearDown() { c.close(); }
}
