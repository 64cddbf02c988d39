"""Models: loading, introspection (input shape, output width, softmax ends), saving,
freezing from a named layer, and small example models."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._tf import keras
from .errors import DataError, Setting, few

__all__ = ["load_model", "save_model", "set_trainable", "count_params", "describe", "example_teacher", "example_student"]

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")


def load_model(model, *, role: str = "model") -> keras.Model:
    """A Keras model, or one loaded from a .keras/.h5 path (without its compile state).

    role: how error messages name the model ("teacher", "student", ...).
    """
    if isinstance(model, keras.Model):
        return model
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.is_file():
            raise DataError(f"The {role} file {{path}} does not exist.", "Check the path, or pass the model itself.",
                            path=str(path))
        if path.suffix.lower() not in MODEL_SUFFIXES:
            raise DataError(f"The {role} file {{path}} is not a .keras or .h5 model file.",
                            "Save whole models with save_model() to a .keras file.", path=str(path))
        try:
            return keras.models.load_model(path, compile=False)
        except Exception as err:
            raise DataError(f"Could not load the {role} from {{path}}: {err}", path=str(path)) from err
    raise DataError(f"The {role} must be a Keras model or a path to a .keras/.h5 file, not {type(model).__name__}.",
                    "Build it with Keras, or load it with load_model().")


def _last_layer(model: keras.Model) -> keras.layers.Layer:
    layer = model.layers[-1]
    while isinstance(layer, keras.Model) and layer.layers:  # nested Sequential / Functional
        layer = layer.layers[-1]
    return layer


def ends_in_softmax(model: keras.Model) -> bool:
    """True when the model's last layer applies softmax (its outputs are probabilities)."""
    layer = _last_layer(model)
    if isinstance(layer, keras.layers.Softmax):
        return True
    activation = getattr(layer, "activation", None)
    return activation is keras.activations.softmax or getattr(activation, "__name__", "") == "softmax"


def outputs_are_probabilities(model: keras.Model, declared: str, role: str) -> bool:
    if declared == "auto":
        return ends_in_softmax(model)
    if declared in ("logits", "probabilities"):
        return declared == "probabilities"
    raise DataError(f"{role}_outputs must be one of {{allowed}}, not {{declared}}.",
                    "'auto' reads it from the last layer; say 'probabilities' for a model ending in softmax.",
                    allowed=["auto", "logits", "probabilities"], declared=declared)


def output_kind(model: keras.Model, declared: str, role: str, sample) -> bool:
    """Whether the model gives probabilities, from its last layer and from what it returns for `sample`.

    "auto" also catches softmax applied by keras.ops.softmax or a Lambda layer, which
    no layer type reveals: rows that are >= 0 and sum to 1 are probabilities. A
    declared kind that the values contradict is refused rather than trusted.
    """
    by_layer = outputs_are_probabilities(model, declared, role)
    values = np.asarray(keras.ops.convert_to_numpy(model(sample, training=False)), np.float64)
    looks = bool(np.isfinite(values).all() and (values >= 0).all() and np.allclose(values.sum(-1), 1.0, atol=1e-2))
    if declared == "auto":
        return by_layer or looks
    if looks != by_layer:
        seen = "probabilities (rows >= 0 summing to 1)" if looks else "not probabilities (rows do not sum to 1)"
        raise DataError(f"{{declared}}, but the {role} returns {seen} on the first images.",
                        "Leave {auto} to read it from the model, or fix the setting.",
                        declared=Setting(f"{role}_outputs", declared), auto=Setting(f"{role}_outputs", "auto"))
    return by_layer


def output_width(model: keras.Model) -> int:
    """How many class scores the model gives; a model with several outputs is refused."""
    outputs = _known(model, "outputs")
    if len(outputs) != 1:
        raise DataError(f"Model {model.name!r} has {len(outputs)} outputs; pykd trains models with one output of class scores.",
                        "Give a model whose only output is the classifier head (a Dense layer of one unit per class).")
    return int(outputs[0].shape[-1])


def _known(model: keras.Model, what: str) -> list:
    """model.inputs or model.outputs; a subclassed model without a known graph is refused with the reason."""
    try:
        tensors = getattr(model, what)
    except (AttributeError, ValueError):
        tensors = None
    if not tensors:
        raise DataError(
            f"Model {model.name!r} is a subclassed model whose input and output shapes are unknown until it runs.",
            "Build it as a Sequential or functional model starting from keras.Input((height, width, channels)).",
        )
    return list(tensors)


