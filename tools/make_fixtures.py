#!/usr/bin/python3
"""Regenerate the small-model test fixtures under fixtures/ (except fixtures/fashion/).

Usage (Debian python, which has torch 1.13 / torchvision 0.14 / onnx 1.12):

    /usr/bin/python3 tools/make_fixtures.py                 # everything
    /usr/bin/python3 tools/make_fixtures.py --only tv_vit,hf_vit --no-onnx
    /usr/bin/python3 tools/make_fixtures.py --out /tmp/fx    # somewhere else

Every fixture directory fixtures/<name>/ holds the model files plus input.bin
(float32 LE [3,3,32,32]), logits.bin (float32 LE [3,10], PyTorch eval output) and meta.json.
ONNX exports of five of the models go to fixtures/onnx/ with fixtures/onnx/index.json saying
which fixture directory's input.bin / logits.bin each must reproduce. Each ONNX file is
checked with onnx.checker and run through the small numpy ONNX interpreter below (batch 3
and batch 1, to exercise the dynamic batch axis) against the PyTorch logits.
"""

import argparse
import collections
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vit_zoo as Z  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LABELS = ["apple", "bicycle", "cloud", "dolphin", "eagle",
          "forest", "guitar", "harbor", "igloo", "jaguar"]

EPS = {"torchvision": 1e-6, "huggingface": 1e-12, "timm": 1e-6}

# name -> (convention, seed, dtype, cfg kwargs)
FIXTURES = collections.OrderedDict([
    ("tv_vit", ("torchvision", 101, "F32", {})),
    ("tv_vit_prelogits", ("torchvision", 102, "F32", {"representation_size": 24})),
    ("hf_vit", ("huggingface", 103, "F32", {})),
    ("hf_vit_f16", ("huggingface", 103, "F16", {})),
    ("hf_vit_bf16", ("huggingface", 103, "BF16", {})),
    ("timm_vit", ("timm", 104, "F32", {})),
    ("timm_deit", ("timm", 105, "F32", {"distilled": True})),
    ("hf_deit", ("huggingface", 106, "F32", {"distilled": True})),
])

ONNX_MODELS = ["tv_vit", "hf_vit", "timm_vit", "timm_deit", "hf_deit"]
ONNX_OPSETS = [14, 17]
BATCH = 3


def log(*a):
    print(*a, flush=True)


# --------------------------------------------------------------------------------------
# config files
# --------------------------------------------------------------------------------------


def hf_config(cfg, distilled, dtype):
    d = collections.OrderedDict()
    d["architectures"] = (["DeiTForImageClassificationWithTeacher"] if distilled
                          else ["ViTForImageClassification"])
    d["attention_probs_dropout_prob"] = 0.0
    d["encoder_stride"] = cfg.patch_size
    d["hidden_act"] = "gelu"
    d["hidden_dropout_prob"] = 0.0
    d["hidden_size"] = cfg.hidden
    d["id2label"] = collections.OrderedDict((str(i), n) for i, n in enumerate(LABELS))
    d["image_size"] = cfg.image_size
    d["initializer_range"] = 0.02
    d["intermediate_size"] = cfg.mlp
    d["label2id"] = collections.OrderedDict((n, i) for i, n in enumerate(LABELS))
    d["layer_norm_eps"] = 1e-12
    d["model_type"] = "deit" if distilled else "vit"
    d["num_attention_heads"] = cfg.heads
    d["num_channels"] = cfg.channels
    d["num_hidden_layers"] = cfg.depth
    d["patch_size"] = cfg.patch_size
    d["problem_type"] = "single_label_classification"
    d["qkv_bias"] = True
    d["torch_dtype"] = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype]
    d["transformers_version"] = "4.30.2"
    return d


def hf_preprocessor(cfg, distilled):
    if distilled:  # DeiTImageProcessor: resize a bit larger, center crop, ImageNet stats
        return collections.OrderedDict([
            ("crop_size", {"height": cfg.image_size, "width": cfg.image_size}),
            ("do_center_crop", True),
            ("do_normalize", True),
            ("do_rescale", True),
            ("do_resize", True),
            ("image_mean", [0.485, 0.456, 0.406]),
            ("image_processor_type", "DeiTImageProcessor"),
            ("image_std", [0.229, 0.224, 0.225]),
            ("resample", 3),
            ("rescale_factor", 1 / 255),
            ("size", {"height": 36, "width": 36}),
        ])
    return collections.OrderedDict([
        ("do_normalize", True),
        ("do_rescale", True),
        ("do_resize", True),
        ("image_mean", [0.5, 0.5, 0.5]),
        ("image_processor_type", "ViTImageProcessor"),
        ("image_std", [0.5, 0.5, 0.5]),
        ("resample", 2),
        ("rescale_factor", 1 / 255),
        ("size", {"height": cfg.image_size, "width": cfg.image_size}),
    ])


