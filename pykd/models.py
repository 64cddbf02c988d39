"""Models: loading, introspection (input shape, output width, softmax ends), saving,
freezing from a named layer, weights-only files, the tutorial's transfer-learning
classifier on keras.applications backbones, and small example models."""

from __future__ import annotations

import json
import os
import re
import tempfile
import warnings
from pathlib import Path

import numpy as np

from . import storage
from ._tf import keras, tf
from .content import hasher
from .errors import DataError, Setting, Text, Words, few, kind, shown

__all__ = ["load_model", "save_model", "set_trainable", "count_params", "describe", "example_teacher", "example_student",
           "classifier", "save_weights", "load_weights", "BACKBONES", "ImagenetPreprocessing"]

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
# The functions a fix names, in each language.
LOAD_MODEL = Words("load_model()", "rkd_load_model()")
SAVE_MODEL = Words("save_model()", "rkd_save_model()")
CLASSIFIER = Words("pykd.models.classifier()", "rkd_classifier()")
LOAD_WEIGHTS = Words("pykd.models.load_weights()", "rkd_load_weights()")
IMAGE_INPUT = Words("keras.Input((height, width, channels))", "keras3::keras_input(shape = c(height, width, channels))")


def load_model(model, *, role: str = "model") -> keras.Model:
    """A Keras model, or one loaded from a .keras/.h5 path (without its compile state).

    role: how error messages name the model ("teacher", "student", ...).
    """
    if isinstance(model, keras.Model):
        return model
    if isinstance(model, (str, os.PathLike)) and storage.is_url(os.fspath(model)):
        return _load_from_url(os.fspath(model), role)
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if path.is_dir() and (path / "saved_model.pb").is_file():
            raise DataError(f"The {role} {{path}} is a SavedModel folder, which pykd does not read back.",
                            "Give the .keras model it was exported from, or export a .tflite file to predict "
                            "and compare with.", path=str(path))
        if not path.is_file():
            raise DataError(f"The {role} file {{path}} does not exist.", "Check the path, or pass the model itself.",
                            path=str(path))
        if path.suffix.lower() not in MODEL_SUFFIXES:
            raise DataError(f"The {role} file {{path}} is not a .keras or .h5 model file.",
                            "Save whole models with {save} to a .keras file.", path=str(path), save=SAVE_MODEL)
        refuse_weights_only(path, role)
        try:
            return keras.models.load_model(path, compile=False)
        except Exception as err:
            raise DataError(f"Could not load the {role} from {{path}}: {err}", path=str(path)) from err
    raise DataError(f"The {role} must be a Keras model or the path of a .keras or .h5 file, not {{value}}.",
                    "Build it with Keras, or load a saved one with {load}.", value=kind(model), load=LOAD_MODEL)


def _load_from_url(url: str, role: str) -> keras.Model:
    """A model file on a URL, read from a local copy (Keras reads local files); errors name the URL."""
    if not storage.isfile(url):
        raise DataError(f"The {role} file {{path}} does not exist.", "Check the path, or pass the model itself.", path=url)
    if not url.lower().endswith(MODEL_SUFFIXES):
        raise DataError(f"The {role} file {{path}} is not a .keras or .h5 model file.",
                        "Save whole models with {save} to a .keras file.", path=url, save=SAVE_MODEL)
    try:
        with storage.local_copy(url) as local:
            refuse_weights_only(local, role, shown=url)
            return keras.models.load_model(local, compile=False)
    except DataError:
        raise
    except Exception as err:
        raise DataError(f"Could not load the {role} from {{path}}: {err}", path=url) from err


def keras_model(model, role: str = "model") -> keras.Model:
    """`model` when it is a Keras model; anything else is refused, naming what it is."""
    if not isinstance(model, keras.Model):
        raise DataError(f"The {role} must be a Keras model, not {{value}}.",
                        "Build it with Keras, or load a saved one with {load}.", value=kind(model), load=LOAD_MODEL)
    return model


def _last_layer(model: keras.Model) -> keras.layers.Layer:
    layer = model.layers[-1]
    while isinstance(layer, keras.Model) and layer.layers:  # nested Sequential / Functional
        layer = layer.layers[-1]
    return layer


def ends_in_softmax(model: keras.Model) -> bool:
    """True when the model's last layer applies softmax (its outputs are probabilities)."""
    layer = _last_layer(model)
    if isinstance(layer, keras.layers.Softmax):
        return True
    activation = getattr(layer, "activation", None)
    return activation is keras.activations.softmax or getattr(activation, "__name__", "") == "softmax"


