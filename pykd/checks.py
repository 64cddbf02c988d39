"""The rules about settings, models and images that the entry points share.

Each check raises DataError with the problem, the offending value and the fix,
before anything has been changed. The R package has no copy of these rules:
it sends plain values and shows these errors.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence

import numpy as np

from ._tf import keras
from .errors import DataError, Setting, Text, few
from .frames import Table
from .images import ImageSpec, find_bad_images, report_bad_images
from .models import input_shape, output_width


def whole_number(value, name: str, minimum: int = 1, allow_none: bool = False) -> int | None:
    """An int from an int, a whole float (R sends doubles) or a NumPy integer."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value != int(value):
        raise DataError(f"{name} must be a whole number >= {minimum}, not {{value}}.",
                        "Give one whole number, for example {example}." if not allow_none
                        else "Give one whole number, or {none} for one pass over the table.",
                        value=value, example=Setting(name, max(minimum, 8)), none=None)
    if value < minimum:
        raise DataError(f"{name} must be >= {minimum}, not {{value}}.", value=int(value))
    return int(value)


def real_number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise DataError(f"{name} must be a finite number, not {{value}}.", value=value)
    return float(value)


def loss_settings(temperature, alpha) -> tuple[float, float]:
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not (
            math.isfinite(temperature) and temperature > 0):
        raise DataError("temperature must be a number > 0, not {value}.",
                        "Use 1 or more to soften the teacher's predictions (the default is 3).", value=temperature)
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 <= alpha <= 1:
        raise DataError("alpha must be a number in [0, 1] (it weights the hard-label loss), not {value}.",
                        "1 learns from the labels only, 0 from the teacher only (the default is 0.1).", value=alpha)
    return float(temperature), float(alpha)


def one_of(value, name: str, allowed: Sequence) -> None:
    if isinstance(value, (list, dict)) or value not in allowed or (isinstance(value, bool) and True not in allowed):
        raise DataError(f"{name} must be one of {{allowed}}, not {{value}}.", allowed=few(allowed), value=value)


def verbosity(verbose) -> int:
    """0, 1 or 2 as Keras takes it; "auto" (Keras' default) and True mean 1, False 0."""
    if verbose == "auto":
        return 1
    if isinstance(verbose, (bool, np.bool_)):
        return int(verbose)
    one_of(verbose, "verbose", ("auto", 0, 1, 2))
    return int(verbose)


def callback_list(callbacks) -> list:
    """A list of Keras callbacks from None, one callback or a sequence of them."""
    if callbacks is None:
        return []
    if isinstance(callbacks, keras.callbacks.Callback):
        return [callbacks]
    items = list(callbacks) if isinstance(callbacks, Sequence) and not isinstance(callbacks, str) else [callbacks]
    wrong = [type(c).__name__ for c in items if not isinstance(c, keras.callbacks.Callback)]
    if wrong:
        raise DataError("callbacks must be Keras callbacks, not {wrong}.",
                        "Pass keras.callbacks objects, e.g. keras.callbacks.EarlyStopping().", wrong=few(wrong))
    return items


