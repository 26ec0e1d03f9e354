package io.jvit.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * An int8 Linear layer re-laid for {@link Int8Matmul}: one byte per weight (a quarter of
 * {@link PackedMatrix}), plus a float scale and bias per (padded) output column. N is cut into panels
 * of {@link Matmul#NR} columns like the F32 form, so output strides are the same; the last panel is
 * zero-padded. Layout by mode:
 * <ul>
 * <li>W8A32: per panel, [k][NR] bytes (k-major, like PackedMatrix).</li>
 * <li>W8A8: K padded to a multiple of 4; per group of 16 columns, per 4 k, 64 bytes: for the k-pair (k, k+1)
 * then (k+2, k+3), 16 x (w[k][col], w[k+1][col]).</li>
 * </ul>
 */
public record PackedInt8Matrix(Int8Matmul.Mode mode, int n, int k, int panels, MemorySegment data, MemorySegment scales,
                               MemorySegment bias) implements PackedLinear {

    @Override
    public int paddedN() { return panels * Matmul.NR; }

    /** K as the kernel walks it: a multiple of 4 for W8A8. */
    public int kPadded() { return mode == Int8Matmul.Mode.W8A8 ? (k + Int8Matmul.KQ - 1) / Int8Matmul.KQ * Int8Matmul.KQ : k; }

    public static PackedInt8Matrix pack(Linear l, Arena arena) {
        return pack(l, Int8Matmul.defaultMode(), arena);
    }

    /** Packs an I8 Linear (an F32 one is quantized first, per output channel). */
    public static PackedInt8Matrix pack(Linear l, Int8Matmul.Mode mode, Arena arena) {
        if (l.dtype() != Linear.DType.I8) {
            try (Arena tmp = Arena.ofConfined()) {
                return pack(Quantizer.quantize(l, tmp), mode, arena);
            }
        }
        if (mode == Int8Matmul.Mode.W8A8 && !Int8Matmul.w8a8Supported()) mode = Int8Matmul.Mode.W8A32;
        int n = l.outFeatures(), k = l.inFeatures(), nr = Matmul.NR;
        int panels = (n + nr - 1) / nr;
        int kp = mode == Int8Matmul.Mode.W8A8 ? (k + Int8Matmul.KQ - 1) / Int8Matmul.KQ * Int8Matmul.KQ : k;
        MemorySegment data = arena.allocate((long) panels * kp * nr, 64);   // zeroed: padding stays 0
        byte[] row = new byte[k];
        for (int o = 0; o < n; o++) {
            MemorySegment.copy(l.weight(), ValueLayout.JAVA_BYTE, (long) o * k, row, 0, k);
            int p = o / nr, j = o % nr;
            long panel = (long) p * kp * nr;
            if (mode == Int8Matmul.Mode.W8A32) {
                for (int i = 0; i < k; i++) data.set(ValueLayout.JAVA_BYTE, panel + (long) i * nr + j, row[i]);
            } else {
                long group = (long) (o / 16) * kp * 16;
                int col = o % 16;
                for (int i = 0; i < k; i++)
                    data.set(ValueLayout.JAVA_BYTE, group + (long) (i / 4) * 64 + ((i % 4) / 2) * 32 + col * 2 + i % 2, row[i]);
            }
        }
        MemorySegment scales = arena.allocate((long) panels * nr * 4, 64);
        MemorySegment bias = arena.allocate((long) panels * nr * 4, 64);
        for (int o = 0; o < n; o++) {
            scales.setAtIndex(ValueLayout.JAVA_FLOAT, o, l.scales().getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, o));
            bias.setAtIndex(ValueLayout.JAVA_FLOAT, o, l.biasAt(o));
        }
        return new PackedInt8Matrix(mode, n, k, panels, data, scales, bias);
    }

    @Override
    public long byteSize() { return data.byteSize() + scales.byteSize() + bias.byteSize(); }

    @Override
    public void multiply(WorkerPool pool, MemorySegment a, long lda, int m, MemorySegment c, long ldc, Matmul.Epilogue epilogue) {
        Int8Matmul.multiply(pool, a, lda, m, this, c, ldc, epilogue);
    }
}
