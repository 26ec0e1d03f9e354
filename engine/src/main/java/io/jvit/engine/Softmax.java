package io.jvit.engine;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/** Numerically stable softmax over a row: exp(x - max) / sum. */
public final class Softmax {
    private static final int LANES = VectorMath.LANES;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    private Softmax() {}

    /** In place over n floats at byte offset {@code off}. */
    public static void apply(MemorySegment x, long off, int n) {
        FloatVector vmax = FloatVector.broadcast(VectorMath.F, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (; i + LANES <= n; i += LANES)
            vmax = VectorMath.max(vmax, FloatVector.fromMemorySegment(VectorMath.F, x, off + i * 4L, NATIVE));
        float max = vmax.reduceLanes(VectorOperators.MAX);
        VectorMask<Float> tail = VectorMath.F.indexInRange(i, n);
        if (i < n) {
            FloatVector t = FloatVector.fromMemorySegment(VectorMath.F, x, off + i * 4L, NATIVE, tail);
            max = Math.max(max, t.reduceLanes(VectorOperators.MAX, tail));
        }
        FloatVector vm = FloatVector.broadcast(VectorMath.F, max);
        FloatVector vsum = FloatVector.zero(VectorMath.F);
        for (i = 0; i + LANES <= n; i += LANES) {
            FloatVector e = VectorMath.exp(FloatVector.fromMemorySegment(VectorMath.F, x, off + i * 4L, NATIVE).sub(vm));
            vsum = vsum.add(e);
            e.intoMemorySegment(x, off + i * 4L, NATIVE);
        }
        float sum = vsum.reduceLanes(VectorOperators.ADD);
        if (i < n) {
            FloatVector e = VectorMath.exp(FloatVector.fromMemorySegment(VectorMath.F, x, off + i * 4L, NATIVE, tail).sub(vm));
            sum += e.reduceLanes(VectorOperators.ADD, tail);
            e.intoMemorySegment(x, off + i * 4L, NATIVE, tail);
        }
        FloatVector inv = FloatVector.broadcast(VectorMath.F, 1f / sum);
        for (i = 0; i + LANES <= n; i += LANES)
            FloatVector.fromMemorySegment(VectorMath.F, x, off + i * 4L, NATIVE).mul(inv).intoMemorySegment(x, off + i * 4L, NATIVE);
        if (i < n)
            FloatVector.fromMemorySegment(VectorMath.F, x, off + i * 4L, NATIVE, tail).mul(inv).intoMemorySegment(x, off + i * 4L, NATIVE, tail);
    }

    /** Convenience for heap arrays (probabilities of a few logits). */
    public static float[] of(float[] logits, int off, int n) {
        // the Vector API reads heap segments only when they are backed by byte[]
        MemorySegment s = MemorySegment.ofArray(new byte[n * 4]);
        MemorySegment.copy(logits, off, s, java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, 0, n);
        apply(s, 0, n);
        return s.toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED);
    }
}
