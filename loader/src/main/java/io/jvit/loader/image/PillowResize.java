package io.jvit.loader.image;

/**
 * {@code PIL.Image.resize((w, h), filter)} on an RGB image, reproduced operation by operation
 * (Pillow's {@code src/libImaging/Resample.c} and, for NEAREST, {@code Geometry.c}), so that the
 * output bytes equal Pillow's:
 * <ul>
 * <li>Separable convolution: a horizontal pass (only over the rows the vertical pass will read),
 * then a vertical pass. A pass is skipped when that dimension does not change; when both are
 * needed the horizontal one runs first.</li>
 * <li>Coefficients per output pixel: {@code scale = in/out}, {@code filterscale = max(scale, 1)}
 * (the support widens on downscale: antialiasing), {@code center = (xx + 0.5) * scale},
 * taps {@code [(int)(center - support + 0.5), (int)(center + support + 0.5))} clipped to the image,
 * weight {@code filter((x - center + 0.5) / filterscale)}, normalized to sum 1, all in double.</li>
 * <li>8-bit arithmetic: the coefficients become fixed point with 22 fractional bits
 * ({@code PRECISION_BITS = 32 - 8 - 2}, rounded half away from zero), each output is
 * {@code clip8((1 << 21) + sum(pixel * k))}, i.e. rounded and clipped to 0..255 after EACH pass.</li>
 * <li>NEAREST is not a convolution in Pillow: it is an affine scale that samples source pixel
 * {@code (int)(x0 + i * a)} with {@code x0 = a / 2}, {@code a = in / out}, accumulated in double
 * as Pillow does (pixel-centre mapping).</li>
 * <li>Same size in, same size out: a copy, for every filter (Pillow returns {@code im.copy()}).</li>
 * </ul>
 * Pillow's {@code reducing_gap} (a JPEG-draft/box pre-reduction) is off by default in
 * {@code Image.resize} and in every pipeline jvit reproduces, so it is not implemented.
 */
public final class PillowResize {
    static final int PRECISION_BITS = 32 - 8 - 2;

    private PillowResize() {
    }

    /** Resizes {@code in} to {@code outW x outH} as {@code Image.resize((outW, outH), filter)} does. */
    public static RgbImage resize(RgbImage in, int outW, int outH, Resample filter) {
        if (outW <= 0 || outH <= 0) {
            throw new IllegalArgumentException("target size must be positive: " + outW + "x" + outH);
        }
        if (outW == in.width() && outH == in.height()) {
            return new RgbImage(outW, outH, in.rgb().clone());
        }
        if (filter == Resample.NEAREST) {
            return nearest(in, outW, outH);
        }
        int inW = in.width(), inH = in.height();
        boolean needH = outW != inW;
        boolean needV = outH != inH;

        Coeffs vert = Coeffs.of(inH, outH, filter);
        byte[] src = in.rgb();
        int srcW = inW, srcH = inH;
        if (needH) {
            // rows the vertical pass will read
            int first = vert.bounds[0];
            int last = vert.bounds[2 * (outH - 1)] + vert.bounds[2 * (outH - 1) + 1];
            Coeffs horiz = Coeffs.of(inW, outW, filter);
            byte[] tmp = new byte[3 * outW * (last - first)];
            horizontal(src, inW, first, last - first, horiz, tmp, outW);
            for (int i = 0; i < outH; i++) {
                vert.bounds[2 * i] -= first;
            }
            src = tmp;
            srcW = outW;
            srcH = last - first;
        }
        if (needV) {
            byte[] out = new byte[3 * srcW * outH];
            vertical(src, srcW, vert, out, outH);
            return new RgbImage(srcW, outH, out);
        }
        return new RgbImage(srcW, srcH, src);
    }

    /** Filter taps for one dimension: Pillow's precompute_coeffs + normalize_coeffs_8bpc. */
    static final class Coeffs {
        final int ksize;
        final int[] bounds; // per output: xmin, count
        final int[] k;      // per output: ksize fixed-point weights

        private Coeffs(int ksize, int[] bounds, int[] k) {
            this.ksize = ksize;
            this.bounds = bounds;
            this.k = k;
        }

