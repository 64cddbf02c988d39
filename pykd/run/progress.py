"""Progress for the one-off passes before training (decoding images, the teacher's logits), and their timings."""

from __future__ import annotations

import time
from contextlib import contextmanager

from .._tf import keras


def progress_printer(verbose: int, title: str):
    """An update(step, total) function drawing a Keras progress bar at verbose=1, else None."""
    if verbose != 1:
        return None
    bar: dict = {}

    def update(step: int, total: int) -> None:
        if "bar" not in bar:
            print(title)
            bar["bar"] = keras.utils.Progbar(total)
        bar["bar"].update(step)

    return update


@contextmanager
def timed(timings: dict, key: str):
    """Add the seconds the block takes to timings[key] (the history's params report them)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = round(timings.get(key, 0.0) + time.perf_counter() - started, 3)
