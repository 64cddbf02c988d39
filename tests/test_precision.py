"""The teacher's precision: bfloat16 where the hardware has it (forced here by PYKD_BFLOAT16, so any
CPU runs both ways), for every teacher that runs in float32, and float32 with a warning where a
teacher cannot compute in bfloat16."""

import warnings

import keras
import numpy as np
import pandas as pd
import pytest
from conftest import SIZE, write_images

import pykd
from pykd._tf import tf
from pykd.models.precision import native_bfloat16

SCALE = 1 / 255  # a module global a Lambda reads


def _nested_scale():
    factor = 2.0

    def scaled(x):
        return x * factor

    return scaled


class NoConfig(keras.layers.Layer):
    """A custom layer without get_config(): Keras cannot rebuild it from a config."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, shape):
        self.kernel = self.add_weight(shape=(shape[-1], self.units), initializer="glorot_uniform")

    def call(self, x):
        return keras.ops.matmul(x, self.kernel)


class Doubled(keras.layers.Layer):
    """A subclassed layer holding a layer of its own."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(units)

    def call(self, x):
        return self.dense(x) * 2.0


def unusual_teacher(seed: int = 1) -> keras.Model:
    """A teacher clone_model() cannot copy: a Python lambda, a nested function, a custom layer without
    get_config() and a subclassed layer."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Lambda(lambda t: t * SCALE)(inputs)
    x = keras.layers.Lambda(_nested_scale())(x)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = NoConfig(16)(x)
    return keras.Model(inputs, Doubled(3)(x), name="unusual")


@pytest.fixture
def small(tmp_path):
    directory = tmp_path / "img"
    names = write_images(directory, 24, size=SIZE, seed=3)
    return str(directory), pd.DataFrame({"image_id": names, "label": np.arange(24) % 3})


def test_pykd_bfloat16_forces_what_the_hardware_is_said_to_have(monkeypatch):
    monkeypatch.setenv("PYKD_BFLOAT16", "1")
    assert native_bfloat16()
    monkeypatch.setenv("PYKD_BFLOAT16", "0")
    assert not native_bfloat16()
    monkeypatch.setenv("PYKD_BFLOAT16", "yes")
    with pytest.raises(pykd.DataError, match="PYKD_BFLOAT16 is 'yes'; it must be 0 or 1"):
        native_bfloat16()


def test_a_teacher_no_copy_can_be_made_of_trains_in_bfloat16_close_to_float32(small):
    directory, table = small
    teacher = unusual_teacher()
    with pytest.raises((TypeError, ValueError)):
        keras.models.clone_model(teacher)  # what the bfloat16 teacher used to be made with
    common = dict(directory=directory, epochs=3, batch_size=8, seed=0, verbose=0, learning_rate=1e-2,
                  larger_student=True)  # a toy teacher
    histories = {}
    for precision in ("auto", "float32"):
        for cache in (True, False):  # the logits computed once, and the teacher run in every step
            student = pykd.models.example_student((SIZE, SIZE, 3), n_classes=3, seed=2)
            histories[precision, cache] = pykd.distill(teacher, student, table, teacher_precision=precision,
                                                       cache_teacher=cache, **common)
    assert histories["auto", True].params["teacher_precision"] == "bfloat16"
    assert histories["float32", True].params["teacher_precision"] == "float32"
    for cache in (True, False):
        half, full = (histories[p, cache].to_frame()["distillation_loss"].to_numpy() for p in ("auto", "float32"))
        np.testing.assert_allclose(half, full, rtol=0.05)  # bfloat16 rounds logits to ~3 digits
        assert not np.array_equal(half, full)  # it did compute in bfloat16
    assert {layer.compute_dtype for layer in teacher._flatten_layers()} == {"float32"}  # left as it was


def test_a_teacher_that_cannot_compute_in_bfloat16_runs_in_float32_and_says_why(small):
    directory, table = small
    keras.utils.set_random_seed(1)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    fixed = keras.layers.Lambda(lambda t: t * tf.constant([1.0, 2.0, 3.0]))(x)  # a float32 constant
    teacher = keras.Model(inputs, keras.layers.Dense(3)(fixed))
    common = dict(directory=directory, epochs=1, batch_size=8, seed=0, verbose=0, larger_student=True)  # a toy teacher
    with pytest.warns(UserWarning, match="The teacher runs in float32, not bfloat16 as this hardware allows: ") as seen:
        history = pykd.distill(teacher, pykd.models.example_student((SIZE, SIZE, 3), n_classes=3, seed=2), table,
                               **common)
    assert len([w for w in seen if "runs in float32" in str(w.message)]) == 1
    assert history.params["teacher_precision"] == "float32"
    with pytest.raises(pykd.DataError, match=r"The teacher cannot compute in bfloat16 \(.+\)\. Pass "
                                             r"teacher_precision='float32' or teacher_precision='auto'"):
        pykd.distill(teacher, pykd.models.example_student((SIZE, SIZE, 3), n_classes=3, seed=2), table,
                     teacher_precision="bfloat16", **common)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        pykd.distill(teacher, pykd.models.example_student((SIZE, SIZE, 3), n_classes=3, seed=2), table,
                     teacher_precision="float32", **common)
    assert not [w for w in seen if "bfloat16" in str(w.message)]  # asked for float32: no word about bfloat16


def test_predictions_and_exports_of_a_bfloat16_model_holding_a_lambda_run_in_float32(small, tmp_path):
    directory, table = small
    before = keras.config.dtype_policy().name
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = unusual_teacher()
    finally:
        keras.config.set_dtype_policy(before)
    in_float32 = pykd.predict(unusual_teacher(), table, directory=directory)  # the same weights, built in float32
    frame = pykd.predict(model, table, directory=directory)
    exported = pykd.export(model, tmp_path / "m.tflite")
    from_file = pykd.predict(exported, table, directory=directory)
    for got in (frame, from_file):
        np.testing.assert_allclose(got.iloc[:, 2:].to_numpy(float), in_float32.iloc[:, 2:].to_numpy(float), atol=1e-5)
    assert model.layers[-1].compute_dtype == "bfloat16"  # the user's model is left as it was
