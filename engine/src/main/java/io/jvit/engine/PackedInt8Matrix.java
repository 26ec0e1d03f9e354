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
    public int kPadded() { return kPadded(k, mode); }

    /** K as the kernel walks it in {@code mode}: rounded up to a multiple of 4 for W8A8. */
    private static int kPadded(int k, Int8Matmul.Mode mode) {
        return mode == Int8Matmul.Mode.W8A8 ? (k + Int8Matmul.KQ - 1) / Int8Matmul.KQ * Int8Matmul.KQ : k;
    }

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
        return pack(l, mode, arena, HugePages.allocate(arena, dataBytes(l, mode)));
    }

    /** The mode an I8 Linear is packed in when {@code mode} is asked for: W8A8 only where it runs. */
    private static Int8Matmul.Mode effective(Int8Matmul.Mode mode) {
        return mode == Int8Matmul.Mode.W8A8 && !Int8Matmul.w8a8Supported() ? Int8Matmul.Mode.W8A32 : mode;
    }

    /** Bytes of the packed panels of an I8 Linear in {@code mode}. */
    static long dataBytes(Linear l, Int8Matmul.Mode mode) {
        return (long) Matmul.padCols(l.outFeatures()) * kPadded(l.inFeatures(), effective(mode));
    }

    /** Packs an I8 Linear into {@code data} ({@link #dataBytes} of zeroed memory: the padding stays 0); scales and bias from {@code arena}. */
    static PackedInt8Matrix pack(Linear l, Int8Matmul.Mode mode, Arena arena, MemorySegment data) {
        if (l.dtype() != Linear.DType.I8) throw new IllegalArgumentException("not an I8 Linear");
        mode = effective(mode);
        int n = l.outFeatures(), k = l.inFeatures(), nr = Matmul.NR;
        int panels = (n + nr - 1) / nr;
        int kp = kPadded(k, mode);
        if (data.byteSize() != dataBytes(l, mode)) throw new IllegalArgumentException(data.byteSize() + " bytes for " + dataBytes(l, mode));
        for (int p = 0; p < panels; p++) packPanel(l, mode, kp, data, p);
        MemorySegment scales = arena.allocate((long) panels * nr * 4, 64);
        MemorySegment bias = arena.allocate((long) panels * nr * 4, 64);
        for (int o = 0; o < n; o++) {
            scales.setAtIndex(ValueLayout.JAVA_FLOAT, o, l.scales().getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, o));
            bias.setAtIndex(ValueLayout.JAVA_FLOAT, o, l.biasAt(o));
        }
        return new PackedInt8Matrix(mode, n, k, panels, data, scales, bias);
    }

    /** Rows p*NR .. p*NR+NR-1 of W into their places: the panel (W8A32) or their groups of 16 columns (W8A8), built in a heap buffer. */
    private static void packPanel(Linear l, Int8Matmul.Mode mode, int kp, MemorySegment data, int p) {
        int n = l.outFeatures(), k = l.inFeatures(), nr = Matmul.NR;
        int rows = Math.min(nr, n - p * nr);
        byte[] row = new byte[k], block = new byte[kp * nr];
        for (int j = 0; j < rows; j++) {
            int o = p * nr + j;
            MemorySegment.copy(l.weight(), ValueLayout.JAVA_BYTE, (long) o * k, row, 0, k);
            if (mode == Int8Matmul.Mode.W8A32) {
                for (int i = 0; i < k; i++) block[i * nr + j] = row[i];
            } else {
                int group = (j / 16) * kp * 16, col = j % 16;
                for (int i = 0; i < k; i++) block[group + (i / 4) * 64 + ((i % 4) / 2) * 32 + col * 2 + i % 2] = row[i];
            }
        }
        // a panel and its NR/16 column groups are the same kp * NR bytes at the same place in both layouts
        MemorySegment.copy(block, 0, data, ValueLayout.JAVA_BYTE, (long) p * kp * nr, kp * nr);
    }

    @Override
    public long byteSize() { return data.byteSize() + scales.byteSize() + bias.byteSize(); }

    @Override
    public void multiply(WorkerPool pool, MemorySegment a, long lda, int m, MemorySegment c, long ldc, Matmul.Epilogue epilogue,
                         int firstPanel, int endPanel) {
        Int8Matmul.multiply(pool, a, lda, m, this, c, ldc, epilogue, firstPanel, endPanel);
    }
}