def timm_config(cfg, distilled):
    arch = ("deit_custom_distilled_patch%d_%d" if distilled else "vit_custom_patch%d_%d") % (
        cfg.patch_size, cfg.image_size)
    d = collections.OrderedDict()
    d["architecture"] = arch
    d["num_classes"] = cfg.num_classes
    d["num_features"] = cfg.hidden
    d["global_pool"] = "token"
    d["model_args"] = collections.OrderedDict([
        ("img_size", cfg.image_size), ("patch_size", cfg.patch_size), ("embed_dim", cfg.hidden),
        ("depth", cfg.depth), ("num_heads", cfg.heads), ("mlp_ratio", cfg.mlp / cfg.hidden)])
    d["pretrained_cfg"] = collections.OrderedDict([
        ("tag", "jvit_fixture"),
        ("custom_load", False),
        ("input_size", [cfg.channels, cfg.image_size, cfg.image_size]),
        ("fixed_input_size", True),
        ("interpolation", "bicubic"),
        ("crop_pct", 0.9),
        ("crop_mode", "center"),
        ("mean", [0.485, 0.456, 0.406]),
        ("std", [0.229, 0.224, 0.225]),
        ("num_classes", cfg.num_classes),
        ("pool_size", None),
        ("first_conv", "patch_embed.proj"),
        ("classifier", ["head", "head_dist"] if distilled else "head"),
    ])
    d["label_names"] = list(LABELS)
    return d


def dump_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


# --------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------


def make_model(name):
    """(module, state_dict, cfg, input, logits, dtype) for fixture ``name``, deterministic."""
    conv, seed, dtype, kw = FIXTURES[name]
    cfg = Z.Cfg(**kw)
    torch.manual_seed(seed)
    params = Z.canonical_params(cfg, seed)
    if dtype != "F32":
        params = collections.OrderedDict((k, Z.round_to_dtype(v, dtype)) for k, v in params.items())
    model, sd = Z.build(conv, cfg, params)
    x = torch.randn(BATCH, cfg.channels, cfg.image_size, cfg.image_size,
                    generator=torch.Generator().manual_seed(seed + 1000))
    with torch.no_grad():
        logits = model(x)
    return model, sd, cfg, x, logits, dtype


def sanity(name, model, x, logits):
    """Logits must be O(1), distinct across classes, top-1 well separated, and fp32 ~ fp64."""
    import copy
    with torch.no_grad():
        ref64 = copy.deepcopy(model).double()(x.double())
    err64 = (logits.double() - ref64).abs().max().item()
    mx = logits.abs().max().item()
    srt = logits.sort(dim=1, descending=True).values
    margin = (srt[:, 0] - srt[:, 1]).min().item()
    std = logits.std(dim=1).min().item()
    log("  %-18s max|logit| %.3f  min class-std %.3f  min top1 margin %.4f  |fp32-fp64| %.2e  top1 %s"
        % (name, mx, std, margin, err64, logits.argmax(1).tolist()))
    assert 0.3 < mx < 20, "logits not O(1)"
    assert std > 0.2, "logits not distinct across classes"
    assert margin > 0.01 * mx, "top-1 too close to top-2 (margin must dwarf the 1e-4 test tolerance)"
    assert err64 < 1e-5 * mx, "fp32 result too far from fp64"
    return {"max_abs_logit": mx, "min_top1_margin": margin, "fp32_vs_fp64_max_abs_diff": err64}


