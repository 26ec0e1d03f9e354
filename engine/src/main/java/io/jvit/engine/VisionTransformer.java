package io.jvit.engine;

import jdk.incubator.vector.FloatVector;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;

/**
 * A ViT ready to run: weights packed for the matmul kernel in its own off-heap arena, a fixed pool of
 * worker threads, and activation buffers reused across calls (grown when a larger batch comes).
 * <p>
 * Forward pass, in the paper's terms: patch embedding (the strided convolution as a matmul over
 * flattened patches), CLS (and distillation) token, learned position embeddings, {@code depth} pre-LN
 * encoder blocks, final LayerNorm, classification head on the CLS token (DeiT: the average of the
 * CLS head and the distillation head).
 * <p>
 * Thread safety: any number of threads may call it; calls are serialised (each one uses the whole
 * worker pool, so running two at once would only make both slower). Close it to stop the workers
 * and free the off-heap memory.
 */
public final class VisionTransformer implements AutoCloseable {
    /** How {@link #features} pools the final-LayerNorm tokens. */
    public enum Pool { CLS, MEAN }

    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final int LANES = VectorMath.LANES;

    /**
     * The activations the encoder blocks write, for some number of rows: the residual stream x, a LayerNorm's
     * output xn, a sub-layer's output delta (added to x by the next LayerNorm), the heads' outputs side by side,
     * the fused [q | k | v] rows, and the MLP's hidden rows. Buffers whose contents never live at the same time
     * are shared ({@link Lane#rows}).
     */
    private record Rows(MemorySegment x, MemorySegment xn, MemorySegment delta, MemorySegment heads, MemorySegment qkv,
                        MemorySegment hidden, MemorySegment shared) {}

    private record Block(MemorySegment norm1Gamma, MemorySegment norm1Beta, PackedLinear qkv, PackedLinear proj,
                         MemorySegment norm2Gamma, MemorySegment norm2Beta, PackedLinear fc1, PackedLinear fc2) {}

    private final ViTConfig config;
    private final List<String> labels;
    private final Arena arena = Arena.ofShared();
    private final WorkerPool pool;
    private final PackedLinear patchEmbedding;
    private final float[] classToken, distillationToken, positionEmbedding;
    private final Block[] blocks;
    private final MemorySegment normGamma, normBeta;
    private final PackedLinear preLogits, head, distillationHead;
    private final long packedBytes;
    private final Map<Integer, MemorySegment> positionsBySize = new HashMap<>();
    private MemorySegment lastPositions;
    private int lastPositionsSize;

    /** Parts of the forward pass that {@link #kernelNanos()} times when profiling is on. */
    public enum Stage { PATCH_EMBEDDING, LAYER_NORM, QKV_MATMUL, ATTENTION, PROJ_MATMUL, MLP_FC1_GELU, MLP_FC2, HEAD }

    private volatile boolean profiling;
    /**
     * Whether batches of at least {@code threads} images run one share per thread, each alone (system property
     * jvit.batchSplit=true), instead of the whole pool on every step of the batch (the default). Split, each core
     * reads every weight, and the batch waits for the slower share: batch 8 on 2 threads took 1.11-1.18x (ViT-B)
     * the time of the whole pool, and 0.93-1.16x (ViT-Ti, ViT-S) depending on the host's phase (docs/BENCHMARKS.md).
     */
    private final boolean splitBatches = "true".equals(System.getProperty("jvit.batchSplit"));
    /**
     * Whether the last encoder block, when only the CLS (and distillation) tokens are read after it (classify,
     * CLS features), computes those rows alone (system property jvit.lastBlockPrefixOnly=false: every row).
     * The other tokens still give their keys and values; their queries, attention, projection and MLP would
     * feed nothing. Each row's arithmetic is the same either way, so the logits are bit for bit the same.
     */
    private final boolean prefixOnlyLastBlock = !"false".equals(System.getProperty("jvit.lastBlockPrefixOnly"));
    /** The whole pool on one batch: batch 1, small batches, features. */
    private final Lane shared;
    /** One per thread, each running its share of a batch alone; made on first use. */
    private Lane[] split;
    private boolean closed;

