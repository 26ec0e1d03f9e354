"""Shared helpers for the bundled Fashion-MNIST ViT (tools/train_fashion_vit.py).

* idx file reading (optionally gzip-compressed) with numpy
* a hand-written ViT whose state_dict keys are exactly the Hugging Face
  ViTForImageClassification parameter names
* a minimal safetensors writer / reader (F32 only)
"""
import gzip
import hashlib
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA_DIR = "/usr/share/datasets/fashion-mnist"

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
SAMPLE_SLUGS = ["tshirt-top", "trouser", "pullover", "dress", "coat",
                "sandal", "shirt", "sneaker", "bag", "ankle-boot"]


# --------------------------------------------------------------------------- data

def idx_path(split, kind):
    """split: 'train' | 't10k'; kind: 'images' | 'labels'. Returns the existing path."""
    base = os.path.join(DATA_DIR, "%s-%s-idx%d-ubyte" % (split, kind, 3 if kind == "images" else 1))
    for p in (base, base + ".gz"):
        if os.path.exists(p):
            return p
    raise FileNotFoundError(base + "[.gz]")


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    assert zero == 0 and dtype_code == 0x08, "expected unsigned byte idx file: %s" % path
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    assert arr.size == int(np.prod(dims)), path
    return arr.reshape(dims).copy()


def load_split(split):
    x = read_idx(idx_path(split, "images"))
    y = read_idx(idx_path(split, "labels")).astype(np.int64)
    return x, y


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def to_input(x_uint8, mean, std):
    """uint8 [B,28,28] -> float32 [B,3,28,28]: x/255, replicate gray to RGB, (x-mean)/std per channel."""
    x = torch.as_tensor(x_uint8).to(torch.float32) / 255.0
    x = x.unsqueeze(1).expand(-1, 3, -1, -1)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return ((x - m) / s).contiguous()


# --------------------------------------------------------------------------- model
# Module tree mirrors transformers' ViTForImageClassification so that
# state_dict() keys are the Hugging Face names.

class PatchEmbeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.projection = nn.Conv2d(cfg["num_channels"], cfg["hidden_size"],
                                    kernel_size=cfg["patch_size"], stride=cfg["patch_size"])

    def forward(self, x):
        return self.projection(x).flatten(2).transpose(1, 2)  # [B, N, D], row-major patches


class Embeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["hidden_size"]
        n = (cfg["image_size"] // cfg["patch_size"]) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.position_embeddings = nn.Parameter(torch.zeros(1, n + 1, d))
        self.patch_embeddings = PatchEmbeddings(cfg)
        self.dropout = nn.Dropout(cfg.get("hidden_dropout_prob", 0.0))

    def forward(self, x):
        p = self.patch_embeddings(x)
        cls = self.cls_token.expand(p.shape[0], -1, -1)
        return self.dropout(torch.cat([cls, p], dim=1) + self.position_embeddings)


class SelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["hidden_size"]
        self.h = cfg["num_attention_heads"]
        self.query = nn.Linear(d, d, bias=cfg["qkv_bias"])
        self.key = nn.Linear(d, d, bias=cfg["qkv_bias"])
        self.value = nn.Linear(d, d, bias=cfg["qkv_bias"])
        self.dropout = nn.Dropout(cfg.get("attention_probs_dropout_prob", 0.0))

    def forward(self, x):
        b, t, d = x.shape
        hd = d // self.h

        def split(z):
            return z.view(b, t, self.h, hd).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        # (q / sqrt(hd)) k^T: same maths as HF's (q k^T) / sqrt(hd), scaling the smaller tensor
        att = torch.matmul(q * (1.0 / math.sqrt(hd)), k.transpose(-1, -2))
        att = self.dropout(att.softmax(dim=-1))
        return torch.matmul(att, v).transpose(1, 2).reshape(b, t, d)


class SelfOutput(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = nn.Linear(cfg["hidden_size"], cfg["hidden_size"])
        self.dropout = nn.Dropout(cfg.get("hidden_dropout_prob", 0.0))

    def forward(self, x):
        return self.dropout(self.dense(x))


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attention = SelfAttention(cfg)
        self.output = SelfOutput(cfg)

    def forward(self, x):
        return self.output(self.attention(x))


class Intermediate(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = nn.Linear(cfg["hidden_size"], cfg["intermediate_size"])

    def forward(self, x):
        return F.gelu(self.dense(x))  # exact (erf) GELU


class Output(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = nn.Linear(cfg["intermediate_size"], cfg["hidden_size"])
        self.dropout = nn.Dropout(cfg.get("hidden_dropout_prob", 0.0))

    def forward(self, x):
        return self.dropout(self.dense(x))


class Layer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        eps = cfg["layer_norm_eps"]
        self.layernorm_before = nn.LayerNorm(cfg["hidden_size"], eps=eps)
        self.attention = Attention(cfg)
        self.layernorm_after = nn.LayerNorm(cfg["hidden_size"], eps=eps)
        self.intermediate = Intermediate(cfg)
        self.output = Output(cfg)

    def forward(self, x):
        x = x + self.attention(self.layernorm_before(x))
        return x + self.output(self.intermediate(self.layernorm_after(x)))


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layer = nn.ModuleList([Layer(cfg) for _ in range(cfg["num_hidden_layers"])])

    def forward(self, x):
        for blk in self.layer:
            x = blk(x)
        return x


class ViTModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = Embeddings(cfg)
        self.encoder = Encoder(cfg)
        self.layernorm = nn.LayerNorm(cfg["hidden_size"], eps=cfg["layer_norm_eps"])

    def forward(self, x):
        return self.layernorm(self.encoder(self.embeddings(x)))


class ViTForImageClassification(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = dict(cfg)
        self.vit = ViTModel(cfg)
        self.classifier = nn.Linear(cfg["hidden_size"], cfg["num_labels"])
        self._init_weights()

    def _init_weights(self):
        std = self.cfg.get("initializer_range", 0.02)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.vit.embeddings.position_embeddings, std=std, a=-2 * std, b=2 * std)
        nn.init.trunc_normal_(self.vit.embeddings.cls_token, std=std, a=-2 * std, b=2 * std)

    def forward(self, x):
        return self.classifier(self.vit(x)[:, 0, :])


# --------------------------------------------------------------------------- safetensors

def save_safetensors(path, tensors):
    """tensors: list of (name, float32 tensor) in the order to write."""
    header = {}
    blobs = []
    off = 0
    for name, t in tensors:
        a = np.ascontiguousarray(t.detach().cpu().numpy().astype("<f4"))
        b = a.tobytes(order="C")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    header["__metadata__"] = {"format": "pt"}
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def load_safetensors(path):
    """Returns an ordered dict name -> float32 torch tensor (F32 only)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    header.pop("__metadata__", None)
    base = 8 + n
    out = {}
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        assert info["dtype"] == "F32"
        b, e = info["data_offsets"]
        a = np.frombuffer(data[base + b:base + e], dtype="<f4").reshape(info["shape"])
        out[name] = torch.from_numpy(a.copy())
    return out
