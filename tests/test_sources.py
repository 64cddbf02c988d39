"""Training data as a folder of class subfolders or as (x, y) arrays: the same run as the table."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SIZE, tiny_model

import pykd
from pykd.core.errors import DataError
from pykd.data.images import FileImages, ImageSpec

RUN = dict(batch_size=16, epochs=2, steps_per_epoch=3, seed=3, verbose=0)


@pytest.fixture(scope="module")
def labeled(digits):
    """The first 96 labeled digits as (table with class-name labels, classes), in class then file order."""
    table = pd.read_csv(digits["train_csv"]).dropna(subset=["label"]).head(96)
    classes = digits["classes"]
    table = table.assign(label=[classes[int(i)] for i in table["label"]])
    order = sorted(range(len(table)), key=lambda i: (table["label"].iloc[i], table["image_id"].iloc[i]))
    return table.iloc[order].reset_index(drop=True), classes


@pytest.fixture(scope="module")
def class_folder(digits, labeled, tmp_path_factory):
    """The same images copied as folder/<class>/<file>, the image_dataset_from_directory layout."""
    table, _ = labeled
    root = tmp_path_factory.mktemp("class-folders") / "train"
    for image_id, label in zip(table["image_id"], table["label"]):
        os.makedirs(root / label, exist_ok=True)
        shutil.copy(os.path.join(digits["directory"], image_id), root / label / image_id)
    return root


def history_of(train, **kwargs) -> pd.DataFrame:
    return pykd.train_scratch(tiny_model(seed=1), train, **RUN, **kwargs).to_frame()


def test_a_folder_of_class_subfolders_trains_as_the_same_table(digits, labeled, class_folder):
    table, classes = labeled
    present = sorted(set(table["label"]))  # the classes with a subfolder
    by_table = history_of(table, directory=digits["directory"], classes=present)
    by_folder = pykd.train_scratch(model := tiny_model(seed=1), str(class_folder), **RUN)
    assert by_folder.params["classes"] == present
    assert by_folder.params["n_train"] == len(table)
    pd.testing.assert_frame_equal(by_folder.to_frame(), by_table, rtol=1e-6)
    assert by_folder.model is model


def test_a_validation_folder_is_read_with_the_training_folders_classes(digits, class_folder):
    with pytest.warns(UserWarning, match="96 validation images are also training images"):
        history = pykd.train_scratch(tiny_model(seed=1), str(class_folder), validation=str(class_folder), **RUN)
    assert history.params["n_validation"] == history.params["n_train"]
    assert 0 <= history.records[-1]["val_accuracy"] <= 1


def test_arrays_train_as_the_files_they_were_read_from(digits, labeled):
    table, classes = labeled
    paths = [os.path.join(digits["directory"], i) for i in table["image_id"]]
    ((_, pixels),) = FileImages(paths, ImageSpec(SIZE, SIZE)).dataset([np.arange(len(paths))])
    x = pixels.numpy().astype(np.uint8)
    y = np.array([classes.index(c) for c in table["label"]])
    y[::5] = -1  # unlabeled rows: left out of a scratch run, as NaN labels in a table
    with_nan = table.assign(label=[None if v < 0 else classes[v] for v in y])
    by_table = history_of(with_nan, directory=digits["directory"], classes=classes)
    by_arrays = history_of((x, y), classes=classes)
    pd.testing.assert_frame_equal(by_arrays, by_table, rtol=1e-6)
    # The PNG files are written once, into a folder named by the arrays' content, and
    # reused by a later run on the same arrays.
    _, folder, _ = pykd.sources.array_table(x, y)
    stamps = {p.name: p.stat().st_mtime_ns for p in Path(folder).glob("*.png")}
    assert len(stamps) == len(x)
    history_of((x, y), classes=classes)
    assert {p.name: p.stat().st_mtime_ns for p in Path(folder).glob("*.png")} == stamps


def test_distill_takes_arrays_for_train_and_validation(digits, labeled, tmp_path):
    table, classes = labeled
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, SIZE, SIZE, 3), dtype=np.uint8)
    y = np.concatenate([rng.integers(0, 10, 20), np.full(20, -1)])
    history = pykd.distill(tiny_model(seed=2), tiny_model(seed=1), (x, y), validation=(x[:20], y[:20]),
                           classes=classes, cache_dir=str(tmp_path), **RUN)
    assert history.params["n_train"] == 40 and history.params["n_labeled"] == 20
    assert history.params["n_validation"] == 20


@pytest.mark.parametrize(
    ("train", "kwargs", "words"),
    [
        ((np.zeros((4, SIZE, SIZE, 3), np.float32), np.zeros(4)), {}, "x are float32; pykd reads images as 8-bit pixels"),
        ((np.zeros((4, SIZE, SIZE, 3), np.uint8), np.zeros(3)), {}, "labels y have shape [3], for 4 images"),
        ((np.zeros((4, SIZE, SIZE, 3), np.uint8), np.array([0, 1, 0.5, 1])), {}, "class ids from 0"),
        ((np.zeros((4, SIZE, SIZE, 2), np.uint8), np.zeros(4)), {}, "have shape [4, 16, 16, 2]"),
        ("FOLDER", {"directory": "."}, "Leave directory out"),
        ("FOLDER", {"classes": ["zero", "ten"]}, "no subfolder for the class 'ten'"),
        (None, {}, "directory is not set"),
    ],
)
def test_bad_folders_and_arrays_are_refused_before_training(class_folder, labeled, train, kwargs, words):
    if train == "FOLDER":
        train = str(class_folder)
    if train is None:
        train = labeled[0]
    with pytest.raises(DataError) as err:
        pykd.train_scratch(tiny_model(), train, **RUN, **kwargs)
    assert words in str(err.value)


def test_a_class_folder_leaves_out_hidden_files_and_warns_about_links_to_nothing(tmp_path, digits):
    from pykd.data.sources import folder_table

    images = sorted(os.listdir(digits["directory"]))[:4]
    for label, image in zip(["a", "a", "b", "b"], images):
        os.makedirs(tmp_path / "train" / label / ".ipynb_checkpoints", exist_ok=True)
        shutil.copy(os.path.join(digits["directory"], image), tmp_path / "train" / label / image)
        shutil.copy(os.path.join(digits["directory"], image), tmp_path / "train" / label / ".ipynb_checkpoints" / image)
        shutil.copy(os.path.join(digits["directory"], image), tmp_path / "train" / label / f"._{image}")  # macOS
    os.symlink(tmp_path / "gone.jpg", tmp_path / "train" / "b" / "link.jpg")
    with pytest.warns(UserWarning, match=r"1 link under '.*train/b' points to no file and is left out: 'link.jpg'\.") as seen:
        table, _, classes = folder_table(tmp_path / "train")
    assert seen[0].filename == __file__  # said where the user called
    assert classes == ["a", "b"]
    assert table["image_id"].tolist() == [f"a/{images[0]}", f"a/{images[1]}", f"b/{images[2]}", f"b/{images[3]}"]


def test_a_folder_with_one_class_is_refused(tmp_path, digits):
    (tmp_path / "only").mkdir()
    shutil.copy(os.path.join(digits["directory"], sorted(os.listdir(digits["directory"]))[0]), tmp_path / "only")
    with pytest.raises(DataError, match="has 1 class subfolder; at least two"):
        pykd.train_scratch(tiny_model(), str(tmp_path), **RUN)


def test_a_student_given_as_a_path_is_trained_and_returned_and_its_file_kept(digits, labeled, tmp_path):
    table, classes = labeled
    path = tmp_path / "student.keras"
    pykd.models.save_model(tiny_model(seed=1), path)
    before = path.read_bytes()
    history = pykd.train_scratch(str(path), table, directory=digits["directory"], classes=classes, **RUN)
    assert path.read_bytes() == before
    reloaded = pykd.models.load_model(str(path))
    changed = [not np.array_equal(a, b) for a, b in zip(history.model.get_weights(), reloaded.get_weights())]
    assert any(changed)