def outputs_are_probabilities(model: keras.Model, declared: str, role: str) -> bool:
    if declared == "auto":
        return ends_in_softmax(model)
    if declared in ("logits", "probabilities"):
        return declared == "probabilities"
    raise DataError(f"{role}_outputs must be one of {{allowed}}, not {{declared}}.",
                    "{auto} reads it from the last layer; say {probabilities} for a model ending in softmax.",
                    allowed=few(["auto", "logits", "probabilities"]), declared=shown(declared), auto="auto",
                    probabilities="probabilities")


def output_kind(model: keras.Model, declared: str, role: str, sample) -> bool:
    """Whether the model gives probabilities, from its last layer and from what it returns for `sample`.

    "auto" also catches softmax applied by keras.ops.softmax or a Lambda layer, which
    no layer type reveals: rows that are >= 0 and sum to 1 are probabilities. A
    declared kind that the values contradict is refused rather than trusted.
    """
    by_layer = outputs_are_probabilities(model, declared, role)
    values = np.asarray(keras.ops.convert_to_numpy(model(sample, training=False)), np.float64)
    looks = bool(np.isfinite(values).all() and (values >= 0).all() and np.allclose(values.sum(-1), 1.0, atol=1e-2))
    if declared == "auto":
        return by_layer or looks
    if looks != by_layer:
        seen = "probabilities (rows >= 0 summing to 1)" if looks else "not probabilities (rows do not sum to 1)"
        raise DataError(f"{{declared}}, but the {role} returns {seen} on the first images.",
                        "Leave {auto} to read it from the model, or fix the setting.",
                        declared=Setting(f"{role}_outputs", declared), auto=Setting(f"{role}_outputs", "auto"))
    return by_layer


def output_width(model: keras.Model) -> int:
    """How many class scores the model gives; a model with several outputs is refused."""
    outputs = _known(model, "outputs")
    if len(outputs) != 1:
        raise DataError(f"The model {{name}} has {len(outputs)} outputs; pykd trains models with one output of class scores.",
                        "Give a model whose only output is the classifier head (a Dense layer of one unit per class).",
                        name=model.name)
    return int(outputs[0].shape[-1])


def _known(model: keras.Model, what: str) -> list:
    """model.inputs or model.outputs; a subclassed model without a known graph is refused with the reason."""
    try:
        tensors = getattr(model, what)
    except (AttributeError, ValueError):
        tensors = None
    if not tensors:
        raise DataError(
            "The model {name} is a subclassed model whose input and output shapes are unknown until it runs.",
            "Build it as a Sequential or functional model starting from {input}.", name=model.name, input=IMAGE_INPUT,
        )
    return list(tensors)


def input_shape(model: keras.Model) -> tuple:
    """(height, width, channels) of the model's image input; entries may be None."""
    inputs = _known(model, "inputs")
    if len(inputs) != 1:
        raise DataError(f"The model {{name}} takes {len(inputs)} inputs; an image classifier takes one batch of images.",
                        "Give a model with a single {input}.", name=model.name, input=IMAGE_INPUT)
    shape = tuple(inputs[0].shape)
    if len(shape) != 4:
        raise DataError(
            f"The model {{name}} takes inputs of {len(shape)} dimensions; an image model takes 4: "
            "(batch, height, width, channels).",
            "Give a model whose input is a batch of images, starting from {input}.", name=model.name,
            input=IMAGE_INPUT,
        )
    return shape[1:]


def clone_model(model: keras.Model) -> keras.Model:
    """A twin with the same weights (built under the caller's strategy scope, if any)."""
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    return twin


def save_model(model: keras.Model, path: str | os.PathLike) -> str:
    """Save a whole model to a .keras (or legacy .h5) file; returns the path."""
    keras_model(model)
    if not isinstance(path, (str, os.PathLike)):
        raise DataError("The file to save to must be a path ending in .keras, not {value}.",
                        "For example {example}.", value=kind(path), example=Setting("path", "student.keras"))
    path = storage.tidy(path)
    if not path.endswith((".keras", ".h5")):
        raise DataError("Save models to a .keras (or .h5) file, not {path}.", "End the file name in .keras.", path=path)
    storage.makedirs(storage.parent(path))
    if not storage.is_url(path):
        model.save(path)
        return path
    with tempfile.TemporaryDirectory(prefix="pykd-save-") as folder:  # Keras writes local files: uploaded after
        local = os.path.join(folder, storage.basename(path))
        model.save(local)
        storage.upload(local, path)
    return path