    public VisionTransformer(ViTModel model, int threads) {
        this.config = model.config();
        this.labels = model.labels();
        ViTWeights w = model.weights();
        this.pool = new WorkerPool(threads);
        this.shared = new Lane(threads);
        // Every Linear packed at once, one per task: allocating (zero-filling, first-touch page faults)
        // costs about as much as the packing itself, and both spread over the workers this way.
        List<Linear> linears = new ArrayList<>();
        linears.add(w.patchEmbedding());
        for (EncoderBlock b : w.blocks()) linears.addAll(List.of(b.qkv(), b.proj(), b.fc1(), b.fc2()));
        boolean hasHead = w.head() != null && config.numClasses() > 0, hasDist = config.distilled() && w.distillationHead() != null;
        if (w.preLogits() != null) linears.add(w.preLogits());
        if (hasHead) linears.add(w.head());
        if (hasDist) linears.add(w.distillationHead());
        PackedLinear[] packed = new PackedLinear[linears.size()];
        Integer[] bySize = new Integer[packed.length];
        for (int i = 0; i < bySize.length; i++) bySize[i] = i;
        java.util.Arrays.sort(bySize, (x, y) -> Long.compare(linears.get(y).parameterCount(), linears.get(x).parameterCount()));
        // share s (parallelFor hands each worker a contiguous share) gets every T-th by size, largest first, so
        // the shares weigh alike and the items left to take from another share at the end are small ones
        int t = pool.threads(), o = 0;
        int[] order = new int[packed.length];
        for (int s = 0; s < t; s++) for (int r = s; r < bySize.length; r += t) order[o++] = bySize[r];
        // all the panels in one slab on 2 MB pages (HugePages: they stream from DRAM every pass), each Linear's at a
        // 64-byte boundary; one mapping, so that no Linear's tail is left on 4 KB pages
        long[] size = new long[packed.length], at = new long[packed.length + 1];
        for (int i = 0; i < packed.length; i++) {
            size[i] = PackedLinear.dataBytes(linears.get(i));
            at[i + 1] = at[i] + (size[i] + 63) / 64 * 64;
        }
        MemorySegment slab = HugePages.allocate(arena, Math.max(64, at[packed.length]));
        pool.parallelFor(packed.length, i -> {
            int j = order[i];
            packed[j] = PackedLinear.pack(linears.get(j), arena, slab.asSlice(at[j], size[j]));
        });
        int next = 0;
        this.patchEmbedding = packed[next++];
        this.classToken = floats(w.classToken());
        this.distillationToken = w.distillationToken() == null ? null : floats(w.distillationToken());
        this.positionEmbedding = floats(w.positionEmbedding());
        this.blocks = new Block[config.depth()];
        long bytes = patchEmbedding.byteSize();
        for (int i = 0; i < blocks.length; i++) {
            EncoderBlock b = w.blocks().get(i);
            blocks[i] = new Block(copy(b.norm1().gamma()), copy(b.norm1().beta()), packed[next], packed[next + 1],
                    copy(b.norm2().gamma()), copy(b.norm2().beta()), packed[next + 2], packed[next + 3]);
            next += 4;
            bytes += blocks[i].qkv.byteSize() + blocks[i].proj.byteSize() + blocks[i].fc1.byteSize() + blocks[i].fc2.byteSize();
        }
        this.normGamma = copy(w.finalNorm().gamma());
        this.normBeta = copy(w.finalNorm().beta());
        this.preLogits = w.preLogits() == null ? null : packed[next++];
        this.head = hasHead ? packed[next++] : null;
        this.distillationHead = hasDist ? packed[next++] : null;
        for (PackedLinear p : new PackedLinear[] {preLogits, head, distillationHead}) if (p != null) bytes += p.byteSize();
        this.packedBytes = bytes;
    }

    public ViTConfig config() { return config; }

    /** Turns per-stage timing on or off (it costs two clock reads per stage) and clears the counters. */
    public synchronized void profile(boolean on) {
        profiling = on;
        shared.clearStages();
        if (split != null) for (Lane l : split) l.clearStages();
    }

