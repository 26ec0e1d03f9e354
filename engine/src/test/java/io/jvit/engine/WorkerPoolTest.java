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
