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


def test_a_declared_kind_the_values_contradict_is_refused(small):
    directory, table = small
    with pytest.raises(DataError, match=r"teacher_outputs='logits', but the teacher returns probabilities"):
        pykd.distill(_softmax_by("lambda"), tiny_model(n_classes=3, seed=2), table, directory=directory,
                     teacher_outputs="logits", epochs=1, verbose=0)
    with pytest.raises(DataError, match=r"student_outputs='probabilities', but the student returns not probabilities"):
        pykd.distill(tiny_model(n_classes=3, seed=1), tiny_model(n_classes=3, seed=2), table, directory=directory,
                     student_outputs="probabilities", epochs=1, verbose=0)