def _flat_layers(model: keras.Model) -> list[keras.layers.Layer]:
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.extend(_flat_layers(layer))
        else:
            out.append(layer)
    return out


def _containers(model: keras.Model) -> list[keras.Model]:
    out = [model]
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.extend(_containers(layer))
    return out


def set_trainable(model: keras.Model, trainable: bool, from_layer: str | None = None) -> keras.Model:
    """Freeze (trainable=False) or unfreeze (True) the whole model, or from `from_layer` on.

    With from_layer, layers before it get the opposite setting, as R keras'
    unfreeze_weights(from = ...) does: unfreezing from "block5a_expand_conv"
    trains that block and everything after it, and keeps the earlier ones frozen.
    """
    keras_model(model)
    if not isinstance(trainable, (bool, np.bool_)):
        raise DataError("trainable must be {true} or {false}, not {value}.", true=True, false=False,
                        value=shown(trainable))
    if from_layer is not None and not isinstance(from_layer, str):
        raise DataError("The layer to start from must be a layer name, or {none} for the whole model, not {value}.",
                        none=None, value=kind(from_layer))
    if from_layer is None:
        # Every layer itself: Keras 3 passes model.trainable on neither to nested models
        # nor to layers frozen one by one (from_layer=...) before.
        for layer in [*_containers(model), *_flat_layers(model)]:
            layer.trainable = bool(trainable)
        return model
    layers = _flat_layers(model)
    names = [layer.name for layer in layers]
    if from_layer not in names:
        close = [n for n in names if from_layer.split("_")[0] in n]
        raise DataError("The model has no layer named {name}.",
                        "Similar names: {close}." if close else "Its layers are {close}.",
                        name=from_layer, close=few(close or names))
    for container in _containers(model):
        container.trainable = True
    start = names.index(from_layer)
    for i, layer in enumerate(layers):
        layer.trainable = bool(trainable) if i >= start else not trainable
    return model


def update_digest(digest, model: keras.Model):
    """`digest` (a content.hasher(), or None for a new one) updated with the model's layers and weights."""
    digest = hasher() if digest is None else digest
    digest.update(_architecture(model).encode())
    digest.update(_wiring(model).encode())
    for weight in model.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(weight))
        digest.update(f"|{value.dtype}{value.shape}|".encode())
        digest.update(value.tobytes())
    return digest


def _architecture(model: keras.Model) -> str:
    """Each layer's kind and settings, without names (Keras numbers those per process: conv2d_3).

    Weights alone miss what has none: a Rescaling(1/255), an activation, a Lambda.
    Freezing is left out: it changes nothing a model computes with training=False.
    """
    parts = []
    for layer in model._flatten_layers(include_self=False):
        config = {}
        if not isinstance(layer, keras.Model):  # a nested model's layers are listed themselves
            try:
                config = {k: v for k, v in layer.get_config().items() if k not in ("name", "trainable")}
            except (NotImplementedError, TypeError, AttributeError):
                config = {}
        parts.append(f"{type(layer).__module__}.{type(layer).__qualname__} "
                     f"{json.dumps(config, sort_keys=True, default=lambda v: type(v).__qualname__)}")
    return "\n".join(parts)


def _wiring(model: keras.Model) -> str:
    """How each graph in the model connects its operations, without names: each node's kind, the
    positions of its input tensors and its other arguments. Layers' settings miss a rewired skip
    connection and the keras.ops functions (ops.tanh, ops.add) applied between layers."""
    parts = []
    for graph in _containers(model):
        graph = getattr(graph, "_functional", graph)  # a Sequential model's graph
        known: dict[int, int] = {}
        for depth in sorted(getattr(graph, "_nodes_by_depth", {}), reverse=True):
            for node in graph._nodes_by_depth[depth]:
                inputs = [known.get(id(x), -1) for x in node.input_tensors]
                others = [a for a in keras.tree.flatten((node.arguments.args, node.arguments.kwargs))
                          if not isinstance(a, keras.KerasTensor)]
                kind = type(node.operation).__qualname__ if node.operation is not None else "input"
                parts.append(f"{kind}{inputs}{json.dumps(others, default=repr)}")
                known.update({id(x): len(known) for x in node.outputs})
    return "\n".join(parts)


