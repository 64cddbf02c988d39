"""Freezing and unfreezing a model, whole or from a named layer on (R keras'
freeze_weights() and unfreeze_weights(from = ...)).
"""

from __future__ import annotations

import numpy as np

from .._tf import keras
from ..core.errors import DataError, few, kind, shown
from .introspection import _containers, _flat_layers, keras_model

# Keras' random layers and the setting that turns each off (0): dropout (EfficientNet's stochastic depth is a
# Dropout too) and noise.
_RANDOM = ((keras.layers.Dropout, "rate"), (keras.layers.GaussianDropout, "rate"), (keras.layers.AlphaDropout, "rate"),
           (keras.layers.GaussianNoise, "stddev"))
_KEPT = "_pykd_random_setting"  # a quieted layer's own setting, given back when it trains again


def set_trainable(model: keras.Model, trainable: bool, from_layer: str | None = None, *,
                  keep_dropout: bool = False) -> keras.Model:
    """Freeze (trainable=False) or unfreeze (True) the whole model, or from `from_layer` on.

    With from_layer, layers before it get the opposite setting, as R keras'
    unfreeze_weights(from = ...) does: unfreezing from "block5a_expand_conv"
    trains that block and everything after it, and keeps the earlier ones frozen.

    A frozen part is a fixed feature extractor, as keras' transfer-learning guide runs it: its
    dropout, stochastic depth and noise layers are off in training too (Keras 3 keeps them on in
    a frozen model, even called with training=False from outside), so it gives the same features
    every epoch and distill() can compute them once (cache_features). Unfreezing a layer gives it
    back its own setting (in this session: a model saved and loaded again keeps its rate 0).
    keep_dropout=True leaves frozen layers' randomness as it is.
    """
    keras_model(model)
    for name, value in (("trainable", trainable), ("keep_dropout", keep_dropout)):
        if not isinstance(value, (bool, np.bool_)):
            raise DataError(f"{name} must be {{true}} or {{false}}, not {{value}}.", true=True, false=False,
                            value=shown(value))
    if from_layer is not None and not isinstance(from_layer, str):
        raise DataError("The layer to start from must be a layer name, or {none} for the whole model, not {value}.",
                        none=None, value=kind(from_layer))
    if from_layer is None:
        # Every layer itself: Keras 3 passes model.trainable on neither to nested models
        # nor to layers frozen one by one (from_layer=...) before.
        for layer in [*_containers(model), *_flat_layers(model)]:
            _set(layer, bool(trainable), keep_dropout)
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
        _set(layer, bool(trainable) if i >= start else not trainable, keep_dropout)
    return model


def random_setting(layer) -> str | None:
    """The attribute that turns one of Keras' random layers off at 0 ("rate" or "stddev"), or None."""
    return next((name for kind, name in _RANDOM if isinstance(layer, kind)), None)


def _set(layer, trainable: bool, keep_dropout: bool) -> None:
    layer.trainable = trainable
    setting = random_setting(layer)
    if setting is None:
        return
    if not trainable and not keep_dropout and getattr(layer, setting) > 0:
        setattr(layer, _KEPT, getattr(layer, setting))
        setattr(layer, setting, 0.0)
    elif trainable and hasattr(layer, _KEPT):
        setattr(layer, setting, getattr(layer, _KEPT))
        delattr(layer, _KEPT)


def is_quiet(layer) -> bool:
    """Whether `layer` is one of Keras' random layers turned off (rate or stddev 0): it then computes the
    same in training as in inference."""
    setting = random_setting(layer)
    return setting is not None and getattr(layer, setting) == 0
