package io.jvit.loader.onnx;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;
import io.jvit.engine.EncoderBlock;
import io.jvit.engine.Linear;
import io.jvit.engine.ViTWeights;
import io.jvit.loader.ModelFormatException;
import io.jvit.loader.UnsupportedModelException;
import io.jvit.loader.onnx.proto.Onnx;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * An ONNX file, memory-mapped and parsed with protobuf-java without copying the weights: the
 * parser aliases {@code raw_data} into the mapping, and external data files are mapped beside it.
 * Everything lives in one shared arena that {@link #close()} releases.
 */
final class OnnxFile implements AutoCloseable {
    final Path path;
    final Path dir;
    final Arena arena = Arena.ofShared();
    /** The F32 weights of rewritten quantize_dynamic patterns, until they are requantized ({@link #dropDequantized}). */
    private final Arena dequantized = Arena.ofShared();
    final Onnx.ModelProto model;
    /** MatMulInteger patterns rewritten to float MatMuls (see {@link QuantizedMatMulPattern}). */
    final int quantizedMatMuls;
    private final Map<Path, MemorySegment> mapped = new HashMap<>();
    private final Map<String, Onnx.TensorProto> initializers = new HashMap<>();
    private final Map<String, Tensor> converted = new HashMap<>();
    final List<String> externalFiles = new java.util.ArrayList<>();
    private Path realDir;

    private OnnxFile(Path path) throws ModelFormatException {
        this.path = path;
        Path parent = path.toAbsolutePath().getParent();
        this.dir = parent == null ? Path.of("").toAbsolutePath() : parent;
        try {
            Onnx.ModelProto parsed = parse();
            // ONNX Runtime's quantize_dynamic MatMulInteger patterns become float MatMuls (requantized after import)
            this.quantizedMatMuls = QuantizedMatMulPattern.count(parsed);
            try {
                this.model = quantizedMatMuls > 0 ? QuantizedMatMulPattern.rewrite(parsed, dequantized) : parsed;
            } catch (UnsupportedModelException e) {
                throw new UnsupportedModelException(path + ": " + e.getMessage());
            }
            if (!model.hasGraph() || model.getGraph().getNodeCount() == 0)
                throw new ModelFormatException(path + ": not an ONNX model (the file holds no graph)");
            if (model.getOpsetImportCount() == 0 && model.getIrVersion() == 0)
                throw new ModelFormatException(path + ": not an ONNX model (no IR version and no operator set)");
            for (Onnx.TensorProto t : model.getGraph().getInitializerList()) initializers.put(t.getName(), t);
        } catch (ModelFormatException | RuntimeException e) {
            arena.close();
            dequantized.close();
            throw e;
        }
    }

    static OnnxFile open(Path path) throws ModelFormatException {
        return new OnnxFile(path);
    }

    private Onnx.ModelProto parse() throws ModelFormatException {
        long size;
        MemorySegment seg;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            size = ch.size();
            if (size == 0) throw new ModelFormatException(path + ": empty file, not an ONNX model");
            if (size > Integer.MAX_VALUE)
                throw new ModelFormatException(path + ": " + size + " bytes; an ONNX file over 2 GB is not valid protobuf (large models keep their weights in external data files)");
            seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(path + ": no such file");
        } catch (IOException e) {
            throw new ModelFormatException(path + ": cannot read: " + e.getMessage());
        }
        ByteBuffer buf = seg.asByteBuffer();
        // a ByteString over the mapping gives an "immutable" decoder, so bytes fields can alias it
        ByteString whole = UnsafeByteOperations.unsafeWrap(buf);
        CodedInputStream in = whole.newCodedInput();
        in.enableAliasing(true);
        in.setSizeLimit(Integer.MAX_VALUE);
        try {
            Onnx.ModelProto m = Onnx.ModelProto.parseFrom(in);
            in.checkLastTagWas(0);
            return m;
        } catch (InvalidProtocolBufferException e) {
            String why = e.getMessage() == null ? "malformed" : e.getMessage();
            if ((why.contains("ended unexpectedly") || why.contains("truncated")) && looksLikeOnnx(seg))
                throw new ModelFormatException(path + ": truncated or corrupt ONNX file (the protobuf data ends early)");
            throw new ModelFormatException(path + ": not an ONNX model (protobuf parse failed: " + firstLine(why) + ")");
        } catch (IOException e) {
            throw new ModelFormatException(path + ": cannot read: " + e.getMessage());
        } catch (RuntimeException e) {
            throw new ModelFormatException(path + ": not an ONNX model (protobuf parse failed: " + e.getClass().getSimpleName() + ")");
        }
    }

    /** ONNX files start with one of ModelProto's fields (ir_version, in practice). */
    private static boolean looksLikeOnnx(MemorySegment s) {
        int tag = s.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0) & 0xff;
        return tag == 0x08 || tag == 0x12 || tag == 0x1a || tag == 0x22 || tag == 0x28 || tag == 0x32 || tag == 0x3a || tag == 0x42;
    }

    private static String firstLine(String s) {
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    boolean isInitializer(String name) { return initializers.containsKey(name); }

    Onnx.TensorProto initializerProto(String name) { return initializers.get(name); }

    /** An initializer as a tensor view (converted once, cached). */
    Tensor initializer(String name) throws ModelFormatException {
        Tensor t = converted.get(name);
        if (t == null) {
            Onnx.TensorProto p = initializers.get(name);
            if (p == null) return null;
            t = tensor(p, "initializer '" + name + "'");
            converted.put(name, t);
        }
        return t;
    }

    /** A TensorProto (initializer or a Constant's value) as a tensor; {@code what} names it in errors. */
    Tensor tensor(Onnx.TensorProto p, String what) throws ModelFormatException {
        return decode(p, what, path + ": ", this);
    }

    /** A tensor held inline in a TensorProto (raw_data or the typed fields), as ONNX's test data files are. */
    static Tensor decodeInline(Onnx.TensorProto p, String what) throws ModelFormatException {
        return decode(p, what, "", null);
    }

    private static Tensor decode(Onnx.TensorProto p, String what, String prefix, OnnxFile file) throws ModelFormatException {
        ElemType type = ElemType.of(p.getDataType());
        if (type == null)
            throw new UnsupportedModelException(prefix + what + " has element type " + ElemType.onnxName(p.getDataType())
                    + ", which jvit does not support");
        if (p.hasSegment()) throw new UnsupportedModelException(prefix + what + " is a segmented tensor, which jvit does not support");
        long[] shape = new long[p.getDimsCount()];
        long n = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = p.getDims(i);
            if (shape[i] < 0) throw new ModelFormatException(prefix + what + " has a negative dimension " + shape[i]);
            try {
                n = Math.multiplyExact(n, shape[i]);
            } catch (ArithmeticException e) {
                throw new ModelFormatException(prefix + what + " has an impossibly large shape");
            }
        }
        long need = n * type.size;
        String shapeText = type + java.util.Arrays.toString(shape);
        MemorySegment data;
        if (p.getDataLocation() == Onnx.TensorProto.DataLocation.EXTERNAL) {
            if (file == null) throw new ModelFormatException(prefix + what + " refers to external data");
            data = file.external(p, what, need, shapeText);
        } else if (p.hasRawData()) {
            ByteString raw = p.getRawData();
            if (raw.size() != need)
                throw new ModelFormatException(prefix + what + " holds " + raw.size() + " bytes of data, its shape " + shapeText
                        + " needs " + need);
            ByteBuffer bb = raw.asReadOnlyByteBuffer();
            data = bb.isDirect() ? MemorySegment.ofBuffer(bb) : MemorySegment.ofArray(raw.toByteArray());
        } else {
            data = typed(p, type, n, prefix + what, shapeText);
        }
        return Tensor.contiguous(p.getName(), type, shape, data);
    }

    private static MemorySegment typed(Onnx.TensorProto p, ElemType type, long n, String what, String shapeText) throws ModelFormatException {
        int count;
        switch (type) {
            case FLOAT -> count = p.getFloatDataCount();
            case DOUBLE -> count = p.getDoubleDataCount();
            case INT64 -> count = p.getInt64DataCount();
            case UINT32, UINT64 -> count = p.getUint64DataCount();
            default -> count = p.getInt32DataCount();
        }
        if (count != n)
            throw new ModelFormatException(what + " holds " + count + " values, its shape " + shapeText + " needs " + n);
        MemorySegment s = MemorySegment.ofArray(new byte[Math.toIntExact(n * type.size)]);
        for (int i = 0; i < n; i++) {
            long o = (long) i * type.size;
            switch (type) {
                case FLOAT -> s.set(ElemType.F32, o, p.getFloatData(i));
                case DOUBLE -> s.set(ElemType.F64, o, p.getDoubleData(i));
                case INT64 -> s.set(ElemType.I64, o, p.getInt64Data(i));
                case UINT64 -> s.set(ElemType.I64, o, p.getUint64Data(i));
                case UINT32 -> s.set(ElemType.I32, o, (int) p.getUint64Data(i));
                case INT32 -> s.set(ElemType.I32, o, p.getInt32Data(i));
                case INT16, UINT16, FLOAT16, BFLOAT16 -> s.set(ElemType.I16, o, (short) p.getInt32Data(i));
                default -> s.set(java.lang.foreign.ValueLayout.JAVA_BYTE, o, (byte) p.getInt32Data(i));
            }
        }
        return s;
    }

    private MemorySegment external(Onnx.TensorProto p, String what, long need, String shapeText) throws ModelFormatException {
        String location = null;
        long offset = 0, length = -1;
        for (Onnx.StringStringEntryProto e : p.getExternalDataList()) {
            try {
                switch (e.getKey()) {
                    case "location" -> location = e.getValue();
                    case "offset" -> offset = Long.parseLong(e.getValue().trim());
                    case "length" -> length = Long.parseLong(e.getValue().trim());
                    default -> { }
                }
            } catch (NumberFormatException ex) {
                throw new ModelFormatException(path + ": " + what + " has a malformed external data " + e.getKey() + " '" + e.getValue() + "'");
            }
        }
        if (location == null || location.isEmpty())
            throw new ModelFormatException(path + ": " + what + " is stored externally but names no location");
        Path file = resolveExternal(location, what);
        MemorySegment whole = mapExternal(file, location, what);
        if (length < 0) length = need;
        if (offset < 0 || offset + length > whole.byteSize())
            throw new ModelFormatException(path + ": " + what + " reads bytes " + offset + ".." + (offset + length) + " of external file '"
                    + location + "', which holds " + whole.byteSize());
        if (length != need)
            throw new ModelFormatException(path + ": " + what + " holds " + length + " bytes of external data, its shape " + shapeText + " needs " + need);
        return whole.asSlice(offset, length);
    }

    private Path resolveExternal(String location, String what) throws ModelFormatException {
        Path rel;
        try {
            rel = Path.of(location);
        } catch (InvalidPathException e) {
            throw new ModelFormatException(path + ": " + what + " has an invalid external data location '" + location + "'");
        }
        if (rel.isAbsolute() || location.startsWith("/") || location.startsWith("\\") || location.matches("^[A-Za-z]:.*"))
            throw new ModelFormatException(path + ": " + what + " refers to external data at absolute path '" + location
                    + "'; only files inside the model's folder are read");
        Path base = dir.normalize();
        Path file = base.resolve(rel).normalize();
        if (!file.startsWith(base) || file.equals(base))
            throw new ModelFormatException(path + ": " + what + " refers to external data '" + location
                    + "' outside the model's folder; only files inside it are read");
        if (!Files.exists(file))
            throw new ModelFormatException(path + ": external data file '" + location + "' for " + what + " is missing (looked in " + base + ")");
        try {
            if (realDir == null) realDir = base.toRealPath();
            Path real = file.toRealPath();
            if (!real.startsWith(realDir))
                throw new ModelFormatException(path + ": " + what + " refers to external data '" + location
                        + "', a link that leads outside the model's folder; only files inside it are read");
            return real;
        } catch (IOException e) {
            throw new ModelFormatException(path + ": cannot open external data file '" + location + "': " + e.getMessage());
        }
    }

    private MemorySegment mapExternal(Path file, String location, String what) throws ModelFormatException {
        MemorySegment s = mapped.get(file);
        if (s != null) return s;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            s = ch.size() == 0 ? MemorySegment.NULL : ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        } catch (IOException e) {
            throw new ModelFormatException(path + ": cannot map external data file '" + location + "' for " + what + ": " + e.getMessage());
        }
        mapped.put(file, s);
        externalFiles.add(location);
        return s;
    }

    @Override
    public void close() {
        arena.close();
        if (dequantized.scope().isAlive()) dequantized.close();
    }

    /**
     * Frees the dequantized F32 weights once the model's Linears are int8: a Linear that still reads them (a layer
     * quantize_dynamic quantized but jvit keeps in F32, such as a head) is copied into the model's arena first.
     * The graph and its initializers are not read after this.
     */
    ViTWeights dropDequantized(ViTWeights w) {
        var blocks = new java.util.ArrayList<EncoderBlock>();
        for (var b : w.blocks())
            blocks.add(new EncoderBlock(b.norm1(), own(b.qkv()), own(b.proj()), b.norm2(), own(b.fc1()), own(b.fc2())));
        var kept = new ViTWeights(own(w.patchEmbedding()), w.classToken(), w.distillationToken(), w.positionEmbedding(),
                blocks, w.finalNorm(), own(w.preLogits()), own(w.head()), own(w.distillationHead()));
        initializers.clear();
        converted.clear();
        dequantized.close();
        return kept;
    }

    /** Whether the dequantized F32 weights are still held (until {@link #dropDequantized}). */
    boolean holdsDequantized() { return dequantized.scope().isAlive(); }

    /** Whether {@code s} is part of the dequantized F32 weights. */
    boolean isDequantized(MemorySegment s) { return s.scope().equals(dequantized.scope()); }

    /** l, or an F32 [out][in] copy of it in the model's arena when it reads the dequantized weights. */
    private Linear own(Linear l) {
        if (l == null || l.dtype() == Linear.DType.I8) return l;
        boolean reads = l.weightSegments().stream().anyMatch(this::isDequantized) || l.bias() != null && isDequantized(l.bias());
        if (!reads) return l;
        MemorySegment w = arena.allocate((long) l.outFeatures() * l.inFeatures() * 4, 64);
        l.copyF32(w);
        MemorySegment b = null;
        if (l.bias() != null) {
            b = arena.allocate((long) l.outFeatures() * 4, 64);
            MemorySegment.copy(l.bias(), 0, b, 0, b.byteSize());
        }
        return Linear.f32(l.outFeatures(), l.inFeatures(), w, b);
    }
}
