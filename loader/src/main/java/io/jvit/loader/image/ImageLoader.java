package io.jvit.loader.image;

import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.PackedColorModel;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.event.IIOReadWarningListener;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;
import org.w3c.dom.Node;

/**
 * Reads an image file into the 8-bit RGB raster that Pillow's {@code Image.open(f).convert("RGB")}
 * gives, which is what the Python pipelines (Hugging Face image processors, timm, torchvision)
 * feed a model:
 * <ul>
 * <li>PNG: gray (1/2/4/8-bit: scaled to 0..255; 16-bit: Pillow opens it as mode "I" and
 * {@code convert("RGB")} CLIPS values above 255 to 255, it does not scale), palette, RGB,
 * 16-bit RGB/RGBA and gray+alpha (Pillow keeps the high byte), alpha and tRNS dropped.</li>
 * <li>JPEG: baseline, progressive, gray, CMYK and YCCK (TwelveMonkeys' reader over the JDK's
 * libjpeg; the colour conversion is jvit's own: libjpeg's YCbCr tables, and for CMYK Pillow's
 * naive {@code R = 255 - C} style conversion, Adobe inverted, no ICC profile). Embedded ICC
 * profiles are ignored, as Pillow ignores them.</li>
 * <li>BMP (TwelveMonkeys), GIF (first frame, placed on the logical screen as Pillow does), WebP
 * (TwelveMonkeys; lossless exact, lossy within a few levels: libwebp's fancy chroma upsampling is
 * not reproduced), TIFF through the JDK's plugin (8-bit RGB tested; other TIFF variants without a
 * parity guarantee). The format is recognised by its first bytes, not by the file name.</li>
 * <li>Alpha is DROPPED, never composited onto a background: that is what {@code convert("RGB")}
 * does (a transparent pixel keeps whatever colour it stores).</li>
 * </ul>
 * <b>EXIF orientation.</b> With {@code exifTranspose} (the default) the EXIF orientation (tag
 * 0x0112, values 2..8) of a JPEG, PNG (eXIf chunk) or WebP (EXIF chunk) is applied, as
 * {@code PIL.ImageOps.exif_transpose} does, so a phone photo comes out upright. Pillow's plain {@code Image.open} does NOT do this, and neither do Hugging Face's image
 * processors nor timm/torchvision transforms: to reproduce those pipelines bit for bit on a
 * rotated phone photo, turn it off ({@code withExifTranspose(false)}).
 * <p><b>Decompression bombs.</b> The header's dimensions are read first
 * ({@code ImageReader.getWidth/getHeight}) and an image over {@link #maxPixels()} (default
 * 100 megapixels) is refused before any pixel is decoded.
 * <p>Every failure is an {@link ImageLoadException} whose message is one line starting with the
 * file name. Instances are immutable and thread-safe.
 *
 * @param maxPixels     largest width x height accepted
 * @param exifTranspose apply the EXIF orientation (JPEG, PNG, WebP) as ImageOps.exif_transpose does
 */
public record ImageLoader(long maxPixels, boolean exifTranspose) {
    public static final long DEFAULT_MAX_PIXELS = 100_000_000L;
    public static final ImageLoader DEFAULT = new ImageLoader(DEFAULT_MAX_PIXELS, true);

    /** File name extensions jvit treats as images when it walks a folder. */
    public static final Set<String> EXTENSIONS =
            Set.of("png", "jpg", "jpeg", "jpe", "jfif", "bmp", "dib", "gif", "webp", "tif", "tiff");

    private static final long MAX_FILE_BYTES = Integer.MAX_VALUE - 64;

    public ImageLoader {
        if (maxPixels <= 0) {
            throw new IllegalArgumentException("maxPixels must be positive: " + maxPixels);
        }
    }

    public ImageLoader() {
        this(DEFAULT_MAX_PIXELS, true);
    }

    public ImageLoader withMaxPixels(long m) {
        return new ImageLoader(m, exifTranspose);
    }