class Forward:
    """fn(x) in inference mode, as float32, for tf.function: `fn` a model or anything with its call.

    A callable object, not a lambda or a bound method: tf.function counts the traces of
    every lambda written in one place as one function's, and warns of retracing after a
    few runs or predict() calls that each trace their own model once.
    """

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, x):
        out = self.fn(x, training=False) if isinstance(self.fn, keras.Model) else self.fn(x)
        return keras.ops.cast(out, "float32")


def compiled(fn, spec) -> tf.types.experimental.PolymorphicFunction:
    """Forward(fn) compiled for batches of `spec`'s images of any length (one trace per run's pass)."""
    batch = tf.TensorSpec([None, spec.height, spec.width, spec.channels], tf.float32)
    return tf.function(Forward(fn), input_signature=[batch])


def count_params(model: keras.Model) -> int:
    return int(model.count_params())


def describe(model: keras.Model) -> dict:
    """Plain facts about a model, safe to send to R."""
    keras_model(model)
    return {
        "name": model.name,
        "params": count_params(model),
        "trainable_params": int(sum(int(v.numpy().size) for v in model.trainable_variables)),
        "input_shape": [None if d is None else int(d) for d in input_shape(model)],
        "n_outputs": output_width(model),
    }


def _example_settings(input_shape, n_classes, seed, role: str, smallest: int) -> tuple[tuple, int]:
    """The checked (shape, n_classes) of an example model; seeds Keras when `seed` is given."""
    from .checks import whole_number  # checks imports this module

    shape = _image_shape(input_shape)
    if min(shape[:2]) < smallest:
        raise DataError(f"The example {role} takes images of at least {smallest}x{smallest} pixels, not {{size}}.",
                        "For example {example}.", size=Text(f"{shape[0]}x{shape[1]}"),
                        example=Setting("input_shape", [32, 32, 3]))
    n_classes = whole_number(n_classes, "n_classes", minimum=2)
    seed = whole_number(seed, "seed", minimum=0, allow_none=True)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    return shape, n_classes


def _conv_block(layers, filters: int, name: str) -> list:
    return [
        layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer="he_normal", name=f"{name}_conv1"),
        layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer="he_normal", name=f"{name}_conv2"),
    ]


def example_teacher(input_shape=(32, 32, 3), n_classes: int = 10, seed: int | None = None) -> keras.Model:
    """A small convolutional teacher (about 110k parameters) with logit outputs.

    input_shape: (height, width, channels); n_classes: outputs; seed: fixes the initial weights.
    (height, width) means RGB. Pixels are expected as 0..255; the model rescales them itself.
    """
    shape, n_classes = _example_settings(input_shape, n_classes, seed, "teacher", smallest=4)
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape),
            layers.Rescaling(1.0 / 255, name="rescale"),
            *_conv_block(layers, 24, "block1"),
            layers.MaxPooling2D(name="block1_pool"),
            *_conv_block(layers, 48, "block2"),
            layers.MaxPooling2D(name="block2_pool"),
            layers.Conv2D(128, 3, padding="same", activation="relu", kernel_initializer="he_normal", name="block3_conv"),
            layers.GlobalAveragePooling2D(name="pool"),
            layers.Dropout(0.3, name="dropout"),
            layers.Dense(n_classes, name="logits"),
        ],
        name="teacher",
    )


def example_student(input_shape=(32, 32, 3), n_classes: int = 10, seed: int | None = None) -> keras.Model:
    """A much smaller convolutional student (about 4k parameters at 32x32) with logit outputs.

    input_shape: (height, width, channels); n_classes: outputs; seed: fixes the initial weights.
    (height, width) means RGB.
    """
    shape, n_classes = _example_settings(input_shape, n_classes, seed, "student", smallest=3)
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape),
            layers.Rescaling(1.0 / 255, name="rescale"),
            layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv1"),
            layers.MaxPooling2D(name="pool1"),
            layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv2"),
            layers.Flatten(name="flatten"),
            layers.Dense(n_classes, name="logits"),
        ],
        name="student",
    )


# --- Transfer-learning classifiers and weights-only files -------------------------------------------

