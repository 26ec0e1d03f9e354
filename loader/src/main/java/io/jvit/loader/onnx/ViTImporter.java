package io.jvit.loader.onnx;

import io.jvit.loader.ModelFormatException;
import io.jvit.loader.UnsupportedModelException;
import io.jvit.loader.onnx.Values.Act;
import io.jvit.loader.onnx.Values.Atom;
import io.jvit.loader.onnx.Values.Const;
import io.jvit.loader.onnx.Values.Ints;
import io.jvit.loader.onnx.Values.Space;
import io.jvit.loader.onnx.Values.Value;
import io.jvit.loader.onnx.proto.Onnx;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Walks an ONNX graph in topological order and gives every value an abstract meaning (see
 * {@link Values} and {@link Sem}): constants are folded, shape arithmetic is kept symbolic in the
 * batch size, and activations are tracked as "the residual stream", "LayerNorm of it", "a projection
 * of that", "attention scores of q and k"... Each operator has rules for the meanings it may meet; a
 * node that fits none stops the import with a one-line reason. What reaches the graph output must be
 * a ViT's logits, and the importer then knows every weight and how it is laid out.
 */
final class ViTImporter {
    private final OnnxFile file;
    private final Onnx.GraphProto graph;
    private final Map<String, Value> env = new HashMap<>();
    private final Set<String> undefinedOutputs = new HashSet<>();
    final int opset;
    private Onnx.NodeProto node;

    String inputName, outputName;
    Dim batchDim;
    boolean decomposedLn, lnOp, erfGelu, geluOp;
    int liveNodes;

    ViTImporter(OnnxFile file) throws ModelFormatException {
        this.file = file;
        this.graph = file.model.getGraph();
        int v = -1;
        for (Onnx.OperatorSetIdProto o : file.model.getOpsetImportList())
            if (o.getDomain().isEmpty() || o.getDomain().equals("ai.onnx")) v = (int) o.getVersion();
        if (v < 0) throw new ModelFormatException(file.path + ": the model imports no version of the default ONNX operator set");
        this.opset = v;
    }