        static Coeffs of(int inSize, int outSize, Resample f) {
            double scale = (double) (float) inSize / outSize; // Pillow: (double)(in1 - in0) / outSize, box in float
            double filterscale = Math.max(scale, 1.0);
            double support = f.support * filterscale;
            int ksize = (int) Math.ceil(support) * 2 + 1;
            int[] bounds = new int[2 * outSize];
            int[] kk = new int[outSize * ksize];
            double[] w = new double[ksize];
            double ss = 1.0 / filterscale;
            for (int xx = 0; xx < outSize; xx++) {
                double center = (xx + 0.5) * scale;
                double ww = 0.0;
                int xmin = (int) (center - support + 0.5);
                if (xmin < 0) {
                    xmin = 0;
                }
                int xmax = (int) (center + support + 0.5);
                if (xmax > inSize) {
                    xmax = inSize;
                }
                xmax -= xmin;
                for (int x = 0; x < xmax; x++) {
                    double v = f.filter((x + xmin - center + 0.5) * ss);
                    w[x] = v;
                    ww += v;
                }
                for (int x = 0; x < xmax; x++) {
                    double v = ww != 0.0 ? w[x] / ww : w[x];
                    kk[xx * ksize + x] = v < 0
                            ? (int) (-0.5 + v * (1 << PRECISION_BITS))
                            : (int) (0.5 + v * (1 << PRECISION_BITS));
                }
                bounds[2 * xx] = xmin;
                bounds[2 * xx + 1] = xmax;
            }
            return new Coeffs(ksize, bounds, kk);
        }
    }

    private static int clip8(int acc) {
        int v = acc >> PRECISION_BITS;
        return v < 0 ? 0 : Math.min(v, 255);
    }

    private static void horizontal(byte[] in, int inW, int rowOffset, int rows, Coeffs c, byte[] out, int outW) {
        final int half = 1 << (PRECISION_BITS - 1);
        final int ksize = c.ksize;
        final int[] k = c.k;
        final int[] b = c.bounds;
        for (int y = 0; y < rows; y++) {
            int rowBase = 3 * (y + rowOffset) * inW;
            int o = 3 * y * outW;
            for (int xx = 0; xx < outW; xx++) {
                int xmin = b[2 * xx], n = b[2 * xx + 1];
                int kb = xx * ksize;
                int s0 = half, s1 = half, s2 = half;
                int p = rowBase + 3 * xmin;
                for (int x = 0; x < n; x++, p += 3) {
                    int kv = k[kb + x];
                    s0 += (in[p] & 0xFF) * kv;
                    s1 += (in[p + 1] & 0xFF) * kv;
                    s2 += (in[p + 2] & 0xFF) * kv;
                }
                out[o++] = (byte) clip8(s0);
                out[o++] = (byte) clip8(s1);
                out[o++] = (byte) clip8(s2);
            }
        }
    }

    private static void vertical(byte[] in, int w, Coeffs c, byte[] out, int outH) {
        final int half = 1 << (PRECISION_BITS - 1);
        final int ksize = c.ksize;
        final int[] k = c.k;
        final int[] b = c.bounds;
        final int stride = 3 * w;
        int[] acc = new int[stride];
        for (int yy = 0; yy < outH; yy++) {
            int ymin = b[2 * yy], n = b[2 * yy + 1];
            int kb = yy * ksize;
            java.util.Arrays.fill(acc, half);
            for (int y = 0; y < n; y++) {
                int kv = k[kb + y];
                int p = (y + ymin) * stride;
                for (int i = 0; i < stride; i++) {
                    acc[i] += (in[p + i] & 0xFF) * kv;
                }
            }
            int o = yy * stride;
            for (int i = 0; i < stride; i++) {
                out[o + i] = (byte) clip8(acc[i]);
            }
        }
    }

    /** Pillow's NEAREST resize: ImagingTransform(AFFINE) -> ImagingScaleAffine, fill = 1. */
    private static RgbImage nearest(RgbImage in, int outW, int outH) {
        int inW = in.width(), inH = in.height();
        double a0 = (double) (float) inW / outW;
        double a4 = (double) (float) inH / outH;
        int[] xin = new int[outW];
        double xo = a0 * 0.5;
        for (int x = 0; x < outW; x++) {
            xin[x] = coord(xo);
            xo += a0;
        }
        byte[] src = in.rgb();
        byte[] out = new byte[3 * outW * outH];
        double yo = a4 * 0.5;
        for (int y = 0; y < outH; y++) {
            int yi = coord(yo);
            yo += a4;
            if (yi < 0 || yi >= inH) {
                continue; // stays 0, as Pillow's fill
            }
            int row = 3 * yi * inW;
            int o = 3 * y * outW;
            for (int x = 0; x < outW; x++, o += 3) {
                int xi = xin[x];
                if (xi >= 0 && xi < inW) {
                    int p = row + 3 * xi;
                    out[o] = src[p];
                    out[o + 1] = src[p + 1];
                    out[o + 2] = src[p + 2];
                }
            }
        }
        return new RgbImage(outW, outH, out);
    }

    private static int coord(double v) {
        return v < 0.0 ? -1 : (int) v;
    }
}
