package io.jvit.loader.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Every decoder against Pillow's {@code Image.open(f).convert("RGB")} (fixtures written by
 * tools/make_preprocess_fixtures.py). Lossless formats must match exactly; JPEG and lossy WebP
 * within the tolerances below (libjpeg-turbo in Pillow vs the JDK's libjpeg 6b; libwebp vs
 * TwelveMonkeys' Java VP8 decoder).
 */
class ImageLoaderParityTest {
    /**
     * JPEG: measured bit-identical on all 15 fixtures (baseline 4:2:0/4:2:2/4:4:4, progressive,
     * gray, CMYK, ICC, EXIF) with Temurin 25 (its bundled IJG libjpeg 6b) against Pillow 9.4 on
     * libjpeg-turbo 2.1: both use the islow IDCT, fancy upsampling and the same YCbCr tables, and
     * jvit does the colour conversion itself. The bound leaves room for one-level rounding
     * differences of other JDK builds (e.g. linked to a system libjpeg) without hiding real errors.
     */
    static final double JPEG_MEAN = 0.02;
    static final int JPEG_MAX = 1;
    /**
     * Lossy WebP: measured mean 1.15/255, max 20/255 (40.7% of values equal). libwebp (Pillow)
     * upsamples chroma with its "fancy" filter; TwelveMonkeys' pure-Java VP8 decoder does not.
     * Lossless WebP is exact.
     */
    static final double WEBP_LOSSY_MEAN = 1.5;
    static final int WEBP_LOSSY_MAX = 24;

    static final Map<String, String> REPORT = new TreeMap<>();

    @AfterAll
    static void report() {
        REPORT.forEach((k, v) -> System.out.println("[decode parity] " + k + ": " + v));
    }

    @Test
    void photographsDecodeExactly() throws Exception {
        for (JsonNode p : Fixtures.index().get("photos")) {
            RgbImage img = ImageLoader.DEFAULT.load(Fixtures.path(p.get("file").asText()));
            assertEquals(p.get("width").asInt(), img.width());
            assertEquals(p.get("height").asInt(), img.height());
            String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(img.rgb()));
            assertEquals(p.get("sha256").asText(), sha, p.get("file").asText());
            REPORT.put(p.get("file").asText(), "exact (sha256)");
        }
    }

    @Test
    void everyFormatMatchesPillow() throws Exception {
        StringBuilder failures = new StringBuilder();
        for (JsonNode d : Fixtures.index().get("decode")) {
            String file = d.get("file").asText();
            RgbImage img = ImageLoader.DEFAULT.load(Fixtures.path(file));
            if (img.width() != d.get("width").asInt() || img.height() != d.get("height").asInt()) {
                failures.append(file).append(": size ").append(img.width()).append('x').append(img.height())
                        .append(" expected ").append(d.get("width")).append('x').append(d.get("height")).append('\n');
                continue;
            }
            Fixtures.Diff diff = Fixtures.Diff.of(img.rgb(), Fixtures.bytes(d.get("expect").asText()));
            REPORT.put(file, diff.toString());
            double meanTol;
            int maxTol;
            if (!d.get("lossy").asBoolean()) {
                meanTol = 0;
                maxTol = 0;
            } else if (file.endsWith(".webp")) {
                meanTol = WEBP_LOSSY_MEAN;
                maxTol = WEBP_LOSSY_MAX;
            } else {
                meanTol = JPEG_MEAN;
                maxTol = JPEG_MAX;
            }
            if (diff.mean() > meanTol || diff.max() > maxTol) {
                failures.append(file).append(" (").append(d.get("about").asText()).append("): ").append(diff)
                        .append('\n');
            }
        }
        assertTrue(failures.isEmpty(), "decoders differ from Pillow:\n" + failures);
    }

    @Test
    void exifTransposeCanBeTurnedOff() throws Exception {
        RgbImage upright = ImageLoader.DEFAULT.load(Fixtures.image("orient_6.jpg"));
        RgbImage stored = ImageLoader.DEFAULT.withExifTranspose(false).load(Fixtures.image("orient_6.jpg"));
        RgbImage plain = ImageLoader.DEFAULT.load(Fixtures.image("orient_1.jpg"));
        assertEquals(48, stored.width());
        assertEquals(32, stored.height());
        assertEquals(32, upright.width());
        assertEquals(48, upright.height());
        assertEquals(plain, stored, "without transpose the pixels are the stored ones");
    }
}
