"""evaluate(): a model's hard-label loss and accuracy on the labeled rows of a table,
the same numbers distill() reports as val_loss and val_accuracy.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Literal

import numpy as np

from .._tf import tf
from ..core.errors import DataError
from ..core.hints import ModelLike, TableLike
from ..data.images import FileImages
from ..data.pipelines import check_pipeline_classes, image_batches, is_pipeline, refuse_table_options
from ..data.stream import BatchStream
from ..kd.losses import label_ids_and_mask
from ..models.classes import check_given, classes_of
from ..models.inputs import image_spec
from ..models.introspection import outputs_are_probabilities
from ..models.loading import load_model
from ..run import metrics, options
from ..run.epochs import run_test
from ..run.inputs import Inputs, model_inputs, table_in_model_order
from ..run.steps import StepFunctions, StepSettings
from .predict import probabilities
from .runners import runner


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

    model: a Keras model, a .keras/.h5 path or a .tflite file written by export().
    data: a DataFrame, CSV path or dict of columns, or a folder of class subfolders, (x, y) arrays
    or a tf.data.Dataset / keras.utils.PyDataset of (images, labels) as distill() takes them (then
    without directory).
    A model that knows its classes (trained by pykd, or classifier(classes=)) reads the labels
    by name; a `classes` in another order is refused.
    Returns {"loss": float, "accuracy": float, "n": labeled rows}; the same numbers
    distill() reports as val_loss and val_accuracy on the same rows.

    Options:
    """
    o = options.checked_call("evaluate", locals())
    if isinstance(model, (str, os.PathLike)) and str(model).lower().endswith(".tflite"):
        return _evaluate_tflite(model, data, o)
    model = load_model(model)
    if is_pipeline(data):
        return _evaluate_pipeline(model, data, o)
    table = table_in_model_order(data, classes_of(model), directory=o.directory, x_col=o.x_col, y_col=o.y_col,
                                 classes=o.classes, name="evaluation")
    inputs = model_inputs(model, table, image_size=o.image_size, rescale=o.rescale, on_bad_image=o.on_bad_image,
                          labeled=True)
    settings = StepSettings(temperature=1.0, alpha=1.0, distilling=False,
                            student_probabilities=outputs_are_probabilities(model, o.model_outputs, "model"))
    functions = StepFunctions(model, None, settings, inputs.spec, test_labels=inputs.table.labels)
    stream = BatchStream(len(inputs.table), o.batch_size, shuffle=False, seed=0)
    return run_test(functions, FileImages(inputs.table.paths, inputs.spec), stream, stream.steps_per_pass)


def _evaluate_tflite(path, data, o) -> dict:
    """evaluate() of an exported .tflite file, from its float32 probabilities as predict() reads them:
    the mean cross-entropy with the labels (probabilities clipped at 1e-7, as Keras clips them) and
    the accuracy of the top class."""
    run = runner(path, o.model_outputs)
    check_given(o.classes, run.classes)
    probs, truth = _pipeline_probabilities(run, data, o) if is_pipeline(data) else _table_probabilities(run, data, o)
    given = np.clip(probs[np.arange(len(truth)), truth].astype(np.float64), 1e-7, 1.0)
    return {"loss": float(-np.log(given).mean()), "accuracy": float((probs.argmax(axis=1) == truth).mean()),
            "n": len(truth)}


def _table_probabilities(run, data, o) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, labels) of a table's labeled rows."""
    probs, truth, _ = table_probabilities(run, data, directory=o.directory, x_col=o.x_col, y_col=o.y_col,
                                          classes=o.classes, image_size=o.image_size, rescale=o.rescale,
                                          on_bad_image=o.on_bad_image, batch_size=o.batch_size)
    return probs, truth


def table_probabilities(run, data, *, directory, x_col, y_col, classes, image_size, rescale, on_bad_image,
                        batch_size) -> tuple[np.ndarray, np.ndarray, Inputs]:
    """(float32 probabilities, labels, the checked inputs) of a table's labeled rows, read in the model's
    class order as predict() reads them (a Keras model or a .tflite file: runners.runner)."""
    table = table_in_model_order(data, run.classes, directory=directory, x_col=x_col, y_col=y_col,
                                 classes=classes, name="evaluation")
    inputs = model_inputs(run.graph, table, image_size=image_size, rescale=rescale, on_bad_image=on_bad_image,
                          labeled=True)
    labeled = np.flatnonzero(inputs.table.labels >= 0)
    return probabilities(run, [inputs.table.paths[i] for i in labeled], inputs.spec, batch_size), \
        inputs.table.labels[labeled], inputs


def _pipeline_probabilities(run, data, o) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, labels) of a dataset's labeled rows."""
    refuse_table_options(vars(o), "evaluation")
    check_pipeline_classes(data, run.classes, "evaluation")
    spec = image_spec(run.graph, o.image_size, o.rescale)
    probs, truth = [], []
    for x, y in image_batches(data, o.batch_size, "evaluation", spec):
        if y is None:
            raise DataError("The evaluation dataset gives images without labels.", "Give (images, labels).")
        ids, mask = (np.asarray(t) for t in label_ids_and_mask(y))
        probs.append(run.probabilities(spec.to_inputs(x))[mask > 0])
        truth.append(ids[mask > 0])
    return np.concatenate(probs), np.concatenate(truth)


def _evaluate_pipeline(model, data, o) -> dict:
    """evaluate() over a dataset's batches: the same test step, on the labels each batch brings."""
    refuse_table_options(vars(o), "evaluation")
    check_pipeline_classes(data, classes_of(model), "evaluation")
    settings = StepSettings(temperature=1.0, alpha=1.0, distilling=False,
                            student_probabilities=outputs_are_probabilities(model, o.model_outputs, "model"))
    spec = image_spec(model, o.image_size, o.rescale)
    functions = StepFunctions(model, None, settings, spec)
    step = tf.function(functions.batch_test_step, reduce_retracing=True)
    for x, y in image_batches(data, o.batch_size, "evaluation", spec):
        if y is None:
            raise DataError("The evaluation dataset gives images without labels.", "Give (images, labels).")
        step(x, y)
    result = metrics.test_means(functions.test_sums.numpy())
    if result["n"] == 0:
        raise DataError("The evaluation dataset has no labeled rows.", "Give rows with labels to measure accuracy on.")
    return result


evaluate.__doc__ = options.with_docs(evaluate.__doc__, "evaluate")
