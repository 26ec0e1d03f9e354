/**
 * ONNX import: {@link io.jvit.loader.onnx.OnnxLoader#load} reads a ViT-family {@code .onnx} file onto the
 * engine's {@link io.jvit.engine.ViTModel}, so it runs on the engine's fused kernels, not on a
 * node-by-node interpreter.
 *
 * <h2>Reading</h2>
 * The protobuf classes are generated at build time from {@code src/main/proto/onnx.proto}, the subset of
 * ONNX's schema jvit needs, with ONNX's field numbers. The file is memory-mapped into a shared arena and
 * parsed through a {@code ByteString} over the mapping with aliasing on, so {@code raw_data} stays in the
 * mapping (size limit raised; files over 2 GB are refused: such models keep weights in external data).
 * Initializers become strided views ({@code Tensor}) over raw data (little-endian), the typed repeated
 * fields, or external data files mapped beside the model. An external {@code location} that is absolute,
 * climbs out of the model's folder ({@code ..}) or is a link leading out is refused; so is data shorter
 * or longer than the shape says, naming the initializer.
 *
 * <h2>Recognising</h2>
 * {@code ViTImporter} walks the live nodes in topological order and gives each value an abstract meaning
 * ({@code Values}, {@code Sem}): constants are folded (views for transposes, slices, reshapes of weights;
 * float32 arithmetic for small ones), shape arithmetic stays symbolic and linear in the batch size, and
 * activations are tracked as meanings (the residual stream, a LayerNorm of it in any of its decomposed
 * stages, a projection, attention scores of a query and key projection, GELU's stages, ...) with their
 * axes described as "atoms" of index spaces (batch, token, channel, head...), so that any sequence of
 * Transpose/Reshape/Slice/Gather/Split/Squeeze is followed exactly. Each operator has rules for the
 * meanings it may meet; the first node that fits none stops the import with a one-line
 * {@link io.jvit.loader.UnsupportedModelException} naming it and why. Width, depth, heads (from how the
 * channel axis is split into the batched matmul's head axis), head size, patch and image size, epsilon,
 * classes, distillation and pre-logits all come from the graph. The attention scale is checked against
 * 1/sqrt(head size); another one is folded into the query weights. LayerScale factors are folded into
 * the projections.
 * <p>
 * Known forms: torchvision (fused in_proj, sequence-first MultiheadAttention, batch*heads reshapes),
 * Hugging Face-style (separate q/k/v, scores divided after QK^T), timm-style (fused qkv, Split+Squeeze
 * or Gather unbind, q scaled before), DeiT distilled (timm and HF), opsets 11 to 20, dynamic or fixed
 * batch, LayerNorm as LayerNormalization or ReduceMean/Sub/Pow/Sqrt/Div, GELU as the erf pattern in
 * either product order or as a Gelu node (opset 20 or com.microsoft), class tokens by Expand or Tile,
 * position embeddings on the whole sequence or on the patches only, exports without constant folding
 * (weight Transposes in the graph), ONNX Runtime quantize_dynamic models (see
 * {@code QuantizedMatMulPattern}). Refused with a reason: CNNs and other convolutions, tanh GELU,
 * ReLU, global average pooling, post-LN or parallel blocks, attention masks/biases, softmax outputs,
 * mixed LayerNorm epsilons, non-square images, integer or unsupported element types where weights belong.
 *
 * <h2>Weights</h2>
 * {@code ViTAssembler} builds the engine's config and weights. A weight already in the engine's layout
 * ([out][in] float32, e.g. a Gemm transB=1 weight, the patch-embedding convolution, tokens, position
 * embeddings, LayerNorm parameters) is a slice of the mapping: no copy. So is a float32 MatMul weight used
 * whole ([in][out]: a transposed Linear, which the engine packs from as is), and so are separate q, k, v
 * matrices (a stacked Linear of the three). Anything else (q/k/v rows gathered into the fused [3D, D]
 * matrix in the engine's head order, a folded scale, float16) is written once into the model's arena by
 * {@code Weights}, streaming source rows, in parallel. The engine then packs the weights into its own layout (its copy, not the loader's).
 *
 * <h2>Tests (loader/src/test/java/io/jvit/loader/onnx)</h2>
 * OnnxFixtureTest (every fixtures/onnx model vs PyTorch at batch 3 and 1, and bit-equal weights and
 * reference logits vs the same model from safetensors), OnnxVariantsTest (fixtures/onnx_extra from
 * tools/make_onnx_extra.py: other exporters' forms that must match, graphs that must be refused),
 * OnnxMutantsTest (seeded mutants of the fixture graphs: refused or equal to a numpy evaluation of the
 * mutant), OnnxBadInputTest (truncated, not protobuf, short data, external paths, missing files, element
 * types), OnnxConformanceTest (the engine's LayerNorm, Softmax, MatMul, Gemm and Erf kernels against
 * ONNX's own node test cases from Debian's libonnx-testdata, which must be installed).
 * <p>
 * Load time is measured by hand with OnnxLoadTiming (and OnnxSkeleton to rebuild a ViT-B/16 file without
 * Python); see their comments.
 */
package io.jvit.loader.onnx;
