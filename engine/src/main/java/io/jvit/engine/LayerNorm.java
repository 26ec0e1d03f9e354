package io.jvit.engine;

import jdk.incubator.vector.FloatVector;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;

/** LayerNorm over the last dimension: y = (x - mean) / sqrt(var + eps) * gamma + beta, two passes per row. */
public final class LayerNorm {
    private static final int LANES = VectorMath.LANES;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final int MIN_ROWS_PER_TASK = 16;
    /**
     * Below this many elements the hand-off to the workers costs more than the work. ViT-Ti's 198 x 192 rows
     * take 12 us on one thread and 8 us as 4 tasks on 2 spinning workers (16-row tasks: 10 us).
     */
    private static final long PARALLEL_MIN = 1 << 14;

    private LayerNorm() {}

    /** Rows per task: two tasks per worker, at least MIN_ROWS_PER_TASK rows each. */
    private static int rowsPerTask(WorkerPool pool, int rows) {
        int threads = pool == null ? 1 : pool.threads();
        return Math.max(MIN_ROWS_PER_TASK, (rows + 2 * threads - 1) / (2 * threads));
    }

    /** Rows [r0, r1) of one pass. */
    @FunctionalInterface
    private interface RowRange {
        void run(int r0, int r1);
    }

    /** Runs {@code body} over all rows: on this thread when small, else in tasks on the workers. */
    private static void forRows(WorkerPool pool, int rows, int d, RowRange body) {
        int per = rowsPerTask(pool, rows), tasks = (rows + per - 1) / per;
        if (pool == null || tasks == 1 || (long) rows * d < PARALLEL_MIN) {
            body.run(0, rows);
            return;
        }
        pool.parallelFor(tasks, t -> body.run(t * per, Math.min(rows, (t + 1) * per)));
    }

    /** Normalises {@code rows} rows of width d; strides in floats. In-place (x == y) is allowed. */
    public static void apply(WorkerPool pool, MemorySegment x, long ldx, MemorySegment y, long ldy, int rows, int d,
                             MemorySegment gamma, MemorySegment beta, float eps) {
        forRows(pool, rows, d, (r0, r1) -> rows(x, null, ldx, y, ldy, r0, r1, d, gamma, beta, eps));
    }

    /**
     * The residual connection and the next LayerNorm in one pass over the rows: x += r, then y = LN(x).
     * The sub-layer before it (attention's projection, the MLP's fc2) stores its output to r instead of
     * adding it to x inside the matmul, where reading x a tile at a time cost more than this stream does.
     * r has x's stride.
     */
    public static void addApply(WorkerPool pool, MemorySegment x, MemorySegment r, long ldx, MemorySegment y, long ldy, int rows, int d,
                                MemorySegment gamma, MemorySegment beta, float eps) {
        forRows(pool, rows, d, (r0, r1) -> rows(x, r, ldx, y, ldy, r0, r1, d, gamma, beta, eps));
    }

    /** x += r over {@code rows} rows of width d (the last residual connection, with no LayerNorm after it in the encoder). */
    public static void add(WorkerPool pool, MemorySegment x, MemorySegment r, long ldx, int rows, int d) {
        forRows(pool, rows, d, (r0, r1) -> addRows(x, r, ldx, r0, r1, d));
    }

    private static void addRows(MemorySegment x, MemorySegment r, long ldx, int r0, int r1, int d) {
        int vd = d - d % LANES;
        for (int row = r0; row < r1; row++) {
            long xo = (long) row * ldx * 4;
            int i = 0;
            for (; i < vd; i += LANES)
                FloatVector.fromMemorySegment(VectorMath.F, x, xo + i * 4L, NATIVE)
                        .add(FloatVector.fromMemorySegment(VectorMath.F, r, xo + i * 4L, NATIVE)).intoMemorySegment(x, xo + i * 4L, NATIVE);
            for (; i < d; i++)
                x.set(JAVA_FLOAT_UNALIGNED, xo + i * 4L, x.get(JAVA_FLOAT_UNALIGNED, xo + i * 4L) + r.get(JAVA_FLOAT_UNALIGNED, xo + i * 4L));
        }
    }

    /** LayerNorm of rows [r0, r1); with {@code res} non-null, x += res first (same pass as the mean). */
    private static void rows(MemorySegment x, MemorySegment res, long ldx, MemorySegment y, long ldy, int r0, int r1, int d,
                             MemorySegment gamma, MemorySegment beta, float eps) {
        int vd = d - d % LANES;
        for (int r = r0; r < r1; r++) {
            long xo = (long) r * ldx * 4, yo = (long) r * ldy * 4;
            FloatVector acc = FloatVector.zero(VectorMath.F);
            int i = 0;
            if (res != null) {
                for (; i < vd; i += LANES) {
                    FloatVector v = FloatVector.fromMemorySegment(VectorMath.F, x, xo + i * 4L, NATIVE)
                            .add(FloatVector.fromMemorySegment(VectorMath.F, res, xo + i * 4L, NATIVE));
                    v.intoMemorySegment(x, xo + i * 4L, NATIVE);
                    acc = acc.add(v);
                }
                for (; i < d; i++)
                    x.set(JAVA_FLOAT_UNALIGNED, xo + i * 4L, x.get(JAVA_FLOAT_UNALIGNED, xo + i * 4L) + res.get(JAVA_FLOAT_UNALIGNED, xo + i * 4L));
                i = vd;
            } else {
                for (; i < vd; i += LANES) acc = acc.add(FloatVector.fromMemorySegment(VectorMath.F, x, xo + i * 4L, NATIVE));
            }
            float sum = VectorMath.sumLanes(acc);
            for (; i < d; i++) sum += x.get(JAVA_FLOAT_UNALIGNED, xo + i * 4L);
            float mean = sum / d;
            FloatVector vm = FloatVector.broadcast(VectorMath.F, mean);
            acc = FloatVector.zero(VectorMath.F);
            for (i = 0; i < vd; i += LANES) {
                FloatVector c = FloatVector.fromMemorySegment(VectorMath.F, x, xo + i * 4L, NATIVE).sub(vm);
                acc = c.fma(c, acc);
            }
            float sq = VectorMath.sumLanes(acc);
            for (; i < d; i++) {
                float c = x.get(JAVA_FLOAT_UNALIGNED, xo + i * 4L) - mean;
                sq += c * c;
            }
            float rstd = (float) (1.0 / Math.sqrt(sq / d + (double) eps));
            FloatVector vr = FloatVector.broadcast(VectorMath.F, rstd);
            for (i = 0; i < vd; i += LANES) {
                FloatVector c = FloatVector.fromMemorySegment(VectorMath.F, x, xo + i * 4L, NATIVE).sub(vm).mul(vr);
                FloatVector g = FloatVector.fromMemorySegment(VectorMath.F, gamma, i * 4L, NATIVE);
                FloatVector b = FloatVector.fromMemorySegment(VectorMath.F, beta, i * 4L, NATIVE);
                c.fma(g, b).intoMemorySegment(y, yo + i * 4L, NATIVE);
            }
            for (; i < d; i++) {
                float c = (x.get(JAVA_FLOAT_UNALIGNED, xo + i * 4L) - mean) * rstd;
                y.set(JAVA_FLOAT_UNALIGNED, yo + i * 4L,
                        c * gamma.get(JAVA_FLOAT_UNALIGNED, i * 4L) + beta.get(JAVA_FLOAT_UNALIGNED, i * 4L));
            }
        }
    }
}