# keras.applications constructors by snake-case name, with the ImageNet input scaling that
# constructor leaves to `preprocess_input` (None: the network scales 0..255 pixels itself).
BACKBONES = {
    **{f"efficientnet_b{i}": (f"EfficientNetB{i}", None) for i in range(8)},
    **{f"efficientnet_v2_b{i}": (f"EfficientNetV2B{i}", None) for i in range(4)},
    **{f"efficientnet_v2_{s}": (f"EfficientNetV2{s.upper()}", None) for s in "sml"},
    "mobilenet": ("MobileNet", "tf"),
    "mobilenet_v2": ("MobileNetV2", "tf"),
    "mobilenet_v3_small": ("MobileNetV3Small", None),
    "mobilenet_v3_large": ("MobileNetV3Large", None),
    **{f"resnet{n}": (f"ResNet{n}", "caffe") for n in (50, 101, 152)},
    **{f"resnet{n}_v2": (f"ResNet{n}V2", "tf") for n in (50, 101, 152)},
    **{f"convnext_{s}": (f"ConvNeXt{s.capitalize()}", None) for s in ("tiny", "small", "base", "large")},
    "convnext_xlarge": ("ConvNeXtXLarge", None),
    **{f"densenet{n}": (f"DenseNet{n}", "torch") for n in (121, 169, 201)},
    "vgg16": ("VGG16", "caffe"),
    "vgg19": ("VGG19", "caffe"),
    "inception_v3": ("InceptionV3", "tf"),
    "inception_resnet_v2": ("InceptionResNetV2", "tf"),
    "xception": ("Xception", "tf"),
    "nasnet_mobile": ("NASNetMobile", "tf"),
    "nasnet_large": ("NASNetLarge", "tf"),
}

WEIGHTS_SUFFIXES = (".weights.h5", ".h5", ".hdf5")


@keras.saving.register_keras_serializable(package="pykd")
class ImagenetPreprocessing(keras.layers.Layer):
    """A backbone's ImageNet input scaling inside the model, so every classifier takes pixels 0..255.

    mode: "tf" (to -1..1), "torch" (0..1, then ImageNet mean and std) or "caffe"
    (RGB to BGR, minus the ImageNet mean), as keras.applications' preprocess_input.
    """

    MEAN = {"torch": (0.485, 0.456, 0.406), "caffe": (103.939, 116.779, 123.68)}
    STD = (0.229, 0.224, 0.225)

    def __init__(self, mode: str, **kwargs):
        super().__init__(**kwargs)
        self.mode = mode

    def call(self, x):
        ops = keras.ops
        if self.mode == "tf":
            return x / 127.5 - 1.0
        three = x.shape[-1] == 3
        mean = self.MEAN[self.mode] if three else [sum(self.MEAN[self.mode]) / 3]
        mean = ops.convert_to_tensor(mean, dtype=x.dtype)
        if self.mode == "torch":
            std = ops.convert_to_tensor(self.STD if three else [sum(self.STD) / 3], dtype=x.dtype)
            return (x / 255.0 - mean) / std
        return (ops.flip(x, axis=-1) if three else x) - mean

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def classifier(backbone: str, n_classes, input_shape, weights=None, freeze_backbone: bool = True,
               pooling: str = "max", dropout: float = 0.5, seed: int | None = None) -> keras.Model:
    """The Cassava tutorial's transfer-learning design on any keras.applications backbone.

    The backbone without its top, global max (or average) pooling, BatchNormalization,
    Dropout and a softmax Dense layer; the model takes pixel values 0..255 (train with
    rescale=None): a backbone that expects other scaling gets an ImagenetPreprocessing layer.
    backbone: a name in pykd.models.BACKBONES, e.g. "efficientnet_b0", "mobilenet_v3_small",
        "resnet50", "convnext_tiny".
    n_classes: how many classes the softmax tells apart (2 or more; 5.0 is accepted).
    input_shape: (height, width, channels), or (height, width) for RGB; whole numbers.
    weights: None (random), "imagenet" (Keras downloads them; needs the network) or the path
        of a weights file for the backbone or for the whole classifier (.weights.h5 or .h5).
    freeze_backbone: True trains only the head (8,965 parameters for EfficientNet-B0 and
        5 classes); unfreeze later with set_trainable(model, True, from_layer=...).
    pooling: "max" (as the tutorial) or "avg". dropout: the rate before the Dense layer, in [0, 1).
    seed: fixes the random weights and the dropout's random stream (None: a random start).
    The backbone is the layer named "backbone"; its own layers keep Keras' names ("block5a_expand_conv").
    Its own dropout layers (EfficientNet's stochastic depth) are off: the backbone is a fixed
    feature extractor, so distill() computes a frozen backbone's output once per image.
    """
    from .checks import one_of, real_number, whole_number  # checks imports this module

    if not isinstance(backbone, str) or backbone not in BACKBONES:
        raise DataError("Unknown backbone {backbone}.", "Use one of {known}.", backbone=backbone,
                        known=list(BACKBONES))
    constructor, mode = BACKBONES[backbone]
    n_classes = whole_number(n_classes, "n_classes", minimum=2)
    shape = _image_shape(input_shape)
    one_of(pooling, "pooling", ("max", "avg"))
    dropout = real_number(dropout, "dropout")
    if not 0 <= dropout < 1:
        raise DataError("dropout must be in [0, 1), not {value}.", "The tutorial uses {example}.",
                        value=dropout, example=Setting("dropout", 0.5))
    if not isinstance(freeze_backbone, bool):
        raise DataError("freeze_backbone must be {true} or {false}, not {value}.", true=True, false=False,
                        value=shown(freeze_backbone))
    seed = whole_number(seed, "seed", minimum=0, allow_none=True)
    path = _backbone_weights(weights)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    base = _backbone(backbone, constructor, shape, weights == "imagenet")
    layers = keras.layers
    inputs = keras.Input(shape, name="image")
    x = inputs if mode is None else ImagenetPreprocessing(mode, name="preprocessing")(inputs)
    x = base(x)
    x = (layers.GlobalMaxPooling2D if pooling == "max" else layers.GlobalAveragePooling2D)(name="pool")(x)
    x = layers.BatchNormalization(name="head_batch_norm")(x)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name=f"{backbone}_classifier")
    if path is not None:
        _load_into_model_or_base(model, base, path)
    for layer in base._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Dropout):
            # A fixed feature extractor, as keras' transfer-learning guide runs it (training=False):
            # EfficientNet's stochastic depth off, so a frozen backbone gives the same features
            # every epoch and distill() computes them once (cache_features).
            layer.rate = 0.0
    base.trainable = not freeze_backbone
    return model


