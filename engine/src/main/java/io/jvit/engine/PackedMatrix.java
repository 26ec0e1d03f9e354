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

    /**
     * A panel is built KB_PACK k at a time in a small heap buffer (rows of W read sequentially, which
     * suits a memory-mapped file; the transposing stores land in L1) and copied out in one piece.
     * {@link VisionTransformer} packs its Linears in parallel, one per task.
     */
    public static PackedMatrix pack(Linear l, Arena arena) {
        return pack(l, arena, HugePages.allocate(arena, dataBytes(l)));
    }

    /** Bytes of the packed panels of l. */
    static long dataBytes(Linear l) {
        return (long) Matmul.padCols(l.outFeatures()) * l.inFeatures() * 4;
    }

    /** Packs into {@code data} ({@link #dataBytes} of zeroed memory, 64-byte aligned); the bias from {@code arena}. */
    static PackedMatrix pack(Linear l, Arena arena, MemorySegment data) {
        int n = l.outFeatures(), k = l.inFeatures(), nr = Matmul.NR;
        int panels = (n + nr - 1) / nr;
        if (data.byteSize() != dataBytes(l)) throw new IllegalArgumentException(data.byteSize() + " bytes for " + dataBytes(l));
        if (l.transposed()) packTransposed(l, data);
        else for (int p = 0; p < panels; p++) packPanel(l, data, p);
        MemorySegment bias = arena.allocate((long) panels * nr * 4, 64);
        for (int o = 0; o < n; o++) bias.setAtIndex(ValueLayout.JAVA_FLOAT, o, l.biasAt(o));
        return new PackedMatrix(n, k, panels, data, bias);
    }

    private static final int KB_PACK = 256;
    private static final ThreadLocal<float[][]> PACK_BUFFERS =
            ThreadLocal.withInitial(() -> new float[][] {new float[KB_PACK], new float[KB_PACK * Matmul.NR]});

    /**
     * W^T's row i is the k-th row of every panel side by side: read once, front to back (the mapped file in order),
     * and cut into NR-float pieces, one per panel (fewer floats in the last).
     */
    private static void packTransposed(Linear l, MemorySegment data) {
        int n = l.outFeatures(), k = l.inFeatures(), nr = Matmul.NR;
        for (int i = 0; i < k; i++)
            for (int p = 0, o = 0; o < n; p++, o += nr)
                MemorySegment.copy(l.weight(), ((long) i * n + o) * 4, data, ((long) p * k + i) * nr * 4, Math.min(nr, n - o) * 4L);
    }

    private static void packPanel(Linear l, MemorySegment data, int p) {
        int n = l.outFeatures(), k = l.inFeatures(), nr = Matmul.NR;
        float[][] buf = PACK_BUFFERS.get();
        float[] row = buf[0], block = buf[1];
        int rows = Math.min(nr, n - p * nr);
        for (int k0 = 0; k0 < k; k0 += KB_PACK) {
            int kb = Math.min(KB_PACK, k - k0);
            if (rows < nr) java.util.Arrays.fill(block, 0f);   // the last panel's padding columns stay zero
            for (int j = 0; j < rows; j++) {
                int o = p * nr + j;
                l.rowF32(o, k0, row, kb);
                for (int i = 0; i < kb; i++) block[i * nr + j] = row[i];
            }
            MemorySegment.copy(block, 0, data, ValueLayout.JAVA_FLOAT, ((long) p * k + k0) * nr * 4, kb * nr);
        }
    }

    @Override
    public long byteSize() { return data.byteSize() + bias.byteSize(); }

    @Override
    public void multiply(WorkerPool pool, MemorySegment a, long lda, int m, MemorySegment c, long ldc, Matmul.Epilogue epilogue,
                         int firstPanel, int endPanel) {
        Matmul.multiply(pool, a, lda, m, this, c, ldc, epilogue, firstPanel, endPanel);
    }
}
