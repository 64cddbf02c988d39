"""Data that works offline, written in the Cassava layout: scikit-learn's digits, and Fashion-MNIST from Debian."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ..core import storage

CLASSES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _photo(pixels: np.ndarray, size: int, shift: bool, rng: np.random.Generator) -> np.ndarray:
    """An 8x8 digit (0..16) as a size x size RGB image with colour, position and noise."""
    glyph_size = max(8, round(size * 0.75)) if shift else size
    glyph = Image.fromarray((pixels / 16.0 * 255).astype(np.uint8)).resize((glyph_size, glyph_size), Image.BILINEAR)
    ink = np.asarray(glyph, dtype=np.float64) / 255.0
    canvas = np.zeros((size, size))
    top, left = (rng.integers(0, size - glyph_size + 1, size=2) if shift else (0, 0))
    canvas[top:top + glyph_size, left:left + glyph_size] = ink
    background, colour = rng.uniform(0, 70, size=3), rng.uniform(170, 255, size=3)
    rgb = background + canvas[..., None] * (colour - background) + rng.normal(0, 4, (size, size, 1))
    return np.clip(rgb, 0, 255).astype(np.uint8)


def write_digits(
    directory: str | os.PathLike,
    *,
    size: int = 32,
    labeled_fraction: float = 0.25,
    validation_fraction: float = 0.2,
    shift: bool = True,
    seed: int = 0,
) -> dict:
    """Write the 1,797 digits as size x size RGB JPEGs plus two CSVs, Cassava style.

    - images/<id>.jpg: each digit drawn at a random place on a tinted, noisy
      background (shift=False centres it), so position must not matter, which
      a convolutional teacher learns and a tiny student hardly can from few labels
    - train.csv: image_id,label with most labels missing (an unlabeled transfer set)
    - validation.csv: image_id and one-hot columns named by CLASSES
    directory: the folder to write into (made if missing). size: the images' side in pixels.
    labeled_fraction: the share of training rows that keep their label.
    validation_fraction: the share of all digits held out for validation.
    seed: fixes the split, the placement and the noise.
    Returns the paths and counts as a plain dict.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # pragma: no cover
        raise ImportError("write_digits needs scikit-learn: pip install scikit-learn") from err

    digits = load_digits()
    rng = np.random.default_rng(seed)
    root = Path(directory).absolute()  # absolute paths returned, wherever the caller runs next
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    ids = [f"digit_{i:04d}.jpg" for i in range(len(digits.target))]
    for image_id, pixels in zip(ids, digits.images):
        Image.fromarray(_photo(pixels, size, shift, rng)).save(images / image_id, quality=95)

    order = rng.permutation(len(ids))
    n_val = int(round(validation_fraction * len(ids)))
    val_rows, train_rows = order[:n_val], order[n_val:]
    labeled = rng.random(len(train_rows)) < labeled_fraction
    train = pd.DataFrame(
        {
            "image_id": [ids[i] for i in train_rows],
            "label": pd.array([int(digits.target[i]) if keep else None for i, keep in zip(train_rows, labeled)], dtype="Int64"),
        }
    )
    one_hot = np.eye(len(CLASSES), dtype=int)[digits.target[val_rows]]
    validation = pd.concat(
        [pd.DataFrame({"image_id": [ids[i] for i in val_rows]}), pd.DataFrame(one_hot, columns=CLASSES)], axis=1
    )
    train_csv, val_csv = root / "train.csv", root / "validation.csv"
    train.to_csv(train_csv, index=False)
    validation.to_csv(val_csv, index=False)
    return {
        "directory": str(images),
        "train_csv": str(train_csv),
        "validation_csv": str(val_csv),
        "classes": list(CLASSES),
        "n_train": len(train),
        "n_labeled": int(labeled.sum()),
        "n_validation": len(validation),
    }


FASHION_CLASSES = ["t_shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot"]
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist package


def _idx(path: Path) -> np.ndarray:
    """An idx file (gzipped) as an array: the format's header gives the dimensions, big-endian."""
    import gzip

    with gzip.open(path, "rb") as handle:
        data = handle.read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def fashion_mnist(
    directory: str | os.PathLike,
    *,
    n_train: int = 12_000,
    labeled_fraction: float = 1.0,
    n_test: int = 2_000,
    seed: int = 0,
    source: str | os.PathLike = FASHION_MNIST,
) -> dict:
    """Fashion-MNIST (real photographs of clothes, 28x28 grey) written in the Cassava layout.

    directory: where images/<id>.png, train.csv (image_id,label; unlabeled rows NA)
    and test.csv (image_id,label) are written. n_train, n_test: how many images of
    Fashion-MNIST's training and test sets to take (at random, fixed by seed).
    labeled_fraction: the share of training rows that keep their label; the rest are
    an unlabeled pool for the teacher to teach on. source: the folder of the idx
    files, by default where Debian's dataset-fashion-mnist package puts them.
    Returns the paths, counts and the class names as a plain dict.
    """
    from ..core.errors import DataError, Text

    source = Path(source)
    files = {s: source / f"{s}-images-idx3-ubyte.gz" for s in ("train", "t10k")}
    if not all(f.is_file() for f in files.values()):
        raise DataError("Fashion-MNIST is not in {source}.",
                        "Install it with {command} (30 MB), or set source to the folder of its idx files.",
                        source=str(source), command=Text("apt-get install dataset-fashion-mnist"))
    rng = np.random.default_rng(seed)
    out = Path(directory).absolute()  # absolute paths returned, wherever the caller runs next
    (out / "images").mkdir(parents=True, exist_ok=True)
    tables = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images, labels = _idx(files[prefix]), _idx(source / f"{prefix}-labels-idx1-ubyte.gz")
        rows = np.sort(rng.choice(len(images), size=min(int(n), len(images)), replace=False))
        ids = [f"{split}_{i:05d}.png" for i in rows]
        for name, i in zip(ids, rows):
            # Atomic: a run reading the folder while it is written again sees whole files.
            with storage.atomic_file(out / "images" / name) as handle:
                Image.fromarray(images[i]).save(handle, format="PNG")
        label = pd.array(labels[rows].astype(int), dtype="Int64")
        if split == "train":
            labeled = rng.permutation(len(rows)) < round(labeled_fraction * len(rows))  # exactly that share
            label[~labeled] = pd.NA
        tables[split] = pd.DataFrame({"image_id": ids, "label": label})
        storage.write_bytes_atomic(out / f"{split}.csv", tables[split].to_csv(index=False).encode())
    return {"directory": str(out / "images"), "train_csv": str(out / "train.csv"), "test_csv": str(out / "test.csv"),
            "classes": list(FASHION_CLASSES), "n_train": len(tables["train"]),
            "n_labeled": int(tables["train"]["label"].notna().sum()), "n_test": len(tables["test"])}
