"""Sweep temperatures and alphas: one row of final metrics per setting, one teacher cache."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .._tf import keras
from ..api import distill
from ..core.errors import DataError, Setting, Words, kind
from ..core.hints import ModelLike, TableLike, TeacherLike
from ..core.validation import loss_settings, one_of
from ..data.augmentation import Augmentation
from ..kd.teacher import is_logits_table
from ..models.classes import classes_of, set_classes
from ..models.loading import load_model
from ..run.options import declared
from .precompute import teacher_logits


def sweep(
    teacher: TeacherLike,
    student: ModelLike,
    train: TableLike,
    *,
    directory: str | os.PathLike | None,
    temperatures: Sequence[float] = (1.0, 2.0, 4.0, 8.0),
    alphas: Sequence[float] = (0.1, 0.5),
    x_col: str = "image_id",
    classes: Sequence[str] | None = None,
    verbose: int = 0,
    keep_best: bool = False,
    **options: object,
) -> pd.DataFrame:
    """Distill a fresh copy of `student` (same initial weights) for every (temperature, alpha).

    Without augmentation the teacher's logits are computed once and shared by all
    runs. Returns a tidy DataFrame: temperature, alpha, the final epoch's metrics,
    and best_val_accuracy when validated.

    teacher, student, train, directory, x_col, classes: as for distill(); the student
    itself is left unchanged (each setting trains a copy), unless keep_best.
    temperatures, alphas: the grid; every pair is one run.
    verbose: as for distill() (quiet by default).
    keep_best: give `student` the weights of the setting with the highest final
        val_accuracy (ties: the lower final val_loss), marked in a "best" column; it needs
        `validation`. The table's attrs["student"] is that model (the one passed, or
        loaded from its path).
    options: any other distill() option (epochs, batch_size, validation, augment, ...).
    """
    pairs = grid(temperatures, alphas)
    one_of(keep_best, "keep_best", (True, False))
    if keep_best and options.get("validation") is None:
        raise DataError("{keep} picks the setting by its validation accuracy, and no validation table was given.",
                        "Pass a validation table (of images not trained on), or leave {off}.",
                        keep=Setting("keep_best", True), off=Setting("keep_best", False))
    student = load_model(student, role="student")
    initial = student.get_weights()
    teacher = _shared_teacher(teacher, train, directory, x_col, options)
    rows, best, best_weights = [], None, None
    optimizer = options.get("optimizer")
    try:
        for temperature, alpha in pairs:
            fresh = set_classes(keras.models.clone_model(student), classes_of(student))  # a clone forgets them
            fresh.set_weights(initial)
            if isinstance(optimizer, keras.optimizers.Optimizer):
                # Each setting its own copy: one object would carry its step count (the schedule's
                # position) and moments into the next run, and is built for the first run's weights.
                options["optimizer"] = type(optimizer).from_config(optimizer.get_config())
            history = distill(teacher, fresh, train, directory=directory, temperature=temperature, alpha=alpha,
                              x_col=x_col, classes=classes, verbose=verbose, **options)
            rows.append(_row(temperature, alpha, history))
            score = (rows[-1].get("val_accuracy", float("nan")), -rows[-1].get("val_loss", float("nan")))
            if keep_best and np.all(np.isfinite(score)) and (best is None or score > best[0]):
                best, best_weights = (score, len(rows) - 1), fresh.get_weights()
    except KeyboardInterrupt as err:  # Ctrl-C: the finished settings travel with it (keep_best among them)
        err.sweep = _table(rows, student, best, best_weights, keep_best, interrupted=True)
        raise
    return _table(rows, student, best, best_weights, keep_best)


def _row(temperature: float, alpha: float, history) -> dict:
    """A setting's row: temperature, alpha, epochs, its final metrics (and best_val_accuracy)."""
    last = history.last()
    row = {"temperature": temperature, "alpha": alpha, "epochs": len(history), **last}
    row.pop("epoch", None)
    if "val_accuracy" in last:
        row["best_val_accuracy"] = float(history.to_frame()["val_accuracy"].max())
    return row


def _table(rows, student, best, best_weights, keep_best, interrupted=False) -> pd.DataFrame:
    """The sweep's table of `rows`; with keep_best the student takes the best setting's weights."""
    table = pd.DataFrame(rows)
    if keep_best:
        if best_weights is None:
            if interrupted:  # no finished setting to choose from: the student stays as it was
                return table
            raise DataError("No setting of the sweep ended with a finite validation accuracy and loss: "
                            "there is no best student to keep.", "Look at the table of a sweep without keep_best.")
        student.set_weights(best_weights)
        table["best"] = table.index == best[1]
        table.attrs["student"] = student
    return table


def _shared_teacher(teacher, train, directory, x_col: str, options: dict):
    """The teacher's logits computed once for every setting when they can be (no augmentation the
    teacher follows, no hint), taking the teacher's own options out of `options`; else the teacher."""
    augment = Augmentation.coerce(options.get("augment"))
    original = options.get("teacher_view", "same") == "clean"  # the teacher's logits of the original images
    hint = options.get("hint") is not None  # a hint reads a teacher layer every step: the model itself
    if is_logits_table(teacher) or hint or not (augment is None or augment.is_identity or original):
        return teacher
    ensemble = isinstance(teacher, (list, tuple))
    members = [load_model(m, role="teacher") for m in (teacher if ensemble else [teacher])]
    if any(classes_of(m) is not None for m in members):
        return members if ensemble else members[0]  # it knows its classes: distill() matches the table to them
    shared = {o.name: options[o.name] for o in declared("teacher_logits") if o.name in options}
    logits = teacher_logits(members if ensemble else members[0], train, directory=directory, x_col=x_col, **shared)
    for name in [name for name in shared if name.startswith("teacher_")]:  # the table has them in it now
        options.pop(name)
    return logits


def grid(temperatures, alphas) -> list[tuple[float, float]]:
    """Every (temperature, alpha) pair, each checked as distill() would, before any run starts."""
    values = {}
    for name, given, example in (("temperatures", temperatures, [1, 2, 4, 8]), ("alphas", alphas, [0.1, 0.5])):
        many = isinstance(given, (Sequence, np.ndarray, pd.Series)) and not isinstance(given, (str, bytes, Mapping))
        if not many or len(given) == 0:
            raise DataError(f"{name} must be {{forms}}, not {{value}}.", "For example {example}.",
                            forms=Words("a list of one or more numbers", "a vector of one or more numbers"),
                            value=kind(given), example=Setting(name, example))
        values[name] = list(given)
    return [loss_settings(t, a) for t in values["temperatures"] for a in values["alphas"]]
