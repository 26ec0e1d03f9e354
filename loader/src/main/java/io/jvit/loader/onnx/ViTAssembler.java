package io.jvit.loader.onnx;

import io.jvit.engine.EncoderBlock;
import io.jvit.engine.LayerNormParams;
import io.jvit.engine.Linear;
import io.jvit.engine.ViTConfig;
import io.jvit.engine.ViTWeights;
import io.jvit.loader.LoadOptions;
import io.jvit.loader.ModelFormatException;
import io.jvit.loader.UnsupportedModelException;
import io.jvit.loader.onnx.Values.Act;
import io.jvit.loader.onnx.Values.Atom;
import io.jvit.loader.onnx.Values.Space;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.TreeSet;

/** Turns the importer's account of the graph output into the engine's config and weights. */
final class ViTAssembler {
    private final OnnxFile file;
    private final ViTImporter imp;
    private final Arena arena;
    final Weights.Builder linears;
    ViTConfig config;
    ViTWeights weights;
    String attentionForm;
    boolean layerScale;
    boolean scaleFolded;

    private record Head(Sem.Proj proj, long[] rows, Sem.Ln ln, int token, Sem.Proj preLogits, long[] preRows) {}

    ViTAssembler(OnnxFile file, ViTImporter imp) {
        this.file = file;
        this.imp = imp;
        this.arena = file.arena;
        this.linears = new Weights.Builder(arena);
    }