def image_spec(model: keras.Model, image_size, rescale) -> ImageSpec:
    """The input size: `image_size`, else the model's own; they must agree when both are set."""
    height, width, channels = input_shape(model)
    if channels not in (1, 3, 4):
        raise DataError(f"The student takes {channels} channels; pykd reads images as 1 (grayscale), 3 (RGB) or 4 (RGBA).")
    if image_size is not None:
        if isinstance(image_size, (str, numbers.Real)) or len(image_size) != 2:
            raise DataError("image_size must be two numbers (height, width), not {value}.",
                            "For example {example}, or {none} to use the student's input size.",
                            value=image_size, example=Setting("image_size", [224, 224]), none=None)
        size = (whole_number(image_size[0], "image_size[0]"), whole_number(image_size[1], "image_size[1]"))
        if (height, width) != (None, None) and (height, width) != size:
            raise DataError(f"image_size is {{size}} but the student takes {height}x{width} images.",
                            "Leave image_size out to use the student's size, or build the student for that size.",
                            size=list(size))
        height, width = size
    if height is None or width is None:
        raise DataError("The student accepts any image size.", "Pass {example}.", example=Setting("image_size", [224, 224]))
    if rescale is not None and (isinstance(rescale, bool) or not isinstance(rescale, numbers.Real)
                                or not math.isfinite(rescale) or rescale == 0):
        raise DataError("rescale must be a finite number other than 0, or None, not {rescale}.",
                        "Pixels are multiplied by rescale: use {example} to scale them to [0, 1], or {none} to leave them.",
                        rescale=rescale, example=Setting("rescale", Text("1/255")), none=None)
    return ImageSpec(int(height), int(width), int(channels), None if rescale is None else float(rescale))


def check_model_fits(model: keras.Model, spec: ImageSpec, n_classes: int, role: str) -> None:
    height, width, channels = input_shape(model)
    if (height is not None and height != spec.height) or (width is not None and width != spec.width):
        raise DataError(f"The {role} takes {height}x{width} images but the images are prepared as {spec.height}x{spec.width}.",
                        f"Build the {role} for {spec.height}x{spec.width} images, or pass image_size to match it.")
    if channels != spec.channels:
        raise DataError(f"The {role} takes {channels} channels but the student takes {spec.channels}.")
    width_out = output_width(model)
    if width_out != n_classes:
        raise DataError(f"The {role} outputs {width_out} classes but the data has {n_classes} classes.",
                        f"Give the {role} one output per class, or check classes and the labels.")
    if n_classes < 2:
        raise DataError(f"The {role} outputs {n_classes} class: a classifier tells two or more classes apart.",
                        "Give it one output per class (a softmax over two or more).")


def check_labels_fit(table: Table, n_classes: int) -> None:
    outside = table.labels >= n_classes
    if outside.any():
        rows = (np.flatnonzero(outside) + 1).tolist()
        raise DataError(
            f"The {table.name} table has labels {{labels}} (rows {{rows}}) but the models output only "
            f"{n_classes} classes (0..{n_classes - 1}).",
            "Fix those labels, or give models with one output per class.",
            labels=sorted(set(table.labels[outside].tolist()))[:5], rows=few(rows),
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


def optimizer_recipe(optimizer, learning_rate):
    """(optimizer, None) for an optimizer object, or (its class, learning rate) for a name.

    The object itself is made by the run, under its strategy's scope.
    learning_rate: a number > 0 or a keras LearningRateSchedule; None means 1e-3.
    """
    if isinstance(optimizer, keras.optimizers.Optimizer):
        if learning_rate is not None:
            raise DataError("learning_rate is given next to an optimizer object, which has its own.",
                            "Set the rate on the optimizer, e.g. keras.optimizers.Adam(learning_rate=1e-4), or pass its name.")
        return optimizer, None
    if learning_rate is None:
        learning_rate = 1e-3
    elif not isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real) or not (
                math.isfinite(learning_rate) and learning_rate > 0):
            raise DataError("learning_rate must be a number > 0 or a keras LearningRateSchedule, not {value}.",
                            "For example {example}.", value=learning_rate, example=Setting("learning_rate", 0.001))
        learning_rate = float(learning_rate)
    try:
        kind = type(keras.optimizers.get(optimizer))
    except (ValueError, TypeError) as err:
        raise DataError("Unknown optimizer {value}.", "Use a name such as 'adam' or 'sgd', or a keras optimizer.",
                        value=optimizer if isinstance(optimizer, str) else Text(type(optimizer).__name__)) from err
    return kind, learning_rate


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
            raise DataError(f"Every image of the {table.name} table is unreadable.", "Check the image files.")
        kept.append(table.subset(np.flatnonzero(good)))
    return kept
