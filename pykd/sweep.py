"""Sweep temperatures and alphas: one row of final metrics per setting, one teacher cache."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ._tf import keras
from .api import distill
from .images import Augmentation
from .models import load_model
from .precompute import teacher_logits
from .teacher import is_logits_table


def sweep(
    teacher,
    student,
    train,
    *,
    directory,
    temperatures: Sequence[float] = (1.0, 2.0, 4.0, 8.0),
    alphas: Sequence[float] = (0.1, 0.5),
    x_col: str = "image_id",
    classes: Sequence[str] | None = None,
    verbose: int = 0,
    **options,
) -> pd.DataFrame:
    """Distill a fresh copy of `student` (same initial weights) for every (temperature, alpha).

    Without augmentation the teacher's logits are computed once and shared by all
    runs. Returns a tidy DataFrame: temperature, alpha, the final epoch's metrics,
    and best_val_accuracy when validated.

    teacher, student, train, directory, x_col, classes: as for distill(); the student
    itself is left unchanged (each setting trains a copy).
    temperatures, alphas: the grid; every pair is one run.
    verbose: as for distill() (quiet by default).
    options: any other distill() option (epochs, batch_size, validation, augment, ...).
    """
    student = load_model(student, role="student")
    initial = student.get_weights()
    augment = Augmentation.coerce(options.get("augment"))
    if not is_logits_table(teacher) and (augment is None or augment.is_identity):
        teacher = teacher_logits(
            teacher, train, directory=directory, x_col=x_col, image_size=options.get("image_size"),
            rescale=options.get("rescale"), batch_size=options.get("batch_size", 32),
            teacher_outputs=options.get("teacher_outputs", "auto"), on_bad_image=options.get("on_bad_image", "error"),
            teacher_precision=options.get("teacher_precision", "auto"),
        )
        options.pop("teacher_outputs", None)
        options.pop("teacher_precision", None)
    rows = []
    for temperature in temperatures:
        for alpha in alphas:
            fresh = keras.models.clone_model(student)
            fresh.set_weights(initial)
            history = distill(teacher, fresh, train, directory=directory, temperature=temperature, alpha=alpha,
                              x_col=x_col, classes=classes, verbose=verbose, **options)
            last = history.last()
            row = {"temperature": float(temperature), "alpha": float(alpha), "epochs": len(history), **last}
            row.pop("epoch", None)
            if "val_accuracy" in last:
                row["best_val_accuracy"] = float(history.to_frame()["val_accuracy"].max())
            rows.append(row)
    return pd.DataFrame(rows)
