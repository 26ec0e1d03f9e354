package io.jvit.engine;

import java.lang.foreign.MemorySegment;

/** LayerNorm's learned scale (gamma, "weight") and shift (beta, "bias"), each {@code width} floats. */
public record LayerNormParams(MemorySegment gamma, MemorySegment beta) {
    public LayerNormParams {
        if (gamma.byteSize() != beta.byteSize())
            throw new IllegalArgumentException("LayerNorm weight and bias differ in length");
    }

    public int width() { return (int) (gamma.byteSize() / 4); }
}
