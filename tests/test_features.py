"""The frozen-prefix feature cache: the same training, with the frozen layers computed once per image."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest

import pykd
from pykd.models import classifier, example_teacher, set_trainable
from pykd.run.features import frozen_prefix

SIZE = 32  # EfficientNet's smallest input


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """24 training and 8 validation digits at 32x32, in the Cassava layout."""
    data = pykd.datasets.write_digits(tmp_path_factory.mktemp("digits32"), size=SIZE)
    train = pd.read_csv(data["train_csv"]).head(24)
    validation = pd.read_csv(data["validation_csv"]).head(8)
    return dict(directory=data["directory"], train=train, validation=validation, classes=data["classes"])


@pytest.fixture(scope="module")
def teacher():
    return example_teacher((SIZE, SIZE, 3), 10, seed=1)


def frozen_student(unfreeze_from: str | None = None) -> keras.Model:
    keras.utils.set_random_seed(3)
    model = classifier("efficientnet_b0", 10, (SIZE, SIZE, 3))
    return model if unfreeze_from is None else set_trainable(model, True, from_layer=unfreeze_from)


def small_frozen_student(seed: int = 3) -> keras.Model:
    """A frozen convolution under a trainable head: the feature cache's mechanics, at a fraction of
    EfficientNet's cost (the tutorial's student itself is frozen_student())."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", trainable=False, name="frozen_conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="head")(x))


def run(teacher, student, images, **options):
    options = dict(directory=images["directory"], classes=images["classes"], validation=images["validation"],
                   batch_size=8, epochs=3, seed=0, verbose=0, learning_rate=1e-3,
                   larger_student=True) | options  # unfrozen, the tutorial's B0 outgrows the example teacher
    return pykd.distill(teacher, student, images["train"], **options)


def assert_same_training(cached, uncached):
    assert cached.params["feature_cache"] is not None and uncached.params["feature_cache"] is None
    for key, values in uncached.history.items():
        np.testing.assert_allclose(cached.history[key], values, rtol=1e-5, atol=1e-5, err_msg=key)


def sample_pixels(n: int = 12) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, SIZE, SIZE, 3)).astype("float32")


@pytest.fixture(scope="module")
def frozen_runs(teacher, images):
    """The tutorial's frozen-base student trained with and without the cache: (cached, uncached) (history, model)."""
    with_cache, without = frozen_student(), frozen_student()
    return (run(teacher, with_cache, images, cache_features=True), with_cache), \
        (run(teacher, without, images, cache_features=False), without)


def assert_same_predictions(a: keras.Model, b: keras.Model):
    x = sample_pixels()
    a, b = np.asarray(a(x)), np.asarray(b(x))
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_array_equal(a.argmax(1), b.argmax(1))


def test_a_frozen_backbone_trains_the_same_with_and_without_the_feature_cache(frozen_runs, images):
    (cached, with_cache), (uncached, without) = frozen_runs
    assert cached.params["feature_cache"] == {"ends_at": "pool", "shape": [1280], "bytes": (24 + 8) * 1280 * 4,
                                              "kept": False}
    assert cached.params["seconds_features"] > 0
    assert_same_training(cached, uncached)
    assert_same_predictions(with_cache, without)
    # The user's model object holds the trained weights: it scores as the run's last validation epoch.
    scores = pykd.evaluate(with_cache, images["validation"], directory=images["directory"], classes=images["classes"])
    assert scores["accuracy"] == pytest.approx(cached.history["val_accuracy"][-1])
    assert scores["loss"] == pytest.approx(cached.history["val_loss"][-1], rel=1e-5)


def test_unfreezing_the_top_blocks_moves_the_end_of_the_cached_prefix(teacher, images):
    # Fine-tuning at its usual small learning rate: at 1e-3 the unfrozen blocks amplify the
    # float rounding of features computed in other batches to ~1e-4 in two or three epochs.
    with_cache, without = frozen_student("block7a_expand_conv"), frozen_student("block7a_expand_conv")
    cached = run(teacher, with_cache, images, cache_features="auto", learning_rate=1e-4, epochs=2)
    uncached = run(teacher, without, images, cache_features=False, learning_rate=1e-4, epochs=2)
    assert cached.params["feature_cache"]["ends_at"] == "block6d_add"
    assert_same_training(cached, uncached)
    assert_same_predictions(with_cache, without)


