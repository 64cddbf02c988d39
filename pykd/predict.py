"""Predictions for a table (or a folder) of images: one row per image, a label and class probabilities.

The images are read exactly as for training (pykd.images), the table is checked by
the same rules (pykd.frames, pykd.checks), and the model runs in float32 whatever
its dtype policy: bfloat16 rounds near-equal probabilities into ties, and a tie's
label is then arbitrary. A Keras model and an exported .tflite file give the same frame.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd

from . import storage
from ._tf import keras, tf
from .checks import check_model_fits, drop_bad_images, image_spec, one_of, whole_number
from .errors import DataError, Setting, Text, few
from .frames import Table, read_table, resolve_table
from .images import Augmentation, FileImages, ImageSpec, build_augmenter
from .models import Forward, _flat_layers, input_shape, load_model, output_kind, output_width, outputs_are_probabilities

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
# Test-time augmentation: each view is a random left-right flip and a shift of up to 10%.
TTA_AUGMENTATION = Augmentation(width_shift_range=0.1, height_shift_range=0.1, horizontal_flip=True)
TTA_SEED = 0  # the same views on every call, so predictions repeat


class _Tensor:
    """The shape of a model input or output, for the checks that read model.inputs / model.outputs."""

    def __init__(self, shape):
        self.shape = tuple(None if d is None or d < 0 else int(d) for d in shape)


class _Runner:
    """Class probabilities in float32 from a model's raw outputs, read as pykd reads every model.

    Whether the outputs are probabilities is decided on the first batch: "auto" takes
    a softmax last layer or rows >= 0 summing to 1; a declared kind the values
    contradict is refused (pykd.models.output_kind).
    """

    declared = "auto"
    probabilities_out: bool | None = None

    def probabilities(self, x) -> np.ndarray:
        x = tf.convert_to_tensor(x, tf.float32)
        if self.probabilities_out is None:
            self.probabilities_out = self._kind(x)
        out = self.raw(x)
        return out if self.probabilities_out else tf.nn.softmax(out, axis=-1).numpy()


class KerasRunner(_Runner):
    """A Keras model run in float32, one compiled call per batch."""

    def __init__(self, model: keras.Model, model_outputs: str = "auto"):
        self.model = float32_model(model)
        self.graph = self.model  # what the shape checks read
        self.name = model.name
        outputs_are_probabilities(self.model, model_outputs, "model")  # refuses an unknown setting now
        self.declared = model_outputs
        self.params = int(self.model.count_params())
        batch = tf.TensorSpec((None, *input_shape(self.model)), tf.float32)  # one trace for every batch size
        self._forward = tf.function(Forward(self.model), input_signature=[batch])

    def raw(self, x) -> np.ndarray:
        return self._forward(x).numpy()

    def _kind(self, x) -> bool:
        return output_kind(self.model, self.declared, "model", x)


class _View:
    """One random test-time view of a batch (a callable object for tf.function, as models.Forward)."""

    def __init__(self, augmenter):
        self.augmenter = augmenter

    def __call__(self, x):
        return self.augmenter(x, training=True)


class TFLiteRunner(_Runner):
    """An exported .tflite file run by tf.lite.Interpreter (float32 in and out), batch by batch."""

    def __init__(self, path: str | os.PathLike, model_outputs: str = "auto", threads: int | None = None):
        one_of(model_outputs, "model_outputs", ("auto", "logits", "probabilities"))
        try:
            self.interpreter = _interpreter(str(path), threads or os.cpu_count())
        except (ValueError, RuntimeError) as err:
            raise DataError("Could not read the TFLite model {path}: {reason}", "Export it again with export().",
                            path=str(path), reason=Text(str(err).strip())) from err
        ops = getattr(self.interpreter, "_get_ops_details", lambda: [])()  # before the delegate replaces the ops
        (self._input,), (self._output,) = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        self.name = os.path.splitext(storage.basename(path))[0]
        if self._input["dtype"] != np.float32 or self._output["dtype"] != np.float32:
            raise DataError("The TFLite model {path} is quantized ({dtype} inputs or outputs); pykd runs float32 models.",
                            "Export the Keras model with export(), which writes float32.", path=str(path),
                            dtype=Text(np.dtype(self._input["dtype"]).name))
        shape = self._input.get("shape_signature", self._input["shape"])
        self.graph = _Signature(self.name, _Tensor(shape), _Tensor(self._output["shape"]))
        self.declared = model_outputs
        self.softmax_last = bool(ops) and ops[-1]["op_name"] == "SOFTMAX"
        self.params = _constant_elements(self.interpreter, ops)
        self._batch = None

    def raw(self, x) -> np.ndarray:
        x = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
        if self._batch != len(x):
            self.interpreter.resize_tensor_input(self._input["index"], list(x.shape))
            self.interpreter.allocate_tensors()
            self._batch = len(x)
        self.interpreter.set_tensor(self._input["index"], x)
        self.interpreter.invoke()
        return np.array(self.interpreter.get_tensor(self._output["index"]), dtype=np.float32)

    def _kind(self, x) -> bool:
        """output_kind's rule for a file without Keras layers: its last op, or what it returns."""
        values = self.raw(x).astype(np.float64)
        looks = bool(np.isfinite(values).all() and (values >= 0).all() and np.allclose(values.sum(-1), 1.0, atol=1e-2))
        if self.declared == "auto":
            return self.softmax_last or looks
        if looks != (self.declared == "probabilities"):
            seen = "probabilities (rows >= 0 summing to 1)" if looks else "not probabilities (rows do not sum to 1)"
            raise DataError(f"{{declared}}, but the model returns {seen} on the first images.",
                            "Leave {auto} to read it from the model, or fix the setting.",
                            declared=Setting("model_outputs", self.declared), auto=Setting("model_outputs", "auto"))
        return self.declared == "probabilities"


