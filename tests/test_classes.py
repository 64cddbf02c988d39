"""Classes travel with the model: a trained student knows its class names, every file pykd
writes keeps them, and a table or a `classes` in another order is matched by name or
refused, never silently renamed. A teacher trained with its classes in another order is
caught before the first step.

The teacher here is an oracle: each class is one colour, and the teacher's logits are the
images' mean red, green and blue, so it is right on every image without training.
"""

import os
import shutil
import warnings

import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image

import pykd
from pykd.models import classes_of, set_classes

COLOURS = {"red": 0, "green": 1, "blue": 2}  # the oracle teacher's outputs, in this order
CSV_ORDER = ["red", "green", "blue"]
FOLDER_ORDER = sorted(COLOURS)  # blue, green, red: a class folder's order


@pytest.fixture(scope="module")
def colours(tmp_path_factory):
    """A class folder (red/, green/, blue/) of 12 noisy 8x8 images each, and the same images as a table."""
    root = tmp_path_factory.mktemp("colours")
    rng = np.random.default_rng(0)
    rows = []
    for name, channel in COLOURS.items():
        os.makedirs(root / "folder" / name)
        for i in range(12):
            pixels = rng.integers(0, 90, (8, 8, 3), dtype=np.uint8)
            pixels[..., channel] += 160
            Image.fromarray(pixels).save(root / "folder" / name / f"{name}_{i}.png")
            rows.append({"image_id": f"{name}/{name}_{i}.png", "label": name})
    return {"folder": str(root / "folder"), "table": pd.DataFrame(rows)}


def oracle(name="oracle"):
    """Logits = the mean of each colour channel: red, green, blue, always right."""
    return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dense(3, kernel_initializer="identity", use_bias=False)], name=name)


def student(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Rescaling(1 / 255),
                             keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, use_bias=False)], name="student")


