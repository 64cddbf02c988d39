"""The confusion counts of a model on the labeled rows of a table: each image's true class
against its top class, read as predict() reads them (float32 probabilities, a Keras model or
a .tflite file alike). Plain lists only, so R can read them (rkd_confusion(), rkd_evaluate()).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..core.hints import ModelLike, TableLike
from ..models.classes import check_given
from .evaluate import table_probabilities
from .runners import runner


def confusion(
    model: ModelLike,
    data: TableLike,
    *,
    directory: str | os.PathLike | None = None,
    x_col: str = "image_id",
    y_col: str | Sequence[str] = "label",
    classes: Sequence[str] | None = None,
    image_size: Sequence[int] | None = None,
    rescale: float | None = None,
    batch_size: int = 32,
    on_bad_image: str = "error",
) -> dict:
    """{"classes": names or None, "n_classes": int, "counts": rows of counts (truth x prediction)}
    over the labeled rows of `data`, read in the model's class order as evaluate() reads them."""
    run = runner(model)
    check_given(classes, run.classes)
    probs, truth, inputs = table_probabilities(run, data, directory=directory, x_col=x_col, y_col=y_col,
                                               classes=classes, image_size=image_size, rescale=rescale,
                                               on_bad_image=on_bad_image, batch_size=batch_size)
    k = inputs.n_classes
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (truth, probs.argmax(axis=1)), 1)
    names = inputs.table.classes or run.classes
    return {"classes": list(names) if names else None, "n_classes": int(k),
            "counts": [[int(v) for v in row] for row in counts]}
