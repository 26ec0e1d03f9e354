package io.jvit.loader.image;

/**
 * What jvit needs from a JPEG's markers, read from the bytes before the first scan: the colour
 * space the components are stored in (decided exactly as libjpeg's {@code default_decompress_parms}
 * does, which is what Pillow gets) and the EXIF orientation.
 */
record JpegMarkers(int components, ColorSpace colorSpace, int orientation) {

    enum ColorSpace { GRAY, YCBCR, RGB, CMYK, YCCK, UNKNOWN }

    static JpegMarkers parse(byte[] d) {
        boolean jfif = false;
        int adobeTransform = -1;
        int orientation = 1;
        boolean sawExif = false;
        int ncomp = 0;
        int[] ids = new int[4];
        int p = 2; // after SOI
        while (p + 4 <= d.length) {
            if ((d[p] & 0xFF) != 0xFF) {
                break; // not a marker: corrupt header, let the decoder complain
            }
            int marker = d[p + 1] & 0xFF;
            if (marker == 0xFF) { // fill byte
                p++;
                continue;
            }
            if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {
                p += 2;
                continue;
            }
            if (marker == 0xD9 || marker == 0xDA) {
                break; // EOI / SOS: the header is over
            }
            int len = ((d[p + 2] & 0xFF) << 8) | (d[p + 3] & 0xFF);
            int s = p + 4; // segment payload
            int end = Math.min(d.length, p + 2 + len);
            if (len < 2) {
                break;
            }
            if (marker == 0xE0 && startsWith(d, s, end, "JFIF\0")) {
                jfif = true;
            } else if (marker == 0xEE && startsWith(d, s, end, "Adobe") && s + 11 < end) {
                adobeTransform = d[s + 11] & 0xFF;
            } else if (marker == 0xE1 && !sawExif && startsWith(d, s, end, "Exif\0\0")) {
                sawExif = true;
                orientation = exifOrientation(d, s + 6, end);
            } else if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
                if (s + 6 <= end) {
                    ncomp = d[s + 5] & 0xFF;
                    for (int i = 0; i < Math.min(ncomp, 4) && s + 6 + 3 * i < end; i++) {
                        ids[i] = d[s + 6 + 3 * i] & 0xFF;
                    }
                }
            }
            p += 2 + len;
        }
        return new JpegMarkers(ncomp, colorSpace(ncomp, jfif, adobeTransform, ids), orientation);
    }

    /** libjpeg(-turbo) jdapimin.c default_decompress_parms. */
    private static ColorSpace colorSpace(int ncomp, boolean jfif, int adobe, int[] id) {
        switch (ncomp) {
            case 1:
                return ColorSpace.GRAY;
            case 3:
                if (jfif) {
                    return ColorSpace.YCBCR;
                }
                if (adobe >= 0) {
                    return adobe == 0 ? ColorSpace.RGB : ColorSpace.YCBCR;
                }
                if (id[0] == 'R' && id[1] == 'G' && id[2] == 'B') {
                    return ColorSpace.RGB;
                }
                return ColorSpace.YCBCR;
            case 4:
                if (adobe >= 0) {
                    return adobe == 0 ? ColorSpace.CMYK : ColorSpace.YCCK;
                }
                return ColorSpace.CMYK;
            default:
                return ColorSpace.UNKNOWN;
        }
    }

    private static boolean startsWith(byte[] d, int s, int end, String sig) {
        if (s + sig.length() > end) {
            return false;
        }
        for (int i = 0; i < sig.length(); i++) {
            if (d[s + i] != (byte) sig.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    /** Tag 0x0112 of IFD0 of the TIFF structure at [t, end); 1 when absent or unreadable. */
    static int exifOrientation(byte[] d, int t, int end) {
        if (t + 8 > end) {
            return 1;
        }
        boolean le;
        if (d[t] == 'I' && d[t + 1] == 'I') {
            le = true;
        } else if (d[t] == 'M' && d[t + 1] == 'M') {
            le = false;
        } else {
            return 1;
        }
        long ifd = u32(d, t + 4, le);
        if (ifd < 8 || t + ifd + 2 > end) {
            return 1;
        }
        int q = (int) (t + ifd);
        int n = u16(d, q, le);
        for (int i = 0; i < n; i++) {
            int e = q + 2 + 12 * i;
            if (e + 12 > end) {
                return 1;
            }
            if (u16(d, e, le) == 0x0112) {
                int type = u16(d, e + 2, le);
                int v = type == 3 ? u16(d, e + 8, le) : type == 4 ? (int) u32(d, e + 8, le) : 1;
                return v >= 1 && v <= 8 ? v : 1;
            }
        }
        return 1;
    }

    private static int u16(byte[] d, int p, boolean le) {
        int a = d[p] & 0xFF, b = d[p + 1] & 0xFF;
        return le ? a | (b << 8) : (a << 8) | b;
    }

    private static long u32(byte[] d, int p, boolean le) {
        long v = 0;
        for (int i = 0; i < 4; i++) {
            long b = d[p + (le ? 3 - i : i)] & 0xFF;
            v = (v << 8) | b;
        }
        return v;
    }
}
