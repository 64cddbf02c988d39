"""Row weights as fit() takes them: class_weight and a column of per-row weights (sample_weight)
multiply each training row's loss; the reported loss is the weighted one, as in fit()."""

import keras
import numpy as np
import pandas as pd
import pytest
from conftest import SIZE, tiny_model, write_images

import pykd
from pykd.data.images import FileImages, ImageSpec


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    directory = tmp_path_factory.mktemp("weights")
    names = write_images(directory, 24, size=SIZE, seed=4)
    return str(directory), pd.DataFrame({"image_id": names, "label": np.arange(24) % 3})


def one_step(directory, table, **options):
    """A scratch run of one step over the whole table: its loss is computed with the starting weights."""
    model = tiny_model(n_classes=3, seed=2)
    start = [w.copy() for w in model.get_weights()]
    history = pykd.train_scratch(model, table, directory=directory, batch_size=len(table), epochs=1, seed=0, verbose=0,
                                 **options)
    return history, start


def test_the_loss_is_each_rows_loss_times_its_weight_averaged_over_the_rows(labelled):
    directory, table = labelled
    weights = np.where(table["label"] == 2, 4.0, 1.0) * np.linspace(0.5, 1.5, len(table))
    history, start = one_step(directory, table.assign(weight=weights), weight_col="weight")
    model = tiny_model(n_classes=3, seed=2)
    model.set_weights(start)
    ((_, x),) = FileImages([f"{directory}/{n}" for n in table["image_id"]], ImageSpec(SIZE, SIZE)).dataset(
        [np.arange(len(table))])
    per_row = keras.ops.convert_to_numpy(keras.losses.sparse_categorical_crossentropy(
        table["label"].to_numpy(), model(x), from_logits=True))
    assert history.history["loss"][0] == pytest.approx(np.mean(weights * per_row), rel=1e-5)
    assert history.history["student_loss"][0] == pytest.approx(np.mean(per_row), rel=1e-5)  # the metric, unweighted
    # class_weight by id, by name, or as a list, times a weight column: the same weights, the same run.
    by_class = pd.Series({0: 1.0, 1: 1.0, 2: 4.0})
    spread = np.linspace(0.5, 1.5, len(table))
    named = table.assign(label=table["label"].map({0: "a", 1: "b", 2: "c"}), weight=spread)
    for options, data in [({"class_weight": {2: 4.0}}, table.assign(weight=spread)),
                          ({"class_weight": {"c": 4.0}, "classes": ["a", "b", "c"]}, named),
                          ({"class_weight": list(by_class)}, table.assign(weight=spread))]:
        again, _ = one_step(directory, data, weight_col="weight", **options)
        assert again.history["loss"] == pytest.approx(history.history["loss"], rel=1e-6), options


@pytest.mark.parametrize("options, words", [
    ({"weight_col": "weight", "bad": [-1.0]}, r"weights in 'weight' must be numbers >= 0; row 1 holds -1.0"),
    ({"weight_col": "w"}, r"has no column 'w' of row weights"),
    ({"class_weight": {5: 2.0}}, r"class_weight names the class 5, which is not among the classes"),
    ({"class_weight": [1.0, 2.0]}, r"class_weight gives 2 weights for 3 classes"),
    ({"class_weight": {0: -2}}, r"class_weight gives the class 0 the weight -2"),
])
def test_bad_weights_are_refused_before_the_student_changes(labelled, options, words):
    directory, table = labelled
    table = table.assign(weight=options.pop("bad", [1.0]) + [1.0] * (len(table) - 1))
    model = tiny_model(n_classes=3, seed=2)
    start = [w.copy() for w in model.get_weights()]
    with pytest.raises(pykd.DataError, match=words):
        pykd.train_scratch(model, table, directory=directory, epochs=1, verbose=0, **options)
    assert all(np.array_equal(a, b) for a, b in zip(start, model.get_weights()))
