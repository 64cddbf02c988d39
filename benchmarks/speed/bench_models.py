"""The speed benchmark's teacher, student and data.

Both models take 64x64x3 pixels in 0..255, rescale them themselves and output
logits for 10 classes. Every method in bench.py gets a clone of the same two
models (same architecture, same starting weights). The distillation settings and
the augmentation (common.TEMPERATURE, ALPHA, AUGMENT) and the digit JPEGs
(common.write_images) are shared with the other benchmarks.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import common
import pandas as pd

from pykd._tf import keras

IMAGE_SHAPE = (64, 64, 3)
N_CLASSES = 10
BATCH_SIZE = 64


def keras_chain_augmenter(seed: int = 0) -> keras.Sequential:
    """AUGMENT as stock Keras 3 layers, one resampling per layer (what a Keras user writes; pykd's old augmenter)."""
    import math

    L, a = keras.layers, common.AUGMENT
    return keras.Sequential(
        [
            L.RandomRotation(a["rotation_range"] / 360.0, fill_mode="reflect", seed=seed),
            L.RandomTranslation(a["height_shift_range"], a["width_shift_range"], fill_mode="reflect", seed=seed + 1),
            L.RandomZoom(a["zoom_range"], fill_mode="reflect", seed=seed + 2),
            L.RandomFlip("horizontal", seed=seed + 3),
        ]
        + ([L.RandomShear(x_factor=math.tan(math.radians(a["shear_range"])), seed=seed + 4)] if a.get("shear_range") else []),
        name="keras_chain_augmentation",
    )


def _layer_kwargs(dtype):
    return {} if dtype is None else {"dtype": dtype}


def teacher(dtype: str | None = None) -> keras.Model:
    """A conv net of about 260k parameters (four 3x3 conv layers, 64->32->16->8 pixels)."""
    kw = _layer_kwargs(dtype)
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input(IMAGE_SHAPE),
            L.Rescaling(1.0 / 255, **kw),
            L.Conv2D(32, 3, strides=2, padding="same", activation="relu", **kw),
            L.Conv2D(64, 3, padding="same", activation="relu", **kw),
            L.MaxPooling2D(**kw),
            L.Conv2D(128, 3, padding="same", activation="relu", **kw),
            L.MaxPooling2D(**kw),
            L.Conv2D(144, 3, padding="same", activation="relu", **kw),
            L.GlobalAveragePooling2D(**kw),
            L.Dense(N_CLASSES, name="logits", dtype="float32"),
        ],
        name="bench_teacher",
    )


def student(dtype: str | None = None) -> keras.Model:
    """A small conv net (about 24k parameters: three strided 3x3 conv layers)."""
    kw = _layer_kwargs(dtype)
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input(IMAGE_SHAPE),
            L.Rescaling(1.0 / 255, **kw),
            L.Conv2D(16, 3, strides=2, padding="same", activation="relu", **kw),
            L.Conv2D(32, 3, strides=2, padding="same", activation="relu", **kw),
            L.Conv2D(64, 3, strides=2, padding="same", activation="relu", **kw),
            L.GlobalAveragePooling2D(**kw),
            L.Dense(N_CLASSES, name="logits", dtype="float32"),
        ],
        name="bench_student",
    )


def clone(builder, weights, dtype: str | None = None) -> keras.Model:
    """A fresh model from `builder` holding `weights` (optionally in a mixed-precision policy)."""
    model = builder(dtype)
    model.set_weights(weights)
    return model


# ------------------------------------------------------------------ data
def replicate(table: pd.DataFrame, src: Path, dst: Path, n: int) -> pd.DataFrame:
    """n rows with distinct ids and distinct files, repeating the content of `table`'s files."""
    dst.mkdir(parents=True, exist_ok=True)
    ids, labels = [], []
    for i in range(n):
        row = table.iloc[i % len(table)]
        image_id = f"copy_{i:06d}.jpg"
        shutil.copyfile(src / row["image_id"], dst / image_id)
        ids.append(image_id)
        labels.append(int(row["label"]))
    return pd.DataFrame({"image_id": ids, "label": labels})

