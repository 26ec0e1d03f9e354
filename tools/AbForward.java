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
 * differ by up to 1.5x. Engine switches read at construction, e.g. jvit.batchSplit.
 *
 * <pre>
 * ./jvit bench --help >/dev/null   # builds the modules
 * CP="engine/target/classes:loader/target/classes:$(ls cli/target/lib/*.jar | tr '\n' ':')"
 * $JAVA_HOME/bin/java --add-modules jdk.incubator.vector -cp "$CP" tools/AbForward.java \
 *     bench-models/vit_ti_16.safetensors 2 2 40 jvit.batchSplit     # model threads batch rounds property
 * </pre>
 */
public class AbForward {
    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: AbForward MODEL THREADS BATCH ROUNDS PROPERTY");
            System.exit(2);
        }
        ViTModel model = ModelLoader.load(Path.of(args[0]));
        int threads = Integer.parseInt(args[1]), batch = Integer.parseInt(args[2]), rounds = Integer.parseInt(args[3]);
        String prop = args[4];
        System.setProperty(prop, "false");
        VisionTransformer a = new VisionTransformer(model, threads);
        System.setProperty(prop, "true");
        VisionTransformer b = new VisionTransformer(model, threads);
        ViTConfig c = model.config();
        float[] px = new float[batch * c.channels() * c.imageSize() * c.imageSize()];
        Random r = new Random(1);
        for (int i = 0; i < px.length; i++) px[i] = (float) r.nextGaussian();
        float[] la = null, lb = null;
        for (int i = 0; i < 10; i++) {
            la = a.classify(px, batch);
            lb = b.classify(px, batch);
        }
        double md = 0;
        for (int i = 0; i < la.length; i++) md = Math.max(md, Math.abs(la[i] - lb[i]));
        System.out.println("max |logit difference| " + md);
        double[] ta = new double[rounds], tb = new double[rounds], ratio = new double[rounds];
        for (int i = 0; i < rounds; i++) {
            for (int j = 0; j < 2; j++) {
                boolean runA = (j == 0) == (i % 2 == 0);
                long t0 = System.nanoTime();
                (runA ? a : b).classify(px, batch);
                double ms = (System.nanoTime() - t0) / 1e6;
                if (runA) ta[i] = ms;
                else tb[i] = ms;
            }
            ratio[i] = tb[i] / ta[i];
        }
        Arrays.sort(ta);
        Arrays.sort(tb);
        Arrays.sort(ratio);
        System.out.printf("%s=false median %.2f ms (min %.2f) | %s=true median %.2f ms (min %.2f) | true/false median %.3f (quartiles %.3f-%.3f)%n",
                prop, ta[rounds / 2], ta[0], prop, tb[rounds / 2], tb[0], ratio[rounds / 2], ratio[rounds / 4], ratio[3 * rounds / 4]);
        a.close();
        b.close();
        System.exit(0);
    }
}
