# 48 JPEG "photos" of 2000x1500 (quality 90) from fixtures/images/astronaut.png, rotated: the input of the
# photo-classification timings in docs/BENCHMARKS.md (eleventh round). Run with Debian's python3 (Pillow):
#   /usr/bin/python3 tools/make_photos.py /tmp/photos && ./jvit classify --model bench-models/vit_ti_16.safetensors /tmp/photos
import os
import sys

from PIL import Image

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/photos"
os.makedirs(out, exist_ok=True)
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
im = Image.open(os.path.join(root, "fixtures/images/astronaut.png")).convert("RGB").resize((2000, 1500), Image.BICUBIC)
for i in range(48):
    im.rotate(i * 7, expand=False).save(os.path.join(out, f"p{i:02d}.jpg"), quality=90)
print(f"{out}: 48 JPEGs of 2000x1500")
