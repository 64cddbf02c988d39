"""What a model takes: the image spec it is fed (size, channels, scale) and whether
it fits the data (input size, channels, one output per class).
"""

from __future__ import annotations

import numbers

from .._tf import keras
from ..core.errors import DataError, Setting, plural, shown
from ..core.validation import rescale_setting, whole_number
from ..data.images import ImageSpec
from .introspection import input_shape, output_width


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
    rescale = rescale_setting(rescale)
    return ImageSpec(int(height), int(width), int(channels), rescale)


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
