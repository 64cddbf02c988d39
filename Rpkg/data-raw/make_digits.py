"""Build inst/extdata/digits.zip, the example data of rkd_example_data().

Run from Rpkg/: python3 data-raw/make_digits.py
Needs numpy, Pillow and scikit-learn (whose digits data ships with it).
Layout (like the Kaggle Cassava data):
  images/<id>.jpg      32x32 RGB JPEGs
  train.csv            image_id,label   (label = class id 0..9, empty = unlabeled)
  validation.csv       image_id,zero,one,...,nine   (one-hot)
"""

import csv
import io
import zipfile

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

N_TRAIN, N_VALIDATION, UNLABELED = 300, 100, 0.25
CLASSES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def render(pixels, rng):
    """8x8 grey levels 0..16 -> 32x32 RGB: a green digit on a brown ground."""
    v = pixels.reshape(8, 8) / 16.0
    img = Image.fromarray((v * 255).astype(np.uint8)).resize((32, 32), Image.BILINEAR)
    a = np.asarray(img, dtype=np.float64) / 255.0
    ground = np.array([110, 80, 50]) + rng.normal(0, 8, 3)
    leaf = np.array([60, 170, 70]) + rng.normal(0, 8, 3)
    rgb = ground * (1 - a[..., None]) + leaf * a[..., None]
    rgb += rng.normal(0, 6, rgb.shape)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def main():
    rng = np.random.default_rng(20210604)
    digits = load_digits()
    order = rng.permutation(len(digits.target))[: N_TRAIN + N_VALIDATION]
    ids = sorted(set(rng.integers(10**8, 4 * 10**9, size=3 * len(order)).tolist()))
    ids = rng.permutation(ids)[: len(order)]
    names = [f"{i}.jpg" for i in ids]
    buf = io.BytesIO()
    with zipfile.ZipFile("inst/extdata/digits.zip", "w", zipfile.ZIP_STORED) as z:
        for name, k in zip(names, order):
            buf.seek(0)
            buf.truncate()
            render(digits.data[k], rng).save(buf, "JPEG", quality=92)
            z.writestr(f"images/{name}", buf.getvalue())
        train = io.StringIO()
        w = csv.writer(train, lineterminator="\n")
        w.writerow(["image_id", "label"])
        for name, k in zip(names[:N_TRAIN], order[:N_TRAIN]):
            w.writerow([name, "" if rng.random() < UNLABELED else int(digits.target[k])])
        z.writestr("train.csv", train.getvalue())
        val = io.StringIO()
        w = csv.writer(val, lineterminator="\n")
        w.writerow(["image_id", *CLASSES])
        for name, k in zip(names[N_TRAIN:], order[N_TRAIN:]):
            w.writerow([name, *(int(c == digits.target[k]) for c in range(10))])
        z.writestr("validation.csv", val.getvalue())


if __name__ == "__main__":
    main()
