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
from .errors import DataError, Setting, Text, Words, every, few, kind, plural, shown
from .frames import Table, label_columns
from .images import ImageSpec, find_bad_images, report_bad_images
from .models import input_shape, output_width

# What None means for the settings that take it, for the fix of a wrong value.
NONE_MEANS = {
    "steps_per_epoch": "one pass over the table",
    "validation_steps": "one pass over the validation table",
    "seed": "a different random start each time",
}


def whole_number(value, name: str, minimum: int = 1, allow_none: bool = False, *, label: str | None = None,
                 example: Setting | None = None) -> int | None:
    """An int from an int, a whole float (R sends doubles) or a NumPy integer.

    name: the setting; label: how the message names the value when it is part of one
    ("The height in image_size"); example: the setting shown in the fix.
    With allow_none the fix says what None means for `name` (NONE_MEANS).
    """
    if value is None and allow_none:
        return None
    label = label or name
    example = example or Setting(name, max(minimum, 8))
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value != int(value):
        raise DataError(f"{label} must be a whole number >= {minimum}, not {{value}}.",
                        f"Give {'one whole number' if label == name else 'whole numbers'}, for example {{example}}"
                        + ("." if not allow_none else f", or {{none}} for {NONE_MEANS.get(name, 'the default')}."),
                        value=shown(value), example=example, none=None)
    if value < minimum:
        raise DataError(f"{label} must be >= {minimum}, not {{value}}.", value=int(value))
    return int(value)


def real_number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise DataError(f"{name} must be a finite number, not {{value}}.", value=shown(value))
    return float(value)


def loss_settings(temperature, alpha) -> tuple[float, float]:
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not (
            math.isfinite(temperature) and temperature > 0):
        raise DataError("temperature must be a number > 0, not {value}.",
                        "Use 1 or more to soften the teacher's predictions (the default is 3).",
                        value=shown(temperature))
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 <= alpha <= 1:
        raise DataError("alpha must be a number in [0, 1] (it weights the hard-label loss), not {value}.",
                        "1 learns from the labels only, 0 from the teacher only (the default is 0.1).",
                        value=shown(alpha))
    return float(temperature), float(alpha)


def one_of(value, name: str, allowed: Sequence) -> None:
    if isinstance(value, (list, dict)) or value not in allowed or (isinstance(value, bool) and True not in allowed):
        raise DataError(f"{name} must be one of {{allowed}}, not {{value}}.", allowed=every(allowed), value=shown(value))


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
    wrong = [kind(c) for c in items if not isinstance(c, keras.callbacks.Callback)]
    if wrong:
        raise DataError("callbacks must be Keras callbacks, not {wrong}.", "Pass Keras callback objects, e.g. {example}.",
                        wrong=few(wrong), example=Words("keras.callbacks.EarlyStopping()",
                                                        "keras3::callback_early_stopping()"))
    return items


def image_spec(model: keras.Model, image_size, rescale) -> ImageSpec:
    """The input size: `image_size`, else the model's own; they must agree when both are set."""
    height, width, channels = input_shape(model)
    if channels not in (1, 3, 4):
        raise DataError(f"The student takes {channels} channels; pykd reads images as 1 (grayscale), 3 (RGB) or 4 (RGBA).")
    if image_size is not None:
        example = Setting("image_size", [224, 224])
        if isinstance(image_size, (str, numbers.Real)) or not hasattr(image_size, "__len__") or len(image_size) != 2:
            raise DataError("image_size must be two numbers (height, width), not {value}.",
                            "For example {example}, or {none} to use the student's input size.",
                            value=shown(image_size), example=example, none=None)
        size = tuple(whole_number(d, "image_size", label=f"The {part} in image_size", example=example)
                     for d, part in zip(image_size, ("height", "width")))
        if (height, width) != (None, None) and (height, width) != size:
            raise DataError(f"image_size is {{size}} but the student takes {height}x{width} images.",
                            "Leave image_size out to use the student's size, or build the student for that size.",
                            size=list(size))
        height, width = size
    if height is None or width is None:
        raise DataError("The student accepts any image size.", "Pass {example}.", example=Setting("image_size", [224, 224]))
    if rescale is not None and (isinstance(rescale, bool) or not isinstance(rescale, numbers.Real)
                                or not math.isfinite(rescale) or rescale == 0):
        raise DataError("rescale must be a finite number other than 0, or {none}, not {rescale}.",
                        "Pixels are multiplied by rescale: use {example} to scale them to [0, 1], or {none} to leave them.",
                        rescale=shown(rescale), example=Setting("rescale", Text("1/255")), none=None)
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
        raise DataError(f"The {role} outputs {width_out} {plural(width_out, 'class', 'classes')} but the data has "
                        f"{n_classes} {plural(n_classes, 'class', 'classes')}.",
                        f"Give the {role} one output per class, or check classes and the labels.")
    if n_classes < 2:
        raise DataError(f"The {role} outputs {n_classes} {plural(n_classes, 'class', 'classes')}: "
                        "a classifier tells two or more classes apart.",
                        "Give it one output per class (a softmax over two or more).")


def check_labels_fit(table: Table, n_classes: int) -> None:
    outside = table.labels >= n_classes
    if outside.any():
        rows = (np.flatnonzero(outside) + 1).tolist()
        labels = sorted(set(table.labels[outside].tolist()))
        raise DataError(
            f"The {table.name} table has {plural(len(labels), 'label', 'labels')} {{labels}} "
            f"({plural(len(rows), 'row', 'rows')} {{rows}}) but the models output only "
            f"{n_classes} {plural(n_classes, 'class', 'classes')} (0..{n_classes - 1}).",
            f"Fix {plural(len(rows), 'that label', 'those labels')}, or give models with one output per class.",
            labels=few(labels), rows=few(rows),
        )


def label_layout(frame, y_col, classes):
    """y_col for a table, switching between one label column and one-hot columns.

    A validation CSV often comes one-hot (CBB, CBSD, ...) while the training table
    has a label column, or the other way round: when the table lacks `y_col` but
    has the other layout's columns (the class names, or "label"), use those.
    """
    wanted = label_columns(y_col)
    if not wanted:
        return y_col
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
                            "For example {example}.", value=shown(learning_rate),
                            example=Setting("learning_rate", 0.001))
        learning_rate = float(learning_rate)
    try:
        maker = type(keras.optimizers.get(optimizer))
    except (ValueError, TypeError) as err:
        problem = "Unknown optimizer {value}." if isinstance(optimizer, str) else \
            "optimizer must be an optimizer name or a Keras optimizer, not {value}."
        raise DataError(problem, "Use a name such as {adam} or {sgd}, or a Keras optimizer.",
                        value=shown(optimizer) if isinstance(optimizer, str) else kind(optimizer), adam="adam",
                        sgd="sgd") from err
    return maker, learning_rate


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
