package io.jvit.engine;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** A stacked Linear ([q; k; v] read in place) packs, quantizes and reads exactly as the copied stack. */
class StackedLinearTest {

    private static Linear f32(Arena arena, int n, int k, long seed, boolean bias) {
        Random r = new Random(seed);
        MemorySegment w = arena.allocate((long) n * k * 4 + 4).asSlice(4);   // not 64-byte aligned, as in a mapped file
        for (long i = 0; i < (long) n * k; i++) w.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, (float) r.nextGaussian());
        MemorySegment b = null;
        if (bias) {
            b = arena.allocate(n * 4L, 64);
            for (int o = 0; o < n; o++) b.setAtIndex(ValueLayout.JAVA_FLOAT, o, (float) r.nextGaussian());
        }
        return Linear.f32(n, k, w, b);
    }

    private static Linear f16(Arena arena, int n, int k, long seed, boolean bias) {
        Random r = new Random(seed);
        MemorySegment w = arena.allocate((long) n * k * 2);
        for (long i = 0; i < (long) n * k; i++) w.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, Float.floatToFloat16((float) r.nextGaussian()));
        MemorySegment b = arena.allocate(n * 4L, 64);
        for (int o = 0; o < n; o++) b.setAtIndex(ValueLayout.JAVA_FLOAT, o, o + 0.5f);
        return Linear.half(n, k, Linear.DType.F16, w, bias ? b : null);
    }

    /** The parts copied one after another into one F32 Linear (what the loader used to build). */
    private static Linear copied(Arena arena, Linear stacked) {
        MemorySegment w = arena.allocate((long) stacked.outFeatures() * stacked.inFeatures() * 4, 64);
        long at = 0;
        for (Linear p : stacked.parts()) {
            MemorySegment s = w.asSlice(at, (long) p.outFeatures() * p.inFeatures() * 4);
            p.copyF32(s);
            at += s.byteSize();
        }
        return Linear.f32(stacked.outFeatures(), stacked.inFeatures(), w, stacked.bias());
    }

    @Test
    void multipliesAsTheCopiedStack() {
        try (Arena arena = Arena.ofConfined()) {
            // 70 rows: panels straddle the parts; the middle part has no bias; one part half precision
            int k = 300;
            Linear p0 = f32(arena, 70, k, 1, true), p1 = f32(arena, 70, k, 2, false), p2 = f16(arena, 70, k, 3, true);
            Linear s = Linear.stack(p0, p1, p2);
            assertEquals(Linear.DType.F32, s.dtype());
            assertEquals(210, s.outFeatures());
            Linear c = copied(arena, s);
            Linear[] parts = {p0, p1, p2};
            for (int o : new int[] {0, 69, 70, 139, 140, 209}) {
                assertEquals(parts[o / 70].weightAt(o % 70, 123), s.weightAt(o, 123), "row " + o);
                assertEquals(parts[o / 70].weightAt(o % 70, 123), c.weightAt(o, 123), "copied row " + o);
                assertEquals(parts[o / 70].biasAt(o % 70), s.biasAt(o), "bias " + o);
            }
            SameLinear.assertSame(c, s, 13, Matmul.Epilogue.GELU, arena);
        }
    }

    @Test
    void keepsItsPartsAndTheirPrecision() {
        try (Arena arena = Arena.ofConfined()) {
            Linear q = f16(arena, 8, 5, 1, false), k = f16(arena, 8, 5, 2, false), v = f16(arena, 8, 5, 3, false);
            Linear s = Linear.stack(q, k, v);
            assertEquals(Linear.DType.F16, s.dtype());
            assertNull(s.weight());
            assertNull(s.bias());
            assertEquals(List.of(q.weight(), k.weight(), v.weight()), s.weightSegments());
            assertEquals(3 * 8 * 5 * 2, s.weightBytes());
            assertEquals(v.weightAt(7, 4), s.weightAt(23, 4));
            MemorySegment all = arena.allocate(24 * 5 * 4);
            s.copyF32(all);
            assertEquals(k.weightAt(2, 3), all.getAtIndex(ValueLayout.JAVA_FLOAT, (8 + 2) * 5 + 3));
        }
    }

    @Test
    void refusesWhatCannotBeStacked() {
        try (Arena arena = Arena.ofConfined()) {
            Linear a = f32(arena, 4, 6, 1, true);
            assertThrows(IllegalArgumentException.class, Linear::stack);
            assertThrows(IllegalArgumentException.class, () -> Linear.stack(a, f32(arena, 4, 7, 2, true)), "different widths");
            Linear i8 = Linear.i8(4, 6, arena.allocate(24), arena.allocate(16), null);
            assertThrows(IllegalArgumentException.class, () -> Linear.stack(a, i8), "int8 part");
            assertThrows(IllegalArgumentException.class, () -> Linear.stack(a, Linear.stack(a, a)), "nested stack");
            assertThrows(IllegalArgumentException.class,
                    () -> new Linear(9, 6, Linear.DType.F32, null, null, null, List.of(a, a), false), "rows do not add up");
        }
    }
}
