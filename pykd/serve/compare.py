"""Models side by side: parameters, size on disk, milliseconds per image and accuracy,
to choose which one to deploy.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..core import storage
from ..core.errors import DataError, Setting, Text
from ..core.hints import ModelLike, TableLike
from ..data.frames import Table
from ..data.images import FileImages, ImageSpec
from ..data.pipelines import check_pipeline_classes, fitted, image_batches, is_pipeline, refuse_table_options
from ..kd.losses import label_ids_and_mask
from ..models.classes import check_given, in_order
from ..models.inputs import image_spec
from ..run import options
from ..run.inputs import Inputs, model_inputs, table_in_model_order
from .predict import probabilities
from .runners import runner

MB = 2**20  # size_mb counts mebibytes


def compare(
    models: Mapping[str, ModelLike],
    data: TableLike,
    *,
    directory: str | os.PathLike | None = None,
    x_col: str = "image_id",
    y_col: str | Sequence[str] = "label",
    classes: Sequence[str] | None = None,
    image_size: Sequence[int] | None = None,
    rescale: float | None = None,
    batch_size: int = 32,
) -> pd.DataFrame:
    """One row per model with its size, speed and accuracy, to choose which one to deploy.

    Columns: model (the name), params, size_mb (the file's size in MiB, or a Keras model's
    size saved as .keras), ms_per_image (the forward pass alone on a batch of batch_size
    decoded images, in float32, median of repeats after a warm-up), ms_per_image_batch1
    (one image at a time, as a server answering single requests), accuracy (over the
    labeled rows of data, the top class of the float32 probabilities, as predict() gives them).
    models: a dict {name: Keras model, .keras/.h5 path or .tflite file}.
    data: a labeled table: a DataFrame, CSV path or dict of columns, or a folder of class subfolders,
    (x, y) arrays or a tf.data.Dataset / keras.utils.PyDataset of (images, labels) as distill() takes
    them (then without directory). batch_size is also the batch of the batched timing.

    Options:
    """
    if not isinstance(models, Mapping) or not models:
        raise DataError("models must be a dict of name to model, not {value}.", "For example {example}.",
                        value=Text(type(models).__name__),
                        example=Setting("models", {"teacher": "teacher.keras", "student": "student.tflite"}))
    o = options.checked_call("compare", locals())
    runs = {name: runner(model) for name, model in models.items()}
    for run in runs.values():
        check_given(o.classes, run.classes, f"model {run.name}")
    if is_pipeline(data):
        return _compare_pipeline(models, runs, data, o)
    # Read once, in the first named model's order; then each model reads the labels by its own class names
    # (two students trained in different orders compare fairly).
    first = next((run for run in runs.values() if run.classes is not None), None)
    table = table_in_model_order(data, None if first is None else first.classes, directory=o.directory,
                                 x_col=o.x_col, y_col=o.y_col, classes=o.classes, name="comparison",
                                 what="model" if first is None else f"model {first.name}")
    rows = []
    for (name, model), run in zip(models.items(), runs.values()):
        inputs = model_inputs(run.graph, in_order(table, run.classes, f"model {run.name}"), image_size=o.image_size,
                              rescale=o.rescale, on_bad_image="error", labeled=True)
        x = _timing_batch(inputs.table, inputs.spec, o.batch_size)
        rows.append(_row(name, model, run, x, _accuracy(run, inputs, o.batch_size)))
    return pd.DataFrame(rows, columns=COLUMNS)


COLUMNS = ["model", "params", "size_mb", "ms_per_image", "ms_per_image_batch1", "accuracy"]


def _row(name, model, run, x: np.ndarray, accuracy: float) -> dict:
    return {"model": str(name), "params": run.params, "size_mb": size_mb(model), "ms_per_image": ms_per_image(run, x),
            "ms_per_image_batch1": ms_per_image(run, x[:1]), "accuracy": accuracy}


def _compare_pipeline(models, runs, data, o) -> pd.DataFrame:
    """compare() on a dataset of (images, labels): read once into memory, each model scored on its labeled rows."""
    refuse_table_options(vars(o), "comparison")
    batches = list(image_batches(data, o.batch_size, "comparison"))
    if any(y is None for _, y in batches):
        raise DataError("The comparison dataset gives images without labels.", "Give (images, labels).")
    pixels = np.concatenate([np.asarray(x, np.float32) for x, _ in batches])
    ids, mask = (np.concatenate(parts) for parts in zip(*[(i.numpy(), m.numpy()) for i, m in
                                                          (label_ids_and_mask(y) for _, y in batches)]))
    rows = []
    for (name, model), run in zip(models.items(), runs.values()):
        check_pipeline_classes(data, run.classes, "comparison")
        spec = image_spec(run.graph, o.image_size, o.rescale)
        x = spec.to_inputs(fitted(pixels, spec)).numpy()
        probs = np.concatenate([run.probabilities(x[i:i + o.batch_size]) for i in range(0, len(x), o.batch_size)])
        labeled = mask > 0
        rows.append(_row(name, model, run, x[np.arange(o.batch_size) % len(x)],
                         float(np.mean(probs[labeled].argmax(axis=1) == ids[labeled]))))
    return pd.DataFrame(rows, columns=COLUMNS)


compare.__doc__ = options.with_docs(compare.__doc__, "compare")


def _accuracy(run, inputs: Inputs, batch_size: int) -> float:
    """The share of labeled rows whose top class is their label."""
    labeled = np.flatnonzero(inputs.table.labels >= 0)
    probs = probabilities(run, [inputs.table.paths[i] for i in labeled], inputs.spec, batch_size)
    return float(np.mean(probs.argmax(axis=1) == inputs.table.labels[labeled]))


def _timing_batch(table: Table, spec: ImageSpec, batch_size: int) -> np.ndarray:
    """batch_size model inputs decoded from the table's first images (repeated when it has fewer)."""
    rows = np.arange(batch_size) % len(table)
    (_, pixels), = FileImages(table.paths, spec).dataset([rows])
    return spec.to_inputs(pixels).numpy()


def ms_per_image(run, x: np.ndarray, min_runs: int = 3, max_runs: int = 30, budget_s: float = 1.0) -> float:
    """Milliseconds per image of run.probabilities(x): the median of repeats after one warm-up call."""
    run.probabilities(x)  # traces the function, or sizes the interpreter, for this batch size
    times = []
    while len(times) < min_runs or (len(times) < max_runs and sum(times) < budget_s):
        start = time.perf_counter()
        run.probabilities(x)
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times)) / len(x)


def size_mb(model) -> float:
    """The size of a model file or folder in MiB; a Keras model is saved as .keras to measure it."""
    if isinstance(model, (str, os.PathLike)):
        path = storage.name(model)
        files = [storage.join(path, p) for p in storage.files_under(path)] if storage.isdir(path) else [path]
        return sum(storage.size(p) for p in files) / MB
    with tempfile.TemporaryDirectory(prefix="pykd-size-") as folder:
        saved = Path(folder) / "model.keras"
        model.save(saved)
        return saved.stat().st_size / MB
