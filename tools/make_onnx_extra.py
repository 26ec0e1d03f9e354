"""Extra ONNX fixtures for the ONNX importer's tests: fixtures/onnx_extra/.

Usage (Debian python with torch 1.13 / torchvision 0.14 / onnx 1.12):

    /usr/bin/python3 tools/make_onnx_extra.py            # writes fixtures/onnx_extra/
    /usr/bin/python3 tools/make_onnx_extra.py --out /tmp/x

Reuses tools/make_fixtures.py's deterministic models (same weights, inputs and logits as the
fixtures they name). Two kinds of file, listed in fixtures/onnx_extra/index.json:

* "ok": variants jvit must run and match PyTorch on (its input.bin / logits.bin are in the fixture
  directory named by "fixture", relative to fixtures/): other exporters' forms of GELU (an opset-20
  Gelu node, com.microsoft Gelu), export without constant folding (weight Transposes left in the
  graph), a fixed batch of 1, opsets 11-13, torchvision's pre-logits layer, a non-standard attention
  scale (its own logits in onnx_extra/timm_vit_scale/);
* "refused": graphs jvit must refuse with a one-line reason: a ResNet block (a CNN), tanh-approximated
  GELU, global average pooling, a post-LN block, a softmax on the logits.
"""

import argparse
import copy
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_fixtures as MF  # noqa: E402

REPO = os.path.dirname(HERE)


def export(model, x, path, opset, dynamic=True, fold=True):
    kw = {}
    if dynamic:
        kw["dynamic_axes"] = {"pixel_values": {0: "batch"}, "logits": {0: "batch"}}
    torch.onnx.export(model, (x,), path, export_params=True, opset_version=opset, do_constant_folding=fold,
                      input_names=["pixel_values"], output_names=["logits"], **kw)


def write_f32(path, t):
    np.ascontiguousarray(t.detach().numpy().astype("<f4")).tofile(path)


def gelu_surgery(path_in, path_out, domain):
    """Replaces each Div(x, sqrt 2) -> Erf -> Add 1 -> Mul x -> Mul 0.5 chain by one Gelu node."""
    import onnx
    from onnx import helper
    m = onnx.load(path_in)
    g = m.graph
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    remove, add = set(), []
    for erf in [n for n in g.node if n.op_type == "Erf"]:
        div = next(n for n in g.node if erf.input[0] in n.output)
        x = div.input[0]
        add1 = consumers[erf.output[0]][0]
        mul1 = consumers[add1.output[0]][0]
        mul2 = consumers[mul1.output[0]][0]
        assert (div.op_type, add1.op_type, mul1.op_type, mul2.op_type) == ("Div", "Add", "Mul", "Mul")
        for n in (div, erf, add1, mul1, mul2):
            remove.add(id(n))
        add.append((mul2, helper.make_node("Gelu", [x], [mul2.output[0]], name=erf.name.replace("Erf", "Gelu"),
                                           domain=domain)))
    nodes = []
    for n in g.node:
        repl = [a for (old, a) in add if old is n]
        if repl:
            nodes.append(repl[0])
        elif id(n) not in remove:
            nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    if domain == "":
        for o in m.opset_import:
            if o.domain in ("", "ai.onnx"):
                o.version = 20
        m.ir_version = 9
    else:
        m.opset_import.append(helper.make_opsetid(domain, 1))
    onnx.save(m, path_out)


class _PostNormBlock(nn.Module):
    def __init__(self, blk):
        super().__init__()
        self.b = blk

    def forward(self, x):
        x = self.b.norm1(x + self.b.attn(x))
        return self.b.norm2(x + self.b.mlp(x))


