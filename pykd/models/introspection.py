"""Models: loading, introspection (input shape, output width, softmax ends), saving,
freezing from a named layer, weights-only files, the tutorial's transfer-learning
classifier on keras.applications backbones, and small example models."""

from __future__ import annotations

import math

import numpy as np

from .._tf import keras
from ..core.errors import DataError, Setting, Words, few, kind, literal, shown, warn

# The functions a fix names, in each language.
LOAD_MODEL = Words("load_model()", "rkd_load_model()")
IMAGE_INPUT = Words("keras.Input((height, width, channels))", "keras3::keras_input(shape = c(height, width, channels))")

def keras_model(model, role: str = "model") -> keras.Model:
    """`model` when it is a Keras model; anything else is refused, naming what it is."""
    if not isinstance(model, keras.Model):
        raise DataError(f"The {role} must be a Keras model, not {{value}}.",
                        "Build it with Keras, or load a saved one with {load}.", value=kind(model), load=LOAD_MODEL)
    return model


def _last_layer(model: keras.Model) -> keras.layers.Layer:
    layer = model.layers[-1]
    while isinstance(layer, keras.Model) and layer.layers:  # nested Sequential / Functional
        layer = layer.layers[-1]
    return layer


def ends_in_softmax(model: keras.Model) -> bool:
    """True when the model's last layer applies softmax (its outputs are probabilities)."""
    return isinstance(_last_layer(model), keras.layers.Softmax) or _ends_in(model, "softmax")


def _ends_in(model: keras.Model, activation: str) -> bool:
    """True when the model's last layer has the activation named ("softmax", "sigmoid")."""
    used = getattr(_last_layer(model), "activation", None)
    return used is getattr(keras.activations, activation) or getattr(used, "__name__", "") == activation


def outputs_are_probabilities(model: keras.Model, declared: str, role: str) -> bool:
    if declared == "auto":
        return ends_in_softmax(model)
    if declared in ("logits", "probabilities"):
        return declared == "probabilities"
    raise DataError(f"{role}_outputs must be one of {{allowed}}, not {{declared}}.",
                    "{auto} reads it from the last layer; say {probabilities} for a model ending in softmax.",
                    allowed=few(["auto", "logits", "probabilities"]), declared=shown(declared), auto="auto",
                    probabilities="probabilities")


# Rows on which outputs must all look like probabilities before a model without a softmax layer is read as giving them.
PROBABILITY_ROWS = 256


def output_kind(model: keras.Model, declared: str, role: str, sample, more_rows=None) -> bool:
    """Whether the model gives probabilities, from its last layer and from what it returns for `sample`.

    "auto" also catches softmax applied by keras.ops.softmax or a Lambda layer, which no
    layer type reveals: rows that are >= 0 and sum to 1 are probabilities, when every row
    does, on `sample` and then on `more_rows()` (a few hundred rows, read only then); when
    only some do, the outputs are read as logits and a warning says so. Scores in [0, 1]
    that do not sum to 1 (a sigmoid) are refused: they are neither. A declared kind that
    the values contradict is refused rather than trusted.
    """
    by_layer = outputs_are_probabilities(model, declared, role)
    looks = _probability_rows(model, sample, role, declared)
    if declared == "auto" and not by_layer and looks.all() and more_rows is not None:
        looks = _probability_rows(model, more_rows(), role, declared)
    if declared == "auto":
        if not by_layer and 0 < looks.sum() < len(looks):
            setting = literal(Setting(f"{role}_outputs", "probabilities"))
            warn(f"The {role}'s outputs look like probabilities (>= 0, summing to 1) on {int(looks.sum())} of "
                 f"{len(looks)} rows, not all: they are read as logits. Pass {setting} if it gives probabilities.")
        return by_layer or bool(looks.all())
    if bool(looks.all()) != by_layer:
        seen = "probabilities (rows >= 0 summing to 1)" if looks.all() else "not probabilities (rows do not sum to 1)"
        raise DataError(f"{{declared}}, but the {role} returns {seen} on the first images.",
                        "Leave {auto} to read it from the model, or fix the setting.",
                        declared=Setting(f"{role}_outputs", declared), auto=Setting(f"{role}_outputs", "auto"))
    return by_layer


