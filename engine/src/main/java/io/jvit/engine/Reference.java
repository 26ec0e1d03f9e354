package io.jvit.engine;

/**
 * Plain scalar versions of every kernel and of the whole forward pass, written for clarity and
 * computed in double. Tests hold the Vector API kernels against these; nothing in inference uses them.
 */
public final class Reference {
    private Reference() {}

    /** C[m][n] = sum_k A[m][k] W[n][k] + b[n] (W in PyTorch's [out][in] layout). */
    public static float[] linear(float[] a, int m, int k, Linear w) {
        int n = w.outFeatures();
        float[] c = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int o = 0; o < n; o++) {
                double s = w.biasAt(o);
                for (int j = 0; j < k; j++) s += (double) a[i * k + j] * w.weightAt(o, j);
                c[i * n + o] = (float) s;
            }
        return c;
    }

    public static void layerNorm(float[] x, int rows, int d, float[] gamma, float[] beta, float eps, float[] y) {
        for (int r = 0; r < rows; r++) {
            double mean = 0, var = 0;
            for (int i = 0; i < d; i++) mean += x[r * d + i];
            mean /= d;
            for (int i = 0; i < d; i++) {
                double c = x[r * d + i] - mean;
                var += c * c;
            }
            var /= d;
            double rstd = 1 / Math.sqrt(var + eps);
            for (int i = 0; i < d; i++) y[r * d + i] = (float) ((x[r * d + i] - mean) * rstd * gamma[i] + beta[i]);
        }
    }

    public static void softmax(float[] x, int off, int n) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int i = 0; i < n; i++) max = Math.max(max, x[off + i]);
        double[] e = new double[n];
        for (int i = 0; i < n; i++) sum += e[i] = Math.exp(x[off + i] - max);
        for (int i = 0; i < n; i++) x[off + i] = (float) (e[i] / sum);
    }

    /** erf in double: Maclaurin series below |x| = 3, a continued fraction for erfc above. */
    public static double erf(double x) {
        double ax = Math.abs(x);
        double r;
        if (ax < 3) {
            double term = ax, sum = ax, x2 = ax * ax;
            for (int n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
                term *= -x2 / n;
                sum += term / (2 * n + 1);
            }
            r = 2 / Math.sqrt(Math.PI) * sum;
        } else {
            // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + 2/(x + ...)))))
            double f = ax;
            for (int n = 60; n >= 1; n--) f = ax + (n / 2.0) / f;
            r = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
        }
        return x < 0 ? -r : r;
    }

    public static double gelu(double x) {
        return 0.5 * x * (1 + erf(x / Math.sqrt(2)));
    }

    /**
     * Multi-head attention with a full score matrix, for one image.
     *
     * @param q,k,v [tokens][heads*d]
     * @return [tokens][heads*d]
     */
    public static float[] attention(float[] q, float[] k, float[] v, int tokens, int heads, int d) {
        int w = heads * d;
        float[] out = new float[tokens * w];
        double scale = 1 / Math.sqrt(d);
        double[] s = new double[tokens];
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < tokens; i++) {
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < tokens; j++) {
                    double dot = 0;
                    for (int c = 0; c < d; c++) dot += (double) q[i * w + h * d + c] * k[j * w + h * d + c];
                    s[j] = dot * scale;
                    max = Math.max(max, s[j]);
                }
                double sum = 0;
                for (int j = 0; j < tokens; j++) sum += s[j] = Math.exp(s[j] - max);
                for (int c = 0; c < d; c++) {
                    double o = 0;
                    for (int j = 0; j < tokens; j++) o += s[j] * v[j * w + h * d + c];
                    out[i * w + h * d + c] = (float) (o / sum);
                }
            }
        return out;
    }

    /** The whole ViT forward pass, one image after another; returns images × classes logits. */
    public static float[] classify(ViTModel model, float[] pixels, int images) {
        ViTConfig c = model.config();
        ViTWeights w = model.weights();
        int d = c.width(), t = c.tokens(), p = c.patchSize(), g = c.gridSize(), size = c.imageSize(), pre = c.prefixTokens();
        float[] pos = w.positionEmbedding().toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED);
        float[] cls = w.classToken().toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED);
        float[] logits = new float[images * c.numClasses()];
        for (int b = 0; b < images; b++) {
            float[] patches = new float[g * g * c.patchDim()];
            for (int gy = 0; gy < g; gy++)
                for (int gx = 0; gx < g; gx++)
                    for (int ch = 0; ch < c.channels(); ch++)
                        for (int ky = 0; ky < p; ky++)
                            for (int kx = 0; kx < p; kx++)
                                patches[(gy * g + gx) * c.patchDim() + (ch * p + ky) * p + kx] =
                                        pixels[((b * c.channels() + ch) * size + gy * p + ky) * size + gx * p + kx];
            float[] emb = linear(patches, g * g, c.patchDim(), w.patchEmbedding());
            float[] x = new float[t * d];
            for (int i = 0; i < d; i++) x[i] = cls[i] + pos[i];
            if (c.distilled()) {
                float[] dist = w.distillationToken().toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED);
                for (int i = 0; i < d; i++) x[d + i] = dist[i] + pos[d + i];
            }
            for (int i = 0; i < g * g * d; i++) x[pre * d + i] = emb[i] + pos[pre * d + i];
            for (EncoderBlock blk : w.blocks()) {
                float[] xn = new float[t * d];
                layerNorm(x, t, d, floats(blk.norm1().gamma()), floats(blk.norm1().beta()), c.layerNormEps(), xn);
                float[] qkv = linear(xn, t, d, blk.qkv());
                float[] q = new float[t * d], k = new float[t * d], v = new float[t * d];
                for (int i = 0; i < t; i++) {
                    System.arraycopy(qkv, i * 3 * d, q, i * d, d);
                    System.arraycopy(qkv, i * 3 * d + d, k, i * d, d);
                    System.arraycopy(qkv, i * 3 * d + 2 * d, v, i * d, d);
                }
                float[] a = attention(q, k, v, t, c.heads(), c.headDim());
                float[] proj = linear(a, t, d, blk.proj());
                for (int i = 0; i < t * d; i++) x[i] += proj[i];
                layerNorm(x, t, d, floats(blk.norm2().gamma()), floats(blk.norm2().beta()), c.layerNormEps(), xn);
                float[] h = linear(xn, t, d, blk.fc1());
                for (int i = 0; i < h.length; i++) h[i] = (float) gelu(h[i]);
                float[] o = linear(h, t, c.mlpDim(), blk.fc2());
                for (int i = 0; i < t * d; i++) x[i] += o[i];
            }
            float[] xn = new float[t * d];
            layerNorm(x, t, d, floats(w.finalNorm().gamma()), floats(w.finalNorm().beta()), c.layerNormEps(), xn);
            float[] out = headOf(java.util.Arrays.copyOfRange(xn, 0, d), w.preLogits(), w.head());
            if (c.distilled()) {
                float[] o2 = headOf(java.util.Arrays.copyOfRange(xn, d, 2 * d), w.preLogits(), w.distillationHead());
                for (int i = 0; i < out.length; i++) out[i] = (out[i] + o2[i]) / 2;
            }
            System.arraycopy(out, 0, logits, b * c.numClasses(), c.numClasses());
        }
        return logits;
    }

    private static float[] headOf(float[] feat, Linear preLogits, Linear head) {
        if (preLogits != null) {
            feat = linear(feat, 1, feat.length, preLogits);
            for (int i = 0; i < feat.length; i++) feat[i] = (float) Math.tanh(feat[i]);
        }
        return linear(feat, 1, feat.length, head);
    }

    private static float[] floats(java.lang.foreign.MemorySegment s) {
        return s.toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED);
    }
}
