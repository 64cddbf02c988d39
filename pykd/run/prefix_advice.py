"""Why the feature cache stopped early, said once: a frozen part that still drops or adds noise.

Keras 3 keeps a frozen model's dropout, stochastic depth (EfficientNet's) and noise layers on in
training, even when the model is called with training=False from outside. A backbone frozen by hand
(`base.trainable = False`) is then no fixed feature extractor, and cache_features="auto" must stop
at its first such layer (early in an EfficientNet). pykd.models.set_trainable() freezes with them off.
"""

from __future__ import annotations

import time

from ..core.errors import Words, warn
from ..models.freezing import random_setting
from ..models.nested import flattened
from .features import FrozenPrefix, frozen_prefix


def warn_if_randomness_stops_the_cache(model, split: FrozenPrefix | None, sample) -> None:
    """Say where the cache stopped, why, what reaching the end of the frozen part would save (measured on
    `sample`, model inputs) and the one call that fixes it, when frozen random layers stopped it early."""
    flat = flattened(model)
    if flat is None:
        return
    layers = list(flat._flatten_layers(include_self=False))
    noisy = [layer for layer in layers
             if random_setting(layer) and not layer.trainable and getattr(layer, random_setting(layer)) > 0]
    if not noisy:
        return
    kept = [getattr(layer, random_setting(layer)) for layer in noisy]
    try:  # what the cache would reach with them off; they are set back below
        for layer in noisy:
            setattr(layer, random_setting(layer), 0.0)
        would, _ = frozen_prefix(model)
    finally:
        for layer, value in zip(noisy, kept):
            setattr(layer, random_setting(layer), value)
    if would is None or (split is not None and split.ends_at == would.ends_at):
        return
    first_trained = next((layer.name for layer in layers if layer.trainable_weights), None)
    if first_trained is None:  # nothing trains: there is no run to speed up
        return
    # In inference mode: a training call would move the head's BatchNormalization statistics before the run.
    whole, prefix = _ms(lambda: model(sample, training=False)), _ms(lambda: would.prefix(sample, training=False))
    fix = Words(f"pykd.models.set_trainable(student, True, from_layer={first_trained!r})",
                f'rkd_unfreeze(student, from = "{first_trained}")')
    stop = "stops at " + repr(split.ends_at) if split is not None else "cannot start"
    text = ("The student's feature cache {stop}: its frozen layer {layer} ({kind}) still {acts} in training, as "
            "Keras keeps a frozen model's dropout, stochastic depth and noise on. With them off the cache would "
            "reach {end}, and each epoch after the first would skip {share}% of the student's forward pass "
            "({prefix:.0f} of {whole:.0f} ms for {n} images, measured). To get it: {fix}, which freezes everything "
            "before {first} with its randomness off (set_trainable(..., keep_dropout=True) keeps it).")
    values = dict(stop=stop, layer=repr(noisy[0].name), kind=type(noisy[0]).__name__,
                  acts="adds noise" if random_setting(noisy[0]) == "stddev" else "drops", end=repr(would.ends_at),
                  share=round(100 * min(prefix / whole, 1.0)), prefix=prefix, whole=whole, n=len(sample),
                  first=repr(first_trained))
    warn(text.format(fix=fix.python, **values), r=text.format(fix=fix.r, **values))


def _ms(call) -> float:
    """Milliseconds of one call() (the models have run on these inputs already: no tracing is timed)."""
    start = time.perf_counter()
    call()
    return 1000 * (time.perf_counter() - start)
