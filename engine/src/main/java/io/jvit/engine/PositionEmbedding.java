package io.jvit.engine;

/**
 * Resamples learned position embeddings to another patch grid by bicubic interpolation, as timm's
 * resample_abs_pos_embed and Hugging Face's interpolate_pos_encoding do (PyTorch's bicubic,
 * A = -0.75, align_corners = False, no antialiasing); the prefix tokens are kept as they are.
 */
public final class PositionEmbedding {
    private PositionEmbedding() {}

    /**
     * @param pos     [prefix + g*g][d] row-major
     * @return        [prefix + ng*ng][d]
     */
    public static float[] resample(float[] pos, int prefix, int g, int ng, int d) {
        if (ng == g) return pos.clone();
        float[] out = new float[(prefix + ng * ng) * d];
        System.arraycopy(pos, 0, out, 0, prefix * d);
        double scale = (double) g / ng;
        for (int oy = 0; oy < ng; oy++) {
            double sy = (oy + 0.5) * scale - 0.5;
            int iy = (int) Math.floor(sy);
            double[] wy = cubicWeights(sy - iy);
            for (int ox = 0; ox < ng; ox++) {
                double sx = (ox + 0.5) * scale - 0.5;
                int ix = (int) Math.floor(sx);
                double[] wx = cubicWeights(sx - ix);
                int dst = (prefix + oy * ng + ox) * d;
                for (int c = 0; c < d; c++) {
                    double acc = 0;
                    for (int a = 0; a < 4; a++) {
                        int yy = clamp(iy - 1 + a, g);
                        double row = 0;
                        for (int bx = 0; bx < 4; bx++) {
                            int xx = clamp(ix - 1 + bx, g);
                            row += wx[bx] * pos[(prefix + yy * g + xx) * d + c];
                        }
                        acc += wy[a] * row;
                    }
                    out[dst + c] = (float) acc;
                }
            }
        }
        return out;
    }

    private static int clamp(int v, int n) { return Math.max(0, Math.min(n - 1, v)); }

    private static double[] cubicWeights(double t) {
        final double a = -0.75;
        double x1 = t + 1, x2 = t, x3 = 1 - t, x4 = 2 - t;
        return new double[] {
                ((a * x1 - 5 * a) * x1 + 8 * a) * x1 - 4 * a,
                ((a + 2) * x2 - (a + 3)) * x2 * x2 + 1,
                ((a + 2) * x3 - (a + 3)) * x3 * x3 + 1,
                ((a * x4 - 5 * a) * x4 + 8 * a) * x4 - 4 * a };
    }
}
