"""Shared ViT model definitions and helpers for jvit fixture / benchmark generation.

Everything here is written by hand (no timm / transformers available) with the exact
parameter names of the real libraries, and computes the forward pass the way those
libraries do (so that an ONNX export has the same graph shape as the real thing):

* torchvision: ``torchvision.models.VisionTransformer`` itself (nn.MultiheadAttention).
* Hugging Face: ``HFViTForImageClassification`` / ``HFDeiTForImageClassificationWithTeacher``
  (separate query/key/value Linear, view/permute/matmul/softmax).
* timm: ``TimmVisionTransformer`` / ``TimmVisionTransformerDistilled``
  (fused qkv, reshape(B,N,3,H,hd).permute(2,0,3,1,4)).

Also: ``write_safetensors`` / ``read_safetensors`` (hand written, no safetensors package),
bf16 / f16 rounding helpers, and ``canonical_params`` + per-convention state-dict mappers so
that every convention can be filled from one deterministic random parameter set.

Run with the Debian python (``/usr/bin/python3``), which has torch 1.13 / torchvision 0.14.
"""

import json
import math
import struct
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# --------------------------------------------------------------------------------------
# safetensors
# --------------------------------------------------------------------------------------

_ST_DTYPES = {
    "F32": (np.dtype("<f4"), 4),
    "F16": (np.dtype("<f2"), 2),
    "BF16": (np.dtype("<u2"), 2),  # raw bit patterns
    "F64": (np.dtype("<f8"), 8),
    "I8": (np.dtype("i1"), 1),
    "U8": (np.dtype("u1"), 1),
    "I16": (np.dtype("<i2"), 2),
    "I32": (np.dtype("<i4"), 4),
    "I64": (np.dtype("<i8"), 8),
}


def f32_to_bf16_bits(a):
    """float32 array -> uint16 bf16 bit patterns, round-to-nearest-even (finite inputs)."""
    a = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
    bits = a.view(np.uint32).astype(np.uint64)
    rounding = ((bits >> 16) & 1) + 0x7FFF
    return ((bits + rounding) >> 16).astype(np.uint16)


def bf16_bits_to_f32(b):
    b = np.asarray(b, dtype=np.uint16)
    return (b.astype(np.uint32) << 16).view(np.float32)


def round_to_dtype(t, dtype):
    """Round a float32 tensor to F16/BF16 precision and return it as float32 again."""
    if dtype == "F32":
        return t.detach().clone().float()
    if dtype == "F16":
        return t.detach().to(torch.float16).to(torch.float32)
    if dtype == "BF16":
        return torch.from_numpy(bf16_bits_to_f32(f32_to_bf16_bits(t.detach().cpu().numpy())).copy())
    raise ValueError(dtype)


_FLOAT_ST = ("F32", "F16", "BF16", "F64")
_INT_ST = {"int8": "I8", "uint8": "U8", "int16": "I16", "int32": "I32", "int64": "I64"}


def _encode(t, dtype):
    """tensor/array -> (raw little-endian bytes, safetensors dtype, shape)."""
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu()
        a = t.float().numpy() if t.dtype in (torch.bfloat16, torch.float16) else t.numpy()
    else:
        a = np.asarray(t)
    if a.dtype.kind == "f":
        target = dtype if dtype in _FLOAT_ST else "F32"
    elif a.dtype.kind in "iu":
        target = dtype if dtype in _INT_ST.values() else _INT_ST[a.dtype.name]
        if target == "I8" and (a.min() < -128 or a.max() > 127):
            raise ValueError("value out of int8 range")
    else:
        raise ValueError("unsupported dtype %s" % a.dtype)
    if target == "BF16":
        data = f32_to_bf16_bits(a.astype(np.float32))
    else:
        data = a.astype(_ST_DTYPES[target][0])
    return np.ascontiguousarray(data).tobytes(), target, [int(s) for s in a.shape]


