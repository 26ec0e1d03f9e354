package io.jvit.loader.image;

import java.util.Objects;

/**
 * An 8-bit RGB raster: {@code rgb[3 * (y * width + x) + c]} is channel {@code c} (0 red, 1 green,
 * 2 blue) of the pixel at column {@code x}, row {@code y}, as unsigned bytes. This is what
 * Pillow's {@code Image.open(f).convert("RGB")} holds, and the only input {@link Preprocessor}
 * takes, so that every step of preprocessing is explicit Java code.
 */
public record RgbImage(int width, int height, byte[] rgb) {

    public RgbImage {
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException("image size must be positive: " + width + "x" + height);
        }
        Objects.requireNonNull(rgb, "rgb");
        if (rgb.length != 3L * width * height) {
            throw new IllegalArgumentException(
                    "rgb has " + rgb.length + " bytes, " + width + "x" + height + "x3 needs " + 3L * width * height);
        }
    }

    /** A black image. */
    public static RgbImage blank(int width, int height) {
        return new RgbImage(width, height, new byte[Math.multiplyExact(Math.multiplyExact(width, height), 3)]);
    }

    /** Channel {@code c} of pixel (x, y), 0..255. */
    public int get(int x, int y, int c) {
        return rgb[3 * (y * width + x) + c] & 0xFF;
    }

    /**
     * The region starting at (left, top) of the given size; parts outside this image are filled
     * with {@code fill} (an RGB triple, or null for black). Offsets may be negative.
     */
    public RgbImage cropOrPad(int left, int top, int w, int h, int[] fill) {
        byte[] out = new byte[Math.multiplyExact(Math.multiplyExact(w, h), 3)];
        if (fill != null && (fill[0] != 0 || fill[1] != 0 || fill[2] != 0)) {
            for (int i = 0; i < out.length; i += 3) {
                out[i] = (byte) fill[0];
                out[i + 1] = (byte) fill[1];
                out[i + 2] = (byte) fill[2];
            }
        }
        int x0 = Math.max(0, -left), x1 = Math.min(w, width - left);
        if (x1 > x0) {
            for (int y = Math.max(0, -top); y < Math.min(h, height - top); y++) {
                System.arraycopy(rgb, 3 * ((y + top) * width + x0 + left), out, 3 * (y * w + x0), 3 * (x1 - x0));
            }
        }
        return new RgbImage(w, h, out);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RgbImage r && r.width == width && r.height == height && java.util.Arrays.equals(r.rgb, rgb);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * width + height) + java.util.Arrays.hashCode(rgb);
    }

    @Override
    public String toString() {
        return "RgbImage[" + width + "x" + height + "]";
    }
}
