package io.jvit.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.jvit.engine.MatmulTaskBench.alternate;

/**
 * Where a one-thread matmul's time goes beyond the micro-kernel: the same multiply-adds with each operand either
 * where the engine meets it (weights streamed from memory, C a fresh [M x N] buffer) or kept hot in L2.
 * Weights are taken in turn from ~400 MB of copies ({@link MatmulTaskBench#weights}), as a ViT's are. Variants
 * alternate in one process, each round read as ratios to the first. Not a test: run with
 * <pre>
 * java --add-modules jdk.incubator.vector -cp engine/target/classes:engine/target/test-classes \
 *     io.jvit.engine.MatmulMemoryBench K N variant[,variant...] [rounds]    # e.g. 768 3072 kernel,bHot,cHot,plain,engine
 * </pre>
 * Variants, all over the whole M x K x N: {@code kernel} (every panel's product from the first panel's k-block
 * into one panel-wide C: A, B and C stay in L2, so this is the micro-kernel's own rate), {@code bHot} (B the
 * first panel again, C the real buffer), {@code cHot} (B the real panels, C one panel-wide buffer), {@code plain}
 * (real B and C, panel by panel, no read-ahead, no bias), {@code engine} ({@link Matmul#multiply}, STORE),
 * {@code touch} (each panel loaded line by line, independent loads, just before its product), {@code raF} (plain,
 * reading the next panel ahead as {@link Matmul} does, during the last 1/F of each panel's row groups: ra1 is the
 * engine's way; {@code raFbias} also adds the bias to each micro-tile as the engine does), {@code touchEarly} (the
 * next panel loaded after this panel's first row group: still in cache when its turn comes?), {@code firstN} (each
 * panel's first N row groups computed together, k-slice by k-slice of -Dslice=64, so that the first pass over the
 * panel, which reads it from DRAM, has N row groups of work per byte), {@code raSelfF} (reading ahead this panel,
 * which is in cache: what the extra loads cost) and {@code raFarF} (reading ahead a panel half the matrix away:
 * misses that nothing uses). -Dm=rows (default 198);
 * -Djvit.hugePages=false keeps the weights on 4 KB pages. Measured 2026-11-27 (tools/matmul_shapes.txt).
 */
public final class MatmulMemoryBench {
    /** Where {@code touch} leaves its loads, so that they are not dropped. */
    static int sink;

