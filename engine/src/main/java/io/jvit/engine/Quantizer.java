package io.jvit.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Symmetric per-output-channel int8 quantization of Linear weights: for each output row o,
 * {@code scale[o] = max_i |W[o][i]| / 127} and {@code q[o][i] = round(W[o][i] / scale[o])}, so that
 * {@code W ≈ q * scale} with q in [-127, 127] (-128 is never produced: the kernels rely on it). A row
 * of zeros gets scale 0 and q 0. Biases, LayerNorms, tokens and embeddings are left in F32.
 */
public final class Quantizer {
    /** Parts of a ViT that may be kept in F32. */
    public enum Part {
        /** The patch-embedding convolution. */
        PATCH,
        /** The classification head(s) and the pre-logits layer. */
        HEAD
    }

    private Quantizer() {}

    /** Quantizes an F32 (or F16/BF16) Linear into {@code arena}; an I8 one is returned as it is. */
    public static Linear quantize(Linear l, Arena arena) {
        if (l.dtype() == Linear.DType.I8) return l;
        int n = l.outFeatures(), k = l.inFeatures();
        MemorySegment q = arena.allocate((long) n * k, 64);
        MemorySegment scales = arena.allocate((long) n * 4, 64);
        if (l.transposed()) quantizeTransposed(l, q, scales);
        else quantizeRows(l, q, scales);
        MemorySegment bias = null;
        if (l.bias() != null) {
            bias = arena.allocate((long) n * 4, 64);
            MemorySegment.copy(l.bias(), 0, bias, 0, (long) n * 4);
        }
        return Linear.i8(n, k, q, scales, bias);
    }

    private static void quantizeRows(Linear l, MemorySegment q, MemorySegment scales) {
        int n = l.outFeatures(), k = l.inFeatures();
        float[] row = new float[k];
        for (int o = 0; o < n; o++) {
            l.rowF32(o, 0, row, k);
            float max = 0;
            for (float v : row) {
                if (!Float.isFinite(v)) throw new IllegalArgumentException("weight row " + o + " holds a non-finite value (" + v + ")");
                max = Math.max(max, Math.abs(v));
            }
            float scale = max / 127f;
            scales.setAtIndex(ValueLayout.JAVA_FLOAT, o, scale);
            float inv = scale == 0 ? 0 : 1f / scale;
            for (int i = 0; i < k; i++) {
                int v = Math.round(row[i] * inv);
                q.set(ValueLayout.JAVA_BYTE, (long) o * k + i, (byte) Math.max(-127, Math.min(127, v)));
            }
        }
    }

    /**
     * The same numbers from W^T ([in][out]) read row by row, front to back: a pass for each output's largest |w|,
     * a pass that rounds. (Reading one output's column at a time strides through the whole matrix per row.)
     */
    private static void quantizeTransposed(Linear l, MemorySegment q, MemorySegment scales) {
        int n = l.outFeatures(), k = l.inFeatures();
        float[] row = new float[n], max = new float[n], inv = new float[n];
        for (int i = 0; i < k; i++) {
            MemorySegment.copy(l.weight(), ValueLayout.JAVA_FLOAT_UNALIGNED, (long) i * n * 4, row, 0, n);
            for (int o = 0; o < n; o++) {
                float v = row[o];
                if (!Float.isFinite(v)) throw new IllegalArgumentException("weight row " + o + " holds a non-finite value (" + v + ")");
                max[o] = Math.max(max[o], Math.abs(v));
            }
        }
        for (int o = 0; o < n; o++) {
            float scale = max[o] / 127f;
            scales.setAtIndex(ValueLayout.JAVA_FLOAT, o, scale);
            inv[o] = scale == 0 ? 0 : 1f / scale;
        }
        for (int i = 0; i < k; i++) {
            MemorySegment.copy(l.weight(), ValueLayout.JAVA_FLOAT_UNALIGNED, (long) i * n * 4, row, 0, n);
            for (int o = 0; o < n; o++)
                q.set(ValueLayout.JAVA_BYTE, (long) o * k + i, (byte) Math.max(-127, Math.min(127, Math.round(row[o] * inv[o]))));
        }
    }

    /** Every Linear of {@code w} quantized, except the parts in {@code keepF32} (which are shared, not copied). */
    public static ViTWeights quantize(ViTWeights w, Set<Part> keepF32, Arena arena) {
        List<EncoderBlock> blocks = new ArrayList<>();
        for (EncoderBlock b : w.blocks())
            blocks.add(new EncoderBlock(b.norm1(), quantize(b.qkv(), arena), quantize(b.proj(), arena), b.norm2(),
                    quantize(b.fc1(), arena), quantize(b.fc2(), arena)));
        boolean head = !keepF32.contains(Part.HEAD);
        return new ViTWeights(keepF32.contains(Part.PATCH) ? w.patchEmbedding() : quantize(w.patchEmbedding(), arena),
                w.classToken(), w.distillationToken(), w.positionEmbedding(), blocks, w.finalNorm(),
                w.preLogits() == null ? null : head ? quantize(w.preLogits(), arena) : w.preLogits(),
                w.head() == null ? null : head ? quantize(w.head(), arena) : w.head(),
                w.distillationHead() == null ? null : head ? quantize(w.distillationHead(), arena) : w.distillationHead());
    }

    /** True when any Linear of {@code w} is already int8. */
    public static boolean isQuantized(ViTWeights w) {
        List<Linear> all = new ArrayList<>();
        all.add(w.patchEmbedding());
        for (EncoderBlock b : w.blocks()) all.addAll(List.of(b.qkv(), b.proj(), b.fc1(), b.fc2()));
        for (Linear l : new Linear[] {w.preLogits(), w.head(), w.distillationHead()}) if (l != null) all.add(l);
        return all.stream().anyMatch(l -> l.dtype() == Linear.DType.I8);
    }
}