    /**
     * Nanoseconds spent per {@link Stage} since profiling was turned on, indexed by ordinal. A batch split over
     * the threads counts the stages of the first thread's share (the shares run side by side, alike).
     */
    public synchronized long[] kernelNanos() {
        long[] n = shared.stageNanos.clone();
        if (split != null) for (int i = 0; i < n.length; i++) n[i] += split[0].stageNanos[i];
        return n;
    }

    public List<String> labels() { return labels; }

    public int threads() { return pool.threads(); }

    /**
     * Multiply-adds x 2 that {@link #classify} computes per image at this input size: fewer than
     * {@link ViTConfig#gflopsPerImage(int)} when the last block runs the prefix rows alone.
     */
    public double gflopsComputedPerImage(int imageSize) {
        return config.gflopsPerImage(imageSize, prefixOnlyLastBlock);
    }

    /** Off-heap bytes of packed weights. */
    public long packedWeightBytes() { return packedBytes; }

    private MemorySegment copy(MemorySegment src) {
        MemorySegment dst = arena.allocate(Math.max(src.byteSize(), (long) LANES * 4), 64);
        MemorySegment.copy(src, 0, dst, 0, src.byteSize());
        return dst;
    }

    private static float[] floats(MemorySegment s) {
        return s.toArray(JAVA_FLOAT_UNALIGNED);
    }

    /**
     * Logits for a batch of preprocessed images at the model's native size.
     *
     * @param pixels images × channels × height × width, row-major (NCHW)
     * @return images × numClasses logits
     */
    public float[] classify(float[] pixels, int images) {
        return classify(pixels, images, config.imageSize());
    }

    /** Logits at another (square) input size: the position embeddings are resampled bicubically. */
    public synchronized float[] classify(float[] pixels, int images, int imageSize) {
        if (head == null) throw new IllegalStateException("model has no classification head");
        check(pixels, images, imageSize);
        float[] logits = new float[images * config.numClasses()];
        int t = pool.threads();
        if (splitBatches && t > 1 && images >= t) {
            // a share of the batch per thread, each run alone: no hand-offs between the ~100 steps of a
            // forward pass, no step too small to split (ViT-Ti's); the weights are read once per share
            makeSplitLanes();
            positions(imageSize);   // cached before the shares read it concurrently
            splitPixels = pixels;
            splitLogits = logits;
            splitImages = images;
            splitSize = imageSize;
            try {
                pool.parallelFor(t, splitShare);   // share i on worker i, as a rule
            } finally {
                splitPixels = splitLogits = null;   // the caller's arrays not kept reachable
            }
        } else {
            shared.classify(pool, pixels, 0, images, imageSize, logits);
        }
        return logits;
    }

    /**
     * Image features: the final-LayerNorm CLS token, or the mean of the final-LayerNorm patch tokens.
     *
     * @return images × width
     */
    public synchronized float[] features(float[] pixels, int images, Pool pooling) {
        check(pixels, images, config.imageSize());
        return shared.features(pool, pixels, images, pooling);
    }

    private void check(float[] pixels, int images, int imageSize) {
        if (closed) throw new IllegalStateException("model is closed");
        ViTConfig c = config;
        if (images < 1) throw new IllegalArgumentException("batch must be >= 1, got " + images);
        if (imageSize <= 0 || imageSize % c.patchSize() != 0)
            throw new IllegalArgumentException("image size " + imageSize + " is not a positive multiple of the patch size " + c.patchSize());
        long expect = (long) images * c.channels() * imageSize * imageSize;
        if (pixels.length != expect)
            throw new IllegalArgumentException("expected " + expect + " floats (" + images + " x " + c.channels() + " x "
                    + imageSize + " x " + imageSize + "), got " + pixels.length);
    }

    // a split batch's arguments, for the loop body made once (a warm forward pass allocates nothing for it)
    private float[] splitPixels, splitLogits;
    private int splitImages, splitSize;
    private final WorkerPool.ItemBody splitShare = (worker, share) -> {
        int t = split.length, i0 = (int) ((long) share * splitImages / t), i1 = (int) ((long) (share + 1) * splitImages / t);
        split[share].classify(null, splitPixels, i0, i1 - i0, splitSize, splitLogits);
    };

    /** One single-worker lane per thread for split batches, made on first use. */
    private void makeSplitLanes() {
        if (split != null) return;
        Lane[] l = new Lane[pool.threads()];
        for (int i = 0; i < l.length; i++) l[i] = new Lane(1);
        split = l;
    }

