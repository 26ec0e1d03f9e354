package io.jvit.loader.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Resampling and whole pipelines against Pillow / torchvision / Hugging Face outputs on real
 * photographs (fixtures by tools/make_preprocess_fixtures.py). The acceptance bound is mean
 * |difference| <= 0.5/255 and max <= 2/255 on the rescaled pixels; the implementation is meant to
 * be exact, and the measured numbers are printed.
 */
class PreprocessParityTest {
    static final double MEAN_TOL = 0.5; // in 1/255 units
    static final int MAX_TOL = 2;
    static final Map<String, RgbImage> CACHE = new HashMap<>();
    static final Map<String, String> REPORT = new TreeMap<>();

    @AfterAll
    static void report() {
        REPORT.forEach((k, v) -> System.out.println("[preprocess parity] " + k + ": " + v));
    }

    static RgbImage load(String rel) throws Exception {
        synchronized (CACHE) {
            RgbImage img = CACHE.get(rel);
            if (img == null) {
                img = ImageLoader.DEFAULT.load(Fixtures.path(rel));
                CACHE.put(rel, img);
            }
            return img;
        }
    }

    @Test
    void resizeMatchesPillow() throws Exception {
        StringBuilder failures = new StringBuilder();
        Map<String, double[]> perFilter = new TreeMap<>(); // mean-sum, max, count, exact-cases
        for (JsonNode c : Fixtures.index().get("resize")) {
            String f = c.get("filter").asText();
            int w = c.get("width").asInt(), h = c.get("height").asInt();
            RgbImage out = PillowResize.resize(load(c.get("src").asText()), w, h, Resample.fromName(f));
            Fixtures.Diff d = Fixtures.Diff.of(out.rgb(), Fixtures.bytes(c.get("expect").asText()));
            double[] s = perFilter.computeIfAbsent(f, k -> new double[4]);
            s[0] += d.mean();
            s[1] = Math.max(s[1], d.max());
            s[2]++;
            s[3] += d.max() == 0 ? 1 : 0;
            if (d.mean() > MEAN_TOL || d.max() > MAX_TOL) {
                failures.append(c.get("expect").asText()).append(": ").append(d).append('\n');
            }
        }
        perFilter.forEach((f, s) -> REPORT.put("resize " + f, String.format(Locale.ROOT,
                "%d cases, mean of means %.4f/255, max %d/255, %d/%d cases bit-exact",
                (int) s[2], s[0] / s[2], (int) s[1], (int) s[3], (int) s[2])));
        assertTrue(failures.isEmpty(), "resize differs from Pillow:\n" + failures);
    }

    @Test
    void pipelinesMatchPython() throws Exception {
        StringBuilder failures = new StringBuilder();
        for (JsonNode p : Fixtures.index().get("pipeline")) {
            String name = p.get("name").asText();
            Preprocessor pre = p.get("kind").asText().equals("hf")
                    ? Preprocessor.fromHuggingFace(p.get("config"), name)
                    : Preprocessor.fromTimm(p.get("config"), name);
            RgbImage img = load(p.get("src").asText());
            float[] got = pre.apply(img);
            float[] want = Fixtures.floats(p.get("expect").asText());
            JsonNode shape = p.get("shape");
            int[] out = pre.outputSize(img.width(), img.height());
            assertArrayEquals(new int[] {shape.get(1).asInt(), shape.get(2).asInt()}, out, name + " output size");
            if (got.length != want.length) {
                failures.append(name).append(": ").append(got.length).append(" values, expected ").append(want.length)
                        .append('\n');
                continue;
            }
            // compare in rescaled-pixel units: |a - b| * std * 255
            float[] std = pre.std() == null ? new float[] {1, 1, 1} : pre.std();
            int plane = got.length / 3;
            double sum = 0, max = 0, maxUlpish = 0;
            int equal = 0;
            for (int i = 0; i < got.length; i++) {
                double d = Math.abs((double) got[i] - want[i]);
                if (d == 0) {
                    equal++;
                }
                double px = d * std[i / plane] * 255;
                sum += px;
                max = Math.max(max, px);
                maxUlpish = Math.max(maxUlpish, d / Math.max(Math.ulp(want[i]), Float.MIN_NORMAL));
            }
            double mean = sum / got.length;
            REPORT.put("pipeline " + name, String.format(Locale.ROOT,
                    "mean %.5f/255, max %.5f/255, %.2f%% bit-identical floats, max %.0f ulp",
                    mean, max, 100.0 * equal / got.length, maxUlpish));
            if (mean > MEAN_TOL || max > MAX_TOL) {
                failures.append(name).append(String.format(Locale.ROOT, ": mean %.4f/255 max %.4f/255%n", mean, max));
            }
        }
        assertTrue(failures.isEmpty(), "pipelines differ:\n" + failures);
    }
}