def test_kept_features_are_found_again_and_a_damaged_file_is_computed_again(teacher, images, tmp_path):
    first = run(teacher, small_frozen_student(), images, cache_dir=tmp_path, epochs=2)
    assert first.params["feature_cache"]["kept"] is True
    kept = sorted(tmp_path.glob("features-*.f32"))
    assert len(kept) == 2  # training and validation rows
    stamps = [p.stat().st_mtime_ns for p in kept]
    again = run(teacher, small_frozen_student(), images, cache_dir=tmp_path, epochs=2)
    assert [p.stat().st_mtime_ns for p in kept] == stamps  # read, not written
    assert again.history == first.history
    for path in kept:
        data = bytearray(path.read_bytes())
        data[100] ^= 0xFF
        path.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="prefix-feature cache .* does not match its checksum"):
        damaged = run(teacher, small_frozen_student(), images, cache_dir=tmp_path, epochs=2)
    assert damaged.history == first.history


def test_a_scratch_run_caches_the_prefix_too(images):
    options = dict(directory=images["directory"], classes=images["classes"], epochs=1, seed=0, verbose=0)
    cached = pykd.train_scratch(small_frozen_student(), images["train"], cache_features=True, **options)
    uncached = pykd.train_scratch(small_frozen_student(), images["train"], cache_features=False, **options)
    assert_same_training(cached, uncached)


