"""The Cassava tutorial's transfer-learning classifier on any keras.applications
backbone, with the backbone's ImageNet input scaling inside the model.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from .._tf import keras
from ..core.errors import DataError, Setting, Text, kind, shown
from ..core.validation import image_shape, one_of, real_number, whole_number
from ..data.labels import check_classes
from .classes import set_classes
from .weights import load_weights

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
               pooling: str = "max", dropout: float = 0.5, seed: int | None = None,
               classes: Sequence[str] | None = None) -> keras.Model:
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
    classes: the class names in output order (n_classes of them), which the model then knows:
        distill() matches a table's labels to them by name and predict() names its labels by them.
    The backbone is the layer named "backbone"; its own layers keep Keras' names ("block5a_expand_conv").
    Its own dropout layers (EfficientNet's stochastic depth) are off: the backbone is a fixed
    feature extractor, so distill() computes a frozen backbone's output once per image.
    """

    if not isinstance(backbone, str) or backbone not in BACKBONES:
        raise DataError("Unknown backbone {backbone}.", "Use one of {known}.", backbone=backbone,
                        known=list(BACKBONES))
    constructor, mode = BACKBONES[backbone]
    n_classes = whole_number(n_classes, "n_classes", minimum=2)
    classes = check_classes(classes)
    if classes is not None and len(classes) != n_classes:
        raise DataError("classes names {n} classes ({classes}), but n_classes is {n_classes}.",
                        "Give one name per class, in output order.", n=len(classes), classes=list(classes),
                        n_classes=n_classes)
    shape = image_shape(input_shape)
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
    for layer in base.layers:
        if isinstance(layer, keras.layers.Dropout):
            # A fixed feature extractor, as keras' transfer-learning guide runs it (training=False):
            # EfficientNet's stochastic depth off, so a frozen backbone gives the same features
            # every epoch and distill() computes them once (cache_features).
            layer.rate = 0.0
    base.trainable = not freeze_backbone
    return set_classes(model, classes)


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
