package io.jvit.engine;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of worker threads that run one parallel loop at a time. The caller is worker 0,
 * so {@code threads} = 1 runs everything inline. Between loops the workers spin briefly (a ViT
 * forward pass starts a loop every few tens of microseconds), then park, so an idle model costs
 * no CPU. A loop ends when its items are done, not when every worker has shown up: a worker whose
 * vCPU resumes late (after a park, or taken by another process) finds its share already done by the
 * others, instead of every step of the pass waiting for it. Loops are serialised: {@link #parallelFor}
 * is synchronized.
 */
public final class WorkerPool implements AutoCloseable {
    /** Body of a region: called once for each worker index, 0 to threads - 1 ({@link #run}). */
    @FunctionalInterface
    public interface Region {
        void run(int worker);
    }

    /**
     * How long a worker spins for the next loop before it parks (system property jvit.spinMicros). Waking a
     * parked thread took 0.4-1.7 ms on average on the 2-vCPU VM used for the benchmarks; at 200 us the workers
     * parked ~5 times per ViT-Ti forward pass (whenever the caller's thread was delayed or an item ran long)
     * and the median pass was 15-17 ms against 11-13 ms with 2-5 ms. The price is at most this much CPU per
     * worker after the last call; OpenMP runtimes spin for 200 ms by default.
     */
    private static final long SPIN_NANOS = Math.max(0, Long.getLong("jvit.spinMicros", 2000)) * 1000;

    /**
     * A spinning thread (a worker waiting for a loop, the caller waiting for the last items) yields this often
     * (system property jvit.yieldMicros; 0: never). After a pause the OS sometimes wakes a worker on the
     * caller's vCPU while the other vCPU idles; spinning there, the worker kept the caller off its CPU for a
     * scheduler tick: on the 2-vCPU VM the caller then waited 4-6 ms on the run queue in a quarter of the
     * ViT-Ti passes after a 50 ms pause (/proc/thread-self/schedstat). Yielding every 20 us cut that wait's
     * 90th percentile from 3.2-4.6 to 1.0-1.9 ms (docs/BENCHMARKS.md); alone on its CPU, a yield returns at once.
     */
    private static final long YIELD_MICROS = Long.getLong("jvit.yieldMicros", 20);
    private static final long YIELD_NANOS = YIELD_MICROS > 0 ? YIELD_MICROS * 1000 : Long.MAX_VALUE;

    /**
     * A share is one long: the loop's tag (high 24 bits), then its front and back (20 bits each). The tag makes
     * a worker that read one loop and claims late fail on the next loop's shares instead of running that
     * loop's items with the old loop's body.
     */
    private static final int ITEM_BITS = 20, TAG_LIMIT = 1 << 24;
    /** Most items one loop may have. */
    public static final int MAX_ITEMS = (1 << ITEM_BITS) - 1;
    private static final long ITEM_MASK = MAX_ITEMS;

    private final int threads;
    private final Thread[] workers;
    /** Per worker w, at index 8w (a cache line apart): its share of the current loop. */
    private final AtomicLongArray shares;
    /** Items of the current loop done; each worker adds its count once, when it finds nothing left to take. */
    private final AtomicInteger done = new AtomicInteger();
    private final boolean[] sleeping;
    /** The current loop: its tag (written last: a worker that reads it sees the loop's body, rule and count). */
    private volatile int loopTag;
    private volatile ItemBody loopBody;
    private volatile StealRule loopRule;
    private volatile int loopCount;
    private volatile boolean closed;
    private volatile Throwable failure;

    public WorkerPool(int threads) {
        this(threads, Thread::new);
    }

    /** With the worker threads made by {@code factory} (tests hold one back, as a vCPU that resumes late). */
    WorkerPool(int threads, java.util.concurrent.ThreadFactory factory) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        this.sleeping = new boolean[threads];
        this.shares = new AtomicLongArray(8 * threads);
        for (int i = 1; i < threads; i++) {
            final int id = i;
            Thread t = factory.newThread(() -> loop(id));
            t.setName("jvit-worker-" + id);
            t.setDaemon(true);
            workers[i - 1] = t;
            t.start();
        }
    }

    public int threads() { return threads; }

    private void loop(int id) {
        int seen = 0;   // the tag before the first loop: a worker that starts late joins the loop under way
        while (true) {
            long start = System.nanoTime(), yielded = start;
            int tag;
            while ((tag = loopTag) == seen) {
                if (closed) return;
                long now = System.nanoTime();
                if (now - start < SPIN_NANOS) {
                    Thread.onSpinWait();
                    if (now - yielded > YIELD_NANOS) {
                        Thread.yield();
                        yielded = now;
                    }
                } else {
                    setSleeping(id, true);
                    if (loopTag == seen && !closed) LockSupport.park(this);
                    setSleeping(id, false);
                }
            }
            seen = tag;
            work(id, tag);
        }
    }

    private static final java.lang.invoke.VarHandle SLEEPING =
            java.lang.invoke.MethodHandles.arrayElementVarHandle(boolean[].class);

    private void setSleeping(int id, boolean v) { SLEEPING.setVolatile(sleeping, id, v); }

    private boolean isSleeping(int id) { return (boolean) SLEEPING.getVolatile(sleeping, id); }

    /**
     * Runs {@code r} once for each worker index, spread over the workers like the items of
     * {@link #parallelFor}: index w is usually run by worker w, but by another when worker w is late.
     */
    public void run(Region r) {
        parallelFor(threads, (w, i) -> r.run(i));
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
     * passes on 2 threads 0.960-0.985x as long (docs/BENCHMARKS.md). Returns when every item is done.
     */
    public void parallelFor(int count, ItemBody body) {
        parallelFor(count, body, null);
    }

    /**
     * {@link #parallelFor(int, ItemBody)} where taking from another worker's share may not pay (the thief
     * would first have to load what the owner already holds): a worker whose share is done takes item i
     * from the back of a share with {@code left} items only when {@code rule} says so (null: always), or
     * when the share's owner has not begun it (a late worker's share is never left waiting for it).
     */
    public synchronized void parallelFor(int count, ItemBody body, StealRule rule) {   // one loop at a time: the shares are the loop's
        if (closed) throw new IllegalStateException("worker pool is closed");
        if (count <= 0) return;
        if (threads == 1 || count == 1) {
            for (int i = 0; i < count; i++) body.run(0, i);
            return;
        }
        if (count > MAX_ITEMS) throw new IllegalArgumentException("a loop of " + count + " items; at most " + MAX_ITEMS);
        int tag = loopTag % (TAG_LIMIT - 1) + 1;   // 1 .. TAG_LIMIT-1, never the initial 0
        loopBody = body;
        loopRule = rule;
        loopCount = count;
        failure = null;
        done.set(0);   // no worker adds to it now: one that took items of the last loop added before it ended
        for (int w = 0; w < threads; w++) shares.set(8 * w, share(tag, start(count, w), start(count, w + 1)));
        loopTag = tag;
        for (int i = 1; i < threads; i++) if (isSleeping(i)) LockSupport.unpark(workers[i - 1]);
        work(0, tag);
        long t0 = System.nanoTime();
        long yielded = t0;
        while (done.get() != count) {
            long now = System.nanoTime();
            if (now - t0 < SPIN_NANOS && now - yielded <= YIELD_NANOS) Thread.onSpinWait();
            else {
                Thread.yield();
                yielded = now;
            }
        }
        loopBody = null;   // not kept reachable between loops
        loopRule = null;
        Throwable t = failure;
        if (t instanceof RuntimeException re) throw re;
        if (t instanceof Error e) throw e;
        if (t != null) throw new IllegalStateException(t);
    }

    private int start(int count, int w) { return (int) ((long) count * w / threads); }

    private static long share(int tag, int front, int back) {
        return (long) tag << (2 * ITEM_BITS) | (long) front << ITEM_BITS | back;
    }

    /** Worker w's part of loop {@code tag}: its own share, then the backs of the others'. */
    private void work(int w, int tag) {
        ItemBody body = loopBody;
        StealRule rule = loopRule;
        int count = loopCount, n = 0, i;
        if (body == null) return;   // the loop ended before this worker came
        while ((i = takeFront(w, tag)) >= 0) {
            n++;
            runItem(body, w, i);
        }
        for (int v = 1; v < threads; v++) {
            int other = (w + v) % threads;
            while ((i = takeBack(other, w, tag, rule, start(count, other))) >= 0) {
                n++;
                runItem(body, w, i);
            }
        }
        if (n > 0) done.addAndGet(n);
    }

    private void runItem(ItemBody body, int w, int i) {
        try {
            body.run(w, i);
        } catch (Throwable t) {
            failure = t;   // the loop still runs every item, so that it ends; the caller throws this
        }
    }

    private int takeFront(int w, int tag) {
        while (true) {
            long s = shares.get(8 * w);
            if (!open(s, tag)) return -1;
            if (shares.compareAndSet(8 * w, s, s + (1L << ITEM_BITS))) return front(s);
        }
    }

    private int takeBack(int victim, int thief, int tag, StealRule rule, int ownerStart) {
        while (true) {
            long s = shares.get(8 * victim);
            if (!open(s, tag)) return -1;
            int front = front(s), back = back(s);
            if (rule != null && front > ownerStart && !rule.worthTaking(thief, back - 1, back - front)) return -1;
            if (shares.compareAndSet(8 * victim, s, s - 1)) return back - 1;
        }
    }

    private static int front(long share) { return (int) (share >>> ITEM_BITS & ITEM_MASK); }

    private static int back(long share) { return (int) (share & ITEM_MASK); }

    /** Whether a share belongs to loop {@code tag} and has items left. */
    private static boolean open(long share, int tag) {
        return (int) (share >>> 2 * ITEM_BITS) == tag && front(share) < back(share);
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
