"""evaluate(): a model's hard-label loss and accuracy on the labeled rows of a table,
the same numbers distill() reports as val_loss and val_accuracy.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Literal

from ..core.hints import ModelLike, TableLike
from ..data.images import FileImages
from ..data.stream import BatchStream
from ..models.classes import classes_of
from ..models.introspection import outputs_are_probabilities
from ..models.loading import load_model
from ..run import options
from ..run.epochs import run_test
from ..run.inputs import model_inputs, table_in_model_order
from ..run.steps import StepFunctions, StepSettings


def evaluate(
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
    on_bad_image: Literal["error", "skip"] = "error",
    model_outputs: Literal["auto", "logits", "probabilities"] = "auto",
) -> dict:
    """The model's hard-label loss and accuracy over the labeled rows of `data`.

    model: a Keras model or a .keras/.h5 path. data: a DataFrame, CSV path or dict of columns, or a
    folder of class subfolders or (x, y) arrays as distill() takes them (then without directory).
    A model that knows its classes (trained by pykd, or classifier(classes=)) reads the labels
    by name; a `classes` in another order is refused.
    Returns {"loss": float, "accuracy": float, "n": labeled rows}; the same numbers
    distill() reports as val_loss and val_accuracy on the same rows.

    Options:
    """
    o = options.checked_call("evaluate", locals())
    model = load_model(model)
    table = table_in_model_order(data, classes_of(model), directory=o.directory, x_col=o.x_col, y_col=o.y_col,
                                 classes=o.classes, name="evaluation")
    inputs = model_inputs(model, table, image_size=o.image_size, rescale=o.rescale, on_bad_image=o.on_bad_image,
                          labeled=True)
    settings = StepSettings(temperature=1.0, alpha=1.0, distilling=False,
                            student_probabilities=outputs_are_probabilities(model, o.model_outputs, "model"))
    functions = StepFunctions(model, None, settings, inputs.spec, test_labels=inputs.table.labels)
    stream = BatchStream(len(inputs.table), o.batch_size, shuffle=False, seed=0)
    return run_test(functions, FileImages(inputs.table.paths, inputs.spec), stream, stream.steps_per_pass)


evaluate.__doc__ = options.with_docs(evaluate.__doc__, "evaluate")
