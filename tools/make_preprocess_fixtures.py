#!/usr/bin/python3
"""Regenerate the image-decoding and preprocessing parity fixtures (fixtures/images/,
fixtures/preprocess/) that io.jvit.loader.image's tests compare against.

Usage (Debian python: Pillow 9.4 (python3-pil), numpy, torch 1.13, torchvision 0.14,
python3-skimage for the photographs):

    /usr/bin/python3 tools/make_preprocess_fixtures.py            # into fixtures/
    /usr/bin/python3 tools/make_preprocess_fixtures.py --out /tmp/fx

What it writes
  fixtures/images/        chelsea.png, coffee.png, astronaut.png (skimage's photographs, copied
                          unchanged) and small derived files in every format the loader reads:
                          baseline/4:4:4/4:2:2/progressive/gray/CMYK/ICC JPEGs, JPEGs with EXIF
                          orientation 1..8 (and PNG/WebP ones with 5, 6, 8), gray/1-bit/2-bit/4-bit/16-bit/palette/tRNS/RGBA/LA
                          PNGs (16-bit RGB/RGBA/LA written by hand: Pillow cannot), GIFs (incl.
                          one whose logical screen is larger than its first frame), BMPs (24-bit,
                          32-bit, 8-bit palette, 1-bit), WebP (lossless, lossy, lossless+alpha),
                          an LZW TIFF, and the bad inputs (truncated PNG/JPEG/GIF, not-an-image, empty file,
                          a 120-byte PNG claiming 50000x50000).
  fixtures/preprocess/index.json   what each .bin below is (see the keys "decode", "resize",
                          "pipeline"); all .bin files are raw little-endian arrays.
    decode/*.rgb          Image.open(f).convert("RGB") as uint8 HWC (after
                          ImageOps.exif_transpose for the orient_* files)
    resize/*.rgb          Image.open(f).convert("RGB").resize((w, h), filter) as uint8 HWC
    pipeline/*.f32        full preprocessing as float32 CHW: Hugging Face image processors
                          (emulated with PIL + numpy exactly as transformers' ViT/DeiT/ConvNeXt/
                          CLIP image processors do it: PIL resize, HF center crop (floor
                          offsets), rescale in float64 then float32, normalize in float32),
                          timm's eval transform (torchvision Resize/CenterCrop/ToTensor/Normalize;
                          crop_mode "border" re-implemented from timm's ResizeKeepRatio +
                          CenterCropOrPad) and torchvision's ImageClassification preset.

Deterministic: running it twice gives identical bytes (Pillow's encoders are deterministic).
"""

import argparse
import hashlib
import io
import json
import math
import os
import shutil
import struct
import warnings
import zlib

import numpy as np
import torch
from PIL import Image, ImageOps
from torchvision import transforms as T
from torchvision.transforms import InterpolationMode as IM
from torchvision.transforms._presets import ImageClassification

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data"
PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png"]

FILTERS = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC,
           "box": Image.BOX, "hamming": Image.HAMMING, "lanczos": Image.LANCZOS}
TV_INTERP = {"nearest": IM.NEAREST, "bilinear": IM.BILINEAR, "bicubic": IM.BICUBIC}

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


# ----------------------------------------------------------------------------------------
# hand-written PNG (Pillow cannot write 16-bit RGB/RGBA/LA or 2/4-bit gray)

def png_bytes(width, height, bit_depth, color_type, rows):
    """rows: list of bytes, each one already-packed scanline (without the filter byte)."""
    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def png16(arr, color_type):
    """arr: uint16 HxWxC array, big-endian samples."""
    h, w = arr.shape[:2]
    be = arr.astype(">u2")
    return png_bytes(w, h, 16, color_type, [be[y].tobytes() for y in range(h)])


