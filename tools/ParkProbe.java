import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.locks.LockSupport;

/**
 * Where a parked worker thread runs when its caller wakes it after a pause, the situation of every
 * batch-1 pass that `jvit bench` times after its pause (--gap-ms). Two threads: the caller sleeps PAUSE_MS,
 * wakes the worker (unpark, or the worker polls in 1 ms timed parks: mode nap) and works 3 ms; the worker,
 * once running, records its CPU (/proc/thread-self/stat, field 39), works 1 ms and records it again. After
 * each round the worker spins -DspinMs (default 2, as WorkerPool does) before it parks.
 * <p>
 * On this project's 2-vCPU host (kernel booted with sched_vcpu_pack=15) the worker mostly lands on the
 * caller's vCPU after pauses of 20 ms and more, and the two share it for milliseconds (docs/BENCHMARKS.md,
 * sixth round). Not a test:
 * <pre>
 * $JAVA_HOME/bin/java tools/ParkProbe.java unpark 50 40          # mode, pause ms, rounds
 * $JAVA_HOME/bin/java -DspinMs=45 tools/ParkProbe.java unpark 50 40
 * </pre>
 */
public class ParkProbe {
    private static final long SPIN_NS = Long.getLong("spinMs", 2) * 1_000_000;
    private static volatile long go, seen;
    private static volatile int workerCpu, workerCpuLater;

    /** The CPU this thread last ran on. */
    static int cpu() {
        try {
            String s = Files.readString(Path.of("/proc/thread-self/stat"));
            return Integer.parseInt(s.substring(s.lastIndexOf(')') + 2).split(" ")[36]);
        } catch (Exception e) {
            return -1;
        }
    }

    /** Busy work for {@code ns}; returns a value the JIT cannot drop. */
    static double work(long ns) {
        long end = System.nanoTime() + ns;
        double x = 0;
        while (System.nanoTime() < end) x += Math.sqrt(x + 1);
        return x;
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3 || !(args[0].equals("unpark") || args[0].equals("nap"))) {
            System.err.println("usage: ParkProbe unpark|nap PAUSE_MS ROUNDS");
            System.exit(2);
        }
        boolean nap = args[0].equals("nap");
        int pauseMs = Integer.parseInt(args[1]), rounds = Integer.parseInt(args[2]), warm = 5;
        Thread worker = new Thread(() -> {
            long last = 0;
            while (true) {
                long spinEnd = System.nanoTime() + SPIN_NS;
                while (go == last && System.nanoTime() < spinEnd) Thread.onSpinWait();
                while (go == last) {
                    if (nap) LockSupport.parkNanos(1_000_000);
                    else LockSupport.park();
                }
                last = go;
                workerCpu = cpu();
                seen = System.nanoTime();
                workerCpuLater = cpu() + (work(1_000_000) < 0 ? 1 : 0);
            }
        });
        worker.setDaemon(true);
        worker.start();
        int shared = 0, sharedLater = 0;
        long[] startUs = new long[rounds];
        for (int r = 0; r < rounds + warm; r++) {
            Thread.sleep(pauseMs);
            int callerCpu = cpu();
            long t0 = System.nanoTime();
            go = t0;
            if (!nap) LockSupport.unpark(worker);
            work(3_000_000);
            while (seen < t0) Thread.onSpinWait();
            int callerCpuLater = cpu();
            if (r < warm) continue;
            startUs[r - warm] = (seen - t0) / 1000;
            if (workerCpu == callerCpu) shared++;
            if (workerCpuLater == callerCpuLater) sharedLater++;
        }
        Arrays.sort(startUs);
        System.out.printf("%s, pause %d ms, worker spin %d ms: worker started on the caller's CPU %d/%d times, on it 1 ms later %d/%d; "
                        + "start after wake-up p50 %d us, p90 %d, max %d%n", args[0], pauseMs, SPIN_NS / 1_000_000, shared, rounds,
                sharedLater, rounds, startUs[rounds / 2], startUs[rounds * 9 / 10], startUs[rounds - 1]);
    }
}