class _AvgPoolHead(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        f = self.m.forward_features(x)
        return self.m.head(f[:, 1:].mean(dim=1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(REPO, "fixtures"))
    args = ap.parse_args()
    out = os.path.join(args.out, "onnx_extra")
    os.makedirs(out, exist_ok=True)
    entries = []

    def ok(file, fixture, note):
        entries.append({"file": file, "expect": "ok", "fixture": fixture, "note": note})

    def refused(file, note):
        entries.append({"file": file, "expect": "refused", "note": note})

    # ---- variants that must run
    tv_pre, _, _, x, _, _ = MF.make_model("tv_vit_prelogits")
    export(tv_pre, x, os.path.join(out, "tv_vit_prelogits_op14.onnx"), 14)
    ok("tv_vit_prelogits_op14.onnx", "tv_vit_prelogits", "torchvision pre-logits Linear + Tanh")

    tv, _, _, x, _, _ = MF.make_model("tv_vit")
    export(tv, x, os.path.join(out, "tv_vit_op11.onnx"), 11)
    ok("tv_vit_op11.onnx", "tv_vit", "opset 11: Softmax of old semantics, Split/Squeeze/Unsqueeze attributes")

    timm, _, _, x, logits, _ = MF.make_model("timm_vit")
    export(timm, x, os.path.join(out, "timm_vit_op12.onnx"), 12)
    ok("timm_vit_op12.onnx", "timm_vit", "opset 12")
    export(timm, x, os.path.join(out, "timm_vit_nofold_op14.onnx"), 14, fold=False)
    ok("timm_vit_nofold_op14.onnx", "timm_vit", "exported without constant folding: weight Transposes stay in the graph")

    hf, _, _, x, _, _ = MF.make_model("hf_vit")
    export(hf, x[:1], os.path.join(out, "hf_vit_static1_op14.onnx"), 14, dynamic=False)
    ok("hf_vit_static1_op14.onnx", "hf_vit", "fixed batch 1 (no dynamic axes)")
    src = os.path.join(REPO, "fixtures", "onnx", "hf_vit_op17.onnx")
    gelu_surgery(src, os.path.join(out, "hf_vit_gelu_op20.onnx"), "")
    ok("hf_vit_gelu_op20.onnx", "hf_vit", "GELU as the opset-20 Gelu operator")
    gelu_surgery(os.path.join(REPO, "fixtures", "onnx", "timm_vit_op17.onnx"),
                 os.path.join(out, "timm_vit_msgelu_op17.onnx"), "com.microsoft")
    ok("timm_vit_msgelu_op17.onnx", "timm_vit", "GELU as com.microsoft Gelu")

    hfd, _, _, x, _, _ = MF.make_model("hf_deit")
    export(hfd, x, os.path.join(out, "hf_deit_op13.onnx"), 13)
    ok("hf_deit_op13.onnx", "hf_deit", "opset 13")

    # a non-standard attention scale: jvit folds the difference into the query weights
    sc = copy.deepcopy(timm)
    for blk in sc.blocks:
        blk.attn.scale = 0.1
    with torch.no_grad():
        sl = sc(x)
    d = os.path.join(out, "timm_vit_scale")
    os.makedirs(d, exist_ok=True)
    write_f32(os.path.join(d, "input.bin"), x)
    write_f32(os.path.join(d, "logits.bin"), sl)
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump({"input_shape": list(x.shape), "logits_shape": list(sl.shape), "attention_scale": 0.1,
                   "max_abs_logit": float(sl.abs().max())}, f, indent=2)
        f.write("\n")
    export(sc, x, os.path.join(out, "timm_vit_scale_op14.onnx"), 14)
    ok("timm_vit_scale_op14.onnx", "onnx_extra/timm_vit_scale", "attention scale 0.1 instead of 1/sqrt(16)")

    # ---- graphs that must be refused
    import torchvision
    torch.manual_seed(7)
    r = torchvision.models.resnet18(num_classes=10)
    block = nn.Sequential(r.conv1, r.bn1, r.relu, r.maxpool, r.layer1[0]).eval()
    export(block, torch.randn(1, 3, 32, 32), os.path.join(out, "resnet_block_op14.onnx"), 14)
    refused("resnet_block_op14.onnx", "a CNN: ResNet stem and basic block")

    tg = copy.deepcopy(timm)
    for blk in tg.blocks:
        blk.mlp.act = nn.GELU(approximate="tanh")
    export(tg.eval(), x, os.path.join(out, "timm_vit_tanhgelu_op14.onnx"), 14)
    refused("timm_vit_tanhgelu_op14.onnx", "GELU with the tanh approximation")

    export(_AvgPoolHead(copy.deepcopy(timm)).eval(), x, os.path.join(out, "timm_vit_avgpool_op14.onnx"), 14)
    refused("timm_vit_avgpool_op14.onnx", "global average pooling instead of the class token")

    pn = copy.deepcopy(timm)
    pn.blocks = nn.Sequential(*[_PostNormBlock(b) for b in pn.blocks])
    export(pn.eval(), x, os.path.join(out, "timm_vit_postnorm_op14.onnx"), 14)
    refused("timm_vit_postnorm_op14.onnx", "post-LN blocks")

    export(nn.Sequential(copy.deepcopy(timm), nn.Softmax(dim=-1)).eval(), x,
           os.path.join(out, "timm_vit_softmax_op14.onnx"), 14)
    refused("timm_vit_softmax_op14.onnx", "probabilities (softmax) instead of logits")

    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"comment": "written by tools/make_onnx_extra.py; 'fixture' is relative to fixtures/",
                   "models": entries}, f, indent=2)
        f.write("\n")
    for e in entries:
        p = os.path.join(out, e["file"])
        print("%-30s %6.0f KB  %s" % (e["file"], os.path.getsize(p) / 1024, e["note"]))


if __name__ == "__main__":
    main()
