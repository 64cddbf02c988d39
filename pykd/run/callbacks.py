"""A Keras callback that calls plain functions with plain values (ints, floats, dicts).

R functions passed through reticulate are Python callables, so this is how the
R package drives its own progress bar without any tensor crossing the boundary.
"""

from __future__ import annotations

from collections.abc import Callable

from .._tf import keras


class FunctionCallback(keras.callbacks.Callback):
    # Its batch hook passes on step counts only, so the trainer need not read metrics every batch.
    reads_batch_logs = False

    def __init__(
        self,
        on_train_begin: Callable[[dict], object] | None = None,
        on_epoch_begin: Callable[[int], object] | None = None,
        on_batch_end: Callable[[int, int], object] | None = None,
        on_epoch_end: Callable[[int, dict], object] | None = None,
    ):
        super().__init__()
        self._train_begin = on_train_begin
        self._epoch_begin = on_epoch_begin
        self._batch_end = on_batch_end
        self._epoch_end = on_epoch_end

    def on_train_begin(self, logs=None):
        if self._train_begin:
            self._train_begin({"epochs": int(self.params.get("epochs", 0)), "steps": int(self.params.get("steps") or 0)})

    def on_epoch_begin(self, epoch, logs=None):
        if self._epoch_begin:
            self._epoch_begin(int(epoch) + 1)

    def on_train_batch_end(self, batch, logs=None):
        if self._batch_end:
            self._batch_end(int(batch) + 1, int(self.params.get("steps") or 0))

    def on_epoch_end(self, epoch, logs=None):
        if self._epoch_end:
            plain = {k: float(v) for k, v in (logs or {}).items()}
            self._epoch_end(int(epoch) + 1, plain)
