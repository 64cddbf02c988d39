"""The epoch's metrics: sums kept on the device in float64, one slot each, and the row-weighted
means the history records (a short last batch counts for exactly the rows it holds)."""

from __future__ import annotations

import numpy as np

from .._tf import tf

LOSS, HARD, SOFT, CORRECT, ROWS, LABELED, HINT = range(7)
SLOTS = 7


def accumulate(sums, per_row, hard, soft, correct, mask, hint=None, counted=None) -> None:
    """Add a batch's sums; `counted` (1 a row, 0 a stand-in) counts its rows, by default all of them."""
    total = lambda v: tf.reduce_sum(tf.cast(v, tf.float64))  # noqa: E731
    sums.assign_add(tf.stack([total(per_row), total(hard), total(soft), total(correct),
                              total(tf.ones_like(mask) if counted is None else counted), total(mask),
                              tf.constant(0.0, tf.float64) if hint is None else total(hint)]))


def means(sums: np.ndarray, hint: bool = False, distilling: bool = True) -> dict[str, float]:
    """The epoch's means, in History.columns' order (hint_loss before accuracy); no distillation_loss
    without a teacher."""
    return {name: float(value) for name, value in
            mean_tensors(sums, hint=hint, distilling=distilling, dtype=tf.float64).items()}


def test_means(sums: np.ndarray) -> dict[str, float]:
    """The student's hard-label loss and accuracy over labeled rows, and how many."""
    values = means(sums)
    return {"loss": values["student_loss"], "accuracy": values["accuracy"], "n": int(sums[LABELED])}


def mean_tensors(sums, hint: bool = False, distilling: bool = True, test: bool = False, dtype=tf.float32) -> dict:
    """The means as tensors of `dtype`, read on the device: the logs a Keras train_step (or, test=True, a
    test_step: the hard-label loss and accuracy) returns. Per row, or per labeled row for the hard term and
    accuracy; NaN when there is none."""
    sums = tf.convert_to_tensor(sums, tf.float64)
    nan = tf.constant(float("nan"), tf.float64)
    per = lambda v, n: tf.cast(tf.where(n > 0, v / tf.where(n > 0, n, 1.0), nan), dtype)  # noqa: E731
    student = per(sums[HARD], sums[LABELED])
    accuracy = per(sums[CORRECT], sums[LABELED])
    if test:
        return {"loss": student, "accuracy": accuracy}
    values = {"loss": per(sums[LOSS], sums[ROWS]), "student_loss": student}
    if distilling:
        values["distillation_loss"] = per(sums[SOFT], sums[ROWS])
    if hint:
        values["hint_loss"] = per(sums[HINT], sums[ROWS])
    return {**values, "accuracy": accuracy}