def write_fixture(out, name):
    conv, seed, dtype, kw = FIXTURES[name]
    model, sd, cfg, x, logits, dtype = make_model(name)
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    stats = sanity(name, model, x, logits)
    Z.write_safetensors(os.path.join(d, "model.safetensors"), sd, dtype)
    # round-trip check of the safetensors writer
    back = Z.read_safetensors(os.path.join(d, "model.safetensors"))
    assert list(back) == list(sd)
    for k in sd:
        assert torch.equal(back[k], sd[k]), k
    Z.write_f32(os.path.join(d, "input.bin"), x)
    Z.write_f32(os.path.join(d, "logits.bin"), logits)
    if conv == "huggingface":
        dump_json(os.path.join(d, "config.json"), hf_config(cfg, cfg.distilled, dtype))
        dump_json(os.path.join(d, "preprocessor_config.json"), hf_preprocessor(cfg, cfg.distilled))
        model_path = "."
    elif conv == "timm":
        dump_json(os.path.join(d, "config.json"), timm_config(cfg, cfg.distilled))
        model_path = "."
    else:
        model_path = "model.safetensors"
    meta = collections.OrderedDict([
        ("input_shape", list(x.shape)),
        ("logits_shape", list(logits.shape)),
        ("convention", conv),
        ("image_size", cfg.image_size),
        ("patch_size", cfg.patch_size),
        ("hidden_size", cfg.hidden),
        ("depth", cfg.depth),
        ("heads", cfg.heads),
        ("mlp_dim", cfg.mlp),
        ("num_classes", cfg.num_classes),
        ("layer_norm_eps", EPS[conv]),
        ("distilled", bool(cfg.distilled)),
        ("representation_size", cfg.representation_size),
        ("model", model_path),
        ("weights_dtype", dtype),
        ("seed", seed),
        ("input_seed", seed + 1000),
        ("top1", logits.argmax(1).tolist()),
        ("stats", stats),
        ("generator", "tools/make_fixtures.py (torch %s)" % torch.__version__),
    ])
    dump_json(os.path.join(d, "meta.json"), meta)
    return model, x, logits


def cross_check():
    """The hand-written HF / timm modules must compute what torchvision's own
    VisionTransformer computes from the same parameters (eps differences aside), the two
    distilled implementations must agree, and the bf16 rounding must match torch's."""
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(7))
    for distilled in (False, True):
        cfg = Z.Cfg(distilled=distilled)
        p = Z.canonical_params(cfg, 4242)
        outs = {}
        for conv in (["huggingface", "timm"] if distilled else ["torchvision", "huggingface", "timm"]):
            m, _ = Z.build(conv, cfg, p)
            with torch.no_grad():
                outs[conv] = m(x)
        ref = list(outs.values())[0]
        for conv, y in outs.items():
            d = (y - ref).abs().max().item()
            assert d < 1e-5 * ref.abs().max().item(), (conv, d)
        log("  cross-check %s: %s agree" % ("distilled" if distilled else "plain", "/".join(outs)))
    a = torch.randn(10000, generator=torch.Generator().manual_seed(8)) * 3
    a = torch.cat([a, torch.tensor([1.00390625, 1.01171875, -2.00390625, 0.0, -0.0, 65504.0])])
    mine = Z.f32_to_bf16_bits(a.numpy())
    theirs = a.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    assert (mine == theirs).all(), "bf16 rounding differs from torch"
    log("  cross-check bf16 rounding matches torch")


# --------------------------------------------------------------------------------------
# tiny numpy ONNX interpreter (only the ops the exports use), to check the exports
# --------------------------------------------------------------------------------------


def _attrs(node):
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


_erf = np.frompyfunc(math.erf, 1, 1)


def _conv(x, w, b, a):
    strides = a.get("strides", [1, 1])
    pads = a.get("pads", [0, 0, 0, 0])
    dil = a.get("dilations", [1, 1])
    assert a.get("group", 1) == 1 and list(dil) == [1, 1]
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    OH = (H - KH) // strides[0] + 1
    OW = (W - KW) // strides[1] + 1
    y = np.zeros((N, O, OH, OW), dtype=np.float64)
    for i in range(KH):
        for j in range(KW):
            patch = x[:, :, i:i + strides[0] * OH:strides[0], j:j + strides[1] * OW:strides[1]]
            y += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y.astype(x.dtype)


