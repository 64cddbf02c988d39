"""Example data that works offline: scikit-learn's digits written in the Cassava layout."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

CLASSES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def write_digits(
    directory: str | os.PathLike,
    *,
    size: int = 32,
    labeled_fraction: float = 0.25,
    validation_fraction: float = 0.2,
    seed: int = 0,
) -> dict:
    """Write the 1,797 digits as size x size RGB JPEGs plus two CSVs, Cassava style.

    - images/<id>.jpg
    - train.csv: image_id,label with most labels missing (an unlabeled transfer set)
    - validation.csv: image_id and one-hot columns named by CLASSES
    Returns the paths and counts as a plain dict.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # pragma: no cover
        raise ImportError("write_digits needs scikit-learn: pip install scikit-learn") from err

    digits = load_digits()
    rng = np.random.default_rng(seed)
    root = Path(directory)
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    ids = [f"digit_{i:04d}.jpg" for i in range(len(digits.target))]
    for image_id, pixels in zip(ids, digits.images):
        gray = (pixels / 16.0 * 255).astype(np.uint8)
        # A coloured background and ink make the three channels differ, like a photo.
        tint = rng.uniform(0.6, 1.0, size=3)
        rgb = np.stack([gray * tint[c] for c in range(3)], axis=-1).astype(np.uint8)
        Image.fromarray(rgb).resize((size, size), Image.BILINEAR).save(images / image_id, quality=95)

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