def _probability_rows(model: keras.Model, x, role: str, declared: str) -> np.ndarray:
    """For each row of the model's outputs on `x`, whether it is >= 0 and sums to 1; sigmoid scores refused
    (a last layer with a sigmoid, or any other last layer but a linear one giving scores in [0, 1])."""
    values = np.concatenate([np.asarray(keras.ops.convert_to_numpy(model(x[i:i + 32], training=False)), np.float64)
                             for i in range(0, len(x), 32)])  # in batches: a large teacher reads 256 rows
    finite = np.isfinite(values).all(-1)
    rows = finite & (values >= 0).all(-1) & np.isclose(values.sum(-1), 1.0, atol=1e-2)
    unit = finite.all() and (values >= 0).all() and (values <= 1).all()
    # By the last layer, or by the values when the last layer is not a linear map (a Lambda, keras.ops.sigmoid):
    # a linear head may give values in [0, 1] and be logits.
    by_values = unit and not rows.all() and values.shape[-1] > 1 and not _ends_in(model, "linear") \
        and not ends_in_softmax(model)
    if declared == "auto" and (_ends_in(model, "sigmoid") or by_values):
        raise DataError(f"The {role} gives scores in [0, 1] that do not sum to 1 per image (a sigmoid?): pykd reads a "
                        "model's outputs as logits or as softmax probabilities, one class per image.",
                        "End the model in a Dense layer without activation (logits) or with softmax, or pass {logits} "
                        "if these are logits.", logits=Setting(f"{role}_outputs", "logits"))
    return rows


def output_width(model: keras.Model) -> int:
    """How many class scores the model gives; a model with several outputs is refused."""
    outputs = _known(model, "outputs")
    if len(outputs) != 1:
        raise DataError(f"The model {{name}} has {len(outputs)} outputs; pykd trains models with one output of class scores.",
                        "Give a model whose only output is the classifier head (a Dense layer of one unit per class).",
                        name=model.name)
    return int(outputs[0].shape[-1])


def _known(model: keras.Model, what: str) -> list:
    """model.inputs or model.outputs; a subclassed model without a known graph is refused with the reason."""
    try:
        tensors = getattr(model, what)
    except (AttributeError, ValueError):
        tensors = None
    if not tensors:
        raise DataError(
            "The model {name} is a subclassed model whose input and output shapes are unknown until it runs.",
            "Build it as a Sequential or functional model starting from {input}.", name=model.name, input=IMAGE_INPUT,
        )
    return list(tensors)


def input_shape(model: keras.Model) -> tuple:
    """(height, width, channels) of the model's image input; entries may be None."""
    inputs = _known(model, "inputs")
    if len(inputs) != 1:
        raise DataError(f"The model {{name}} takes {len(inputs)} inputs; an image classifier takes one batch of images.",
                        "Give a model with a single {input}.", name=model.name, input=IMAGE_INPUT)
    shape = tuple(inputs[0].shape)
    if len(shape) != 4:
        raise DataError(
            f"The model {{name}} takes inputs of {len(shape)} dimensions; an image model takes 4: "
            "(batch, height, width, channels).",
            "Give a model whose input is a batch of images, starting from {input}.", name=model.name,
            input=IMAGE_INPUT,
        )
    return shape[1:]


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


def count_params(model: keras.Model) -> int:
    return int(model.count_params())


def trainable_params(model: keras.Model) -> int:
    """The parameters training changes (a frozen backbone's are left out)."""
    return int(sum(math.prod(v.shape) for v in model.trainable_variables))


def describe(model: keras.Model) -> dict:
    """Plain facts about a model, safe to send to R."""
    keras_model(model)
    return {
        "name": model.name,
        "params": count_params(model),
        "trainable_params": trainable_params(model),
        "input_shape": [None if d is None else int(d) for d in input_shape(model)],
        "n_outputs": output_width(model),
    }


# --- Transfer-learning classifiers and weights-only files -------------------------------------------