def _reshape(x, shape):
    shape = [int(s) for s in shape]
    shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def run_onnx_numpy(model, feeds):
    """Evaluate an onnx.ModelProto on numpy feeds; returns dict of graph outputs."""
    from onnx import numpy_helper, mapping
    env = {}
    for init in model.graph.initializer:
        env[init.name] = numpy_helper.to_array(init)
    env.update(feeds)
    for node in model.graph.node:
        op = node.op_type
        a = _attrs(node)
        ins = [env[n] if n else None for n in node.input]
        if op == "Constant":
            if "value" in a:
                outs = [numpy_helper.to_array(a["value"])]
            elif "value_int" in a:
                outs = [np.array(a["value_int"], dtype=np.int64)]
            elif "value_ints" in a:
                outs = [np.array(a["value_ints"], dtype=np.int64)]
            elif "value_float" in a:
                outs = [np.array(a["value_float"], dtype=np.float32)]
            else:
                raise NotImplementedError("Constant %s" % list(a))
        elif op == "Identity":
            outs = [ins[0]]
        elif op == "Conv":
            outs = [_conv(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a)]
        elif op == "Reshape":
            outs = [_reshape(ins[0], ins[1])]
        elif op == "Flatten":
            ax = a.get("axis", 1)
            outs = [ins[0].reshape(int(np.prod(ins[0].shape[:ax])), -1)]
        elif op == "Transpose":
            outs = [np.transpose(ins[0], a.get("perm"))]
        elif op == "Shape":
            outs = [np.array(ins[0].shape, dtype=np.int64)]
        elif op == "Gather":
            outs = [np.take(ins[0], ins[1], axis=a.get("axis", 0))]
        elif op == "Unsqueeze":
            axes = ins[1] if len(ins) > 1 else a["axes"]
            y = ins[0]
            r = y.ndim + len(axes)
            for ax in sorted(int(v) % r for v in np.atleast_1d(axes)):
                y = np.expand_dims(y, ax)
            outs = [y]
        elif op == "Squeeze":
            axes = ins[1] if len(ins) > 1 and ins[1] is not None else a.get("axes")
            outs = [np.squeeze(ins[0], axis=None if axes is None else
                               tuple(int(v) for v in np.atleast_1d(axes)))]
        elif op == "Concat":
            outs = [np.concatenate(ins, axis=a["axis"])]
        elif op == "Expand":
            shp = np.broadcast_shapes(ins[0].shape, tuple(int(s) for s in ins[1]))
            outs = [np.broadcast_to(ins[0], shp).copy()]
        elif op == "ConstantOfShape":
            v = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
            outs = [np.full(tuple(int(s) for s in ins[0]), v.reshape(-1)[0], dtype=v.dtype)]
        elif op in ("Add", "Sub", "Mul", "Div", "Pow", "Equal", "MatMul"):
            f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide,
                 "Pow": np.power, "Equal": np.equal, "MatMul": np.matmul}[op]
            y = f(ins[0], ins[1])
            if op == "Div" and ins[0].dtype.kind in "iu":
                y = np.floor_divide(ins[0], ins[1])
            if op not in ("Equal",):
                y = y.astype(ins[0].dtype)
            outs = [y]
        elif op == "Gemm":
            A, B = ins[0], ins[1]
            if a.get("transA", 0):
                A = A.T
            if a.get("transB", 0):
                B = B.T
            y = a.get("alpha", 1.0) * (A @ B)
            if len(ins) > 2 and ins[2] is not None:
                y = y + a.get("beta", 1.0) * ins[2]
            outs = [y.astype(np.float32)]
        elif op == "Where":
            outs = [np.where(ins[0], ins[1], ins[2])]
        elif op == "Sqrt":
            outs = [np.sqrt(ins[0])]
        elif op == "Erf":
            outs = [_erf(ins[0]).astype(ins[0].dtype)]
        elif op == "Tanh":
            outs = [np.tanh(ins[0])]
        elif op == "Softmax":
            ax = a.get("axis", -1)
            e = np.exp(ins[0] - ins[0].max(axis=ax, keepdims=True))
            outs = [e / e.sum(axis=ax, keepdims=True)]
        elif op == "ReduceMean":
            axes = tuple(a["axes"]) if "axes" in a else (tuple(ins[1]) if len(ins) > 1 else None)
            outs = [ins[0].mean(axis=axes, keepdims=bool(a.get("keepdims", 1))).astype(ins[0].dtype)]
        elif op == "LayerNormalization":
            ax = a.get("axis", -1)
            eps = a.get("epsilon", 1e-5)
            x = ins[0]
            axes = tuple(range(ax % x.ndim, x.ndim))
            mu = x.mean(axis=axes, keepdims=True)
            var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
            y = (x - mu) / np.sqrt(var + eps) * ins[1]
            if len(ins) > 2 and ins[2] is not None:
                y = y + ins[2]
            outs = [y.astype(x.dtype), mu, 1 / np.sqrt(var + eps)]
        elif op == "Cast":
            outs = [ins[0].astype(mapping.TENSOR_TYPE_TO_NP_TYPE[a["to"]])]
        elif op == "Slice":
            data, starts, ends = ins[0], ins[1], ins[2]
            axes = ins[3] if len(ins) > 3 and ins[3] is not None else range(len(starts))
            steps = ins[4] if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
            sl = [slice(None)] * data.ndim
            for s, e, ax, st in zip(starts, ends, axes, steps):
                sl[int(ax)] = slice(int(s), int(e), int(st))
            outs = [data[tuple(sl)]]
        elif op == "Split":
            ax = a.get("axis", 0)
            split = ins[1] if len(ins) > 1 and ins[1] is not None else a.get("split")
            n = len(node.output)
            if split is None:
                split = [ins[0].shape[ax] // n] * n
            idx = np.cumsum([int(s) for s in split])[:-1]
            outs = np.split(ins[0], idx, axis=ax)
        else:
            raise NotImplementedError("numpy ONNX interpreter: op %s" % op)
        for n, v in zip(node.output, outs):
            if n:
                env[n] = np.asarray(v)
    return {o.name: env[o.name] for o in model.graph.output}


# --------------------------------------------------------------------------------------
# ONNX export
# --------------------------------------------------------------------------------------


def export_onnx(model, x, path, opset):
    torch.onnx.export(
        model, (x,), path, export_params=True, opset_version=opset, do_constant_folding=True,
        input_names=["pixel_values"], output_names=["logits"],
        dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}})


