package io.jvit.engine;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Every learned tensor of a ViT, in the engine's canonical form (whatever the checkpoint's naming).
 *
 * @param patchEmbedding     the patch-embedding convolution as a Linear [D, C*P*P] (input order c, y, x)
 * @param classToken         [D]
 * @param distillationToken  [D] or null
 * @param positionEmbedding  [T, D] for the native grid, prefix tokens first
 * @param blocks             encoder blocks
 * @param finalNorm          LayerNorm after the last block
 * @param preLogits          optional Linear (+tanh) before the head, or null
 * @param head               classification head, or null for a features-only model
 * @param distillationHead   DeiT's second head on the distillation token, or null
 */
public record ViTWeights(Linear patchEmbedding, MemorySegment classToken, MemorySegment distillationToken,
                         MemorySegment positionEmbedding, List<EncoderBlock> blocks, LayerNormParams finalNorm,
                         Linear preLogits, Linear head, Linear distillationHead) {
    public ViTWeights {
        blocks = List.copyOf(blocks);
    }

    public long parameterCount() {
        long n = patchEmbedding.parameterCount() + classToken.byteSize() / 4 + positionEmbedding.byteSize() / 4
                + (distillationToken == null ? 0 : distillationToken.byteSize() / 4) + 2L * finalNorm.width();
        for (EncoderBlock b : blocks)
            n += b.qkv().parameterCount() + b.proj().parameterCount() + b.fc1().parameterCount() + b.fc2().parameterCount()
                    + 2L * b.norm1().width() + 2L * b.norm2().width();
        if (preLogits != null) n += preLogits.parameterCount();
        if (head != null) n += head.parameterCount();
        if (distillationHead != null) n += distillationHead.parameterCount();
        return n;
    }
}
