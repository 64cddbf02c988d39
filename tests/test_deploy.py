"""pykd.export (TFLite / SavedModel) and pykd.compare (size, speed, accuracy) on real images and models."""

from __future__ import annotations

import math
import os
import tempfile

import keras
import numpy as np
import pandas as pd
import pytest
from conftest import SIZE, tiny_model

import pykd
from pykd._tf import tf
from pykd.data.images import FileImages, ImageSpec
from pykd.serve.representative import representative_inputs
from pykd.serve.runners import TFLiteRunner

COLUMNS = ["model", "params", "size_mb", "ms_per_image", "ms_per_image_batch1", "accuracy"]


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    return pykd.export(trained, tmp_path_factory.mktemp("export") / "student.tflite")


def probs(frame) -> np.ndarray:
    return frame.drop(columns=["image_id", "label"]).to_numpy()


def test_tflite_predictions_agree_with_keras_on_every_image_of_the_folder(trained, exported, digits):
    assert exported.endswith("student.tflite") and os.path.getsize(exported) > 0
    keras_frame = pykd.predict(trained, directory=digits["directory"])
    lite_frame = pykd.predict(exported, directory=digits["directory"])
    assert len(lite_frame) == 1797 and lite_frame["image_id"].tolist() == keras_frame["image_id"].tolist()
    agree = np.mean(lite_frame["label"].to_numpy() == keras_frame["label"].to_numpy())
    assert agree >= 0.995, agree
    assert np.abs(probs(lite_frame) - probs(keras_frame)).max() < 1e-4
    table = pd.read_csv(digits["validation_csv"]).head(40)  # evaluate() takes the file as predict() does
    lite, keras_scores = (pykd.evaluate(m, table, directory=digits["directory"]) for m in (exported, trained))
    assert lite["n"] == keras_scores["n"] == 40 and lite["accuracy"] == keras_scores["accuracy"]
    assert lite["loss"] == pytest.approx(keras_scores["loss"], rel=1e-3)
    interpreter = TFLiteRunner(exported).interpreter
    assert interpreter.get_input_details()[0]["dtype"] == np.float32  # float32, not quantized
    assert interpreter.get_output_details()[0]["dtype"] == np.float32


def test_a_tflite_file_is_read_as_logits_or_probabilities_like_a_keras_model(exported, digits, tmp_path):
    table = pd.read_csv(digits["validation_csv"]).head(40)
    softmax = tiny_model(softmax=True)
    path = pykd.export(softmax, tmp_path / "softmax.tflite")
    np.testing.assert_allclose(probs(pykd.predict(path, table, directory=digits["directory"])),
                               probs(pykd.predict(softmax, table, directory=digits["directory"])), atol=1e-5)
    with pytest.raises(pykd.DataError, match="model_outputs='probabilities', but the model returns not probabilities"):
        pykd.predict(exported, table, directory=digits["directory"], model_outputs="probabilities")
    with_classes = pykd.predict(exported, table, directory=digits["directory"], classes=digits["classes"], tta=2)
    assert list(with_classes.columns) == ["image_id", "label", *digits["classes"]]


def test_saved_model_folder_serves_the_same_outputs(trained, digits, tmp_path):
    folder = pykd.export(trained, tmp_path / "served")
    assert os.path.isdir(folder) and os.path.isfile(os.path.join(folder, "saved_model.pb"))
    names = pd.read_csv(digits["validation_csv"])["image_id"].head(32)
    ((_, x),) = FileImages([f"{digits['directory']}/{n}" for n in names], ImageSpec(SIZE, SIZE)).dataset([np.arange(32)])
    served = tf.saved_model.load(folder)  # kept: its functions need its variables alive
    np.testing.assert_allclose(served.serve(x).numpy(), keras.ops.convert_to_numpy(trained(x)), atol=1e-5)
    path = pykd.models.save_model(trained, tmp_path / "student.keras")  # a model file exports too
    assert pykd.export(path, tmp_path / "from_file.tflite", format="tflite").endswith("from_file.tflite")
    # A SavedModel is for serving: predict() says so instead of calling the folder missing.
    with pytest.raises(pykd.DataError, match="is a SavedModel folder, which pykd does not read back"):
        pykd.predict(folder, directory=digits["directory"])