def _image_shape(input_shape) -> tuple[int, int, int]:
    """(height, width, channels) from 2 or 3 whole numbers (R sends doubles such as 224.0)."""
    from .checks import whole_number

    if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__len__") or len(input_shape) not in (2, 3):
        raise DataError("input_shape must be (height, width, channels), not {value}.", "For example {example}.",
                        value=shown(input_shape), example=Setting("input_shape", [224, 224, 3]))
    example = Setting("input_shape", [224, 224, 3])
    dims = [whole_number(d, "input_shape", label=f"The {part} in input_shape", example=example)
            for d, part in zip(input_shape, ("height", "width", "number of channels"))]
    return tuple(dims) if len(dims) == 3 else (*dims, 3)


def _backbone_weights(weights) -> str | None:
    """The weights file to load after building, or None for None and "imagenet"."""
    if weights is None or (isinstance(weights, str) and weights == "imagenet"):
        return None
    if not isinstance(weights, (str, os.PathLike)):
        raise DataError("weights must be {none}, {imagenet} or the path of a weights file, not {value}.",
                        none=None, imagenet="imagenet", value=kind(weights))
    if not Path(weights).is_file():
        raise DataError("The weights file {path} does not exist.",
                        "Give {none}, {imagenet} or the path of a .weights.h5 or .h5 file.", path=str(weights),
                        none=None, imagenet="imagenet")
    return str(weights)


def _backbone(name: str, constructor: str, shape: tuple, imagenet: bool) -> keras.Model:
    """keras.applications' network without its top; a refused shape or a failed download as DataError."""
    build = getattr(keras.applications, constructor)
    try:
        # Keras names the ImageNet file it fetches after the network's own name: renamed after.
        base = build(include_top=False, weights="imagenet" if imagenet else None, input_shape=shape)
    except ValueError as err:  # Keras' own checks of the shape and channels
        raise DataError("The {backbone} backbone cannot take input_shape {shape}: {reason}",
                        "Most backbones need images of at least 32x32 pixels, and ImageNet weights need 3 channels.",
                        backbone=name, shape=list(shape), reason=Text(str(err).strip())) from err
    except Exception as err:  # keras.utils.get_file raises a bare Exception when the download fails
        if not imagenet:
            raise
        raise DataError(
            "Could not download the ImageNet weights for {backbone} (no network?): {reason}",
            "Download that file where there is a network and pass its path, e.g. {example}.",
            backbone=name, reason=Text(str(err).strip()),
            example=Setting("weights", _download_name(str(err)) or f"{constructor.lower()}_notop.h5"),
        ) from err
    base.name = "backbone"
    return base


