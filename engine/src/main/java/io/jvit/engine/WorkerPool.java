package io.jvit.engine;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of worker threads that run one parallel region at a time. The caller is worker 0,
 * so {@code threads} = 1 runs everything inline. Between regions the workers spin briefly (a ViT
 * forward pass enters a region every few tens of microseconds), then park, so an idle model costs
 * no CPU. Regions are serialised: {@link #run} is synchronized.
 */
public final class WorkerPool implements AutoCloseable {
    /** Body of a parallel region: called once on every worker with its index. */
    @FunctionalInterface
    public interface Region {
        void run(int worker);
    }

    /**
     * How long a worker spins for the next region before it parks (system property jvit.spinMicros). Waking a
     * parked thread took 0.4-1.7 ms on average on the 2-vCPU VM used for the benchmarks; at 200 us the workers
     * parked ~5 times per ViT-Ti forward pass (whenever the caller's thread was delayed or an item ran long)
     * and the median pass was 15-17 ms against 11-13 ms with 2-5 ms. The price is at most this much CPU per
     * worker after the last call; OpenMP runtimes spin for 200 ms by default.
     */
    private static final long SPIN_NANOS = Math.max(0, Long.getLong("jvit.spinMicros", 2000)) * 1000;

    private final int threads;
    private final Thread[] workers;
    private final AtomicInteger pending = new AtomicInteger();
    private final AtomicInteger nextChunk = new AtomicInteger();
    private final boolean[] sleeping;
    private volatile long generation;
    private volatile Region region;
    private volatile boolean closed;
    private volatile Throwable failure;

    public WorkerPool(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        this.sleeping = new boolean[threads];
        for (int i = 1; i < threads; i++) {
            final int id = i;
            Thread t = new Thread(() -> loop(id), "jvit-worker-" + id);
            t.setDaemon(true);
            workers[i - 1] = t;
            t.start();
        }
    }

    public int threads() { return threads; }

    private void loop(int id) {
        long seen = 0;
        while (true) {
            long start = System.nanoTime();
            while (generation == seen) {
                if (closed) return;
                if (System.nanoTime() - start < SPIN_NANOS) {
                    Thread.onSpinWait();
                } else {
                    setSleeping(id, true);
                    if (generation == seen && !closed) LockSupport.park(this);
                    setSleeping(id, false);
                }
            }
            seen = generation;
            try {
                region.run(id);
            } catch (Throwable t) {
                failure = t;
            }
            pending.decrementAndGet();
        }
    }

    private static final java.lang.invoke.VarHandle SLEEPING =
            java.lang.invoke.MethodHandles.arrayElementVarHandle(boolean[].class);

    private void setSleeping(int id, boolean v) { SLEEPING.setVolatile(sleeping, id, v); }

    private boolean isSleeping(int id) { return (boolean) SLEEPING.getVolatile(sleeping, id); }

    /** Runs {@code r} on all workers and returns when every one has finished. */
    public synchronized void run(Region r) {
        if (closed) throw new IllegalStateException("worker pool is closed");
        if (threads == 1) {
            r.run(0);
            return;
        }
        region = r;
        failure = null;
        pending.set(threads - 1);
        generation = generation + 1;
        for (int i = 1; i < threads; i++) if (isSleeping(i)) LockSupport.unpark(workers[i - 1]);
        Throwable mine = null;
        try {
            r.run(0);
        } catch (Throwable t) {
            mine = t;
        }
        long start = System.nanoTime();
        while (pending.get() != 0) {
            if (System.nanoTime() - start < SPIN_NANOS) Thread.onSpinWait();
            else Thread.yield();
        }
        Throwable t = mine != null ? mine : failure;
        if (t instanceof RuntimeException re) throw re;
        if (t instanceof Error e) throw e;
        if (t != null) throw new IllegalStateException(t);
    }

    /**
     * Runs {@code body(i)} for i in [0, count) spread over the workers, handing out indices
     * dynamically so that uneven items balance.
     */
    public void parallelFor(int count, java.util.function.IntConsumer body) {
        if (count <= 0) return;
        if (threads == 1 || count == 1) {
            for (int i = 0; i < count; i++) body.accept(i);
            return;
        }
        nextChunk.set(0);
        run(w -> {
            int i;
            while ((i = nextChunk.getAndIncrement()) < count) body.accept(i);
        });
    }

    /** Same as {@link #parallelFor} but the body also learns which worker runs it (for per-worker scratch). */
    public void parallelFor(int count, ItemBody body) {
        if (count <= 0) return;
        if (threads == 1 || count == 1) {
            for (int i = 0; i < count; i++) body.run(0, i);
            return;
        }
        nextChunk.set(0);
        run(w -> {
            int i;
            while ((i = nextChunk.getAndIncrement()) < count) body.run(w, i);
        });
    }

    @FunctionalInterface
    public interface ItemBody {
        void run(int worker, int item);
    }

    @Override
    public void close() {
        closed = true;
        for (Thread t : workers) LockSupport.unpark(t);
    }
}