    private int tokensFor(int imageSize) {
        int g = imageSize / config.patchSize();
        return g * g + config.prefixTokens();
    }

    private long patchLd() { return (config.patchDim() + LANES - 1) / LANES * LANES; }

    private static void addRow(float[] token, MemorySegment pos, int posRow, MemorySegment dst, long dstIndex, int d) {
        for (int c = 0; c < d; c++)
            dst.setAtIndex(JAVA_FLOAT, dstIndex + c, token[c] + pos.getAtIndex(JAVA_FLOAT, (long) posRow * d + c));
    }

    private static void addRows(MemorySegment src, long srcIndex, MemorySegment pos, int posRow, MemorySegment dst, long dstIndex, int d) {
        int c = 0;
        for (; c + LANES <= d; c += LANES) {
            FloatVector a = FloatVector.fromMemorySegment(VectorMath.F, src, (srcIndex + c) * 4, NATIVE);
            FloatVector b = FloatVector.fromMemorySegment(VectorMath.F, pos, ((long) posRow * d + c) * 4, NATIVE);
            a.add(b).intoMemorySegment(dst, (dstIndex + c) * 4, NATIVE);
        }
        for (; c < d; c++)
            dst.setAtIndex(JAVA_FLOAT, dstIndex + c, src.getAtIndex(JAVA_FLOAT, srcIndex + c) + pos.getAtIndex(JAVA_FLOAT, (long) posRow * d + c));
    }

    /** Position embeddings for an input size, resampled and cached off-heap on first use. */
    private MemorySegment positions(int imageSize) {
        // the last size's table first: a pass at any size but the smallest would otherwise box its size for the map
        MemorySegment last = lastPositions;
        if (last != null && lastPositionsSize == imageSize) return last;
        MemorySegment table = positionsBySize.computeIfAbsent(imageSize, size -> {
            int g = config.gridSize(), ng = size / config.patchSize();
            float[] pe = PositionEmbedding.resample(positionEmbedding, config.prefixTokens(), g, ng, config.width());
            MemorySegment s = arena.allocate((long) pe.length * 4 + 64, 64);
            MemorySegment.copy(pe, 0, s, JAVA_FLOAT, 0, pe.length);
            return s;
        });
        lastPositionsSize = imageSize;
        lastPositions = table;
        return table;
    }

    /** Bytes of activation buffers currently held (they grow with batch and tokens, linearly). */
    public synchronized long activationBytes() {
        long s = shared.activationBytes();
        if (split != null) for (Lane l : split) s += l.activationBytes();
        return s;
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        pool.close();
        shared.close();
        if (split != null) for (Lane l : split) l.close();
        arena.close();
    }

    /**
     * What one forward pass writes: the activation buffers (grown when a larger batch comes), attention's
     * scratch, and the per-stage clock. The shared lane runs on the whole pool; a split lane on one thread.
     */
    private final class Lane {
        private final Attention attention;
        private final float[][] patchRow;   // per worker of the pool this lane runs on
        private final long[] stageNanos = new long[Stage.values().length];
        private long stageStart;
        private Arena bufferArena = Arena.ofShared();
        private int capacityRows = -1, capacityImages = -1;
        private long capacityPatchRows = -1;
        private MemorySegment patches, patchOut, prefixIn, prefixOut, logitsA, logitsB;
        /** The encoder's activations for every row, and for the last block's prefix rows ({@link #lastBlockPrefixRows}). */
        private Rows all, pre;

        Lane(int workers) {
            attention = new Attention(workers, config.heads(), config.headDim());
            patchRow = new float[workers][0];
        }

        void clearStages() { java.util.Arrays.fill(stageNanos, 0); }

        private void mark() {
            if (profiling) stageStart = System.nanoTime();
        }

        private void done(Stage s) {
            if (profiling) {
                long now = System.nanoTime();
                stageNanos[s.ordinal()] += now - stageStart;
                stageStart = now;
            }
        }

