"""The settings of a run that are objects rather than plain values: the optimizer
recipe, the callbacks and the distribution strategy.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

from .._tf import keras, tf
from ..core.errors import DataError, Setting, Words, few, kind, shown
from .schedule import PEAK


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


def optimizer_recipe(optimizer, learning_rate):
    """(optimizer, None) for an optimizer object, or (its class, learning rate) for a name.

    The object itself is made by the run, under its strategy's scope.
    learning_rate: a number > 0 (the peak of the run's schedule) or a keras LearningRateSchedule; None means
    pykd.run.schedule.PEAK.
    """
    if isinstance(optimizer, keras.optimizers.Optimizer):
        if learning_rate is not None:
            raise DataError("learning_rate is given next to an optimizer object, which has its own.",
                            "Set the rate on the optimizer, e.g. keras.optimizers.Adam(learning_rate=1e-4), or pass its name.")
        return optimizer, None
    if learning_rate is None:
        learning_rate = PEAK
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


def strategy_setting(strategy):
    """None (one device) or a tf.distribute.Strategy."""
    if strategy is not None and not isinstance(strategy, tf.distribute.Strategy):
        raise DataError(f"strategy must be a tf.distribute.Strategy, not {type(strategy).__name__}.",
                        "For example tf.distribute.MirroredStrategy(), or None for one device.")
    return strategy