def test_export_refuses_unknown_formats_and_paths_of_the_wrong_kind(trained, tmp_path):
    with pytest.raises(pykd.DataError, match="format must be one of"):
        pykd.export(trained, tmp_path / "m.onnx", format="onnx")
    (tmp_path / "file").write_text("")
    with pytest.raises(pykd.DataError, match="A SavedModel is a folder"):
        pykd.export(trained, tmp_path / "file")
    (tmp_path / "dir.tflite").mkdir()
    with pytest.raises(pykd.DataError, match="A TFLite model is one file"):
        pykd.export(trained, tmp_path / "dir.tflite")
    with pytest.raises(pykd.DataError, match="does not exist"):
        pykd.export(tmp_path / "missing.keras", tmp_path / "m.tflite")
    with pytest.raises(pykd.DataError, match="writes a .tflite file or a SavedModel folder, not a .onnx file") as info:
        pykd.export(trained, tmp_path / "m.onnx")  # would have been a SavedModel folder named m.onnx
    assert "rkd_export()" in info.value.render("r")["problem"] and not (tmp_path / "m.onnx").exists()


def test_compare_gives_one_plain_row_per_model(trained, exported, digits, tmp_path):
    path = pykd.models.save_model(trained, tmp_path / "student.keras")
    teacher = pykd.models.example_teacher(input_shape=(SIZE, SIZE, 3), seed=0)
    models = {"student": trained, "student_file": path, "student_tflite": exported, "teacher": teacher}
    table = pd.read_csv(digits["validation_csv"])
    frame = pykd.compare(models, table, directory=digits["directory"], classes=digits["classes"])
    assert list(frame.columns) == COLUMNS and frame["model"].tolist() == list(models)
    rows = frame.set_index("model")
    assert rows.loc["student", "params"] == rows.loc["student_file", "params"] == trained.count_params()
    assert rows.loc["teacher", "params"] == teacher.count_params()
    assert 0 < rows.loc["student_tflite", "params"] <= trained.count_params()
    assert rows.loc["student_file", "size_mb"] == pytest.approx(os.path.getsize(path) / 2**20)
    assert rows.loc["student_tflite", "size_mb"] == pytest.approx(os.path.getsize(exported) / 2**20)
    assert rows.loc["student", "size_mb"] == pytest.approx(rows.loc["student_file", "size_mb"], rel=0.1)
    assert rows.loc["teacher", "size_mb"] > rows.loc["student", "size_mb"]
    accuracy = pykd.evaluate(trained, table, directory=digits["directory"], classes=digits["classes"])["accuracy"]
    assert rows.loc["student", "accuracy"] == rows.loc["student_file", "accuracy"] == accuracy
    assert abs(rows.loc["student_tflite", "accuracy"] - accuracy) <= 0.005
    for column in ("ms_per_image", "ms_per_image_batch1"):
        assert all(math.isfinite(v) and v > 0 for v in frame[column])
    plain = frame.to_dict(orient="list")  # what R reads
    assert {type(v) for column in COLUMNS[1:] for v in plain[column]} <= {int, float}
    assert all(isinstance(v, str) for v in plain["model"])


def test_compare_refuses_a_list_and_a_table_without_labels(trained, digits):
    with pytest.raises(pykd.DataError, match="models must be a dict of name to model"):
        pykd.compare([trained], digits["validation_csv"], directory=digits["directory"], classes=digits["classes"])
    unlabeled = pd.read_csv(digits["train_csv"]).head(20).assign(label=None)
    with pytest.raises(pykd.DataError, match="no labeled rows"):
        pykd.compare({"student": trained}, unlabeled, directory=digits["directory"])