def _interpreter(path: str, threads: int):
    """LiteRT's interpreter when ai_edge_litert is installed, else TensorFlow's (deprecated there, same runtime).

    A file on a URL is read into memory first: the interpreters open local files only.
    """
    model = {"model_content": storage.read_bytes(path)} if storage.is_url(path) else {"model_path": path}
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = None
    if Interpreter is not None:
        return Interpreter(**model, num_threads=threads)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
        return tf.lite.Interpreter(**model, num_threads=threads)


class _Signature:
    """What the shared shape checks need from a model: a name, one input and one output."""

    def __init__(self, name: str, input_tensor: _Tensor, output_tensor: _Tensor):
        self.name, self.inputs, self.outputs = name, [input_tensor], [output_tensor]


def _constant_elements(interpreter, ops) -> int | None:
    """Parameters of a .tflite model: the elements of its float constant tensors (after the converter's folding)."""
    if not ops:
        return None
    produced = {t for op in ops for t in op["outputs"]}
    inputs = {d["index"] for d in interpreter.get_input_details()}
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    constants = {t for op in ops for t in op["inputs"] if t >= 0 and t not in produced and t not in inputs}
    return int(sum(np.prod(details[t]["shape"]) for t in constants if np.issubdtype(details[t]["dtype"], np.floating)))


def runner(model, model_outputs: str = "auto"):
    """A KerasRunner or TFLiteRunner for a Keras model, a .keras/.h5 path or a .tflite path."""
    if isinstance(model, (KerasRunner, TFLiteRunner)):
        return model
    if isinstance(model, (str, os.PathLike)) and str(model).lower().endswith(".tflite"):
        if not storage.isfile(model):
            raise DataError("The model file {path} does not exist.", "Check the path, or pass the model itself.",
                            path=str(model))
        return TFLiteRunner(model, model_outputs)
    return KerasRunner(load_model(model), model_outputs)


def float32_model(model: keras.Model) -> keras.Model:
    """The model itself when every layer computes in float32, else a float32 twin with its weights."""
    if all(getattr(layer, "compute_dtype", "float32") == "float32" for layer in _flat_layers(model)):
        return model

    def as_float32(layer):
        config = layer.get_config()
        if "dtype" in config:
            config["dtype"] = "float32"
        return layer.__class__.from_config(config)

    twin = keras.models.clone_model(model, clone_function=as_float32, recursive=True)
    twin.set_weights(model.get_weights())
    return twin


