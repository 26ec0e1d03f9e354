package io.jvit.engine;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.*;

class WorkerPoolTest {

    /**
     * Every item of every loop runs exactly once, whether the workers are spinning (loops back to back) or
     * parked (a pause longer than their 2 ms spin now and then), and a worker index is never in use by two
     * threads at once.
     */
    @Test
    void everyItemRunsOnceAndWorkerIndicesAreExclusive() {
        for (int threads : new int[] {2, 3, 5}) {
            try (WorkerPool pool = new WorkerPool(threads)) {
                for (int loop = 0; loop < 400; loop++) {
                    if (loop % 40 == 39) LockSupport.parkNanos(4_000_000);   // the workers park; the next loop wakes them
                    int n = 1 + loop % 37;
                    AtomicIntegerArray runs = new AtomicIntegerArray(n), busy = new AtomicIntegerArray(threads);
                    int l = loop;
                    pool.parallelFor(n, (w, i) -> {
                        if (!busy.compareAndSet(w, 0, 1)) throw new AssertionError("worker index " + w + " in use twice");
                        runs.incrementAndGet(i);
                        if ((i + l) % 5 == 0) Thread.onSpinWait();
                        busy.set(w, 0);
                    });
                    for (int i = 0; i < n; i++) assertEquals(1, runs.get(i), "threads " + threads + " loop " + loop + " item " + i);
                }
            }
        }
    }

    /**
     * Each worker starts on its own contiguous share of the items; one whose share is done takes items from
     * the back of another's, so a share of slow items is finished by both.
     */
    @Test
    void aWorkerWithNothingLeftTakesFromTheBackOfAnothersShare() {
        try (WorkerPool pool = new WorkerPool(2)) {
            int n = 16;
            AtomicIntegerArray ranBy = new AtomicIntegerArray(n);
            pool.parallelFor(n, (w, i) -> {
                ranBy.set(i, w + 1);
                if (i < n / 2) LockSupport.parkNanos(5_000_000);   // worker 0's share is slow
            });
            int stolen = 0;
            for (int i = 0; i < n / 2; i++) if (ranBy.get(i) == 2) stolen++;
            assertTrue(stolen >= 1, "worker 1 took none of worker 0's slow items");
            assertEquals(2, ranBy.get(n / 2), "worker 1 starts on its own share");
            for (int i = 0; i < n; i++) assertNotEquals(0, ranBy.get(i), "item " + i);
        }
    }

    /**
     * A steal rule that never finds taking worth it leaves every share to its owner, slow or not, once the
     * owner has begun it (a share whose owner has not shown up is taken regardless: see
     * {@link #aLoopDoesNotWaitForAWorkerThatHasNotShownUp}).
     */
    @Test
    void aStealRuleCanKeepItemsWithTheirOwner() {
        try (WorkerPool pool = new WorkerPool(2)) {
            int n = 8, asked = 0;
            for (int attempt = 0; attempt < 20 && asked == 0; attempt++) {
                AtomicIntegerArray ranBy = new AtomicIntegerArray(n), askedNow = new AtomicIntegerArray(1);
                pool.parallelFor(n, (w, i) -> {
                    ranBy.set(i, w + 1);
                    if (i < n / 2) LockSupport.parkNanos(5_000_000);
                }, (thief, i, left) -> {
                    askedNow.incrementAndGet(0);
                    return false;
                });
                for (int share = 0; share < 2; share++) {
                    int owner = 0;
                    for (int i = share * n / 2; i < (share + 1) * n / 2; i++) if (ranBy.get(i) == share + 1) owner++;
                    assertTrue(owner == 0 || owner == n / 2, "share " + share + ": its owner ran " + owner + " of its " + n / 2 + " items");
                }
                asked += askedNow.get(0);
            }
            assertTrue(asked > 0, "the rule was never asked");
        }
    }

    /** Loops started by two threads at once on one pool run one after the other, each item of each once. */
    @Test
    void loopsFromTwoThreadsDoNotMix() throws Exception {
        try (WorkerPool pool = new WorkerPool(2)) {
            AtomicReference<Throwable> bad = new AtomicReference<>();
            Runnable loops = () -> {
                for (int loop = 0; loop < 300; loop++) {
                    int n = 3 + loop % 29;
                    AtomicIntegerArray runs = new AtomicIntegerArray(n);
                    pool.parallelFor(n, (w, i) -> runs.incrementAndGet(i));
                    for (int i = 0; i < n; i++)
                        if (runs.get(i) != 1) bad.compareAndSet(null, new AssertionError("loop " + loop + " item " + i + " ran " + runs.get(i) + " times"));
                }
            };
            Thread a = new Thread(loops), b = new Thread(loops);
            a.start();
            b.start();
            a.join();
            b.join();
            if (bad.get() != null) fail(bad.get());
        }
    }

    /**
     * A loop ends when its items are done, without waiting for a worker that has not shown up (a vCPU that
     * resumes late): here the workers' threads are held back before they first look for work, so the caller
     * runs every item, also where a steal rule would leave an item to its owner. Once released, they join.
     */
    @Test
    void aLoopDoesNotWaitForAWorkerThatHasNotShownUp() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        try (WorkerPool pool = new WorkerPool(3, r -> new Thread(() -> {
            try {
                release.await();
            } catch (InterruptedException e) {
                return;
            }
            r.run();
        }))) {
            assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
                for (WorkerPool.StealRule rule : new WorkerPool.StealRule[] {null, (thief, i, left) -> false}) {
                    int n = 30;
                    AtomicIntegerArray ranBy = new AtomicIntegerArray(n);
                    pool.parallelFor(n, (w, i) -> ranBy.set(i, w + 1), rule);
                    for (int i = 0; i < n; i++) assertEquals(1, ranBy.get(i), "item " + i + " (rule " + rule + ")");
                }
                AtomicIntegerArray runs = new AtomicIntegerArray(3);
                pool.run(i -> runs.incrementAndGet(i));
                for (int i = 0; i < 3; i++) assertEquals(1, runs.get(i), "region index " + i);
            });
            release.countDown();
            boolean joined = false;
            long t0 = System.nanoTime();
            while (!joined && System.nanoTime() - t0 < 10_000_000_000L) {
                AtomicIntegerArray ranBy = new AtomicIntegerArray(64);
                pool.parallelFor(64, (w, i) -> {
                    ranBy.set(i, w + 1);
                    LockSupport.parkNanos(20_000);
                });
                for (int i = 0; i < 64; i++) joined |= ranBy.get(i) > 1;
            }
            assertTrue(joined, "the released workers never took an item");
        }
    }

    @Test
    void anItemsExceptionReachesTheCallerAndThePoolGoesOn() {
        try (WorkerPool pool = new WorkerPool(2)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> pool.parallelFor(16, (w, i) -> {
                if (i == 11) throw new IllegalStateException("item 11");
            }));
            assertEquals("item 11", e.getMessage());
            AtomicIntegerArray runs = new AtomicIntegerArray(16);
            pool.parallelFor(16, (w, i) -> runs.incrementAndGet(i));
            for (int i = 0; i < 16; i++) assertEquals(1, runs.get(i));
        }
    }

    @Test
    void closedPoolRefusesWork() {
        WorkerPool pool = new WorkerPool(2);
        pool.close();
        assertThrows(IllegalStateException.class, () -> pool.parallelFor(4, (w, i) -> {}));
        assertThrows(IllegalArgumentException.class, () -> new WorkerPool(0));
    }
}