        /** Logits of images [first, first + images) of {@code pixels} into {@code logits} (numClasses per image). */
        void classify(WorkerPool pool, float[] pixels, int first, int images, int imageSize, float[] logits) {
            int d = config.width(), nc = config.numClasses();
            encode(pool, pixels, first, images, imageSize, prefixOnlyLastBlock);
            int tokens = tokensFor(imageSize);
            int rows = Matmul.padRows(images);
            mark();
            finalNormPrefix(images, tokens, 0, prefixOnlyLastBlock);
            MemorySegment out = headLogits(prefixIn, rows, head, logitsA);
            for (int b = 0; b < images; b++) MemorySegment.copy(out, JAVA_FLOAT, (long) b * head.paddedN() * 4, logits, (first + b) * nc, nc);
            if (distillationHead != null) {
                finalNormPrefix(images, tokens, 1, prefixOnlyLastBlock);
                MemorySegment dist = headLogits(prefixIn, rows, distillationHead, logitsB);
                for (int b = 0; b < images; b++)
                    for (int i = 0; i < nc; i++) {
                        int o = (first + b) * nc + i;
                        logits[o] = (logits[o] + dist.getAtIndex(JAVA_FLOAT, (long) b * distillationHead.paddedN() + i)) * 0.5f;
                    }
            }
            done(Stage.HEAD);
        }

        float[] features(WorkerPool pool, float[] pixels, int images, Pool pooling) {
            int d = config.width();
            boolean prefixOnly = prefixOnlyLastBlock && pooling == Pool.CLS;
            encode(pool, pixels, 0, images, config.imageSize(), prefixOnly);
            int tokens = config.tokens(), dp = Matmul.padCols(d);
            int prefix = config.prefixTokens();
            float[] out = new float[images * d];
            if (pooling == Pool.CLS) {
                finalNormPrefix(images, tokens, 0, prefixOnly);
                for (int b = 0; b < images; b++)
                    MemorySegment.copy(prefixIn, JAVA_FLOAT, (long) b * dp * 4, out, b * d, d);
            } else {
                LayerNorm.apply(pool, all.x(), dp, all.xn(), dp, images * tokens, d, normGamma, normBeta, config.layerNormEps());
                for (int b = 0; b < images; b++) {
                    for (int t = prefix; t < tokens; t++)
                        for (int c = 0; c < d; c++)
                            out[b * d + c] += all.xn().getAtIndex(JAVA_FLOAT, (long) (b * tokens + t) * dp + c);
                    for (int c = 0; c < d; c++) out[b * d + c] /= (tokens - prefix);
                }
            }
            return out;
        }

        /** The head (after pre-logits, if any) on {@code rows} prefix rows; returns the segment holding the logits rows. */
        private MemorySegment headLogits(MemorySegment in, int rows, PackedLinear h, MemorySegment out) {
            int dp = Matmul.padCols(config.width());
            MemorySegment src = in;
            long lds = dp;
            if (preLogits != null) {
                preLogits.multiply(null, in, dp, rows, prefixOut, preLogits.paddedN(), Matmul.Epilogue.TANH);
                src = prefixOut;
                lds = preLogits.paddedN();
            }
            h.multiply(null, src, lds, rows, out, h.paddedN(), Matmul.Epilogue.STORE);
            return out;
        }

        /**
         * Token {@code which} (0: CLS, 1: distillation) of each image after the final LayerNorm, into row b of
         * prefixIn: normalised here from the residual stream, or, if the last block ran the prefix rows alone,
         * copied from where that block's last pass left it (pre.xn). The head reads nothing else.
         */
        private void finalNormPrefix(int images, int tokens, int which, boolean prefixOnly) {
            int d = config.width(), dp = Matmul.padCols(d), prefix = config.prefixTokens();
            MemorySegment src = prefixOnly ? pre.xn() : all.x();
            int perImage = prefixOnly ? prefix : tokens;
            for (int b = 0; b < images; b++)
                MemorySegment.copy(src, ((long) b * perImage + which) * dp * 4, prefixIn, (long) b * dp * 4, (long) dp * 4);
            if (!prefixOnly) LayerNorm.apply(null, prefixIn, dp, prefixIn, dp, images, d, normGamma, normBeta, config.layerNormEps());
        }

