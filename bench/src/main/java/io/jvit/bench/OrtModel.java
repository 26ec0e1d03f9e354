package io.jvit.bench;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import io.jvit.cli.CliException;
import io.jvit.cli.Exit;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * An ONNX image classifier run by ONNX Runtime's Java API, set up as the peer figures were measured:
 * graph optimisation ALL, T intra-op threads, one inter-op thread. Inputs are created once per batch
 * size (direct buffers) and reused, so a timed run is the session's run and nothing else.
 */
final class OrtModel implements AutoCloseable {
    private final Path path;
    private final OrtEnvironment env;
    private final OrtSession session;
    private final String input, output;
    private final long[] inputShape, outputShape;
    private final Map<Integer, OnnxTensor> tensors = new HashMap<>();

    /**
     * Opens {@code path} and checks it against the jvit model: one NCHW float input with {@code channels}
     * and {@code size} x {@code size} (or dynamic) and an [N, classes] output.
     */
    OrtModel(Path path, int threads, int channels, int size, int classes) {
        this.path = path;
        if (!Files.exists(path)) throw new CliException(Exit.IO, path + ": no such file");
        if (!Files.isRegularFile(path) || !Files.isReadable(path)) throw new CliException(Exit.IO, path + ": not a readable file");
        this.env = OrtEnvironment.getEnvironment(OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL, "jvit-bench");
        OrtSession s = null;
        try {
            OrtSession.SessionOptions so = new OrtSession.SessionOptions();
            so.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            so.setIntraOpNumThreads(threads);
            so.setInterOpNumThreads(1);
            String spin = System.getProperty("jvit.ort.spin");
            if (spin != null) so.addConfigEntry("session.intra_op.allow_spinning", spin);
            so.setSessionLogLevel(OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL);
            s = env.createSession(path.toString(), so);
        } catch (OrtException | RuntimeException e) {
            throw new CliException(Exit.MODEL, path + ": not a model ONNX Runtime can load: " + firstLine(e));
        }
        this.session = s;
        try {
            Map<String, NodeInfo> ins = session.getInputInfo(), outs = session.getOutputInfo();
            if (ins.size() != 1) fail("has " + ins.size() + " inputs, expected one image tensor");
            NodeInfo in = ins.values().iterator().next();
            NodeInfo out = outs.values().iterator().next();
            this.input = in.getName();
            this.output = out.getName();
            if (!(in.getInfo() instanceof TensorInfo ti) || ti.type != OnnxJavaType.FLOAT)
                throw fail("input '" + input + "' is not a float tensor");
            if (!(out.getInfo() instanceof TensorInfo to))
                throw fail("output '" + output + "' is not a tensor");
            this.inputShape = ti.getShape();
            this.outputShape = to.getShape();
            long[] want = {-1, channels, size, size};
            boolean ok = inputShape.length == 4;
            for (int i = 1; ok && i < 4; i++) ok = inputShape[i] < 0 || inputShape[i] == want[i];
            if (!ok) throw fail("input shape " + shape(inputShape) + " does not match the jvit model's [N, " + channels + ", " + size + ", " + size + "]");
            if (outputShape.length != 2 || (outputShape[1] >= 0 && outputShape[1] != classes))
                throw fail("output shape " + shape(outputShape) + " does not match the jvit model's [N, " + classes + "]");
        } catch (OrtException e) {
            close();
            throw new CliException(Exit.MODEL, path + ": " + firstLine(e));
        } catch (CliException e) {
            close();
            throw e;
        }
    }

    private CliException fail(String why) {
        throw new CliException(Exit.MODEL, path + ": ONNX model does not match: " + why);
    }

    static String shape(long[] s) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < s.length; i++) b.append(i > 0 ? ", " : "").append(s[i] < 0 ? "N" : Long.toString(s[i]));
        return b.append(']').toString();
    }

    private static String firstLine(Exception e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return m.lines().map(String::strip).filter(l -> !l.isEmpty()).findFirst().orElse(m);
    }

    String version() { return env.getVersion(); }

    /** A fixed batch size in the graph (the batch dimension not dynamic), or -1. */
    long fixedBatch() { return inputShape[0]; }

    /** Prepares the input tensor for a batch (not timed). */
    void prepare(float[] pixels, int images) {
        OnnxTensor old = tensors.remove(images);
        if (old != null) old.close();
        ByteBuffer bb = ByteBuffer.allocateDirect(pixels.length * 4).order(ByteOrder.nativeOrder());
        FloatBuffer fb = bb.asFloatBuffer();
        fb.put(pixels).rewind();
        long per = pixels.length / images;
        long hw = per / inputShape[1];
        long side = Math.round(Math.sqrt(hw));
        try {
            tensors.put(images, OnnxTensor.createTensor(env, fb, new long[] {images, inputShape[1], side, side}));
        } catch (OrtException e) {
            throw new CliException(Exit.INTERNAL, "ONNX Runtime: " + firstLine(e));
        }
    }

    /** Runs the prepared batch; returns the logits when {@code keep}, else null. */
    float[] run(int images, boolean keep) {
        OnnxTensor t = tensors.get(images);
        try (OrtSession.Result r = session.run(Map.of(input, t))) {
            if (!keep) return null;
            OnnxTensor o = (OnnxTensor) r.get(0);
            FloatBuffer fb = o.getFloatBuffer();
            float[] out = new float[fb.remaining()];
            fb.get(out);
            return out;
        } catch (OrtException e) {
            throw new CliException(Exit.MODEL, path + ": ONNX Runtime failed to run it: " + firstLine(e));
        }
    }

    @Override
    public void close() {
        for (OnnxTensor t : tensors.values()) t.close();
        tensors.clear();
        try {
            if (session != null) session.close();
        } catch (OrtException ignored) {
            // closing: nothing to do
        }
    }

    @Override
    public String toString() { return path + " " + shape(inputShape) + " -> " + shape(outputShape); }
}