    public ImageLoader withExifTranspose(boolean t) {
        return new ImageLoader(maxPixels, t);
    }

    /** Whether the file name has one of {@link #EXTENSIONS} (case-insensitive). */
    public static boolean hasImageExtension(Path p) {
        String n = p.getFileName() == null ? "" : p.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return dot >= 0 && EXTENSIONS.contains(n.substring(dot + 1).toLowerCase(Locale.ROOT));
    }

    /** Reads and decodes {@code file}. */
    public RgbImage load(Path file) throws ImageLoadException {
        String name = file.toString();
        byte[] data;
        try {
            if (Files.isDirectory(file)) {
                throw new ImageLoadException(name + ": is a directory, not an image file");
            }
            long size = Files.size(file);
            if (size > MAX_FILE_BYTES) {
                throw new ImageLoadException(name + ": file of " + size + " bytes is too large to be read");
            }
            data = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new ImageLoadException(name + ": no such file", e);
        } catch (AccessDeniedException e) {
            throw new ImageLoadException(name + ": permission denied", e);
        } catch (ImageLoadException e) {
            throw e;
        } catch (IOException e) {
            throw new ImageLoadException(name + ": cannot read the file: " + e.getMessage(), e);
        }
        return decode(data, name);
    }

    /** Image formats recognised by their first bytes. */
    enum Format {
        PNG("PNG", "png"), JPEG("JPEG", "jpeg"), GIF("GIF", "gif"), BMP("BMP", "bmp"),
        WEBP("WebP", "webp"), TIFF("TIFF", "tiff");

        final String label;
        final String imageioName;

        Format(String label, String imageioName) {
            this.label = label;
            this.imageioName = imageioName;
        }
    }

    static Format sniff(byte[] d) {
        if (d.length >= 8 && (d[0] & 0xFF) == 0x89 && d[1] == 'P' && d[2] == 'N' && d[3] == 'G'
                && d[4] == 0x0D && d[5] == 0x0A && d[6] == 0x1A && d[7] == 0x0A) {
            return Format.PNG;
        }
        if (d.length >= 3 && (d[0] & 0xFF) == 0xFF && (d[1] & 0xFF) == 0xD8 && (d[2] & 0xFF) == 0xFF) {
            return Format.JPEG;
        }
        if (d.length >= 6 && d[0] == 'G' && d[1] == 'I' && d[2] == 'F' && d[3] == '8'
                && (d[4] == '7' || d[4] == '9') && d[5] == 'a') {
            return Format.GIF;
        }
        if (d.length >= 2 && d[0] == 'B' && d[1] == 'M') {
            return Format.BMP;
        }
        if (d.length >= 12 && d[0] == 'R' && d[1] == 'I' && d[2] == 'F' && d[3] == 'F'
                && d[8] == 'W' && d[9] == 'E' && d[10] == 'B' && d[11] == 'P') {
            return Format.WEBP;
        }
        if (d.length >= 4 && ((d[0] == 'I' && d[1] == 'I' && d[2] == 42 && d[3] == 0)
                || (d[0] == 'M' && d[1] == 'M' && d[2] == 0 && d[3] == 42))) {
            return Format.TIFF;
        }
        return null;
    }

