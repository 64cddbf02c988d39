"""The benchmark's teacher, student, augmentation and image files.

Both models take 64x64x3 pixels in 0..255, rescale them themselves and output
logits for 10 classes. Every method in bench.py gets a clone of the same two
models (same architecture, same starting weights).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from pykd._tf import keras, tf

IMAGE_SHAPE = (64, 64, 3)
N_CLASSES = 10
BATCH_SIZE = 64
TEMPERATURE = 3.0
ALPHA = 0.1  # weight of the hard-label term (pykd's default and convention)

# One augmentation for every augmented method: pykd builds its augmenter from this
# (pykd.images.build_augmenter) and the baselines get the very same augmenter.
AUGMENT = dict(rotation_range=15.0, width_shift_range=0.1, height_shift_range=0.1, zoom_range=0.1, horizontal_flip=True)


def keras_chain_augmenter(seed: int = 0) -> keras.Sequential:
    """AUGMENT as stock Keras 3 layers, one resampling per layer (what a Keras user writes; pykd's old augmenter)."""
    import math

    L, a = keras.layers, AUGMENT
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
def _digit_pixels(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n 8x8 grayscale digits (0..255) and labels: scikit-learn's digits, else random blobs."""
    rng = np.random.default_rng(seed)
    try:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = (digits.images / 16.0 * 255).astype(np.uint8)
        labels = digits.target.astype(int)
    except ImportError:  # pragma: no cover - only without scikit-learn
        labels = rng.integers(0, N_CLASSES, size=1797)
        images = (rng.random((1797, 8, 8)) * 255).astype(np.uint8)
    pick = np.arange(n) % len(labels)
    return images[pick], labels[pick]


def write_images(directory: Path, n: int, seed: int = 0, shape=IMAGE_SHAPE, n_classes: int = N_CLASSES) -> pd.DataFrame:
    """Write n distinct RGB JPEGs of `shape` (tinted, upscaled digits) and return the image_id,label table.

    Labels are the digit modulo n_classes (frozen.py's Cassava-style table has 5 classes).
    """
    directory.mkdir(parents=True, exist_ok=True)
    images, labels = _digit_pixels(n, seed)
    labels = labels % n_classes
    rng = np.random.default_rng(seed)
    ids = []
    for i, (pixels, _) in enumerate(zip(images, labels)):
        tint = rng.uniform(0.6, 1.0, size=3)
        rgb = np.stack([pixels * tint[c] for c in range(3)], axis=-1).astype(np.uint8)
        image_id = f"img_{i:05d}.jpg"
        Image.fromarray(rgb).resize(shape[:2], Image.BILINEAR).save(directory / image_id, quality=95)
        ids.append(image_id)
    return pd.DataFrame({"image_id": ids, "label": labels})


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


def decode(path: tf.Tensor, shape=IMAGE_SHAPE) -> tf.Tensor:
    """The same ops pykd.images.decode runs for an unscaled spec of `shape` (for the baselines' tf.data)."""
    raw = tf.io.read_file(path)
    image = tf.io.decode_image(raw, channels=shape[2], expand_animations=False)
    image = tf.image.resize(tf.cast(image, tf.float32), shape[:2])
    image.set_shape(shape)
    return image
