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

    /**
     * Runs one pass over all rows: on this thread when small, else in tasks on the workers. {@code res} null: y = LN(x);
     * with {@code y} null: x += res alone; both: x += res, then y = LN(x).
     */
    private static void forRows(WorkerPool pool, MemorySegment x, MemorySegment res, long ldx, MemorySegment y, long ldy, int rows, int d,
                                MemorySegment gamma, MemorySegment beta, float eps) {
        int per = rowsPerTask(pool, rows), tasks = (rows + per - 1) / per;
        if (pool == null || tasks == 1 || (long) rows * d < PARALLEL_MIN) {
            rowRange(x, res, ldx, y, ldy, 0, rows, d, gamma, beta, eps);
            return;
        }
        Pass pass = PASS.get();
        pass.set(x, res, ldx, y, ldy, rows, d, gamma, beta, eps, per);
        try {
            pool.parallelFor(tasks, pass);
        } finally {
            pass.clear();
        }
    }

    private static void rowRange(MemorySegment x, MemorySegment res, long ldx, MemorySegment y, long ldy, int r0, int r1, int d,
                                 MemorySegment gamma, MemorySegment beta, float eps) {
        if (y == null) addRows(x, res, ldx, r0, r1, d);
        else rows(x, res, ldx, y, ldy, r0, r1, d, gamma, beta, eps);
    }

    /** The calling thread's pass, reused call after call, so that a warm forward pass allocates nothing for it. */
    private static final ThreadLocal<Pass> PASS = ThreadLocal.withInitial(Pass::new);

    /** One pass's tasks of {@code per} rows as a loop body: what a lambda would capture, in fields set per call. */
    private static final class Pass implements WorkerPool.ItemBody {
        private MemorySegment x, res, y, gamma, beta;
        private long ldx, ldy;
        private int rows, d, per;
        private float eps;

        void set(MemorySegment x, MemorySegment res, long ldx, MemorySegment y, long ldy, int rows, int d,
                 MemorySegment gamma, MemorySegment beta, float eps, int per) {
            this.x = x;
            this.res = res;
            this.ldx = ldx;
            this.y = y;
            this.ldy = ldy;
            this.rows = rows;
            this.d = d;
            this.gamma = gamma;
            this.beta = beta;
            this.eps = eps;
            this.per = per;
        }

        void clear() { set(null, null, 0, null, 0, 0, 0, null, null, 0, 0); }   // no segment kept reachable between calls

        @Override
        public void run(int worker, int t) {
            rowRange(x, res, ldx, y, ldy, t * per, Math.min(rows, (t + 1) * per), d, gamma, beta, eps);
        }
    }

    /** Normalises {@code rows} rows of width d; strides in floats. In-place (x == y) is allowed. */
    public static void apply(WorkerPool pool, MemorySegment x, long ldx, MemorySegment y, long ldy, int rows, int d,
                             MemorySegment gamma, MemorySegment beta, float eps) {
        if (y == null) throw new IllegalArgumentException("no output for the LayerNorm");
        forRows(pool, x, null, ldx, y, ldy, rows, d, gamma, beta, eps);
    }

    /**
     * The residual connection and the next LayerNorm in one pass over the rows: x += r, then y = LN(x).
     * The sub-layer before it (attention's projection, the MLP's fc2) stores its output to r instead of
     * adding it to x inside the matmul, where reading x a tile at a time cost more than this stream does.
     * r has x's stride.
     */
    public static void addApply(WorkerPool pool, MemorySegment x, MemorySegment r, long ldx, MemorySegment y, long ldy, int rows, int d,
                                MemorySegment gamma, MemorySegment beta, float eps) {
        if (y == null) throw new IllegalArgumentException("no output for the LayerNorm");
        forRows(pool, x, r, ldx, y, ldy, rows, d, gamma, beta, eps);
    }

    /** x += r over {@code rows} rows of width d (the last residual connection, with no LayerNorm after it in the encoder). */
    public static void add(WorkerPool pool, MemorySegment x, MemorySegment r, long ldx, int rows, int d) {
        forRows(pool, x, r, ldx, null, 0, rows, d, null, null, 0f);
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

    /**
     * LayerNorm of rows [r0, r1); with {@code res} non-null, x += res first (same pass as the mean). Each pass over a
     * row is a helper of its own that returns a float: with two accumulators per pass (one would chain every add on
     * the last) the whole row in one method grew past what C2 inlines, and a warm pass then boxed vectors
     * (WarmForwardAllocationTest); no vector crosses these calls, so inlined or not they stay in registers.
     */
    private static void rows(MemorySegment x, MemorySegment res, long ldx, MemorySegment y, long ldy, int r0, int r1, int d,
                             MemorySegment gamma, MemorySegment beta, float eps) {
        for (int r = r0; r < r1; r++) {
            long xo = (long) r * ldx * 4, yo = (long) r * ldy * 4;
            float mean = (res == null ? sum(x, xo, d) : addSum(x, res, xo, d)) / d;
            float rstd = (float) (1.0 / Math.sqrt(squaredDeviations(x, xo, d, mean) / d + (double) eps));
            normalise(x, xo, y, yo, d, mean, rstd, gamma, beta);
        }
    }

    /** The sum of a row's d floats. */
    private static float sum(MemorySegment x, long xo, int d) {
        FloatVector a = FloatVector.zero(VectorMath.F), b = a;
        int i = 0;
        for (; i + 2 * LANES <= d; i += 2 * LANES) {
            a = a.add(FloatVector.fromMemorySegment(VectorMath.F, x, xo + i * 4L, NATIVE));
            b = b.add(FloatVector.fromMemorySegment(VectorMath.F, x, xo + (i + LANES) * 4L, NATIVE));
        }
        if (i + LANES <= d) {
            a = a.add(FloatVector.fromMemorySegment(VectorMath.F, x, xo + i * 4L, NATIVE));
            i += LANES;
        }
        float sum = VectorMath.sumLanes(a.add(b));
        for (; i < d; i++) sum += x.get(JAVA_FLOAT_UNALIGNED, xo + i * 4L);
        return sum;
    }

    /** x += res over a row's d floats; returns the new row's sum. */
    private static float addSum(MemorySegment x, MemorySegment res, long xo, int d) {
        FloatVector a = FloatVector.zero(VectorMath.F), b = a;
        int i = 0;
        for (; i + 2 * LANES <= d; i += 2 * LANES) {
            FloatVector v = FloatVector.fromMemorySegment(VectorMath.F, x, xo + i * 4L, NATIVE)
                    .add(FloatVector.fromMemorySegment(VectorMath.F, res, xo + i * 4L, NATIVE));
            FloatVector u = FloatVector.fromMemorySegment(VectorMath.F, x, xo + (i + LANES) * 4L, NATIVE)
                    .add(FloatVector.fromMemorySegment(VectorMath.F, res, xo + (i + LANES) * 4L, NATIVE));
            v.intoMemorySegment(x, xo + i * 4L, NATIVE);
            u.intoMemorySegment(x, xo + (i + LANES) * 4L, NATIVE);
            a = a.add(v);
            b = b.add(u);
        }
        if (i + LANES <= d) {
            FloatVector v = FloatVector.fromMemorySegment(VectorMath.F, x, xo + i * 4L, NATIVE)
                    .add(FloatVector.fromMemorySegment(VectorMath.F, res, xo + i * 4L, NATIVE));
            v.intoMemorySegment(x, xo + i * 4L, NATIVE);
            a = a.add(v);
            i += LANES;
        }
        float sum = VectorMath.sumLanes(a.add(b));
        for (; i < d; i++) {
            float v = x.get(JAVA_FLOAT_UNALIGNED, xo + i * 4L) + res.get(JAVA_FLOAT_UNALIGNED, xo + i * 4L);
            x.set(JAVA_FLOAT_UNALIGNED, xo + i * 4L, v);
            sum += v;
        }
        return sum;
    }

    /** The sum of (x - mean)^2 over a row's d floats. */
    private static float squaredDeviations(MemorySegment x, long xo, int d, float mean) {
        FloatVector vm = FloatVector.broadcast(VectorMath.F, mean);
        FloatVector a = FloatVector.zero(VectorMath.F), b = a;
        int i = 0;
        for (; i + 2 * LANES <= d; i += 2 * LANES) {
            FloatVector c = FloatVector.fromMemorySegment(VectorMath.F, x, xo + i * 4L, NATIVE).sub(vm);
            FloatVector e = FloatVector.fromMemorySegment(VectorMath.F, x, xo + (i + LANES) * 4L, NATIVE).sub(vm);
            a = c.fma(c, a);
            b = e.fma(e, b);
        }
        if (i + LANES <= d) {
            FloatVector c = FloatVector.fromMemorySegment(VectorMath.F, x, xo + i * 4L, NATIVE).sub(vm);
            a = c.fma(c, a);
            i += LANES;
        }
        float sq = VectorMath.sumLanes(a.add(b));
        for (; i < d; i++) {
            float c = x.get(JAVA_FLOAT_UNALIGNED, xo + i * 4L) - mean;
            sq += c * c;
        }
        return sq;
    }

    /** y = (x - mean) * rstd * gamma + beta over a row's d floats. */
    private static void normalise(MemorySegment x, long xo, MemorySegment y, long yo, int d, float mean, float rstd,
                                  MemorySegment gamma, MemorySegment beta) {
        FloatVector vm = FloatVector.broadcast(VectorMath.F, mean), vr = FloatVector.broadcast(VectorMath.F, rstd);
        int vd = d - d % LANES, i = 0;
        for (; i < vd; i += LANES) {
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
