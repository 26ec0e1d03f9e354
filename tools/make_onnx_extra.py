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
  Also LayerScale (timm init_values / DeiT-III: a learned per-channel factor on each residual branch),
  the class token by repeat() (a Tile node) and timm's no_embed_class (position embeddings on the
  patches only); those with their own logits in onnx_extra/<name>/.
* "refused": graphs jvit must refuse with a one-line reason: a ResNet block (a CNN), tanh-approximated
  GELU, global average pooling, a post-LN block, a softmax on the logits.

Plus fixtures/onnx_extra/mutants.json: seeded single-point mutations of the fixture graphs (a
Transpose perm, a Softmax or Concat axis, an integer or float constant, two inputs swapped, an input
rewired to another value), each with the mutated graph's own logits from make_fixtures.py's numpy
ONNX interpreter at batch 3 and 1, or "error" where the mutated graph is no longer valid. The Java
test applies each recipe and requires jvit to refuse the mutant or reproduce those logits: never a
wrong answer.
"""

import argparse
import collections
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


class _LayerScaleBlock(nn.Module):
    """timm's Block with init_values: x + ls1(attn(norm1(x))), x + ls2(mlp(norm2(x)))."""
    def __init__(self, blk, g1, g2):
        super().__init__()
        self.b = blk
        self.g1 = nn.Parameter(g1)
        self.g2 = nn.Parameter(g2)

    def forward(self, x):
        x = x + self.g1 * self.b.attn(self.b.norm1(x))
        return x + self.g2 * self.b.mlp(self.b.norm2(x))


def _write_ref(out, name, x, logits, note):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    write_f32(os.path.join(d, "input.bin"), x)
    write_f32(os.path.join(d, "logits.bin"), logits)
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump({"input_shape": list(x.shape), "logits_shape": list(logits.shape), "note": note,
                   "max_abs_logit": float(logits.abs().max())}, f, indent=2)
        f.write("\n")