        // the patch assembly's arguments, for the loop body made once (a warm forward pass allocates nothing for it)
        private float[] assemblePixels;
        private int assembleFirst, assembleSize;
        private final WorkerPool.ItemBody assemble = (worker, item) -> assemblePatchRow(worker, item, assemblePixels, assembleFirst, assembleSize);

        /** Patch row {@code item} (image item / grid, row item % grid) of the images from {@code first} into patches, one row of ldp floats per patch. */
        private void assemblePatchRow(int worker, int item, float[] pixels, int first, int imageSize) {
            ViTConfig c = config;
            int p = c.patchSize(), grid = imageSize / p, np = grid * grid;
            long ldp = patchLd();
            float[] pr = patchRow[worker];   // a patch assembled on the heap, then copied out whole (a segment copy per patch row cost ~50 ns each)
            int b = item / grid, gy = item % grid;
            for (int gx = 0; gx < grid; gx++) {
                int col = 0;
                for (int ch = 0; ch < c.channels(); ch++)
                    for (int ky = 0; ky < p; ky++, col += p)
                        System.arraycopy(pixels, (((first + b) * c.channels() + ch) * imageSize + gy * p + ky) * imageSize + gx * p, pr, col, p);
                MemorySegment.copy(pr, 0, patches, JAVA_FLOAT, ((long) (b * np + gy * grid + gx)) * ldp * 4, (int) ldp);
            }
        }

        /**
         * Patch embedding and the encoder blocks for images [first, first + images); leaves the residual stream in
         * all.x, or, if {@code prefixOnly}, the final-LayerNorm CLS (and distillation) rows in pre.xn (see
         * {@link #finalNormPrefix}).
         */
        private void encode(WorkerPool pool, float[] pixels, int first, int images, int imageSize, boolean prefixOnly) {
            ViTConfig c = config;
            int tokens = tokensFor(imageSize);
            ensureBuffers(images, tokens, imageSize);
            int d = c.width(), dp = Matmul.padCols(d);
            int grid = imageSize / c.patchSize(), np = grid * grid, prefix = c.prefixTokens();
            int m = Matmul.padRows(images * tokens);

            mark();
            // patch embedding: flatten each patch (c, y, x) into a row, then one matmul with the conv weight
            long ldp = patchLd();
            // rows of ldp floats, zero past pd: the patches' buffer is shared with later stages and holds their values
            if (patchRow[0].length < ldp) for (int i = 0; i < patchRow.length; i++) patchRow[i] = new float[(int) ldp];
            // one row of patches per task: serial, this took long enough (~0.3 ms) for the workers to park
            if (pool == null) for (int i = 0; i < images * grid; i++) assemblePatchRow(0, i, pixels, first, imageSize);
            else {
                assemblePixels = pixels;
                assembleFirst = first;
                assembleSize = imageSize;
                try {
                    pool.parallelFor(images * grid, assemble);
                } finally {
                    assemblePixels = null;   // the caller's image not kept reachable
                }
            }
            patchEmbedding.multiply(pool, patches, ldp, Matmul.padRows(images * np), patchOut, dp, Matmul.Epilogue.STORE);

            // tokens: [CLS, (dist), patches] + position embeddings
            MemorySegment pos = positions(imageSize);
            for (int b = 0; b < images; b++) {
                long rowBase = (long) b * tokens;
                addRow(classToken, pos, 0, all.x(), rowBase * dp, d);
                if (distillationToken != null) addRow(distillationToken, pos, 1, all.x(), (rowBase + 1) * dp, d);
                for (int t = 0; t < np; t++)
                    addRows(patchOut, (long) (b * np + t) * dp, pos, prefix + t, all.x(), (rowBase + prefix + t) * dp, d);
            }

            done(Stage.PATCH_EMBEDDING);

            int qkvLd = Matmul.padCols(3 * d);
            boolean pending = false;   // delta holds fc2's output, not yet added to x
            for (int i = 0; i < blocks.length; i++) {
                Block blk = blocks[i];
                // x = x + MSA(LN(x)); x = x + MLP(LN(x)): each sub-layer stores to delta, and the residual add
                // happens in the LayerNorm pass that follows it (0-2% faster than adding inside the matmul, whose
                // tiles read x from L2/L3 a few lines at a time)
                if (pending) LayerNorm.addApply(pool, all.x(), all.delta(), dp, all.xn(), dp, m, d, blk.norm1Gamma, blk.norm1Beta, c.layerNormEps());
                else LayerNorm.apply(pool, all.x(), dp, all.xn(), dp, m, d, blk.norm1Gamma, blk.norm1Beta, c.layerNormEps());
                done(Stage.LAYER_NORM);
                if (prefixOnly && i == blocks.length - 1) {
                    lastBlockPrefixRows(pool, blk, images, tokens, m);
                    return;
                }
                blk.qkv.multiply(pool, all.xn(), dp, m, all.qkv(), qkvLd, Matmul.Epilogue.STORE);
                done(Stage.QKV_MATMUL);
                attention.forward(pool, all.qkv(), qkvLd, images, tokens, all.heads(), dp);
                done(Stage.ATTENTION);
                projectionAndMlp(pool, blk, all, m);
                pending = true;
            }
            if (pending) {
                LayerNorm.add(pool, all.x(), all.delta(), dp, m, d);
                done(Stage.LAYER_NORM);
            }
        }

