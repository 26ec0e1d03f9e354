package io.jvit.loader.image;

import java.util.Locale;

/**
 * Pillow's resampling filters, with their {@code PIL.Image} codes (what a Hugging Face
 * {@code preprocessor_config.json} stores in {@code resample}) and timm/torchvision names.
 */
public enum Resample {
    NEAREST(0, 0.0),
    LANCZOS(1, 3.0),
    BILINEAR(2, 1.0),
    BICUBIC(3, 2.0),
    BOX(4, 0.5),
    HAMMING(5, 1.0);

    /** PIL.Image.Resampling value. */
    public final int pilCode;
    /** Filter support (radius) at scale 1, as in Pillow's Resample.c. */
    final double support;

    Resample(int pilCode, double support) {
        this.pilCode = pilCode;
        this.support = support;
    }

    /** From a PIL code (0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming). */
    public static Resample fromPil(int code) {
        for (Resample r : values()) {
            if (r.pilCode == code) {
                return r;
            }
        }
        throw new IllegalArgumentException("unknown PIL resample code " + code + " (0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming)");
    }

    /** From a name as timm/torchvision/the CLI spell it ("bicubic", "BILINEAR", "antialias" = lanczos). */
    public static Resample fromName(String name) {
        String n = name.strip().toLowerCase(Locale.ROOT);
        return switch (n) {
            case "nearest", "nearest_exact" -> NEAREST;
            case "bilinear", "linear" -> BILINEAR;
            case "bicubic", "cubic" -> BICUBIC;
            case "lanczos", "antialias" -> LANCZOS;
            case "box" -> BOX;
            case "hamming" -> HAMMING;
            default -> throw new IllegalArgumentException(
                    "unknown interpolation '" + name + "' (nearest, bilinear, bicubic, lanczos, box, hamming)");
        };
    }

    /** Lower-case name, as timm writes it. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The filter kernel, exactly as Pillow's Resample.c evaluates it (in double). */
    double filter(double x) {
        switch (this) {
            case BOX:
                return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
            case BILINEAR:
                if (x < 0.0) x = -x;
                return x < 1.0 ? 1.0 - x : 0.0;
            case HAMMING:
                if (x < 0.0) x = -x;
                if (x == 0.0) return 1.0;
                if (x >= 1.0) return 0.0;
                x = x * Math.PI;
                // 0.54f and 0.46f are float literals in Pillow's C source
                return Math.sin(x) / x * ((double) 0.54f + (double) 0.46f * Math.cos(x));
            case BICUBIC: {
                final double a = -0.5;
                if (x < 0.0) x = -x;
                if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
                if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
                return 0.0;
            }
            case LANCZOS:
                return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0;
            default:
                throw new IllegalStateException("no kernel for " + this);
        }
    }

    private static double sinc(double x) {
        if (x == 0.0) return 1.0;
        x = x * Math.PI;
        return Math.sin(x) / x;
    }
}