    void build(Act out, LoadOptions options) throws ModelFormatException {
        // --- what the output is: one head, DeiT's averaged pair, or features
        checkOutputLayout(out);
        List<Head> heads = new ArrayList<>();
        Sem.Ln finalLn;
        if (out.sem instanceof Sem.HeadSum hs) {
            if (Math.abs(hs.coef() - 0.5) > 1e-6)
                throw imp.outputFail("sums two heads with factor " + hs.coef() + "; DeiT averages them (factor 0.5)");
            Head a = head(hs.a()), b = head(hs.b());
            if (a.token == 1 && b.token == 0) { Head t = a; a = b; b = t; }
            if (a.token != 0 || b.token != 1) throw imp.outputFail("averages heads on tokens " + a.token + " and " + b.token + "; DeiT reads tokens 0 and 1");
            if (a.ln.src() != b.ln.src()) throw imp.outputFail("the two heads read different streams");
            heads.add(a);
            heads.add(b);
            finalLn = a.ln;
        } else if (out.sem instanceof Sem.Proj p) {
            Head h = head(out);
            if (h.token != 0) throw imp.outputFail("the head reads token " + h.token + " instead of the class token");
            heads.add(h);
            finalLn = h.ln;
        } else {
            throw imp.outputFail("the output is " + ViTImporter.describe(out.sem) + ", not a classification head over the class token");
        }
        Sem.Stream last = finalLn.src();
        if (last.stage != 0 || last.blocks == 0)
            throw imp.outputFail("the final LayerNorm reads " + last.where() + ", not the output of the last encoder block");

        // --- the blocks, first to last
        List<Sem.Stream> chain = new ArrayList<>();
        for (Sem.Stream s = last; s.prev != null; s = s.prev) chain.add(s);
        Collections.reverse(chain);
        Sem.Stream first = chain.isEmpty() ? last : chain.get(0).prev;
        Sem.Tokens emb = first.embedding;
        if (emb == null) throw new IllegalStateException("stream without embedding");
        Sem.Patches pe = emb.patches;
        int d = pe.width();
        boolean distilled = emb.prefixes.size() == 2;
        if (distilled && heads.size() == 1)
            throw imp.outputFail("the model has a distillation token but only the class-token head; jvit's engine averages both heads (DeiT)");
        if (!distilled && heads.size() == 2) throw imp.outputFail("two heads but no distillation token");

        TreeSet<Float> eps = new TreeSet<>();
        int nHeads = -1, mlp = -1;
        List<EncoderBlock> blocks = new ArrayList<>();
        String gelu = null;
        boolean fused = true, separate = true;
        for (int i = 0; i < chain.size(); i += 2) {
            Sem.Attention att = chain.get(i).attention;
            Sem.Mlp m = chain.get(i + 1).mlp;
            String where = "block " + (i / 2);
            if (att == null || m == null) throw new IllegalStateException(where + " incomplete");
            Sem.HeadView q = att.scores().q(), k = att.scores().k(), v = att.v();
            int h = q.heads(), dh = q.dim();
            if (h * dh != d || v.dim() != dh)
                throw fail(where + ": attention with " + h + " heads of " + dh + " (values " + v.dim() + ") does not span the width " + d);
            if (nHeads >= 0 && h != nHeads) throw fail(where + " has " + h + " heads, block 0 has " + nHeads);
            nHeads = h;
            eps.add(att.ln().eps());
            eps.add(m.ln().eps());
            long[] lnCols = inverse(q.proj().inIndex(), d, where + " queries");
            // scores = (q . k) * total; the engine applies 1/sqrt(dh) itself, the rest goes into the queries
            double total = q.proj().scale() * k.proj().scale() * att.scores().scale();
            double fq = total * Math.sqrt(dh);
            if (Math.abs(fq - 1) < 1e-6) fq = 1;
            else scaleFolded = true;
            Linear qkv = linears.build(d,
                    new Weights.Seg(q.proj().wmat(), headRows(q), lnCols, q.proj().bias(), fq, q.proj().rowScale()),
                    new Weights.Seg(k.proj().wmat(), headRows(k), inverse(k.proj().inIndex(), d, where + " keys"), k.proj().bias(), 1.0,
                            k.proj().rowScale()),
                    new Weights.Seg(v.proj().wmat(), headRows(v), inverse(v.proj().inIndex(), d, where + " values"), v.proj().bias(),
                            v.proj().scale(), v.proj().rowScale()));
            if (q.proj().wmat().data == k.proj().wmat().data && q.proj().wmat().data == v.proj().wmat().data
                    && q.proj().wmat().offset == k.proj().wmat().offset) separate = false;
            else fused = false;
            // out-projection: engine input h*dh + j is the attention feature index
            Sem.Proj p = att.proj();
            Linear proj = linears.build(d, new Weights.Seg(p.wmat(), att.projRows(), inverse(p.inIndex(), d, where + " attention output"),
                    p.bias(), p.scale(), p.rowScale()));
            if (p.rowScale() != null) layerScale = true;
            int hidden = m.fc1Rows().length;
            if (mlp >= 0 && hidden != mlp) throw fail(where + " has an MLP of " + hidden + ", block 0 has " + mlp);
            mlp = hidden;
            Linear fc1 = linears.build(d, new Weights.Seg(m.fc1().wmat(), m.fc1Rows(), inverse(m.fc1().inIndex(), d, where + " MLP input"),
                    m.fc1().bias(), m.fc1().scale(), m.fc1().rowScale()));
            Linear fc2 = linears.build(hidden, new Weights.Seg(m.fc2().wmat(), m.fc2Rows(), null, m.fc2().bias(), m.fc2().scale(),
                    m.fc2().rowScale()));
            if (m.fc2().rowScale() != null) layerScale = true;
            blocks.add(new EncoderBlock(lnParams(att.ln(), d), qkv, proj, lnParams(m.ln(), d), fc1, fc2));
            gelu = m.gelu();
        }
        attentionForm = fused ? "fused qkv" : separate ? "separate q/k/v" : "mixed q/k/v";
        eps.add(finalLn.eps());
        float lnEps;
        if (options.layerNormEps() != null) lnEps = options.layerNormEps();
        else if (eps.size() != 1) throw fail("LayerNorm epsilons differ between layers " + eps + "; jvit's engine uses one");
        else lnEps = eps.first();
        if (options.heads() > 0 && options.heads() != nHeads)
            throw new ModelFormatException(file.path + ": the graph has " + nHeads + " attention heads, the options say " + options.heads());

        // --- head(s)
        Head h0 = heads.get(0);
        int numClasses = h0.rows.length;
        Linear preLogits = null;
        int preDim = 0;
        if (h0.preLogits != null) {
            preDim = h0.preRows.length;
            preLogits = linears.build(d, new Weights.Seg(h0.preLogits.wmat(), h0.preRows,
                    inverse(h0.preLogits.inIndex(), d, "pre-logits input"), h0.preLogits.bias(), h0.preLogits.scale(), h0.preLogits.rowScale()));
        }
        int feat = preDim > 0 ? preDim : d;
        Linear head = linears.build(feat, new Weights.Seg(h0.proj.wmat(), h0.rows, headCols(h0, feat), h0.proj.bias(), h0.proj.scale(),
                h0.proj.rowScale()));
        Linear distHead = null;
        if (heads.size() == 2) {
            Head h1 = heads.get(1);
            if (h1.rows.length != numClasses) throw imp.outputFail("the two heads have " + numClasses + " and " + h1.rows.length + " classes");
            if ((h1.preLogits == null) != (h0.preLogits == null)) throw imp.outputFail("only one of the two heads has a pre-logits layer");
            distHead = linears.build(feat, new Weights.Seg(h1.proj.wmat(), h1.rows, headCols(h1, feat), h1.proj.bias(), h1.proj.scale(),
                    h1.proj.rowScale()));
        }

        // --- embedding
        int p = pe.patch();
        Tensor w = pe.weight();
        int channels = (int) w.shape[1];
        long g = pe.grid();
        long tokens = emb.prefixes.size() + g * g;
        Linear patch = linears.build((int) (channels * p * (long) p),
                new Weights.Seg(w.reshape(new long[] {d, (long) channels * p * p}).transpose(new int[] {1, 0}), range(d), null, pe.bias(), 1.0));
        MemorySegment cls = emb.prefixes.get(0).f32(arena);
        MemorySegment dist = distilled ? emb.prefixes.get(1).f32(arena) : null;
        MemorySegment pos = emb.pos != null ? emb.pos.f32(arena) : arena.allocate(tokens * d * 4, 64);
        if (pos.byteSize() != tokens * d * 4) throw fail("position embedding of " + pos.byteSize() / 4 + " values for " + tokens + " tokens");
        linears.finish();
        config = new ViTConfig((int) (g * p), p, channels, d, blocks.size(), nHeads, mlp, numClasses, lnEps, distilled, preDim);
        weights = new ViTWeights(patch, cls, dist, pos, blocks, lnParams(finalLn, d), preLogits, head, distHead);
        geluForm = gelu;
    }

