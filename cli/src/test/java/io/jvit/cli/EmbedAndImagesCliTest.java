package io.jvit.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class EmbedAndImagesCliTest {
    @TempDir
    Path tmp;

    private static String model() { return CliTest.root().resolve("models/fashion-vit").toString(); }

    private static String sample(String name) { return CliTest.root().resolve("samples").resolve(name).toString(); }

    @Test
    void embedWritesNpyWithFileList() throws Exception {
        Path out = tmp.resolve("emb.npy");
        CliTest.Run r = CliTest.run("embed", "--model", model(), "--out", out.toString(), sample("0-tshirt-top.png"), sample("1-trouser.png"));
        assertEquals(0, r.code(), r.err());
        byte[] b = Files.readAllBytes(out);
        assertEquals((byte) 0x93, b[0]);
        assertEquals("NUMPY", new String(b, 1, 5, StandardCharsets.US_ASCII));
        int hl = ByteBuffer.wrap(b, 8, 2).order(ByteOrder.LITTLE_ENDIAN).getShort();
        String header = new String(b, 10, hl, StandardCharsets.US_ASCII);
        assertTrue(header.contains("'shape': (2, 64)"), header);
        assertEquals(0, (10 + hl) % 64);
        assertEquals(10 + hl + 2 * 64 * 4, b.length);
        assertEquals(2, Files.readAllLines(Path.of(out + ".txt")).size());
        // refuses to overwrite without --force
        CliTest.Run again = CliTest.run("embed", "--model", model(), "--out", out.toString(), sample("0-tshirt-top.png"));
        assertEquals(Exit.IO, again.code());
        assertEquals(0, CliTest.run("embed", "--model", model(), "--force", "--out", out.toString(), sample("0-tshirt-top.png")).code());
    }

    @Test
    void embedJsonLinesMeanPooling() throws Exception {
        CliTest.Run cls = CliTest.run("embed", "--model", model(), sample("8-bag.png"));
        CliTest.Run mean = CliTest.run("embed", "--model", model(), "--pool", "mean", sample("8-bag.png"));
        assertEquals(0, cls.code(), cls.err());
        assertEquals(0, mean.code(), mean.err());
        assertTrue(cls.out().startsWith("{\"file\":") && cls.out().contains("\"embedding\":["));
        assertNotEquals(cls.out(), mean.out());
        assertEquals(Exit.USAGE, CliTest.run("embed", "--pool", "max", sample("8-bag.png")).code());
    }

    @Test
    void decompressionBombIsRefused() {
        Path bomb = CliTest.root().resolve("fixtures/images/bad_huge.png");
        CliTest.Run r = CliTest.run("classify", "--model", model(), bomb.toString());
        assertEquals(Exit.SOME_INPUTS_FAILED, r.code());
        assertTrue(r.err().contains("bad_huge.png"), r.err());
        assertEquals(1, r.err().lines().filter(l -> !l.isBlank()).count(), r.err());
        // a lower limit refuses an ordinary photo too
        CliTest.Run small = CliTest.run("classify", "--model", model(), "--max-pixels", "1000", CliTest.root().resolve("fixtures/images/chelsea.png").toString());
        assertEquals(Exit.SOME_INPUTS_FAILED, small.code());
    }

    @Test
    void realPhotosOfEveryFormatClassify() {
        String[] files = {"chelsea.png", "jpeg_progressive.jpg", "jpeg_cmyk.jpg", "png_palette.png", "png_rgba16.png",
                "gif_palette.gif", "bmp_rgb24.bmp", "webp_lossless.webp", "orient_6.jpg"};
        String[] args = new String[files.length + 4];
        args[0] = "classify"; args[1] = "--model"; args[2] = model(); args[3] = "--json";
        for (int i = 0; i < files.length; i++) args[4 + i] = CliTest.root().resolve("fixtures/images").resolve(files[i]).toString();
        CliTest.Run r = CliTest.run(args);
        assertEquals(0, r.code(), r.err());
        assertEquals(files.length, r.out().lines().count());
    }

    @Test
    void preprocessingOverridesAreValidated() {
        assertEquals(Exit.USAGE, CliTest.run("classify", "--model", model(), "--size", "30", sample("8-bag.png")).code());
        assertEquals(Exit.USAGE, CliTest.run("classify", "--model", model(), "--mean", "1,2", sample("8-bag.png")).code());
        assertEquals(Exit.USAGE, CliTest.run("classify", "--model", model(), "--resample", "cubicspline", sample("8-bag.png")).code());
        CliTest.Run bigger = CliTest.run("classify", "--model", model(), "--size", "56", sample("8-bag.png"));
        assertEquals(0, bigger.code(), bigger.err());
    }
}
