package io.jvit.engine;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;

/** Numerically stable softmax over a row: exp(x - max) / sum. */
public final class Softmax {
    private static final int LANES = VectorMath.LANES;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    private Softmax() {}

    /** In place over n floats at byte offset {@code off}. */
    public static void apply(MemorySegment x, long off, int n) {
        int vn = n - n % LANES;
        FloatVector vmax = FloatVector.broadcast(VectorMath.F, Float.NEGATIVE_INFINITY);
        for (int i = 0; i < vn; i += LANES) {
            FloatVector v = FloatVector.fromMemorySegment(VectorMath.F, x, off + i * 4L, NATIVE);
            vmax = vmax.blend(v, vmax.lt(v));
        }
        float max = vmax.reduceLanes(VectorOperators.MAX);
        for (int i = vn; i < n; i++) max = Math.max(max, x.get(JAVA_FLOAT_UNALIGNED, off + i * 4L));
        float sum = VectorMath.expInPlace(x, off, vn, -max);
        for (int i = vn; i < n; i++) {
            float e = (float) Math.exp(x.get(JAVA_FLOAT_UNALIGNED, off + i * 4L) - max);
            x.set(JAVA_FLOAT_UNALIGNED, off + i * 4L, e);
            sum += e;
        }
        FloatVector inv = FloatVector.broadcast(VectorMath.F, 1f / sum);
        for (int i = 0; i < vn; i += LANES)
            FloatVector.fromMemorySegment(VectorMath.F, x, off + i * 4L, NATIVE).mul(inv).intoMemorySegment(x, off + i * 4L, NATIVE);
        for (int i = vn; i < n; i++) x.set(JAVA_FLOAT_UNALIGNED, off + i * 4L, x.get(JAVA_FLOAT_UNALIGNED, off + i * 4L) / sum);
    }

    /** Convenience for heap arrays (probabilities of a few logits). */
    public static float[] of(float[] logits, int off, int n) {
        // the Vector API reads heap segments only when they are backed by byte[]
        MemorySegment s = MemorySegment.ofArray(new byte[n * 4]);
        MemorySegment.copy(logits, off, s, JAVA_FLOAT_UNALIGNED, 0, n);
        apply(s, 0, n);
        return s.toArray(JAVA_FLOAT_UNALIGNED);
    }
}
