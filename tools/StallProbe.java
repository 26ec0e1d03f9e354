import io.jvit.engine.*;
import io.jvit.loader.ModelLoader;
import java.nio.file.Path;
import java.util.*;
/**
 * Where the slow passes after a pause go: one engine, N passes each after a pause of GAP ms; per pass the
 * per-stage times and the calling thread's time on CPU and waiting on the run queue
 * (/proc/thread-self/schedstat, Linux). Rows sorted by pass time.
 * <pre>
 * CP="engine/target/classes:loader/target/classes:$(ls cli/target/lib/*.jar | tr '\n' ':')"
 * $JAVA_HOME/bin/java --add-modules jdk.incubator.vector -cp "$CP" tools/StallProbe.java \
 *     bench-models/vit_ti_16.safetensors 2 60 50      # model threads passes gap-ms
 * </pre>
 */
public class StallProbe {
    public static void main(String[] a) throws Exception {
        ViTModel model = ModelLoader.load(Path.of(a[0]));
        int threads = Integer.parseInt(a[1]), n = Integer.parseInt(a[2]); long gap = Long.parseLong(a[3]);
        VisionTransformer vt = new VisionTransformer(model, threads);
        ViTConfig c = model.config();
        float[] px = new float[c.channels() * c.imageSize() * c.imageSize()];
        Random r = new Random(1); for (int i = 0; i < px.length; i++) px[i] = (float) r.nextGaussian();
        for (long t0 = System.nanoTime(); System.nanoTime() - t0 < 10_000_000_000L; ) vt.classify(px, 1);
        vt.profile(true);
        List<String> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Thread.sleep(gap);
            long[] before = vt.kernelNanos().clone();
            String[] ss0 = java.nio.file.Files.readString(Path.of("/proc/thread-self/schedstat")).trim().split(" ");
            long t0 = System.nanoTime();
            vt.classify(px, 1);
            double ms = (System.nanoTime() - t0) / 1e6;
            String[] ss1 = java.nio.file.Files.readString(Path.of("/proc/thread-self/schedstat")).trim().split(" ");
            long[] after = vt.kernelNanos();
            StringBuilder sb = new StringBuilder(String.format("%6.2f |", ms));
            for (int s = 0; s < after.length; s++) sb.append(String.format(" %5.2f", (after[s] - before[s]) / 1e6));
            sb.append(String.format(" | oncpu %.2f rqwait %.2f slices %d", (Long.parseLong(ss1[0]) - Long.parseLong(ss0[0])) / 1e6, (Long.parseLong(ss1[1]) - Long.parseLong(ss0[1])) / 1e6, Long.parseLong(ss1[2]) - Long.parseLong(ss0[2])));
            rows.add(sb.toString());
        }
        rows.sort(null);
        System.out.println("  ms   | " + Arrays.toString(VisionTransformer.Stage.values()));
        for (String s : rows) System.out.println(s);
        vt.close(); System.exit(0);
    }
}
