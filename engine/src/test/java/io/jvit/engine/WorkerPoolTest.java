package io.jvit.engine;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicIntegerArray;
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

    /** A steal rule that never finds taking worth it leaves every share to its owner, slow or not. */
    @Test
    void aStealRuleCanKeepItemsWithTheirOwner() {
        try (WorkerPool pool = new WorkerPool(2)) {
            int n = 8;
            AtomicIntegerArray ranBy = new AtomicIntegerArray(n), asked = new AtomicIntegerArray(1);
            pool.parallelFor(n, (w, i) -> {
                ranBy.set(i, w + 1);
                if (i < n / 2) LockSupport.parkNanos(5_000_000);
            }, (thief, i, left) -> {
                asked.incrementAndGet(0);
                return false;
            });
            for (int i = 0; i < n; i++) assertEquals(i < n / 2 ? 1 : 2, ranBy.get(i), "item " + i);
            assertTrue(asked.get(0) > 0, "the rule was never asked");
        }
    }

    /** Loops started by two threads at once on one pool run one after the other, each item of each once. */
    @Test
    void loopsFromTwoThreadsDoNotMix() throws Exception {
        try (WorkerPool pool = new WorkerPool(2)) {
            java.util.concurrent.atomic.AtomicReference<Throwable> bad = new java.util.concurrent.atomic.AtomicReference<>();
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
