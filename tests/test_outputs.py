"""What a model returns decides how it is read: softmax from any layer is probabilities, never softmaxed twice."""

import keras
import numpy as np
import pandas as pd
import pytest
from conftest import SIZE, tiny_model, write_images

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
