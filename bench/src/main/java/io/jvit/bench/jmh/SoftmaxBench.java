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

/** Row softmax over n-wide rows (256 rows of 197 or 1370), one thread. 20 FLOPs per element counted. */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class SoftmaxBench {
    public static final int ROWS = 256;

    @Param({"197", "1370"})
    public int n;

    KernelCases.SoftmaxCase c;

    @Setup(Level.Trial)
    public void setup() {
        c = new KernelCases.SoftmaxCase(ROWS, n);
        KernelCases.warm(c, 30, 500, 8000);
    }

    @Benchmark
    public void softmax() { c.run(); }

    @TearDown(Level.Trial)
    public void tearDown() { c.close(); }
}
