"""Keras-native distillation (issue 32): pykd.Distiller, a keras.Model whose train_step is distill()'s step,
and distill()/train_scratch() on a user's own tf.data pipeline."""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest
from conftest import SIZE, tiny_model, write_images

import pykd
from pykd._tf import tf
from pykd.core.errors import DataError
from pykd.data.images import ImageSpec, decode
from pykd.data.stream import BatchStream
from pykd.run.schedule import PEAK, warmup_cosine

T, ALPHA = 2.5, 0.3


def models():
    """A teacher and a student with fixed starting weights (a fresh pair per call)."""
    return tiny_model(n_classes=3, seed=1, name="teacher"), tiny_model(n_classes=3, seed=2, name="student")


def test_the_distiller_step_is_the_distillation_loss_with_unlabeled_and_one_hot_rows(random_images):
    directory, table = random_images(12, k=3, size=SIZE)
    x = np.stack([decode(tf.constant(os.path.join(directory, f)), ImageSpec(SIZE, SIZE)).numpy() for f in table.image_id])
    ids = table.label.to_numpy().copy()
    ids[:4] = -1
    one_hot = np.eye(3, dtype="float32")[np.maximum(ids, 0)] * (ids >= 0)[:, None]
    for y in (ids, ids[:, None], one_hot):  # ids as (batch,) or (batch, 1), as Keras pipelines give them
        teacher, student = models()
        expected = pykd.distillation_loss(y, student(x), teacher(x), temperature=T, alpha=ALPHA)
        distiller = pykd.Distiller(teacher, student, temperature=T, alpha=ALPHA, teacher_precision="float32")
        distiller.compile(keras.optimizers.SGD(0.1), run_eagerly=True)  # the same step, op by op
        logs = distiller.fit(tf.data.Dataset.from_tensors((x, y)), epochs=1, verbose=0).history
        assert logs["loss"][0] == pytest.approx(float(expected), rel=1e-5)  # the loss before the update
        assert not np.allclose(student.get_weights()[0], models()[1].get_weights()[0])  # and the student learned


