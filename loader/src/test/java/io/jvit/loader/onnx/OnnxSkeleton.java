package io.jvit.loader.onnx;

import com.google.protobuf.ByteString;
import io.jvit.loader.onnx.proto.Onnx;

import java.io.BufferedOutputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * By hand, for timing on a machine without the Python tool chain: {@code strip} writes an ONNX file's
 * graph with its float initializers emptied (a few hundred KB for ViT-B/16), {@code inflate} fills
 * them again with random N(0, 0.02) floats of the right sizes, giving a model of the same graph and
 * size (not the same weights) to time {@link OnnxLoadTiming} on.
 * <pre>
 * java ... io.jvit.loader.onnx.OnnxSkeleton strip bench-models/vit_b_16.onnx /tmp/vit_b_16.skeleton.onnx
 * java ... io.jvit.loader.onnx.OnnxSkeleton inflate /tmp/vit_b_16.skeleton.onnx /tmp/vit_b_16.onnx
 * </pre>
 */
public final class OnnxSkeleton {
    public static void main(String[] args) throws Exception {
        Onnx.ModelProto m = Onnx.ModelProto.parseFrom(Files.readAllBytes(Path.of(args[1])));
        Onnx.ModelProto.Builder b = m.toBuilder();
        SplittableRandom rnd = new SplittableRandom(2024);
        for (Onnx.TensorProto.Builder t : b.getGraphBuilder().getInitializerBuilderList()) {
            if (t.getDataType() != 1) continue;
            if (args[0].equals("strip")) {
                t.clearRawData().clearFloatData();
                continue;
            }
            long n = 1;
            for (long d : t.getDimsList()) n *= d;
            ByteBuffer bb = ByteBuffer.allocate(Math.toIntExact(n * 4)).order(ByteOrder.LITTLE_ENDIAN);
            boolean ones = t.getName().endsWith("ln_1.weight") || t.getName().endsWith("ln_2.weight") || t.getName().endsWith("ln.weight");
            for (long i = 0; i < n; i++) {
                double g = Math.sqrt(-2 * Math.log(1 - rnd.nextDouble())) * Math.cos(2 * Math.PI * rnd.nextDouble());
                bb.putFloat((float) ((ones ? 1 : 0) + 0.02 * g));
            }
            t.setRawData(ByteString.copyFrom(bb.array()));
        }
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(Path.of(args[2])), 1 << 20)) {
            b.build().writeTo(out);
        }
        System.out.printf("%s: %s, %.1f MB%n", args[0], args[2], Files.size(Path.of(args[2])) / 1e6);
    }
}
