"""Checks and small preparations shared by the entry points.

Each check raises DataError with a message that names the bad value and the fix,
before anything has been changed.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence

import numpy as np

from ._tf import keras
from .errors import DataError
from .frames import Table
from .images import ImageSpec, find_bad_images, report_bad_images
from .teacher import input_shape, output_width


def whole_number(value, name: str, minimum: int = 1, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or value != int(value):
        raise DataError(f"{name} must be a whole number >= {minimum}, not {value!r}.")
    if value < minimum:
        raise DataError(f"{name} must be >= {minimum}, not {value!r}.")
    return int(value)


def loss_settings(temperature, alpha) -> tuple[float, float]:
    if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature <= 0:
        raise DataError(f"temperature must be a number > 0, not {temperature!r}.")
    if not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise DataError(f"alpha must be a number in [0, 1] (it weights the hard-label loss), not {alpha!r}.")
    return float(temperature), float(alpha)


def one_of(value, name: str, allowed: Sequence) -> None:
    if value not in allowed:
        raise DataError(f"{name} must be one of {list(allowed)}, not {value!r}.")


def image_spec(model: keras.Model, image_size, rescale) -> ImageSpec:
    """The input size: `image_size`, else the model's own; they must agree when both are set."""
    height, width, channels = input_shape(model)
    if channels not in (1, 3, 4):
        raise DataError(f"The student takes {channels} channels; pykd reads images as 1 (grayscale), 3 (RGB) or 4 (RGBA).")
    if image_size is not None:
        if isinstance(image_size, (int, float)) or len(image_size) != 2:
            raise DataError(f"image_size must be two numbers (height, width), not {image_size!r}.")
        size = (whole_number(image_size[0], "image_size[0]"), whole_number(image_size[1], "image_size[1]"))
        if (height, width) != (None, None) and (height, width) != size:
            raise DataError(f"image_size is {list(size)} but the student takes {height}x{width} images.")
        height, width = size
    if height is None or width is None:
        raise DataError("The student accepts any image size: pass image_size=(height, width).")
    if rescale is not None and (isinstance(rescale, bool) or not isinstance(rescale, numbers.Real)
                                or not math.isfinite(rescale) or rescale == 0):
        raise DataError("rescale must be a finite number other than 0, or None, not {rescale}.",
                        "Pixels are multiplied by rescale: use {example} to scale them to [0, 1], or {none} to leave them.",
                        rescale=rescale, example=Setting("rescale", Text("1/255")), none=None)
    return ImageSpec(int(height), int(width), int(channels), None if rescale is None else float(rescale))


def check_model_fits(model: keras.Model, spec: ImageSpec, n_classes: int, role: str) -> None:
    height, width, channels = input_shape(model)
    if (height is not None and height != spec.height) or (width is not None and width != spec.width):
        raise DataError(f"The {role} takes {height}x{width} images but the images are prepared as {spec.height}x{spec.width}.")
    if channels != spec.channels:
        raise DataError(f"The {role} takes {channels} channels but the student takes {spec.channels}.")
    width_out = output_width(model)
    if width_out != n_classes:
        raise DataError(f"The {role} outputs {width_out} classes but the data has {n_classes} classes.")


def check_labels_fit(table: Table, n_classes: int) -> None:
    outside = table.labels >= n_classes
    if outside.any():
        rows = ", ".join(str(i + 1) for i in np.flatnonzero(outside)[:5])
        raise DataError(
            f"The {table.name} table has labels {sorted(set(table.labels[outside].tolist()))[:5]} "
            f"(rows {rows}) but the models output only {n_classes} classes (0..{n_classes - 1})."
        )


def label_layout(frame, y_col, classes):
    """y_col for a table, switching between one label column and one-hot columns.

    A validation CSV often comes one-hot (CBB, CBSD, ...) while the training table
    has a label column, or the other way round: when the table lacks `y_col` but
    has the other layout's columns (the class names, or "label"), use those.
    """
    wanted = [y_col] if isinstance(y_col, str) else list(y_col)
    if all(c in frame.columns for c in wanted):
        return y_col
    if isinstance(y_col, str) and classes and all(c in frame.columns for c in classes):
        return list(classes)
    if not isinstance(y_col, str) and "label" in frame.columns:
        return "label"
    return y_col


def make_optimizer(optimizer, learning_rate) -> keras.optimizers.Optimizer:
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer
    if not isinstance(learning_rate, (int, float)) or learning_rate <= 0:
        raise DataError(f"learning_rate must be a number > 0, not {learning_rate!r}.")
    try:
        kind = type(keras.optimizers.get(optimizer))
    except ValueError as err:
        raise DataError(f"Unknown optimizer {optimizer!r}: use a name such as 'adam' or 'sgd', or an optimizer.") from err
    return kind(learning_rate=float(learning_rate))


def drop_bad_images(tables: list[Table | None], policy: str) -> list[Table | None]:
    one_of(policy, "on_bad_image", ("error", "skip"))
    paths = sorted({p for t in tables if t is not None for p in t.paths})
    bad_rows = find_bad_images(paths)
    bad_paths = {paths[i]: reason for i, reason in bad_rows.items()}
    report_bad_images({os.path.basename(p): r for p, r in bad_paths.items()}, policy)
    if not bad_paths:
        return tables
    kept = []
    for table in tables:
        if table is None:
            kept.append(None)
            continue
        good = np.array([p not in bad_paths for p in table.paths])
        if not good.any():
            raise DataError(f"Every image of the {table.name} table is unreadable.")
        kept.append(table.subset(np.flatnonzero(good)))
    return kept


def digest(ids: Sequence[str]) -> str:
    """A stable fingerprint of the row ids (Python's own hash() changes per process)."""
    return hashlib.sha1("\n".join(ids).encode()).hexdigest()[:16]


def clone_model(model: keras.Model) -> keras.Model:
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    return twin


def progress_printer(verbose: int, title: str):
    if verbose != 1:
        return None
    bar: dict = {}

    def update(step: int, total: int) -> None:
        if "bar" not in bar:
            print(title)
            bar["bar"] = keras.utils.Progbar(total)
        bar["bar"].update(step)

    return update
