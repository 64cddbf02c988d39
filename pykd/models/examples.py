"""Small example models: a teacher and a much smaller student, for the demo, the
docs and the tests.
"""

from __future__ import annotations

from .._tf import keras
from ..core.errors import DataError, Setting, Text
from ..core.validation import image_shape, whole_number


def _example_settings(input_shape, n_classes, seed, role: str, smallest: int) -> tuple[tuple, int]:
    """The checked (shape, n_classes) of an example model; seeds Keras when `seed` is given."""

    shape = image_shape(input_shape)
    if min(shape[:2]) < smallest:
        raise DataError(f"The example {role} takes images of at least {smallest}x{smallest} pixels, not {{size}}.",
                        "For example {example}.", size=Text(f"{shape[0]}x{shape[1]}"),
                        example=Setting("input_shape", [32, 32, 3]))
    n_classes = whole_number(n_classes, "n_classes", minimum=2)
    seed = whole_number(seed, "seed", minimum=0, allow_none=True)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    return shape, n_classes


def _conv_block(layers, filters: int, name: str) -> list:
    return [
        layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer="he_normal", name=f"{name}_conv1"),
        layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer="he_normal", name=f"{name}_conv2"),
    ]


def example_teacher(input_shape=(32, 32, 3), n_classes: int = 10, seed: int | None = None) -> keras.Model:
    """A small convolutional teacher (about 110k parameters) with logit outputs.

    input_shape: (height, width, channels); n_classes: outputs; seed: fixes the initial weights.
    (height, width) means RGB. Pixels are expected as 0..255; the model rescales them itself.
    """
    shape, n_classes = _example_settings(input_shape, n_classes, seed, "teacher", smallest=4)
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape),
            layers.Rescaling(1.0 / 255, name="rescale"),
            *_conv_block(layers, 24, "block1"),
            layers.MaxPooling2D(name="block1_pool"),
            *_conv_block(layers, 48, "block2"),
            layers.MaxPooling2D(name="block2_pool"),
            layers.Conv2D(128, 3, padding="same", activation="relu", kernel_initializer="he_normal", name="block3_conv"),
            layers.GlobalAveragePooling2D(name="pool"),
            layers.Dropout(0.3, name="dropout"),
            layers.Dense(n_classes, name="logits"),
        ],
        name="teacher",
    )


def example_student(input_shape=(32, 32, 3), n_classes: int = 10, seed: int | None = None) -> keras.Model:
    """A much smaller convolutional student (about 4k parameters at 32x32) with logit outputs.

    input_shape: (height, width, channels); n_classes: outputs; seed: fixes the initial weights.
    (height, width) means RGB.
    """
    shape, n_classes = _example_settings(input_shape, n_classes, seed, "student", smallest=3)
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape),
            layers.Rescaling(1.0 / 255, name="rescale"),
            layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv1"),
            layers.MaxPooling2D(name="pool1"),
            layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv2"),
            layers.Flatten(name="flatten"),
            layers.Dense(n_classes, name="logits"),
        ],
        name="student",
    )