        /**
         * A block after attention, over {@code rows} rows: the projection of the heads' outputs, the residual add
         * with the second LayerNorm, and the MLP, whose output is left in delta (the next LayerNorm adds it to x).
         */
        private void projectionAndMlp(WorkerPool pool, Block blk, Rows r, int rows) {
            int d = config.width(), dp = Matmul.padCols(d), hidLd = Matmul.padCols(config.mlpDim());
            blk.proj.multiply(pool, r.heads(), dp, rows, r.delta(), dp, Matmul.Epilogue.STORE);
            done(Stage.PROJ_MATMUL);
            LayerNorm.addApply(pool, r.x(), r.delta(), dp, r.xn(), dp, rows, d, blk.norm2Gamma, blk.norm2Beta, config.layerNormEps());
            done(Stage.LAYER_NORM);
            blk.fc1.multiply(pool, r.xn(), dp, rows, r.hidden(), hidLd, Matmul.Epilogue.GELU);
            done(Stage.MLP_FC1_GELU);
            blk.fc2.multiply(pool, r.hidden(), hidLd, rows, r.delta(), dp, Matmul.Epilogue.STORE);
            done(Stage.MLP_FC2);
        }

        /**
         * The last encoder block for the prefix rows alone, from its first LayerNorm's output (x and xn up to date):
         * keys and values of every token, then queries, attention, projection and MLP for the CLS (and distillation)
         * rows, gathered into the small buffers {@code pre} (row b * prefix + j), ending with the final LayerNorm of those rows.
         */
        private void lastBlockPrefixRows(WorkerPool pool, Block blk, int images, int tokens, int m) {
            ViTConfig c = config;
            int d = c.width(), dp = Matmul.padCols(d), prefix = c.prefixTokens();
            int qkvLd = Matmul.padCols(3 * d);
            int rows = images * prefix, pm = Matmul.padRows(rows);
            // the queries are the first d columns of qkv: when they fill whole panels, only the keys' and values'
            // panels run over every token; otherwise all of them do, and the prefix rows' queries are copied out
            int qPanels = d % Matmul.NR == 0 ? d / Matmul.NR : 0;
            blk.qkv.multiply(pool, all.xn(), dp, m, all.qkv(), qkvLd, Matmul.Epilogue.STORE, qPanels, blk.qkv.panels());
            for (int b = 0; b < images; b++)
                for (int j = 0; j < prefix; j++) {
                    long from = (long) b * tokens + j, to = (long) b * prefix + j;
                    MemorySegment.copy(all.x(), from * dp * 4, pre.x(), to * dp * 4, (long) dp * 4);
                    MemorySegment.copy(all.xn(), from * dp * 4, pre.xn(), to * dp * 4, (long) dp * 4);
                    if (qPanels == 0) MemorySegment.copy(all.qkv(), from * qkvLd * 4, pre.qkv(), to * qkvLd * 4, (long) qkvLd * 4);
                }
            if (qPanels > 0) blk.qkv.multiply(pool, pre.xn(), dp, pm, pre.qkv(), qkvLd, Matmul.Epilogue.STORE, 0, qPanels);
            done(Stage.QKV_MATMUL);
            attention.forward(pool, pre.qkv(), qkvLd, prefix, all.qkv(), qkvLd, images, tokens, pre.heads(), dp);
            done(Stage.ATTENTION);
            projectionAndMlp(pool, blk, pre, pm);
            // the last residual add and the final LayerNorm in one pass, as between blocks: pre.xn holds what the
            // head reads (finalNormPrefix). (LayerNorm.add here, a few rows per pass, stayed in C1 for hundreds of
            // passes and boxed its vectors: ~20 KB of garbage per pass in jvit bench.)
            LayerNorm.addApply(pool, pre.x(), pre.delta(), dp, pre.xn(), dp, pm, d, normGamma, normBeta, c.layerNormEps());
            done(Stage.LAYER_NORM);
        }

