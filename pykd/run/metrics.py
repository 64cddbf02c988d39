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
    rows, labeled = sums[ROWS], sums[LABELED]
    per_row = (lambda v: float(v / rows)) if rows else (lambda v: float("nan"))
    per_labeled = (lambda v: float(v / labeled)) if labeled > 0 else (lambda v: float("nan"))
    values = {"loss": per_row(sums[LOSS]), "student_loss": per_labeled(sums[HARD])}
    if distilling:
        values["distillation_loss"] = per_row(sums[SOFT])
    if hint:
        values["hint_loss"] = per_row(sums[HINT])
    return {**values, "accuracy": per_labeled(sums[CORRECT])}


def test_means(sums: np.ndarray) -> dict[str, float]:
    """The student's hard-label loss and accuracy over labeled rows, and how many."""
    values = means(sums)
    return {"loss": values["student_loss"], "accuracy": values["accuracy"], "n": int(sums[LABELED])}


def mean_tensors(sums, hint: bool = False, distilling: bool = True, test: bool = False) -> dict:
    """`means` (or, test=True, `test_means` but n) as float32 tensors: the logs a Keras train_step or
    test_step returns, read on the device."""
    sums = tf.convert_to_tensor(sums)
    nan = tf.constant(float("nan"), tf.float64)
    per = lambda v, n: tf.cast(tf.where(n > 0, v / tf.where(n > 0, n, 1.0), nan), tf.float32)  # noqa: E731
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