def write_safetensors(path, tensors, dtype="F32", metadata=None):
    """Write ``tensors`` (ordered dict name -> torch.Tensor / np.ndarray) to ``path``.

    ``dtype`` (F32, F16, BF16, F64) is applied to floating tensors; integer tensors are
    written as ``dtype`` when that is an integer type (I8, U8, I16, I32, I64) and in their
    own type otherwise (so an int8 weight + float32 scale file is written with dtype="I8").
    Layout: u64 LE header length N, N bytes of JSON header padded with spaces to a multiple
    of 8, then the tensor data contiguous in the given order (offsets relative to data start).
    """
    header = OrderedDict()
    blobs = []
    offset = 0
    for name, t in tensors.items():
        data, st_dtype, shape = _encode(t, dtype)
        header[name] = {"dtype": st_dtype, "shape": shape,
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = dict(metadata or {"format": "pt"})
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((-len(hjson)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Read a safetensors file into an OrderedDict name -> float32/int torch.Tensor."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"), object_pairs_hook=OrderedDict)
    base = 8 + n
    out = OrderedDict()
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        dt = info["dtype"]
        npdt = _ST_DTYPES[dt][0]
        a = np.frombuffer(raw[base + b:base + e], dtype=npdt).reshape(info["shape"])
        if dt == "BF16":
            a = bf16_bits_to_f32(a)
        elif dt in ("F16",):
            a = a.astype(np.float32)
        out[name] = torch.from_numpy(a.copy())
    return out


def write_f32(path, t):
    np.ascontiguousarray(t.detach().cpu().numpy().astype("<f4")).tofile(path)


# --------------------------------------------------------------------------------------
# canonical (convention independent) random parameters
# --------------------------------------------------------------------------------------


class Cfg:
    def __init__(self, image_size=32, patch_size=8, channels=3, hidden=48, depth=2, heads=3,
                 mlp=192, num_classes=10, distilled=False, representation_size=None):
        self.image_size = image_size
        self.patch_size = patch_size
        self.channels = channels
        self.hidden = hidden
        self.depth = depth
        self.heads = heads
        self.mlp = mlp
        self.num_classes = num_classes
        self.distilled = distilled
        self.representation_size = representation_size

    @property
    def num_patches(self):
        return (self.image_size // self.patch_size) ** 2

    @property
    def num_tokens(self):
        return self.num_patches + (2 if self.distilled else 1)


def canonical_params(cfg, seed):
    """Deterministic random parameters with non-trivial scale (every parameter matters).

    Weights ~ N(0, (g/sqrt(fan_in))^2), biases ~ N(0, 0.05^2..0.1^2),
    LayerNorm weight 1 + N(0, 0.1^2), bias N(0, 0.05^2), tokens / pos N(0, 0.2^2).
    """
    g = torch.Generator().manual_seed(seed)
    D, P, C, M = cfg.hidden, cfg.patch_size, cfg.channels, cfg.mlp

    def w(*shape, gain=1.0):
        fan_in = int(np.prod(shape[1:]))
        return torch.randn(*shape, generator=g) * (gain / math.sqrt(fan_in))

    def b(n, s=0.05):
        return torch.randn(n, generator=g) * s

    def ln():
        return 1.0 + 0.1 * torch.randn(D, generator=g), 0.05 * torch.randn(D, generator=g)

    p = OrderedDict()
    p["cls"] = 0.2 * torch.randn(D, generator=g)
    if cfg.distilled:
        p["dist"] = 0.2 * torch.randn(D, generator=g)
    p["patch_w"] = w(D, C, P, P, gain=1.0)
    p["patch_b"] = b(D, 0.1)
    p["pos"] = 0.2 * torch.randn(cfg.num_tokens, D, generator=g)
    for i in range(cfg.depth):
        p["l%d.ln1_w" % i], p["l%d.ln1_b" % i] = ln()
        # gain 1.5 on q/k gives attention logits of order 1..3: softmax neither flat nor one-hot
        for n, gain in (("q", 1.5), ("k", 1.5), ("v", 1.0)):
            p["l%d.%s_w" % (i, n)] = w(D, D, gain=gain)
            p["l%d.%s_b" % (i, n)] = b(D, 0.1)
        p["l%d.o_w" % i] = w(D, D, gain=0.8)
        p["l%d.o_b" % i] = b(D)
        p["l%d.ln2_w" % i], p["l%d.ln2_b" % i] = ln()
        p["l%d.fc1_w" % i] = w(M, D, gain=1.0)
        p["l%d.fc1_b" % i] = b(M, 0.1)
        p["l%d.fc2_w" % i] = w(D, M, gain=0.8)
        p["l%d.fc2_b" % i] = b(D)
    p["norm_w"], p["norm_b"] = ln()
    feat = D
    if cfg.representation_size:
        R = cfg.representation_size
        p["pre_w"] = w(R, D, gain=1.5)
        p["pre_b"] = b(R, 0.1)
        feat = R
    p["head_w"] = w(cfg.num_classes, feat, gain=1.5)
    p["head_b"] = b(cfg.num_classes, 0.1)
    if cfg.distilled:
        p["head_dist_w"] = w(cfg.num_classes, feat, gain=1.5)
        p["head_dist_b"] = b(cfg.num_classes, 0.1)
    return p


def to_torchvision_sd(p, cfg):
    D = cfg.hidden
    sd = OrderedDict()
    sd["class_token"] = p["cls"].reshape(1, 1, D)
    sd["conv_proj.weight"] = p["patch_w"]
    sd["conv_proj.bias"] = p["patch_b"]
    sd["encoder.pos_embedding"] = p["pos"].reshape(1, -1, D)
    for i in range(cfg.depth):
        pre = "encoder.layers.encoder_layer_%d." % i
        sd[pre + "ln_1.weight"] = p["l%d.ln1_w" % i]
        sd[pre + "ln_1.bias"] = p["l%d.ln1_b" % i]
        sd[pre + "self_attention.in_proj_weight"] = torch.cat(
            [p["l%d.q_w" % i], p["l%d.k_w" % i], p["l%d.v_w" % i]], 0)
        sd[pre + "self_attention.in_proj_bias"] = torch.cat(
            [p["l%d.q_b" % i], p["l%d.k_b" % i], p["l%d.v_b" % i]], 0)
        sd[pre + "self_attention.out_proj.weight"] = p["l%d.o_w" % i]
        sd[pre + "self_attention.out_proj.bias"] = p["l%d.o_b" % i]
        sd[pre + "ln_2.weight"] = p["l%d.ln2_w" % i]
        sd[pre + "ln_2.bias"] = p["l%d.ln2_b" % i]
        sd[pre + "mlp.0.weight"] = p["l%d.fc1_w" % i]
        sd[pre + "mlp.0.bias"] = p["l%d.fc1_b" % i]
        sd[pre + "mlp.3.weight"] = p["l%d.fc2_w" % i]
        sd[pre + "mlp.3.bias"] = p["l%d.fc2_b" % i]
    sd["encoder.ln.weight"] = p["norm_w"]
    sd["encoder.ln.bias"] = p["norm_b"]
    if cfg.representation_size:
        sd["heads.pre_logits.weight"] = p["pre_w"]
        sd["heads.pre_logits.bias"] = p["pre_b"]
    sd["heads.head.weight"] = p["head_w"]
    sd["heads.head.bias"] = p["head_b"]
    return sd


def _hf_encoder(sd, p, cfg, root):
    for i in range(cfg.depth):
        pre = "%s.encoder.layer.%d." % (root, i)
        sd[pre + "attention.attention.query.weight"] = p["l%d.q_w" % i]
        sd[pre + "attention.attention.query.bias"] = p["l%d.q_b" % i]
        sd[pre + "attention.attention.key.weight"] = p["l%d.k_w" % i]
        sd[pre + "attention.attention.key.bias"] = p["l%d.k_b" % i]
        sd[pre + "attention.attention.value.weight"] = p["l%d.v_w" % i]
        sd[pre + "attention.attention.value.bias"] = p["l%d.v_b" % i]
        sd[pre + "attention.output.dense.weight"] = p["l%d.o_w" % i]
        sd[pre + "attention.output.dense.bias"] = p["l%d.o_b" % i]
        sd[pre + "intermediate.dense.weight"] = p["l%d.fc1_w" % i]
        sd[pre + "intermediate.dense.bias"] = p["l%d.fc1_b" % i]
        sd[pre + "output.dense.weight"] = p["l%d.fc2_w" % i]
        sd[pre + "output.dense.bias"] = p["l%d.fc2_b" % i]
        sd[pre + "layernorm_before.weight"] = p["l%d.ln1_w" % i]
        sd[pre + "layernorm_before.bias"] = p["l%d.ln1_b" % i]
        sd[pre + "layernorm_after.weight"] = p["l%d.ln2_w" % i]
        sd[pre + "layernorm_after.bias"] = p["l%d.ln2_b" % i]


def to_hf_vit_sd(p, cfg):
    D = cfg.hidden
    sd = OrderedDict()
    sd["vit.embeddings.cls_token"] = p["cls"].reshape(1, 1, D)
    sd["vit.embeddings.position_embeddings"] = p["pos"].reshape(1, -1, D)
    sd["vit.embeddings.patch_embeddings.projection.weight"] = p["patch_w"]
    sd["vit.embeddings.patch_embeddings.projection.bias"] = p["patch_b"]
    _hf_encoder(sd, p, cfg, "vit")
    sd["vit.layernorm.weight"] = p["norm_w"]
    sd["vit.layernorm.bias"] = p["norm_b"]
    sd["classifier.weight"] = p["head_w"]
    sd["classifier.bias"] = p["head_b"]
    return sd


def to_hf_deit_sd(p, cfg):
    D = cfg.hidden
    sd = OrderedDict()
    sd["deit.embeddings.cls_token"] = p["cls"].reshape(1, 1, D)
    sd["deit.embeddings.distillation_token"] = p["dist"].reshape(1, 1, D)
    sd["deit.embeddings.position_embeddings"] = p["pos"].reshape(1, -1, D)
    sd["deit.embeddings.patch_embeddings.projection.weight"] = p["patch_w"]
    sd["deit.embeddings.patch_embeddings.projection.bias"] = p["patch_b"]
    _hf_encoder(sd, p, cfg, "deit")
    sd["deit.layernorm.weight"] = p["norm_w"]
    sd["deit.layernorm.bias"] = p["norm_b"]
    sd["cls_classifier.weight"] = p["head_w"]
    sd["cls_classifier.bias"] = p["head_b"]
    sd["distillation_classifier.weight"] = p["head_dist_w"]
    sd["distillation_classifier.bias"] = p["head_dist_b"]
    return sd


def to_timm_sd(p, cfg):
    D = cfg.hidden
    sd = OrderedDict()
    sd["cls_token"] = p["cls"].reshape(1, 1, D)
    if cfg.distilled:
        sd["dist_token"] = p["dist"].reshape(1, 1, D)
    sd["pos_embed"] = p["pos"].reshape(1, -1, D)
    sd["patch_embed.proj.weight"] = p["patch_w"]
    sd["patch_embed.proj.bias"] = p["patch_b"]
    for i in range(cfg.depth):
        pre = "blocks.%d." % i
        sd[pre + "norm1.weight"] = p["l%d.ln1_w" % i]
        sd[pre + "norm1.bias"] = p["l%d.ln1_b" % i]
        sd[pre + "attn.qkv.weight"] = torch.cat([p["l%d.q_w" % i], p["l%d.k_w" % i], p["l%d.v_w" % i]], 0)
        sd[pre + "attn.qkv.bias"] = torch.cat([p["l%d.q_b" % i], p["l%d.k_b" % i], p["l%d.v_b" % i]], 0)
        sd[pre + "attn.proj.weight"] = p["l%d.o_w" % i]
        sd[pre + "attn.proj.bias"] = p["l%d.o_b" % i]
        sd[pre + "norm2.weight"] = p["l%d.ln2_w" % i]
        sd[pre + "norm2.bias"] = p["l%d.ln2_b" % i]
        sd[pre + "mlp.fc1.weight"] = p["l%d.fc1_w" % i]
        sd[pre + "mlp.fc1.bias"] = p["l%d.fc1_b" % i]
        sd[pre + "mlp.fc2.weight"] = p["l%d.fc2_w" % i]
        sd[pre + "mlp.fc2.bias"] = p["l%d.fc2_b" % i]
    sd["norm.weight"] = p["norm_w"]
    sd["norm.bias"] = p["norm_b"]
    sd["head.weight"] = p["head_w"]
    sd["head.bias"] = p["head_b"]
    if cfg.distilled:
        sd["head_dist.weight"] = p["head_dist_w"]
        sd["head_dist.bias"] = p["head_dist_b"]
    return sd


# --------------------------------------------------------------------------------------
# torchvision
# --------------------------------------------------------------------------------------


def torchvision_vit(cfg):
    import torchvision
    return torchvision.models.VisionTransformer(
        image_size=cfg.image_size, patch_size=cfg.patch_size, num_layers=cfg.depth,
        num_heads=cfg.heads, hidden_dim=cfg.hidden, mlp_dim=cfg.mlp,
        num_classes=cfg.num_classes, representation_size=cfg.representation_size)


# --------------------------------------------------------------------------------------
# Hugging Face (transformers ViT / DeiT), written the way modeling_vit.py computes
# --------------------------------------------------------------------------------------


class _HFPatchEmbeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.projection = nn.Conv2d(cfg.channels, cfg.hidden, cfg.patch_size, stride=cfg.patch_size)

    def forward(self, pixel_values):
        return self.projection(pixel_values).flatten(2).transpose(1, 2)


class _HFEmbeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.distilled = cfg.distilled
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.hidden))
        if cfg.distilled:
            self.distillation_token = nn.Parameter(torch.zeros(1, 1, cfg.hidden))
        self.patch_embeddings = _HFPatchEmbeddings(cfg)
        self.position_embeddings = nn.Parameter(torch.zeros(1, cfg.num_tokens, cfg.hidden))

    def forward(self, pixel_values):
        embeddings = self.patch_embeddings(pixel_values)
        batch_size = embeddings.shape[0]
        cls_tokens = self.cls_token.expand(batch_size, -1, -1)
        if self.distilled:
            dist = self.distillation_token.expand(batch_size, -1, -1)
            embeddings = torch.cat((cls_tokens, dist, embeddings), dim=1)
        else:
            embeddings = torch.cat((cls_tokens, embeddings), dim=1)
        return embeddings + self.position_embeddings


