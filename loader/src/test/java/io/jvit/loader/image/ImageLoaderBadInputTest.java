package io.jvit.loader.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad input: each gives an ImageLoadException with a one-line message naming the file. */
class ImageLoaderBadInputTest {

    static ImageLoadException fails(ImageLoader loader, Path p, String expectInMessage) {
        ImageLoadException e = assertThrows(ImageLoadException.class, () -> loader.load(p), p.toString());
        String m = e.getMessage();
        assertTrue(m.startsWith(p.toString() + ": "), "message names the file: " + m);
        assertFalse(m.contains("\n") || m.contains("\r"), "one line: " + m);
        assertTrue(m.toLowerCase().contains(expectInMessage), "'" + expectInMessage + "' in: " + m);
        System.out.println("[bad input] " + m);
        return e;
    }

    static ImageLoadException fails(Path p, String expectInMessage) {
        return fails(ImageLoader.DEFAULT, p, expectInMessage);
    }

    @Test
    void truncatedPng() {
        fails(Fixtures.image("bad_truncated.png"), "png");
    }

    @Test
    void truncatedJpeg() {
        fails(Fixtures.image("bad_truncated.jpg"), "truncated");
    }

    @Test
    void truncatedGif() {
        fails(Fixtures.image("bad_truncated.gif"), "gif");
    }

    @Test
    void truncatedWebpAndBmp(@TempDir Path dir) throws IOException {
        for (String name : new String[] {"webp_lossless.webp", "webp_lossy.webp", "bmp_rgb24.bmp"}) {
            byte[] b = Files.readAllBytes(Fixtures.image(name));
            Path p = dir.resolve("cut_" + name);
            Files.write(p, java.util.Arrays.copyOf(b, b.length / 2));
            fails(p, name.endsWith("bmp") ? "bmp" : "webp");
        }
    }

    @Test
    void truncatedProgressiveJpegAndCutHeaders(@TempDir Path dir) throws IOException {
        byte[] b = Files.readAllBytes(Fixtures.image("jpeg_progressive.jpg"));
        Path p = dir.resolve("cut_progressive.jpg");
        Files.write(p, java.util.Arrays.copyOf(b, b.length * 2 / 3));
        fails(p, "truncated");
        for (String name : new String[] {"jpeg_baseline.jpg", "png_gray.png", "gif_palette.gif", "bmp_rgb24.bmp"}) {
            byte[] h = Files.readAllBytes(Fixtures.image(name));
            Path q = dir.resolve("header_only_" + name);
            Files.write(q, java.util.Arrays.copyOf(h, 20));
            fails(q, "");
        }
    }

    @Test
    void notAnImage() {
        fails(Fixtures.image("bad_not_an_image.png"), "not an image format");
    }

    @Test
    void emptyFile() {
        fails(Fixtures.image("bad_empty.jpg"), "empty file");
    }

    @Test
    void missingFileAndDirectory(@TempDir Path dir) {
        fails(dir.resolve("nope.png"), "no such file");
        fails(dir, "directory");
    }

    @Test
    void decompressionBombRefusedBeforeDecoding() {
        long t0 = System.nanoTime();
        fails(Fixtures.image("bad_huge.png"), "50000x50000");
        // 50000 x 50000 x 3 bytes = 7.5 GB: had it been decoded the heap (4 GB) would not hold it
        assertTrue(System.nanoTime() - t0 < 5_000_000_000L, "refused from the header, fast");
    }

    @Test
    void pixelLimitIsSettable() throws Exception {
        Path chelsea = Fixtures.image("chelsea.png"); // 451 x 300 = 135300 pixels
        fails(ImageLoader.DEFAULT.withMaxPixels(135_299), chelsea, "over the limit");
        assertEquals(451, ImageLoader.DEFAULT.withMaxPixels(135_300).load(chelsea).width());
        fails(ImageLoader.DEFAULT.withMaxPixels(1000), Fixtures.image("jpeg_baseline.jpg"), "over the limit");
        fails(ImageLoader.DEFAULT.withMaxPixels(1000), Fixtures.image("webp_lossy.webp"), "over the limit");
        fails(ImageLoader.DEFAULT.withMaxPixels(1000), Fixtures.image("gif_palette.gif"), "over the limit");
        fails(ImageLoader.DEFAULT.withMaxPixels(1000), Fixtures.image("bmp_rgb24.bmp"), "over the limit");
    }

    @Test
    void garbageAfterAValidSignature(@TempDir Path dir) throws IOException {
        byte[] junk = new byte[4000];
        new java.util.Random(1).nextBytes(junk);
        String[][] sigs = {{"x.png", "\u0089PNG\r\n\u001a\n"}, {"x.jpg", "\u00ff\u00d8\u00ff"}, {"x.gif", "GIF89a"},
                {"x.bmp", "BM"}, {"x.webp", "RIFF\u0000\u0000\u0000\u0000WEBP"}};
        for (String[] s : sigs) {
            byte[] b = junk.clone();
            for (int i = 0; i < s[1].length(); i++) {
                b[i] = (byte) s[1].charAt(i);
            }
            Path p = dir.resolve(s[0]);
            Files.write(p, b);
            fails(p, "");
        }
    }
}
