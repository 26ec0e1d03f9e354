import io.jvit.engine.ViTConfig;
import io.jvit.engine.ViTModel;
import io.jvit.engine.VisionTransformer;
import io.jvit.loader.ModelLoader;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

/**
 * Same-process A/B of a whole forward pass: two VisionTransformers of one model, built with a system
 * property set to "false" (A) and "true" (B), timed alternately (order alternating per round). On this
 * noisy host only such interleaved ratios are worth reading; two runs of one command minutes apart
 * differ by up to 1.5x. Engine switches read at construction, e.g. jvit.batchSplit. -Dsamples=true also prints
 * every timed pass of each engine, sorted (to tell a shifted median from a few stalls); -Dstages=true
 * the mean time of each stage of the pass (VisionTransformer.Stage) for each engine.
 *
 * <pre>
 * ./jvit bench --help >/dev/null   # builds the modules
 * CP="engine/target/classes:loader/target/classes:$(ls cli/target/lib/*.jar | tr '\n' ':')"
 * $JAVA_HOME/bin/java --add-modules jdk.incubator.vector -cp "$CP" tools/AbForward.java \
 *     bench-models/vit_ti_16.safetensors 2 2 40 jvit.batchSplit     # model threads batch rounds property
 * </pre>
 */
public class AbForward {
    private static VisionTransformer construct(ViTModel model, int threads, String prop, int which) {
        for (String p : prop.split(",")) {
            int eq = p.indexOf('=');
            if (eq < 0) System.setProperty(p, which == 0 ? "false" : "true");
            else System.setProperty(p.substring(0, eq), p.substring(eq + 1).split("/")[which]);
        }
        return new VisionTransformer(model, threads);
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: AbForward MODEL THREADS BATCH ROUNDS PROPERTY");
            System.exit(2);
        }
        ViTModel model = ModelLoader.load(Path.of(args[0]));
        int threads = Integer.parseInt(args[1]), batch = Integer.parseInt(args[2]), rounds = Integer.parseInt(args[3]);
        // PROPERTY: a boolean switch (A false, B true), or name=valueA/valueB[,name=valueA/valueB...]
        String prop = args[4];
        VisionTransformer a = construct(model, threads, prop, 0), b = construct(model, threads, prop, 1);
        long gapMs = Long.getLong("gapMs", 0);   // a pause before each timed pass (the workers park, the caches cool)
        int block = Integer.getInteger("block", 1);   // passes of one engine in a row per turn (their mean is timed)
        ViTConfig c = model.config();
        float[] px = new float[batch * c.channels() * c.imageSize() * c.imageSize()];
        Random r = new Random(1);
        for (int i = 0; i < px.length; i++) px[i] = (float) r.nextGaussian();
        float[] la = null, lb = null;
        // warm-up: 10 s, as long as C2 takes over the forward pass on 2 cores
        for (long t0 = System.nanoTime(); System.nanoTime() - t0 < 10_000_000_000L; ) {
            la = a.classify(px, batch);
            lb = b.classify(px, batch);
        }
        double md = 0;
        for (int i = 0; i < la.length; i++) md = Math.max(md, Math.abs(la[i] - lb[i]));
        System.out.println("max |logit difference| " + md);
        boolean stages = Boolean.getBoolean("stages");   // per-stage totals of each engine (profiling on: two clock reads a stage)
        a.profile(stages);
        b.profile(stages);
        double[] ta = new double[rounds], tb = new double[rounds], ratio = new double[rounds];
        for (int i = 0; i < rounds; i++) {
            for (int j = 0; j < 2; j++) {
                boolean runA = (j == 0) == (i % 2 == 0);
                double ms = 0;
                for (int k = 0; k < block; k++) {
                    if (gapMs > 0) Thread.sleep(gapMs);
                    long t0 = System.nanoTime();
                    (runA ? a : b).classify(px, batch);
                    ms += (System.nanoTime() - t0) / 1e6 / block;
                }
                if (runA) ta[i] = ms;
                else tb[i] = ms;
            }
            ratio[i] = tb[i] / ta[i];
        }
        Arrays.sort(ta);
        Arrays.sort(tb);
        Arrays.sort(ratio);
        if (Boolean.getBoolean("samples")) System.out.println("A " + Arrays.toString(ta) + "\nB " + Arrays.toString(tb));
        if (stages) {
            long[] na = a.kernelNanos(), nb = b.kernelNanos();
            VisionTransformer.Stage[] names = VisionTransformer.Stage.values();
            for (int i = 0; i < names.length; i++)
                System.out.printf("  %-16s A %8.3f ms  B %8.3f ms  B/A %.3f%n", names[i], na[i] / 1e6 / rounds, nb[i] / 1e6 / rounds,
                        (double) nb[i] / Math.max(1, na[i]));
        }
        if (!prop.contains("=")) prop = prop + "=false/true";
        System.out.printf("A median %.2f ms (min %.2f) | B median %.2f ms (min %.2f) | B/A median %.3f (quartiles %.3f-%.3f)  [%s]%n",
                ta[rounds / 2], ta[0], tb[rounds / 2], tb[0], ratio[rounds / 2], ratio[rounds / 4], ratio[3 * rounds / 4], prop);
        a.close();
        b.close();
        System.exit(0);
    }
}
