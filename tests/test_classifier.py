"""pykd.models.classifier (the Cassava tutorial's design on keras.applications) and weights-only files."""

from __future__ import annotations

import urllib.error

import keras
import numpy as np
import pandas as pd
import pytest
from conftest import tiny_model

import pykd
from pykd.data.images import FileImages, ImageSpec
from pykd.models import BACKBONES, ImagenetPreprocessing, classifier, load_weights, save_weights, set_trainable

SMALL = (32, 32, 3)  # the smallest size every backbone takes: building and running stay fast


def trainable(model) -> int:
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))


def seeded_classifier(seed: int, backbone: str = "vgg16", n_classes: int = 5, **kwargs):
    """VGG16 by default: built at random it still gives outputs that differ from image to image and
    seed to seed (the batch-normalised backbones give near-uniform ones until trained)."""
    keras.utils.set_random_seed(seed)
    return classifier(backbone, n_classes, SMALL, **kwargs)


@pytest.fixture(scope="module")
def sample(digits):
    """48 real digit images decoded and resized to SMALL as pykd feeds them."""
    names = pd.read_csv(digits["validation_csv"])["image_id"].head(48)
    images = FileImages([f"{digits['directory']}/{n}" for n in names], ImageSpec(*SMALL))
    ((_, pixels),) = images.dataset([np.arange(len(names))])
    return pixels.numpy()


def outputs(model, sample) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(sample, training=False))


def test_frozen_efficientnet_b0_trains_the_tutorials_8965_parameters_then_3707853_from_block5a():
    model = classifier("efficientnet_b0", 5, (224, 224, 3))
    assert trainable(model) == 8965  # BatchNormalization (2 x 1280) + Dense (1280 x 5 + 5)
    assert [type(layer).__name__ for layer in model.layers[2:]] == [
        "GlobalMaxPooling2D", "BatchNormalization", "Dropout", "Dense"]
    assert model.layers[-2].rate == 0.5 and model.layers[-1].activation is keras.activations.softmax
    set_trainable(model, True, from_layer="block5a_expand_conv")
    assert trainable(model) == 3707853
    assert pykd.models.describe(model)["trainable_params"] == 3707853
    set_trainable(model, True)  # the whole model, the nested backbone included
    assert trainable(model) == trainable(classifier("efficientnet_b0", 5, (224, 224, 3), freeze_backbone=False))
    set_trainable(model, False)
    assert trainable(model) == 0


def test_the_backbone_is_a_fixed_feature_extractor_without_its_stochastic_depth():
    base = classifier("efficientnet_b0", 5, (32, 32, 3)).get_layer("backbone")
    drops = [layer for layer in base.layers if isinstance(layer, keras.layers.Dropout)]
    assert len(drops) == 9 and all(layer.rate == 0 for layer in drops)


def test_whole_number_floats_from_r_are_accepted_and_two_dims_mean_rgb():
    model = classifier("mobilenet_v3_small", 3.0, [32.0, 32.0, 3.0], pooling="avg", dropout=0.2)
    assert tuple(model.input_shape) == (None, 32, 32, 3) and tuple(model.output_shape) == (None, 3)
    assert type(model.get_layer("pool")).__name__ == "GlobalAveragePooling2D"
    assert tuple(classifier("mobilenet_v3_small", np.int64(4), (32, 32)).input_shape) == (None, 32, 32, 3)


def test_unfrozen_backbone_trains_everything():
    model = classifier("mobilenet_v3_small", 5, SMALL, freeze_backbone=False)
    assert trainable(model) == sum(int(np.prod(v.shape)) for v in model.trainable_weights) > 100_000


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(backbone="efficientnet_b9"), ["Unknown backbone", "efficientnet_b0", "resnet50", "convnext_tiny"]),
        (dict(n_classes=1), ["n_classes must be >= 2"]),
        (dict(n_classes=2.5), ["n_classes must be a whole number"]),
        (dict(input_shape="224"), ["input_shape must be (height, width, channels)"]),
        (dict(input_shape=(32, 32.5, 3)), ["The width in input_shape must be a whole number"]),
        (dict(input_shape=(16, 16, 3)), ["cannot take input_shape [16, 16, 3]", "at least 32x32"]),
        (dict(pooling="sum"), ["pooling must be one of"]),
        (dict(dropout=1.0), ["dropout must be in [0, 1)"]),
        (dict(freeze_backbone="yes"), ["freeze_backbone must be True or False"]),
        (dict(weights="missing.weights.h5"), ["does not exist"]),
        (dict(weights=3), ["weights must be None, 'imagenet' or the path"]),
    ],
)
def test_bad_arguments_are_refused_with_a_fix(kwargs, words):
    arguments = dict(backbone="mobilenet_v3_small", n_classes=5, input_shape=SMALL) | kwargs
    with pytest.raises(pykd.DataError) as info:
        classifier(**arguments)
    for word in words:
        assert word in str(info.value)


def test_imagenet_weights_without_network_say_so_and_suggest_a_weights_file(monkeypatch, tmp_path):
    from keras.src.backend import config
    from keras.src.utils import file_utils

    fetched = []

    def offline(url, *args, **kwargs):
        fetched.append(url)
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path))  # no cached copy of the weights
    monkeypatch.setattr(file_utils, "urlretrieve", offline)
    with pytest.raises(pykd.DataError) as info:
        classifier("efficientnet_b0", 5, SMALL, weights="imagenet")
    assert "Could not download the ImageNet weights for 'efficientnet_b0' (no network?)" in str(info.value)
    assert "Name or service not known" in str(info.value)
    # Keras' own file (named after the network, not after the layer name pykd gives it).
    assert fetched and fetched[0].endswith("/efficientnetb0_notop.h5")
    assert "weights='efficientnetb0_notop.h5'" in str(info.value)
    assert 'weights = "efficientnetb0_notop.h5"' in info.value.render("r")["fix"]