def input_shape(model: keras.Model) -> tuple:
    """(height, width, channels) of the model's image input; entries may be None."""
    inputs = _known(model, "inputs")
    if len(inputs) != 1:
        raise DataError(f"Model {model.name!r} takes {len(inputs)} inputs; an image classifier takes one batch of images.",
                        "Give a model with a single keras.Input((height, width, channels)).")
    shape = tuple(inputs[0].shape)
    if len(shape) != 4:
        raise DataError(
            f"Model {model.name!r} takes inputs of shape {shape}; an image model takes (batch, height, width, channels).",
            "Give a model whose input is a batch of images, e.g. keras.Input((224, 224, 3)).",
        )
    return shape[1:]


def clone_model(model: keras.Model) -> keras.Model:
    """A twin with the same weights (built under the caller's strategy scope, if any)."""
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    return twin


def save_model(model: keras.Model, path: str | os.PathLike) -> str:
    """Save a whole model to a .keras (or legacy .h5) file; returns the path."""
    path = Path(path)
    if path.suffix not in (".keras", ".h5"):
        raise DataError("Save models to a .keras (or .h5) file, not {path}.", "End the file name in .keras.", path=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return str(path)


def _flat_layers(model: keras.Model) -> list[keras.layers.Layer]:
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.extend(_flat_layers(layer))
        else:
            out.append(layer)
    return out


def _containers(model: keras.Model) -> list[keras.Model]:
    out = [model]
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.extend(_containers(layer))
    return out


def set_trainable(model: keras.Model, trainable: bool, from_layer: str | None = None) -> keras.Model:
    """Freeze (trainable=False) or unfreeze (True) the whole model, or from `from_layer` on.

    With from_layer, layers before it get the opposite setting, as R keras'
    unfreeze_weights(from = ...) does: unfreezing from "block5a_expand_conv"
    trains that block and everything after it, and keeps the earlier ones frozen.
    """
    if from_layer is None:
        model.trainable = bool(trainable)
        return model
    layers = _flat_layers(model)
    names = [layer.name for layer in layers]
    if from_layer not in names:
        close = [n for n in names if from_layer.split("_")[0] in n]
        raise DataError("The model has no layer named {name}.",
                        "Similar names: {close}." if close else "Its layers are {close}.",
                        name=from_layer, close=few(close or names))
    for container in _containers(model):
        container.trainable = True
    start = names.index(from_layer)
    for i, layer in enumerate(layers):
        layer.trainable = bool(trainable) if i >= start else not trainable
    return model


def count_params(model: keras.Model) -> int:
    return int(model.count_params())


def describe(model: keras.Model) -> dict:
    """Plain facts about a model, safe to send to R."""
    return {
        "name": model.name,
        "params": count_params(model),
        "trainable_params": int(sum(int(v.numpy().size) for v in model.trainable_variables)),
        "input_shape": [None if d is None else int(d) for d in input_shape(model)],
        "n_outputs": output_width(model),
    }


def _seeded(seed: int | None) -> None:
    if seed is not None:
        keras.utils.set_random_seed(int(seed))


def _conv_block(layers, filters: int, name: str) -> list:
    return [
        layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer="he_normal", name=f"{name}_conv1"),
        layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer="he_normal", name=f"{name}_conv2"),
    ]


def example_teacher(input_shape=(32, 32, 3), n_classes: int = 10, seed: int | None = None) -> keras.Model:
    """A small convolutional teacher (about 110k parameters) with logit outputs.

    input_shape: (height, width, channels); n_classes: outputs; seed: fixes the initial weights.
    Pixels are expected as 0..255; the model rescales them itself.
    """
    _seeded(seed)
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(tuple(int(d) for d in input_shape)),
            layers.Rescaling(1.0 / 255, name="rescale"),
            *_conv_block(layers, 24, "block1"),
            layers.MaxPooling2D(name="block1_pool"),
            *_conv_block(layers, 48, "block2"),
            layers.MaxPooling2D(name="block2_pool"),
            layers.Conv2D(128, 3, padding="same", activation="relu", kernel_initializer="he_normal", name="block3_conv"),
            layers.GlobalAveragePooling2D(name="pool"),
            layers.Dropout(0.3, name="dropout"),
            layers.Dense(int(n_classes), name="logits"),
        ],
        name="teacher",
    )


def example_student(input_shape=(32, 32, 3), n_classes: int = 10, seed: int | None = None) -> keras.Model:
    """A much smaller convolutional student (about 4k parameters at 32x32) with logit outputs.

    input_shape: (height, width, channels); n_classes: outputs; seed: fixes the initial weights.
    """
    _seeded(seed)
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(tuple(int(d) for d in input_shape)),
            layers.Rescaling(1.0 / 255, name="rescale"),
            layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv1"),
            layers.MaxPooling2D(name="pool1"),
            layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv2"),
            layers.Flatten(name="flatten"),
            layers.Dense(int(n_classes), name="logits"),
        ],
        name="student",
    )