    /** Interprets the graph; returns the output's abstract value. */
    Act run() throws ModelFormatException {
        bindInput();
        List<Onnx.NodeProto> order = liveNodesInOrder();
        liveNodes = order.size();
        for (Onnx.NodeProto n : order) {
            node = n;
            try {
                Value[] out = eval();
                for (int i = 0; i < n.getOutputCount(); i++) {
                    String name = n.getOutput(i);
                    if (name.isEmpty()) continue;
                    if (i < out.length && out[i] != null) env.put(name, out[i]);
                    else undefinedOutputs.add(name);
                }
            } catch (Refusal r) {
                throw fail(r);
            } catch (RuntimeException e) {
                // anything else is a graph this importer did not foresee: still one line, naming the node
                throw fail(new Refusal("cannot interpret it (" + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": "
                        + e.getMessage().lines().findFirst().orElse("")) + ")"));
            }
        }
        node = null;
        Value out = env.get(outputName);
        if (!(out instanceof Act a))
            throw new UnsupportedModelException(file.path + ": the graph output '" + outputName + "' is a constant, not a model's prediction");
        return a;
    }

    private ModelFormatException fail(Refusal r) {
        String where = node == null ? "" : "node " + nodeName(node) + ": ";
        String msg = file.path + ": " + where + r.getMessage();
        return r.formatError ? new ModelFormatException(msg) : new UnsupportedModelException(msg);
    }

    static String nodeName(Onnx.NodeProto n) {
        String name = n.getName().isEmpty() ? (n.getOutputCount() > 0 ? "-> " + n.getOutput(0) : "?") : n.getName();
        return "'" + name + "' (" + (n.getDomain().isEmpty() ? "" : n.getDomain() + ".") + n.getOpType() + ")";
    }

    ModelFormatException outputFail(String why) {
        return new UnsupportedModelException(file.path + ": graph output '" + outputName + "': " + why);
    }

    // ---- graph plumbing ----------------------------------------------------------------------------

    private void bindInput() throws ModelFormatException {
        List<Onnx.ValueInfoProto> inputs = new ArrayList<>();
        for (Onnx.ValueInfoProto v : graph.getInputList()) if (!file.isInitializer(v.getName())) inputs.add(v);
        if (inputs.size() != 1) {
            List<String> names = inputs.stream().map(Onnx.ValueInfoProto::getName).toList();
            throw new UnsupportedModelException(file.path + ": the graph has " + inputs.size() + " inputs " + names
                    + "; a ViT has one, the images");
        }
        if (graph.getOutputCount() != 1) {
            List<String> names = graph.getOutputList().stream().map(Onnx.ValueInfoProto::getName).toList();
            throw new UnsupportedModelException(file.path + ": the graph has " + graph.getOutputCount() + " outputs " + names
                    + "; jvit imports graphs with one output, the logits");
        }
        outputName = graph.getOutput(0).getName();
        Onnx.ValueInfoProto in = inputs.get(0);
        inputName = in.getName();
        if (!in.getType().hasTensorType())
            throw new UnsupportedModelException(file.path + ": graph input '" + inputName + "' is not a tensor");
        Onnx.TypeProto.Tensor tt = in.getType().getTensorType();
        if (tt.getElemType() != 1)
            throw new UnsupportedModelException(file.path + ": graph input '" + inputName + "' has element type "
                    + ElemType.onnxName(tt.getElemType()) + "; jvit feeds FLOAT images");
        if (!tt.hasShape() || tt.getShape().getDimCount() != 4)
            throw new UnsupportedModelException(file.path + ": graph input '" + inputName + "' is not a 4-D image batch [N, C, H, W]"
                    + (tt.hasShape() ? " (it has " + tt.getShape().getDimCount() + " dimensions)" : " (no shape given)"));
        Onnx.TensorShapeProto.Dimension n = tt.getShape().getDim(0), c = tt.getShape().getDim(1);
        batchDim = n.hasDimValue() && n.getDimValue() > 0 ? Dim.of(n.getDimValue()) : Dim.BATCH;
        if (!c.hasDimValue())
            throw new UnsupportedModelException(file.path + ": graph input '" + inputName + "' has no fixed channel count");
        Dim h = dimOf(tt.getShape().getDim(2)), w = dimOf(tt.getShape().getDim(3));
        int ch = (int) c.getDimValue();
        long[] ext = Values.spaces();
        ext[Space.IMG_C.ordinal()] = ch;
        List<List<Atom>> axes = new ArrayList<>();
        axes.add(List.of(new Atom(Space.BATCH, batchDim, 1)));
        axes.add(List.of(new Atom(Space.IMG_C, Dim.of(ch), 1)));
        axes.add(h == null ? List.of() : List.of(new Atom(Space.IMG_Y, h, 1)));
        axes.add(w == null ? List.of() : List.of(new Atom(Space.IMG_X, w, 1)));
        env.put(inputName, new Act(axes, Values.spaces(), ext, new Sem.Image(ch, h, w)));
    }

    /** A fixed spatial size, or null where the graph leaves it free (the engine takes it from the weights). */
    private static Dim dimOf(Onnx.TensorShapeProto.Dimension d) {
        return d.hasDimValue() && d.getDimValue() > 0 ? Dim.of(d.getDimValue()) : null;
    }

    private List<Onnx.NodeProto> liveNodesInOrder() throws ModelFormatException {
        List<Onnx.NodeProto> nodes = graph.getNodeList();
        Map<String, Integer> producer = new HashMap<>();
        for (int i = 0; i < nodes.size(); i++)
            for (String o : nodes.get(i).getOutputList())
                if (!o.isEmpty() && producer.put(o, i) != null)
                    throw new ModelFormatException(file.path + ": value '" + o + "' is produced by two nodes");
        boolean[] live = new boolean[nodes.size()];
        Deque<String> work = new ArrayDeque<>(List.of(outputName));
        Set<String> seen = new HashSet<>();
        while (!work.isEmpty()) {
            String v = work.pop();
            if (!seen.add(v)) continue;
            Integer p = producer.get(v);
            if (p == null) {
                if (!v.equals(inputName) && !file.isInitializer(v))
                    throw new ModelFormatException(file.path + ": value '" + v + "' is used but no node, input or initializer defines it");
                continue;
            }
            if (live[p]) continue;
            live[p] = true;
            for (String i : nodes.get(p).getInputList()) if (!i.isEmpty()) work.push(i);
        }
        // Kahn's algorithm over live nodes, stable in file order (exported graphs are sorted already)
        Set<String> ready = new HashSet<>(Set.of(inputName));
        List<Onnx.NodeProto> order = new ArrayList<>();
        LinkedHashSet<Integer> pending = new LinkedHashSet<>();
        for (int i = 0; i < nodes.size(); i++) if (live[i]) pending.add(i);
        boolean progress = true;
        while (!pending.isEmpty() && progress) {
            progress = false;
            for (var it = pending.iterator(); it.hasNext(); ) {
                int i = it.next();
                boolean ok = true;
                for (String in : nodes.get(i).getInputList())
                    if (!in.isEmpty() && !ready.contains(in) && !file.isInitializer(in)) { ok = false; break; }
                if (ok) {
                    order.add(nodes.get(i));
                    ready.addAll(nodes.get(i).getOutputList());
                    it.remove();
                    progress = true;
                }
            }
        }
        if (!pending.isEmpty())
            throw new ModelFormatException(file.path + ": the graph has a cycle through node " + nodeName(nodes.get(pending.iterator().next())));
        return order;
    }

    // ---- attribute and input access ---------------------------------------------------------------

    private Onnx.AttributeProto attr(String name) {
        for (Onnx.AttributeProto a : node.getAttributeList()) if (a.getName().equals(name)) return a;
        return null;
    }

    private long attrInt(String name, long def) {
        Onnx.AttributeProto a = attr(name);
        return a == null ? def : a.getI();
    }

    private float attrFloat(String name, float def) {
        Onnx.AttributeProto a = attr(name);
        return a == null ? def : a.getF();
    }

    private long[] attrInts(String name) {
        Onnx.AttributeProto a = attr(name);
        if (a == null) return null;
        return a.getIntsList().stream().mapToLong(Long::longValue).toArray();
    }

    private String attrString(String name, String def) {
        Onnx.AttributeProto a = attr(name);
        return a == null ? def : a.getS().toStringUtf8();
    }

    private int nin() { return node.getInputCount(); }

    private boolean present(int i) { return i < node.getInputCount() && !node.getInput(i).isEmpty(); }

    private Value in(int i) {
        if (!present(i)) return null;
        String name = node.getInput(i);
        Value v = env.get(name);
        if (v != null) return v;
        if (undefinedOutputs.contains(name)) throw new Refusal("uses '" + name + "', an output jvit does not compute");
        try {
            Tensor t = file.initializer(name);
            if (t == null) throw new Refusal("reads '" + name + "', which is not defined before it", true);
            v = fromTensor(t);
        } catch (ModelFormatException e) {
            throw new Refusal(stripPath(e.getMessage()), !(e instanceof UnsupportedModelException));
        }
        env.put(name, v);
        return v;
    }

    private String stripPath(String msg) {
        String p = file.path + ": ";
        return msg.startsWith(p) ? msg.substring(p.length()) : msg;
    }

    private Value need(int i) {
        Value v = in(i);
        if (v == null) throw new Refusal("input " + i + " is missing", true);
        return v;
    }

    private static Value fromTensor(Tensor t) {
        if (!t.type.isFloat() && t.numel() <= 1 << 16) return Ints.ofLongs(t.shape, t.toLongArray());
        return new Const(t);
    }

    private Ints ints(Value v, String what) {
        if (v instanceof Ints i) return i;
        if (v instanceof Const c) {
            if (c.t().type.isFloat()) throw new Refusal(what + " is a float tensor where integers are needed");
            return Ints.ofLongs(c.t().shape, c.t().toLongArray());
        }
        throw new Refusal(what + " depends on the input images; jvit needs it constant");
    }

    /** A constant 1-D integer input (axes, starts, sizes...), as the operators' specifications require. */
    private long[] constVector(int i, String what) {
        Ints v = ints(need(i), what);
        if (v.shape().length != 1) throw new Refusal(what + " must be a 1-D tensor, it has shape " + Arrays.toString(v.shape()), true);
        return constLongs(i, what);
    }

    private long[] constLongs(int i, String what) {
        Ints v = ints(need(i), what);
        if (!v.isConst()) throw new Refusal(what + " " + v + " depends on the batch size");
        return v.longs();
    }

    private static Tensor tensorOf(Value v) {
        if (v instanceof Const c) return c.t();
        if (v instanceof Ints i && i.isConst()) {
            long[] l = i.longs();
            float[] f = new float[l.length];
            for (int k = 0; k < l.length; k++) f[k] = l[k];
            return Tensor.ofFloats("const", i.shape(), f);
        }
        return null;
    }

    /** A float constant (weights, biases, LayerNorm parameters, embeddings); null for activations. */
    private Tensor weightOf(Value v) {
        if (v == null || v instanceof Act) return null;
        if (v instanceof Ints) {
            String name = "";
            for (String n : node.getInputList()) if (env.get(n) == v) name = " '" + n + "'";
            throw new Refusal("the weight" + name + " is an integer tensor, not floating point");
        }
        Tensor t = ((Const) v).t();
        if (!t.type.isFloat()) throw new Refusal("the weight " + t.describe() + " is not floating point");
        return t;
    }

    /** A single number, or null when the value is not a 1-element constant. */
    private static Double scalar(Value v) {
        if (v instanceof Const c && c.t().numel() == 1) return c.t().getDouble(0);
        if (v instanceof Ints i && i.n() == 1 && i.v()[0].isConst()) return (double) i.v()[0].value();
        return null;
    }

    private static boolean isConstant(Value v) { return v instanceof Const || v instanceof Ints; }

    // ---- the operator rules -----------------------------------------------------------------------

    private Value[] eval() {
        String op = node.getOpType();
        String dom = node.getDomain();
        if (!dom.isEmpty() && !dom.equals("ai.onnx")) {
            if (dom.equals("com.microsoft") && (op.equals("Gelu") || op.equals("BiasGelu"))) return one(gelu(op));
            if (dom.equals("com.microsoft"))
                throw new Refusal("operator com.microsoft." + op + " (a graph optimised for ONNX Runtime) is not supported;"
                        + " import the exporter's original graph");
            throw new Refusal("operator domain '" + dom + "' is not supported (only the standard ONNX operators and com.microsoft Gelu)");
        }
        for (Onnx.AttributeProto a : node.getAttributeList())
            if (a.hasG() || a.getGraphsCount() > 0) throw new Refusal("control flow (subgraphs) is not part of a ViT");
        return switch (op) {
            case "Constant" -> one(constant());
            case "Identity" -> one(need(0));
            case "Dropout" -> dropout();
            case "Cast", "CastLike" -> one(cast());
            case "Shape" -> one(shape());
            case "Size" -> one(size());
            case "Gather" -> one(gather());
            case "Unsqueeze" -> one(unsqueeze());
            case "Squeeze" -> one(squeeze());
            case "Reshape" -> one(reshape());
            case "Flatten" -> one(flatten());
            case "Transpose" -> one(transpose());
            case "Slice" -> one(slice());
            case "Split" -> split();
            case "Concat" -> one(concat());
            case "Expand" -> one(expand());
            case "Tile" -> one(tile());
            case "ConstantOfShape" -> one(constantOfShape());
            case "Range" -> one(range());
            case "Where" -> one(where());
            case "Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or",
                 "Max", "Min", "Mod" -> one(binary(op));
            case "Sqrt", "Reciprocal", "Neg", "Abs", "Floor", "Ceil", "Erf", "Tanh", "Exp", "Log", "Not", "Relu", "Sigmoid",
                 "Round", "Sign" -> one(unary(op));
            case "ReduceMean" -> one(reduceMean());
            case "LayerNormalization" -> layerNormalization();
            case "MatMul" -> one(matmul());
            case "Gemm" -> one(gemm());
            case "Softmax" -> one(softmax());
            case "Conv" -> one(conv());
            case "Gelu" -> one(gelu(op));
            default -> throw new Refusal("operator " + op + " is not part of a ViT that jvit imports");
        };
    }

    private static Value[] one(Value v) { return new Value[] {v}; }

    private Value constant() {
        Onnx.AttributeProto a = node.getAttributeCount() == 1 ? node.getAttribute(0) : null;
        if (a == null) throw new Refusal("a Constant needs exactly one value attribute", true);
        switch (a.getName()) {
            case "value" -> {
                try {
                    return fromTensor(file.tensor(a.getT(), "the constant"));
                } catch (ModelFormatException e) {
                    throw new Refusal(stripPath(e.getMessage()), !(e instanceof UnsupportedModelException));
                }
            }
            case "value_float" -> { return new Const(Tensor.ofFloats("const", new long[0], new float[] {a.getF()})); }
            case "value_floats" -> {
                float[] f = new float[a.getFloatsCount()];
                for (int i = 0; i < f.length; i++) f[i] = a.getFloats(i);
                return new Const(Tensor.ofFloats("const", new long[] {f.length}, f));
            }
            case "value_int" -> { return Ints.scalar(Dim.of(a.getI())); }
            case "value_ints" -> { return Ints.ofLongs(new long[] {a.getIntsCount()}, attrInts("value_ints")); }
            default -> throw new Refusal("Constant with a '" + a.getName() + "' value is not supported");
        }
    }

    private Value[] dropout() {
        if (present(2)) {
            Value t = in(2);
            Double s = scalar(t);
            if (s == null || s != 0) throw new Refusal("Dropout in training mode");
        }
        return new Value[] {need(0)}; // the mask output stays undefined
    }

    private Value cast() {
        Value x = need(0);
        int to;
        if (node.getOpType().equals("CastLike")) {
            Value like = need(1);
            to = like instanceof Ints ? 7 : 1;
        } else to = (int) attrInt("to", 1);
        ElemType t = ElemType.of(to);
        if (t == null) throw new Refusal("cast to " + ElemType.onnxName(to) + " is not supported");
        if (x instanceof Act a) {
            if (!t.isFloat()) throw new Refusal("casts an activation to " + t);
            if (t != ElemType.FLOAT) throw new Refusal("casts an activation to " + t + "; jvit computes in float32");
            return a;
        }
        if (x instanceof Ints i) {
            if (!t.isFloat()) return i;
            Tensor f = tensorOf(i);
            if (f == null) throw new Refusal("casts a batch-dependent size to float");
            return new Const(f);
        }
        Tensor c = ((Const) x).t();
        if (t.isFloat()) {
            if (c.type.isFloat() && c.type != ElemType.FLOAT && t == ElemType.FLOAT) return new Const(c.materialize(null));
            if (!c.type.isFloat()) return new Const(c.materialize(null).withName(c.name)); // ints to float
            return x;
        }
        // float to integer: truncation as C does
        double[] d = c.toDoubleArray();
        long[] l = new long[d.length];
        for (int k = 0; k < d.length; k++) l[k] = t == ElemType.BOOL ? (d[k] != 0 ? 1 : 0) : (long) d[k];
        return Ints.ofLongs(c.shape, l);
    }

    private Value shape() {
        Value x = need(0);
        Dim[] s;
        if (x instanceof Act a) s = a.shape();
        else if (x instanceof Const c) s = dims(c.t().shape);
        else s = dims(((Ints) x).shape());
        int r = s.length;
        long start = attrInt("start", 0), end = attrInt("end", r);
        if (start < 0) start += r;
        if (end < 0) end += r;
        start = Math.max(0, Math.min(r, start));
        end = Math.max(start, Math.min(r, end));
        return Ints.vector(Arrays.copyOfRange(s, (int) start, (int) end));
    }

    private Value size() {
        Value x = need(0);
        Dim n = Dim.of(1);
        if (x instanceof Act a) for (Dim d : a.shape()) n = n.times(d);
        else if (x instanceof Const c) n = Dim.of(c.t().numel());
        else n = Dim.of(((Ints) x).n());
        return Ints.scalar(n);
    }

    private static Dim[] dims(long[] s) {
        Dim[] d = new Dim[s.length];
        for (int i = 0; i < s.length; i++) d[i] = Dim.of(s[i]);
        return d;
    }

    private static int normAxis(long axis, int rank) {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw new Refusal("axis " + axis + " is out of range for rank " + rank, true);
        return (int) a;
    }

    // ---- Gather / Slice / Split / Squeeze / Unsqueeze / Reshape / Transpose / Concat --------------

    private Value gather() {
        Value data = need(0);
        Ints idx = ints(need(1), "the Gather indices");
        int axis;
        if (data instanceof Act a) {
            axis = normAxis(attrInt("axis", 0), a.rank());
            if (idx.n() != 1 || !idx.isConst())
                throw new Refusal("gathers " + idx.n() + " entries from an activation; only single-index selection is supported");
            long i = idx.longs()[0];
            Act r = Layout.select(a, axis, i, idx.shape().length == 0);
            checkSliceable(a, r);
            return r;
        }
        if (data instanceof Ints d) {
            axis = normAxis(attrInt("axis", 0), d.shape().length);
            return IntsOps.gather(d, axis, idx);
        }
        Tensor t = ((Const) data).t();
        axis = normAxis(attrInt("axis", 0), t.rank());
        if (!idx.isConst()) throw new Refusal("gathers with batch-dependent indices");
        long[] ix = idx.longs();
        long n = t.shape[axis];
        if (idx.shape().length == 0) return new Const(t.select(axis, wrap(ix[0], n)));
        // several indices: stack the selected slices along the axis
        List<Tensor> parts = new ArrayList<>();
        for (long i : ix) parts.add(t.select(axis, wrap(i, n)).unsqueeze(axis));
        Tensor cat = ConstOps.concat(parts, axis);
        long[] shp = new long[t.rank() - 1 + idx.shape().length];
        for (int k = 0, j = 0; k < t.rank(); k++) {
            if (k == axis) for (long s : idx.shape()) shp[j++] = s;
            else shp[j++] = t.shape[k];
        }
        return new Const(cat.reshape(shp));
    }

    private static long wrap(long i, long n) {
        long r = i < 0 ? i + n : i;
        if (r < 0 || r >= n) throw new Refusal("index " + i + " is out of range for size " + n, true);
        return r;
    }

    private Value slice() {
        Value x = need(0);
        long[] starts, ends, axes, steps;
        if (attr("starts") != null) {
            starts = attrInts("starts");
            ends = attrInts("ends");
            axes = attrInts("axes");
            steps = null;
        } else {
            Ints s = ints(need(1), "the Slice starts"), e = ints(need(2), "the Slice ends");
            if (s.shape().length != 1 || e.shape().length != 1 || s.n() != e.n())
                throw new Refusal("the Slice starts and ends must be 1-D tensors of one length", true);
            axes = present(3) ? constVector(3, "the Slice axes") : null;
            steps = present(4) ? constVector(4, "the Slice steps") : null;
            if (x instanceof Act a) return sliceAct(a, s.v(), e.v(), axes, steps);
            starts = s.longs();
            ends = e.longs();
        }
        if (x instanceof Act a) return sliceAct(a, dims(starts), dims(ends), axes, steps);
        int rank = x instanceof Ints i ? i.shape().length : ((Const) x).t().rank();
        Value r = x;
        for (int k = 0; k < starts.length; k++) {
            int axis = normAxis(axes == null ? k : axes[k], rank);
            long step = steps == null ? 1 : steps[k];
            if (r instanceof Ints i) r = IntsOps.slice(i, axis, starts[k], ends[k], step);
            else {
                Tensor t = ((Const) r).t();
                long[] b = sliceBounds(starts[k], ends[k], step, t.shape[axis]);
                if (step < 0) throw new Refusal("negative Slice steps on constants are not supported");
                r = new Const(t.slice(axis, b[0], b[1], step));
            }
        }
        return r;
    }

    static long[] sliceBounds(long start, long end, long step, long n) {
        if (step == 0) throw new Refusal("Slice step 0", true);
        if (start < 0) start += n;
        if (end < 0) end += n;
        if (step > 0) {
            start = Math.max(0, Math.min(n, start));
            end = Math.max(0, Math.min(n, end));
        } else {
            start = Math.max(-1, Math.min(n - 1, start));
            end = Math.max(-1, Math.min(n - 1, end));
        }
        return new long[] {start, end};
    }

    private Act sliceAct(Act a, Dim[] starts, Dim[] ends, long[] axes, long[] steps) {
        Act r = a;
        for (int k = 0; k < starts.length; k++) {
            int axis = normAxis(axes == null ? k : axes[k], a.rank());
            long step = steps == null ? 1 : steps[k];
            Act next = Layout.slice(r, axis, starts[k], ends[k], step);
            checkSliceable(r, next);
            r = next;
        }
        return r;
    }

    private Value[] split() {
        Value x = need(0);
        int rank = x instanceof Act a ? a.rank() : x instanceof Ints i ? i.shape().length : ((Const) x).t().rank();
        int axis = normAxis(attrInt("axis", 0), rank);
        Dim size = x instanceof Act a ? a.axisSize(axis) : Dim.of(x instanceof Ints i ? i.shape()[axis] : ((Const) x).t().shape[axis]);
        int outs = node.getOutputCount();
        long[] parts;
        if (present(1)) parts = constVector(1, "the Split sizes");
        else if (attr("split") != null) parts = attrInts("split");
        else {
            long n = size.value(), k = attr("num_outputs") != null ? attrInt("num_outputs", outs) : outs;
            long chunk = (n + k - 1) / k;
            parts = new long[(int) k];
            for (int i = 0; i < k; i++) parts[i] = Math.min(chunk, n - i * chunk);
        }
        Value[] r = new Value[parts.length];
        long start = 0;
        for (int i = 0; i < parts.length; i++) {
            long end = start + parts[i];
            if (x instanceof Act a) {
                r[i] = Layout.slice(a, axis, Dim.of(start), Dim.of(end), 1);
                checkSliceable(a, (Act) r[i]);
            } else if (x instanceof Ints v) r[i] = IntsOps.slice(v, axis, start, end, 1);
            else r[i] = new Const(((Const) x).t().slice(axis, start, end, 1));
            start = end;
        }
        return r;
    }

    /** Refuses selections of spaces whose parts mean nothing on their own (a stream's channels, heads...). */
    private void checkSliceable(Act before, Act after) {
        for (Space s : Space.values()) {
            if (before.base(s) == after.base(s) && countAtoms(before, s) == countAtoms(after, s) && sizeOf(before, s).equals(sizeOf(after, s)))
                continue;
            switch (s) {
                case TOKEN -> { }
                case CHAN -> {
                    if (!(before.sem instanceof Sem.Proj || before.sem instanceof Sem.Gelu || before.sem instanceof Sem.Hidden
                            || before.sem instanceof Sem.Tanh))
                        throw new Refusal("selects part of the channels of " + describe(before.sem));
                }
                case BATCH -> throw new Refusal("selects part of the batch; jvit runs every image the same way");
                default -> throw new Refusal("selects part of the " + s.name().toLowerCase() + " axis of " + describe(before.sem));
            }
        }
    }

    private static int countAtoms(Act a, Space s) { return a.find(s).size(); }

    private static Dim sizeOf(Act a, Space s) {
        Dim d = Dim.of(1);
        for (int[] f : a.find(s)) d = d.times(a.axes.get(f[0]).get(f[1]).size());
        return d;
    }

    private Value unsqueeze() {
        Value x = need(0);
        long[] axes = present(1) ? constVector(1, "the Unsqueeze axes") : attrInts("axes");
        if (axes == null) throw new Refusal("Unsqueeze without axes", true);
        int rank = (x instanceof Act a ? a.rank() : x instanceof Ints i ? i.shape().length : ((Const) x).t().rank()) + axes.length;
        int[] ax = new int[axes.length];
        for (int i = 0; i < axes.length; i++) ax[i] = normAxis(axes[i], rank);
        Arrays.sort(ax);
        if (x instanceof Act a) return Layout.unsqueeze(a, ax);
        if (x instanceof Ints i) return new Ints(insertOnes(i.shape(), ax), i.v());
        Tensor t = ((Const) x).t();
        for (int a : ax) t = t.unsqueeze(a);
        return new Const(t);
    }

    private static long[] insertOnes(long[] shape, int[] sortedAxes) {
        long[] r = new long[shape.length + sortedAxes.length];
        for (int i = 0, j = 0, k = 0; i < r.length; i++) {
            if (k < sortedAxes.length && sortedAxes[k] == i) {
                r[i] = 1;
                k++;
            } else r[i] = shape[j++];
        }
        return r;
    }

    private Value squeeze() {
        Value x = need(0);
        long[] axes = present(1) ? constVector(1, "the Squeeze axes") : attrInts("axes");
        if (x instanceof Act a) {
            Set<Integer> drop = new HashSet<>();
            if (axes == null) {
                for (int i = 0; i < a.rank(); i++) if (a.axes.get(i).isEmpty()) drop.add(i);
            } else for (long ax : axes) drop.add(normAxis(ax, a.rank()));
            for (int d : drop) if (!a.axes.get(d).isEmpty()) throw new Refusal("squeezes axis " + d + " of size " + a.axisSize(d));
            List<List<Atom>> out = new ArrayList<>();
            for (int i = 0; i < a.rank(); i++) if (!drop.contains(i)) out.add(a.axes.get(i));
            return a.with(out, a.base, a.sem);
        }
        long[] shape = x instanceof Ints i ? i.shape() : ((Const) x).t().shape;
        List<Long> ns = new ArrayList<>();
        Set<Integer> drop = new HashSet<>();
        if (axes == null) {
            for (int i = 0; i < shape.length; i++) if (shape[i] == 1) drop.add(i);
        } else for (long ax : axes) drop.add(normAxis(ax, shape.length));
        for (int i = 0; i < shape.length; i++) {
            if (drop.contains(i)) {
                if (shape[i] != 1) throw new Refusal("squeezes an axis of size " + shape[i], true);
            } else ns.add(shape[i]);
        }
        long[] s = ns.stream().mapToLong(Long::longValue).toArray();
        if (x instanceof Ints i) return new Ints(s, i.v());
        return new Const(((Const) x).t().reshape(s));
    }

    private Value reshape() {
        Value x = need(0);
        Ints target = ints(need(1), "the Reshape shape");
        boolean allowZero = attrInt("allowzero", 0) != 0;
        if (x instanceof Act a) return Layout.reshape(a, target.v(), allowZero);
        long[] shape = x instanceof Ints i ? i.shape() : ((Const) x).t().shape;
        if (!target.isConst()) throw new Refusal("reshapes a constant to a batch-dependent shape");
        long[] t = resolveShape(shape, target.longs(), allowZero);
        if (x instanceof Ints i) return new Ints(t, i.v());
        return new Const(((Const) x).t().reshape(t));
    }

    static long[] resolveShape(long[] in, long[] target, boolean allowZero) {
        long[] t = target.clone();
        long total = Tensor.numel(in), known = 1;
        int infer = -1;
        for (int i = 0; i < t.length; i++) {
            if (t[i] == 0 && !allowZero) t[i] = in[i];
            if (t[i] == -1) {
                if (infer >= 0) throw new Refusal("Reshape with two -1 dimensions", true);
                infer = i;
            } else known *= t[i];
        }
        if (infer >= 0) t[infer] = known == 0 ? 0 : total / known;
        if (Tensor.numel(t) != total) throw new Refusal("cannot reshape " + Arrays.toString(in) + " to " + Arrays.toString(target), true);
        return t;
    }

    private Value flatten() {
        Value x = need(0);
        if (x instanceof Act a) {
            int axis = (int) attrInt("axis", 1);
            if (axis < 0) axis += a.rank();
            Dim lead = Dim.of(1), rest = Dim.of(1);
            for (int i = 0; i < a.rank(); i++) {
                if (i < axis) lead = lead.times(a.axisSize(i));
                else rest = rest.times(a.axisSize(i));
            }
            return Layout.reshape(a, new Dim[] {lead, rest}, false);
        }
        long[] shape = x instanceof Ints i ? i.shape() : ((Const) x).t().shape;
        int axis = (int) attrInt("axis", 1);
        if (axis < 0) axis += shape.length;
        long lead = 1, rest = 1;
        for (int i = 0; i < shape.length; i++) {
            if (i < axis) lead *= shape[i];
            else rest *= shape[i];
        }
        long[] t = {lead, rest};
        if (x instanceof Ints i) return new Ints(t, i.v());
        return new Const(((Const) x).t().reshape(t));
    }

    private Value transpose() {
        Value x = need(0);
        int rank = x instanceof Act a ? a.rank() : x instanceof Ints i ? i.shape().length : ((Const) x).t().rank();
        long[] p = attrInts("perm");
        int[] perm = new int[rank];
        for (int i = 0; i < rank; i++) perm[i] = p == null ? rank - 1 - i : normAxis(p[i], rank);
        if (x instanceof Act a) {
            List<List<Atom>> out = new ArrayList<>();
            for (int i : perm) out.add(a.axes.get(i));
            return a.with(out, a.base, a.sem);
        }
        if (x instanceof Ints i) return IntsOps.transpose(i, perm);
        return new Const(((Const) x).t().transpose(perm));
    }

    private Value concat() {
        List<Value> vs = new ArrayList<>();
        for (int i = 0; i < nin(); i++) if (present(i)) vs.add(in(i));
        boolean anyAct = vs.stream().anyMatch(v -> v instanceof Act);
        if (!anyAct) {
            if (vs.stream().allMatch(v -> v instanceof Ints || (v instanceof Const c && !c.t().type.isFloat()))) {
                List<Ints> is = new ArrayList<>();
                for (Value v : vs) is.add(ints(v, "a Concat input"));
                int axis = normAxis(attrInt("axis", 0), is.get(0).shape().length);
                return IntsOps.concat(is, axis);
            }
            List<Tensor> ts = new ArrayList<>();
            for (Value v : vs) {
                Tensor t = tensorOf(v);
                if (t == null) throw new Refusal("concatenates a batch-dependent size with floats");
                ts.add(t);
            }
            return new Const(ConstOps.concat(ts, normAxis(attrInt("axis", 0), ts.get(0).rank())));
        }
        return embeddingConcat(vs);
    }

    private Value expand() {
        Value x = need(0);
        Ints shape = ints(need(1), "the Expand shape");
        if (shape.shape().length != 1) throw new Refusal("the Expand shape must be a 1-D tensor", true);
        for (Dim d : shape.v())
            if (d.isConst() && d.value() < 0) throw new Refusal("expands to a negative size " + shape + " (ONNX's Expand has no -1)", true);
        if (x instanceof Act a) {
            // a no-op when it only broadcasts size-1 dims that are already full
            Dim[] s = a.shape();
            if (shape.n() > s.length) throw new Refusal("expands an activation to a higher rank");
            for (int i = 0; i < shape.n(); i++) {
                Dim want = shape.v()[i], have = s[s.length - shape.n() + i];
                if (!(want.isConst() && want.value() == 1) && !Dim.equal(want, have))
                    throw new Refusal("broadcasts an activation from " + Arrays.toString(s) + " to " + shape);
            }
            return a;
        }
        if (x instanceof Ints i) return IntsOps.expand(i, shape);
        Tensor t = ((Const) x).t();
        if (shape.isConst()) {
            long[] target = ConstOps.broadcastShape(t.shape, shape.longs());
            return new Const(t.broadcastTo(target));
        }
        return prefixToken(t, shape.v());
    }

    /** {@code cls_token.repeat(B, 1, 1)}: Tile of a constant over the batch is a prefix token, like Expand. */
    private Value tile() {
        Value x = need(0);
        Ints reps = ints(need(1), "the Tile repeats");
        if (reps.shape().length != 1) throw new Refusal("the Tile repeats must be a 1-D tensor", true);
        int rank = x instanceof Act a ? a.rank() : x instanceof Ints i ? i.shape().length : ((Const) x).t().rank();
        if (reps.n() != rank) throw new Refusal("Tile with " + reps.n() + " repeats for rank " + rank, true);
        for (Dim d : reps.v()) if (d.isConst() && d.value() < 0) throw new Refusal("Tile with a negative repeat", true);
        boolean ones = true;
        for (Dim d : reps.v()) ones &= d.isConst() && d.value() == 1;
        if (ones) return x;
        if (x instanceof Act) throw new Refusal("repeats an activation " + reps + ", which is not part of a ViT");
        if (x instanceof Ints i) {
            if (!reps.isConst()) throw new Refusal("repeats a shape value a batch-dependent number of times");
            throw new Refusal("Tile of a shape value is not supported");
        }
        Tensor t = ((Const) x).t();
        Dim[] shape = new Dim[rank];
        for (int k = 0; k < rank; k++) {
            Dim r = reps.v()[k];
            if (t.shape[k] != 1 && !(r.isConst() && r.value() == 1))
                throw new Refusal("repeats a constant along an axis of size " + t.shape[k] + "; jvit knows Tile only for class tokens");
            shape[k] = t.shape[k] == 1 ? r : Dim.of(t.shape[k]);
        }
        if (reps.isConst()) {
            long[] target = new long[rank];
            for (int k = 0; k < rank; k++) target[k] = shape[k].value();
            return new Const(t.broadcastTo(target));
        }
        return prefixToken(t, shape);
    }

    private Value constantOfShape() {
        Ints s = ints(need(0), "the ConstantOfShape shape");
        if (!s.isConst()) throw new Refusal("builds a batch-dependent constant");
        long[] shape = s.longs();
        for (long d : shape) if (d < 0) throw new Refusal("ConstantOfShape with a negative dimension", true);
        if (Tensor.numel(shape) > 1 << 24) throw new Refusal("ConstantOfShape of " + Tensor.numel(shape) + " elements");
        Onnx.AttributeProto a = attr("value");
        Tensor v;
        try {
            v = a == null ? Tensor.ofFloats("zero", new long[] {1}, new float[] {0}) : file.tensor(a.getT(), "the ConstantOfShape value");
        } catch (ModelFormatException e) {
            throw new Refusal(stripPath(e.getMessage()), !(e instanceof UnsupportedModelException));
        }
        if (!v.type.isFloat()) {
            long x = v.getLong(0);
            long[] l = new long[(int) Tensor.numel(shape)];
            Arrays.fill(l, x);
            return Ints.ofLongs(shape, l);
        }
        float[] f = new float[(int) Tensor.numel(shape)];
        Arrays.fill(f, v.getFloat(0));
        return new Const(Tensor.ofFloats("const", shape, f));
    }

    private Value range() {
        Double s = scalar(need(0)), l = scalar(need(1)), d = scalar(need(2));
        if (s == null || l == null || d == null) throw new Refusal("Range over batch-dependent bounds");
        double count = Math.max(0, Math.ceil((l - s) / d));
        if (!(count <= 1 << 24)) throw new Refusal("Range of " + count + " elements");
        int n = (int) count;
        if (need(0) instanceof Ints) {
            long[] r = new long[n];
            for (int i = 0; i < n; i++) r[i] = (long) (s + i * d);
            return Ints.ofLongs(new long[] {n}, r);
        }
        float[] f = new float[n];
        for (int i = 0; i < n; i++) f[i] = (float) (s + i * d);
        return new Const(Tensor.ofFloats("range", new long[] {n}, f));
    }

    private Value where() {
        Value c = need(0), x = need(1), y = need(2);
        if (c instanceof Act || x instanceof Act || y instanceof Act)
            throw new Refusal("Where over activations (masking) is not part of a ViT");
        Ints cond = ints(c, "the Where condition");
        if (x instanceof Ints xi && y instanceof Ints yi) return IntsOps.where(cond, xi, yi);
        Tensor tx = tensorOf(x), ty = tensorOf(y);
        if (tx == null || ty == null || !cond.isConst()) throw new Refusal("Where mixes batch-dependent sizes and floats");
        return new Const(ConstOps.where(cond, tx, ty));
    }

    // ---- arithmetic ---------------------------------------------------------------------------------

    private Value unary(String op) {
        Value x = need(0);
        if (x instanceof Ints i) {
            if (op.equals("Not")) return IntsOps.map(i, d -> Dim.of(d.value() == 0 ? 1 : 0));
            if (op.equals("Neg")) return IntsOps.map(i, d -> Dim.of(0).minus(d));
            if (op.equals("Abs")) return IntsOps.map(i, d -> Dim.of(Math.abs(d.value())));
            if (op.equals("Floor") || op.equals("Ceil") || op.equals("Round")) return i;
            Tensor t = tensorOf(i);
            if (t == null) throw new Refusal(op + " of a batch-dependent size");
            return new Const(ConstOps.unary(op, t));
        }
        if (x instanceof Const c) return new Const(ConstOps.unary(op, c.t()));
        Act a = (Act) x;
        Sem s = a.sem;
        switch (op) {
            case "Sqrt" -> {
                if (s instanceof Sem.Ln ln && ln.stage() == Sem.LnStage.VAR_EPS) return a.withSem(ln.next(Sem.LnStage.STD));
            }
            case "Reciprocal" -> {
                if (s instanceof Sem.Ln ln && ln.stage() == Sem.LnStage.STD) return a.withSem(ln.next(Sem.LnStage.INV_STD));
            }
            case "Erf" -> {
                if (s instanceof Sem.Proj p && Math.abs(p.ratio() * Math.sqrt(2) - 1) < 1e-5) {
                    return a.withSem(new Sem.Gelu(Sem.GeluStage.ERF, p.rootOf(), 1));
                }
                throw new Refusal("erf of " + describe(s) + " is not the erf form of GELU (x / sqrt 2)");
            }
            case "Tanh" -> {
                if (s instanceof Sem.Proj p && p.input() instanceof Sem.Ln ln && Math.abs(p.ratio() - 1) < 1e-7) {
                    if (a.has(Space.TOKEN)) throw new Refusal("tanh over every token; jvit's pre-logits layer reads the class token");
                    finalFeatures(ln, p.inputAct(), "the pre-logits layer");
                    return a.withSem(new Sem.Tanh(p));
                }
                throw new Refusal("tanh of " + describe(s) + " (jvit knows tanh only as torchvision's pre-logits activation)");
            }
            case "Relu", "Sigmoid" -> throw new Refusal(op + " activation: jvit's ViT engine runs GELU (erf form) only");
            default -> { }
        }
        throw new Refusal(op + " of " + describe(s) + " is not part of a ViT that jvit imports");
    }

    private Value binary(String op) {
        Value a = need(0), b = need(1);
        if (isConstant(a) && isConstant(b)) {
            if (a instanceof Ints ia && b instanceof Ints ib) return IntsOps.binary(op, ia, ib);
            if ((a instanceof Ints ia && !ia.isConst()) || (b instanceof Ints ib && !ib.isConst()))
                throw new Refusal(op + " mixes a batch-dependent size with floats");
            Tensor ta = tensorOf(a), tb = tensorOf(b);
            return new Const(ConstOps.binary(op, ta, tb));
        }
        return switch (op) {
            case "Add" -> add(a, b);
            case "Sub" -> sub(a, b);
            case "Mul" -> mul(a, b);
            case "Div" -> div(a, b);
            case "Pow" -> pow(a, b);
            default -> throw new Refusal(op + " on " + describeValue(a) + " and " + describeValue(b) + " is not part of a ViT");
        };
    }

    /** A 1-element constant that may broadcast over {@code a} without raising its rank. */
    private static Double scalarFor(Act a, Value c) {
        Double s = scalar(c);
        if (s == null) return null;
        int rank = c instanceof Const k ? k.t().rank() : ((Ints) c).shape().length;
        if (rank > a.rank()) throw new Refusal("broadcasting a constant raises the activation's rank");
        return s;
    }

    /** A constant that broadcasts along the last axis only: [n] or [1, ..., 1, n]; else null. */
    private Tensor channelVector(Act a, Value c, long n) {
        Tensor t = weightOf(c);
        if (t == null || t.rank() > a.rank() || t.rank() == 0) return null;
        for (int i = 0; i < t.rank() - 1; i++) if (t.shape[i] != 1) return null;
        if (t.shape[t.rank() - 1] != n) return null;
        return t.reshape(new long[] {n});
    }

    private Value add(Value x, Value y) {
        if (x instanceof Act a && y instanceof Act b) {
            if (isStreamLike(a.sem) && b.sem instanceof Sem.Proj p) return residual(a, b, p);
            if (isStreamLike(b.sem) && a.sem instanceof Sem.Proj p) return residual(b, a, p);
            if (a.sem instanceof Sem.Proj && b.sem instanceof Sem.Proj) return headSum(a, b);
            throw new Refusal("adds " + describe(a.sem) + " and " + describe(b.sem) + ", which is not part of a ViT");
        }
        Act a = (Act) (x instanceof Act ? x : y);
        Value c = x instanceof Act ? y : x;
        Sem s = a.sem;
        if (s instanceof Sem.Tokens || s instanceof Sem.Patches) return addPositions(a, c);
        if (s instanceof Sem.Ln ln) {
            if (ln.stage() == Sem.LnStage.VAR) {
                Double eps = scalarFor(a, c);
                if (eps == null || !(eps > 0)) throw new Refusal("adds something other than a positive epsilon to a variance");
                return a.withSem(new Sem.Ln(Sem.LnStage.VAR_EPS, ln.src(), (float) (double) eps, null, null, true));
            }
            if (ln.stage() == Sem.LnStage.NORM || ln.stage() == Sem.LnStage.SCALED) {
                Tensor beta = channelVector(a, c, widthOf(a));
                if (beta == null) throw new Refusal("adds a constant that is not a per-channel LayerNorm bias");
                Tensor gamma = ln.stage() == Sem.LnStage.SCALED ? ln.gamma() : null;
                return a.withSem(new Sem.Ln(Sem.LnStage.NORMED, ln.src(), ln.eps(), gamma, beta, true));
            }
        }
        if (s instanceof Sem.Proj p) {
            Tensor v = channelVectorRows(a, c);
            if (v == null) throw new Refusal("adds a constant that is not a per-output bias to a linear layer's output");
            return a.withSem(p.withBias(ConstOps.addBias(p, v)));
        }
        if (s instanceof Sem.Gelu g && g.stage() == Sem.GeluStage.ERF) {
            Double one = scalarFor(a, c);
            if (one == null || one != 1.0) throw new Refusal("adds " + one + " to erf(x / sqrt 2); GELU adds 1");
            return a.withSem(new Sem.Gelu(Sem.GeluStage.ONE_PLUS_ERF, g.x(), 1));
        }
        throw new Refusal("adds a constant to " + describe(s) + ", which is not part of a ViT");
    }

    /** A bias for a projection's output rows: a vector along the last axis, indexed by row. Null if it is not one. */
    private Tensor channelVectorRows(Act a, Value c) {
        return channelVectorRows(a, c, 0f);
    }

    private Tensor channelVectorRows(Act a, Value c, float fill) {
        List<Atom> last = a.last();
        for (int i = 0; i < a.rank() - 1; i++)
            for (Atom at : a.axes.get(i)) if (at.space() == Space.CHAN) return null;
        for (Atom at : last) if (at.space() != Space.CHAN) return null;
        long n = 1;
        for (Atom at : last) n *= at.size().value();
        Tensor v = channelVector(a, c, n);
        if (v == null) return null;
        // scatter into the projection's row space
        Sem.Proj p = (Sem.Proj) a.sem;
        long[] rows = Layout.enumerate(a.last(), a.base, Space.CHAN);
        long out = p.out();
        boolean identity = rows.length == out;
        for (int i = 0; identity && i < rows.length; i++) identity = rows[i] == i;
        if (identity) return v;
        float[] full = new float[(int) out];
        Arrays.fill(full, fill);
        boolean[] set = new boolean[(int) out];
        for (int i = 0; i < rows.length; i++) {
            full[(int) rows[i]] = v.getFloat(i);
            set[(int) rows[i]] = true;
        }
        return Tensor.ofFloats(v.name, new long[] {out}, full);
    }

    private Value sub(Value x, Value y) {
        if (x instanceof Act a && y instanceof Act b && isStreamLike(a.sem) && b.sem instanceof Sem.Ln m && m.stage() == Sem.LnStage.MEAN) {
            Sem.Stream s = stream(a);
            if (m.src() != s) throw new Refusal("subtracts the mean of another tensor");
            if (!sameOuter(a, b)) throw new Refusal("subtracts a mean laid out differently from its input");
            return a.withSem(new Sem.Ln(Sem.LnStage.CENTERED, s, 0, null, null, true));
        }
        throw new Refusal("subtracts " + describeValue(y) + " from " + describeValue(x) + ", which is not part of a ViT");
    }

    private Value mul(Value x, Value y) {
        if (x instanceof Act a && y instanceof Act b) {
            if (a.sem instanceof Sem.Ln la && b.sem instanceof Sem.Ln lb && la.src() == lb.src()) {
                if (la.stage() == Sem.LnStage.CENTERED && lb.stage() == Sem.LnStage.CENTERED && a.sameLayout(b))
                    return a.withSem(la.next(Sem.LnStage.SQUARED));
                Act cen = la.stage() == Sem.LnStage.CENTERED ? a : b, inv = cen == a ? b : a;
                Sem.Ln li = (Sem.Ln) inv.sem;
                if (((Sem.Ln) cen.sem).stage() == Sem.LnStage.CENTERED && li.stage() == Sem.LnStage.INV_STD && sameOuter(cen, inv))
                    return cen.withSem(new Sem.Ln(Sem.LnStage.NORM, li.src(), li.eps(), null, null, true));
            }
            Act px = a.sem instanceof Sem.Proj ? a : b.sem instanceof Sem.Proj ? b : null;
            Act ge = px == a ? b : a;
            if (px != null && ge.sem instanceof Sem.Gelu g && g.stage() == Sem.GeluStage.ONE_PLUS_ERF) {
                Sem.Proj p = (Sem.Proj) px.sem;
                if (p.rootOf() != g.x() || !px.sameLayout(ge)) throw new Refusal("multiplies (1 + erf(x / sqrt 2)) by something other than x");
                return ge.withSem(new Sem.Gelu(Sem.GeluStage.PRODUCT, g.x(), p.ratio()));
            }
            if (a.sem instanceof Sem.Proj pa && b.sem instanceof Sem.Proj pb && pa.rootOf() == pb.rootOf())
                throw new Refusal("multiplies a linear layer's output by itself, as the tanh approximation of GELU does; " + TANH_GELU);
            if (a.sem instanceof Sem.Gelu ga && b.sem instanceof Sem.Gelu gb) {
                throw new Refusal("multiplies two parts of GELU in an order jvit does not recognise");
            }
            throw new Refusal("multiplies " + describe(a.sem) + " by " + describe(b.sem) + ", which is not part of a ViT");
        }
        Act a = (Act) (x instanceof Act ? x : y);
        Value c = x instanceof Act ? y : x;
        Double k = scalarFor(a, c);
        Sem s = a.sem;
        if (s instanceof Sem.Ln ln && ln.stage() == Sem.LnStage.NORM) {
            Tensor gamma = channelVector(a, c, widthOf(a));
            if (gamma == null) throw new Refusal("multiplies a normalised stream by something other than a per-channel LayerNorm weight");
            return a.withSem(new Sem.Ln(Sem.LnStage.SCALED, ln.src(), ln.eps(), gamma, null, true));
        }
        if (k == null && s instanceof Sem.Proj p) {
            // LayerScale: a learned per-channel factor on a projection's output, folded into its weights
            Tensor v = channelVectorRows(a, c, 1f);
            if (v == null) throw new Refusal("multiplies a linear layer's output by a constant that is not one factor per output");
            return a.withSem(p.withRowScale(v.toFloatArray()));
        }
        if (k == null) throw new Refusal("multiplies " + describe(s) + " by a non-scalar constant, which is not part of a ViT");
        return scaleBy(a, k);
    }

    private Value div(Value x, Value y) {
        if (x instanceof Act a && y instanceof Act b) {
            if (a.sem instanceof Sem.Ln la && b.sem instanceof Sem.Ln lb && la.stage() == Sem.LnStage.CENTERED
                    && lb.stage() == Sem.LnStage.STD && la.src() == lb.src() && sameOuter(a, b))
                return a.withSem(new Sem.Ln(Sem.LnStage.NORM, lb.src(), lb.eps(), null, null, true));
            throw new Refusal("divides " + describe(a.sem) + " by " + describe(b.sem) + ", which is not part of a ViT");
        }
        if (!(x instanceof Act a)) throw new Refusal("divides a constant by an activation, which is not part of a ViT");
        Double k = scalarFor(a, y);
        if (k == null || k == 0) throw new Refusal("divides " + describe(a.sem) + " by a non-scalar constant");
        return scaleBy(a, 1 / k);
    }

    private Value pow(Value x, Value y) {
        if (!(x instanceof Act a)) throw new Refusal("raises a constant to the power of " + describeValue(y) + ", which is not part of a ViT");
        Double e = scalar(y);
        if (a.sem instanceof Sem.Ln ln && e != null) {
            if (ln.stage() == Sem.LnStage.CENTERED && e == 2) return a.withSem(ln.next(Sem.LnStage.SQUARED));
            if (ln.stage() == Sem.LnStage.VAR_EPS && e == 0.5) return a.withSem(ln.next(Sem.LnStage.STD));
            if (ln.stage() == Sem.LnStage.VAR_EPS && e == -0.5) return a.withSem(ln.next(Sem.LnStage.INV_STD));
            if (ln.stage() == Sem.LnStage.STD && e == -1) return a.withSem(ln.next(Sem.LnStage.INV_STD));
        }
        if (a.sem instanceof Sem.Proj && e != null && e == 3)
            throw new Refusal("raises a linear layer's output to the power 3, as the tanh approximation of GELU does; " + TANH_GELU);
        throw new Refusal("raises " + describe(a.sem) + " to the power " + e + ", which is not part of a ViT");
    }

    /** Multiplication by a scalar: folded into whatever the activation is, where that is meaningful. */
    private Act scaleBy(Act a, double k) {
        Sem s = a.sem;
        if (s instanceof Sem.Proj p) return a.withSem(p.scaled(k));
        if (s instanceof Sem.Scores sc) return a.withSem(new Sem.Scores(sc.q(), sc.k(), sc.scale() * k, sc.node()));
        if (s instanceof Sem.Gelu g && g.stage() == Sem.GeluStage.PRODUCT) return a.withSem(new Sem.Gelu(g.stage(), g.x(), g.coef() * k));
        if (s instanceof Sem.HeadSum h) return a.withSem(new Sem.HeadSum(h.a(), h.b(), h.coef() * k));
        if (s instanceof Sem.Image) throw new Refusal("scales the input images (preprocessing inside the graph is not supported; jvit normalises images itself)");
        throw new Refusal("scales " + describe(s) + ", which is not part of a ViT");
    }

    private static boolean isStreamLike(Sem s) { return s instanceof Sem.Stream || s instanceof Sem.Tokens; }

    /** All axes but the last have the same atoms, and the non-channel spaces the same bases. */
    private static boolean sameOuter(Act a, Act b) {
        if (a.rank() != b.rank()) return false;
        for (int i = 0; i < a.rank() - 1; i++) if (!a.axes.get(i).equals(b.axes.get(i))) return false;
        return a.base(Space.TOKEN) == b.base(Space.TOKEN) && a.base(Space.BATCH) == b.base(Space.BATCH);
    }

    private static long widthOf(Act a) {
        return a.extent(Space.CHAN);
    }

    // ---- LayerNorm -----------------------------------------------------------------------------------

    private Value reduceMean() {
        Act a = act(0, "ReduceMean");
        long[] axes = attrInts("axes");
        if (axes == null && present(1)) axes = constVector(1, "the ReduceMean axes");
        if (axes == null || axes.length != 1 || normAxis(axes[0], a.rank()) != a.rank() - 1)
            throw new Refusal("averages over axes " + Arrays.toString(axes) + "; jvit knows the mean over the last axis of LayerNorm only");
        if (attrInt("keepdims", 1) == 0) throw new Refusal("ReduceMean without keepdims is not LayerNorm's");
        List<List<Atom>> ax = new ArrayList<>(a.axes);
        ax.set(ax.size() - 1, List.of());
        if (isStreamLike(a.sem)) {
            Sem.Stream s = normalisable(a);
            decomposedLn = true;
            return a.with(ax, a.base, new Sem.Ln(Sem.LnStage.MEAN, s, 0, null, null, true));
        }
        if (a.sem instanceof Sem.Ln ln && ln.stage() == Sem.LnStage.SQUARED)
            return a.with(ax, a.base, ln.next(Sem.LnStage.VAR));
        if (a.sem instanceof Sem.Tokens || a.sem instanceof Sem.Patches)
            throw new Refusal("averages the tokens (global average pooling is not supported; jvit classifies from the class token)");
        throw new Refusal("averages " + describe(a.sem) + ", which is not part of a ViT");
    }

    /** The stream an activation holds, checked to be normalisable: every channel on the last axis. */
    private Sem.Stream normalisable(Act a) {
        // LayerNorm is per token: it may read a selection of the stream's tokens (norm(x[:, 0])); whatever
        // reads the result checks the tokens it needs (attention and residuals need them all)
        Sem.Stream s = stream(a, false);
        List<Atom> last = a.last();
        if (last.size() != 1 || last.get(0).space() != Space.CHAN || !a.full(Space.CHAN))
            throw new Refusal("normalises over an axis " + a.layout() + " that is not the model width");
        return s;
    }

    private Value[] layerNormalization() {
        Act a = act(0, "LayerNormalization");
        int axis = normAxis(attrInt("axis", -1), a.rank());
        if (axis != a.rank() - 1) throw new Refusal("normalises from axis " + axis + "; a ViT normalises over the last axis only");
        Sem.Stream s = normalisable(a);
        long d = widthOf(a);
        Tensor gamma = weightOf(need(1)), beta = present(2) ? weightOf(in(2)) : null;
        if (gamma == null || gamma.numel() != d || (beta != null && beta.numel() != d))
            throw new Refusal("LayerNorm parameters are not constant vectors of the model width " + d);
        float eps = attrFloat("epsilon", 1e-5f);
        lnOp = true;
        Act out = a.withSem(new Sem.Ln(Sem.LnStage.NORMED, s, eps, gamma.reshape(new long[] {d}),
                beta == null ? null : beta.reshape(new long[] {d}), false));
        return new Value[] {out}; // Mean and InvStdDev outputs stay undefined
    }

    /** A normalised stream as the LN a Linear reads (NORM and SCALED: LayerNorm without bias or weight). */
    private static Sem.Ln asNormed(Sem s) {
        if (s instanceof Sem.Ln ln) {
            return switch (ln.stage()) {
                case NORMED -> ln;
                case NORM -> new Sem.Ln(Sem.LnStage.NORMED, ln.src(), ln.eps(), null, null, ln.decomposed());
                case SCALED -> new Sem.Ln(Sem.LnStage.NORMED, ln.src(), ln.eps(), ln.gamma(), null, ln.decomposed());
                default -> null;
            };
        }
        return null;
    }

    // ---- embedding ------------------------------------------------------------------------------------

    private Value conv() {
        Act x = act(0, "Conv");
        if (!(x.sem instanceof Sem.Image img)) throw new Refusal("a convolution over " + describe(x.sem) + "; a ViT has one, the patch embedding");
        if (x.rank() != 4 || x.axes.get(0).size() > 1 || !x.full(Space.IMG_C) || x.find(Space.IMG_C).get(0)[0] != 1)
            throw new Refusal("the patch embedding does not read the images as given [N, C, H, W]");
        Tensor w = weightOf(need(1));
        if (w == null || w.rank() != 4) throw new Refusal("the convolution weight is not a constant 4-D tensor");
        Tensor b = present(2) ? weightOf(in(2)) : null;
        long d = w.shape[0], c = w.shape[1], kh = w.shape[2], kw = w.shape[3];
        long[] strides = attrInts("strides"), pads = attrInts("pads"), dil = attrInts("dilations"), ks = attrInts("kernel_shape");
        String autoPad = attrString("auto_pad", "NOTSET");
        long group = attrInt("group", 1);
        if (kh != kw) throw new Refusal("the patch embedding kernel is " + kh + "x" + kw + "; jvit needs square patches");
        if (ks != null && (ks.length != 2 || ks[0] != kh || ks[1] != kw)) throw new Refusal("kernel_shape disagrees with the weight", true);
        if (strides == null || strides.length != 2 || strides[0] != kh || strides[1] != kw)
            throw new Refusal("a convolution with kernel " + kh + " and strides " + Arrays.toString(strides)
                    + " is not a patch embedding (kernel = stride)");
        if (pads != null) for (long p : pads) if (p != 0) throw new Refusal("the patch embedding pads its input");
        if (!autoPad.equals("NOTSET") && !autoPad.equals("VALID")) throw new Refusal("the patch embedding pads its input (" + autoPad + ")");
        if (dil != null) for (long v : dil) if (v != 1) throw new Refusal("dilated patch embedding");
        if (group != 1) throw new Refusal("grouped patch embedding");
        if (c != img.channels()) throw new Refusal("the patch embedding takes " + c + " channels, the input has " + img.channels());
        if (b != null && b.numel() != d) throw new Refusal("the patch embedding bias has " + b.numel() + " values for " + d + " channels");
        int p = (int) kh;
        Dim gy = gridOf(img.height(), p), gx = gridOf(img.width(), p);
        long[] ext = x.extent.clone();
        ext[Space.CHAN.ordinal()] = d;
        List<List<Atom>> axes = new ArrayList<>();
        axes.add(x.axes.get(0));
        axes.add(List.of(new Atom(Space.CHAN, Dim.of(d), 1)));
        axes.add(gy == null ? List.of(new Atom(Space.GRID_Y, Dim.of(-1), 1)) : List.of(new Atom(Space.GRID_Y, gy, 1)));
        axes.add(gx == null ? List.of(new Atom(Space.GRID_X, Dim.of(-1), 1)) : List.of(new Atom(Space.GRID_X, gx, 1)));
        if (gy == null || gx == null) throw new Refusal("the input images have no fixed size; jvit needs the graph to fix H and W");
        ext[Space.GRID_Y.ordinal()] = gy.value();
        ext[Space.GRID_X.ordinal()] = gx.value();
        if (gy.value() != gx.value()) throw new Refusal("the input images are not square (" + img.height() + "x" + img.width() + ")");
        return new Act(axes, Values.spaces(), ext, new Sem.Patches(w, b == null ? null : b.reshape(new long[] {d}), p, (int) d, gy.value(), null, node.getName()));
    }

    private static Dim gridOf(Dim size, int p) {
        if (size == null) return null;
        long s = size.value();
        if (s % p != 0) throw new Refusal("image size " + s + " is not a multiple of the patch size " + p);
        return Dim.of(s / p);
    }

    /** {@code cls_token.expand(B, -1, -1)}: a constant [.., D] broadcast over a batch-dependent shape. */
    private Value prefixToken(Tensor t, Dim[] shape) {
        long[] ts = t.shape;
        if (t.numel() < 2 || ts[ts.length - 1] != t.numel())
            throw new Refusal("broadcasts a constant " + Arrays.toString(ts) + " over the batch; jvit knows this only for class/distillation tokens");
        if (shape.length < ts.length) throw new Refusal("Expand to a lower rank", true);
        long d = t.numel();
        List<List<Atom>> axes = new ArrayList<>();
        boolean sawBatch = false;
        for (int i = 0; i < shape.length; i++) {
            Dim s = shape[i];
            boolean lastAxis = i == shape.length - 1;
            if (lastAxis) {
                if (!(s.isConst() && (s.value() == d || s.value() == 1)))
                    throw new Refusal("expands a token to width " + s, true);
                axes.add(List.of(new Atom(Space.CHAN, Dim.of(d), 1)));
            } else if (!s.isConst()) {
                if (sawBatch || !Dim.equal(s, batchDim)) throw new Refusal("expands a token over " + s + " rather than the batch");
                axes.add(List.of(new Atom(Space.BATCH, s, 1)));
                sawBatch = true;
            } else if (s.value() == 1) axes.add(List.of());
            else throw new Refusal("expands a token " + s.value() + " times along axis " + i);
        }
        long[] ext = Values.spaces();
        ext[Space.CHAN.ordinal()] = d;
        return new Act(axes, Values.spaces(), ext, new Sem.Prefix(t.reshape(new long[] {d})));
    }

    private Value embeddingConcat(List<Value> vs) {
        int rank = -1;
        for (Value v : vs) if (v instanceof Act a) rank = a.rank();
        int axis = normAxis(attrInt("axis", 0), rank);
        List<Tensor> prefixes = new ArrayList<>();
        Act patches = null;
        for (Value v : vs) {
            if (patches != null) throw new Refusal("puts tokens after the patches; jvit needs [class, (distillation), patches]");
            if (v instanceof Act a && a.sem instanceof Sem.Prefix p) {
                if (a.rank() != rank || !a.axes.get(axis).isEmpty()) throw new Refusal("concatenates a token along the wrong axis");
                prefixes.add(p.row());
            } else if (v instanceof Const c && c.t().numel() == c.t().shape[c.t().rank() - 1] && batchDim.isConst() && batchDim.value() == 1) {
                prefixes.add(c.t().reshape(new long[] {c.t().numel()}));
            } else if (v instanceof Act a && a.sem instanceof Sem.Patches) {
                patches = a;
            } else throw new Refusal("concatenates " + describeValue(v) + " with the tokens");
        }
        if (patches == null) throw new Refusal("concatenates tokens without the patches");
        Sem.Patches ps = (Sem.Patches) patches.sem;
        // the patches: [batch, grid_y * grid_x, chan] in some axis order, tokens along `axis`
        List<Atom> tokAxis = patches.axes.get(axis);
        long g = patches.extent(Space.GRID_Y);
        long[] order = Layout.enumerate2(tokAxis, patches.base, Space.GRID_Y, Space.GRID_X, patches.extent(Space.GRID_X));
        for (int i = 0; i < order.length; i++)
            if (order[i] != i) throw new Refusal("the patches are not in row-major order along the token axis " + patches.layout());
        if (order.length != g * patches.extent(Space.GRID_X)) throw new Refusal("the token axis does not hold every patch");
        checkTokenLayout(patches, axis, ps.width());
        for (Tensor p : prefixes) if (p.numel() != ps.width()) throw new Refusal("a prefix token has " + p.numel() + " values, the model width is " + ps.width());
        if (prefixes.isEmpty()) throw new Refusal("no class token before the patches; jvit classifies from a class token");
        if (prefixes.size() > 2) throw new Refusal(prefixes.size() + " prefix tokens; jvit knows class and distillation tokens");
        long t = order.length + prefixes.size();
        List<List<Atom>> axes = new ArrayList<>(patches.axes);
        axes.set(axis, List.of(new Atom(Space.TOKEN, Dim.of(t), 1)));
        long[] ext = patches.extent.clone();
        ext[Space.TOKEN.ordinal()] = t;
        Tensor pos = null;
        if (ps.pos() != null) {
            // positions added to the patches only: the prefix tokens get none
            float[] full = new float[(int) (t * ps.width())];
            float[] pp = ps.pos().toFloatArray();
            System.arraycopy(pp, 0, full, (int) (prefixes.size() * ps.width()), pp.length);
            pos = Tensor.ofFloats(ps.pos().name, new long[] {t, ps.width()}, full);
        }
        return new Act(axes, Values.spaces(), ext, new Sem.Tokens(prefixes, ps, pos));
    }

    /** [batch][tokens][channels] in any axis order, each a single full atom, tokens along {@code axis}. */
    private static void checkTokenLayout(Act a, int tokenAxis, long width) {
        for (int i = 0; i < a.rank(); i++) {
            if (i == tokenAxis) continue;
            for (Atom at : a.axes.get(i)) {
                if (at.space() != Space.BATCH && at.space() != Space.CHAN)
                    throw new Refusal("token layout " + a.layout() + " is not [batch, tokens, channels]");
            }
        }
        if (!a.full(Space.CHAN) || a.last().size() != 1 || a.last().get(0).space() != Space.CHAN)
            throw new Refusal("the channels are not the last axis of the tokens " + a.layout());
    }

    private Value addPositions(Act a, Value c) {
        Tensor pos = weightOf(c);
        if (pos == null) throw new Refusal("adds a batch-dependent value to the tokens");
        if (a.sem instanceof Sem.Patches ps) {
            if (ps.pos() != null) throw new Refusal("adds a second position embedding to the patches");
            int tokAxis = tokenAxisOf(a, Space.GRID_Y);
            long np = a.extent(Space.GRID_Y) * a.extent(Space.GRID_X);
            Tensor p = positionsFor(a, pos, tokAxis, np, ps.width());
            return a.withSem(new Sem.Patches(ps.weight(), ps.bias(), ps.patch(), ps.width(), ps.grid(), p, ps.node()));
        }
        Sem.Tokens tk = (Sem.Tokens) a.sem;
        if (tk.stream != null) throw new Refusal("adds positions to tokens that have already entered the encoder");
        int tokAxis = tokenAxisOf(a, Space.TOKEN);
        long t = a.extent(Space.TOKEN);
        Tensor p = positionsFor(a, pos, tokAxis, t, tk.patches.width());
        if (tk.pos != null) p = ConstOps.binary("Add", tk.pos, p);
        return a.withSem(new Sem.Tokens(tk.prefixes, tk.patches, p));
    }

    private static int tokenAxisOf(Act a, Space s) {
        List<int[]> f = a.find(s);
        if (f.isEmpty()) throw new Refusal("no token axis in " + a.layout());
        return f.get(0)[0];
    }

    /** A position embedding constant aligned with the activation: [.., tokens, width] with leading 1s. */
    private static Tensor positionsFor(Act a, Tensor pos, int tokAxis, long tokens, long width) {
        if (tokAxis != a.rank() - 2) throw new Refusal("the tokens are not laid out [batch, tokens, channels]: " + a.layout());
        if (pos.rank() < 2 || pos.rank() > a.rank()) throw new Refusal("adds a constant " + Arrays.toString(pos.shape) + " that is not a position embedding");
        for (int i = 0; i < pos.rank() - 2; i++) if (pos.shape[i] != 1) throw new Refusal("the position embedding varies over the batch");
        if (pos.shape[pos.rank() - 2] != tokens || pos.shape[pos.rank() - 1] != width)
            throw new Refusal("adds a constant " + Arrays.toString(pos.shape) + " to " + tokens + " tokens of width " + width
                    + " (position embeddings for another image size are not supported)");
        return pos.reshape(new long[] {tokens, width});
    }

    /** The residual stream an activation holds; the token sequence becomes the stream the first time it is used. */
    private Sem.Stream stream(Act a) {
        return stream(a, true);
    }

    private Sem.Stream stream(Act a, boolean allTokens) {
        if (a.sem instanceof Sem.Stream s) {
            checkStreamLayout(a, allTokens);
            return s;
        }
        if (a.sem instanceof Sem.Tokens tk) {
            checkStreamLayout(a, true);
            if (tk.stream == null) tk.stream = new Sem.Stream(null, tk, 0, 0, null, null);
            return tk.stream;
        }
        throw new Refusal(describe(a.sem) + " is used as the residual stream");
    }

    private static void checkStreamLayout(Act a, boolean allTokens) {
        if (allTokens && !a.full(Space.TOKEN)) throw new Refusal("the residual stream does not hold every token here " + a.layout());
        for (int i = 0; i < a.rank(); i++)
            for (Atom at : a.axes.get(i))
                if (at.space() != Space.BATCH && at.space() != Space.TOKEN && at.space() != Space.CHAN)
                    throw new Refusal("the residual stream is laid out " + a.layout());
    }

    // ---- linear layers and attention ---------------------------------------------------------------

    private Value matmul() {
        Value x = need(0), y = need(1);
        if (x instanceof Act a && isConstant(y)) {
            Tensor w = weightOf(y);
            if (w.rank() != 2) throw new Refusal("multiplies by a " + w.rank() + "-D constant; a linear layer's weight is 2-D");
            return linear(a, w, null, 1.0);
        }
        if (x instanceof Act a && y instanceof Act b) {
            if (a.sem instanceof Sem.Proj && b.sem instanceof Sem.Proj) return scores(a, b);
            if (a.sem instanceof Sem.Probs && b.sem instanceof Sem.Proj) return attention(a, b);
            throw new Refusal("multiplies " + describe(a.sem) + " by " + describe(b.sem) + ", which is not part of a ViT");
        }
        throw new Refusal("multiplies a constant by an activation from the left, which is not part of a ViT");
    }

    private Value gemm() {
        Value x = need(0), y = need(1);
        if (!(x instanceof Act a) || !isConstant(y)) throw new Refusal("Gemm is a linear layer only when A is an activation and B a constant");
        if (attrInt("transA", 0) != 0) throw new Refusal("Gemm with transA over an activation");
        if (a.rank() != 2) throw new Refusal("Gemm over a " + a.rank() + "-D activation", true);
        Tensor w = weightOf(y);
        if (w.rank() != 2) throw new Refusal("Gemm weight is not 2-D", true);
        if (attrInt("transB", 0) != 0) w = w.transpose(new int[] {1, 0});
        double alpha = attrFloat("alpha", 1f), beta = attrFloat("beta", 1f);
        Tensor bias = null;
        if (present(2)) {
            Tensor c = weightOf(in(2));
            if (c == null) throw new Refusal("Gemm's C is not a constant");
            long out = w.shape[1];
            if (c.numel() == out && (c.rank() == 1 || (c.rank() == 2 && c.shape[0] == 1))) bias = c.reshape(new long[] {out});
            else if (c.numel() == 1) bias = c.broadcastTo(new long[] {out});
            else throw new Refusal("Gemm's C " + Arrays.toString(c.shape) + " is not a per-output bias");
            if (beta != 1 || alpha != 1) bias = ConstOps.scaleTensor(bias, beta / alpha);
        }
        return linear(a, w, bias, alpha);
    }

    /** x W (+ bias), W [in, out]: the start of a Linear layer. */
    private Act linear(Act x, Tensor w, Tensor bias, double scale) {
        long in = w.shape[0], out = w.shape[1];
        if (!w.type.isFloat()) throw new Refusal("the weight " + w.describe() + " is not floating point");
        Dim last = x.axisSize(x.rank() - 1);
        if (!last.isConst() || last.value() != in)
            throw new Refusal("multiplies " + last + " features by a [" + in + ", " + out + "] weight", true);
        Sem input;
        long[] idx;
        Sem s = x.sem;
        Sem.Ln ln = asNormed(s);
        if (ln != null) {
            idx = featureIndex(x, Space.CHAN, null, "LayerNorm output");
            input = ln;
        } else if (s instanceof Sem.Attn at) {
            idx = featureIndex(x, Space.HEAD, Space.VDIM, "attention output");
            input = at;
        } else if (s instanceof Sem.Gelu g) {
            if (g.stage() != Sem.GeluStage.PRODUCT || Math.abs(g.coef() - 0.5) > 1e-6)
                throw new Refusal("reads an incomplete GELU (" + g.stage() + ", factor " + g.coef() + ")");
            erfGelu = true;
            idx = featureIndex(x, Space.CHAN, null, "MLP hidden layer");
            input = new Sem.Hidden(g.x(), "erf");
        } else if (s instanceof Sem.Hidden h) {
            idx = featureIndex(x, Space.CHAN, null, "MLP hidden layer");
            input = h;
        } else if (s instanceof Sem.Tanh t) {
            idx = featureIndex(x, Space.CHAN, null, "pre-logits");
            input = t;
        } else if (isStreamLike(s)) {
            throw new Refusal("a linear layer reads the residual stream without a LayerNorm, which jvit's pre-LN encoder does not have");
        } else {
            throw new Refusal("a linear layer reads " + describe(s) + ", which is not part of a ViT");
        }
        if (bias != null && bias.numel() != out) throw new Refusal("bias of " + bias.numel() + " for " + out + " outputs", true);
        List<List<Atom>> axes = new ArrayList<>(x.axes);
        axes.set(axes.size() - 1, List.of(new Atom(Space.CHAN, Dim.of(out), 1)));
        long[] base = x.base.clone(), ext = x.extent.clone();
        base[Space.CHAN.ordinal()] = 0;
        ext[Space.CHAN.ordinal()] = out;
        for (Space sp : new Space[] {Space.HEAD, Space.VDIM}) {
            base[sp.ordinal()] = 0;
            ext[sp.ordinal()] = 0;
        }
        return new Act(axes, base, ext, new Sem.Proj(input, x, idx, w, bias, scale, null, node.getName(), null));
    }

    /**
     * For each position of the last axis, the feature it holds: the CHAN index, or head * vdim + j for
     * the attention output. Checks that those spaces appear on the last axis only.
     */
    private static long[] featureIndex(Act x, Space s1, Space s2, String what) {
        for (int i = 0; i < x.rank() - 1; i++)
            for (Atom a : x.axes.get(i))
                if (a.space() == s1 || a.space() == s2)
                    throw new Refusal("the " + what + " is split across axes " + x.layout() + " where a linear layer reads it");
        for (Atom a : x.last())
            if (a.space() != s1 && a.space() != s2) throw new Refusal("the last axis " + x.layout() + " mixes " + a.space() + " into the " + what);
        if (s2 == null) return Layout.enumerate(x.last(), x.base, s1);
        long[] idx = Layout.enumerate2(x.last(), x.base, s1, s2, x.extent(s2));
        long n = x.extent(s1) * x.extent(s2);
        boolean[] seen = new boolean[(int) n];
        for (long v : idx) {
            if (v < 0 || v >= n || seen[(int) v]) throw new Refusal("the attention output does not hold every head exactly once");
            seen[(int) v] = true;
        }
        if (idx.length != n) throw new Refusal("the attention output does not hold every head");
        return idx;
    }

    /** Q K^T: both projections of the same LayerNorm output, heads paired, head dims contracted. */
    private Act scores(Act a, Act b) {
        Sem.Proj q = (Sem.Proj) a.sem, k = (Sem.Proj) b.sem;
        Sem.Ln lq = asNormed(q.input()), lk = asNormed(k.input());
        if (lq == null || lk == null) throw new Refusal("attention scores from projections of something other than a LayerNorm output");
        if (lq.src() != lk.src()) throw new Refusal("queries and keys come from different streams (cross-attention is not supported)");
        int r = a.rank();
        if (b.rank() != r || r < 2) throw new Refusal("Q and K^T differ in rank", true);
        HeadPair hp = pairHeads(a, b, Space.CHAN, Space.CHAN, "the queries", "the keys");
        List<Atom> qd = a.axes.get(r - 1), qt = a.axes.get(r - 2), kd = b.axes.get(r - 2), kt = b.axes.get(r - 1);
        requireTokens(qt, a, "the queries");
        requireTokens(kt, b, "the keys");
        if (qd.size() != 1 || qd.get(0).space() != Space.CHAN || kd.size() != 1 || kd.get(0).space() != Space.CHAN)
            throw new Refusal("Q K^T does not contract one head dimension of each: " + a.layout() + " x " + b.layout());
        long dh = qd.get(0).size().value();
        if (kd.get(0).size().value() != dh) throw new Refusal("query and key head sizes differ", true);
        Sem.HeadView qv = new Sem.HeadView(q, a.base(Space.CHAN), hp.strideA, qd.get(0).stride(), hp.heads, (int) dh);
        Sem.HeadView kv = new Sem.HeadView(k, b.base(Space.CHAN), hp.strideB, kd.get(0).stride(), hp.heads, (int) dh);
        List<List<Atom>> axes = new ArrayList<>(hp.batchAxes);
        long t = a.extent(Space.TOKEN);
        axes.add(List.of(new Atom(Space.TOKEN, Dim.of(t), 1)));
        axes.add(List.of(new Atom(Space.KTOKEN, Dim.of(t), 1)));
        long[] ext = Values.spaces();
        ext[Space.TOKEN.ordinal()] = t;
        ext[Space.KTOKEN.ordinal()] = t;
        ext[Space.HEAD.ordinal()] = hp.heads;
        return new Act(axes, Values.spaces(), ext, new Sem.Scores(qv, kv, 1.0, node.getName()));
    }

    private static void requireTokens(List<Atom> axis, Act a, String what) {
        if (axis.size() != 1 || axis.get(0).space() != Space.TOKEN || !a.full(Space.TOKEN))
            throw new Refusal(what + " do not hold every token along one axis: " + a.layout());
    }

    private record HeadPair(List<List<Atom>> batchAxes, int heads, long strideA, long strideB) {}

    /** Pairs the leading (batch) axes of a batched matmul: batch with batch, heads of a with heads of b. */
    private static HeadPair pairHeads(Act a, Act b, Space headA, Space headB, String na, String nb) {
        int r = a.rank();
        List<List<Atom>> out = new ArrayList<>();
        int heads = 1;
        long sa = 0, sb = 0;
        boolean sawHead = false;
        for (int i = 0; i < r - 2; i++) {
            List<Atom> x = a.axes.get(i), y = b.axes.get(i);
            if (x.size() != y.size()) throw new Refusal("the batch axes of " + na + " " + a.layout() + " and " + nb + " " + b.layout() + " do not match");
            List<Atom> o = new ArrayList<>();
            for (int j = 0; j < x.size(); j++) {
                Atom p = x.get(j), q = y.get(j);
                if (p.space() == Space.BATCH && q.space() == Space.BATCH && p.size().equals(q.size())) {
                    o.add(p);
                } else if (p.space() == headA && q.space() == headB && p.size().equals(q.size()) && !sawHead) {
                    sawHead = true;
                    heads = (int) p.size().value();
                    sa = p.stride();
                    sb = q.stride();
                    if (headA == Space.HEAD && (p.stride() != 1 || a.base(Space.HEAD) != 0)) throw new Refusal("attention heads out of order");
                    o.add(new Atom(Space.HEAD, p.size(), 1));
                } else throw new Refusal("cannot pair " + p + " of " + na + " with " + q + " of " + nb + " (" + a.layout() + " x " + b.layout() + ")");
            }
            out.add(o);
        }
        for (int i = r - 2; i < r; i++) {
            for (Atom p : a.axes.get(i)) if (p.space() == headA && headA != Space.CHAN) throw new Refusal("heads in the matrix axes of " + na);
        }
        return new HeadPair(out, heads, sa, sb);
    }

    private Value softmax() {
        Act a = act(0, "Softmax");
        if (!(a.sem instanceof Sem.Scores sc)) throw new Refusal("softmax of " + describe(a.sem) + "; jvit knows softmax in attention only"
                + (a.sem instanceof Sem.Proj ? " (a model that outputs probabilities: export it without the final softmax)" : ""));
        int axis = normAxis(attrInt("axis", opset >= 13 ? -1 : 1), a.rank());
        if (opset < 13 && axis != a.rank() - 1) throw new Refusal("Softmax (opset " + opset + ") flattens from axis " + axis + " instead of the keys");
        List<Atom> ax = a.axes.get(axis);
        if (axis != a.rank() - 1 || ax.size() != 1 || ax.get(0).space() != Space.KTOKEN || !a.full(Space.KTOKEN))
            throw new Refusal("softmax over axis " + axis + " of " + a.layout() + " is not over the keys");
        return a.withSem(new Sem.Probs(sc));
    }

    /** softmax(Q K^T) V: heads paired, keys contracted with the value tokens. */
    private Act attention(Act a, Act b) {
        Sem.Probs pr = (Sem.Probs) a.sem;
        Sem.Proj v = (Sem.Proj) b.sem;
        Sem.Ln lv = asNormed(v.input());
        if (lv == null || lv.src() != asNormed(pr.scores().q().proj().input()).src())
            throw new Refusal("the values are not a projection of the same LayerNorm output as the queries");
        int r = a.rank();
        if (b.rank() != r) throw new Refusal("P and V differ in rank", true);
        HeadPair hp = pairHeads(a, b, Space.HEAD, Space.CHAN, "the attention weights", "the values");
        if (hp.heads != pr.scores().q().heads()) throw new Refusal("the values have " + hp.heads + " heads, the scores " + pr.scores().q().heads());
        List<Atom> pk = a.axes.get(r - 1), pq = a.axes.get(r - 2), vt = b.axes.get(r - 2), vd = b.axes.get(r - 1);
        if (pk.size() != 1 || pk.get(0).space() != Space.KTOKEN || !a.full(Space.KTOKEN))
            throw new Refusal("P V does not contract the keys: " + a.layout());
        if (pq.size() != 1 || pq.get(0).space() != Space.TOKEN || !a.full(Space.TOKEN))
            throw new Refusal("the attention weights do not hold every query: " + a.layout());
        requireTokens(vt, b, "the values");
        if (vd.size() != 1 || vd.get(0).space() != Space.CHAN) throw new Refusal("the values' last axis is not one head dimension: " + b.layout());
        long dv = vd.get(0).size().value();
        Sem.HeadView vv = new Sem.HeadView(v, b.base(Space.CHAN), hp.strideB, vd.get(0).stride(), hp.heads, (int) dv);
        List<List<Atom>> axes = new ArrayList<>(hp.batchAxes);
        long t = a.extent(Space.TOKEN);
        axes.add(List.of(new Atom(Space.TOKEN, Dim.of(t), 1)));
        axes.add(List.of(new Atom(Space.VDIM, Dim.of(dv), 1)));
        long[] ext = Values.spaces();
        ext[Space.TOKEN.ordinal()] = t;
        ext[Space.HEAD.ordinal()] = hp.heads;
        ext[Space.VDIM.ordinal()] = dv;
        return new Act(axes, Values.spaces(), ext, new Sem.Attn(pr.scores(), vv, node.getName()));
    }

    /** x + proj(...): the residual connections that close a block's attention and MLP halves. */
    private Act residual(Act x, Act pAct, Sem.Proj p) {
        Sem.Stream s = stream(x);
        if (!sameOuter(x, pAct)) throw new Refusal("adds " + pAct.layout() + " to the residual stream " + x.layout());
        List<Atom> last = x.last();
        if (last.size() != 1 || last.get(0).space() != Space.CHAN || !x.full(Space.CHAN))
            throw new Refusal("the residual stream's last axis is not its channels: " + x.layout());
        long[] rows;
        for (int i = 0; i < pAct.rank() - 1; i++)
            for (Atom a : pAct.axes.get(i)) if (a.space() == Space.CHAN) throw new Refusal("adds a projection split across axes " + pAct.layout() + " to the stream");
        rows = Layout.enumerate(pAct.last(), pAct.base, Space.CHAN);
        if (rows.length != widthOf(x)) throw new Refusal("adds " + rows.length + " channels to a stream of width " + widthOf(x), true);
        if (p.input() instanceof Sem.Attn at) {
            if (s.stage != 0) throw new Refusal("a second attention in block " + s.blocks + " before its MLP");
            Sem.Ln ln = asNormed(at.scores().q().proj().input());
            if (ln.src() != s) throw new Refusal("the attention reads " + ln.src().where() + " but its residual adds to " + s.where());
            Sem.Ln lk = asNormed(at.scores().k().proj().input()), lv = asNormed(at.v().proj().input());
            if (!sameLn(ln, lk) || !sameLn(ln, lv)) throw new Refusal("queries, keys and values read different LayerNorms");
            Sem.Attention att = new Sem.Attention(ln, at.scores(), at.v(), p, rows, p.inIndex());
            return x.withSem(new Sem.Stream(s, null, 1, s.blocks, att, null));
        }
        if (p.input() instanceof Sem.Hidden h) {
            if (s.stage != 1) throw new Refusal("an MLP residual where the block's attention belongs (" + s.where() + ")");
            Sem.Ln ln = asNormed(h.fc1().input());
            if (ln == null) throw new Refusal("the MLP's first layer does not read a LayerNorm output");
            if (ln.src() != s) throw new Refusal("the MLP reads " + ln.src().where() + " but its residual adds to " + s.where()
                    + (ln.src() == s.prev ? " (parallel attention and MLP blocks are not supported)" : ""));
            Sem.Mlp mlp = new Sem.Mlp(ln, h.fc1(), p.inIndex(), p, rows, h.how());
            return x.withSem(new Sem.Stream(s, null, 0, s.blocks + 1, null, mlp));
        }
        throw new Refusal("adds " + describe(p.input()) + "'s projection to the residual stream");
    }

    private static boolean sameLn(Sem.Ln a, Sem.Ln b) {
        return a == b || (a.src() == b.src() && a.eps() == b.eps() && a.gamma() == b.gamma() && a.beta() == b.beta());
    }

    private static final String TANH_GELU = "jvit's engine runs the exact (erf) GELU only";

    private Value gelu(String op) {
        Act a = act(0, op);
        if (op.equals("Gelu") && !attrString("approximate", "none").equals("none"))
            throw new Refusal("GELU with the '" + attrString("approximate", "") + "' approximation; " + TANH_GELU);
        if (!(a.sem instanceof Sem.Proj p)) throw new Refusal("GELU of " + describe(a.sem) + "; a ViT applies it to the MLP's first layer");
        if (op.equals("BiasGelu")) {
            Tensor v = channelVectorRows(a, need(1));
            if (v == null) throw new Refusal("BiasGelu's bias is not a per-output vector");
            p = p.withBias(ConstOps.addBias(p, v));
        }
        geluOp = true;
        return a.withSem(new Sem.Hidden(p, "Gelu"));
    }

    /** The features the head reads: LN of the final stream at one token (the class token, or DeiT's distillation token). */
    int finalFeatures(Sem.Ln ln, Act inputAct, String what) {
        if (inputAct.has(Space.TOKEN))
            throw new Refusal(what + " reads every token; jvit's head reads the class token (global pooling is not supported)");
        return (int) inputAct.base(Space.TOKEN);
    }

    /** The token a head reads (its input holds no token axis), or an error naming the output. */
    int tokenOf(Act in) throws ModelFormatException {
        if (in.has(Space.TOKEN))
            throw outputFail("the head reads every token; jvit's head reads the class token (global pooling is not supported)");
        return (int) in.base(Space.TOKEN);
    }

    private Value headSum(Act a, Act b) {
        if (!a.axes.equals(b.axes) || a.base(Space.BATCH) != b.base(Space.BATCH))
            throw new Refusal("adds two projections laid out differently: " + a.layout() + " + " + b.layout());
        return a.withSem(new Sem.HeadSum(a, b, 1.0));
    }

    private Act act(int i, String op) {
        Value v = need(i);
        if (v instanceof Act a) return a;
        throw new Refusal(op + " of a constant", true);
    }

    // ---- descriptions for messages ---------------------------------------------------------------

    static String describe(Sem s) {
        if (s instanceof Sem.Image) return "the input images";
        if (s instanceof Sem.Patches) return "the patch embeddings";
        if (s instanceof Sem.Prefix) return "a class token";
        if (s instanceof Sem.Tokens) return "the token embeddings";
        if (s instanceof Sem.Stream st) return "the residual stream (" + st.where() + ")";
        if (s instanceof Sem.Ln ln) return "a LayerNorm (" + ln.stage().name().toLowerCase().replace('_', ' ') + ")";
        if (s instanceof Sem.Proj p) return "a linear layer's output" + (p.node().isEmpty() ? "" : " ('" + p.node() + "')");
        if (s instanceof Sem.Scores) return "attention scores";
        if (s instanceof Sem.Probs) return "attention weights";
        if (s instanceof Sem.Attn) return "the attention output";
        if (s instanceof Sem.Gelu g) return "part of a GELU (" + g.stage().name().toLowerCase() + ")";
        if (s instanceof Sem.Hidden) return "the MLP hidden layer";
        if (s instanceof Sem.Tanh) return "the pre-logits";
        if (s instanceof Sem.HeadSum) return "the sum of two linear layers' outputs";
        return s.getClass().getSimpleName();
    }

    static String describeValue(Value v) {
        if (v instanceof Act a) return describe(a.sem);
        if (v instanceof Const c) return "a constant " + Arrays.toString(c.t().shape);
        return "a shape value " + v;
    }
}