def conv_then(*layers) -> keras.Model:
    """A frozen convolution, then `layers`, then a trainable head."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    frozen = keras.layers.Conv2D(4, 3, name="frozen_conv", trainable=False)
    x = frozen(inputs)
    for layer in layers:
        x = layer(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(x))


@pytest.mark.parametrize("layer, ends_at", [
    (keras.layers.Dropout(0.5, name="dropout"), "frozen_conv"),
    (keras.layers.GaussianNoise(0.1, name="noise"), "frozen_conv"),
    (keras.layers.BatchNormalization(name="trained_bn"), "frozen_conv"),  # it trains
    (keras.layers.BatchNormalization(name="frozen_bn", trainable=False), "pool"),
    (keras.layers.Dropout(0.0, name="no_dropout"), "pool"),
    (keras.layers.ReLU(name="relu"), "pool"),
])
def test_the_prefix_stops_before_anything_that_trains_or_is_random(layer, ends_at):
    split, _ = frozen_prefix(conv_then(layer))
    assert split.ends_at == ends_at


def test_the_prefix_ends_at_a_tensor_the_rest_depends_on_alone():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", trainable=False, name="a")(inputs)
    b = keras.layers.Conv2D(4, 3, padding="same", trainable=False, name="b")(a)
    joined = keras.layers.Add(name="joined")([a, b])  # a skip connection: "b" alone is no cut
    x = keras.layers.Conv2D(4, 3, name="trained")(joined)
    x = keras.layers.Add(name="skip_over_trained")([x, keras.layers.Cropping2D(1, name="crop")(joined)])
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    split, _ = frozen_prefix(model)
    assert split.ends_at == "joined"
    x = sample_pixels(4)[:, :8, :8]
    np.testing.assert_allclose(np.asarray(split.rest(split.prefix(x))), np.asarray(model(x)), rtol=1e-6, atol=1e-6)


def test_a_user_built_frozen_efficientnet_keeps_its_stochastic_depth_until_set_trainable_freezes_it():
    base = keras.applications.EfficientNetB0(include_top=False, weights=None, input_shape=(SIZE, SIZE, 3))
    base.trainable = False
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.GlobalMaxPooling2D()(base(inputs, training=False))
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    split, _ = frozen_prefix(model)
    assert split.ends_at == "block2a_project_bn"  # block2b_drop is a Dropout active in training, even so
    # Frozen by set_trainable (issue 35), the backbone is a fixed extractor: the prefix reaches its end ...
    set_trainable(base, False)
    assert frozen_prefix(model)[0].ends_at == "global_max_pooling2d"
    # ... and unfrozen, its stochastic depth comes back as built (keep_dropout=True would have kept it).
    set_trainable(base, True)
    assert base.get_layer("block2b_drop").rate > 0 and frozen_prefix(model)[0] is None
    set_trainable(base, False, keep_dropout=True)
    assert frozen_prefix(model)[0].ends_at == "block2a_project_bn"


def test_a_cache_stopped_by_frozen_dropout_says_why_and_the_fix_gets_it(random_images):
    directory, table = random_images(8, k=2, size=SIZE)
    keras.utils.set_random_seed(0)
    base = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Conv2D(4, 3, strides=4, name="low"),
                             keras.layers.Dropout(0.3, name="drop"), keras.layers.Conv2D(4, 3, name="high")], name="base")
    base.trainable = False  # by hand: Keras keeps the dropout on in training
    inputs = keras.Input((SIZE, SIZE, 3))
    student = keras.Model(inputs, keras.layers.Dense(2, name="head")(keras.layers.GlobalAveragePooling2D(name="pool")(
        base(inputs))))
    options = dict(directory=directory, epochs=2, verbose=0, cache_teacher=True, larger_student=True)
    teacher = example_teacher((SIZE, SIZE, 3), 2, seed=1)
    with pytest.warns(UserWarning, match=r"feature cache stops at 'low': its frozen layer 'drop' \(Dropout\) still "
                                         r"drops.*would reach 'pool'.*set_trainable\(student, True, from_layer='head'\)"):
        assert pykd.distill(teacher, student, table, **options).params["feature_cache"]["ends_at"] == "low"
    set_trainable(student, True, from_layer="head")  # the fix it names: the cache now reaches the pooling
    assert frozen_prefix(student)[0].ends_at == "pool"


@pytest.mark.parametrize("options, message", [
    (dict(augment={"horizontal_flip": True}), "cache_features=True needs augment=None"),
    (dict(cache_teacher=False), "cache_features=True needs the teacher's logits cached"),
    (dict(strategy="one device"), "does not work under a tf.distribute strategy"),
])
def test_cache_features_true_says_why_it_cannot_apply(teacher, images, options, message):
    if options.get("strategy"):
        options["strategy"] = pykd._tf.tf.distribute.OneDeviceStrategy("/cpu:0")
    with pytest.raises(pykd.DataError, match=message):
        run(teacher, frozen_student(), images, cache_features=True, **options)


def test_cache_features_true_names_the_layer_that_trains_first(teacher, images):
    student = set_trainable(frozen_student(), True)
    with pytest.raises(pykd.DataError, match="has no frozen prefix to cache: its layer stem_conv trains, and the "
                                             "layers before it hold no convolution or dense layer worth caching"):
        run(teacher, student, images, cache_features=True)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, trainable=False)(keras.layers.Dropout(0.5, name="dropout")(inputs))
    dropout_first = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    with pytest.raises(pykd.DataError, match=r"its layer dropout \(Dropout\) is random or acts differently"):
        frozen_error(dropout_first)


def frozen_error(model):
    from pykd.run.features import no_prefix_error

    split, reason = frozen_prefix(model)
    assert split is None
    raise no_prefix_error(model, reason)


def small_student(seed: int, middle=lambda x: x) -> keras.Model:
    """A frozen convolution (its weights set by `seed`), `middle`, then a trainable head, for 8x8 images."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(2, 3, trainable=False, name="frozen_conv")(keras.layers.Rescaling(1 / 255)(inputs))
    x = keras.layers.GlobalAveragePooling2D(name="pool")(middle(x))
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(x))


def scratch(student, directory, table, **options):
    options = dict(directory=directory, validation=table, batch_size=8, epochs=2, seed=0, verbose=0) | options
    return pykd.train_scratch(student, table, **options)