@pytest.mark.parametrize("mode, reference", [
    ("tf", keras.applications.mobilenet_v2.preprocess_input),
    ("torch", keras.applications.densenet.preprocess_input),
    ("caffe", keras.applications.resnet50.preprocess_input),
])
def test_backbone_preprocessing_equals_keras_preprocess_input(mode, reference):
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    ours = keras.ops.convert_to_numpy(ImagenetPreprocessing(mode)(pixels))
    np.testing.assert_allclose(ours, reference(pixels.copy()), rtol=1e-5, atol=1e-4)


def test_backbones_that_need_scaling_get_it_inside_the_model_and_it_saves(tmp_path, sample):
    assert BACKBONES["resnet50"][1] == "caffe" and BACKBONES["efficientnet_b0"][1] is None
    model = classifier("mobilenet_v2", 4, SMALL)
    assert model.get_layer("preprocessing").mode == "tf"
    assert "preprocessing" not in [layer.name for layer in classifier("mobilenet_v3_small", 4, SMALL).layers]
    loaded = pykd.models.load_model(pykd.models.save_model(model, tmp_path / "m.keras"))
    assert isinstance(loaded.get_layer("preprocessing"), ImagenetPreprocessing) and loaded.get_layer("preprocessing").mode == "tf"
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(outputs(loaded, sample), outputs(model, sample))


@pytest.mark.parametrize("name", ["w.weights.h5", "w.h5"])
def test_weights_saved_and_loaded_into_a_rebuilt_classifier_give_identical_outputs(tmp_path, sample, name):
    first, rebuilt = seeded_classifier(1), seeded_classifier(2)
    assert not np.array_equal(outputs(first, sample), outputs(rebuilt, sample))
    # Saved part-unfrozen, loaded frozen: Keras' legacy .h5 order puts trainable weights first.
    set_trainable(first, True, from_layer="block3_conv1")
    path = save_weights(first, tmp_path / "sub" / name)
    assert load_weights(rebuilt, path) is rebuilt
    np.testing.assert_array_equal(outputs(rebuilt, sample), outputs(first, sample))


def test_weights_argument_loads_a_backbone_file_or_a_whole_classifier_file(tmp_path, sample):
    trained = seeded_classifier(1)
    base = trained.get_layer("backbone")
    base_file = save_weights(base, tmp_path / "base_notop.h5")  # the layout of Keras' *_notop.h5 downloads
    whole_file = save_weights(trained, tmp_path / "whole.weights.h5")

    from_base = seeded_classifier(2, weights=base_file)
    for ours, theirs in zip(from_base.get_layer("backbone").get_weights(), base.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    assert trainable(from_base) == trainable(trained)  # still frozen after loading
    np.testing.assert_array_equal(outputs(seeded_classifier(3, weights=whole_file), sample), outputs(trained, sample))

    with pytest.raises(pykd.DataError, match="fits neither this classifier nor its backbone"):
        seeded_classifier(4, n_classes=3, weights=whole_file)


def test_a_failed_load_leaves_the_model_unchanged(tmp_path):
    other = save_weights(tiny_model(n_classes=3), tmp_path / "three.weights.h5")
    model = tiny_model(n_classes=10, seed=1)
    before = model.get_weights()
    with pytest.raises(pykd.DataError, match="do not fit the model") as info:
        load_weights(model, other)
    # One line naming the layer and the two shapes, not the variable's values.
    assert "has weights of shape (" in str(info.value) and ", the file (" in str(info.value)
    assert "[[" not in str(info.value) and "\n" not in str(info.value)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(pykd.DataError, match="Weights files end in .weights.h5"):
        save_weights(model, tmp_path / "w.keras")
    with pytest.raises(pykd.DataError, match="does not exist"):
        load_weights(model, tmp_path / "missing.weights.h5")


@pytest.mark.parametrize("name", ["w.weights.h5", "w.h5"])
def test_load_model_on_a_weights_only_file_points_to_load_weights(tmp_path, digits, name):
    path = save_weights(tiny_model(), tmp_path / name)
    for call in (lambda: pykd.models.load_model(path), lambda: pykd.predict(path, directory=digits["directory"])):
        with pytest.raises(pykd.DataError) as info:
            call()
        assert "holds weights only, not a model" in str(info.value) and "load_weights()" in str(info.value)
    model_file = pykd.models.save_model(tiny_model(), tmp_path / "whole.h5")  # a whole .h5 model still loads
    assert isinstance(pykd.models.load_model(model_file), keras.Model)


def test_training_a_frozen_classifier_changes_only_its_head(digits):
    model = seeded_classifier(0, "mobilenet_v3_small", n_classes=10)
    base_before = model.get_layer("backbone").get_weights()
    head_before = model.get_layer("predictions").get_weights()[0].copy()
    pykd.train_scratch(model, digits["train_csv"], directory=digits["directory"], classes=digits["classes"],
                       image_size=SMALL[:2], batch_size=16, epochs=1, steps_per_epoch=3, seed=0, verbose=0)
    for a, b in zip(model.get_layer("backbone").get_weights(), base_before):
        np.testing.assert_array_equal(a, b)  # frozen, batch-norm statistics included
    assert not np.array_equal(model.get_layer("predictions").get_weights()[0], head_before)
