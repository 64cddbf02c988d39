"""Running a model for its class probabilities, in float32: a Keras model (one compiled
call per batch) or an exported .tflite file (the TFLite interpreter; an int8 file's inputs
quantized and outputs dequantized with their scales), read alike.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from .._tf import keras, tf
from ..core import storage
from ..core.errors import DataError, Setting, Text
from ..core.validation import one_of
from ..models.classes import classes_of, tflite_classes
from ..models.forward import Forward
from ..models.introspection import input_shape, output_kind, outputs_are_probabilities
from ..models.loading import load_model
from ..models.precision import computing_in


class _Tensor:
    """The shape of a model input or output, for the checks that read model.inputs / model.outputs."""

    def __init__(self, shape):
        self.shape = tuple(None if d is None or d < 0 else int(d) for d in shape)


class _Runner:
    """Class probabilities in float32 from a model's raw outputs, read as pykd reads every model.

    Whether the outputs are probabilities is decided on the first batch: "auto" takes
    a softmax last layer or rows >= 0 summing to 1; a declared kind the values
    contradict is refused (pykd.models.introspection.output_kind).
    """

    declared = "auto"
    probabilities_out: bool | None = None
    classes: tuple[str, ...] | None = None  # the class names the model was trained with, when it knows them

    def probabilities(self, x) -> np.ndarray:
        x = tf.convert_to_tensor(x, tf.float32)
        if self.probabilities_out is None:
            self.probabilities_out = self._kind(x)
        out = self.raw(x)
        return out if self.probabilities_out else tf.nn.softmax(out, axis=-1).numpy()


class KerasRunner(_Runner):
    """A Keras model run in float32, one compiled call per batch."""

    def __init__(self, model: keras.Model, model_outputs: str = "auto"):
        self.model = model
        self.graph = self.model  # what the shape checks read
        self.name = model.name
        outputs_are_probabilities(self.model, model_outputs, "model")  # refuses an unknown setting now
        self.declared = model_outputs
        self.params = int(self.model.count_params())
        self.classes = classes_of(self.model)
        batch = tf.TensorSpec((None, *input_shape(self.model)), tf.float32)  # one trace for every batch size
        # bfloat16 rounds near-equal probabilities into ties, whose label is then arbitrary.
        self._forward = tf.function(Forward(self.model, compute_dtype="float32"), input_signature=[batch])

    def raw(self, x) -> np.ndarray:
        return self._forward(x).numpy()

    def _kind(self, x) -> bool:
        with computing_in([self.model], "float32"):
            return output_kind(self.model, self.declared, "model", x)


class TFLiteRunner(_Runner):
    """An exported .tflite file run by tf.lite.Interpreter, batch by batch, float32 in and out.

    A quantized file's integer input (int8 or uint8, as export(quantize="int8") or TFLite's converter
    writes) is fed the float inputs quantized with the tensor's scale and zero point, and its
    integer output is dequantized with its own.
    """

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
        for tensor in (self._input, self._output):
            if tensor["dtype"] not in (np.float32, np.int8, np.uint8):
                raise DataError("The TFLite model {path} has {dtype} inputs or outputs; pykd runs float32 ones, or "
                                "int8 and uint8 ones with their scale.", "Export the Keras model with export().",
                                path=str(path), dtype=Text(np.dtype(tensor["dtype"]).name))
        shape = self._input.get("shape_signature", self._input["shape"])
        self.graph = _Signature(self.name, _Tensor(shape), _Tensor(self._output["shape"]))
        self.declared = model_outputs
        computing = [op for op in ops if op["op_name"] not in ("QUANTIZE", "DEQUANTIZE")]  # a cast is not the model
        self.softmax_last = bool(computing) and computing[-1]["op_name"] == "SOFTMAX"
        self.params = _constant_elements(self.interpreter, ops)
        self.classes = tflite_classes(storage.read_bytes(str(path)))
        self._batch = None

    def raw(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self._batch != len(x):
            self.interpreter.resize_tensor_input(self._input["index"], list(x.shape))
            self.interpreter.allocate_tensors()
            self._batch = len(x)
        self.interpreter.set_tensor(self._input["index"], np.ascontiguousarray(_quantized(x, self._input)))
        self.interpreter.invoke()
        return _dequantized(self.interpreter.get_tensor(self._output["index"]), self._output)

    def _kind(self, x) -> bool:
        """output_kind's rule for a file without Keras layers: its last op, or what it returns."""
        values = self.raw(x).astype(np.float64)
        step = _scale(self._output)[0] * values.shape[-1] / 2  # an integer output rounds each value by half a step
        looks = bool(np.isfinite(values).all() and (values >= 0).all()
                     and np.allclose(values.sum(-1), 1.0, atol=1e-2 + step))
        if self.declared == "auto":
            return self.softmax_last or looks
        if looks != (self.declared == "probabilities"):
            seen = "probabilities (rows >= 0 summing to 1)" if looks else "not probabilities (rows do not sum to 1)"
            raise DataError(f"{{declared}}, but the model returns {seen} on the first images.",
                            "Leave {auto} to read it from the model, or fix the setting.",
                            declared=Setting("model_outputs", self.declared), auto=Setting("model_outputs", "auto"))
        return self.declared == "probabilities"


def _scale(tensor: dict) -> tuple[float, int]:
    """(scale, zero point) of an integer tensor; (0, 0) for a float one."""
    if tensor["dtype"] == np.float32:
        return 0.0, 0
    return tuple(tensor["quantization"])


def _quantized(x: np.ndarray, tensor: dict) -> np.ndarray:
    """Float inputs as the tensor takes them: as they are, or round(x / scale) + zero point in its integer range."""
    if tensor["dtype"] == np.float32:
        return x
    scale, zero = _scale(tensor)
    limits = np.iinfo(tensor["dtype"])
    return np.clip(np.round(x / scale) + zero, limits.min, limits.max).astype(tensor["dtype"])


def _dequantized(values: np.ndarray, tensor: dict) -> np.ndarray:
    """An output as float32: as it is, or (q - zero point) * scale."""
    if tensor["dtype"] == np.float32:
        return np.array(values, dtype=np.float32)
    scale, zero = _scale(tensor)
    return ((values.astype(np.float32) - zero) * scale).astype(np.float32)


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
    return int(sum(np.prod(details[t]["shape"]) for t in constants if _is_weight(details[t])))


def _is_weight(tensor: dict) -> bool:
    """Float weights, int8 ones (quantized), or int32 ones with a scale (an int8 model's biases); not the
    int32 shapes and axes that ops take as constants."""
    if np.issubdtype(tensor["dtype"], np.floating) or tensor["dtype"] == np.int8:
        return True
    scales = tensor.get("quantization_parameters", {}).get("scales", ())
    return tensor["dtype"] == np.int32 and len(scales) > 0


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
