package io.jvit.engine;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A fully connected layer y = x W^T + b in PyTorch's layout: {@code weight} is [out][in].
 * <p>
 * F32: {@code weight} holds out*in floats. I8: {@code weight} holds out*in signed bytes and
 * {@code scales} one float per output row (symmetric, per output channel): W[o][i] = q[o][i] * scales[o].
 * {@code bias} is null or out floats. All little-endian; segments may be memory-mapped and unaligned.
 */
public record Linear(int outFeatures, int inFeatures, DType dtype, MemorySegment weight, MemorySegment scales,
                     MemorySegment bias) {

    public enum DType { F32, I8 }

    public Linear {
        if (outFeatures <= 0 || inFeatures <= 0) throw new IllegalArgumentException("bad Linear shape " + outFeatures + "x" + inFeatures);
        long elems = (long) outFeatures * inFeatures;
        long expect = dtype == DType.F32 ? elems * 4 : elems;
        if (weight.byteSize() != expect)
            throw new IllegalArgumentException("Linear weight holds " + weight.byteSize() + " bytes, expected " + expect
                    + " for [" + outFeatures + ", " + inFeatures + "] " + dtype);
        if (dtype == DType.I8 && (scales == null || scales.byteSize() != 4L * outFeatures))
            throw new IllegalArgumentException("int8 Linear needs " + outFeatures + " scales, got "
                    + (scales == null ? "none" : scales.byteSize() / 4));
        if (bias != null && bias.byteSize() != 4L * outFeatures)
            throw new IllegalArgumentException("Linear bias holds " + bias.byteSize() / 4 + " floats, expected " + outFeatures);
    }

    public static Linear f32(int out, int in, MemorySegment weight, MemorySegment bias) {
        return new Linear(out, in, DType.F32, weight, null, bias);
    }

    public static Linear i8(int out, int in, MemorySegment q, MemorySegment scales, MemorySegment bias) {
        return new Linear(out, in, DType.I8, q, scales, bias);
    }

    /** W[o][i] as a float, whatever the storage. Slow: for references, packing and tests. */
    public float weightAt(int o, int i) {
        long idx = (long) o * inFeatures + i;
        if (dtype == DType.F32) return weight.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, idx);
        return weight.get(ValueLayout.JAVA_BYTE, idx) * scales.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, o);
    }

    public float biasAt(int o) {
        return bias == null ? 0f : bias.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, o);
    }

    public long parameterCount() { return (long) outFeatures * inFeatures + (bias == null ? 0 : outFeatures); }

    public long weightBytes() { return weight.byteSize() + (scales == null ? 0 : scales.byteSize()) + (bias == null ? 0 : bias.byteSize()); }
}
