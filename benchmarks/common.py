"""What the benchmarks share: paths and the output folder, logging, medians and ratios, the
PASS/FAIL verdicts, the results' files, and what several benchmarks measure with (the
distillation settings, the digit JPEGs, the Keras methods' tf.data pipeline, epoch timing,
Keras' Distiller and the loss check).

Each benchmark script puts benchmarks/ on sys.path and imports this module before pykd;
importing it puts this checkout first on sys.path, so a benchmark measures this pykd, not
an installed one. Importing it loads no TensorFlow (speed/report.py re-renders a saved run
without it): what needs TensorFlow imports it when called, and EpochTimer, a Keras
callback, is made when first named.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
OUT = ROOT / "bench-output"  # every benchmark's default --out
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The distillation every benchmark asks for: pykd's defaults (alpha weighs the hard-label term).
TEMPERATURE = 3.0
ALPHA = 0.1
# One augmentation for every augmented method: pykd builds its augmenter from this
# (pykd.data.augmentation.build_augmenter) and the baselines get the very same augmenter.
AUGMENT = dict(rotation_range=15.0, width_shift_range=0.1, height_shift_range=0.1, zoom_range=0.1, horizontal_flip=True)


def log(*parts) -> None:
    print(*parts, flush=True)


# ---------------------------------------------------------------- figures and verdicts
def median(values):
    """The median of the values that are not None (None when there are none)."""
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(x, y):
    """x / y, or None when either is missing or y is 0."""
    return None if x is None or not y else x / y


def ratio_per_round(xs, ys):
    """The median of the per-round ratios x / y: drift on a shared machine hits both sides of each alike."""
    return median([x / y for x, y in zip(xs, ys) if x and y])


def meets(value, threshold, higher_is_better: bool = True) -> bool | None:
    """Whether a measured value meets its target (None: not measured)."""
    if value is None:
        return None
    return value >= threshold if higher_is_better else value <= threshold


def verdict(met: bool | None, miss: str = "FAIL") -> str:
    """PASS, `miss` or n/a (not measured), for what meets() answered."""
    return "n/a" if met is None else "PASS" if met else miss


def fmt(value, digits=0, suffix="") -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}{suffix}"


# ---------------------------------------------------------------- the run and its files
def output_dir(path) -> Path:
    """The folder a benchmark writes its results in (--out), made if missing."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_results(out_dir: Path, name: str, results: dict, md: str) -> None:
    """NAME.json (every figure) and NAME.md (the tables, for the README) in out_dir; the tables are printed too."""
    (out_dir / f"{name}.json").write_text(json.dumps(results, indent=2, default=float))
    (out_dir / f"{name}.md").write_text(md)
    log("")
    log(md)


@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A temporary work folder, removed at the end; distill()'s own temporary files go there too."""
    saved = tempfile.tempdir
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        tempfile.tempdir = tmp
        try:
            yield Path(tmp)
        finally:
            tempfile.tempdir = saved


