package io.jvit.loader;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Hyper-parameters implied by the standard architecture names of torchvision (vit_b_16, vit_l_32, ...)
 * and timm (vit_base_patch16_224, deit_small_distilled_patch16_224.fb_in1k, ...).
 */
public final class Architectures {
    private Architectures() {}

    /** What a name tells; zero where it says nothing. */
    public record Hints(int width, int depth, int heads, int mlpDim, int patch, int imageSize, boolean distilled) {}

    private static final Pattern TORCHVISION = Pattern.compile("vit_([bhl])_(\\d+)");
    private static final Pattern TIMM = Pattern.compile("(vit|deit|deit3)_(tiny|small|base|medium|large|huge)_(distilled_)?patch(\\d+)_(\\d+)(?:_.*)?");

    public static Hints parse(String name) {
        if (name == null) return null;
        String n = name.toLowerCase(Locale.ROOT);
        int dot = n.indexOf('.');
        if (dot >= 0) n = n.substring(0, dot);      // timm's pretrained tag: vit_base_patch16_224.augreg_in1k
        Matcher m = TORCHVISION.matcher(n);
        if (m.matches()) {
            int p = Integer.parseInt(m.group(2));
            return switch (m.group(1)) {
                case "b" -> new Hints(768, 12, 12, 3072, p, 224, false);
                case "l" -> new Hints(1024, 24, 16, 4096, p, 224, false);
                default -> new Hints(1280, 32, 16, 5120, p, 224, false);
            };
        }
        m = TIMM.matcher(n);
        if (m.matches()) {
            int p = Integer.parseInt(m.group(4)), size = Integer.parseInt(m.group(5));
            boolean distilled = m.group(3) != null;
            return switch (m.group(2)) {
                case "tiny" -> new Hints(192, 12, 3, 768, p, size, distilled);
                case "small" -> new Hints(384, 12, 6, 1536, p, size, distilled);
                case "medium" -> new Hints(512, 12, 8, 2048, p, size, distilled);
                case "base" -> new Hints(768, 12, 12, 3072, p, size, distilled);
                case "large" -> new Hints(1024, 24, 16, 4096, p, size, distilled);
                default -> new Hints(1280, 32, 16, 5120, p, size, distilled);
            };
        }
        return null;
    }

    /**
     * Heads of the standard ViT widths (ViT/DeiT papers: Ti 192/3, S 384/6, B 768/12, L 1024/16,
     * H 1280/16); 0 for any other width, which then has to be given.
     */
    public static int standardHeads(int width) {
        return switch (width) {
            case 192 -> 3;
            case 384 -> 6;
            case 512 -> 8;
            case 768 -> 12;
            case 1024, 1280 -> 16;
            default -> 0;
        };
    }
}
