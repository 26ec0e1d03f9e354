package io.jvit.engine;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
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
    /** Per worker w, at index 8w (a cache line apart): its share of a {@link #parallelFor} loop, (front << 32) | back. */
    private final AtomicLongArray shares;
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
        this.shares = new AtomicLongArray(8 * threads);
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

    /** Runs {@code body(i)} for i in [0, count) spread over the workers: see {@link #parallelFor(int, ItemBody)}. */
    public void parallelFor(int count, java.util.function.IntConsumer body) {
        parallelFor(count, (w, i) -> body.accept(i));
    }

    /**
     * Runs {@code body(w, i)} for i in [0, count) spread over the workers; w is the worker running the item
     * (for per-worker scratch). Worker w first runs its own share of the items, [count*w/T, count*(w+1)/T),
     * from the front, then takes items from the back of the others' shares, so uneven items balance. A
     * worker so gets the same items call after call, and what its caches kept from the last call (the
     * panels of a weight, the rows of the residual stream) is what it needs again: on this host a cache
     * line fetched from the other vCPU costs ~280 ns. Against one shared counter for all items: batch-1
     * passes on 2 threads 0.960-0.985x as long (docs/BENCHMARKS.md).
     */
    public void parallelFor(int count, ItemBody body) {
        parallelFor(count, body, null);
    }

    /**
     * {@link #parallelFor(int, ItemBody)} where taking from another worker's share may not pay (the thief
     * would first have to load what the owner already holds): a worker whose share is done takes item i
     * from the back of a share with {@code left} items only when {@code rule} says so (null: always).
     */
    public synchronized void parallelFor(int count, ItemBody body, StealRule rule) {   // one loop at a time: the shares are the loop's
        if (count <= 0) return;
        if (threads == 1 || count == 1) {
            for (int i = 0; i < count; i++) body.run(0, i);
            return;
        }
        for (int w = 0; w < threads; w++) shares.set(8 * w, ((long) count * w / threads) << 32 | (long) count * (w + 1) / threads);
        run(w -> {
            int i;
            while ((i = takeFront(w)) >= 0) body.run(w, i);
            for (int v = 1; v < threads; v++) {
                int other = (w + v) % threads;
                while ((i = takeBack(other, w, rule)) >= 0) body.run(w, i);
            }
        });
    }

    private int takeFront(int w) {
        while (true) {
            long s = shares.get(8 * w);
            int front = (int) (s >>> 32), back = (int) s;
            if (front >= back) return -1;
            if (shares.compareAndSet(8 * w, s, s + (1L << 32))) return front;
        }
    }

    private int takeBack(int victim, int thief, StealRule rule) {
        while (true) {
            long s = shares.get(8 * victim);
            int front = (int) (s >>> 32), back = (int) s;
            if (front >= back || rule != null && !rule.worthTaking(thief, back - 1, back - front)) return -1;
            if (shares.compareAndSet(8 * victim, s, s - 1)) return back - 1;
        }
    }

    /** Whether worker {@code thief} should take {@code item} from the back of a share that has {@code left} items. */
    @FunctionalInterface
    public interface StealRule {
        boolean worthTaking(int thief, int item, int left);
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