    String geluForm;

    private long[] headCols(Head h, int feat) throws ModelFormatException {
        return inverse(h.proj.inIndex(), feat, "head input");
    }

    private ModelFormatException fail(String why) {
        return new UnsupportedModelException(file.path + ": " + why);
    }

    /** engine input i -> W input column c, from W column c -> feature index. */
    private long[] inverse(long[] inIndex, int n, String what) throws ModelFormatException {
        if (inIndex.length != n) throw fail(what + ": " + inIndex.length + " inputs for " + n + " features");
        long[] colOf = new long[n];
        java.util.Arrays.fill(colOf, -1);
        for (int c = 0; c < n; c++) {
            long f = inIndex[c];
            if (f < 0 || f >= n || colOf[(int) f] >= 0) throw fail(what + " does not read each feature exactly once");
            colOf[(int) f] = c;
        }
        return colOf;
    }

    private static long[] headRows(Sem.HeadView v) {
        long[] r = new long[v.heads() * v.dim()];
        for (int h = 0; h < v.heads(); h++)
            for (int j = 0; j < v.dim(); j++) r[h * v.dim() + j] = v.base() + h * v.headStride() + j * v.dimStride();
        return r;
    }

    private static long[] range(long n) {
        long[] r = new long[(int) n];
        for (int i = 0; i < n; i++) r[i] = i;
        return r;
    }

    private LayerNormParams lnParams(Sem.Ln ln, int d) {
        MemorySegment g = ln.gamma() != null ? ln.gamma().f32(arena) : fill(d, 1f);
        MemorySegment b = ln.beta() != null ? ln.beta().f32(arena) : fill(d, 0f);
        return new LayerNormParams(g, b);
    }

    private MemorySegment fill(int n, float v) {
        MemorySegment s = arena.allocate(n * 4L, 64);
        for (int i = 0; i < n; i++) s.setAtIndex(ElemType.F32, i, v);
        return s;
    }

    private void checkOutputLayout(Act out) throws ModelFormatException {
        if (out.rank() != 2) throw imp.outputFail("the output is laid out " + out.layout() + "; jvit expects logits [batch, classes]");
        for (Atom a : out.axes.get(0))
            if (a.space() != Space.BATCH) throw imp.outputFail("the output's first axis is not the batch: " + out.layout());
        if (out.axes.get(0).isEmpty() && !(imp.batchDim.isConst() && imp.batchDim.value() == 1))
            throw imp.outputFail("the output has no batch axis: " + out.layout());
        for (Atom a : out.last())
            if (a.space() != Space.CHAN) throw imp.outputFail("the output's last axis is not the classes: " + out.layout());
    }

    private Head head(Act a) throws ModelFormatException {
        if (!(a.sem instanceof Sem.Proj p)) throw imp.outputFail("a head is " + ViTImporter.describe(a.sem) + ", not a linear layer");
        long[] rows = Layout.enumerate(a.last(), a.base, Space.CHAN);
        Sem.Proj pre = null;
        long[] preRows = null;
        Sem.Ln ln;
        Act in;
        if (p.input() instanceof Sem.Tanh t) {
            pre = t.proj();
            preRows = p.inIndex();
            ln = (Sem.Ln) pre.input();
            in = pre.inputAct();
            // the head then reads pre-logits features in its own order: identity after remapping
            p = new Sem.Proj(p.input(), p.inputAct(), range(preRows.length), p.wmat(), p.bias(), p.scale(), p.rowScale(), p.node(), null);
        } else if (p.input() instanceof Sem.Ln l) {
            ln = l;
            in = p.inputAct();
        } else throw imp.outputFail("the head reads " + ViTImporter.describe(p.input()) + ", not the final LayerNorm");
        if (ln.stage() != Sem.LnStage.NORMED && ln.stage() != Sem.LnStage.NORM && ln.stage() != Sem.LnStage.SCALED)
            throw imp.outputFail("the head reads an incomplete LayerNorm");
        int token = imp.tokenOf(in);
        return new Head(p, rows, ln, token, pre, preRows);
    }
}