def predict(
    model,
    data=None,
    *,
    directory: str | os.PathLike,
    x_col: str = "image_id",
    classes=None,
    image_size=None,
    rescale: float | None = None,
    batch_size: int = 32,
    model_outputs: str = "auto",
    tta: int = 0,
    on_bad_image: str = "error",
) -> pd.DataFrame:
    """Class probabilities and the predicted label of every image, as a plain DataFrame.

    Columns: `x_col`, "label" (the class name when classes are known, else the class id)
    and one probability column per class (named by classes, else prob_0, prob_1, ...),
    computed in float32; rows keep the table's order. A Kaggle submission is then
    frame[[x_col, "label"]].to_csv("submission.csv", index=False).
    model: a Keras model, a .keras/.h5 path, or a .tflite file written by export().
    data: a DataFrame, CSV path or dict of columns naming the images in `x_col` (other
        columns are ignored); None predicts every image file in `directory`, sorted by name.
    directory: the folder holding the image files. x_col: the column of file names.
    classes: class names in class-id order (at least two); None gives class ids.
    image_size: (height, width); by default the model's input size. rescale: the factor
        pixels (0..255) are multiplied by, as in training, or None.
    batch_size: images per forward pass.
    model_outputs: "auto" (probabilities when the model ends in softmax or its rows on the
        first images are >= 0 and sum to 1), "logits" or "probabilities".
    tta: 0 predicts each image as it is; k >= 1 averages the probabilities of k random
        views (a left-right flip half of the time and shifts of up to 10%, the same views
        on every call). Use it only when a flipped image keeps its class (leaves, not digits).
    on_bad_image: "error" stops at an unreadable image, naming it; "skip" leaves such
        images out of the frame with one warning.
    """
    batch_size = whole_number(batch_size, "batch_size")
    tta = whole_number(tta, "tta", minimum=0)
    run = runner(model, model_outputs)
    spec = image_spec(run.graph, image_size, rescale)
    table = prediction_table(data, directory, x_col, classes)
    n_classes = len(table.classes) if table.classes else output_width(run.graph)
    check_model_fits(run.graph, spec, n_classes, "model")
    names = list(table.classes) if table.classes else [f"prob_{i}" for i in range(n_classes)]
    clash = [n for n in names if n in (x_col, "label")]
    if clash:
        raise DataError("The class names {clash} are also the frame's {x_col} or label column.",
                        "Rename those classes, or set x_col to another column.", clash=few(clash), x_col=x_col)
    (table,) = drop_bad_images([table], on_bad_image)
    probs = probabilities(run, table.paths, spec, batch_size, tta)
    top = probs.argmax(axis=1)
    labels = [names[i] for i in top] if table.classes else top.astype(np.int64)
    columns = {name: probs[:, j].astype(np.float64) for j, name in enumerate(names)}
    return pd.DataFrame({x_col: list(table.ids), "label": labels, **columns})


def prediction_table(data, directory, x_col: str, classes) -> Table:
    """The checked table of images to predict: `data`, or every image file in `directory`."""
    frame = read_table(data, name="prediction") if data is not None else pd.DataFrame({x_col: image_files(directory)})
    return resolve_table(frame, directory=directory, x_col=x_col, y_col=None, classes=classes, name="prediction")


def image_files(directory) -> list[str]:
    """The names of the image files in `directory` (not its subfolders), sorted."""
    folder = storage.tidy(directory)  # a local path or a URL
    if not storage.isdir(folder):
        raise DataError("The image directory {directory} does not exist.",
                        "Set directory to the folder that holds the image files.", directory=folder)
    names = sorted(n for n in storage.listdir(folder) if not n.startswith(".")
                   and os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS and storage.isfile(storage.join(folder, n)))
    if not names:
        raise DataError("The directory {directory} holds no image files ({extensions}).",
                        "Check directory, or pass {data} naming the images.",
                        directory=folder, extensions=list(IMAGE_EXTENSIONS), data=Setting("data", "images.csv"))
    return names


def probabilities(run, paths, spec: ImageSpec, batch_size: int, tta: int = 0) -> np.ndarray:
    """(images, classes) float32 probabilities, in the order of `paths`; tta > 0 averages random views."""
    n = len(paths)
    batches = [np.arange(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]
    augmenter = build_augmenter(TTA_AUGMENTATION, TTA_SEED) if tta else None
    view = tf.function(_View(augmenter), reduce_retracing=True) if tta else None
    parts = []
    for _, pixels in FileImages(paths, spec).dataset(batches):
        x = spec.to_inputs(pixels)
        if view is None:
            parts.append(run.probabilities(x))
        else:
            parts.append(np.mean([run.probabilities(view(x)) for _ in range(tta)], axis=0, dtype=np.float32))
    return np.concatenate(parts).astype(np.float32)


__all__ = ["predict", "runner", "KerasRunner", "TFLiteRunner", "float32_model", "probabilities", "image_files"]
