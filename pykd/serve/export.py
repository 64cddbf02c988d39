"""Deployment: export a trained model for serving, and compare models' size, speed and accuracy.

A distilled student is worth deploying only if it is smaller and faster than its
teacher at an accuracy one can accept: compare() measures the three side by side,
export() writes the one chosen as a TFLite file (float32, or quantized down to int8) or a SavedModel folder.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

import numpy as np

from .._tf import keras, tf
from ..core import storage
from ..core.errors import DataError, Setting, Text, Words, few
from ..core.hints import ModelLike, TableLike
from ..core.validation import one_of
from ..models.classes import classes_of, tflite_with_classes
from ..models.introspection import input_shape
from ..models.loading import load_model
from ..models.precision import computing_in
from ..run import options
from .representative import representative_inputs

FORMATS = ("tflite", "saved_model")
QUANTIZATIONS = ("dynamic", "float16", "int8")


def export(
    model: ModelLike,
    path: str | os.PathLike,
    format: str | None = None,
    quantize: str | None = None,
    representative: TableLike | tf.data.Dataset | np.ndarray | None = None,
    *,
    directory: str | os.PathLike | None = None,
    x_col: str = "image_id",
    image_size: Sequence[int] | None = None,
    rescale: float | None = None,
) -> str:
    """Write the model for serving outside Keras; returns the path written.

    A .tflite file runs on phones and edge devices with the TFLite interpreter, and predict()
    and compare() read it back; a SavedModel folder serves with TF Serving or
    tf.saved_model.load(). The model runs in float32.
    A model that knows its classes (pykd.models.classes_of) keeps them: in the .tflite
    file's metadata (entry "pykd_classes", JSON), or as assets.extra/labels.txt, one per line.
    model: a Keras model or a .keras/.h5 path.
    path: a file ending in .tflite, or a folder for a SavedModel.
    format: "tflite" or "saved_model"; None picks "tflite" for a .tflite path, else "saved_model".
    quantize: for a .tflite file, None (float32 weights), "dynamic" (int8 weights, about a quarter of
        the size; inputs and outputs stay float32), "float16" (float16 weights, half the size) or "int8"
        (full-integer: int8 weights and activations, for integer-only hardware such as the Edge TPU or
        microcontrollers; its input and output tensors are int8 too, with the scale and zero point
        TFLite records, which predict() and compare() apply). compare() measures what it costs in
        accuracy and gains in size and speed.
    representative: for quantize="int8" only, and needed then: real images the converter runs the model
        on to measure the range of every activation, in any form distill() takes: a table naming
        image files (a DataFrame, CSV path or dict of columns, with directory and x_col), a folder of
        class subfolders, (x, y) or x uint8 arrays, or a tf.data.Dataset yielding images or (image,
        label) pairs, batched or not (pixel values 0..255, as files give them). They are read as
        predict() reads images, at the model's input size and multiplied by rescale, which must be
        the rescale the model was trained with. At most 200 are used: spread evenly through a table,
        the first ones of a dataset.

    Options:
    """
    o = options.checked_call("export", locals())
    _check_quantize(quantize, representative, o)
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
    if quantize is not None and format != "tflite":
        raise DataError("{quantize} applies to a .tflite file; a SavedModel keeps the model's own weights.",
                        "End the path in .tflite, or leave quantize out.", quantize=Setting("quantize", quantize))
    model = load_model(model)
    input_shape(model)  # a subclassed or multi-input model is refused with the reason
    if format == "saved_model" and storage.isfile(path):
        raise DataError("A SavedModel is a folder, but {path} is a file.",
                        "Give a folder path, or a path ending in .tflite for a TFLite file.", path=path)
    if format == "tflite" and storage.isdir(path):
        raise DataError("A TFLite model is one file, but {path} is a folder.", "Give a path ending in .tflite.",
                        path=path)
    calibration = None if quantize != "int8" else representative_inputs(
        model, representative, directory=o.directory, x_col=o.x_col, image_size=o.image_size, rescale=o.rescale)
    storage.makedirs(storage.parent(path))
    with computing_in([model], "float32"):  # traced in float32 whatever the model's policy, which is left as it was
        if format == "saved_model":
            model.export(path, format="tf_saved_model", verbose=False)
            if classes_of(model) is not None:
                storage.makedirs(storage.join(path, "assets.extra"))
                labels = "".join(f"{name}\n" for name in classes_of(model)).encode()
                storage.write_bytes_atomic(storage.join(path, "assets.extra", "labels.txt"), labels)
        else:
            storage.write_bytes_atomic(path, tflite_with_classes(tflite_bytes(model, quantize, calibration), classes_of(model)))
    return path


export.__doc__ = options.with_docs(export.__doc__, "export")

# How export() is told which images to calibrate an int8 file on, in each language.
REPRESENTATIVE = Words('representative="train.csv", directory="images/" (or a class folder, or x arrays)',
                       'representative = df, directory = "images/" (or a folder of class subfolders)')


def _check_quantize(quantize, representative, o) -> None:
    """quantize is one of QUANTIZATIONS; representative images come with "int8", and only with it."""
    if quantize is not None:
        one_of(quantize, "quantize", QUANTIZATIONS)
    if quantize == "int8" and representative is None:
        raise DataError("{quantize} quantizes the activations too, which needs representative images to measure "
                        "their ranges.", "Pass {how}: a few hundred of the images the model will see.",
                        quantize=Setting("quantize", "int8"), how=REPRESENTATIVE)
    reading = [name for name in ("directory", "image_size", "rescale") if getattr(o, name) is not None]
    if quantize != "int8" and (representative is not None or reading):
        given = ["representative"] if representative is not None else reading
        raise DataError("{given} {verb} for the images an int8 file is calibrated on, but the export has {quantize}.",
                        "Pass {int8} with {how}, or leave {given} out.", given=few([Text(n) for n in given]),
                        verb=Text("is" if len(given) == 1 else "are"), quantize=Setting("quantize", quantize),
                        int8=Setting("quantize", "int8"), how=REPRESENTATIVE)


def tflite_bytes(model: keras.Model, quantize: str | None = None, representative: np.ndarray | None = None) -> bytes:
    """The model as a TFLite flatbuffer, converted from a SavedModel of it: float32, or its weights
    quantized, or (quantize="int8") full-integer, calibrated on the `representative` model inputs (see export())."""
    with tempfile.TemporaryDirectory(prefix="pykd-export-") as folder:
        model.export(folder, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        converter.optimizations = [] if quantize is None else [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if quantize == "int8":  # every op in int8, the input and output tensors too (no float fallback)
            converter.representative_dataset = lambda: ([representative[i:i + 1]] for i in range(len(representative)))
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = converter.inference_output_type = tf.int8
        try:
            return converter.convert()
        except Exception as err:  # the converter raises ConverterError and others
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise DataError("The TFLite converter refused the model {name}: {reason}",
                            "Export a SavedModel folder instead ({example}).",
                            name=model.name, reason=Text(reason), example=Setting("format", "saved_model")) from err
