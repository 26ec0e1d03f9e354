package io.jvit.engine;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HugePagesTest {
    private static final boolean LINUX = System.getProperty("os.name", "").toLowerCase().startsWith("linux");

    /** The kernel's THP mode: "always", "madvise", "never", or null where it cannot say. */
    private static String thpMode() {
        try {
            String s = Files.readString(Path.of("/sys/kernel/mm/transparent_hugepage/enabled"));
            int a = s.indexOf('['), b = s.indexOf(']');
            return a >= 0 && b > a ? s.substring(a + 1, b) : null;
        } catch (IOException e) {
            return null;
        }
    }

    /** The smaps block of the mapping that holds {@code address}. */
    private static List<String> mappingOf(long address) throws IOException {
        List<String> lines = Files.readAllLines(Path.of("/proc/self/smaps"));
        for (int i = 0; i < lines.size(); i++) {
            String l = lines.get(i);
            int dash = l.indexOf('-'), space = l.indexOf(' ');
            if (dash <= 0 || space <= dash || !l.substring(0, dash).matches("[0-9a-f]+")) continue;
            long lo = Long.parseUnsignedLong(l.substring(0, dash), 16), hi = Long.parseUnsignedLong(l.substring(dash + 1, space), 16);
            if (address >= lo && address < hi) {
                int end = i + 1;
                while (end < lines.size() && !lines.get(end).matches("^[0-9a-f]+-[0-9a-f]+ .*")) end++;
                return lines.subList(i, end);
            }
        }
        return null;
    }

    private static boolean thpEligible(long address) throws IOException {
        List<String> m = mappingOf(address);
        assertNotNull(m, "no mapping holds " + Long.toHexString(address));
        return m.stream().anyMatch(l -> l.matches("THPeligible:\\s+1"));
    }

    @Test
    void largeAllocationIsZeroedWritableAndOnItsOwnHugePageMapping() throws IOException {
        long bytes = 5 * HugePages.HUGE_PAGE + 123;
        MemorySegment s;
        try (Arena arena = Arena.ofConfined()) {
            s = HugePages.allocate(arena, bytes);
            assertEquals(bytes, s.byteSize());
            assertEquals(0, s.address() % 64);
            for (long i = 0; i + 8 <= bytes; i += 8) if (s.get(ValueLayout.JAVA_LONG_UNALIGNED, i) != 0) throw new AssertionError("not zero at " + i);
            for (long i = 0; i < bytes; i += 4093) s.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 7));
            for (long i = 0; i < bytes; i += 4093) assertEquals((byte) (i * 7), s.get(ValueLayout.JAVA_BYTE, i));
            if (LINUX && HugePages.enabled()) {
                assertEquals(0, s.address() % HugePages.HUGE_PAGE, "a 2 MB boundary");
                String mode = thpMode();
                if ("madvise".equals(mode) || "always".equals(mode))
                    assertTrue(thpEligible(s.address()), () -> "not eligible for huge pages: " + String.join(" | ", mappingOfQuietly(s.address())));
            }
        }
        assertFalse(s.scope().isAlive());
        if (LINUX && HugePages.enabled()) assertEquals(null, mappingOf(s.address()), "unmapped when its arena closed");
        assertThrows(IllegalStateException.class, () -> s.get(ValueLayout.JAVA_BYTE, 0));
    }

    private static List<String> mappingOfQuietly(long address) {
        try {
            List<String> m = mappingOf(address);
            return m == null ? List.of() : m;
        } catch (IOException e) {
            return List.of(e.toString());
        }
    }

    @Test
    void smallAllocationsAndTheSwitchUseOrdinaryMemory() throws IOException {
        String before = System.getProperty("jvit.hugePages");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment small = HugePages.allocate(arena, HugePages.HUGE_PAGE - 64);
            assertEquals(HugePages.HUGE_PAGE - 64, small.byteSize());
            assertEquals(0, small.address() % 64);
            System.setProperty("jvit.hugePages", "false");
            assertFalse(HugePages.enabled());
            MemorySegment off = HugePages.allocate(arena, 3 * HugePages.HUGE_PAGE);
            assertEquals(3 * HugePages.HUGE_PAGE, off.byteSize());
            off.set(ValueLayout.JAVA_FLOAT, off.byteSize() - 4, 1f);
            // with THP on request only, memory nobody asked huge pages for is not eligible
            if (LINUX && "madvise".equals(thpMode())) {
                assertFalse(thpEligible(small.address()));
                assertFalse(thpEligible(off.address()));
            }
        } finally {
            if (before == null) System.clearProperty("jvit.hugePages");
            else System.setProperty("jvit.hugePages", before);
        }
    }

    @Test
    void theEngineRunsTheSameOnEitherKindOfMemory() {
        // the packed weights on huge pages (one slab) or not: bit-identical logits
        String before = System.getProperty("jvit.hugePages");
        try (Arena arena = Arena.ofShared()) {   // the pool's workers read the weights while packing
            // 6.3 MB of weights: the slab spans three huge pages
            ViTConfig c = new ViTConfig(32, 8, 3, 256, 2, 4, 1024, 10, 1e-6f, false, 0);
            ViTModel model = TestModels.model(arena, c, 7);
            java.util.Random r = new java.util.Random(3);
            float[] px = TestModels.randn(r, 2 * 3 * 32 * 32, 1.0);
            float[][] logits = new float[2][];
            for (int v = 0; v < 2; v++) {
                System.setProperty("jvit.hugePages", v == 0 ? "false" : "true");
                try (VisionTransformer vt = new VisionTransformer(model, 2)) {
                    logits[v] = vt.classify(px, 2);
                }
            }
            assertEquals(java.util.Arrays.toString(logits[0]), java.util.Arrays.toString(logits[1]));
        } finally {
            if (before == null) System.clearProperty("jvit.hugePages");
            else System.setProperty("jvit.hugePages", before);
        }
    }
}
