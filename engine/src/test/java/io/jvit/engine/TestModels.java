package io.jvit.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Random-weight models and tensors for engine tests. */
final class TestModels {
    private TestModels() {}

    static float[] randn(Random r, int n, double std) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextGaussian() * std);
        return a;
    }

    static MemorySegment seg(Arena arena, float[] a) {
        MemorySegment s = arena.allocate((long) a.length * 4, 4);
        MemorySegment.copy(a, 0, s, ValueLayout.JAVA_FLOAT, 0, a.length);
        return s;
    }

    static Linear linear(Arena arena, Random r, int out, int in, boolean bias) {
        return Linear.f32(out, in, seg(arena, randn(r, out * in, 1 / Math.sqrt(in))), bias ? seg(arena, randn(r, out, 0.1)) : null);
    }

    static LayerNormParams norm(Arena arena, Random r, int d) {
        float[] g = randn(r, d, 0.1);
        for (int i = 0; i < d; i++) g[i] += 1;
        return new LayerNormParams(seg(arena, g), seg(arena, randn(r, d, 0.1)));
    }

    static ViTModel model(Arena arena, ViTConfig c, long seed) {
        Random r = new Random(seed);
        int d = c.width();
        List<EncoderBlock> blocks = new ArrayList<>();
        for (int i = 0; i < c.depth(); i++)
            blocks.add(new EncoderBlock(norm(arena, r, d), linear(arena, r, 3 * d, d, true), linear(arena, r, d, d, true),
                    norm(arena, r, d), linear(arena, r, c.mlpDim(), d, true), linear(arena, r, d, c.mlpDim(), true)));
        int feat = c.preLogitsDim() > 0 ? c.preLogitsDim() : d;
        ViTWeights w = new ViTWeights(linear(arena, r, d, c.patchDim(), true), seg(arena, randn(r, d, 0.5)),
                c.distilled() ? seg(arena, randn(r, d, 0.5)) : null, seg(arena, randn(r, c.tokens() * d, 0.5)), blocks,
                norm(arena, r, d), c.preLogitsDim() > 0 ? linear(arena, r, c.preLogitsDim(), d, true) : null,
                linear(arena, r, c.numClasses(), feat, true), c.distilled() ? linear(arena, r, c.numClasses(), feat, true) : null);
        return new ViTModel(c, w, null, null, null);
    }

    static void assertClose(float[] expected, float[] actual, double relTol, String what) {
        if (expected.length != actual.length) throw new AssertionError(what + ": length " + actual.length + " != " + expected.length);
        double maxAbs = 0, maxDiff = 0;
        int at = -1;
        for (int i = 0; i < expected.length; i++) {
            maxAbs = Math.max(maxAbs, Math.abs(expected[i]));
            double diff = Math.abs(expected[i] - actual[i]);
            if (!(diff <= maxDiff)) { maxDiff = diff; at = i; }
        }
        if (!(maxDiff <= relTol * Math.max(maxAbs, 1e-6)))
            throw new AssertionError(what + ": max |diff| " + maxDiff + " at " + at + " (expected " + expected[at] + ", got "
                    + actual[at] + ") exceeds " + relTol + " x max|expected| " + maxAbs);
    }
}