class _HFSelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.num_attention_heads = cfg.heads
        self.attention_head_size = cfg.hidden // cfg.heads
        self.all_head_size = self.num_attention_heads * self.attention_head_size
        self.query = nn.Linear(cfg.hidden, self.all_head_size)
        self.key = nn.Linear(cfg.hidden, self.all_head_size)
        self.value = nn.Linear(cfg.hidden, self.all_head_size)

    def transpose_for_scores(self, x):
        new_x_shape = x.size()[:-1] + (self.num_attention_heads, self.attention_head_size)
        x = x.view(new_x_shape)
        return x.permute(0, 2, 1, 3)

    def forward(self, hidden_states):
        key_layer = self.transpose_for_scores(self.key(hidden_states))
        value_layer = self.transpose_for_scores(self.value(hidden_states))
        query_layer = self.transpose_for_scores(self.query(hidden_states))
        attention_scores = torch.matmul(query_layer, key_layer.transpose(-1, -2))
        attention_scores = attention_scores / math.sqrt(self.attention_head_size)
        attention_probs = nn.functional.softmax(attention_scores, dim=-1)
        context_layer = torch.matmul(attention_probs, value_layer)
        context_layer = context_layer.permute(0, 2, 1, 3).contiguous()
        new_context_layer_shape = context_layer.size()[:-2] + (self.all_head_size,)
        return context_layer.view(new_context_layer_shape)


