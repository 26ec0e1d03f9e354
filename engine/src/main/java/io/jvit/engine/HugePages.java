package io.jvit.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.Locale;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Off-heap memory for packed weights on 2 MB pages: an anonymous mapping asked for transparent huge pages
 * with madvise, both called through the FFM linker (C library calls; no native code of jvit's own).
 * <p>
 * Why: every pass streams all the weights from DRAM (a ViT's never fit in cache), and on 4 KB pages a
 * 9 MB matmul weight is 2304 pages, each a TLB miss and a page walk, and each a point where the hardware
 * prefetcher stops. This 2-vCPU host has slow phases (a neighbour, it seems, loading the shared caches and
 * memory) in which that costs dearly: a 768x3072 matmul streaming its weights ran at a median 63-65 GFLOP/s
 * on 4 KB pages against 135-143 on 2 MB pages in the same process, and whole ViT-B/16 passes took 0.52-0.82x
 * the time on 2 MB pages on 1 thread, 0.84-0.96x on 2 (same process, alternating; equal fastest passes). Packing into fresh 2 MB pages is
 * also 4-5x faster: a page fault per 2 MB, not per 4 KB (docs/BENCHMARKS.md, 2026-11-27, ninth round).
 * <p>
 * Used where it can be: Linux on x86-64 or AArch64, native access enabled for this code (the launcher
 * passes {@code --enable-native-access=ALL-UNNAMED}; without it the JDK would warn, so ordinary memory is
 * used instead), and {@code -Djvit.hugePages} not {@code false}. Where the kernel's THP setting is
 * "never", the mapping simply stays on 4 KB pages.
 */
final class HugePages {
    static final long HUGE_PAGE = 2L << 20;
    private static final long PAGE = 4096;
    /** Linux's values on x86-64 and AArch64. */
    private static final int PROT_READ_WRITE = 0x1 | 0x2, MAP_PRIVATE_ANONYMOUS = 0x02 | 0x20, MADV_HUGEPAGE = 14;

    private static final MethodHandle MMAP, MUNMAP, MADVISE;

    static {
        MethodHandle mmap = null, munmap = null, madvise = null;
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT), arch = System.getProperty("os.arch", "");
        if (os.startsWith("linux") && (arch.equals("amd64") || arch.equals("x86_64") || arch.equals("aarch64"))
                && HugePages.class.getModule().isNativeAccessEnabled()) {
            try {
                Linker linker = Linker.nativeLinker();
                SymbolLookup libc = linker.defaultLookup();
                mmap = linker.downcallHandle(libc.find("mmap").orElseThrow(),
                        FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
                munmap = linker.downcallHandle(libc.find("munmap").orElseThrow(), FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
                madvise = linker.downcallHandle(libc.find("madvise").orElseThrow(), FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
            } catch (RuntimeException e) {
                mmap = munmap = madvise = null;
            }
        }
        MMAP = mmap;
        MUNMAP = munmap;
        MADVISE = madvise;
    }

    private HugePages() {}

    /** Whether {@link #allocate} maps huge-page memory now (the platform allows it and -Djvit.hugePages is not false). */
    static boolean enabled() {
        return MMAP != null && !"false".equals(System.getProperty("jvit.hugePages"));
    }

    /**
     * {@code bytes} of zeroed memory that lives as long as {@code arena}. From 2 MB up, when {@link #enabled}:
     * its own mapping, starting on a 2 MB boundary, its whole 2 MB stretches asked for as huge pages (the
     * tail past the last one stays on 4 KB pages, so no page is resident that holds nothing). Otherwise,
     * or if the mapping fails: {@code arena.allocate(bytes, 64)}.
     */
    static MemorySegment allocate(Arena arena, long bytes) {
        if (bytes < HUGE_PAGE || !enabled()) return arena.allocate(bytes, 64);
        long size = (bytes + PAGE - 1) & -PAGE, len = size + HUGE_PAGE;
        try {
            MemorySegment base = (MemorySegment) MMAP.invokeExact(MemorySegment.NULL, len, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS, -1, 0L);
            long b = base.address();
            if (b == -1L || b == 0L) return arena.allocate(bytes, 64);
            // keep [a, a + size) of the mapping, a the first 2 MB boundary in it
            long a = (b + HUGE_PAGE - 1) & -HUGE_PAGE;
            if (a > b) unmap(b, a - b);
            if (b + len > a + size) unmap(a + size, b + len - (a + size));
            int ignored = (int) MADVISE.invokeExact(MemorySegment.ofAddress(a), size & -HUGE_PAGE, MADV_HUGEPAGE);
            return MemorySegment.ofAddress(a).reinterpret(size, arena, s -> unmap(s.address(), size)).asSlice(0, bytes);
        } catch (Throwable t) {
            return arena.allocate(bytes, 64);
        }
    }

    private static void unmap(long address, long length) {
        try {
            int ignored = (int) MUNMAP.invokeExact(MemorySegment.ofAddress(address), length);
        } catch (Throwable t) {
            throw new IllegalStateException("munmap", t);
        }
    }
}
