package io.jvit.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.jvit.loader.ImageClassifier;

import javax.imageio.ImageIO;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Turns image files into the model's input. (Interim: plain ImageIO and bilinear resize.) */
final class Images {
    private final int size;
    private final float[] mean, std;
    private final float rescale;

    Images(ImageClassifier model) {
        this.size = model.config().imageSize();
        float[] m = {0.5f, 0.5f, 0.5f}, s = {0.5f, 0.5f, 0.5f};
        float r = 1 / 255f;
        Path dir = model.modelPath();
        if (!Files.isDirectory(dir)) dir = dir.toAbsolutePath().getParent();
        Path pp = dir == null ? null : dir.resolve("preprocessor_config.json");
        if (pp != null && Files.isRegularFile(pp)) {
            try {
                JsonNode n = new ObjectMapper().readTree(pp.toFile());
                if (n.has("image_mean")) for (int i = 0; i < 3; i++) m[i] = (float) n.get("image_mean").get(i).asDouble();
                if (n.has("image_std")) for (int i = 0; i < 3; i++) s[i] = (float) n.get("image_std").get(i).asDouble();
                if (n.has("rescale_factor")) r = (float) n.get("rescale_factor").asDouble();
            } catch (IOException e) {
                throw new CliException(Exit.MODEL, pp + ": not valid JSON");
            }
        }
        this.mean = m;
        this.std = s;
        this.rescale = r;
    }

    int pixelsPerImage() { return 3 * size * size; }

    /** Decodes and preprocesses {@code file} into {@code out} at {@code off}; throws IOException with a one-line message. */
    void load(Path file, float[] out, int off) throws IOException {
        BufferedImage img;
        try {
            img = ImageIO.read(file.toFile());
        } catch (IOException | RuntimeException e) {
            throw new IOException("cannot decode image: " + e.getMessage());
        }
        if (img == null) throw new IOException("not an image jvit can read");
        BufferedImage rgb = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = rgb.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        g.drawImage(img, 0, 0, size, size, null);
        g.dispose();
        int plane = size * size;
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++) {
                int p = rgb.getRGB(x, y);
                int[] c = {(p >> 16) & 255, (p >> 8) & 255, p & 255};
                for (int ch = 0; ch < 3; ch++)
                    out[off + ch * plane + y * size + x] = (c[ch] * rescale - mean[ch]) / std[ch];
            }
    }
}