def _download_name(message: str) -> str | None:
    """The name of the weights file Keras tried to fetch, from its error message."""
    found = re.search(r"https?://\S*/([^/\s:]+\.h5)", message)
    return found.group(1) if found else None


def _load_into_model_or_base(model: keras.Model, base: keras.Model, path: str) -> None:
    """Weights saved from a whole classifier, or from its backbone alone (Keras' *_notop.h5 files)."""
    try:
        load_weights(model, path)
    except DataError as whole:
        try:
            load_weights(base, path)
        except DataError:
            raise DataError("The weights file {path} fits neither this classifier nor its backbone.",
                            "Build the classifier as it was when the weights were saved (backbone, n_classes, "
                            "input_shape, pooling).", path=path) from whole


def _weights_file(path) -> Path:
    if not isinstance(path, (str, os.PathLike)) or not str(path).lower().endswith(WEIGHTS_SUFFIXES):
        raise DataError("Weights files end in .weights.h5 (or legacy .h5), not {path}.",
                        "End the file name in .weights.h5.", path=str(path))
    return Path(path)


def is_weights_only(path) -> bool:
    """True for a file that holds weights but no model: it needs a rebuilt model to load into."""
    path = Path(path)
    if path.name.lower().endswith(".weights.h5"):
        return True
    if path.suffix.lower() not in (".h5", ".hdf5") or not path.is_file():
        return False
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return "model_config" not in f.attrs
    except OSError:  # not HDF5 at all: loading it reports that
        return False


def refuse_weights_only(path, role: str = "model", shown: str | None = None) -> None:
    """Stop load_model() at a weights-only file, pointing to load_weights(); `shown`: the name to give it."""
    if is_weights_only(path):
        raise DataError(f"The {role} file {{path}} holds weights only, not a model.",
                        "Rebuild the model as it was saved (for example with {classifier}) and load the file "
                        "into it with {load_weights}.", path=shown or str(path), classifier=CLASSIFIER, load_weights=LOAD_WEIGHTS)


def save_weights(model: keras.Model, path) -> str:
    """Save only the weights (small, no architecture), to load into a rebuilt model; returns the path.

    model: the Keras model. path: a .weights.h5 file (Keras 3), or .h5 for Keras 2's layout.
    """
    path = _weights_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.lower().endswith(".weights.h5"):
        model.save_weights(path)
    else:
        import h5py
        from keras.src.legacy.saving import legacy_h5_format  # Keras 3 writes only .weights.h5 itself

        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return str(path)


def load_weights(model: keras.Model, path) -> keras.Model:
    """Load a weights-only file into a model built the same way; on failure the model is unchanged.

    model: the Keras model to fill (in place; also returned).
    path: a .weights.h5 file, or a legacy .h5 (Keras 2 weights or a whole .h5 model).
    """
    path = _weights_file(path)
    if not path.is_file():
        raise DataError("The weights file {path} does not exist.", "Check the path.", path=str(path))
    before = model.get_weights()
    try:
        with warnings.catch_warnings():  # Keras warns per nested layer before it raises
            warnings.simplefilter("ignore")
            model.load_weights(path)
    except Exception as err:
        model.set_weights(before)
        raise DataError("The weights in {path} do not fit the model {name}: {reason}",
                        "Build the model exactly as it was when the weights were saved.",
                        path=str(path), name=model.name, reason=Text(_mismatch(err))) from err
    return model


def _mismatch(err: Exception) -> str:
    """Keras' load_weights() error in one line: which layer, which shapes (not the variable's values)."""
    text = str(err)
    layer = re.search(r"object <(\w+) name=([^,>]+)", text)
    shapes = re.search(r"variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))", text)
    count = re.search(r"A total of (\d+) objects", text)
    if layer and shapes:
        more = f" ({count.group(1)} layers do not fit)" if count and count.group(1) != "1" else ""
        return (f"its layer {layer.group(2)} ({layer.group(1)}) has weights of shape {shapes.group(1)}, "
                f"the file {shapes.group(2)}{more}.")
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(err).__name__)
    return first.rstrip(":")[:300]
