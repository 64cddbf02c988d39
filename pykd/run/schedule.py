"""The learning rate a run trains at: by default a short linear warm-up, then a cosine decay to 0 over the run.

A fixed rate ends a short run mid-descent; one that decays ends it settled (Beyer et al.
2022, timm). benchmarks/quality/defaults.py measures the default against a fixed 1e-3 on
students of four kinds, in both regimes, on probe draws: README.md has the figures.
"""

from __future__ import annotations

from .._tf import keras

PEAK = 3e-3  # the rate the warm-up reaches when learning_rate is not given
WARMUP = 0.05  # the share of the run's steps spent warming up (none under 10 steps)
# Keras callbacks that set the optimizer's rate themselves: a schedule would leave them nothing to set.
RATE_SETTERS = (keras.callbacks.ReduceLROnPlateau, keras.callbacks.LearningRateScheduler)


def warmup_cosine(peak: float, steps: int) -> keras.optimizers.schedules.LearningRateSchedule:
    """From peak / (w + 1) up to `peak` over w = WARMUP * steps steps, then down to 0 by a cosine at step `steps`."""
    warm = round(WARMUP * steps)
    if warm == 0:
        return keras.optimizers.schedules.CosineDecay(peak, max(1, steps))
    return keras.optimizers.schedules.CosineDecay(peak / (warm + 1), steps - warm, warmup_target=peak,
                                                  warmup_steps=warm)  # fmt: skip


def run_rate(learning_rate, steps: int | None, callbacks=()):
    """What a named optimizer is made with: a schedule as given; a number as the peak of warmup_cosine over the
    run's `steps`, or as a fixed rate when the length is unknown (None) or a callback sets the rate."""
    if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        return learning_rate
    if steps is None or any(isinstance(c, RATE_SETTERS) for c in callbacks):
        return learning_rate
    return warmup_cosine(learning_rate, steps)


def make_optimizer(optimizer, learning_rate, steps: int | None, callbacks=()) -> keras.optimizers.Optimizer:
    """The run's optimizer: an optimizer object as given (learning_rate None), else a new one of the named class."""
    if learning_rate is None:
        return optimizer
    return optimizer(learning_rate=run_rate(learning_rate, steps, callbacks))


def described(optimizer: keras.optimizers.Optimizer) -> dict:
    """The optimizer's rate as plain values for history.params: fixed, warm-up and cosine, or another schedule."""
    rate = optimizer._learning_rate if hasattr(optimizer, "_learning_rate") else optimizer.learning_rate
    if not isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        return {"schedule": "constant", "rate": float(f"{float(keras.ops.convert_to_numpy(rate)):.7g}")}
    config = rate.get_config()
    if isinstance(rate, keras.optimizers.schedules.CosineDecay):
        peak = config.get("warmup_target") or config["initial_learning_rate"]
        return {"schedule": "cosine", "peak": float(peak), "warmup_steps": int(config.get("warmup_steps") or 0),
                "steps": int(config["decay_steps"]) + int(config.get("warmup_steps") or 0)}  # fmt: skip
    return {"schedule": type(rate).__name__}