def check_onnx(path, x, logits, name):
    import onnx
    onnx.checker.check_model(path)  # path form also resolves external data
    m = onnx.load(path)
    ops = collections.Counter(n.op_type for n in m.graph.node)
    for xb, lb in ((x, logits), (x[:1], logits[:1])):
        got = run_onnx_numpy(m, {"pixel_values": xb.numpy()})["logits"]
        diff = np.abs(got - lb.numpy()).max()
        tol = 1e-4 * np.abs(lb.numpy()).max()
        assert got.shape == tuple(lb.shape), (got.shape, lb.shape)
        assert diff <= tol, "%s: numpy ONNX eval differs from torch by %g (tol %g)" % (path, diff, tol)
        assert (got.argmax(1) == lb.numpy().argmax(1)).all()
    inits = [i.name for i in m.graph.initializer]
    named = [i for i in inits if not i.startswith("onnx::")]
    log("  %-28s ok (numpy eval diff %.2e, batch 3 and 1)  %d nodes, %d initializers (%d named)"
        % (os.path.basename(path), diff, len(m.graph.node), len(inits), len(named)))
    log("      ops: %s" % dict(sorted(ops.items())))
    return ops, inits


def write_onnx(out, models):
    import onnx
    d = os.path.join(out, "onnx")
    os.makedirs(d, exist_ok=True)
    index = []
    for name in ONNX_MODELS:
        model, x, logits = models[name]
        for opset in ONNX_OPSETS:
            fn = "%s_op%d.onnx" % (name, opset)
            path = os.path.join(d, fn)
            export_onnx(model, x, path, opset)
            ops, inits = check_onnx(path, x, logits, name)
            index.append(collections.OrderedDict([
                ("file", fn), ("fixture", name), ("opset", opset),
                ("convention", FIXTURES[name][0]),
                ("input", "pixel_values"), ("output", "logits"), ("dynamic_batch", True),
                ("external_data", None),
                ("op_types", sorted(ops)), ("initializers", inits)]))
            if name == "hf_vit" and opset == 17:
                m = onnx.load(path)
                efn, dfn = "hf_vit_op17_external.onnx", "hf_vit_op17_external.data"
                if os.path.exists(os.path.join(d, dfn)):
                    os.remove(os.path.join(d, dfn))  # save_model appends otherwise
                onnx.save_model(m, os.path.join(d, efn), save_as_external_data=True,
                                all_tensors_to_one_file=True, location=dfn, size_threshold=0,
                                convert_attribute=False)
                ops, inits = check_onnx(os.path.join(d, efn), x, logits, name)
                index.append(collections.OrderedDict([
                    ("file", efn), ("fixture", name), ("opset", opset),
                    ("convention", FIXTURES[name][0]),
                    ("input", "pixel_values"), ("output", "logits"), ("dynamic_batch", True),
                    ("external_data", dfn),
                    ("op_types", sorted(ops)), ("initializers", inits)]))
    dump_json(os.path.join(d, "index.json"), {
        "comment": "each ONNX file must reproduce ../<fixture>/logits.bin from ../<fixture>/input.bin",
        "models": index})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "fixtures"))
    ap.add_argument("--only", default=None, help="comma separated fixture names")
    ap.add_argument("--no-onnx", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    names = list(FIXTURES) if not args.only else args.only.split(",")
    log("torch %s, writing to %s" % (torch.__version__, args.out))
    cross_check()
    models = {}
    for name in names:
        models[name] = write_fixture(args.out, name)
    if not args.no_onnx:
        missing = [n for n in ONNX_MODELS if n not in models]
        for n in missing:
            model, sd, cfg, x, logits, dtype = make_model(n)
            models[n] = (model, x, logits)
        write_onnx(args.out, models)
    log("done")


if __name__ == "__main__":
    main()