def machine() -> dict:
    """The CPUs and versions a run measured on (for its results' config)."""
    import os

    from pykd._tf import keras, tf

    return {"cpus": os.cpu_count(), "python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__}  # fmt: skip


# ---------------------------------------------------------------- image files
def _digit_pixels(n: int, seed: int):
    """n 8x8 grayscale digits (0..255) and labels: scikit-learn's digits, else random blobs."""
    import numpy as np

    rng = np.random.default_rng(seed)
    try:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = (digits.images / 16.0 * 255).astype(np.uint8)
        labels = digits.target.astype(int)
    except ImportError:  # pragma: no cover - only without scikit-learn
        labels = rng.integers(0, 10, size=1797)
        images = (rng.random((1797, 8, 8)) * 255).astype(np.uint8)
    pick = np.arange(n) % len(labels)
    return images[pick], labels[pick]


def write_images(directory: Path, n: int, *, shape: Sequence[int], n_classes: int, seed: int = 0):
    """Write n distinct RGB JPEGs of `shape` (tinted, upscaled digits); the image_id,label table.

    Labels are the digit modulo n_classes (frozen.py's Cassava-style table has 5 classes).
    """
    import numpy as np
    import pandas as pd
    from PIL import Image

    directory.mkdir(parents=True, exist_ok=True)
    images, labels = _digit_pixels(n, seed)
    labels = labels % n_classes
    rng = np.random.default_rng(seed)
    ids = []
    for i, pixels in enumerate(images):
        tint = rng.uniform(0.6, 1.0, size=3)
        rgb = np.stack([pixels * tint[c] for c in range(3)], axis=-1).astype(np.uint8)
        image_id = f"img_{i:05d}.jpg"
        Image.fromarray(rgb).resize(tuple(shape[:2]), Image.BILINEAR).save(directory / image_id, quality=95)
        ids.append(image_id)
    return pd.DataFrame({"image_id": ids, "label": labels})


def decode(path, shape: Sequence[int]):
    """The ops pykd.data.images.decode runs for an unscaled spec of `shape`: float32 pixels, 0..255."""
    from pykd._tf import tf

    raw = tf.io.read_file(path)
    image = tf.io.decode_image(raw, channels=shape[2], expand_animations=False)
    image = tf.image.resize(tf.cast(image, tf.float32), shape[:2])
    image.set_shape(shape)
    return image


def decode_all(paths: Sequence[str], shape: Sequence[int]):
    """The files' pixels in one (N, *shape) float32 tensor."""
    from pykd._tf import tf

    return tf.stack([decode(tf.constant(str(p)), shape) for p in paths])


# ---------------------------------------------------------------- the Keras methods
def file_dataset(paths, labels, *, seed: int, batch_size: int, shape: Sequence[int], augmenter=None):
    """The Keras methods' pipeline, built once: shuffle the (path, label) rows every epoch, decode in
    parallel (pykd's ops), batch, prefetch; tf.data autotuning off, as in pykd's own pipeline.

    augmenter: applied in the pipeline, once per batch (the built-in Distiller feeds the same x to
    teacher and student, so the view must be made before the step).
    """
    from pykd._tf import tf

    rows = tf.data.Dataset.from_tensor_slices((list(paths), list(labels)))
    ds = (
        rows.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
        .map(lambda p, y: (decode(p, shape), tf.cast(y, tf.int32)), num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size)
    )
    if augmenter is not None:
        ds = ds.map(lambda x, y: (augmenter(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    # pykd's own pipeline runs with autotuning off (pykd.data.images.batches_dataset); so does this
    # one. With it on, an epoch's iterator is torn down only when tf.data's autotune thread
    # next wakes (10 ms x (2^k - 1) after the start), so fit() epochs end at 0.64 / 1.28 /
    # 2.56 s by chance: (c0) measured ~700 or ~1,300 img/s from round to round.
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)


def _epoch_timer_class():
    import time

    from pykd._tf import keras

    class EpochTimer(keras.callbacks.Callback):
        """Seconds per epoch, from on_epoch_begin to on_epoch_end (after the epoch's metrics sync).

        pykd runs Keras callbacks too, and ends each epoch by reading its metric sums from the
        device, so the time covers every step of the epoch for pykd and fit() alike.
        """

        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []
            self._t0 = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self._t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._t0)

    return EpochTimer


def __getattr__(name: str):
    if name == "EpochTimer":  # a Keras class: made when first named, so that importing this module loads no TensorFlow
        globals()[name] = _epoch_timer_class()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def sparse_ce():
    from pykd._tf import keras

    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def builtin_distiller(teacher, student, optimizer=None):
    """keras.distillation.Distiller computing alpha*CE + (1-alpha)*T^2*KL(softmax(t/T) || softmax(s/T)).

    LogitsDistillation's default loss="kl_divergence" resolves to the plain
    function keras.losses.kl_divergence, which LogitsDistillation then applies to
    the scaled logits themselves (no softmax, no T^2). Passing a
    keras.losses.KLDivergence() instance takes its other branch: softmax over
    axis -1 on both sides, KL summed over classes, mean over rows, times T^2.
    optimizer: by default Adam(1e-3), as pykd's default.
    """
    from pykd._tf import keras

    distiller = keras.distillation.Distiller(
        teacher=teacher,
        student=student,
        distillation_losses=keras.distillation.LogitsDistillation(temperature=TEMPERATURE, loss=keras.losses.KLDivergence()),
        student_loss_weight=ALPHA,
    )
    distiller.compile(optimizer=optimizer or keras.optimizers.Adam(1e-3), loss=sparse_ce(), metrics=["accuracy"])
    return distiller


def plain_student(student):
    """The student compiled for its own fit() on the hard labels (Adam(1e-3), pykd's default)."""
    from pykd._tf import keras

    student.compile(optimizer=keras.optimizers.Adam(1e-3), loss=sparse_ce(), metrics=["accuracy"])
    return student


def keras_io_loss(kl, ce, y, teacher_logits, student_logits):
    """The keras.io example's loss: alpha * CE(y, s) + (1 - alpha) * T^2 * KL(softmax(t/T) || softmax(s/T))."""
    from pykd._tf import tf

    t = TEMPERATURE
    hard = ce(y, student_logits)
    soft = kl(tf.nn.softmax(teacher_logits / t, axis=-1), tf.nn.softmax(student_logits / t, axis=-1))
    return ALPHA * hard + (1 - ALPHA) * t * t * soft


def loss_agreement(teacher, student, x, y) -> dict:
    """On one batch: pykd's loss, Keras' Distiller's and the keras.io example's, so every method optimizes the same objective.

    Also max_relative_difference, the largest difference from pykd's relative to it.
    """
    import pykd
    from pykd._tf import keras

    t_logits, s_logits = teacher(x, training=False), student(x, training=False)
    reference = float(pykd.distillation_loss(y, s_logits, t_logits, temperature=TEMPERATURE, alpha=ALPHA))
    builtin = builtin_distiller(teacher, student)
    out = {
        "pykd": reference,
        "builtin_distiller": float(builtin.compute_loss(x=x, y=y, y_pred=s_logits, training=False)),
        "keras_io": float(keras_io_loss(keras.losses.KLDivergence(), sparse_ce(), y, t_logits, s_logits)),
    }
    out["max_relative_difference"] = max(abs(v - reference) / max(abs(reference), 1e-12) for v in out.values())
    return out
