package io.jvit.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * A fully connected layer y = x W^T + b in PyTorch's layout: {@code weight} is [out][in].
 * <p>
 * F32: {@code weight} holds out*in floats. F16, BF16: out*in half-precision values, widened to F32 when the
 * layer is packed (so a half-precision checkpoint never needs an F32 copy beside the packed one). I8:
 * {@code weight} holds out*in signed bytes and {@code scales} one float per output row (symmetric, per output
 * channel): W[o][i] = q[o][i] * scales[o].
 * {@code bias} is null or out floats. All little-endian; segments may be memory-mapped and unaligned.
 * <p>
 * A stacked Linear ({@link #stack}) is its {@code parts}' rows one after another, read where they lie (its
 * {@code weight} is null): Hugging Face keeps q, k and v apart, the engine multiplies by [q; k; v] at once, and
 * packing reads the three in place instead of from a stacked copy as large as the three.
 * <p>
 * A transposed F32 Linear ({@link #f32Transposed}) holds W^T, [in][out], as ONNX's MatMul stores its weight: packing
 * reads its panels straight from those rows, so an ONNX model's weights need no [out][in] copy either.
 */
public record Linear(int outFeatures, int inFeatures, DType dtype, MemorySegment weight, MemorySegment scales,
                     MemorySegment bias, List<Linear> parts, boolean transposed) {

    public enum DType {
        F32(4), F16(2), BF16(2), I8(1);

        /** Bytes per weight. */
        public final int bytes;

        DType(int bytes) { this.bytes = bytes; }
    }

    public Linear {
        if (outFeatures <= 0 || inFeatures <= 0) throw new IllegalArgumentException("bad Linear shape " + outFeatures + "x" + inFeatures);
        if (bias != null && bias.byteSize() != 4L * outFeatures)
            throw new IllegalArgumentException("Linear bias holds " + bias.byteSize() / 4 + " floats, expected " + outFeatures);
        if (transposed && (dtype != DType.F32 || parts != null)) throw new IllegalArgumentException("only a plain F32 Linear can be stored transposed");
        if (parts != null) {
            parts = List.copyOf(parts);
            checkStack(outFeatures, inFeatures, dtype, weight, scales, parts);
        } else {
            long expect = (long) outFeatures * inFeatures * dtype.bytes;
            if (weight.byteSize() != expect)
                throw new IllegalArgumentException("Linear weight holds " + weight.byteSize() + " bytes, expected " + expect
                        + " for [" + outFeatures + ", " + inFeatures + "] " + dtype);
            if (dtype == DType.I8 && (scales == null || scales.byteSize() != 4L * outFeatures))
                throw new IllegalArgumentException("int8 Linear needs " + outFeatures + " scales, got "
                        + (scales == null ? "none" : scales.byteSize() / 4));
        }
    }

    private static void checkStack(int outFeatures, int inFeatures, DType dtype, MemorySegment weight, MemorySegment scales, List<Linear> parts) {
        if (weight != null || scales != null || dtype == DType.I8) throw new IllegalArgumentException("a stacked Linear holds no weights of its own");
        int rows = 0;
        for (Linear l : parts) {
            if (l.inFeatures != inFeatures || l.parts != null || l.dtype == DType.I8)
                throw new IllegalArgumentException("cannot stack a " + l.dtype + " " + l.outFeatures + "x" + l.inFeatures + " Linear onto width " + inFeatures);
            rows += l.outFeatures;
        }
        if (rows != outFeatures) throw new IllegalArgumentException("stacked parts hold " + rows + " rows, not " + outFeatures);
    }

    public static Linear f32(int out, int in, MemorySegment weight, MemorySegment bias) {
        return new Linear(out, in, DType.F32, weight, null, bias, null, false);
    }

    /** F32 weights stored transposed, [in][out] (W^T row-major, as ONNX's MatMul keeps them). */
    public static Linear f32Transposed(int out, int in, MemorySegment weight, MemorySegment bias) {
        return new Linear(out, in, DType.F32, weight, null, bias, null, true);
    }

    /** F16 or BF16 weights, widened when packed. */
    public static Linear half(int out, int in, DType dtype, MemorySegment weight, MemorySegment bias) {
        if (dtype != DType.F16 && dtype != DType.BF16) throw new IllegalArgumentException("not a half-precision type: " + dtype);
        return new Linear(out, in, dtype, weight, null, bias, null, false);
    }

    public static Linear i8(int out, int in, MemorySegment q, MemorySegment scales, MemorySegment bias) {
        return new Linear(out, in, DType.I8, q, scales, bias, null, false);
    }

    /**
     * The rows of {@code parts} one after another, without copying them (F32, F16 or BF16 parts of one width). Its
     * dtype is the parts' when they agree, else F32 (each part is widened on its own). A part without a bias adds zeros.
     */
    public static Linear stack(Linear... parts) {
        int out = 0;
        boolean anyBias = false;
        for (Linear l : parts) {
            out += l.outFeatures;
            anyBias |= l.bias != null;
        }
        MemorySegment bias = null;
        if (anyBias) {
            bias = Arena.ofAuto().allocate(4L * out, 64);
            long at = 0;
            for (Linear l : parts) {
                if (l.bias != null) MemorySegment.copy(l.bias, 0, bias, at, 4L * l.outFeatures);
                at += 4L * l.outFeatures;
            }
        }
        return stacked(bias, parts);
    }

    /** {@link #stack} with the given bias (null, or out floats) instead of the parts' biases. */
    public static Linear stacked(MemorySegment bias, Linear... parts) {
        if (parts.length == 0) throw new IllegalArgumentException("nothing to stack");
        int out = 0;
        for (Linear l : parts) out += l.outFeatures;
        DType dt = parts[0].dtype;
        for (Linear l : parts) if (l.dtype != dt) dt = DType.F32;
        return new Linear(out, parts[0].inFeatures, dt, null, null, bias, List.of(parts), false);
    }

    /** W[o][i] as a float, whatever the storage. Slow: for references, packing and tests. */
    public float weightAt(int o, int i) {
        if (parts != null) {
            for (Linear l : parts) {
                if (o < l.outFeatures) return l.weightAt(o, i);
                o -= l.outFeatures;
            }
        }
        long idx = transposed ? (long) i * outFeatures + o : (long) o * inFeatures + i;
        return switch (dtype) {
            case F32 -> weight.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, idx);
            case F16 -> Float.float16ToFloat(weight.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, idx));
            case BF16 -> Float.intBitsToFloat((weight.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, idx) & 0xffff) << 16);
            case I8 -> weight.get(ValueLayout.JAVA_BYTE, idx) * scales.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, o);
        };
    }

    /** W[o][from .. from + n) into {@code dst[0 .. n)} as floats: copied, widened, or dequantized (for packing). */
    public void rowF32(int o, int from, float[] dst, int n) {
        if (parts != null) {
            for (Linear l : parts) {
                if (o < l.outFeatures) {
                    l.rowF32(o, from, dst, n);
                    return;
                }
                o -= l.outFeatures;
            }
        }
        if (dtype == DType.F32 && !transposed)
            MemorySegment.copy(weight, ValueLayout.JAVA_FLOAT_UNALIGNED, ((long) o * inFeatures + from) * 4, dst, 0, n);
        else for (int i = 0; i < n; i++) dst[i] = weightAt(o, from + i);   // widened, dequantized, or down W^T's column
    }

    /** W into {@code dst} as out*in F32 values: copied, or widened (dequantized for I8). */
    public void copyF32(MemorySegment dst) {
        float[] row = new float[inFeatures];
        for (int o = 0; o < outFeatures; o++) {
            rowF32(o, 0, row, inFeatures);
            MemorySegment.copy(row, 0, dst, ValueLayout.JAVA_FLOAT_UNALIGNED, (long) o * inFeatures * 4, inFeatures);
        }
    }

    public float biasAt(int o) {
        return bias == null ? 0f : bias.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, o);
    }

    public long parameterCount() { return (long) outFeatures * inFeatures + (bias == null ? 0 : outFeatures); }

    public long weightBytes() {
        long own = weight != null ? weight.byteSize() : parts.stream().mapToLong(l -> l.weight.byteSize()).sum();
        return own + (scales == null ? 0 : scales.byteSize()) + (bias == null ? 0 : bias.byteSize());
    }

    /** The segments holding W: this Linear's weight, or its parts'. */
    public List<MemorySegment> weightSegments() {
        return parts == null ? List.of(weight) : parts.stream().map(Linear::weight).toList();
    }
}
