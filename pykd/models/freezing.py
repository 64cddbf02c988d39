"""Freezing and unfreezing a model, whole or from a named layer on (R keras'
freeze_weights() and unfreeze_weights(from = ...)).
"""

from __future__ import annotations

import numpy as np

from .._tf import keras
from ..core.errors import DataError, few, kind, shown
from .introspection import _containers, _flat_layers, keras_model


def set_trainable(model: keras.Model, trainable: bool, from_layer: str | None = None) -> keras.Model:
    """Freeze (trainable=False) or unfreeze (True) the whole model, or from `from_layer` on.

    With from_layer, layers before it get the opposite setting, as R keras'
    unfreeze_weights(from = ...) does: unfreezing from "block5a_expand_conv"
    trains that block and everything after it, and keeps the earlier ones frozen.
    """
    keras_model(model)
    if not isinstance(trainable, (bool, np.bool_)):
        raise DataError("trainable must be {true} or {false}, not {value}.", true=True, false=False,
                        value=shown(trainable))
    if from_layer is not None and not isinstance(from_layer, str):
        raise DataError("The layer to start from must be a layer name, or {none} for the whole model, not {value}.",
                        none=None, value=kind(from_layer))
    if from_layer is None:
        # Every layer itself: Keras 3 passes model.trainable on neither to nested models
        # nor to layers frozen one by one (from_layer=...) before.
        for layer in [*_containers(model), *_flat_layers(model)]:
            layer.trainable = bool(trainable)
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
