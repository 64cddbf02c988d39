"""What a model returns decides how it is read: softmax from any layer is probabilities, never softmaxed twice."""

import keras
import numpy as np
import pandas as pd
import pytest
from conftest import SIZE, tiny_model, write_images
from PIL import Image

import pykd
from pykd import DataError


@pytest.fixture
def small(tmp_path):
    directory = tmp_path / "img"
    names = write_images(directory, 16, size=SIZE, seed=5)
    return str(directory), pd.DataFrame({"image_id": names, "label": np.arange(16) % 3})


def _softmax_by(how: str, seed: int = 1):
    logits = tiny_model(n_classes=3, seed=seed)
    inputs = keras.Input((SIZE, SIZE, 3))
    if how == "lambda":
        return keras.Model(inputs, keras.layers.Lambda(lambda z: keras.ops.softmax(z))(logits(inputs)))
    return keras.Model(inputs, keras.ops.softmax(logits(inputs)))


@pytest.mark.parametrize("how", ["lambda", "ops"])
def test_a_teacher_ending_in_an_unseen_softmax_is_read_as_probabilities(small, how):
    directory, table = small
    common = dict(directory=directory, epochs=1, batch_size=16, seed=0, verbose=0, teacher_precision="float32")
    hidden = pykd.distill(_softmax_by(how), tiny_model(n_classes=3, seed=2), table, **common)
    declared = pykd.distill(_softmax_by(how), tiny_model(n_classes=3, seed=2), table, teacher_outputs="probabilities",
                            **common)
    assert hidden.last()["distillation_loss"] == pytest.approx(declared.last()["distillation_loss"], rel=1e-6)


@pytest.mark.both_precisions
def test_a_declared_kind_the_values_contradict_is_refused(small):
    directory, table = small
    with pytest.raises(DataError, match=r"teacher_outputs='logits', but the teacher returns probabilities"):
        pykd.distill(_softmax_by("lambda"), tiny_model(n_classes=3, seed=2), table, directory=directory,
                     teacher_outputs="logits", epochs=1, verbose=0)
    with pytest.raises(DataError, match=r"student_outputs='probabilities', but the student returns not probabilities"):
        pykd.distill(tiny_model(n_classes=3, seed=1), tiny_model(n_classes=3, seed=2), table, directory=directory,
                     student_outputs="probabilities", epochs=1, verbose=0)


@pytest.mark.parametrize("how", ["layer", "lambda"])
def test_a_teacher_of_sigmoid_scores_is_refused_with_a_fix(small, how):
    directory, table = small
    keras.utils.set_random_seed(1)
    inputs = keras.Input((SIZE, SIZE, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
    if how == "layer":
        scores = keras.layers.Dense(3, activation="sigmoid")(pooled)
    else:  # no layer says so: the values do
        scores = keras.layers.Lambda(lambda z: keras.ops.sigmoid(z))(keras.layers.Dense(3)(pooled))
    with pytest.raises(DataError, match=r"The teacher gives scores in \[0, 1\] that do not sum to 1 per image \(a "
                                        r"sigmoid\?\).*End the model in a Dense layer without activation"):
        pykd.distill(keras.Model(inputs, scores), tiny_model(n_classes=3, seed=2), table, directory=directory,
                     epochs=1, verbose=0, larger_student=True)


def test_outputs_that_sum_to_one_on_the_first_images_only_are_read_as_logits_and_said_so(tmp_path):
    # 16 black images first, then 24 white ones: the teacher's rows sum to 1 on the black ones only.
    directory = tmp_path / "img"
    directory.mkdir()
    names = [f"{i:02d}.png" for i in range(40)]
    for i, name in enumerate(names):
        pixels = np.full((SIZE, SIZE, 3), 0 if i < 16 else 255, np.uint8)
        pixels[0, 0, 0] = i  # no two files alike
        Image.fromarray(pixels).save(directory / name)
    table = pd.DataFrame({"image_id": names, "label": np.arange(40) % 3})
    logits = tiny_model(n_classes=3, seed=1)
    inputs = keras.Input((SIZE, SIZE, 3))
    brightness = keras.layers.Lambda(lambda x: 1.0 + 3.0 * keras.ops.mean(x, axis=(1, 2, 3))[:, None] / 255.0)(inputs)
    almost = keras.Model(inputs, keras.layers.Lambda(lambda t: keras.ops.softmax(t[0]) * t[1])([logits(inputs), brightness]))
    with pytest.warns(UserWarning, match=r"The teacher's outputs look like probabilities \(>= 0, summing to 1\) on 16 of "
                                         r"40 rows, not all: they are read as logits\. Pass teacher_outputs='probabilities'"):
        history = pykd.distill(almost, tiny_model(n_classes=3, seed=2), table, directory=str(directory), epochs=1,
                               verbose=0, larger_student=True, teacher_precision="float32")
    assert np.isfinite(history.last()["distillation_loss"])


def test_a_teacher_at_a_higher_resolution_reads_the_same_files_at_its_own_size(tmp_path):
    directory = tmp_path / "img"
    names = write_images(directory, 16, size=64, seed=6)
    table = pd.DataFrame({"image_id": names, "label": np.arange(16) % 3})
    common = dict(directory=str(directory), epochs=1, batch_size=8, seed=0, verbose=0, teacher_precision="float32")
    teacher = tiny_model(size=64, n_classes=3, seed=1)
    cached = pykd.distill(teacher, tiny_model(size=32, n_classes=3, seed=2), table, **common)
    assert cached.params["teacher_cache"] and cached.params["image_size"] == [32, 32]
    # The cache holds the teacher's own logits of the files at 64x64.
    expected = pykd.teacher_logits(teacher, table, directory=str(directory), teacher_precision="float32")
    from_table = pykd.distill(expected, tiny_model(size=32, n_classes=3, seed=2), table, **common)
    np.testing.assert_allclose(cached.to_frame().to_numpy(float), from_table.to_frame().to_numpy(float), rtol=1e-6)
    live = pykd.distill(teacher, tiny_model(size=32, n_classes=3, seed=2), table, cache_teacher=False,
                        augment={"horizontal_flip": True}, **common)
    assert not live.params["teacher_cache"] and np.isfinite(live.last()["distillation_loss"])
    assert expected.shape == (16, 4)  # image_id and 3 logits
    with pytest.raises(DataError, match="take different image sizes"):
        pykd.distill([teacher, tiny_model(size=48, n_classes=3)], tiny_model(size=32, n_classes=3), table, **common)