@pytest.mark.parametrize("first, second", [
    (lambda x: keras.ops.tanh(x), lambda x: keras.ops.sigmoid(x)),  # a keras.ops function between layers
    (lambda x: keras.layers.Add()([x, keras.ops.tanh(x)]), lambda x: keras.layers.Add()([x, x])),  # rewired
])
def test_kept_features_are_not_served_to_a_model_computing_something_else(random_images, tmp_path, first, second):
    directory, table = random_images(32, size=8)
    scratch(small_student(1, first), directory, table, cache_dir=tmp_path)
    reused = scratch(small_student(1, second), directory, table, cache_dir=tmp_path)
    fresh = scratch(small_student(1, second), directory, table, cache_features=False)
    assert len(list(tmp_path.glob("features-*.f32"))) == 2  # another file for the other model
    for key, values in fresh.history.items():
        np.testing.assert_allclose(reused.history[key], values, rtol=1e-5, err_msg=key)


class UnseededNoise(keras.layers.Layer):
    """Random without a seed generator or a `training` argument: only running it shows it."""

    def call(self, x):
        return x + keras.random.normal(keras.ops.shape(x), stddev=0.1)


@pytest.mark.parametrize("middle, ends_at", [
    (keras.layers.Lambda(lambda x: x * 2.0), "pool"),  # a plain function: the same in training
    (keras.layers.Lambda(lambda x, training=None: x), "frozen_conv"),  # told about training: it may differ
    (UnseededNoise(), None),  # looks unchanging, computes other values every call
])
def test_layers_are_judged_by_what_they_compute(random_images, middle, ends_at):
    directory, table = random_images(16, size=8)
    cache = scratch(small_student(1, middle), directory, table, validation=None).params["feature_cache"]
    assert (cache and cache["ends_at"]) == ends_at


def test_auto_does_not_cache_features_larger_than_the_images(random_images):
    directory, table = random_images(16, size=8)

    def wide_then_trained():
        inputs = keras.Input((8, 8, 3))
        x = keras.layers.Conv2D(64, 1, trainable=False, name="wide")(inputs)  # 64 values a pixel, from 3
        x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3, name="trained")(x))
        return keras.Model(inputs, keras.layers.Dense(3)(x))

    assert scratch(wide_then_trained(), directory, table, validation=None).params["feature_cache"] is None
    forced = scratch(wide_then_trained(), directory, table, validation=None, cache_features=True)
    assert forced.params["feature_cache"]["ends_at"] == "wide"


def test_checking_the_prefix_in_training_mode_leaves_the_student_as_it_was(images, teacher):
    from pykd.run import options
    from pykd.run.plan import prepare

    keras.utils.set_random_seed(5)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, trainable=False, name="frozen_conv")(x)
    x = keras.layers.BatchNormalization(center=False, scale=False, name="weightless_bn")(x)  # moves in training
    x = keras.layers.GlobalAveragePooling2D()(x)
    student = keras.Model(inputs, keras.layers.Dense(10)(x))
    before = [v.numpy().copy() for v in student.variables]
    given = options.given("distill", {**options.defaults("distill"), "directory": images["directory"],
                                      "classes": images["classes"], "verbose": 0})
    prepare("distill", student, teacher, images["train"], given)
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(before, student.variables))


@pytest.mark.both_precisions
def test_an_augmented_frozen_prefix_runs_apart_and_trains_as_inside_the_tape(teacher, images, monkeypatch,
                                                                               bf16_hardware):
    """Under augmentation (nothing to cache) the frozen prefix runs outside the gradient tape, in inference
    mode, in frozen_precision="auto" (bfloat16 where native): the same training as inside the tape in float32,
    within bfloat16's rounding otherwise (issue 35)."""
    options = dict(augment={"horizontal_flip": True}, epochs=1, cache_teacher=False)
    apart = run(teacher, small_frozen_student(), images, **options)
    assert apart.params["frozen_prefix"] == {"ends_at": "pool",
                                             "precision": "bfloat16" if bf16_hardware else "float32"}
    monkeypatch.setattr("pykd.run.plan.running_prefix", lambda plan, sample: None)
    inside = run(teacher, small_frozen_student(), images, **options)
    assert inside.params["frozen_prefix"] is None
    for key, values in inside.history.items():
        np.testing.assert_allclose(apart.history[key], values, rtol=2e-2 if bf16_hardware else 1e-5, err_msg=key)
