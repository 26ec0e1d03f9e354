package io.jvit.engine;

/**
 * One pre-LN Transformer encoder block:
 * x = x + proj(attention(LN1(x))); x = x + fc2(GELU(fc1(LN2(x)))).
 *
 * @param qkv fused query/key/value projection, [3D, D]: rows 0..D-1 are the queries, D..2D-1 the keys,
 *            2D..3D-1 the values; within each, head h owns rows h*d..(h+1)*d-1 (PyTorch's in_proj order)
 */
public record EncoderBlock(LayerNormParams norm1, Linear qkv, Linear proj, LayerNormParams norm2, Linear fc1, Linear fc2) {
}