        private void ensureBuffers(int images, int tokens, int imageSize) {
            int rows = images * tokens;
            int grid = imageSize / config.patchSize();
            long patchRows = Matmul.padRows(images * grid * grid) + Matmul.MR;
            if (rows <= capacityRows && images <= capacityImages && patchRows <= capacityPatchRows) return;
            bufferArena.close();
            bufferArena = Arena.ofShared();
            int d = config.width();
            // slack rows: attention reads whole micro-tiles of queries past the last token
            long m = Matmul.padRows(rows) + Attention.MAX_QB + Matmul.MR;
            long dp = Matmul.padCols(d);
            // the patch embedding runs before the first block: its input lives in the qkv/hidden buffer (see rows)
            // and its output in delta, which the first block writes before it reads
            all = rows(m, patchRows * patchLd());
            patches = all.shared().asSlice(0, patchRows * patchLd() * 4);
            patchOut = all.delta().asSlice(0, patchRows * dp * 4);
            int pr = Matmul.padRows(images);
            int feat = Math.max(Matmul.padCols(d), preLogits == null ? 0 : preLogits.paddedN());
            prefixIn = alloc((long) pr * feat);
            prefixOut = alloc((long) pr * feat);
            int hn = head == null ? Matmul.NR : head.paddedN();
            logitsA = alloc((long) pr * hn);
            logitsB = alloc((long) pr * hn);
            // the last block's prefix rows (slack rows: attention reads a whole micro-tile of each image's queries)
            long pm = Matmul.padRows(images * config.prefixTokens()) + Matmul.MR;
            pre = rows(pm, 0);
            capacityRows = rows;
            capacityImages = images;
            capacityPatchRows = patchRows;
        }

        /**
         * The encoder's activations for m rows (slack included). qkv and hidden share one buffer: the queries,
         * keys and values are dead once attention has run, before fc1 writes the hidden rows; it holds at least
         * {@code minShared} floats. With heads over xn, a third less memory than a buffer each.
         */
        private Rows rows(long m, long minShared) {
            long dp = Matmul.padCols(config.width());
            long qkv = m * Matmul.padCols(3 * config.width()) + Matmul.NR, hidden = m * Matmul.padCols(config.mlpDim());
            MemorySegment shared = alloc(Math.max(minShared, Math.max(qkv, hidden)));
            // the heads' outputs overwrite xn, which the qkv matmul has read by then (and the next LayerNorm writes
            // once the projection has read the heads)
            MemorySegment xn = alloc(m * dp);
            return new Rows(alloc(m * dp), xn, alloc(m * dp), xn, shared.asSlice(0, qkv * 4), shared.asSlice(0, hidden * 4), shared);
        }

        private MemorySegment alloc(long floats) {
            return HugePages.allocate(bufferArena, floats * 4);   // a batch's activations outgrow the TLB too
        }

        long activationBytes() {
            long s = 0;
            if (all == null) return 0;
            // heads, qkv, hidden, patches and patchOut are views of other buffers
            for (MemorySegment m : new MemorySegment[] {all.x(), all.xn(), all.delta(), all.shared(), pre.x(), pre.xn(), pre.delta(),
                    pre.shared(), prefixIn, prefixOut, logitsA, logitsB})
                if (m != null) s += m.byteSize();
            return s;
        }

        void close() {
            attention.close();
            bufferArena.close();
        }
    }
}
