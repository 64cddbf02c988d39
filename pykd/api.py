"""Public entry points: distill() and train_scratch().

Their options are declared once, in pykd.run.options (which also writes their docstrings'
option lines and checks these signatures against the declaration, in tests/test_options.py).
pykd.run.plan checks every value before the first step (a bad input raises DataError and
changes nothing), pykd.run.build makes the run and pykd.run.trainer trains it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Literal

import pandas as pd

from ._tf import keras, tf
from .core.hints import ModelLike, TableLike, TeacherLike
from .data.augmentation import Augmentation
from .kd.hint import Hint
from .run import options
from .run.history import History
from .run.trainer import fit


def distill(
    teacher: TeacherLike,
    student: ModelLike,
    train: TableLike,
    *,
    directory: str | os.PathLike | None = None,
    validation: pd.DataFrame | str | os.PathLike | Mapping | tuple | None = None,
    x_col: str = "image_id",
    y_col: str | Sequence[str] = "label",
    classes: Sequence[str] | None = None,
    weight_col: str | None = None,
    class_weight: dict | Sequence[float] | None = None,
    image_size: Sequence[int] | None = None,
    rescale: float | None = None,
    batch_size: int = 32,
    on_bad_image: Literal["error", "skip"] = "error",
    epochs: int = 10,
    steps_per_epoch: int | None = None,
    validation_steps: int | None = None,
    last_batch: Literal["keep", "drop"] = "keep",
    temperature: float = 3.0,
    alpha: float = 0.1,
    teacher_outputs: Literal["auto", "logits", "probabilities"] = "auto",
    teacher_combine: Literal["logits", "probabilities"] = "logits",
    teacher_precision: Literal["auto", "float32", "bfloat16"] = "auto",
    teacher_view: Literal["same", "clean"] = "same",
    hint: Hint | dict | None = None,
    larger_student: bool = False,
    cache_teacher: Literal["auto"] | bool = "auto",
    student_outputs: Literal["auto", "logits", "probabilities"] = "auto",
    optimizer: str | keras.optimizers.Optimizer = "adam",
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule | None = None,
    augment: Augmentation | dict | None = None,
    callbacks: keras.callbacks.Callback | Sequence[keras.callbacks.Callback] | None = None,
    seed: int | None = None,
    verbose: int | str = "auto",
    cache_images: Literal["auto"] | bool = "auto",
    cache_features: Literal["auto"] | bool = "auto",
    frozen_precision: Literal["auto", "float32", "bfloat16"] = "auto",
    cache_dir: str | os.PathLike | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    strategy: tf.distribute.Strategy | None = None,
    run_eagerly: bool = False,
) -> History:
    """Train `student` to match `teacher`'s softened predictions on a table of images.

    The loss per row is alpha * hard + (1 - alpha) * T^2 * KL(softmax(t/T) || softmax(s/T)),
    with student logits s, teacher logits t and temperature T; hard is the cross-entropy
    with the row's label, and unlabeled rows learn from the teacher alone.

    teacher: a Keras model, a .keras/.h5 path, a list of those (an ensemble whose
        logits, or probabilities with teacher_combine="probabilities", are averaged),
        or precomputed logits: a DataFrame/dict/CSV with `x_col` and one column per class.
    student: a Keras model, trained in place, or a .keras/.h5 path, loaded and trained
        (the file is left as it was; the trained model is the returned history's `model`).
    train: a DataFrame, CSV path or dict of columns, one row per image; or a folder of
        class subfolders (train/cat/1.jpg: the image_dataset_from_directory layout,
        classes the sorted subfolder names) or a tuple (x, y) of NumPy arrays (uint8
        pixels, class ids with -1 for unlabeled), both without `directory`.
    Returns a History with one record per epoch.

    Options:
    """
    return fit("distill", student, teacher, train, options.given("distill", locals()))


def train_scratch(
    student: ModelLike,
    train: TableLike,
    *,
    directory: str | os.PathLike | None = None,
    validation: pd.DataFrame | str | os.PathLike | Mapping | tuple | None = None,
    x_col: str = "image_id",
    y_col: str | Sequence[str] = "label",
    classes: Sequence[str] | None = None,
    weight_col: str | None = None,
    class_weight: dict | Sequence[float] | None = None,
    image_size: Sequence[int] | None = None,
    rescale: float | None = None,
    batch_size: int = 32,
    on_bad_image: Literal["error", "skip"] = "error",
    epochs: int = 10,
    steps_per_epoch: int | None = None,
    validation_steps: int | None = None,
    last_batch: Literal["keep", "drop"] = "keep",
    student_outputs: Literal["auto", "logits", "probabilities"] = "auto",
    optimizer: str | keras.optimizers.Optimizer = "adam",
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule | None = None,
    augment: Augmentation | dict | None = None,
    callbacks: keras.callbacks.Callback | Sequence[keras.callbacks.Callback] | None = None,
    seed: int | None = None,
    verbose: int | str = "auto",
    cache_images: Literal["auto"] | bool = "auto",
    cache_features: Literal["auto"] | bool = "auto",
    frozen_precision: Literal["auto", "float32", "bfloat16"] = "auto",
    cache_dir: str | os.PathLike | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    strategy: tf.distribute.Strategy | None = None,
    run_eagerly: bool = False,
) -> History:
    """The scratch baseline: the same loop with the hard-label loss only (alpha = 1, no teacher).

    student: a Keras model, trained in place, or a .keras/.h5 path (the trained model is
        the returned history's `model`).
    train: a DataFrame, CSV path or dict of columns, one row per image; or a folder of
        class subfolders or (x, y) arrays, as for distill(). Unlabeled rows carry no
        signal without a teacher, so they are left out.
    Returns a History with one record per epoch.

    Options:
    """
    return fit("scratch", student, None, train, options.given("train_scratch", locals()))


distill.__doc__ = options.with_docs(distill.__doc__, "distill")
train_scratch.__doc__ = options.with_docs(train_scratch.__doc__, "train_scratch")
