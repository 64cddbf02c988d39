"""The checks of plain settings: whole and real numbers, choices, verbosity, the loss's
temperature and alpha, image shapes.

Each check raises DataError with the problem, the offending value and the fix,
before anything has been changed. The R package has no copy of these rules:
it sends plain values and shows these errors.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from .errors import DataError, Setting, Text, every, shown

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


def temperature_setting(value, name: str = "temperature") -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and value > 0):
        raise DataError(f"{name} must be a number > 0, not {{value}}.",
                        "Use 1 or more to soften the teacher's predictions (the default is 3).", value=shown(value))
    return float(value)


def alpha_setting(value, name: str = "alpha") -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise DataError(f"{name} must be a number in [0, 1] (it weights the hard-label loss), not {{value}}.",
                        "1 learns from the labels only, 0 from the teacher only (the default is 0.1).",
                        value=shown(value))
    return float(value)


def loss_settings(temperature, alpha) -> tuple[float, float]:
    return temperature_setting(temperature), alpha_setting(alpha)


def rescale_setting(value, name: str = "rescale") -> float | None:
    """The factor pixels (0..255) are multiplied by: a finite number other than 0, or None."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)
                              or not math.isfinite(value) or value == 0):
        raise DataError("rescale must be a finite number other than 0, or {none}, not {rescale}.",
                        "Pixels are multiplied by rescale: use {example} to scale them to [0, 1], or {none} to leave them.",
                        rescale=shown(value), example=Setting("rescale", Text("1/255")), none=None)
    return None if value is None else float(value)


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


def image_shape(input_shape) -> tuple[int, int, int]:
    """(height, width, channels) from 2 or 3 whole numbers (R sends doubles such as 224.0)."""
    if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__len__") or len(input_shape) not in (2, 3):
        raise DataError("input_shape must be (height, width, channels), not {value}.", "For example {example}.",
                        value=shown(input_shape), example=Setting("input_shape", [224, 224, 3]))
    example = Setting("input_shape", [224, 224, 3])
    dims = [whole_number(d, "input_shape", label=f"The {part} in input_shape", example=example)
            for d, part in zip(input_shape, ("height", "width", "number of channels"))]
    return tuple(dims) if len(dims) == 3 else (*dims, 3)