class _HFSelfOutput(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = nn.Linear(cfg.hidden, cfg.hidden)

    def forward(self, x):
        return self.dense(x)


class _HFAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attention = _HFSelfAttention(cfg)
        self.output = _HFSelfOutput(cfg)

    def forward(self, x):
        return self.output(self.attention(x))


class _HFIntermediate(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = nn.Linear(cfg.hidden, cfg.mlp)

    def forward(self, x):
        return F.gelu(self.dense(x))


class _HFOutput(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = nn.Linear(cfg.mlp, cfg.hidden)

    def forward(self, x, input_tensor):
        return self.dense(x) + input_tensor


class _HFLayer(nn.Module):
    def __init__(self, cfg, eps):
        super().__init__()
        self.attention = _HFAttention(cfg)
        self.intermediate = _HFIntermediate(cfg)
        self.output = _HFOutput(cfg)
        self.layernorm_before = nn.LayerNorm(cfg.hidden, eps=eps)
        self.layernorm_after = nn.LayerNorm(cfg.hidden, eps=eps)

    def forward(self, hidden_states):
        attention_output = self.attention(self.layernorm_before(hidden_states))
        hidden_states = attention_output + hidden_states
        layer_output = self.layernorm_after(hidden_states)
        layer_output = self.intermediate(layer_output)
        return self.output(layer_output, hidden_states)


class _HFEncoder(nn.Module):
    def __init__(self, cfg, eps):
        super().__init__()
        self.layer = nn.ModuleList([_HFLayer(cfg, eps) for _ in range(cfg.depth)])

    def forward(self, x):
        for layer_module in self.layer:
            x = layer_module(x)
        return x


class _HFModel(nn.Module):
    """ViTModel / DeiTModel with add_pooling_layer=False."""

    def __init__(self, cfg, eps):
        super().__init__()
        self.embeddings = _HFEmbeddings(cfg)
        self.encoder = _HFEncoder(cfg, eps)
        self.layernorm = nn.LayerNorm(cfg.hidden, eps=eps)

    def forward(self, pixel_values):
        return self.layernorm(self.encoder(self.embeddings(pixel_values)))


class HFViTForImageClassification(nn.Module):
    def __init__(self, cfg, eps=1e-12):
        super().__init__()
        assert not cfg.distilled
        self.vit = _HFModel(cfg, eps)
        self.classifier = nn.Linear(cfg.hidden, cfg.num_classes)

    def forward(self, pixel_values):
        sequence_output = self.vit(pixel_values)
        return self.classifier(sequence_output[:, 0, :])


class HFDeiTForImageClassificationWithTeacher(nn.Module):
    def __init__(self, cfg, eps=1e-12):
        super().__init__()
        assert cfg.distilled
        self.deit = _HFModel(cfg, eps)
        self.cls_classifier = nn.Linear(cfg.hidden, cfg.num_classes)
        self.distillation_classifier = nn.Linear(cfg.hidden, cfg.num_classes)

    def forward(self, pixel_values):
        sequence_output = self.deit(pixel_values)
        cls_logits = self.cls_classifier(sequence_output[:, 0, :])
        distillation_logits = self.distillation_classifier(sequence_output[:, 1, :])
        return (cls_logits + distillation_logits) / 2


# --------------------------------------------------------------------------------------
# timm, written the way timm/models/vision_transformer.py computes (non-fused attention)
# --------------------------------------------------------------------------------------


class _TimmPatchEmbed(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.proj = nn.Conv2d(cfg.channels, cfg.hidden, cfg.patch_size, stride=cfg.patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # NCHW -> NLC


class _TimmAttention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q = q * self.scale
        attn = q @ k.transpose(-2, -1)
        attn = attn.softmax(dim=-1)
        x = attn @ v
        x = x.transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class _TimmMlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class _TimmBlock(nn.Module):
    def __init__(self, cfg, eps):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.hidden, eps=eps)
        self.attn = _TimmAttention(cfg.hidden, cfg.heads)
        self.norm2 = nn.LayerNorm(cfg.hidden, eps=eps)
        self.mlp = _TimmMlp(cfg.hidden, cfg.mlp)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


class TimmVisionTransformer(nn.Module):
    def __init__(self, cfg, eps=1e-6):
        super().__init__()
        self.num_prefix_tokens = 1
        self.patch_embed = _TimmPatchEmbed(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.hidden))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_tokens, cfg.hidden))
        self.blocks = nn.Sequential(*[_TimmBlock(cfg, eps) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(cfg.hidden, eps=eps)
        self.head = nn.Linear(cfg.hidden, cfg.num_classes)

    def _pos_embed(self, x):
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        return x + self.pos_embed

    def forward_features(self, x):
        x = self.patch_embed(x)
        x = self._pos_embed(x)
        x = self.blocks(x)
        return self.norm(x)

    def forward_head(self, x):
        x = x[:, 0]  # global_pool == 'token'
        return self.head(x)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


class TimmVisionTransformerDistilled(TimmVisionTransformer):
    def __init__(self, cfg, eps=1e-6):
        assert cfg.distilled
        super().__init__(cfg, eps)
        self.num_prefix_tokens = 2
        self.dist_token = nn.Parameter(torch.zeros(1, 1, cfg.hidden))
        self.head_dist = nn.Linear(cfg.hidden, cfg.num_classes)

    def _pos_embed(self, x):
        x = torch.cat((
            self.cls_token.expand(x.shape[0], -1, -1),
            self.dist_token.expand(x.shape[0], -1, -1),
            x), dim=1)
        return x + self.pos_embed

    def forward_head(self, x):
        x, x_dist = x[:, 0], x[:, 1]
        x = self.head(x)
        x_dist = self.head_dist(x_dist)
        # eval / not distilled_training: average of both heads
        return (x + x_dist) / 2


# --------------------------------------------------------------------------------------
# builders
# --------------------------------------------------------------------------------------


def build(convention, cfg, params):
    """Return (module in eval mode, state_dict with the library's key names)."""
    if convention == "torchvision":
        m = torchvision_vit(cfg)
        sd = to_torchvision_sd(params, cfg)
    elif convention == "huggingface":
        if cfg.distilled:
            m = HFDeiTForImageClassificationWithTeacher(cfg)
            sd = to_hf_deit_sd(params, cfg)
        else:
            m = HFViTForImageClassification(cfg)
            sd = to_hf_vit_sd(params, cfg)
    elif convention == "timm":
        m = TimmVisionTransformerDistilled(cfg) if cfg.distilled else TimmVisionTransformer(cfg)
        sd = to_timm_sd(params, cfg)
    else:
        raise ValueError(convention)
    own = m.state_dict()
    missing = set(own) - set(sd)
    extra = set(sd) - set(own)
    if missing or extra:
        raise KeyError("state dict mismatch: missing=%s extra=%s" % (sorted(missing), sorted(extra)))
    for k, v in sd.items():
        if tuple(own[k].shape) != tuple(v.shape):
            raise ValueError("shape mismatch for %s: %s vs %s" % (k, tuple(own[k].shape), tuple(v.shape)))
    m.load_state_dict(sd, strict=True)
    m.eval()
    # keep the module's own key order (what model.state_dict() / save_file would write)
    ordered = OrderedDict((k, sd[k].detach().clone().contiguous().float()) for k in own)
    return m, ordered