def test_a_damaged_tflite_file_is_refused_and_a_uint8_one_from_tflite_itself_runs(trained, digits, tmp_path):
    (tmp_path / "damaged.tflite").write_bytes(b"not a flatbuffer")
    with pytest.raises(pykd.DataError, match="Could not read the TFLite model"):
        pykd.predict(tmp_path / "damaged.tflite", directory=digits["directory"])
    table = pd.read_csv(digits["validation_csv"]).head(96)
    (_, pixels), = FileImages([f"{digits['directory']}/{n}" for n in table["image_id"]],
                              ImageSpec(SIZE, SIZE)).dataset([np.arange(len(table))])
    with tempfile.TemporaryDirectory() as folder:  # uint8 in and out, as TFLite's own converter writes it
        trained.export(folder, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([pixels[i:i + 1]] for i in range(len(table)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = tf.uint8
        (tmp_path / "uint8.tflite").write_bytes(converter.convert())
    frame = pykd.predict(tmp_path / "uint8.tflite", table, directory=digits["directory"], classes=digits["classes"])
    keras_frame = pykd.predict(trained, table, directory=digits["directory"])
    assert TFLiteRunner(tmp_path / "uint8.tflite").interpreter.get_input_details()[0]["dtype"] == np.uint8
    assert (frame["label"] == keras_frame["label"]).mean() >= 0.9
    np.testing.assert_allclose(probs(frame).sum(axis=1), 1.0, atol=1e-5)


def test_an_int8_file_is_smaller_predicts_alike_and_is_compared(trained, exported, digits, tmp_path):
    path = pykd.export(trained, tmp_path / "int8.tflite", quantize="int8", representative=digits["train_csv"],
                       directory=digits["directory"])
    interpreter = TFLiteRunner(path).interpreter
    assert interpreter.get_input_details()[0]["dtype"] == interpreter.get_output_details()[0]["dtype"] == np.int8
    assert os.path.getsize(path) < 0.65 * os.path.getsize(exported)  # a 2,042-parameter model: mostly the format
    table = pd.read_csv(digits["validation_csv"]).head(160)
    lite, keras_frame = (pykd.predict(m, table, directory=digits["directory"]) for m in (path, trained))
    assert (lite["label"] == keras_frame["label"]).mean() >= 0.95
    assert list(lite.columns) == list(keras_frame.columns)  # the class names travel in the file
    assert np.abs(probs(lite) - probs(keras_frame)).mean() < 0.02
    row = pykd.compare({"int8": path}, table, directory=digits["directory"]).iloc[0]
    assert row["params"] == trained.count_params()  # int8 weights and int32 biases
    assert row["size_mb"] == pytest.approx(os.path.getsize(path) / 2**20)
    truth = np.array(digits["classes"])[table[digits["classes"]].to_numpy().argmax(axis=1)]
    assert row["accuracy"] == pytest.approx((lite["label"] == truth).mean())
    assert abs(row["accuracy"] - (keras_frame["label"] == truth).mean()) <= 0.03


def test_representative_images_are_read_from_every_input_distill_takes(trained, digits, tmp_path):
    table = pd.read_csv(digits["validation_csv"]).head(12)
    files = representative_inputs(trained, table, directory=digits["directory"], x_col="image_id",
                                  image_size=None, rescale=1 / 255)
    assert files.shape == (12, SIZE, SIZE, 3) and files.max() <= 1.0
    x = (files * 255).round().astype(np.uint8)
    for data in (x, (x, np.array(list("abcdefghijkl"))), tf.data.Dataset.from_tensor_slices((x, np.zeros(12))),
                 tf.data.Dataset.from_tensor_slices(x).batch(5)):
        read = representative_inputs(trained, data, directory=None, x_col="image_id", image_size=None, rescale=1 / 255)
        np.testing.assert_allclose(read, files, atol=0.5 / 255)
    for name, label in zip(table["image_id"], table[digits["classes"]].to_numpy().argmax(1)):  # class subfolders
        os.makedirs(tmp_path / "classes" / str(label), exist_ok=True)
        os.link(os.path.join(digits["directory"], name), tmp_path / "classes" / str(label) / name)
    folder = representative_inputs(trained, str(tmp_path / "classes"), directory=None, x_col="image_id",
                                   image_size=None, rescale=None, limit=5)
    assert folder.shape == (5, SIZE, SIZE, 3) and folder.max() > 1  # spread over the classes, not rescaled


def test_int8_needs_representative_images_and_only_int8_takes_them(trained, digits, tmp_path):
    with pytest.raises(pykd.DataError, match="quantize='int8' quantizes the activations too") as info:
        pykd.export(trained, tmp_path / "m.tflite", quantize="int8")
    assert 'representative = df, directory = "images/"' in info.value.render("r")["fix"]
    with pytest.raises(pykd.DataError, match="representative is for the images an int8 file is calibrated on, "
                                             "but the export has quantize='dynamic'"):
        pykd.export(trained, tmp_path / "m.tflite", quantize="dynamic", representative=digits["train_csv"])
    with pytest.raises(pykd.DataError, match="directory, rescale are for the images an int8 file"):
        pykd.export(trained, tmp_path / "m.tflite", directory=digits["directory"], rescale=1 / 255)
    with pytest.raises(pykd.DataError, match="directory is not set, and the representative table names image files"):
        pykd.export(trained, tmp_path / "m.tflite", quantize="int8", representative=digits["train_csv"])
    assert not (tmp_path / "m.tflite").exists()


def test_a_quantized_tflite_file_is_smaller_and_predicts_alike(trained, digits, tmp_path):
    table = pd.read_csv(digits["validation_csv"]).head(64)
    plain = pykd.export(trained, tmp_path / "plain.tflite")
    sizes = {}
    for quantize in ("dynamic", "float16"):
        path = pykd.export(trained, tmp_path / f"{quantize}.tflite", quantize=quantize)
        sizes[quantize] = os.path.getsize(path)
        frame = pykd.predict(path, table, directory=digits["directory"])
        reference = pykd.predict(plain, table, directory=digits["directory"])
        assert (frame["label"] == reference["label"]).mean() >= 0.95, quantize
    assert sizes["dynamic"] < sizes["float16"] < os.path.getsize(plain)
    with pytest.raises(pykd.DataError, match="quantize='dynamic' applies to a .tflite file"):
        pykd.export(trained, tmp_path / "saved", quantize="dynamic")
