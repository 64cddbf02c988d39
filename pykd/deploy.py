"""Deployment: export a trained model for serving, and compare models' size, speed and accuracy.

A distilled student is worth deploying only if it is smaller and faster than its
teacher at an accuracy one can accept: compare() measures the three side by side,
export() writes the one chosen as a float32 TFLite file or a SavedModel folder.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from . import storage
from ._tf import keras, tf
from .api import evaluate
from .checks import check_labels_fit, check_model_fits, drop_bad_images, image_spec, label_layout, one_of, whole_number
from .errors import DataError, Setting, Text, Words
from .frames import Table, read_table, resolve_table
from .images import FileImages, ImageSpec
from .models import input_shape, load_model, output_width
from .predict import KerasRunner, float32_model, probabilities, runner

FORMATS = ("tflite", "saved_model")
MB = 2**20  # size_mb counts mebibytes


def export(model, path: str | os.PathLike, format: str | None = None) -> str:
    """Write the model for serving outside Keras; returns the path written.

    A .tflite file (float32, no quantization) runs on phones and edge devices with
    the TFLite interpreter, and predict() and compare() read it back; a SavedModel
    folder serves with TF Serving or tf.saved_model.load(). The model runs in float32.
    model: a Keras model or a .keras/.h5 path.
    path: a file ending in .tflite, or a folder for a SavedModel.
    format: "tflite" or "saved_model"; None picks "tflite" for a .tflite path, else "saved_model".
    """
    path = storage.tidy(path)  # a local path or a URL (SavedModels and .tflite files both write to gfile URLs)
    if format is None:
        suffix = os.path.splitext(storage.basename(path))[1].lower()
        if suffix not in ("", ".tflite") and not storage.isdir(path):  # "student.onnx": not what it would get
            raise DataError("{export} writes a .tflite file or a SavedModel folder, not a {suffix} file.",
                            "End the path in .tflite, or give a folder name for a SavedModel (or set {format}).",
                            export=Words("export()", "rkd_export()"), suffix=Text(suffix),
                            format=Setting("format", "saved_model"))
        format = "tflite" if suffix == ".tflite" else "saved_model"
    one_of(format, "format", FORMATS)
    model = float32_model(load_model(model))
    input_shape(model)  # a subclassed or multi-input model is refused with the reason
    if format == "saved_model" and storage.isfile(path):
        raise DataError("A SavedModel is a folder, but {path} is a file.",
                        "Give a folder path, or a path ending in .tflite for a TFLite file.", path=path)
    if format == "tflite" and storage.isdir(path):
        raise DataError("A TFLite model is one file, but {path} is a folder.", "Give a path ending in .tflite.",
                        path=path)
    storage.makedirs(storage.parent(path))
    if format == "saved_model":
        model.export(path, format="tf_saved_model", verbose=False)
    else:
        storage.write_bytes_atomic(path, tflite_bytes(model))
    return path


def tflite_bytes(model: keras.Model) -> bytes:
    """The model as a float32 TFLite flatbuffer, converted from a SavedModel of it."""
    with tempfile.TemporaryDirectory(prefix="pykd-export-") as folder:
        model.export(folder, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        converter.optimizations = []  # float32 weights and arithmetic: no quantization
        try:
            return converter.convert()
        except Exception as err:  # the converter raises ConverterError and others
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise DataError("The TFLite converter refused the model {name}: {reason}",
                            "Export a SavedModel folder instead ({example}).",
                            name=model.name, reason=Text(reason), example=Setting("format", "saved_model")) from err


def compare(
    models,
    data,
    *,
    directory: str | os.PathLike,
    x_col: str = "image_id",
    y_col="label",
    classes=None,
    image_size=None,
    rescale: float | None = None,
    batch_size: int = 32,
) -> pd.DataFrame:
    """One row per model with its size, speed and accuracy, to choose which one to deploy.

    Columns: model (the name), params, size_mb (the file's size in MiB, or a Keras model's
    size saved as .keras), ms_per_image (the forward pass alone on a batch of batch_size
    decoded images, in float32, median of repeats after a warm-up), ms_per_image_batch1
    (one image at a time, as a server answering single requests), accuracy (over the
    labeled rows of data, through evaluate() for Keras models).
    models: a dict {name: Keras model, .keras/.h5 path or .tflite file}.
    data: a labeled table: a DataFrame, CSV path or dict of columns.
    directory, x_col, y_col, classes, image_size and rescale as for evaluate().
    batch_size: images per batch for the accuracy and the batched timing.
    """
    if not isinstance(models, Mapping) or not models:
        raise DataError("models must be a dict of name to model, not {value}.", "For example {example}.",
                        value=Text(type(models).__name__),
                        example=Setting("models", {"teacher": "teacher.keras", "student": "student.tflite"}))
    batch_size = whole_number(batch_size, "batch_size")
    frame = read_table(data, name="comparison")
    table = resolve_table(frame, directory=directory, x_col=x_col, y_col=label_layout(frame, y_col, classes),
                          classes=classes, name="comparison")
    rows = []
    for name, model in models.items():
        run = runner(model)
        spec = image_spec(run.graph, image_size, rescale)
        if isinstance(run, KerasRunner):
            accuracy = evaluate(run.model, frame, directory=directory, x_col=x_col, y_col=y_col, classes=classes,
                                image_size=image_size, rescale=rescale, batch_size=batch_size)["accuracy"]
        else:
            accuracy = _accuracy(run, table, spec, batch_size)
        x = _timing_batch(table, spec, batch_size)
        rows.append({
            "model": str(name),
            "params": run.params,
            "size_mb": size_mb(model),
            "ms_per_image": ms_per_image(run, x),
            "ms_per_image_batch1": ms_per_image(run, x[:1]),
            "accuracy": float(accuracy),
        })
    return pd.DataFrame(rows, columns=["model", "params", "size_mb", "ms_per_image", "ms_per_image_batch1", "accuracy"])


def _accuracy(run, table: Table, spec: ImageSpec, batch_size: int) -> float:
    """Accuracy over the labeled rows, with evaluate()'s checks, for a model evaluate() cannot run."""
    n_classes = len(table.classes) if table.classes else output_width(run.graph)
    check_model_fits(run.graph, spec, n_classes, "model")
    check_labels_fit(table, n_classes)
    (table,) = drop_bad_images([table], "error")
    labeled = np.flatnonzero(table.labels >= 0)
    if len(labeled) == 0:
        raise DataError("The comparison table has no labeled rows.", "Give rows with labels to measure accuracy on.")
    probs = probabilities(run, [table.paths[i] for i in labeled], spec, batch_size)
    return float(np.mean(probs.argmax(axis=1) == table.labels[labeled]))


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


__all__ = ["export", "compare", "tflite_bytes", "ms_per_image", "size_mb"]
