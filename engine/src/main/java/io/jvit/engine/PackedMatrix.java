package io.jvit.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A Linear layer's weight re-laid for {@link Matmul}: the N outputs cut into panels of
 * {@link Matmul#NR} columns, each panel stored k-major ([k][NR] floats, contiguous) so that the
 * micro-kernel reads it as one forward stream. The last panel is zero-padded, and so is the bias,
 * which keeps edge handling out of the kernel. 64-byte aligned: unaligned 512-bit loads are slow.
 */
public record PackedMatrix(int n, int k, int panels, MemorySegment data, MemorySegment bias) implements PackedLinear {

    @Override
    public int paddedN() { return panels * Matmul.NR; }

    long panelOffset(int panel) { return (long) panel * k * Matmul.NR * 4; }

    public static PackedMatrix pack(Linear l, Arena arena) {
        int n = l.outFeatures(), k = l.inFeatures(), nr = Matmul.NR;
        int panels = (n + nr - 1) / nr;
        MemorySegment data = arena.allocate((long) panels * k * nr * 4, 64);
        float[] row = new float[k];
        for (int o = 0; o < n; o++) {
            // one row of W at a time: the source is read sequentially, which suits a memory-mapped file
            if (l.dtype() == Linear.DType.F32) {
                MemorySegment.copy(l.weight(), ValueLayout.JAVA_FLOAT_UNALIGNED, (long) o * k * 4, row, 0, k);
            } else {
                for (int i = 0; i < k; i++) row[i] = l.weightAt(o, i);
            }
            int p = o / nr, j = o % nr;
            long base = (long) p * k * nr + j;
            for (int i = 0; i < k; i++) data.setAtIndex(ValueLayout.JAVA_FLOAT, base + (long) i * nr, row[i]);
        }
        MemorySegment bias = arena.allocate((long) panels * nr * 4, 64);
        for (int o = 0; o < n; o++) bias.setAtIndex(ValueLayout.JAVA_FLOAT, o, l.biasAt(o));
        return new PackedMatrix(n, k, panels, data, bias);
    }

    @Override
    public long byteSize() { return data.byteSize() + bias.byteSize(); }

    @Override
    public void multiply(WorkerPool pool, MemorySegment a, long lda, int m, MemorySegment c, long ldc, Matmul.Epilogue epilogue) {
        Matmul.multiply(pool, a, lda, m, this, c, ldc, epilogue);
    }
}