class _AvgPoolHead(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        f = self.m.forward_features(x)
        return self.m.head(f[:, 1:].mean(dim=1))


def _live(model):
    """The model with only the nodes the output depends on (dead nodes are not evaluated)."""
    import onnx
    m = copy.deepcopy(model)
    need = {o.name for o in m.graph.output}
    keep = []
    for n in reversed(list(m.graph.node)):
        if any(o in need for o in n.output):
            keep.append(n)
            need.update(i for i in n.input if i)
    keep.reverse()
    del m.graph.node[:]
    m.graph.node.extend(keep)
    return m


def _reference(model, xs):
    """Logits of a (mutated) graph per input batch, or None when it cannot be evaluated."""
    outs = []
    for x in xs:
        try:
            with np.errstate(all="ignore"):
                y = MF.run_onnx_numpy(_live(model), {"pixel_values": x})["logits"]
        except Exception:  # noqa: BLE001 - an invalid graph, whatever the reason
            return None
        y = np.asarray(y)
        if y.shape != (x.shape[0], 10) or y.dtype.kind != "f":
            return None
        outs.append(y)
    return outs


def _apply(model, mut):
    """Applies one mutation recipe (the Java test does the same through protobuf-java)."""
    from onnx import helper, numpy_helper
    n = model.graph.node[mut["node"]]
    k = mut["kind"]
    if k in ("attr_ints", "attr_int"):
        for a in list(n.attribute):
            if a.name == mut["name"]:
                n.attribute.remove(a)
        n.attribute.append(helper.make_attribute(mut["name"], mut["value"]))
    elif k == "const":
        arr = np.array(mut["value"], dtype=np.float32 if mut["float"] else np.int64).reshape(mut["dims"])
        for a in n.attribute:
            if a.name == "value":
                a.t.CopyFrom(numpy_helper.from_array(arr, a.t.name))
    elif k == "swap_inputs":
        i = list(n.input)
        i[0], i[1] = i[1], i[0]
        del n.input[:]
        n.input.extend(i)
    elif k == "set_input":
        n.input[mut["slot"]] = mut["value"]
    else:
        raise ValueError(k)


def write_mutants(out, per_model=40, seed=1234):
    import onnx
    from onnx import helper, numpy_helper
    rng = np.random.RandomState(seed)
    bases = [("tv_vit_op17.onnx", "tv_vit"), ("hf_vit_op14.onnx", "hf_vit"), ("timm_vit_op17.onnx", "timm_vit"),
             ("timm_deit_op14.onnx", "timm_deit"), ("hf_deit_op17.onnx", "hf_deit")]
    result = []
    for fname, fixture in bases:
        base = onnx.load(os.path.join(REPO, "fixtures", "onnx", fname))
        live_outputs = {o for n in _live(base).graph.node for o in n.output}
        x = np.fromfile(os.path.join(REPO, "fixtures", fixture, "input.bin"), dtype="<f4").reshape(3, 3, 32, 32)
        xs = [x, x[:1].copy()]
        nodes = list(base.graph.node)
        # values defined before each node, for rewiring
        defined, before = [o.name for o in base.graph.initializer if o.data_type == 1] + ["pixel_values"], []
        for n in nodes:
            before.append(list(defined))
            defined.extend(o for o in n.output if o)
        made, seen, tries = 0, set(), 0
        while made < per_model and tries < 5000:
            tries += 1
            i = int(rng.randint(len(nodes)))
            n = nodes[i]
            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            kind = ["perm", "axis", "const", "swap", "rewire", "attr"][int(rng.randint(6))]
            mut = None
            if kind == "perm" and n.op_type == "Transpose":
                p = list(attrs["perm"])
                q = list(rng.permutation(len(p)))
                if q != p:
                    mut = {"kind": "attr_ints", "node": i, "name": "perm", "value": [int(v) for v in q]}
            elif kind == "axis" and n.op_type in ("Softmax", "Concat", "Gather", "Split", "LayerNormalization", "Flatten"):
                mut = {"kind": "attr_int", "node": i, "name": "axis", "value": int(rng.randint(-3, 4))}
            elif kind == "attr" and n.op_type in ("ReduceMean", "Gemm"):
                name = "keepdims" if n.op_type == "ReduceMean" else ["transB", "transA", "alpha", "beta"][int(rng.randint(4))]
                if name in ("alpha", "beta"):
                    mut = {"kind": "attr_int", "node": i, "name": name, "value": float(rng.choice([0.5, 2.0, -1.0]))}
                else:
                    mut = {"kind": "attr_int", "node": i, "name": name, "value": int(rng.randint(0, 2))}
            elif kind == "const" and n.op_type == "Constant" and "value" in attrs:
                v = numpy_helper.to_array(attrs["value"])
                if v.size <= 8 and v.dtype.kind in "if":
                    w = v.astype(np.float64).reshape(-1).copy()
                    j = int(rng.randint(w.size))
                    if v.dtype.kind == "f":
                        w[j] = w[j] * float(rng.choice([0.5, 2.0, -1.0, 1.001]))
                    else:
                        w[j] = w[j] + float(rng.choice([-2, -1, 1, 2]))
                        if rng.rand() < 0.3 and w.size > 1:
                            w = w[rng.permutation(w.size)]
                    mut = {"kind": "const", "node": i, "dims": list(v.shape), "float": v.dtype.kind == "f",
                           "value": [float(t) if v.dtype.kind == "f" else int(t) for t in w]}
            elif kind == "swap" and n.op_type in ("Add", "Sub", "Mul", "Div", "MatMul", "Concat", "Pow", "Where") and len(n.input) >= 2:
                mut = {"kind": "swap_inputs", "node": i}
            elif kind == "rewire" and len(n.input) >= 1 and n.op_type not in ("Shape", "Constant"):
                slot = int(rng.randint(len(n.input)))
                cands = [v for v in before[i] if v != n.input[slot]]
                if cands:
                    mut = {"kind": "set_input", "node": i, "slot": slot, "value": cands[int(rng.randint(len(cands)))]}
            if mut is None or not any(o in live_outputs for o in n.output):
                continue
            key = json.dumps(mut, sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            m = copy.deepcopy(base)
            _apply(m, mut)
            ref = _reference(m, xs)
            entry = {"base": fname, "fixture": fixture, "mutation": mut, "op": n.op_type, "name": n.name}
            if ref is None or not all(np.isfinite(r).all() for r in ref):
                entry["expect"] = "error" if ref is None else "nonfinite"
            else:
                entry["expect"] = "logits"
                entry["logits3"] = [float("%.9g" % v) for v in ref[0].reshape(-1)]
                entry["logits1"] = [float("%.9g" % v) for v in ref[1].reshape(-1)]
            result.append(entry)
            made += 1
    with open(os.path.join(out, "mutants.json"), "w") as f:
        json.dump({"comment": "written by tools/make_onnx_extra.py; see its docstring", "mutants": result}, f, indent=0)
        f.write("\n")
    counts = collections.Counter(e["expect"] for e in result)
    print("mutants.json: %d mutants %s" % (len(result), dict(counts)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(REPO, "fixtures"))
    ap.add_argument("--mutants-only", action="store_true")
    args = ap.parse_args()
    out = os.path.join(args.out, "onnx_extra")
    os.makedirs(out, exist_ok=True)
    if args.mutants_only:
        write_mutants(out)
        return
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

    # LayerScale on both residual branches
    g = torch.Generator().manual_seed(77)
    ls = copy.deepcopy(timm)
    ls.blocks = nn.Sequential(*[_LayerScaleBlock(b, 0.5 + torch.rand(48, generator=g), 0.5 + torch.rand(48, generator=g))
                                for b in ls.blocks]).eval()
    with torch.no_grad():
        ll = ls(x)
    _write_ref(out, "timm_vit_layerscale", x, ll, "timm_vit with LayerScale gammas U(0.5, 1.5)")
    export(ls, x, os.path.join(out, "timm_vit_layerscale_op17.onnx"), 17)
    ok("timm_vit_layerscale_op17.onnx", "onnx_extra/timm_vit_layerscale", "LayerScale (per-channel factors on the residual branches)")

    # the class token by repeat(): a Tile node
    rp = copy.deepcopy(timm)
    rp._pos_embed = lambda t: torch.cat((rp.cls_token.repeat(t.shape[0], 1, 1), t), dim=1) + rp.pos_embed
    export(rp, x, os.path.join(out, "timm_vit_repeat_op14.onnx"), 14)
    ok("timm_vit_repeat_op14.onnx", "timm_vit", "class token by repeat() (Tile)")

    # no_embed_class: positions on the patches only, the class token without one
    ne = copy.deepcopy(timm)
    ne.pos_embed = nn.Parameter(timm.pos_embed[:, 1:].detach().clone())
    ne._pos_embed = lambda t: torch.cat((ne.cls_token.expand(t.shape[0], -1, -1), t + ne.pos_embed), dim=1)
    with torch.no_grad():
        nl = ne(x)
    _write_ref(out, "timm_vit_noembedclass", x, nl, "timm_vit with no_embed_class (no position for the class token)")
    export(ne, x, os.path.join(out, "timm_vit_noembedclass_op14.onnx"), 14)
    ok("timm_vit_noembedclass_op14.onnx", "onnx_extra/timm_vit_noembedclass", "no_embed_class: positions on the patches only")

    # the final LayerNorm on the class token only: norm(x[:, 0]), the same function
    sn = copy.deepcopy(timm)
    sn.forward = lambda t: sn.head(sn.norm(sn.blocks(sn._pos_embed(sn.patch_embed(t)))[:, 0]))
    export(sn, x, os.path.join(out, "timm_vit_selectnorm_op17.onnx"), 17)
    ok("timm_vit_selectnorm_op17.onnx", "timm_vit", "final LayerNorm after selecting the class token")

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
    write_mutants(out)


if __name__ == "__main__":
    main()
