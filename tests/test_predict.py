"""pykd.predict: a plain frame of labels and float32 probabilities for a table or a folder of real images."""

from __future__ import annotations

import shutil

import keras
import numpy as np
import pandas as pd
import pytest
from conftest import SIZE, tiny_model

import pykd
from pykd.data.images import FileImages, ImageSpec


@pytest.fixture(scope="module")
def validation(digits):
    table = pd.read_csv(digits["validation_csv"])
    truth = np.array(digits["classes"])[table[digits["classes"]].to_numpy().argmax(axis=1)]
    return table, truth


def pixels(directory, names, size=SIZE) -> np.ndarray:
    ((_, x),) = FileImages([f"{directory}/{n}" for n in names], ImageSpec(size, size)).dataset([np.arange(len(names))])
    return x.numpy()


def probs(frame) -> np.ndarray:
    return frame.drop(columns=[frame.columns[0], "label"]).to_numpy()


def test_frame_has_ids_labels_and_probabilities_in_the_tables_order(trained, digits, validation):
    table, truth = validation
    frame = pykd.predict(trained, table, directory=digits["directory"], classes=digits["classes"])
    assert list(frame.columns) == ["image_id", "label", *digits["classes"]]
    assert frame["image_id"].tolist() == table["image_id"].tolist()
    p = probs(frame)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert frame["label"].tolist() == [digits["classes"][i] for i in p.argmax(axis=1)]
    logits = keras.ops.convert_to_numpy(trained(pixels(digits["directory"], table["image_id"][:40])))
    np.testing.assert_allclose(p[:40], keras.ops.convert_to_numpy(keras.ops.softmax(logits)), atol=1e-6)
    accuracy = pykd.evaluate(trained, table, directory=digits["directory"], classes=digits["classes"])["accuracy"]
    assert np.mean(frame["label"].to_numpy() == truth) == pytest.approx(accuracy, abs=1e-12)
    assert frame["label"].nunique() >= 3  # a real, partly trained model: the labels are not all alike


def test_shuffled_rows_and_a_short_last_batch_keep_the_tables_order(trained, digits, validation):
    table = validation[0].sample(frac=1.0, random_state=3).head(101)
    frame = pykd.predict(trained, table, directory=digits["directory"], batch_size=7.0)  # R sends doubles
    assert frame["image_id"].tolist() == table["image_id"].tolist()
    whole = pykd.predict(trained, validation[0], directory=digits["directory"]).set_index("image_id")
    np.testing.assert_allclose(probs(frame), whole.loc[table["image_id"]].drop(columns="label").to_numpy(), atol=1e-6)


@pytest.fixture(scope="module")
def unnamed(trained):
    """The trained student as a model that does not know its classes (a trained one does: tests/test_classes.py)."""
    model = keras.models.clone_model(trained)
    model.set_weights(trained.get_weights())
    return model


def test_without_classes_the_label_is_the_class_id(unnamed, digits, validation):
    frame = pykd.predict(unnamed, validation[0].head(30), directory=digits["directory"])
    assert list(frame.columns) == ["image_id", "label"] + [f"prob_{i}" for i in range(10)]
    assert frame["label"].dtype == np.int64 and frame["label"].tolist() == probs(frame).argmax(axis=1).tolist()
    plain = frame.to_dict(orient="list")  # what R reads: plain str, int and float values
    assert {type(plain["image_id"][0]), type(plain["label"][0]), type(plain["prob_0"][0])} == {str, int, float}


def test_no_table_predicts_every_image_file_of_the_folder_sorted(trained, digits, tmp_path):
    frame = pykd.predict(trained, directory=digits["directory"])
    assert len(frame) == 1797 and frame["image_id"].tolist() == sorted(frame["image_id"])
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("digit_0007.jpg", "digit_0003.jpg"):
        shutil.copy(f"{digits['directory']}/{name}", folder / name)
    shutil.copy(f"{digits['directory']}/digit_0005.jpg", folder / "upper.JPG")
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub").mkdir()
    assert pykd.predict(trained, directory=folder)["image_id"].tolist() == ["digit_0003.jpg", "digit_0007.jpg", "upper.JPG"]


def test_a_kaggle_submission_is_two_columns_of_the_frame(trained, digits, tmp_path):
    frame = pykd.predict(trained, digits["validation_csv"], directory=digits["directory"], classes=digits["classes"])
    frame[["image_id", "label"]].to_csv(tmp_path / "submission.csv", index=False)
    submission = pd.read_csv(tmp_path / "submission.csv")
    assert list(submission.columns) == ["image_id", "label"] and len(submission) == 359
    assert set(submission["label"]) <= set(digits["classes"])


def test_a_saved_model_path_and_a_softmax_model_give_the_same_probabilities(trained, digits, validation, tmp_path):
    table = validation[0].head(50)
    path = pykd.models.save_model(trained, tmp_path / "student.keras")
    pd.testing.assert_frame_equal(pykd.predict(path, table, directory=digits["directory"]),
                                  pykd.predict(trained, table, directory=digits["directory"]))
    softmax = tiny_model(softmax=True)
    frame = pykd.predict(softmax, table, directory=digits["directory"])
    own = keras.ops.convert_to_numpy(softmax(pixels(digits["directory"], table["image_id"])))
    np.testing.assert_allclose(probs(frame), own, atol=1e-6)  # read as probabilities, never softmaxed twice
    with pytest.raises(pykd.DataError, match="model_outputs='probabilities', but the model returns not probabilities"):
        pykd.predict(trained, table, directory=digits["directory"], model_outputs="probabilities")