def png_gray_lowbits(arr, bits):
    """arr: uint8 HxW with values < 2**bits."""
    h, w = arr.shape
    per = 8 // bits
    rows = []
    for y in range(h):
        out = bytearray((w * bits + 7) // 8)
        for x in range(w):
            out[x // per] |= int(arr[y, x]) << (8 - bits * (x % per + 1))
        rows.append(bytes(out))
    return png_bytes(w, h, bits, 0, rows)


# ----------------------------------------------------------------------------------------

def rgb_of(path, exif_transpose=False):
    im = Image.open(path)
    if exif_transpose:
        im = ImageOps.exif_transpose(im)
    return im.convert("RGB")


def save_bin(path, arr):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(np.ascontiguousarray(arr).tobytes())


def make_images(img_dir):
    """Copies the photographs and writes the derived test files; returns the list of
    (file name, description, lossy) that the decode fixtures cover."""
    os.makedirs(img_dir, exist_ok=True)
    for p in PHOTOS:
        shutil.copyfile(os.path.join(SKIMAGE, p), os.path.join(img_dir, p))
    chelsea = Image.open(os.path.join(img_dir, "chelsea.png")).convert("RGB")
    coffee = Image.open(os.path.join(img_dir, "coffee.png")).convert("RGB")
    astronaut = Image.open(os.path.join(img_dir, "astronaut.png")).convert("RGB")

    A = chelsea.resize((128, 85), Image.LANCZOS)          # JPEG test images (larger)
    B = coffee.resize((128, 85), Image.LANCZOS)
    a = chelsea.resize((96, 64), Image.LANCZOS)            # lossless-format test images
    b = coffee.resize((96, 64), Image.LANCZOS)
    small = chelsea.crop((190, 60, 254, 108))              # 64x48, exact pixels of the photo
    small.save(os.path.join(img_dir, "small.png"))
    icc = Image.open(os.path.join(img_dir, "chelsea.png")).info.get("icc_profile")

    files = []

    def add(name, desc, lossy=False):
        files.append((name, desc, lossy))

    P = lambda n: os.path.join(img_dir, n)  # noqa: E731

    # --- JPEG
    B.save(P("jpeg_baseline.jpg"), quality=90)
    add("jpeg_baseline.jpg", "baseline JPEG, 4:2:0, q90", True)
    A.save(P("jpeg_444.jpg"), quality=95, subsampling=0)
    add("jpeg_444.jpg", "baseline JPEG, 4:4:4, q95", True)
    A.save(P("jpeg_422.jpg"), quality=90, subsampling=1)
    add("jpeg_422.jpg", "baseline JPEG, 4:2:2, q90", True)
    B.save(P("jpeg_progressive.jpg"), quality=85, progressive=True)
    add("jpeg_progressive.jpg", "progressive JPEG, 4:2:0, q85", True)
    A.convert("L").save(P("jpeg_gray.jpg"), quality=90)
    add("jpeg_gray.jpg", "grayscale JPEG", True)
    B.convert("CMYK").save(P("jpeg_cmyk.jpg"), quality=90)
    add("jpeg_cmyk.jpg", "CMYK JPEG (Adobe APP14, inverted), Pillow's naive CMYK->RGB", True)
    A.save(P("jpeg_icc.jpg"), quality=90, icc_profile=icc)
    add("jpeg_icc.jpg", "JPEG with an embedded ICC profile (ignored, as Pillow does)", True)
    # EXIF orientation: same pixels, orientation tag 1..8; expected = ImageOps.exif_transpose
    o = astronaut.crop((150, 40, 198, 72))                 # 48x32, asymmetric
    for n in range(1, 9):
        ex = Image.Exif()
        ex[0x0112] = n
        o.save(P("orient_%d.jpg" % n), quality=95, exif=ex.tobytes())
        add("orient_%d.jpg" % n, "JPEG, EXIF orientation %d" % n, True)
    # the same for PNG (eXIf chunk) and WebP (EXIF chunk), which exif_transpose also honours
    for n, fmt, kw in ((6, "png", {}), (5, "png", {}), (8, "webp", {"lossless": True})):
        ex = Image.Exif()
        ex[0x0112] = n
        o.save(P("orient_%d.%s" % (n, fmt)), exif=ex.tobytes(), **kw)
        add("orient_%d.%s" % (n, fmt), "%s, EXIF orientation %d" % (fmt.upper(), n))

    # --- PNG
    a.convert("L").save(P("png_gray.png"))
    add("png_gray.png", "8-bit gray PNG")
    a.convert("1").save(P("png_1bit.png"))
    add("png_1bit.png", "1-bit PNG (Pillow mode 1)")
    g = np.asarray(a.convert("L"))
    with open(P("png_gray2.png"), "wb") as f:
        f.write(png_gray_lowbits(g >> 6, 2))
    add("png_gray2.png", "2-bit gray PNG")
    with open(P("png_gray4.png"), "wb") as f:
        f.write(png_gray_lowbits(g >> 4, 4))
    add("png_gray4.png", "4-bit gray PNG")
    g16 = (g.astype(np.uint32) * 4 + (np.arange(g.size).reshape(g.shape) % 4)).astype(np.uint16)
    Image.fromarray(g16).save(P("png_gray16.png"))         # values 0..1023: > 255 clip in Pillow
    add("png_gray16.png", "16-bit gray PNG (Pillow: mode I, convert clips to 255)")
    rng = np.random.default_rng(5)
    c16 = (np.asarray(b).astype(np.uint16) * 257
           + rng.integers(0, 257, (64, 96, 3)).astype(np.uint16)).astype(np.uint16)
    with open(P("png_rgb16.png"), "wb") as f:
        f.write(png16(c16, 2))
    add("png_rgb16.png", "16-bit RGB PNG (Pillow keeps the high byte)")
    alpha16 = np.linspace(0, 65535, 96 * 64).reshape(64, 96, 1).astype(np.uint16)
    with open(P("png_rgba16.png"), "wb") as f:
        f.write(png16(np.concatenate([c16, alpha16], axis=2), 6))
    add("png_rgba16.png", "16-bit RGBA PNG")
    with open(P("png_la16.png"), "wb") as f:
        f.write(png16(np.stack([c16[..., 1], alpha16[..., 0]], axis=2), 4))
    add("png_la16.png", "16-bit gray+alpha PNG (Pillow keeps the high byte)")
    a.quantize(colors=64).save(P("png_palette.png"))
    add("png_palette.png", "8-bit palette PNG, 64 colours")
    pq = b.quantize(colors=16)
    pq.save(P("png_palette4.png"), bits=4)
    add("png_palette4.png", "4-bit palette PNG")
    trns = bytes(int(v) for v in np.linspace(0, 255, 64))
    a.quantize(colors=64).save(P("png_palette_trns.png"), transparency=trns)
    add("png_palette_trns.png", "palette PNG with a tRNS alpha per entry (alpha dropped)")
    rgba = np.concatenate([np.asarray(b), np.zeros((64, 96, 1), np.uint8)], axis=2)
    rgba[..., 3] = np.linspace(0, 255, 96).astype(np.uint8)[None, :]   # incl. alpha 0 columns
    Image.fromarray(rgba, "RGBA").save(P("png_rgba.png"))
    add("png_rgba.png", "RGBA PNG, alpha 0..255 (alpha dropped, not composited)")
    la = Image.merge("LA", (a.convert("L"), Image.fromarray(rgba[..., 3])))
    la.save(P("png_la.png"))
    add("png_la.png", "gray+alpha PNG")
    b.save(P("png_rgb_trns.png"), transparency=tuple(int(v) for v in np.asarray(b)[0, 0]))
    add("png_rgb_trns.png", "RGB PNG with a tRNS colour key")

    # --- GIF
    a.quantize(colors=64).save(P("gif_palette.gif"))
    add("gif_palette.gif", "GIF, 64 colours")
    b.quantize(colors=32).save(P("gif_trns.gif"), transparency=3)
    add("gif_trns.gif", "GIF with a transparent index")
    frames = [a.quantize(colors=32), b.quantize(colors=32)]
    frames[0].save(P("gif_anim.gif"), save_all=True, append_images=frames[1:], duration=100)
    add("gif_anim.gif", "animated GIF (first frame)")
    # first frame smaller than the logical screen: patch the screen size in the header
    buf = io.BytesIO()
    b.resize((40, 30), Image.LANCZOS).quantize(colors=16).save(buf, "GIF")
    data = bytearray(buf.getvalue())
    data[6:10] = struct.pack("<HH", 52, 37)
    with open(P("gif_canvas.gif"), "wb") as f:
        f.write(bytes(data))
    add("gif_canvas.gif", "GIF whose 40x30 frame sits in a 52x37 logical screen")

    # --- BMP
    b.save(P("bmp_rgb24.bmp"))
    add("bmp_rgb24.bmp", "24-bit BMP")
    Image.fromarray(rgba, "RGBA").save(P("bmp_rgba32.bmp"))
    add("bmp_rgba32.bmp", "32-bit BMP")
    a.quantize(colors=64).save(P("bmp_pal8.bmp"))
    add("bmp_pal8.bmp", "8-bit palette BMP")
    a.convert("1").save(P("bmp_1bit.bmp"))
    add("bmp_1bit.bmp", "1-bit BMP")

    # --- WebP
    b.save(P("webp_lossless.webp"), lossless=True)
    add("webp_lossless.webp", "lossless WebP")
    Image.fromarray(rgba, "RGBA").save(P("webp_rgba_lossless.webp"), lossless=True, exact=True)
    add("webp_rgba_lossless.webp", "lossless WebP with alpha (exact: RGB kept under alpha 0)")
    A.save(P("webp_lossy.webp"), quality=80)
    add("webp_lossy.webp", "lossy WebP (VP8), q80", True)

    # --- TIFF (read through the JDK's TIFF plugin; not a format the issue requires)
    b.save(P("tiff_lzw.tif"), compression="tiff_lzw")
    add("tiff_lzw.tif", "RGB TIFF, LZW")

    # --- bad inputs
    with open(P("chelsea.png"), "rb") as f:
        png = f.read()
    with open(P("bad_truncated.png"), "wb") as f:
        f.write(png[:len(png) // 3])
    with open(P("jpeg_baseline.jpg"), "rb") as f:
        jpg = f.read()
    with open(P("bad_truncated.jpg"), "wb") as f:
        f.write(jpg[:len(jpg) // 2])
    with open(P("gif_palette.gif"), "rb") as f:
        gif = f.read()
    with open(P("bad_truncated.gif"), "wb") as f:
        f.write(gif[:len(gif) // 2])
    with open(P("bad_not_an_image.png"), "wb") as f:
        f.write(b"this is a text file, not an image\n" * 4)
    open(P("bad_empty.jpg"), "wb").close()
    # a valid-looking PNG header claiming 50000 x 50000 RGB (7.5 GB decoded), 1 tiny IDAT
    with open(P("bad_huge.png"), "wb") as f:
        hdr = png_bytes(1, 1, 8, 2, [b"\x00\x00\x00"])
        ihdr = struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0)
        hdr = (hdr[:8] + struct.pack(">I", 13) + b"IHDR" + ihdr
               + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF) + hdr[33:])
        f.write(hdr)
    return files


def hf_center_crop(arr, ch, cw):
    """transformers.image_transforms.center_crop on HWC uint8 (floor offsets, zero pad)."""
    h, w = arr.shape[:2]
    top, left = (h - ch) // 2, (w - cw) // 2
    if top >= 0 and left >= 0 and top + ch <= h and left + cw <= w:
        return arr[top:top + ch, left:left + cw]
    nh, nw = max(ch, h), max(cw, w)
    out = np.zeros((nh, nw) + arr.shape[2:], arr.dtype)
    tp, lp = math.ceil((nh - h) / 2), math.ceil((nw - w) / 2)
    out[tp:tp + h, lp:lp + w] = arr
    top, left = top + tp, left + lp
    return out[max(0, top):min(nh, top + ch), max(0, left):min(nw, left + cw)]


def hf_short_side(w, h, short):
    s, l_ = (w, h) if w <= h else (h, w)
    ns, nl = short, int(short * l_ / s)
    return (ns, nl) if w <= h else (nl, ns)   # (new_w, new_h)


def hf_pipeline(img, cfg):
    """What transformers' ViT/DeiT/ConvNeXt/CLIP image processors compute (PIL path)."""
    resample = cfg.get("resample", 2)
    size = cfg["size"]
    ptype = cfg.get("image_processor_type", "")
    if "ConvNext" in ptype:
        se = size["shortest_edge"]
        if se < 384:
            img = img.resize(hf_short_side(*img.size, int(se / cfg["crop_pct"])), resample)
            arr = hf_center_crop(np.asarray(img), se, se)
        else:
            arr = np.asarray(img.resize((se, se), resample))
    else:
        if "shortest_edge" in size:
            img = img.resize(hf_short_side(*img.size, size["shortest_edge"]), resample)
        else:
            img = img.resize((size["width"], size["height"]), resample)
        arr = np.asarray(img)
        if cfg.get("do_center_crop"):
            cs = cfg["crop_size"]
            arr = hf_center_crop(arr, cs["height"], cs["width"])
    x = arr
    if cfg.get("do_rescale", True):
        x = (x * cfg.get("rescale_factor", 1 / 255)).astype(np.float32)
    if cfg.get("do_normalize", True):
        x = x.astype(np.float32)
        x = (x - np.array(cfg["image_mean"], np.float32)) / np.array(cfg["image_std"], np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)).astype(np.float32)


def timm_border_transform(img, img_size, crop_pct, interp, mean):
    """timm's crop_mode="border": ResizeKeepRatio(longest=1) + CenterCropOrPad(fill=mean*255)."""
    scale = math.floor(img_size / crop_pct)
    w, h = img.size
    ratio = max(h / scale, w / scale)
    size = [round(h / ratio), round(w / ratio)]
    img = img.resize((size[1], size[0]), FILTERS[interp])
    fill = tuple(round(255 * v) for v in mean)
    ch = cw = img_size
    w, h = img.size
    if cw > w or ch > h:
        pad = [(cw - w) // 2 if cw > w else 0, (ch - h) // 2 if ch > h else 0,
               (cw - w + 1) // 2 if cw > w else 0, (ch - h + 1) // 2 if ch > h else 0]
        canvas = Image.new("RGB", (w + pad[0] + pad[2], h + pad[1] + pad[3]), fill)
        canvas.paste(img, (pad[0], pad[1]))
        img = canvas
        w, h = img.size
    top, left = int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))
    return img.crop((left, top, left + cw, top + ch))


def timm_pipeline(img, cfg):
    """timm.data.transforms_imagenet_eval for a pretrained_cfg (square input_size)."""
    img_size = cfg["input_size"][1]
    assert cfg["input_size"][1] == cfg["input_size"][2]
    crop_pct = cfg.get("crop_pct", 0.875)
    mode = cfg.get("crop_mode", "center")
    interp = cfg.get("interpolation", "bilinear")
    scale = math.floor(img_size / crop_pct)
    if mode == "squash":
        tfl = [T.Resize((scale, scale), interpolation=TV_INTERP[interp]), T.CenterCrop(img_size)]
    elif mode == "border":
        tfl = [T.Lambda(lambda im: timm_border_transform(im, img_size, crop_pct, interp,
                                                         cfg["mean"]))]
    else:
        tfl = [T.Resize(scale, interpolation=TV_INTERP[interp]), T.CenterCrop(img_size)]
    tfl += [T.ToTensor(), T.Normalize(cfg["mean"], cfg["std"])]
    return T.Compose(tfl)(img).numpy().astype(np.float32)


def main():
    # Pillow warns that palette+tRNS images "should be converted to RGBA": we want convert("RGB")
    warnings.filterwarnings("ignore", message="Palette images with Transparency")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(REPO, "fixtures"),
                    help="fixtures root (default: the repository's fixtures/)")
    args = ap.parse_args()
    img_dir = os.path.join(args.out, "images")
    pre_dir = os.path.join(args.out, "preprocess")
    if os.path.isdir(pre_dir):
        shutil.rmtree(pre_dir)
    files = make_images(img_dir)
    index = {"about": "written by tools/make_preprocess_fixtures.py; paths are relative to "
                      "the fixtures/ directory; .rgb = uint8 HWC interleaved RGB, "
                      ".f32 = float32 little-endian CHW",
             "pillow": Image.__version__, "torchvision": __import__("torchvision").__version__,
             "photos": [], "decode": [], "resize": [], "pipeline": []}

    # photographs: a hash of Pillow's RGB (the files are large; they must decode exactly)
    for p in PHOTOS + ["small.png"]:
        im = rgb_of(os.path.join(img_dir, p))
        index["photos"].append({"file": "images/" + p, "width": im.width, "height": im.height,
                                "sha256": hashlib.sha256(im.tobytes()).hexdigest()})

    for name, desc, lossy in files:
        im = rgb_of(os.path.join(img_dir, name), exif_transpose=name.startswith("orient_"))
        rel = "preprocess/decode/%s.rgb" % name.replace(".", "_")
        save_bin(os.path.join(args.out, rel), np.asarray(im))
        index["decode"].append({"file": "images/" + name, "about": desc, "lossy": lossy,
                                "exif_transpose": name.startswith("orient_"),
                                "width": im.width, "height": im.height, "expect": rel})

    # Pillow Image.resize parity
    resize_cases = []
    for p in ("chelsea.png",):
        resize_cases += [(p, 224, 224, f) for f in ("nearest", "bilinear", "bicubic")]
    resize_cases += [("coffee.png", 150, 100, f) for f in ("nearest", "bilinear", "bicubic")]
    resize_cases += [("coffee.png", 97, 61, f) for f in ("nearest", "bilinear", "bicubic")]
    resize_cases += [("astronaut.png", 128, 128, f) for f in ("nearest", "bilinear", "bicubic")]
    resize_cases += [("astronaut.png", 120, 72, f) for f in ("nearest", "bilinear", "bicubic")]
    for p in PHOTOS:
        for s in (32, 28):
            resize_cases += [(p, s, s, f) for f in ("nearest", "bilinear", "bicubic")]
        resize_cases += [(p, 32, 32, f) for f in ("box", "hamming", "lanczos")]
    resize_cases += [("small.png", 128, 96, f) for f in
                     ("nearest", "bilinear", "bicubic", "lanczos")]           # upscale
    resize_cases += [("small.png", 64, 100, f) for f in ("nearest", "bilinear", "bicubic")]
    resize_cases += [("small.png", 30, 48, f) for f in ("nearest", "bilinear", "bicubic")]
    resize_cases += [("small.png", 101, 29, f) for f in ("nearest", "bilinear", "bicubic")]
    resize_cases += [("small.png", 64, 48, "bilinear")]                        # identity
    for p, w, h, f in resize_cases:
        im = rgb_of(os.path.join(img_dir, p)).resize((w, h), FILTERS[f])
        rel = "preprocess/resize/%s_%dx%d_%s.rgb" % (p.split(".")[0], w, h, f)
        save_bin(os.path.join(args.out, rel), np.asarray(im))
        index["resize"].append({"src": "images/" + p, "width": w, "height": h, "filter": f,
                                "expect": rel})

    # full pipelines
    pipelines = [
        ("hf_vit_160", "chelsea.png", "hf", {
            "image_processor_type": "ViTImageProcessor", "do_resize": True,
            "size": {"height": 160, "width": 160}, "resample": 2, "do_rescale": True,
            "rescale_factor": 0.00392156862745098, "do_normalize": True,
            "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}),
        ("hf_deit_112_crop96", "coffee.png", "hf", {
            "image_processor_type": "DeiTImageProcessor", "do_resize": True,
            "size": {"height": 112, "width": 112}, "resample": 3, "do_center_crop": True,
            "crop_size": {"height": 96, "width": 96}, "do_rescale": True,
            "rescale_factor": 0.00392156862745098, "do_normalize": True,
            "image_mean": IMAGENET_MEAN, "image_std": IMAGENET_STD}),
        ("hf_convnext_96", "astronaut.png", "hf", {
            "image_processor_type": "ConvNextImageProcessor", "do_resize": True,
            "size": {"shortest_edge": 96}, "crop_pct": 0.875, "resample": 3,
            "do_rescale": True, "rescale_factor": 0.00392156862745098, "do_normalize": True,
            "image_mean": IMAGENET_MEAN, "image_std": IMAGENET_STD}),
        ("hf_clip_112", "coffee.png", "hf", {
            "image_processor_type": "CLIPImageProcessor", "do_resize": True,
            "size": {"shortest_edge": 112}, "resample": 3, "do_center_crop": True,
            "crop_size": {"height": 112, "width": 112}, "do_rescale": True,
            "rescale_factor": 0.00392156862745098, "do_normalize": True, "do_convert_rgb": True,
            "image_mean": CLIP_MEAN, "image_std": CLIP_STD}),
        ("hf_vit_gray_48", "images/png_gray.png", "hf", {
            "image_processor_type": "ViTImageProcessor", "do_resize": True,
            "size": {"height": 48, "width": 48}, "resample": 3, "do_rescale": True,
            "rescale_factor": 0.00392156862745098, "do_normalize": True,
            "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}),
        ("timm_center_224_0875", "astronaut.png", "timm", {
            "input_size": [3, 224, 224], "interpolation": "bicubic", "crop_pct": 0.875,
            "crop_mode": "center", "mean": IMAGENET_MEAN, "std": IMAGENET_STD}),
        ("timm_center_96_09", "coffee.png", "timm", {
            "input_size": [3, 96, 96], "interpolation": "bicubic", "crop_pct": 0.9,
            "crop_mode": "center", "mean": IMAGENET_MEAN, "std": IMAGENET_STD}),
        ("timm_squash_64_09", "chelsea.png", "timm", {
            "input_size": [3, 64, 64], "interpolation": "bilinear", "crop_pct": 0.9,
            "crop_mode": "squash", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}),
        ("timm_border_80", "coffee.png", "timm", {
            "input_size": [3, 80, 80], "interpolation": "bicubic", "crop_pct": 1.0,
            "crop_mode": "border", "mean": IMAGENET_MEAN, "std": IMAGENET_STD}),
        ("timm_nearest_40_095", "small.png", "timm", {
            "input_size": [3, 40, 40], "interpolation": "nearest", "crop_pct": 0.95,
            "mean": IMAGENET_MEAN, "std": IMAGENET_STD}),
        ("tv_preset_64", "chelsea.png", "torchvision", {
            "input_size": [3, 64, 64], "interpolation": "bilinear", "crop_pct": 0.875,
            "mean": IMAGENET_MEAN, "std": IMAGENET_STD}),
    ]
    for name, src, kind, cfg in pipelines:
        path = os.path.join(args.out, src) if "/" in src else os.path.join(img_dir, src)
        img = rgb_of(path)
        if kind == "hf":
            x = hf_pipeline(img, cfg)
        elif kind == "timm":
            x = timm_pipeline(img, cfg)
        else:   # torchvision's weights preset: Resize(resize) + CenterCrop(crop) + float + norm
            s = cfg["input_size"][1]
            preset = ImageClassification(crop_size=s, resize_size=math.floor(s / cfg["crop_pct"]),
                                         mean=cfg["mean"], std=cfg["std"],
                                         interpolation=TV_INTERP[cfg["interpolation"]])
            x = preset(img).numpy().astype(np.float32)
            kind = "timm"  # the same recipe expressed as a timm pretrained_cfg
        rel = "preprocess/pipeline/%s.f32" % name
        save_bin(os.path.join(args.out, rel), x.astype("<f4"))
        index["pipeline"].append({"name": name, "src": src if "/" in src else "images/" + src,
                                  "kind": kind, "config": cfg, "shape": list(x.shape),
                                  "expect": rel})

    with open(os.path.join(pre_dir, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    total = 0
    for d in (img_dir, pre_dir):
        for root, _, fs in os.walk(d):
            total += sum(os.path.getsize(os.path.join(root, x)) for x in fs)
    print("wrote %d decode, %d resize, %d pipeline fixtures; images/ + preprocess/ = %.2f MB"
          % (len(index["decode"]), len(index["resize"]), len(index["pipeline"]), total / 1e6))


if __name__ == "__main__":
    main()
