#!/usr/bin/python3
"""Train the bundled default model of jvit: a small ViT on Fashion-MNIST (CPU, PyTorch),
then export it as a Hugging Face ViTForImageClassification-style directory.

Usage (from the repository root):
    nohup nice -n 10 /usr/bin/python3 tools/train_fashion_vit.py > tools/out/train.log 2>&1 &

    /usr/bin/python3 tools/train_fashion_vit.py --bench       # time a few batches, no training
    /usr/bin/python3 tools/train_fashion_vit.py --export-only # re-export from tools/out/checkpoint.pt

Resumable: a checkpoint (model + optimizer + epoch) is written to tools/out/checkpoint.pt after
each epoch; rerunning the same command resumes from it. Data order and augmentation are drawn
from generators seeded by (seed, epoch), so a resumed run sees the same batches.

Writes:
    models/fashion-vit/{config.json, preprocessor_config.json, model.safetensors}
    samples/<class>-<name>.png          (one correctly classified test image per class)
    fixtures/fashion/pytorch_logits.bin (float32 LE [10000, 10]) and meta.json
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fashion_common as fc  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "tools", "out")
CKPT = os.path.join(OUT_DIR, "checkpoint.pt")
MODEL_DIR = os.path.join(ROOT, "models", "fashion-vit")
SAMPLES_DIR = os.path.join(ROOT, "samples")
FIXTURE_DIR = os.path.join(ROOT, "fixtures", "fashion")

# Fashion-MNIST training-set pixel statistics (x/255), rounded; gray replicated to 3 channels.
MEAN = [0.286, 0.286, 0.286]
STD = [0.353, 0.353, 0.353]

CONFIG = {
    "hidden_size": 64,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "intermediate_size": 256,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-12,
    "image_size": 28,
    "patch_size": 4,
    "num_channels": 3,
    "qkv_bias": True,
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "initializer_range": 0.02,
    "num_labels": 10,
}


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=6e-4)
    ap.add_argument("--min-lr", type=float, default=1e-5)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--warmup-steps", type=int, default=300)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--aug", choices=["none", "flip", "flipcrop"], default="flip",
                    help="training augmentation: random horizontal flip, optionally + random crop (pad 2)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=None)
    ap.add_argument("--layers", type=int, default=None)
    ap.add_argument("--heads", type=int, default=None)
    ap.add_argument("--mlp", type=int, default=None, help="intermediate_size")
    ap.add_argument("--reschedule", action="store_true",
                    help="resume a checkpoint made with another --epochs; LR follows the new length")
    ap.add_argument("--bench", action="store_true", help="time a few training batches and exit")
    ap.add_argument("--export-only", action="store_true")
    return ap.parse_args()


def make_config(args):
    cfg = dict(CONFIG)
    if args.hidden:
        cfg["hidden_size"] = args.hidden
    if args.layers:
        cfg["num_hidden_layers"] = args.layers
    if args.heads:
        cfg["num_attention_heads"] = args.heads
    if args.mlp:
        cfg["intermediate_size"] = args.mlp
    return cfg


def augment(xb, gen, crop):
    """xb: uint8 [B,28,28]. Random horizontal flip (+ random 28x28 crop of the zero-padded (2) image)."""
    b = xb.shape[0]
    flip = torch.rand(b, generator=gen) < 0.5
    xb = torch.where(flip.view(b, 1, 1), xb.flip(-1), xb)
    if not crop:
        return xb
    xp = F.pad(xb, (2, 2, 2, 2))
    oy = torch.randint(0, 5, (b,), generator=gen)
    ox = torch.randint(0, 5, (b,), generator=gen)
    ar = torch.arange(28)
    rows = (oy.view(b, 1) + ar.view(1, 28)).view(b, 28, 1)
    cols = (ox.view(b, 1) + ar.view(1, 28)).view(b, 1, 28)
    return xp[torch.arange(b).view(b, 1, 1), rows, cols]


def lr_at(step, total, args):
    if step < args.warmup_steps:
        return args.lr * (step + 1) / args.warmup_steps
    p = (step - args.warmup_steps) / max(1, total - args.warmup_steps)
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * min(1.0, p)))


def make_optimizer(model, args):
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or n.endswith("cls_token") or n.endswith("position_embeddings")
         else decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=args.lr, betas=(0.9, 0.999))


@torch.no_grad()
def predict_logits(model, x_uint8, bs=100):
    model.eval()
    out = []
    for i in range(0, len(x_uint8), bs):
        out.append(model(fc.to_input(x_uint8[i:i + bs], MEAN, STD)))
    return torch.cat(out)


def train(args, cfg, xtr, ytr, xte, yte):
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    model = fc.ViTForImageClassification(cfg)
    opt = make_optimizer(model, args)
    nparams = sum(p.numel() for p in model.parameters())
    steps_per_epoch = len(xtr) // args.batch_size  # drop last partial batch
    total = steps_per_epoch * args.epochs
    start_epoch = 0
    if os.path.exists(CKPT) and not args.bench:
        ck = torch.load(CKPT)
        if ck["config"] != cfg:
            sys.exit("checkpoint %s was made with another config; move it away to restart" % CKPT)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        start_epoch = ck["epoch"]
        schedule = ck.get("schedule", [[0, ck["args"]["epochs"]]])
        if schedule[-1][1] != args.epochs:
            if not args.reschedule:
                sys.exit("checkpoint %s was made with --epochs %d; pass --reschedule to continue with "
                         "--epochs %d (the cosine LR then follows the new length)"
                         % (CKPT, schedule[-1][1], args.epochs))
            print("rescheduling after epoch %d: --epochs %d -> %d"
                  % (start_epoch, schedule[-1][1], args.epochs), flush=True)
            schedule = schedule + [[start_epoch, args.epochs]]
        print("resumed from %s after epoch %d (elapsed so far %.1f min)"
              % (CKPT, start_epoch, ck["elapsed_s"] / 60), flush=True)
        elapsed_before = ck["elapsed_s"]
    else:
        elapsed_before = 0.0
        schedule = [[0, args.epochs]]
    print("config %s params %d steps/epoch %d epochs %d args %s"
          % (json.dumps(cfg), nparams, steps_per_epoch, args.epochs, vars(args)), flush=True)

    xtr_t = torch.from_numpy(xtr)
    ytr_t = torch.from_numpy(ytr)
    t_run = time.time()
    for epoch in range(start_epoch, args.epochs):
        model.train()
        gen = torch.Generator().manual_seed(args.seed * 1000 + epoch)
        perm = torch.randperm(len(xtr), generator=gen)
        t0 = time.time()
        loss_sum, n_seen, correct = 0.0, 0, 0
        for s in range(steps_per_epoch):
            step = epoch * steps_per_epoch + s
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, args)
            idx = perm[s * args.batch_size:(s + 1) * args.batch_size]
            xb = xtr_t[idx]
            if args.aug != "none":
                xb = augment(xb, gen, crop=args.aug == "flipcrop")
            yb = ytr_t[idx]
            logits = model(fc.to_input(xb, MEAN, STD))
            loss = F.cross_entropy(logits, yb, label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            n_seen += len(idx)
            correct += (logits.argmax(1) == yb).sum().item()
            if args.bench and s == 4:
                t_warm = time.time()
            if args.bench and s == 24:
                dt = (time.time() - t_warm) / 20
                t_ev = time.time()
                predict_logits(model, xte[:2000])
                ev = (time.time() - t_ev) * 5
                print("bench: %.4f s/step -> %.1f s/epoch train + %.1f s eval (params %d)"
                      % (dt, dt * steps_per_epoch, ev, nparams), flush=True)
                return None
            if s % 100 == 0:
                print("  epoch %d step %d/%d loss %.4f lr %.2e (%.1f s)"
                      % (epoch + 1, s, steps_per_epoch, loss.item(), opt.param_groups[0]["lr"],
                         time.time() - t0), flush=True)
        t_train = time.time() - t0
        logits = predict_logits(model, xte)
        acc = (logits.argmax(1).numpy() == yte).mean()
        elapsed = elapsed_before + (time.time() - t_run)
        print("epoch %d/%d train_loss %.4f train_acc %.4f test_acc %.4f epoch_time %.1f s total %.1f min"
              % (epoch + 1, args.epochs, loss_sum / n_seen, correct / n_seen, acc,
                 time.time() - t0, elapsed / 60), flush=True)
        ck = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch + 1,
              "config": cfg, "args": vars(args), "test_acc": float(acc), "elapsed_s": elapsed,
              "train_time_s": t_train, "schedule": schedule}
        torch.save(ck, CKPT + ".tmp")
        os.replace(CKPT + ".tmp", CKPT)
    return model


def hf_config(cfg):
    id2label = {str(i): n for i, n in enumerate(fc.CLASS_NAMES)}
    return {
        "architectures": ["ViTForImageClassification"],
        "model_type": "vit",
        "hidden_size": cfg["hidden_size"],
        "num_hidden_layers": cfg["num_hidden_layers"],
        "num_attention_heads": cfg["num_attention_heads"],
        "intermediate_size": cfg["intermediate_size"],
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "initializer_range": cfg["initializer_range"],
        "layer_norm_eps": cfg["layer_norm_eps"],
        "image_size": cfg["image_size"],
        "patch_size": cfg["patch_size"],
        "num_channels": cfg["num_channels"],
        "qkv_bias": True,
        "id2label": id2label,
        "label2id": {n: i for i, n in enumerate(fc.CLASS_NAMES)},
        "torch_dtype": "float32",
    }


def export(cfg, xte, yte):
    from PIL import Image

    ck = torch.load(CKPT)
    cfg = ck["config"]
    model = fc.ViTForImageClassification(cfg)
    model.load_state_dict(ck["model"])
    model.eval()
    os.makedirs(MODEL_DIR, exist_ok=True)
    os.makedirs(SAMPLES_DIR, exist_ok=True)
    os.makedirs(FIXTURE_DIR, exist_ok=True)

    # Weights in Hugging Face order/names; state_dict keys already are the HF names.
    sd = model.state_dict()
    d = cfg["hidden_size"]
    names = ["vit.embeddings.cls_token", "vit.embeddings.position_embeddings",
             "vit.embeddings.patch_embeddings.projection.weight",
             "vit.embeddings.patch_embeddings.projection.bias"]
    for i in range(cfg["num_hidden_layers"]):
        p = "vit.encoder.layer.%d." % i
        names += [p + "layernorm_before.weight", p + "layernorm_before.bias"]
        for k in ("query", "key", "value"):
            names += [p + "attention.attention.%s.weight" % k, p + "attention.attention.%s.bias" % k]
        names += [p + "attention.output.dense.weight", p + "attention.output.dense.bias",
                  p + "layernorm_after.weight", p + "layernorm_after.bias",
                  p + "intermediate.dense.weight", p + "intermediate.dense.bias",
                  p + "output.dense.weight", p + "output.dense.bias"]
    names += ["vit.layernorm.weight", "vit.layernorm.bias", "classifier.weight", "classifier.bias"]
    assert sorted(names) == sorted(sd.keys()), set(names) ^ set(sd.keys())
    assert list(sd["vit.embeddings.patch_embeddings.projection.weight"].shape) == [d, 3, cfg["patch_size"], cfg["patch_size"]]
    st_path = os.path.join(MODEL_DIR, "model.safetensors")
    fc.save_safetensors(st_path, [(n, sd[n].float()) for n in names])

    with open(os.path.join(MODEL_DIR, "config.json"), "w") as f:
        json.dump(hf_config(cfg), f, indent=2)
        f.write("\n")
    with open(os.path.join(MODEL_DIR, "preprocessor_config.json"), "w") as f:
        json.dump({
            "do_resize": True,
            "size": {"height": cfg["image_size"], "width": cfg["image_size"]},
            "resample": 2,
            "do_rescale": True,
            "rescale_factor": 0.00392156862745098,
            "do_normalize": True,
            "image_mean": MEAN,
            "image_std": STD,
            "image_processor_type": "ViTImageProcessor",
        }, f, indent=2)
        f.write("\n")

    # Reload the exported file into a fresh model: the fixture is computed from what was written.
    loaded = fc.load_safetensors(st_path)
    m2 = fc.ViTForImageClassification(cfg)
    m2.load_state_dict(loaded)
    m2.eval()
    logits = predict_logits(m2, xte)
    ref = predict_logits(model, xte)
    assert torch.equal(logits, ref), (logits - ref).abs().max()
    pred = logits.argmax(1).numpy()
    acc = float((pred == yte).mean())
    print("exported model test accuracy %.4f (%d/%d)" % (acc, int((pred == yte).sum()), len(yte)), flush=True)
    logits.numpy().astype("<f4").tofile(os.path.join(FIXTURE_DIR, "pytorch_logits.bin"))

    top2 = logits.topk(2, dim=1).values
    margin = (top2[:, 0] - top2[:, 1]).numpy()
    img_path = fc.idx_path("t10k", "images")
    lbl_path = fc.idx_path("t10k", "labels")
    with open(os.path.join(FIXTURE_DIR, "meta.json"), "w") as f:
        json.dump({"count": int(len(yte)), "classes": 10, "accuracy": acc,
                   "mean": MEAN, "std": STD,
                   "images": img_path, "labels": lbl_path,
                   "images_sha256": fc.sha256_file(img_path),
                   "labels_sha256": fc.sha256_file(lbl_path),
                   "correct": int((pred == yte).sum()),
                   "top2_margin_below_1e-3": int((margin < 1e-3).sum()),
                   "top2_margin_below_1e-2": int((margin < 1e-2).sum())}, f, indent=2)
        f.write("\n")

    # One correctly classified test image per class (the first such in test-set order).
    for c in range(10):
        i = int(np.nonzero((yte == c) & (pred == c))[0][0])
        path = os.path.join(SAMPLES_DIR, "%d-%s.png" % (c, fc.SAMPLE_SLUGS[c]))
        Image.fromarray(xte[i], mode="L").save(path)
        print("sample %s <- test index %d" % (os.path.relpath(path, ROOT), i))
    return acc


OPENMP_BLAS = "/usr/lib/x86_64-linux-gnu/openblas-openmp"


def main():
    # Debian's default libblas.so.3 alternative is openblas-pthread, whose own thread pool fights
    # torch's OpenMP pool (about 2x slower here); prefer the OpenMP build when it is installed.
    if os.path.isdir(OPENMP_BLAS) and OPENMP_BLAS not in os.environ.get("LD_LIBRARY_PATH", ""):
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = OPENMP_BLAS + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
        # Waiting OpenMP threads sleep instead of spinning: on a shared, oversubscribed machine a
        # niced spinning thread only burns its own small CPU share.
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        os.execve(sys.executable, [sys.executable] + sys.argv, env)
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    cfg = make_config(args)
    os.makedirs(OUT_DIR, exist_ok=True)
    xte, yte = fc.load_split("t10k")
    if args.export_only:
        export(cfg, xte, yte)
        return
    xtr, ytr = fc.load_split("train")
    t = time.time()
    model = train(args, cfg, xtr, ytr, xte, yte)
    if model is None:
        return
    print("training done in this process: %.1f min" % ((time.time() - t) / 60), flush=True)
    export(cfg, xte, yte)


if __name__ == "__main__":
    main()
