package io.jvit.bench.jmh;

import io.jvit.bench.PeakFlops;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;

import java.util.concurrent.TimeUnit;

/**
 * The machine's FMA peak in Java: {@link PeakFlops#kernel}, a register-only loop of 16 independent FMA
 * chains; one op = {@link #ITERS} iterations. On 1 and on 2 threads (JMH sums the threads' ops/s).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class PeakBench {
    public static final int ITERS = 100_000;

    float seed = 1;

    @Setup(Level.Trial)
    public void setup() { PeakFlops.measure(1, 20, 1); }

    @Benchmark
    @Threads(1)
    public float peak1() { return PeakFlops.kernel(ITERS, seed); }

    @Benchmark
    @Threads(2)
    public float peak2() { return PeakFlops.kernel(ITERS, seed); }
}
