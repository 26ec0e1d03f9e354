package io.jvit.loader;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/** A named tensor whose bytes live in a (possibly memory-mapped, possibly unaligned) segment. */
public record Tensor(String name, DType dtype, long[] shape, MemorySegment data) {

    public long elements() {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    public String shapeString() { return Arrays.toString(shape); }

    /**
     * The data as little-endian F32: the same segment (no copy) when it already is F32, else a
     * converted copy allocated in {@code arena}. Anything but F32/F16/BF16 is refused.
     */
    public MemorySegment asF32(Arena arena, String file) throws UnsupportedModelException {
        switch (dtype) {
            case F32:
                return data;
            case F16: {
                long n = elements();
                MemorySegment out = arena.allocate(n * 4, 64);
                for (long i = 0; i < n; i++)
                    out.setAtIndex(ValueLayout.JAVA_FLOAT, i, Float.float16ToFloat(data.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i)));
                return out;
            }
            case BF16: {
                long n = elements();
                MemorySegment out = arena.allocate(n * 4, 64);
                for (long i = 0; i < n; i++)
                    out.setAtIndex(ValueLayout.JAVA_INT, i, (data.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i) & 0xffff) << 16);
                return out;
            }
            default:
                throw new UnsupportedModelException(file + ": tensor '" + name + "' has dtype " + dtype
                        + "; jvit reads F32, F16 and BF16 weights (and I8 with per-channel scales)");
        }
    }
}