def test_a_bfloat16_model_is_run_in_float32(trained, digits, validation):
    names = validation[0]["image_id"].head(64)
    before = keras.config.dtype_policy().name
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        half = pykd.models.example_student(input_shape=(SIZE, SIZE, 3), seed=0)
    finally:
        keras.config.set_dtype_policy(before)
    half.set_weights(trained.get_weights())
    x = pixels(digits["directory"], names)
    exact = keras.ops.convert_to_numpy(keras.ops.softmax(trained(x)))
    rounded = keras.ops.convert_to_numpy(keras.ops.softmax(keras.ops.cast(half(x), "float32")))
    assert np.abs(rounded - exact).max() > 1e-4  # bfloat16 really computes differently
    frame = pykd.predict(half, pd.DataFrame({"image_id": names}), directory=digits["directory"])
    np.testing.assert_allclose(probs(frame), exact, atol=1e-6)
    assert half.layers[1].compute_dtype == "bfloat16"  # the user's model is left as it was


def test_test_time_augmentation_always_includes_the_image_and_follows_the_image_not_its_batch(trained, digits,
                                                                                             validation):
    table = validation[0].head(40)
    names = table["image_id"].tolist()
    x = pixels(digits["directory"], names)
    softmax = lambda v: keras.ops.convert_to_numpy(keras.ops.softmax(trained(v)))  # noqa: E731
    # True: the image and its mirror image, averaged.
    mirrored = pykd.predict(trained, table, directory=digits["directory"], tta=True)
    np.testing.assert_allclose(probs(mirrored), (softmax(x) + softmax(x[:, :, ::-1])) / 2, atol=1e-5)
    flip = pykd.predict(trained, table, directory=digits["directory"], tta=pykd.Augmentation(horizontal_flip=True))
    pd.testing.assert_frame_equal(flip, mirrored)  # a flip's one other view is the mirror image
    # Random views: the same for an image whatever its batch, its row or the rest of the table (3.0 is R's 3).
    views = pykd.predict(trained, table, directory=digits["directory"], tta=3)
    again = pykd.predict(trained, table.iloc[::-1].head(25), directory=digits["directory"], tta=3.0, batch_size=7)
    pd.testing.assert_frame_equal(again.set_index("image_id"), views.set_index("image_id").loc[again["image_id"]])
    assert not np.allclose(probs(views), softmax(x), atol=1e-3)
    np.testing.assert_allclose(probs(views).sum(axis=1), 1.0, atol=1e-5)
    # A model of the mean colour ignores flips and hardly sees 10% shifts: the views are the same image, moved.
    keras.utils.set_random_seed(0)
    colour = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Rescaling(1 / 255),
                               keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, activation="softmax")])
    still = probs(pykd.predict(colour, table, directory=digits["directory"]))
    moved = probs(pykd.predict(colour, table, directory=digits["directory"], tta=pykd.Augmentation(zoom_range=0.1)))
    np.testing.assert_allclose(moved, still, atol=0.02)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(tta=-1), "tta must be True (the image and its mirror image), a number of views or an augmentation"),
        (dict(tta=1.5), "tta must be True (the image and its mirror image), a number of views or an augmentation"),
        (dict(tta={"mixup": 0.2}), "tta takes views of one image; mixup=0.2 mixes images of a batch"),
        (dict(batch_size=0), "batch_size must be >= 1"),
        (dict(model_outputs="softmax"), "model_outputs must be one of"),
        (dict(x_col="file"), "has no column 'file'"),
        (dict(classes=["a", "b", "c"]), "outputs 10 classes but the data has 3 classes"),
        (dict(classes=["label", *"bcdefghij"]), "The class names 'label' are also the frame's"),
        (dict(image_size=[20, 20]), "image_size is [20, 20] but the student takes 16x16 images"),
        (dict(directory="no/such/folder"), "The image directory 'no/such/folder' does not exist"),
    ],
)
def test_bad_arguments_are_refused_before_any_image_is_read(unnamed, digits, validation, kwargs, words):
    arguments = dict(data=validation[0].head(5), directory=digits["directory"]) | kwargs
    with pytest.raises(pykd.DataError) as info:
        pykd.predict(unnamed, **arguments)
    assert words in str(info.value)


def test_an_empty_folder_and_unreadable_images(trained, digits, tmp_path):
    with pytest.raises(pykd.DataError, match="holds no image files") as info:
        pykd.predict(trained, directory=tmp_path)
    assert info.value.render("python")["fix"] == "Check directory, or pass data='images.csv' naming the images."
    assert info.value.render("r")["fix"] == 'Check directory, or pass df = "images.csv" naming the images.'  # R's name
    for i in range(4):
        shutil.copy(f"{digits['directory']}/digit_000{i}.jpg", tmp_path / f"digit_000{i}.jpg")
    (tmp_path / "broken.jpg").write_text("not a JPEG")
    with pytest.raises(pykd.DataError, match="broken.jpg"):
        pykd.predict(trained, directory=tmp_path)
    with pytest.warns(UserWarning, match="Skipped 1 unreadable image"):
        frame = pykd.predict(trained, directory=tmp_path, on_bad_image="skip")
    assert frame["image_id"].tolist() == [f"digit_000{i}.jpg" for i in range(4)]


def test_repeated_predictions_trace_without_retracing_warnings(trained, digits, validation, caplog):
    """Each call traces its own model once; TensorFlow must not see that as one function retracing."""
    table, _ = validation
    with caplog.at_level("WARNING", logger="tensorflow"):
        for _ in range(7):
            pykd.predict(trained, table[:8], directory=digits["directory"], tta=2)
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]