def test_distill_on_a_table_on_a_dataset_and_the_distiller_train_alike(random_images):
    """One run three ways on the very same batches: distill() reading a table, distill() on a tf.data
    pipeline, and a Keras user's own Distiller.fit(). Same losses per epoch, same weights."""
    directory, table = random_images(12, k=3, size=SIZE)
    table["label"] = table["label"].astype(float)
    table.loc[:4, "label"] = np.nan  # unlabeled rows learn from the teacher alone, in every path
    common = dict(temperature=T, alpha=ALPHA, teacher_precision="float32")
    teacher, student = models()
    by_table = pykd.distill(teacher, student, table, directory=directory, batch_size=8, epochs=2, seed=3,
                            cache_images=False, verbose=0, **common)
    # The table run's batches, in its order (its stream, seeded alike), as a tf.data pipeline.
    stream = BatchStream(len(table), 8, shuffle=True, seed=3)
    steps = stream.steps_per_pass  # 8 + 4 rows
    paths = [os.path.join(directory, f) for f in table.image_id]
    labels = np.nan_to_num(table.label.to_numpy(), nan=-1).astype(int)  # -1: unlabeled
    epochs = [np.concatenate(stream.take(steps)) for _ in range(2)]
    dataset = epochs_of = None
    for rows in epochs:
        epochs_of = tf.data.Dataset.from_tensor_slices((tf.gather(paths, rows), labels[rows])).batch(8)
        dataset = epochs_of if dataset is None else dataset.concatenate(epochs_of)
    dataset = dataset.map(lambda p, y: (tf.map_fn(lambda q: decode(q, ImageSpec(SIZE, SIZE)), p,
                                                  fn_output_signature=tf.float32), y))
    student_ds = models()[1]
    by_dataset = pykd.distill(teacher, student_ds, dataset, epochs=2, steps_per_epoch=steps, verbose=0, **common)
    student_keras = models()[1]
    distiller = pykd.Distiller(teacher, student_keras, **common)
    distiller.compile(keras.optimizers.Adam(warmup_cosine(PEAK, 2 * steps)))  # distill()'s default rate
    by_keras = distiller.fit(dataset, epochs=2, steps_per_epoch=steps, verbose=0, shuffle=False).history
    for column in ("loss", "student_loss", "distillation_loss", "accuracy"):
        np.testing.assert_allclose(by_dataset.history[column], by_table.history[column], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(by_keras[column], by_table.history[column], rtol=1e-5, atol=1e-7)
    for a, b, c in zip(student.get_weights(), student_ds.get_weights(), student_keras.get_weights()):
        np.testing.assert_allclose(b, a, atol=1e-6)
        np.testing.assert_allclose(c, a, atol=1e-6)


def test_a_class_folder_pipeline_trains_and_names_the_classes(tmp_path):
    for i, name in enumerate(["cat", "dog", "owl"]):
        write_images(tmp_path / "train" / name, 4, size=SIZE, seed=i)
    dataset = keras.utils.image_dataset_from_directory(tmp_path / "train", image_size=(SIZE, SIZE), batch_size=4,
                                                       seed=0, verbose=False)
    teacher, student = models()
    history = pykd.distill(teacher, student, dataset, validation=dataset, epochs=1, verbose=0)
    assert set(history.columns) >= {"loss", "distillation_loss", "val_accuracy", "learning_rate"}
    assert pykd.models.classes_of(student) == ("cat", "dog", "owl")  # image_dataset_from_directory's class_names
    # predict() reads the same folder by its subfolders, or one folder of images as its directory
    frame = pykd.predict(student, tmp_path / "train")
    assert list(frame.image_id[:2]) == ["cat/img_00000.jpg", "cat/img_00001.jpg"] and len(frame) == 12
    assert set(frame.label) <= {"cat", "dog", "owl"} and len(pykd.predict(student, tmp_path / "train" / "owl")) == 4
    scratch = pykd.train_scratch(models()[1], dataset.unbatch(), batch_size=6, epochs=1, verbose=0)
    assert scratch.params["mode"] == "scratch" and "distillation_loss" not in scratch.columns


def test_ctrl_c_on_a_pipeline_leaves_the_last_finished_epoch_in_the_student(random_images):
    x = np.random.default_rng(0).integers(0, 255, (16, SIZE, SIZE, 3)).astype("uint8")
    dataset = tf.data.Dataset.from_tensor_slices((x, np.arange(16) % 3)).batch(4)
    teacher, student = models()
    after_first = []

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            after_first.append(student.get_weights())

        def on_train_batch_end(self, batch, logs=None):
            if after_first and batch == 1:
                raise KeyboardInterrupt  # as Ctrl-C in the second epoch

    with pytest.raises(KeyboardInterrupt) as caught:
        pykd.distill(teacher, student, dataset, epochs=3, verbose=0, callbacks=[Interrupt()])
    assert len(caught.value.history.records) == 1 and caught.value.history.params["interrupted"]
    for kept, now in zip(after_first[0], student.get_weights()):
        np.testing.assert_array_equal(kept, now)


def test_what_a_pipeline_cannot_do_is_refused_with_a_fix(random_images):
    directory, table = random_images(6, k=3, size=SIZE)
    x = np.zeros((6, SIZE, SIZE, 3), "uint8")
    dataset = tf.data.Dataset.from_tensor_slices((x, table.label.to_numpy()))
    teacher, student = models()
    before = student.get_weights()
    with pytest.raises(DataError, match="augment is for a table.*augment in the pipeline"):
        pykd.distill(teacher, student, dataset, augment=pykd.Augmentation(horizontal_flip=True))
    with pytest.raises(DataError, match="repeats forever.*steps_per_epoch"):
        pykd.distill(teacher, student, dataset.repeat())
    with pytest.raises(DataError, match="labels are strings.*StringLookup"):
        pykd.distill(teacher, student, tf.data.Dataset.from_tensor_slices((x, ["a"] * 6)))
    with pytest.raises(DataError, match="loss and metrics are distillation's own"):
        pykd.Distiller(teacher, student).compile("adam", loss="mse")
    with pytest.raises(DataError, match="teacher outputs 4 classes but the student 3"):
        pykd.distill(tiny_model(n_classes=4), student, dataset)
    with pytest.raises(DataError, match="class_names are"):
        named = dataset.batch(2)
        named.class_names = ["b", "a", "c"]
        pykd.distill(teacher, student, named, classes=["a", "b", "c"])
    for a, b in zip(before, student.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_scoring_takes_a_dataset_and_arrays_as_it_takes_a_table(random_images, tmp_path):
    """evaluate, predict, teacher_logits and compare give a table's numbers for the same images given as a
    dataset (and predict for an array x alone); string labels in arrays are matched to the model's classes."""
    directory, table = random_images(10, k=3, size=SIZE)
    model = models()[1]
    x = np.stack([decode(tf.constant(os.path.join(directory, f)), ImageSpec(SIZE, SIZE)).numpy() for f in table.image_id])
    dataset = tf.data.Dataset.from_tensor_slices((x, table.label.to_numpy())).batch(4)
    by_table = pykd.evaluate(model, table, directory=directory)
    assert pykd.evaluate(model, dataset) == pytest.approx(by_table, rel=1e-6)
    expected = pykd.predict(model, table, directory=directory)
    for data in (dataset, x, (x, table.label.to_numpy())):
        got = pykd.predict(model, data)
        assert list(got.image_id) == list(range(10))
        np.testing.assert_allclose(got.filter(like="prob_"), expected.filter(like="prob_"), atol=1e-6)
    logits = pykd.teacher_logits(model, dataset.unbatch(), batch_size=3)
    np.testing.assert_allclose(logits.filter(like="logit_"), pykd.teacher_logits(model, table, directory=directory)
                               .filter(like="logit_"), atol=1e-5)
    assert pykd.compare({"s": model}, dataset).accuracy[0] == pytest.approx(by_table["accuracy"])
    lite = pykd.export(model, tmp_path / "s.tflite")  # a .tflite file reads the dataset as the Keras model does
    assert pykd.evaluate(lite, dataset) == pytest.approx(by_table, rel=1e-4)
    pykd.models.set_classes(model, ["cat", "dog", "owl"])
    names = np.array(["cat", "dog", "owl"])[table.label.to_numpy()]
    assert pykd.evaluate(model, (x.round().astype("uint8"), names)) == pytest.approx(by_table, rel=1e-5)
    with pytest.raises(DataError, match="class_names"):
        pykd.evaluate(model, keras_named(dataset, ["owl", "dog", "cat"]))


def keras_named(dataset, names):
    dataset.class_names = names  # as image_dataset_from_directory names its classes
    return dataset