    private static void multiply(MemorySegment a, int m, int k, PackedMatrix w, MemorySegment c, long ldc,
                                 MemorySegment cPanel, String variant) {
        if (variant.equals("engine")) {
            Matmul.multiply(null, a, k, m, w, c, ldc, Matmul.Epilogue.STORE);
            return;
        }
        if (variant.startsWith("ra")) {   // read the next panel ahead during the last 1/F of each panel's row groups
            int f = Integer.parseInt(variant.replaceAll("\\D", "")), groups = m / Matmul.MR, late = Math.max(1, groups / f);
            int split = (groups - late) * Matmul.MR;
            long panelBytes = (long) k * Matmul.NR * 4;
            for (int p = 0; p < w.panels(); p++) {
                // raSelf: this panel again (in cache: the loads' own cost); raFar: a panel half the matrix away (misses, no use)
                int target = variant.startsWith("raSelf") ? p : variant.startsWith("raFar") ? (p + w.panels() / 2) % w.panels() : p + 1;
                long ahead = target < w.panels() ? w.panelOffset(target) : -1, aheadEnd = ahead + panelBytes;
                long calls = (long) late * ((k + Matmul.KC - 1) / Matmul.KC);
                long step = Math.min(Matmul.NR * 4, Math.max(4, (panelBytes / calls / Math.min(k, Matmul.KC) + 3) & ~3L));
                for (int k0 = 0; k0 < k; k0 += Matmul.KC) {
                    int kb = Math.min(Matmul.KC, k - k0);
                    long bk = w.panelOffset(p) + (long) k0 * Matmul.NR * 4, colOff = (long) p * Matmul.NR * 4;
                    MemorySegment bias = k0 + kb == k && variant.endsWith("bias") ? w.bias() : null;
                    Matmul.blockRows(a, k, 0, split, k0, kb, w.data(), bk, k0 == 0, bias, Matmul.Epilogue.STORE, c, ldc, colOff);
                    ahead = Matmul.blockRows(a, k, split, m, k0, kb, w.data(), bk, k0 == 0, bias, Matmul.Epilogue.STORE, c, ldc, colOff,
                            ahead, aheadEnd, step);
                }
            }
            return;
        }
        if (variant.startsWith("first")) {   // firstN: each panel's first N row groups together, k-slice by k-slice
            int groups = Integer.parseInt(variant.substring(5)), slice = Integer.getInteger("slice", 64), r1 = groups * Matmul.MR;
            for (int p = 0; p < w.panels(); p++) {
                long colOff = (long) p * Matmul.NR * 4;
                for (int k0 = 0; k0 < k; k0 += Matmul.KC) {
                    int kb = Math.min(Matmul.KC, k - k0);
                    long bk = w.panelOffset(p) + (long) k0 * Matmul.NR * 4;
                    for (int s = 0; s < kb; s += slice)
                        Matmul.blockRows(a, k, 0, r1, k0 + s, Math.min(slice, kb - s), w.data(), bk + (long) s * Matmul.NR * 4, k0 == 0 && s == 0, null, Matmul.Epilogue.STORE, c, ldc, colOff);
                    Matmul.blockRows(a, k, r1, m, k0, kb, w.data(), bk, k0 == 0, null, Matmul.Epilogue.STORE, c, ldc, colOff);
                }
            }
            return;
        }
        if (variant.equals("touchEarly")) {   // the next panel loaded after this panel's first row group (does it stay in L2?)
            long panelBytes = (long) k * Matmul.NR * 4;
            if (k > Matmul.KC) throw new IllegalArgumentException("touchEarly: K <= " + Matmul.KC);
            for (int p = 0; p < w.panels(); p++) {
                long colOff = (long) p * Matmul.NR * 4;
                Matmul.blockRows(a, k, 0, Matmul.MR, 0, k, w.data(), w.panelOffset(p), true, null, Matmul.Epilogue.STORE, c, ldc, colOff);
                int x = 0;
                if (p + 1 < w.panels())
                    for (long o = w.panelOffset(p + 1), end = o + panelBytes; o < end; o += 64) x ^= w.data().get(ValueLayout.JAVA_INT, o);
                sink ^= x;
                Matmul.blockRows(a, k, Matmul.MR, m, 0, k, w.data(), w.panelOffset(p), true, null, Matmul.Epilogue.STORE, c, ldc, colOff);
            }
            return;
        }
        if (variant.equals("touch")) {   // every line of a panel loaded (independent loads) just before its product
            long panelBytes = (long) k * Matmul.NR * 4;
            for (int p = 0; p < w.panels(); p++) {
                int x = 0;
                for (long o = w.panelOffset(p), end = o + panelBytes; o < end; o += 64) x ^= w.data().get(ValueLayout.JAVA_INT, o);
                sink ^= x;
                for (int k0 = 0; k0 < k; k0 += Matmul.KC)
                    Matmul.blockRows(a, k, 0, m, k0, Math.min(Matmul.KC, k - k0), w.data(), w.panelOffset(p) + (long) k0 * Matmul.NR * 4, k0 == 0, null, Matmul.Epilogue.STORE, c, ldc, (long) p * Matmul.NR * 4);
            }
            return;
        }
        for (int p = 0; p < w.panels(); p++) {
            boolean hotB = variant.equals("kernel") || variant.equals("bHot");
            boolean hotC = variant.equals("kernel") || variant.equals("cHot");
            if (!hotB && !hotC && !variant.equals("plain")) throw new IllegalArgumentException(variant);
            long bOff = hotB ? 0 : w.panelOffset(p);
            for (int k0 = 0; k0 < k; k0 += Matmul.KC) {
                int kb = Math.min(Matmul.KC, k - k0);
                long bk = hotB ? 0 : bOff + (long) k0 * Matmul.NR * 4;
                if (hotC) Matmul.blockRows(a, k, 0, m, k0, kb, w.data(), bk, k0 == 0, null, Matmul.Epilogue.STORE, cPanel, Matmul.NR, 0);
                else Matmul.blockRows(a, k, 0, m, k0, kb, w.data(), bk, k0 == 0, null, Matmul.Epilogue.STORE, c, ldc, (long) p * Matmul.NR * 4);
            }
        }
    }

    public static void main(String[] args) {
        int k = Integer.parseInt(args[0]), n = Integer.parseInt(args[1]);
        String[] variants = args[2].split(",");
        int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 8;
        int m = Matmul.padRows(Integer.getInteger("m", 198));
        int panels = Matmul.padCols(n) / Matmul.NR;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment a = MatmulTaskBench.random(arena, (long) m * k, 1), c = MatmulTaskBench.random(arena, (long) m * panels * Matmul.NR, 3);
            MemorySegment cPanel = MatmulTaskBench.random(arena, (long) m * Matmul.NR, 5);
            PackedMatrix[] w = MatmulTaskBench.weights(arena, k, n);
            if (!"false".equals(System.getProperty("jvit.hugePages")))   // on 2 MB pages, as the engine's weights are
                for (int i = 0; i < w.length; i++) {
                    MemorySegment data = HugePages.allocate(arena, w[i].data().byteSize());
                    data.copyFrom(w[i].data());
                    w[i] = new PackedMatrix(n, k, panels, data, w[i].bias());
                }
            long ldc = (long) panels * Matmul.NR;
            System.out.printf("M=%d K=%d N=%d, 1 thread, %d weights in turn%n", m, k, n, w.length);
            alternate(variants, rounds, 2000, 2.0 * m * k * n, (v, call) -> multiply(a, m, k, w[(int) (call % w.length)], c, ldc, cPanel, v));
        }
    }
}