    /** Decodes an image held in memory; {@code name} is used in error messages. */
    public RgbImage decode(byte[] data, String name) throws ImageLoadException {
        if (data.length == 0) {
            throw new ImageLoadException(name + ": empty file (0 bytes), not an image");
        }
        Format fmt = sniff(data);
        if (fmt == null) {
            throw new ImageLoadException(name + ": not an image format jvit reads (PNG, JPEG, BMP, GIF, WebP, TIFF)");
        }
        if (fmt == Format.WEBP) { // the RIFF header says how long the file is; decoders may not notice a cut
            long riff = 8 + ((data[4] & 0xFFL) | (data[5] & 0xFFL) << 8 | (data[6] & 0xFFL) << 16 | (data[7] & 0xFFL) << 24);
            if (data.length < riff) {
                throw new ImageLoadException(name + ": truncated WebP file (" + data.length + " of the " + riff
                        + " bytes its RIFF header announces)");
            }
        }
        ImageReader reader = readerFor(fmt);
        if (reader == null) {
            throw new ImageLoadException(name + ": no " + fmt.label + " decoder on the class path (ImageIO plugin missing)");
        }
        List<String> warnings = new ArrayList<>();
        try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(data))) {
            reader.setInput(in, true, fmt != Format.GIF);
            reader.addIIOReadWarningListener(new IIOReadWarningListener() {
                @Override
                public void warningOccurred(ImageReader source, String warning) {
                    warnings.add(warning);
                }
            });
            int w = reader.getWidth(0);
            int h = reader.getHeight(0);
            if (fmt == Format.GIF && data.length >= 10) { // the logical screen, which Pillow uses
                w = Math.max(w, (data[6] & 0xFF) | (data[7] & 0xFF) << 8);
                h = Math.max(h, (data[8] & 0xFF) | (data[9] & 0xFF) << 8);
            }
            checkSize(name, fmt, w, h);
            RgbImage img = switch (fmt) {
                case JPEG -> decodeJpeg(reader, data, name);
                case GIF -> decodeGif(reader, data, name);
                default -> fromBufferedImage(reader.read(0), name);
            };
            if (exifTranspose) {
                img = orient(img, exifOrientation(fmt, data));
            }
            for (String warning : warnings) {
                String lw = warning.toLowerCase(Locale.ROOT);
                if (lw.contains("premature end") || lw.contains("truncated")) {
                    throw new ImageLoadException(name + ": truncated " + fmt.label + " file (" + warning + ")");
                }
            }
            return img;
        } catch (ImageLoadException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new ImageLoadException(name + ": cannot decode " + fmt.label + ": " + describe(e), e);
        } catch (OutOfMemoryError e) {
            throw new ImageLoadException(name + ": not enough memory to decode this " + fmt.label + " image", e);
        } finally {
            reader.dispose();
        }
    }

    private void checkSize(String name, Format fmt, int w, int h) throws ImageLoadException {
        if (w <= 0 || h <= 0) {
            throw new ImageLoadException(name + ": " + fmt.label + " header gives an invalid size " + w + "x" + h);
        }
        long px = (long) w * h;
        if (px > maxPixels) {
            throw new ImageLoadException(String.format(Locale.ROOT,
                    "%s: %s image of %dx%d = %s is over the limit of %s (a decompression bomb?); refused before decoding",
                    name, fmt.label, w, h, pixels(px), pixels(maxPixels)));
        }
        if (3L * px > Integer.MAX_VALUE - 64) {
            throw new ImageLoadException(name + ": " + w + "x" + h + " is too large for one RGB buffer");
        }
    }

    private static String pixels(long n) {
        return n >= 10_000_000 ? String.format(Locale.ROOT, "%.1f megapixels", n / 1e6) : n + " pixels";
    }

    private static String describe(Throwable e) {
        StringBuilder sb = new StringBuilder();
        for (Throwable t = e; t != null && sb.length() < 300; t = t.getCause()) {
            String m = t.getMessage();
            String part = (m == null || m.isBlank()) ? t.getClass().getSimpleName() : m;
            if (t instanceof java.io.EOFException) {
                part = "unexpected end of file (truncated?)" + (m == null ? "" : ": " + m);
            }
            if (sb.indexOf(part) < 0) {
                if (!sb.isEmpty()) {
                    sb.append(": ");
                }
                sb.append(part);
            }
        }
        return sb.toString();
    }

    private static ImageReader readerFor(Format fmt) {
        ImageReader fallback = null;
        ImageReader chosen = null;
        for (Iterator<ImageReader> it = ImageIO.getImageReadersByFormatName(fmt.imageioName); it.hasNext(); ) {
            ImageReader r = it.next();
            boolean tm = r.getClass().getName().startsWith("com.twelvemonkeys.");
            // TwelveMonkeys for JPEG (more robust header handling), BMP and WebP; the JDK's for PNG/GIF/TIFF
            boolean preferTm = fmt == Format.JPEG || fmt == Format.BMP || fmt == Format.WEBP;
            if (chosen == null && tm == preferTm) {
                chosen = r;
            } else if (fallback == null) {
                fallback = r;
            }
        }
        return chosen != null ? chosen : fallback;
    }

    // ---------------------------------------------------------------------------------- JPEG

    private RgbImage decodeJpeg(ImageReader reader, byte[] data, String name) throws IOException {
        JpegMarkers m = JpegMarkers.parse(data);
        Raster r = reader.readRaster(0, null);
        int w = r.getWidth(), h = r.getHeight(), nb = r.getNumBands();
        byte[] out = new byte[3 * w * h];
        int[] px = new int[w * nb];
        JpegMarkers.ColorSpace cs = m.colorSpace();
        if ((cs == JpegMarkers.ColorSpace.GRAY && nb != 1) || (nb == 3 && cs != JpegMarkers.ColorSpace.YCBCR
                && cs != JpegMarkers.ColorSpace.RGB) || (nb == 4 && cs != JpegMarkers.ColorSpace.CMYK
                && cs != JpegMarkers.ColorSpace.YCCK) || nb == 2 || nb > 4) {
            throw new ImageLoadException(name + ": unsupported JPEG with " + nb + " components (" + cs + ")");
        }
        int o = 0;
        for (int y = 0; y < h; y++) {
            r.getPixels(r.getMinX(), r.getMinY() + y, w, 1, px);
            switch (cs) {
                case GRAY -> {
                    for (int x = 0; x < w; x++) {
                        byte v = (byte) px[x];
                        out[o++] = v;
                        out[o++] = v;
                        out[o++] = v;
                    }
                }
                case RGB -> {
                    for (int i = 0; i < 3 * w; i++) {
                        out[o++] = (byte) px[i];
                    }
                }
                case YCBCR -> {
                    for (int x = 0, i = 0; x < w; x++, i += 3) {
                        o = YCC.toRgb(px[i], px[i + 1], px[i + 2], out, o);
                    }
                }
                default -> { // CMYK, YCCK
                    boolean ycck = cs == JpegMarkers.ColorSpace.YCCK;
                    for (int x = 0, i = 0; x < w; x++, i += 4) {
                        int c = px[i], mm = px[i + 1], yy = px[i + 2], k = px[i + 3];
                        if (ycck) { // libjpeg ycck_cmyk_convert: YCC -> RGB, inverted; K unchanged
                            int yv = px[i], cb = px[i + 1], cr = px[i + 2];
                            c = 255 - YCC.clamp(yv + YCC.CR_R[cr]);
                            mm = 255 - YCC.clamp(yv + ((YCC.CB_G[cb] + YCC.CR_G[cr]) >> YCC.SCALEBITS));
                            yy = 255 - YCC.clamp(yv + YCC.CB_B[cb]);
                        }
                        // Pillow: rawmode "CMYK;I" (Adobe inverted), then cmyk2rgb
                        int nk = k; // 255 - (255 - k)
                        out[o++] = (byte) clip8(nk - muldiv255(255 - c, nk));
                        out[o++] = (byte) clip8(nk - muldiv255(255 - mm, nk));
                        out[o++] = (byte) clip8(nk - muldiv255(255 - yy, nk));
                    }
                }
            }
        }
        return new RgbImage(w, h, out);
    }

    /**
     * The EXIF orientation (1..8) a file declares, 1 if none: JPEG APP1 "Exif", PNG eXIf chunk,
     * WebP EXIF chunk (the places Pillow's getexif reads for ImageOps.exif_transpose).
     */
    static int exifOrientation(Format fmt, byte[] d) {
        switch (fmt) {
            case JPEG:
                return JpegMarkers.parse(d).orientation();
            case PNG: {
                int p = 8;
                while (p + 12 <= d.length) {
                    long len = ((d[p] & 0xFFL) << 24) | ((d[p + 1] & 0xFF) << 16) | ((d[p + 2] & 0xFF) << 8) | (d[p + 3] & 0xFF);
                    if (len > d.length - p - 12) {
                        return 1;
                    }
                    if (d[p + 4] == 'e' && d[p + 5] == 'X' && d[p + 6] == 'I' && d[p + 7] == 'f') {
                        return tiffOrientation(d, p + 8, p + 8 + (int) len);
                    }
                    if (d[p + 4] == 'I' && d[p + 5] == 'E' && d[p + 6] == 'N' && d[p + 7] == 'D') {
                        return 1;
                    }
                    p += 12 + (int) len;
                }
                return 1;
            }
            case WEBP: {
                int p = 12;
                while (p + 8 <= d.length) {
                    long len = (d[p + 4] & 0xFFL) | (d[p + 5] & 0xFF) << 8 | (d[p + 6] & 0xFF) << 16 | (d[p + 7] & 0xFFL) << 24;
                    if (len > d.length - p - 8) {
                        return 1;
                    }
                    if (d[p] == 'E' && d[p + 1] == 'X' && d[p + 2] == 'I' && d[p + 3] == 'F') {
                        return tiffOrientation(d, p + 8, p + 8 + (int) len);
                    }
                    p += 8 + (int) ((len + 1) & ~1L);
                }
                return 1;
            }
            default:
                return 1;
        }
    }

    /** TIFF-structured EXIF at [s, end), with or without Pillow's tolerated "Exif\0\0" prefix. */
    private static int tiffOrientation(byte[] d, int s, int end) {
        if (end - s >= 6 && d[s] == 'E' && d[s + 1] == 'x' && d[s + 2] == 'i' && d[s + 3] == 'f' && d[s + 4] == 0
                && d[s + 5] == 0) {
            s += 6;
        }
        return JpegMarkers.exifOrientation(d, s, end);
    }

    private static int muldiv255(int a, int b) {
        int t = a * b + 128;
        return ((t >> 8) + t) >> 8;
    }

    private static int clip8(int v) {
        return v < 0 ? 0 : Math.min(v, 255);
    }

    /** libjpeg's jdcolor.c YCbCr -> RGB tables (SCALEBITS 16), which libjpeg-turbo keeps bit-exact. */
    static final class YCC {
        static final int SCALEBITS = 16;
        static final int[] CR_R = new int[256], CB_B = new int[256], CR_G = new int[256], CB_G = new int[256];

        static {
            final int oneHalf = 1 << (SCALEBITS - 1);
            for (int i = 0, x = -128; i <= 255; i++, x++) {
                CR_R[i] = (fix(1.40200) * x + oneHalf) >> SCALEBITS;
                CB_B[i] = (fix(1.77200) * x + oneHalf) >> SCALEBITS;
                CR_G[i] = -fix(0.71414) * x;
                CB_G[i] = -fix(0.34414) * x + oneHalf;
            }
        }

        private static int fix(double v) {
            return (int) (v * (1L << SCALEBITS) + 0.5);
        }

        static int clamp(int v) {
            return v < 0 ? 0 : Math.min(v, 255);
        }

        static int toRgb(int y, int cb, int cr, byte[] out, int o) {
            out[o] = (byte) clamp(y + CR_R[cr]);
            out[o + 1] = (byte) clamp(y + ((CB_G[cb] + CR_G[cr]) >> SCALEBITS));
            out[o + 2] = (byte) clamp(y + CB_B[cb]);
            return o + 3;
        }
    }

    /**
     * PIL.ImageOps.exif_transpose: 2 FLIP_LEFT_RIGHT, 3 ROTATE_180, 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE,
     * 6 ROTATE_270, 7 TRANSVERSE, 8 ROTATE_90.
     */
    static RgbImage orient(RgbImage in, int orientation) {
        if (orientation < 2 || orientation > 8) {
            return in;
        }
        int w = in.width(), h = in.height();
        boolean swap = orientation >= 5;
        int ow = swap ? h : w, oh = swap ? w : h;
        byte[] s = in.rgb();
        byte[] out = new byte[s.length];
        int o = 0;
        for (int y = 0; y < oh; y++) {
            for (int x = 0; x < ow; x++) {
                int sx, sy;
                switch (orientation) {
                    case 2 -> { sx = w - 1 - x; sy = y; }
                    case 3 -> { sx = w - 1 - x; sy = h - 1 - y; }
                    case 4 -> { sx = x; sy = h - 1 - y; }
                    case 5 -> { sx = y; sy = x; }
                    case 6 -> { sx = y; sy = h - 1 - x; }
                    case 7 -> { sx = w - 1 - y; sy = h - 1 - x; }
                    default -> { sx = w - 1 - y; sy = x; } // 8
                }
                int p = 3 * (sy * w + sx);
                out[o++] = s[p];
                out[o++] = s[p + 1];
                out[o++] = s[p + 2];
            }
        }
        return new RgbImage(ow, oh, out);
    }

    // ----------------------------------------------------------------------------------- GIF

    /** First frame on the logical screen, as Pillow 9/10 load it (fill: transparent index, else 0). */
    private static RgbImage decodeGif(ImageReader reader, byte[] data, String name) throws IOException {
        BufferedImage frame = reader.read(0);
        if (!(frame.getColorModel() instanceof IndexColorModel icm)) {
            return fromBufferedImage(frame, name);
        }
        int left = 0, top = 0, transparent = -1;
        IIOMetadata md = reader.getImageMetadata(0);
        if (md != null) {
            Node root = md.getAsTree("javax_imageio_gif_image_1.0");
            for (Node n = root.getFirstChild(); n != null; n = n.getNextSibling()) {
                if (n.getNodeName().equals("ImageDescriptor")) {
                    left = intAttr(n, "imageLeftPosition", 0);
                    top = intAttr(n, "imageTopPosition", 0);
                } else if (n.getNodeName().equals("GraphicControlExtension")
                        && "TRUE".equalsIgnoreCase(attr(n, "transparentColorFlag"))) {
                    transparent = intAttr(n, "transparentColorIndex", -1);
                }
            }
        }
        int fw = frame.getWidth(), fh = frame.getHeight();
        int sw = (data[6] & 0xFF) | (data[7] & 0xFF) << 8;
        int sh = (data[8] & 0xFF) | (data[9] & 0xFF) << 8;
        int w = Math.max(sw, left + fw), h = Math.max(sh, top + fh);
        int fill = transparent >= 0 ? transparent : 0;
        int[] idx = new int[w * h];
        if (fill != 0) {
            java.util.Arrays.fill(idx, fill);
        }
        Raster r = frame.getRaster();
        int[] row = new int[fw];
        for (int y = 0; y < fh; y++) {
            r.getSamples(r.getMinX(), r.getMinY() + y, fw, 1, 0, row);
            System.arraycopy(row, 0, idx, (y + top) * w + left, fw);
        }
        byte[] out = new byte[3 * w * h];
        int mapSize = icm.getMapSize();
        for (int i = 0, o = 0; i < idx.length; i++, o += 3) {
            int v = idx[i];
            if (v < mapSize) {
                out[o] = (byte) icm.getRed(v);
                out[o + 1] = (byte) icm.getGreen(v);
                out[o + 2] = (byte) icm.getBlue(v);
            }
        }
        return new RgbImage(w, h, out);
    }

    private static String attr(Node n, String a) {
        Node v = n.getAttributes() == null ? null : n.getAttributes().getNamedItem(a);
        return v == null ? null : v.getNodeValue();
    }

    private static int intAttr(Node n, String a, int dflt) {
        String v = attr(n, a);
        try {
            return v == null ? dflt : Integer.parseInt(v.strip());
        } catch (NumberFormatException e) {
            return dflt;
        }
    }

    // ------------------------------------------------------------------------ other formats

    /**
     * A decoded image's stored samples to RGB the way Pillow's convert("RGB") treats the same
     * data: palette lookup, gray replicated (low bit depths scaled to 0..255, 16-bit gray
     * clipped at 255), 16-bit colour to its high byte, alpha dropped. No colour management.
     */
    static RgbImage fromBufferedImage(BufferedImage bi, String name) throws ImageLoadException {
        int w = bi.getWidth(), h = bi.getHeight();
        byte[] out = new byte[3 * w * h];
        ColorModel cm = bi.getColorModel();
        Raster r = bi.getRaster();
        int x0 = r.getMinX(), y0 = r.getMinY();
        if (cm instanceof IndexColorModel icm) {
            int[] row = new int[w];
            int mapSize = icm.getMapSize();
            int o = 0;
            for (int y = 0; y < h; y++) {
                r.getSamples(x0, y0 + y, w, 1, 0, row);
                for (int x = 0; x < w; x++, o += 3) {
                    int v = row[x];
                    if (v < mapSize) {
                        out[o] = (byte) icm.getRed(v);
                        out[o + 1] = (byte) icm.getGreen(v);
                        out[o + 2] = (byte) icm.getBlue(v);
                    }
                }
            }
            return new RgbImage(w, h, out);
        }
        int cs = cm.getColorSpace().getType();
        int nc = cm.getNumColorComponents();
        boolean raw = (cm instanceof ComponentColorModel || cm instanceof PackedColorModel)
                && ((nc == 1 && cs == java.awt.color.ColorSpace.TYPE_GRAY)
                || (nc == 3 && cs == java.awt.color.ColorSpace.TYPE_RGB));
        if (!raw) { // e.g. CMYK TIFF: let Java 2D convert
            int[] argb = bi.getRGB(0, 0, w, h, null, 0, w);
            for (int i = 0, o = 0; i < argb.length; i++) {
                out[o++] = (byte) (argb[i] >> 16);
                out[o++] = (byte) (argb[i] >> 8);
                out[o++] = (byte) argb[i];
            }
            return new RgbImage(w, h, out);
        }
        int[] bits = new int[nc];
        for (int c = 0; c < nc; c++) {
            bits[c] = cm.getComponentSize(c);
        }
        boolean alpha = cm.hasAlpha();
        int[][] rows = new int[nc][w];
        int o = 0;
        for (int y = 0; y < h; y++) {
            for (int c = 0; c < nc; c++) {
                r.getSamples(x0, y0 + y, w, 1, c, rows[c]);
                scale(rows[c], bits[c], nc == 1 && !alpha);
            }
            if (nc == 1) {
                int[] g = rows[0];
                for (int x = 0; x < w; x++) {
                    byte v = (byte) g[x];
                    out[o++] = v;
                    out[o++] = v;
                    out[o++] = v;
                }
            } else {
                for (int x = 0; x < w; x++) {
                    out[o++] = (byte) rows[0][x];
                    out[o++] = (byte) rows[1][x];
                    out[o++] = (byte) rows[2][x];
                }
            }
        }
        return new RgbImage(w, h, out);
    }

    /** Sample values of {@code bits} bits to 0..255 as Pillow's unpackers/convert do. */
    private static void scale(int[] v, int bits, boolean grayOnly) {
        if (bits == 8) {
            return;
        }
        if (bits == 16) {
            for (int i = 0; i < v.length; i++) {
                // Pillow: 16-bit gray is mode "I" and convert("RGB") clips; colour/LA keep the high byte
                v[i] = grayOnly ? Math.min(v[i], 255) : v[i] >> 8;
            }
            return;
        }
        if (bits > 16) {
            int sh = bits - 8;
            for (int i = 0; i < v.length; i++) {
                v[i] = v[i] >>> sh;
            }
            return;
        }
        int max = (1 << bits) - 1;
        for (int i = 0; i < v.length; i++) {
            v[i] = v[i] * 255 / max;
        }
    }
}