def run(teacher, model, train, **options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = pykd.distill(teacher, model, train, epochs=1, steps_per_epoch=2, batch_size=12, seed=0,
                               verbose=0, **options)
    return history, [str(w.message) for w in caught if "classes in different orders" in str(w.message)]


def test_a_teacher_trained_in_another_order_is_caught_before_the_first_step(colours):
    # The class folder reads blue, green, red; the teacher answers red, green, blue.
    _, said = run(oracle(), student(), colours["folder"])
    assert len(said) == 1
    assert "agrees with the labels on 33% of the first 36 labeled rows (chance: 33%), but on 100%" in said[0]
    assert "pykd.models.set_classes(teacher, ['red', 'green', 'blue'])" in said[0]
    # Following the advice, nothing is said, and the student knows the order it was taught in.
    model = student()
    _, said = run(set_classes(oracle(), CSV_ORDER), model, colours["folder"])
    assert said == [] and classes_of(model) == tuple(CSV_ORDER)
    # So too with the classes given in the teacher's order, for a teacher and a student that know none.
    model = student()
    _, said = run(oracle(), model, colours["folder"], classes=CSV_ORDER)
    assert said == [] and classes_of(model) == tuple(CSV_ORDER)
    # A teacher that knows its classes, and labels that are ids in another order: which class each id is.
    ids = colours["table"].assign(label=colours["table"]["label"].map({"blue": 0, "green": 1, "red": 2}))
    _, said = run(set_classes(oracle(), CSV_ORDER), student(), ids, directory=colours["folder"])
    assert len(said) == 1 and "classes=['blue', 'green', 'red'] (in the order of the ids)" in said[0]
    # The same ids with the classes given in another order: the advice names the order the ids really have.
    ids_in_csv_order = colours["table"].assign(label=colours["table"]["label"].map({"red": 0, "green": 1, "blue": 2}))
    _, said = run(set_classes(oracle(), CSV_ORDER), student(), ids_in_csv_order, directory=colours["folder"],
                  classes=FOLDER_ORDER)
    assert len(said) == 1 and "classes=['red', 'green', 'blue'] (in the order of the ids)" in said[0]


def test_a_teacher_that_knows_its_classes_reorders_the_table_by_name(colours):
    teacher = set_classes(oracle(), CSV_ORDER)
    model = student()
    _, said = run(teacher, model, colours["folder"])  # sorted folder names, matched to the teacher's by name
    assert said == []
    assert classes_of(model) == tuple(CSV_ORDER)
    # A teacher and a student that know different orders are refused before anything changes.
    other = set_classes(student(), FOLDER_ORDER)
    before = [w.copy() for w in other.get_weights()]
    with pytest.raises(pykd.DataError, match=r"The student knows the classes \['blue', 'green', 'red'\], the teacher "
                                             r"\['red', 'green', 'blue'\]"):
        run(teacher, other, colours["folder"])
    assert all(np.array_equal(a, b) for a, b in zip(before, other.get_weights()))
    # A student that knows its classes and a teacher that does not: the teacher's outputs follow the table.
    with pytest.raises(pykd.DataError, match=r"The student knows its classes in the order \['red', 'green', 'blue'\], "
                                             r"but the teacher does not know its own, so its outputs are read in the "
                                             r"table's order \['blue', 'green', 'red'\]"):
        run(oracle(), set_classes(student(), CSV_ORDER), colours["folder"])
    with pytest.raises(pykd.DataError, match=r"The train table's classes are \['red', 'green', 'cyan'\], but the "
                                             r"teacher was trained with \['red', 'green', 'blue'\]"):
        run(teacher, student(), colours["table"].replace("blue", "cyan"), directory=colours["folder"],
            classes=["red", "green", "cyan"])


@pytest.fixture(scope="module")
def taught(colours):
    """A student distilled from the oracle on the class folder in the teacher's order (it learns the colours)."""
    model = student()
    pykd.distill(oracle(), model, colours["folder"], classes=CSV_ORDER, epochs=3, steps_per_epoch=6, batch_size=12,
                 optimizer=keras.optimizers.Adam(0.05), seed=0, verbose=0)  # a fixed rate: 18 steps suffice
    return model


def test_predictions_are_named_by_the_model_and_a_contradicting_order_is_refused(colours, taught):
    frame = pykd.predict(taught, colours["table"], directory=colours["folder"])
    assert list(frame.columns) == ["image_id", "label", *CSV_ORDER]
    assert (frame["label"] == colours["table"]["label"]).mean() == 1.0
    with pytest.raises(pykd.DataError, match=r"classes is \['blue', 'green', 'red'\], but the model was trained with "
                                             r"the classes \['red', 'green', 'blue'\] \(the same names in another order\)"):
        pykd.predict(taught, colours["table"], directory=colours["folder"], classes=FOLDER_ORDER)


def test_evaluate_and_compare_read_labels_by_the_models_names(colours, taught):
    table, folder = colours["table"], colours["folder"]
    assert pykd.evaluate(taught, table, directory=folder)["accuracy"] == 1.0  # text labels, no classes given
    one_hot = pd.get_dummies(table["label"]).astype(int)[FOLDER_ORDER]  # columns in another order than the model's
    scores = pykd.evaluate(taught, pd.concat([table[["image_id"]], one_hot], axis=1), directory=folder,
                           y_col=FOLDER_ORDER)
    assert scores["accuracy"] == 1.0
    with pytest.raises(pykd.DataError, match="the same names in another order"):
        pykd.evaluate(taught, table, directory=folder, classes=FOLDER_ORDER)
    # Two students that know different orders are each scored by their own names.
    folder_order = set_classes(student(), FOLDER_ORDER)
    folder_order.set_weights([w[..., [2, 1, 0]] for w in taught.get_weights()])  # the same student, outputs reversed
    result = pykd.compare({"csv": taught, "folder": folder_order}, table, directory=folder)
    assert result["accuracy"].tolist() == [1.0, 1.0]
    # The inputs distill() takes: a folder of class subfolders (read in the model's order), and (x, y) arrays.
    assert pykd.evaluate(taught, folder)["accuracy"] == 1.0
    assert pykd.compare({"csv": taught, "folder": folder_order}, folder)["accuracy"].tolist() == [1.0, 1.0]
    x = np.stack([np.asarray(Image.open(os.path.join(folder, i))) for i in table["image_id"]])
    y = table["label"].map({name: i for i, name in enumerate(CSV_ORDER)}).to_numpy()
    assert pykd.evaluate(taught, (x, y))["accuracy"] == 1.0
    # A test folder without one class's subfolder is read by name too.
    partial = os.path.join(os.path.dirname(folder), "no_green")
    for name in ("red", "blue"):
        shutil.copytree(os.path.join(folder, name), os.path.join(partial, name), dirs_exist_ok=True)
    scores = pykd.evaluate(taught, partial)
    assert scores["accuracy"] == 1.0 and scores["n"] == 24
    logits = pykd.teacher_logits(taught, folder)
    assert list(logits.columns) == ["image_id", *CSV_ORDER] and len(logits) == len(table)


def test_every_file_pykd_writes_keeps_the_classes(colours, taught, tmp_path):
    for suffix in (".keras", ".h5"):
        path = pykd.models.save_model(taught, tmp_path / f"student{suffix}")
        assert classes_of(pykd.models.load_model(path)) == tuple(CSV_ORDER)
        assert classes_of(keras.models.load_model(path)) is None  # plain Keras reads the file as before
    weights = pykd.models.save_weights(taught, tmp_path / "student.weights.h5")
    assert classes_of(pykd.models.load_weights(student(seed=1), weights)) == tuple(CSV_ORDER)
    assert classes_of(str(tmp_path / "student.keras")) == tuple(CSV_ORDER)  # read from the file itself
    lite = pykd.export(taught, tmp_path / "student.tflite")
    assert classes_of(lite) == tuple(CSV_ORDER)
    frame = pykd.predict(lite, colours["table"], directory=colours["folder"])
    assert list(frame.columns) == ["image_id", "label", *CSV_ORDER]
    assert (frame["label"] == colours["table"]["label"]).all()
    saved_model = pykd.export(taught, tmp_path / "saved_model")
    assert open(os.path.join(saved_model, "assets.extra", "labels.txt")).read().split() == CSV_ORDER


def test_set_classes_and_classifier_check_the_count():
    with pytest.raises(pykd.DataError, match=r"The model 'student' has 3 outputs, but 2 class names were given: \['a', 'b'\]"):
        set_classes(student(), ["a", "b"])
    with pytest.raises(pykd.DataError, match=r"classes names 2 classes \(\['a', 'b'\]\), but n_classes is 3"):
        pykd.models.classifier("mobilenet_v3_small", 3, (32, 32), classes=["a", "b"])
    model = pykd.models.classifier("mobilenet_v3_small", 2, (32, 32), classes=["cat", "dog"])
    assert classes_of(model) == ("cat", "dog")
    assert classes_of(set_classes(model, None)) is None


def test_the_agreement_measure_needs_a_teacher_that_tells_classes_apart():
    from pykd.run.agreement import measure

    labels = np.array([0] * 8 + [1] * 32)
    assert not measure(labels, np.zeros(40, dtype=int), 2).looks_reordered  # a constant answer: nothing to rename
    assert not measure(labels, np.ones(40, dtype=int), 2).looks_reordered
    noisy = np.random.default_rng(0).integers(0, 5, 64)  # an untrained teacher's answers
    assert not measure(np.random.default_rng(1).integers(0, 5, 64), noisy, 5).looks_reordered
    assert measure(labels, 1 - labels, 2).looks_reordered
    assert not measure(labels, labels, 2).looks_reordered
