package io.jvit.loader.image;

import com.fasterxml.jackson.databind.JsonNode;
import io.jvit.loader.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * A preprocessing recipe: how an {@link RgbImage} becomes the float32 CHW tensor a model takes.
 * Read from a Hugging Face {@code preprocessor_config.json} ({@link #fromHuggingFace}), from
 * timm's {@code pretrained_cfg} ({@link #fromTimm}), or a default ({@link #defaults},
 * {@link #imagenet}); every field can be overridden by the caller ({@code with...}).
 *
 * <p>The steps, each reproducing the Python pipeline it comes from:
 * <ol>
 * <li>resize with Pillow's filters ({@link PillowResize}), per {@link ResizeMode};</li>
 * <li>center crop (padding with {@code padFill} where the crop is larger than the image);</li>
 * <li>rescale ({@code v * rescaleFactor}) and normalize ({@code (x - mean) / std}) in float32.</li>
 * </ol>
 * {@link Convention} carries the two places where Hugging Face and torchvision/timm differ by
 * a pixel or an ulp: HF's {@code center_crop} puts the crop at {@code floor((in - crop) / 2)}
 * while torchvision's {@code CenterCrop} uses {@code round((in - crop) / 2.0)} with Python's
 * round-half-to-even (and pads at {@code floor} instead of {@code ceil}); HF rescales in float64
 * ({@code uint8 * 0.00392156862745098}, then float32) while torchvision's {@code ToTensor} divides
 * float32 by 255.
 *
 * @param convention    HF or TORCHVISION (timm) rounding, see above
 * @param resizeMode    how {@code resizeHeight/resizeWidth} are used
 * @param resizeHeight  target height (EXACT, FIT_*) or shorter edge (SHORTEST_EDGE)
 * @param resizeWidth   target width (EXACT, FIT_*); equal to resizeHeight for SHORTEST_EDGE
 * @param resample      Pillow filter
 * @param cropHeight    center-crop height, 0 for no crop
 * @param cropWidth     center-crop width, 0 for no crop
 * @param cropPct       crop / resize ratio the recipe derives its resize size from (timm's
 *                      {@code crop_pct}, HF ConvNeXt's), NaN if none; used by {@link #withSize}
 * @param padFill       RGB fill where the crop extends past the image (null: black)
 * @param rescaleFactor multiplier applied to 0..255 values (1/255 usually, 1 for none)
 * @param mean          per-channel mean subtracted after rescaling (null: no normalization)
 * @param std           per-channel std divided by after subtracting the mean
 * @param source        where the recipe came from, for display
 */
public record Preprocessor(
        Convention convention,
        ResizeMode resizeMode,
        int resizeHeight,
        int resizeWidth,
        Resample resample,
        int cropHeight,
        int cropWidth,
        double cropPct,
        int[] padFill,
        double rescaleFactor,
        float[] mean,
        float[] std,
        String source) {

    public static final float[] IMAGENET_MEAN = {0.485f, 0.456f, 0.406f};
    public static final float[] IMAGENET_STD = {0.229f, 0.224f, 0.225f};
    public static final float[] HALF = {0.5f, 0.5f, 0.5f};
    public static final float[] CLIP_MEAN = {0.48145466f, 0.4578275f, 0.40821073f};
    public static final float[] CLIP_STD = {0.26862954f, 0.26130258f, 0.27577711f};
    /** HF's default rescale_factor, 1/255 as Python prints it. */
    public static final double RESCALE_1_255 = 0.00392156862745098;

    public enum Convention { HF, TORCHVISION }

    public enum ResizeMode {
        /** no resize */
        NONE,
        /** to exactly resizeHeight x resizeWidth (aspect ratio not kept) */
        EXACT,
        /**
         * shorter side to resizeHeight, longer side {@code int(size * long / short)}
         * (torchvision {@code Resize(int)}, HF {@code shortest_edge})
         */
        SHORTEST_EDGE,
        /**
         * keep the aspect ratio, scaled so the shorter side fits the box resizeHeight x resizeWidth
         * (timm ResizeKeepRatio, longest=0; sides rounded half-to-even)
         */
        FIT_SHORTER,
        /** as FIT_SHORTER but the longer side fits the box (timm crop_mode "border") */
        FIT_LONGER
    }


    public Preprocessor {
        if (convention == null || resizeMode == null || resample == null) {
            throw new IllegalArgumentException("convention, resizeMode and resample are required");
        }
        if (resizeMode != ResizeMode.NONE && (resizeHeight <= 0 || resizeWidth <= 0)) {
            throw new IllegalArgumentException("resize size must be positive: " + resizeHeight + "x" + resizeWidth);
        }
        if (cropHeight < 0 || cropWidth < 0 || (cropHeight == 0) != (cropWidth == 0)) {
            throw new IllegalArgumentException("crop size must be both positive or both 0: " + cropHeight + "x" + cropWidth);
        }
        if ((mean == null) != (std == null)) {
            throw new IllegalArgumentException("mean and std go together");
        }
        if (mean != null) {
            mean = broadcast3(mean, "mean");
            std = broadcast3(std, "std");
            for (float s : std) {
                if (!(s != 0f) || !Float.isFinite(s)) {
                    throw new IllegalArgumentException("std must be finite and non-zero: " + Arrays.toString(std));
                }
            }
        }
        if (padFill != null) {
            if (padFill.length != 3) {
                throw new IllegalArgumentException("padFill must be an RGB triple");
            }
            padFill = padFill.clone();
        }
        if (!(rescaleFactor > 0) || !Double.isFinite(rescaleFactor)) {
            throw new IllegalArgumentException("rescaleFactor must be positive: " + rescaleFactor);
        }
        if (source == null) {
            source = "custom";
        }
    }

    private static float[] broadcast3(float[] v, String what) {
        if (v.length == 1) {
            return new float[] {v[0], v[0], v[0]};
        }
        if (v.length != 3) {
            throw new IllegalArgumentException(what + " must have 1 or 3 values: " + Arrays.toString(v));
        }
        return v.clone();
    }

    /** A copy of the mean (null without normalization). */
    @Override
    public float[] mean() {
        return mean == null ? null : mean.clone();
    }

    /** A copy of the std (null without normalization). */
    @Override
    public float[] std() {
        return std == null ? null : std.clone();
    }

    /** A copy of the pad fill (null: black). */
    @Override
    public int[] padFill() {
        return padFill == null ? null : padFill.clone();
    }

    // ------------------------------------------------------------------------------ defaults

    /**
     * For a model with no recipe: resize to height x width (bilinear), rescale 1/255,
     * normalize with mean = std = 0.5 (what Hugging Face's ViTImageProcessor defaults to).
     */
    public static Preprocessor defaults(int height, int width) {
        return new Preprocessor(Convention.HF, ResizeMode.EXACT, height, width, Resample.BILINEAR, 0, 0,
                Double.NaN, null, RESCALE_1_255, HALF, HALF, "default (resize, mean/std 0.5)");
    }

    /** {@link #defaults} with ImageNet's mean and std (timm/torchvision models). */
    public static Preprocessor imagenet(int height, int width) {
        return defaults(height, width).withMean(IMAGENET_MEAN).withStd(IMAGENET_STD)
                .withSource("default (resize, ImageNet mean/std)");
    }

    /**
     * torchvision's classification weights preset ({@code ImageClassification}: Resize(resize)
     * on the shorter side, CenterCrop(crop), ImageNet mean/std), e.g. (224, 256, BILINEAR) for
     * {@code ViT_B_16_Weights.IMAGENET1K_V1}.
     */
    public static Preprocessor torchvision(int crop, int resize, Resample resample) {
        return new Preprocessor(Convention.TORCHVISION, ResizeMode.SHORTEST_EDGE, resize, resize, resample, crop, crop,
                (double) crop / resize, null, RESCALE_1_255, IMAGENET_MEAN, IMAGENET_STD,
                "torchvision ImageClassification preset");
    }

    // ------------------------------------------------------------------------------ overrides

    public Preprocessor withResample(Resample r) {
        return new Preprocessor(convention, resizeMode, resizeHeight, resizeWidth, r, cropHeight, cropWidth,
                cropPct, padFill, rescaleFactor, mean, std, source);
    }

    public Preprocessor withMean(float[] m) {
        return new Preprocessor(convention, resizeMode, resizeHeight, resizeWidth, resample, cropHeight, cropWidth,
                cropPct, padFill, rescaleFactor, m, std == null && m != null ? new float[] {1f} : std, source);
    }

    public Preprocessor withStd(float[] s) {
        return new Preprocessor(convention, resizeMode, resizeHeight, resizeWidth, resample, cropHeight, cropWidth,
                cropPct, padFill, rescaleFactor, mean == null && s != null ? new float[] {0f} : mean, s, source);
    }

    /** No normalization: the tensor holds {@code v * rescaleFactor}. */
    public Preprocessor withoutNormalize() {
        return new Preprocessor(convention, resizeMode, resizeHeight, resizeWidth, resample, cropHeight, cropWidth,
                cropPct, padFill, rescaleFactor, null, null, source);
    }

    public Preprocessor withRescaleFactor(double f) {
        return new Preprocessor(convention, resizeMode, resizeHeight, resizeWidth, resample, cropHeight, cropWidth,
                cropPct, padFill, f, mean, std, source);
    }

    public Preprocessor withResize(ResizeMode mode, int height, int width) {
        return new Preprocessor(convention, mode, height, width, resample, cropHeight, cropWidth,
                cropPct, padFill, rescaleFactor, mean, std, source);
    }

    /** Center crop to height x width; (0, 0) removes the crop. */
    public Preprocessor withCrop(int height, int width) {
        return new Preprocessor(convention, resizeMode, resizeHeight, resizeWidth, resample, height, width,
                cropPct, padFill, rescaleFactor, mean, std, source);
    }

    public Preprocessor withConvention(Convention c) {
        return new Preprocessor(c, resizeMode, resizeHeight, resizeWidth, resample, cropHeight, cropWidth,
                cropPct, padFill, rescaleFactor, mean, std, source);
    }

    public Preprocessor withSource(String s) {
        return new Preprocessor(convention, resizeMode, resizeHeight, resizeWidth, resample, cropHeight, cropWidth,
                cropPct, padFill, rescaleFactor, mean, std, s);
    }

    /**
     * The same recipe for an output of height x width: with a crop, the crop becomes
     * height x width and the resize is recomputed from {@link #cropPct} (or, without one, scaled
     * by the old resize/crop ratio); without a crop, an exact resize to height x width (a
     * shortest-edge resize becomes shortest edge {@code min(height, width)} plus that crop).
     */
    public Preprocessor withSize(int height, int width) {
        if (cropHeight > 0) {
            double pctH = Double.isNaN(cropPct) ? (double) cropHeight / resizeHeight : cropPct;
            double pctW = Double.isNaN(cropPct) ? (double) cropWidth / resizeWidth : cropPct;
            int rh, rw;
            if (resizeMode == ResizeMode.NONE) {
                rh = 0;
                rw = 0;
            } else if (resizeMode == ResizeMode.SHORTEST_EDGE) {
                rh = rw = (int) Math.floor(Math.min(height, width) / pctH + 1e-9);
            } else {
                rh = (int) Math.floor(height / pctH + 1e-9);
                rw = (int) Math.floor(width / pctW + 1e-9);
            }
            return new Preprocessor(convention, resizeMode, rh, rw, resample, height, width, cropPct, padFill,
                    rescaleFactor, mean, std, source);
        }
        if (resizeMode == ResizeMode.SHORTEST_EDGE) {
            int e = Math.min(height, width);
            return new Preprocessor(convention, resizeMode, e, e, resample, height, width, cropPct, padFill,
                    rescaleFactor, mean, std, source);
        }
        return new Preprocessor(convention, ResizeMode.EXACT, height, width, resample, 0, 0, cropPct, padFill,
                rescaleFactor, mean, std, source);
    }

    // ----------------------------------------------------------------------------- parsing

    /**
     * A model directory's recipe: {@code preprocessor_config.json} (Hugging Face), else the
     * {@code pretrained_cfg} of a timm {@code config.json}, else {@link #defaults}(height, width).
     */
    public static Preprocessor forModelDir(Path dir, int height, int width) throws IOException {
        Path hf = dir.resolve("preprocessor_config.json");
        if (Files.isRegularFile(hf)) {
            return fromHuggingFace(hf);
        }
        Path cfg = dir.resolve("config.json");
        if (Files.isRegularFile(cfg)) {
            JsonNode root = readJson(cfg);
            if (root.has("pretrained_cfg") || root.has("input_size")) {
                return fromTimm(root.has("pretrained_cfg") ? root.get("pretrained_cfg") : root, cfg.toString());
            }
        }
        return defaults(height, width);
    }

    /** Reads a Hugging Face {@code preprocessor_config.json}. */
    public static Preprocessor fromHuggingFace(Path file) throws IOException {
        return fromHuggingFace(readJson(file), file.toString());
    }

    /** Reads a timm {@code config.json} (its {@code pretrained_cfg}, or the top level). */
    public static Preprocessor fromTimmConfig(Path file) throws IOException {
        JsonNode root = readJson(file);
        return fromTimm(root.has("pretrained_cfg") ? root.get("pretrained_cfg") : root, file.toString());
    }

    private static JsonNode readJson(Path file) throws IOException {
        try {
            JsonNode n = io.jvit.loader.Json.read(file);
            if (n == null || !n.isObject()) {
                throw new ModelFormatException(file + ": not a JSON object");
            }
            return n;
        } catch (io.jvit.loader.Json.SyntaxException e) {
            throw new ModelFormatException(file + ": invalid JSON: " + e.getMessage(), e);
        }
    }

    /**
     * The recipe of a Hugging Face image processor config (ViT, DeiT, BEiT, ConvNeXt, CLIP, ...):
     * {@code do_resize}, {@code size} ({@code {"height","width"}}, {@code {"shortest_edge"}} or a
     * legacy int), {@code resample} (PIL code), {@code do_center_crop}, {@code crop_size},
     * {@code crop_pct} (ConvNeXt), {@code do_rescale}, {@code rescale_factor},
     * {@code do_normalize}, {@code image_mean}, {@code image_std}; missing keys take the
     * processor class's defaults.
     *
     * @param where the file name, for error messages
     */
    public static Preprocessor fromHuggingFace(JsonNode c, String where) throws ModelFormatException {
        try {
            String type = text(c, "image_processor_type", text(c, "feature_extractor_type", ""));
            boolean convnext = type.startsWith("ConvNext");
            boolean bicubicType = type.startsWith("DeiT") || type.startsWith("CLIP") || type.startsWith("BEiT")
                    || type.startsWith("Beit") || type.startsWith("Bit") || type.startsWith("LevIT")
                    || type.startsWith("Levit") || type.startsWith("EfficientFormer") || type.startsWith("Siglip");
            boolean shortestType = convnext || type.startsWith("CLIP") || type.startsWith("Bit")
                    || type.startsWith("LevIT") || type.startsWith("Levit");
            Resample resample = c.has("resample") && !c.get("resample").isNull()
                    ? Resample.fromPil(c.get("resample").asInt())
                    : (bicubicType ? Resample.BICUBIC : Resample.BILINEAR);

            boolean doResize = bool(c, "do_resize", true);
            ResizeMode mode = ResizeMode.NONE;
            int rh = 0, rw = 0, ch = 0, cw = 0;
            double pct = Double.NaN;
            JsonNode size = c.get("size");
            if (doResize) {
                if (size == null || size.isNull()) {
                    size = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode().put("height", 224).put("width", 224);
                }
                if (size.isInt()) {
                    if (shortestType) {
                        mode = ResizeMode.SHORTEST_EDGE;
                        rh = rw = size.asInt();
                    } else {
                        mode = ResizeMode.EXACT;
                        rh = rw = size.asInt();
                    }
                } else if (size.has("height") && size.has("width")) {
                    mode = ResizeMode.EXACT;
                    rh = size.get("height").asInt();
                    rw = size.get("width").asInt();
                } else if (size.has("shortest_edge")) {
                    if (size.has("longest_edge") && !size.get("longest_edge").isNull()) {
                        throw new ModelFormatException(where + ": size with longest_edge is not supported");
                    }
                    mode = ResizeMode.SHORTEST_EDGE;
                    rh = rw = size.get("shortest_edge").asInt();
                } else {
                    throw new ModelFormatException(where + ": unsupported size " + size);
                }
                if (convnext && mode == ResizeMode.SHORTEST_EDGE) {
                    int se = rh;
                    pct = c.has("crop_pct") && !c.get("crop_pct").isNull() ? c.get("crop_pct").asDouble() : 224.0 / 256;
                    if (se < 384) { // ConvNextImageProcessor.resize
                        rh = rw = (int) (se / pct);
                        ch = cw = se;
                    } else {
                        mode = ResizeMode.EXACT;
                        pct = Double.NaN;
                    }
                }
            }
            boolean doCrop = c.has("do_center_crop") ? c.get("do_center_crop").asBoolean()
                    : c.has("crop_size") && !type.startsWith("ViT");
            if (doCrop && !convnext) {
                JsonNode cs = c.get("crop_size");
                if (cs == null || cs.isNull()) {
                    ch = cw = 224;
                } else if (cs.isInt()) {
                    ch = cw = cs.asInt();
                } else {
                    ch = cs.get("height").asInt();
                    cw = cs.get("width").asInt();
                }
            }
            double rescale = bool(c, "do_rescale", true)
                    ? (c.has("rescale_factor") ? c.get("rescale_factor").asDouble() : RESCALE_1_255) : 1.0;
            float[] mean = null, std = null;
            if (bool(c, "do_normalize", true)) {
                float[] dm = type.startsWith("CLIP") ? CLIP_MEAN
                        : (type.startsWith("DeiT") || convnext || type.startsWith("Levit") || type.startsWith("LevIT"))
                        ? IMAGENET_MEAN : HALF;
                float[] ds = type.startsWith("CLIP") ? CLIP_STD
                        : (type.startsWith("DeiT") || convnext || type.startsWith("Levit") || type.startsWith("LevIT"))
                        ? IMAGENET_STD : HALF;
                mean = floats(c.get("image_mean"), dm);
                std = floats(c.get("image_std"), ds);
            }
            String src = "Hugging Face " + (type.isEmpty() ? "image processor" : type) + " (" + where + ")";
            return new Preprocessor(Convention.HF, mode, rh, rw, resample, ch, cw, pct, null, rescale, mean, std, src);
        } catch (ModelFormatException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new ModelFormatException(where + ": cannot read the preprocessing recipe: " + e.getMessage(), e);
        }
    }

    /**
     * The recipe of timm's eval transform for a {@code pretrained_cfg}: {@code input_size}
     * [3, H, W], {@code interpolation}, {@code crop_pct} (default 0.875), {@code crop_mode}
     * ("center" default, "squash", "border"), {@code mean}, {@code std} (default ImageNet).
     * Scale size = {@code floor(H / crop_pct)}: "center" resizes the shorter side to it (or fits
     * the shorter side for non-square inputs) then center-crops; "squash" resizes both sides to
     * it then crops; "border" fits the longer side then crops/pads with {@code round(255 * mean)}.
     */
    public static Preprocessor fromTimm(JsonNode c, String where) throws ModelFormatException {
        try {
            JsonNode is = c.get("input_size");
            if (is == null || !is.isArray() || is.size() != 3) {
                throw new ModelFormatException(where + ": pretrained_cfg has no input_size [3, H, W]");
            }
            int h = is.get(1).asInt(), w = is.get(2).asInt();
            Resample resample = Resample.fromName(text(c, "interpolation", "bilinear"));
            double pct = c.has("crop_pct") && !c.get("crop_pct").isNull() ? c.get("crop_pct").asDouble() : 0.875;
            String cropMode = text(c, "crop_mode", "center").toLowerCase(Locale.ROOT);
            float[] mean = floats(c.get("mean"), IMAGENET_MEAN);
            float[] std = floats(c.get("std"), IMAGENET_STD);
            int sh = (int) Math.floor(h / pct), sw = (int) Math.floor(w / pct);
            ResizeMode mode;
            int[] fill = null;
            switch (cropMode) {
                case "squash" -> mode = ResizeMode.EXACT;
                case "border" -> {
                    mode = ResizeMode.FIT_LONGER;
                    fill = new int[3];
                    for (int i = 0; i < 3; i++) {
                        fill[i] = (int) Math.rint(255 * (double) mean[i]);
                    }
                }
                case "center" -> mode = sh == sw ? ResizeMode.SHORTEST_EDGE : ResizeMode.FIT_SHORTER;
                default -> throw new ModelFormatException(where + ": unknown crop_mode '" + cropMode + "'");
            }
            String src = "timm pretrained_cfg (" + where + ")";
            return new Preprocessor(Convention.TORCHVISION, mode, sh, sw, resample, h, w, pct, fill,
                    RESCALE_1_255, mean, std, src);
        } catch (ModelFormatException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new ModelFormatException(where + ": cannot read the preprocessing recipe: " + e.getMessage(), e);
        }
    }

    private static String text(JsonNode c, String key, String dflt) {
        JsonNode v = c.get(key);
        return v == null || v.isNull() ? dflt : v.asText();
    }

    private static boolean bool(JsonNode c, String key, boolean dflt) {
        JsonNode v = c.get(key);
        return v == null || v.isNull() ? dflt : v.asBoolean();
    }

    private static float[] floats(JsonNode v, float[] dflt) {
        if (v == null || v.isNull()) {
            return dflt.clone();
        }
        if (v.isNumber()) {
            return new float[] {(float) v.asDouble()};
        }
        float[] out = new float[v.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) v.get(i).asDouble(); // Python floats -> float32, as np.array(..., float32)
        }
        return out;
    }

    // ---------------------------------------------------------------------------- applying

    /** {height, width} of the resized image (before cropping) for an input of w x h. */
    public int[] resizedSize(int w, int h) {
        switch (resizeMode) {
            case NONE:
                return new int[] {h, w};
            case EXACT:
                return new int[] {resizeHeight, resizeWidth};
            case SHORTEST_EDGE: {
                int s = Math.min(w, h), l = Math.max(w, h);
                int ns = resizeHeight;
                int nl = (int) ((double) ((long) ns * l) / s); // Python: int(size * long / short)
                return w <= h ? new int[] {nl, ns} : new int[] {ns, nl};
            }
            default: { // timm ResizeKeepRatio
                double rh = (double) h / resizeHeight, rw = (double) w / resizeWidth;
                double ratio = resizeMode == ResizeMode.FIT_LONGER ? Math.max(rh, rw) : Math.min(rh, rw);
                return new int[] {(int) Math.rint(h / ratio), (int) Math.rint(w / ratio)};
            }
        }
    }

    /** {height, width} of {@link #apply}'s output for an input of w x h. */
    public int[] outputSize(int w, int h) {
        return cropHeight > 0 ? new int[] {cropHeight, cropWidth} : resizedSize(w, h);
    }

    /** The resized and cropped 8-bit image, before rescaling and normalization. */
    public RgbImage resizeAndCrop(RgbImage img) {
        if (resizeMode != ResizeMode.NONE) {
            int[] s = resizedSize(img.width(), img.height());
            img = PillowResize.resize(img, Math.max(1, s[1]), Math.max(1, s[0]), resample);
        }
        if (cropHeight > 0 && (cropHeight != img.height() || cropWidth != img.width())) {
            int top = cropOffset(img.height(), cropHeight), left = cropOffset(img.width(), cropWidth);
            img = img.cropOrPad(left, top, cropWidth, cropHeight, padFill);
        }
        return img;
    }

    /** Where the crop starts in the image (negative: padding before it). */
    private int cropOffset(int in, int crop) {
        if (convention == Convention.HF) {
            return Math.floorDiv(in - crop, 2); // HF center_crop: (in - crop) // 2, pads at ceil
        }
        if (in >= crop) {
            return (int) Math.rint((in - crop) / 2.0); // torchvision: int(round((in - crop) / 2.0))
        }
        return -((crop - in) / 2); // torchvision pads (crop - in) // 2 before
    }

    /** Preprocesses one image into float32 CHW [3][H][W]. */
    public float[] apply(RgbImage image) {
        RgbImage img = resizeAndCrop(image);
        int n = img.width() * img.height();
        float[][] lut = lut();
        float[] out = new float[3 * n];
        byte[] p = img.rgb();
        for (int i = 0, q = 0; i < n; i++, q += 3) {
            out[i] = lut[0][p[q] & 0xFF];
            out[n + i] = lut[1][p[q + 1] & 0xFF];
            out[2 * n + i] = lut[2][p[q + 2] & 0xFF];
        }
        return out;
    }

    /** The float value of each 8-bit level per channel, computed in the source's own arithmetic. */
    private float[][] lut() {
        float[][] lut = new float[3][256];
        boolean divide255 = convention == Convention.TORCHVISION && rescaleFactor == RESCALE_1_255;
        for (int c = 0; c < 3; c++) {
            for (int v = 0; v < 256; v++) {
                float x = divide255 ? v / 255f : (float) (v * rescaleFactor);
                if (mean != null) {
                    x = (x - mean[c]) / std[c];
                }
                lut[c][v] = x;
            }
        }
        return lut;
    }

    /** Stacks CHW tensors of equal size into one NCHW array. */
    public static float[] stack(List<float[]> chw) {
        if (chw.isEmpty()) {
            return new float[0];
        }
        int len = chw.get(0).length;
        float[] out = new float[Math.multiplyExact(len, chw.size())];
        for (int i = 0; i < chw.size(); i++) {
            float[] t = chw.get(i);
            if (t.length != len) {
                throw new IllegalArgumentException("image " + i + " has " + t.length + " values, image 0 has " + len
                        + ": a recipe without a crop gives sizes that depend on the input");
            }
            System.arraycopy(t, 0, out, i * len, len);
        }
        return out;
    }

    /** One line describing the recipe, for {@code jvit info}. */
    public String describe() {
        StringBuilder sb = new StringBuilder();
        switch (resizeMode) {
            case NONE -> sb.append("no resize");
            case EXACT -> sb.append("resize to ").append(resizeHeight).append('x').append(resizeWidth);
            case SHORTEST_EDGE -> sb.append("resize shorter side to ").append(resizeHeight);
            case FIT_SHORTER -> sb.append("resize keeping aspect, shorter side into ")
                    .append(resizeHeight).append('x').append(resizeWidth);
            case FIT_LONGER -> sb.append("resize keeping aspect, longer side into ")
                    .append(resizeHeight).append('x').append(resizeWidth);
        }
        if (resizeMode != ResizeMode.NONE) {
            sb.append(" (").append(resample.label()).append(')');
        }
        if (cropHeight > 0) {
            sb.append(", center ").append(padFill != null ? "crop/pad " : "crop ")
                    .append(cropHeight).append('x').append(cropWidth);
            if (!Double.isNaN(cropPct)) {
                sb.append(String.format(Locale.ROOT, " (crop_pct %.4g)", cropPct));
            }
        }
        if (rescaleFactor != 1.0) {
            sb.append(rescaleFactor == RESCALE_1_255 ? ", rescale 1/255" : ", rescale x" + rescaleFactor);
        }
        if (mean != null) {
            sb.append(", normalize mean ").append(Arrays.toString(mean)).append(" std ").append(Arrays.toString(std));
        }
        return sb.append("; from ").append(source).toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Preprocessor p && p.convention == convention && p.resizeMode == resizeMode
                && p.resizeHeight == resizeHeight && p.resizeWidth == resizeWidth && p.resample == resample
                && p.cropHeight == cropHeight && p.cropWidth == cropWidth
                && Double.compare(p.cropPct, cropPct) == 0 && Arrays.equals(p.padFill, padFill)
                && p.rescaleFactor == rescaleFactor && Arrays.equals(p.mean, mean) && Arrays.equals(p.std, std);
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(convention, resizeMode, resizeHeight, resizeWidth, resample, cropHeight,
                cropWidth, Arrays.hashCode(mean), Arrays.hashCode(std));
    }

    @Override
    public String toString() {
        return "Preprocessor[" + describe() + "]";
    }
}
