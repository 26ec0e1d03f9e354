package io.jvit.loader.onnx;

import java.util.List;

/** What an activation means, in a ViT's terms. The importer's rules move values between these. */
sealed interface Sem {

    /** The graph's pixel input, [batch, channels, height, width]. */
    record Image(int channels, Dim height, Dim width) implements Sem {}

    /** The patch-embedding convolution's output (channels: CHAN, the model width). */
    record Patches(Tensor weight, Tensor bias, int patch, int width, long grid, Tensor pos, String node) implements Sem {}

    /** A learned token ([width] constant) broadcast over the batch: CLS or distillation token. */
    record Prefix(Tensor row) implements Sem {}

    /** The token sequence being assembled: prefix tokens then patches, plus position embeddings. */
    final class Tokens implements Sem {
        final List<Tensor> prefixes;
        final Patches patches;
        final Tensor pos; // [T, width] or null
        Stream stream;    // the residual stream this becomes, made once

        Tokens(List<Tensor> prefixes, Patches patches, Tensor pos) {
            this.prefixes = List.copyOf(prefixes);
            this.patches = patches;
            this.pos = pos;
        }
    }

    /**
     * The residual stream: after the embedding (prev == null), after a block's attention residual
     * (stage 1) or after its MLP residual (stage 0, a block boundary).
     */
    final class Stream implements Sem {
        final Stream prev;
        final Tokens embedding;
        final int stage;
        final int blocks; // complete blocks so far
        final Attention attention; // stage 1: the attention half of the current block
        final Mlp mlp;             // stage 0 after a block: its MLP half

        Stream(Stream prev, Tokens embedding, int stage, int blocks, Attention attention, Mlp mlp) {
            this.prev = prev;
            this.embedding = embedding;
            this.stage = stage;
            this.blocks = blocks;
            this.attention = attention;
            this.mlp = mlp;
        }

        String where() {
            return stage == 0 ? (blocks == 0 ? "the embeddings" : "block " + (blocks - 1) + "'s output")
                    : "block " + blocks + "'s attention residual";
        }
    }

    /** Stages of a LayerNorm over the stream, decomposed (ReduceMean, Sub, Pow...) or not. */
    enum LnStage { MEAN, CENTERED, SQUARED, VAR, VAR_EPS, STD, INV_STD, NORM, SCALED, NORMED }

    record Ln(LnStage stage, Stream src, float eps, Tensor gamma, Tensor beta, boolean decomposed) implements Sem {
        Ln next(LnStage s) { return new Ln(s, src, eps, gamma, beta, decomposed); }
    }

    /**
     * A Linear layer's output: rowScale * scale * (x W + bias), W viewed [in, out] (rowScale per output, or null). The activation's CHAN space
     * indexes W's output columns. {@code root} is the unscaled original shared by scaled copies (null
     * for the original itself).
     *
     * @param input    what was multiplied: an Ln (NORMED), Attn, Hidden or Tanh
     * @param inputAct the activation that was multiplied
     * @param inIndex  for each input column of W, its index in the input's feature space
     */
    record Proj(Sem input, Values.Act inputAct, long[] inIndex, Tensor wmat, Tensor bias, double scale, float[] rowScale, String node,
                Proj root) implements Sem {
        Proj scaled(double s) { return new Proj(input, inputAct, inIndex, wmat, bias, scale * s, rowScale, node, rootOf()); }

        Proj withBias(Tensor b) { return new Proj(input, inputAct, inIndex, wmat, b, scale, rowScale, node, null); }

        /** Multiplied row by row (LayerScale): a new root. */
        Proj withRowScale(float[] v) {
            float[] r = v.clone();
            if (rowScale != null) for (int i = 0; i < r.length; i++) r[i] *= rowScale[i];
            return new Proj(input, inputAct, inIndex, wmat, bias, scale, r, node, null);
        }

        Proj rootOf() { return root == null ? this : root; }

        /** This copy's scale relative to its root. */
        double ratio() { return scale / rootOf().scale; }

        long out() { return wmat.shape[1]; }
    }

    /** q, k or v of one attention: row(h, j) = base + h * headStride + j * dimStride of the projection. */
    record HeadView(Proj proj, long base, long headStride, long dimStride, int heads, int dim) {}

    record Scores(HeadView q, HeadView k, double scale, String node) implements Sem {}

    record Probs(Scores scores) implements Sem {}

    /** The attention's output before the out-projection: spaces HEAD and VDIM. */
    record Attn(Scores scores, HeadView v, String node) implements Sem {}

    /** Stages of GELU's erf form 0.5 x (1 + erf(x / sqrt 2)) over a projection x. */
    enum GeluStage { ERF, ONE_PLUS_ERF, PRODUCT }

    record Gelu(GeluStage stage, Proj x, double coef) implements Sem {}

    /** The MLP hidden activation GELU(fc1). */
    record Hidden(Proj fc1, String how) implements Sem {}

    /** tanh over a projection of the final features (torchvision's pre-logits). */
    record Tanh(Proj proj) implements Sem {}

    /** DeiT: the sum of the class-token head and the distillation-token head, times {@code coef}. */
    record HeadSum(Values.Act a, Values.Act b, double coef) implements Sem {}

    /** The attention half of a block: LN1, q/k/v, out-projection (rows in stream-channel order). */
    record Attention(Ln ln, Scores scores, HeadView v, Proj proj, long[] projRows, long[] projCols) {}

    /** The MLP half of a block: LN2, fc1 (rows as the hidden order), fc2 (rows in stream-channel order). */
    record Mlp(Ln ln, Proj fc1, long[] fc1Rows, Proj fc2, long[] fc2Rows, String gelu) {}
}
