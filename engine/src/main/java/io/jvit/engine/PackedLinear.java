package io.jvit.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A Linear layer's weights re-laid for a matmul kernel at load time. The F32 form is
 * {@link PackedMatrix}; quantized forms implement the same contract so the forward pass does not
 * care which it runs.
 */
public interface PackedLinear {
    /** Outputs. */
    int n();

    /** Inputs. */
    int k();

    /** Output columns including padding: the minimum row stride of C. */
    int paddedN();

    /** Off-heap bytes held. */
    long byteSize();

    /** Panels of {@link Matmul#NR} output columns (the last one zero-padded). */
    int panels();

    /** C = epilogue(A W^T + b): A is M x K (stride lda floats, M a multiple of {@link Matmul#MR}), C stride ldc >= paddedN(). */
    default void multiply(WorkerPool pool, MemorySegment a, long lda, int m, MemorySegment c, long ldc, Matmul.Epilogue epilogue) {
        multiply(pool, a, lda, m, c, ldc, epilogue, 0, panels());
    }

    /** The same for C's columns of panels [firstPanel, endPanel) only; C's other columns are left alone. */
    void multiply(WorkerPool pool, MemorySegment a, long lda, int m, MemorySegment c, long ldc, Matmul.Epilogue epilogue,
                  int firstPanel, int endPanel);

    /** Packs a Linear in the form its dtype calls for. */
    static PackedLinear pack(Linear l, Arena arena) {
        return pack(l, arena, HugePages.allocate(arena, dataBytes(l)));
    }

    /** Bytes of l's packed panels (the part that streams from memory every pass). */
    static long dataBytes(Linear l) {
        return switch (l.dtype()) {
            case F32, F16, BF16 -> PackedMatrix.dataBytes(l);
            case I8 -> PackedInt8Matrix.dataBytes(l, Int8Matmul.defaultMode());
        };
    }

    /** Packs l's panels into {@code data} ({@link #dataBytes} of zeroed memory, 64-byte aligned), the small rest from {@code arena}. */
    static PackedLinear pack(Linear l, Arena arena, MemorySegment data) {
        PackedLinear p = switch (l.dtype()) {
            case F32, F16, BF16 -> PackedMatrix.pack(l, arena, data);   // half precision widened while packing
            case I8 -> PackedInt8Matrix.pack(l, Int8Matmul.defaultMode(), arena, data); // int8 kernels: see Int8Matmul (W8A32 default, W8A8 option)
        };
        l.weightSegments().forEach(PackedLinear::dropResidentPages);
        return p;
    }

    /**
     * The packed copy replaces its source: pages of a read-only file mapping leave the process's resident
     * set as soon as a weight is packed (they come back from the page cache if read again), so loading
     * never holds the whole mapped file and the whole packed copy at once. Other segments are left alone:
     * dropping the pages of a private or anonymous mapping would lose data.
     */
    static void dropResidentPages(MemorySegment source) {
        if (source.isMapped() && source.isReadOnly()) source.unload();
    }
}
