#!/usr/bin/python3
"""Write full-size random-weight ViTs for benchmarking (NOT committed; bench-models/ is git-ignored).

    /usr/bin/python3 tools/make_bench_models.py                       # ti,s,b into bench-models/
    /usr/bin/python3 tools/make_bench_models.py /tmp/bm --models ti --no-onnx

Models (torchvision.models.VisionTransformer, 224x224, patch 16, 12 layers, MLP 4x, 1000
classes, exact GELU, LayerNorm eps 1e-6), torch.manual_seed(0) + torchvision's own init, except
that class_token and heads.head (zero-initialised by torchvision) get N(0, 0.02^2) so that the
logits are not all zero:

    ti -> vit_ti_16  width 192,  3 heads   (~5.7M params)
    s  -> vit_s_16   width 384,  6 heads   (~22M params)
    b  -> vit_b_16   width 768, 12 heads   (~86M params, same shapes as torchvision's vit_b_16)

For each: <name>.safetensors (torchvision key names, F32, bare file), <name>.onnx (opset 17,
input "pixel_values" [batch,3,224,224] with dynamic batch, output "logits"), and a reference
pair <name>.input.bin (float32 LE [1,3,224,224], randn seed 1) / <name>.logits.bin (float32 LE
[1,1000]). index.json in the folder lists the shapes (hidden size, heads, ...) of every model.
"""

import argparse
import collections
import inspect
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vit_zoo as Z  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SPECS = collections.OrderedDict([
    ("ti", ("vit_ti_16", 192, 3)),
    ("s", ("vit_s_16", 384, 6)),
    ("b", ("vit_b_16", 768, 12)),
])


def log(*a):
    print(*a, flush=True)


def build(hidden, heads):
    import torchvision
    torch.manual_seed(0)
    m = torchvision.models.VisionTransformer(
        image_size=224, patch_size=16, num_layers=12, num_heads=heads, hidden_dim=hidden,
        mlp_dim=4 * hidden, num_classes=1000)
    with torch.no_grad():
        m.class_token.normal_(0, 0.02)
        m.heads.head.weight.normal_(0, 0.02)
        m.heads.head.bias.normal_(0, 0.02)
    return m.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default=os.path.join(REPO, "bench-models"))
    ap.add_argument("--models", default="ti,s,b", help="comma separated subset of ti,s,b")
    ap.add_argument("--no-onnx", action="store_true", help="skip the ONNX exports")
    ap.add_argument("--verify-onnx", action="store_true",
                    help="also run each ONNX file through the numpy interpreter of make_fixtures.py (slow for b)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    idx_path = os.path.join(args.out, "index.json")
    index = collections.OrderedDict()
    if os.path.exists(idx_path):
        with open(idx_path) as f:
            index.update(json.load(f).get("models", {}))
    for key in args.models.split(","):
        name, hidden, heads = SPECS[key.strip()]
        t0 = time.time()
        m = build(hidden, heads)
        nparams = sum(p.numel() for p in m.parameters())
        st = os.path.join(args.out, name + ".safetensors")
        Z.write_safetensors(st, m.state_dict(), "F32")
        x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            logits = m(x)
        Z.write_f32(os.path.join(args.out, name + ".input.bin"), x)
        Z.write_f32(os.path.join(args.out, name + ".logits.bin"), logits)
        log("%s: %.1fM params, safetensors %.1f MB, logits max|.| %.3f top1 %d (%.1fs)" % (
            name, nparams / 1e6, os.path.getsize(st) / 1e6, logits.abs().max().item(),
            logits.argmax().item(), time.time() - t0))
        entry = collections.OrderedDict([
            ("convention", "torchvision"), ("safetensors", name + ".safetensors"),
            ("onnx", None), ("image_size", 224), ("patch_size", 16), ("hidden_size", hidden),
            ("depth", 12), ("heads", heads), ("mlp_dim", 4 * hidden), ("num_classes", 1000),
            ("layer_norm_eps", 1e-6), ("params", nparams),
            ("input", name + ".input.bin"), ("input_shape", [1, 3, 224, 224]),
            ("logits", name + ".logits.bin"), ("logits_shape", [1, 1000])])
        if not args.no_onnx:
            import onnx
            t0 = time.time()
            op = os.path.join(args.out, name + ".onnx")
            kw = dict(export_params=True, opset_version=17, do_constant_folding=True,
                      input_names=["pixel_values"], output_names=["logits"],
                      dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}})
            # PyTorch >= 2.9 exports through dynamo by default; the TorchScript exporter (the only
            # one in Debian's 1.13) gives the same graph on every version, so ask for it by name.
            if "dynamo" in inspect.signature(torch.onnx.export).parameters:
                kw["dynamo"] = False
            try:
                torch.onnx.export(m, (x,), op, **kw)
            except Exception as e:  # a PyTorch that dropped the TorchScript exporter: its default
                if "dynamo" not in kw:
                    raise
                log("%s: TorchScript export failed (%s); trying dynamo" % (name, str(e).splitlines()[0]))
                del kw["dynamo"]
                torch.onnx.export(m, (x,), op, **kw)
            onnx.checker.check_model(op)
            entry["onnx"] = name + ".onnx"
            log("%s: onnx %.1f MB, checker ok (%.1fs)" % (name, os.path.getsize(op) / 1e6, time.time() - t0))
            if args.verify_onnx:
                import numpy as np
                import make_fixtures
                got = make_fixtures.run_onnx_numpy(onnx.load(op), {"pixel_values": x.numpy()})["logits"]
                diff = float(np.abs(got - logits.numpy()).max())
                assert diff <= 1e-4 * float(logits.abs().max()), diff
                log("%s: numpy ONNX eval matches torch (max diff %.2e)" % (name, diff))
        index[name] = entry
        del m
    with open(idx_path, "w") as f:
        json.dump({"models": index}, f, indent=2)
        f.write("\n")
    log("wrote %s" % idx_path)


if __name__ == "__main__":
    main()
