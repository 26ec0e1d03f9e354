#!/usr/bin/python3
"""Builds ONNX models in the form ONNX Runtime's quantize_dynamic produces, for jvit's int8 import tests.

Every MatMul whose B is a float initializer becomes

    x --DynamicQuantizeLinear--> (x_q uint8, x_scale, x_zp)
    MatMulInteger(x_q, W_q, x_zp, W_zp) --Cast(FLOAT)--> Mul(., Mul(x_scale, W_scale)) --> y   (the bias Add stays)

with W quantized in numpy the way ORT does it:
  * per-tensor asymmetric uint8 (the default here): rmin = min(0, W.min()), rmax = max(0, W.max()),
    scale = (rmax - rmin) / 255, zp = round(-rmin / scale), q = clip(round(W / scale) + zp, 0, 255);
  * per-channel symmetric int8 (--per-channel): for each output column n, scale[n] = max|W[:, n]| / 127,
    zp = 0, q = clip(round(W / scale), -127, 127).
The dequantized weight is W' = (q - zp) * scale. Gemm nodes (the heads) stay float. The models read the
input of ../<fixture>/input.bin; the tests compare their logits with the F32 fixture's.

Run from the repository root with the system Python (onnx 1.12, numpy; no onnxruntime needed):
    /usr/bin/python3 tools/make_int8_onnx.py
Writes fixtures/int8/{timm_vit,hf_vit}_op17_{u8,s8c}.onnx and index.json. For one model (benchmarks):
    /usr/bin/python3 tools/make_int8_onnx.py IN.onnx OUT.onnx [--per-channel]
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

OUT = "fixtures/int8"
MODELS = ["timm_vit_op17", "hf_vit_op17"]


def quantize_weight(w, per_channel):
    w = w.astype(np.float32)
    if per_channel:
        absmax = np.abs(w).max(axis=0)
        scale = (absmax / 127.0).astype(np.float32)
        safe = np.where(scale == 0, 1, scale)
        q = np.clip(np.round(w / safe), -127, 127).astype(np.int8)
        return q, scale, np.zeros(w.shape[1], dtype=np.int8)
    rmin, rmax = min(0.0, float(w.min())), max(0.0, float(w.max()))
    scale = np.float32((rmax - rmin) / 255.0 if rmax > rmin else 1.0)
    zp = np.uint8(np.clip(round(-rmin / scale), 0, 255))
    q = np.clip(np.round(w / scale) + int(zp), 0, 255).astype(np.uint8)
    return q, np.array(scale, dtype=np.float32), np.array(zp, dtype=np.uint8)


def dequantize(q, scale, zp):
    return ((q.astype(np.int32) - zp.astype(np.int32)) * scale).astype(np.float32)


def convert(model, per_channel):
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    nodes, new_inits, dequant = [], [], {}
    dql_of = {}   # one DynamicQuantizeLinear per activation, shared by the MatMuls reading it (as ORT does)
    count = 0
    for n in g.node:
        if n.op_type != "MatMul" or n.input[1] not in inits:
            nodes.append(n)
            continue
        w = numpy_helper.to_array(inits[n.input[1]])
        if w.ndim != 2:
            nodes.append(n)
            continue
        count += 1
        x, name, y = n.input[0], n.input[1], n.output[0]
        q, scale, zp = quantize_weight(w, per_channel)
        dequant[name] = dequantize(q, scale, zp)
        new_inits += [numpy_helper.from_array(q, name + "_quantized"), numpy_helper.from_array(scale, name + "_scale"),
                      numpy_helper.from_array(zp, name + "_zero_point")]
        if x not in dql_of:
            dql_of[x] = (x + "_quantized", x + "_scale", x + "_zero_point")
            nodes.append(helper.make_node("DynamicQuantizeLinear", [x], list(dql_of[x]), name=x + "_QuantizeLinear"))
        xq, xs, xzp = dql_of[x]
        base = n.name or y
        nodes.append(helper.make_node("MatMulInteger", [xq, name + "_quantized", xzp, name + "_zero_point"], [y + "_int32"],
                                      name=base + "_quant"))
        nodes.append(helper.make_node("Cast", [y + "_int32"], [y + "_cast"], to=TensorProto.FLOAT, name=base + "_cast"))
        nodes.append(helper.make_node("Mul", [xs, name + "_scale"], [y + "_scales"], name=base + "_scales_mul"))
        nodes.append(helper.make_node("Mul", [y + "_cast", y + "_scales"], [y], name=base + "_output_scale_mul"))
    keep = [i for i in g.initializer if i.name not in dequant]
    del g.initializer[:]
    g.initializer.extend(keep + new_inits)
    del g.node[:]
    g.node.extend(nodes)
    onnx.checker.check_model(model)
    return count, dequant


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if args:
        m = onnx.load(args[0])
        count, _ = convert(m, "--per-channel" in sys.argv)
        m.producer_name = "jvit tools/make_int8_onnx.py (quantize_dynamic pattern)"
        onnx.save(m, args[1])
        print(f"{args[1]}: {count} MatMuls quantized, {os.path.getsize(args[1])} bytes")
        return 0
    os.makedirs(OUT, exist_ok=True)
    index = []
    for stem in MODELS:
        for per_channel in (False, True):
            m = onnx.load(os.path.join("fixtures/onnx", stem + ".onnx"))
            count, _ = convert(m, per_channel)
            tag = "s8c" if per_channel else "u8"
            name = f"{stem}_{tag}.onnx"
            m.producer_name = "jvit tools/make_int8_onnx.py (quantize_dynamic pattern)"
            onnx.save(m, os.path.join(OUT, name))
            fixture = stem.rsplit("_op", 1)[0]
            index.append({"file": name, "fixture": fixture, "source": "fixtures/onnx/" + stem + ".onnx",
                          "weights": "per-channel symmetric int8" if per_channel else "per-tensor asymmetric uint8",
                          "quantized_matmuls": count})
            print(f"{name}: {count} MatMuls quantized, {os.path.getsize(os.path.join(OUT, name))} bytes")
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump({"comment": "made by tools/make_int8_onnx.py from fixtures/onnx; inputs/logits of ../<fixture>/",
                   "models": index}, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
