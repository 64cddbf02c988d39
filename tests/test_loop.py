"""The whole loop on real JPEGs: streams, metrics, callbacks, seeds, the teacher cache."""

import csv
import math

import keras
import numpy as np
import pandas as pd
import pytest
from conftest import SIZE, tiny_model, write_images

import pykd


def _weights_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


def test_distill_on_real_jpegs_learns_and_reports_every_column(digits):
    teacher, student = tiny_model(seed=1, name="t"), tiny_model(seed=2, name="s")
    before = [w.copy() for w in student.get_weights()]
    teacher_before = [w.copy() for w in teacher.get_weights()]
    history = pykd.distill(
        teacher, student, digits["train_csv"], directory=digits["directory"], validation=digits["validation_csv"],
        classes=digits["classes"], epochs=2, steps_per_epoch=5, batch_size=16, seed=0, verbose=0,
    )
    frame = history.to_frame()
    assert list(frame.columns) == ["epoch", "loss", "student_loss", "distillation_loss", "accuracy", "val_loss", "val_accuracy",
                                   "learning_rate"]
    assert frame["epoch"].tolist() == [1, 2]
    assert frame.notna().all().all() and (frame["distillation_loss"] > 0).all()
    assert not _weights_equal(student, type("W", (), {"get_weights": lambda self: before})())
    assert all(np.array_equal(a, b) for a, b in zip(teacher.get_weights(), teacher_before))  # teacher untouched
    plain = history.to_dict()
    assert all(isinstance(v, float) for v in plain["loss"]) and plain["epoch"] == [1, 2]
    assert history.params["mode"] == "distill" and history.params["teacher_cache"] is True


def test_seed_scenario_2141_validation_rows_batch_8_never_runs_out(tmp_path):
    # 2141 validation rows / 8 = 267 batches + 5 rows; 12 epochs x 40 steps wraps past the end.
    directory = tmp_path / "img"
    names = write_images(directory, 2141 + 45, size=SIZE)
    val = pd.DataFrame({"image_id": names[:2141], "label": np.arange(2141) % 3})
    train = pd.DataFrame({"image_id": names[2141:], "label": np.arange(45) % 3})  # 45 rows: 6 batches, 7 steps/epoch
    teacher, student = tiny_model(n_classes=3, seed=1), tiny_model(n_classes=3, seed=2)
    history = pykd.distill(
        teacher, student, train, directory=str(directory), validation=val, batch_size=8, epochs=12,
        steps_per_epoch=7, validation_steps=40, seed=1, verbose=0,
    )
    assert len(history) == 12 and history.to_frame().notna().all().all()
    # Validation over exactly one pass equals a one-shot evaluation of the same rows.
    one_pass = pykd.distill(
        teacher, student, train, directory=str(directory), validation=val, batch_size=8, epochs=1,
        steps_per_epoch=1, validation_steps=math.ceil(2141 / 8), learning_rate=1e-12, optimizer="sgd", verbose=0,
    )
    direct = pykd.evaluate(student, val, directory=str(directory), batch_size=8)
    assert direct["n"] == 2141
    last = one_pass.last()
    assert last["val_loss"] == pytest.approx(direct["loss"], rel=1e-6)
    assert last["val_accuracy"] == pytest.approx(direct["accuracy"], abs=1e-9)


def test_epoch_means_are_weighted_by_rows_not_batches(tmp_path):
    # 10 rows, batch 4: batches of 4, 4, 2. With lr ~ 0 the model is fixed, so the
    # epoch's student_loss must equal evaluate() over the same rows exactly.
    directory = tmp_path / "img"
    names = write_images(directory, 10, size=SIZE, seed=3)
    table = pd.DataFrame({"image_id": names, "label": [0, 1, 2, 0, 1, 2, 0, 1, 2, 2]})
    model = tiny_model(n_classes=3, seed=4)
    history = pykd.train_scratch(model, table, directory=str(directory), batch_size=4, epochs=1,
                                 optimizer="sgd", learning_rate=1e-12, verbose=0)
    direct = pykd.evaluate(model, table, directory=str(directory), batch_size=10)
    assert history.last()["student_loss"] == pytest.approx(direct["loss"], rel=1e-5)
    assert history.last()["accuracy"] == pytest.approx(direct["accuracy"])


def test_two_seeded_runs_give_identical_histories_and_weights(digits):
    runs = []
    for _ in range(2):
        teacher, student = tiny_model(seed=1), tiny_model(seed=2)
        history = pykd.distill(
            teacher, student, digits["train_csv"], directory=digits["directory"], validation=digits["validation_csv"],
            classes=digits["classes"], epochs=2, steps_per_epoch=6, batch_size=16, seed=123, verbose=0,
            augment=pykd.Augmentation(rotation_range=20, width_shift_range=0.1, zoom_range=0.2, horizontal_flip=True),
        )
        runs.append((history.to_dict(), student.get_weights()))
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))


def test_standard_keras_callbacks_fire(digits, tmp_path):
    student = tiny_model(seed=2)
    log = tmp_path / "log.csv"
    saved = tmp_path / "best.keras"
    seen = {"epochs": [], "batches": 0}
    history = pykd.distill(
        tiny_model(seed=1), student, digits["train_csv"], directory=digits["directory"],
        validation=digits["validation_csv"], classes=digits["classes"], epochs=30, steps_per_epoch=2, batch_size=16,
        verbose=0, learning_rate=1e-9, optimizer="sgd",
        callbacks=[
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=1, min_delta=1.0),
            keras.callbacks.ModelCheckpoint(str(saved), monitor="val_loss"),
            keras.callbacks.CSVLogger(str(log)),
            keras.callbacks.TerminateOnNaN(),
            pykd.FunctionCallback(on_epoch_end=lambda e, logs: seen["epochs"].append((e, sorted(logs))),
                                  on_batch_end=lambda s, n: seen.__setitem__("batches", seen["batches"] + 1)),
        ],
    )
    assert len(history) == 2 and history.params["stopped_early"]  # EarlyStopping stopped it
    assert saved.is_file() and keras.models.load_model(saved).count_params() == student.count_params()
    rows = list(csv.DictReader(log.open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1] and "val_accuracy" in rows[0]
    assert [e for e, _ in seen["epochs"]] == [1, 2] and "distillation_loss" in seen["epochs"][0][1]
    assert seen["batches"] == 4


def test_teacher_cache_matches_live_teacher_and_probability_teachers(digits):
    common = dict(directory=digits["directory"], classes=digits["classes"], epochs=2, steps_per_epoch=4,
                  batch_size=16, seed=5, verbose=0)
    results = []
    for cache in (True, False):
        student = tiny_model(seed=2)
        h = pykd.distill(tiny_model(seed=1), student, digits["train_csv"], cache_teacher=cache, **common)
        results.append(h.to_frame())
    pd.testing.assert_frame_equal(results[0], results[1], rtol=1e-3, atol=1e-5)
    # A softmax teacher is read as probabilities (log p), never softmaxed twice:
    soft_teacher = tiny_model(seed=1, softmax=True)
    soft_teacher.set_weights(tiny_model(seed=1).get_weights())
    h = pykd.distill(soft_teacher, tiny_model(seed=2), digits["train_csv"], **common)
    pd.testing.assert_frame_equal(h.to_frame(), results[0], rtol=1e-3, atol=1e-5)


def test_scratch_uses_labeled_rows_only_and_has_no_distillation_term(digits):
    h = pykd.train_scratch(tiny_model(seed=2), digits["train_csv"], directory=digits["directory"], epochs=1,
                           batch_size=16, verbose=0)
    assert h.params["n_train"] == digits["n_labeled"] and h.params["alpha"] == 1.0
    # Issue 16: a scratch run reports no distillation term at all, rather than a 0.
    assert "distillation_loss" not in h.last() and "distillation_loss" not in h.to_frame()
    assert h.last()["loss"] == pytest.approx(h.last()["student_loss"])


def test_history_plot_writes_a_png(digits, tmp_path):
    h = pykd.train_scratch(tiny_model(seed=2), digits["train_csv"], directory=digits["directory"],
                           validation=digits["validation_csv"], classes=digits["classes"], epochs=2, verbose=0)
    path = tmp_path / "h.png"
    h.plot(path)
    assert path.stat().st_size > 5000
    assert "scratch" in repr(h)


def test_a_rows_augmented_view_depends_on_seed_row_and_draw_alone():
    """So one device and N replicas (each holding part of a batch) see the same views."""
    from pykd._tf import tf
    from pykd.data.augmentation import build_augmenter, keyed_uniform

    def draw(n):  # as the train step passes it
        return tf.constant(n, tf.int64)

    augmenter = build_augmenter(pykd.Augmentation(rotation_range=30, width_shift_range=0.2, horizontal_flip=True), 5)
    x = np.random.default_rng(0).uniform(0, 255, (6, SIZE, SIZE, 3)).astype("float32")
    rows = np.array([4, 9, 2, 7, 0, 3])
    whole = augmenter(x, training=True, keys=(rows, draw(1))).numpy()
    halves = [augmenter(x[i:i + 3], training=True, keys=(rows[i:i + 3], draw(1))).numpy() for i in (0, 3)]
    np.testing.assert_array_equal(whole, np.concatenate(halves))
    reordered = augmenter(x[::-1], training=True, keys=(rows[::-1], draw(1))).numpy()
    np.testing.assert_array_equal(whole, reordered[::-1])
    assert not np.allclose(whole, augmenter(x, training=True, keys=(rows, draw(2))).numpy())  # the next pass: new views
    assert not np.allclose(whole, build_augmenter(augmenter.augment, 6)(x, training=True, keys=(rows, draw(1))).numpy())
    # The draws are uniform on [-1, 1) and independent of each other across rows and columns.
    u = keyed_uniform(5, np.arange(20000), 0, 7).numpy()
    assert u.min() >= -1 and u.max() < 1
    np.testing.assert_allclose(u.mean(axis=0), 0, atol=0.02)
    np.testing.assert_allclose(np.corrcoef(u.T) - np.eye(7), 0, atol=0.03)


def test_a_run_builds_one_input_pipeline_for_all_its_epochs(digits):
    # Each pipeline costs a fixed 0.2-0.3 s to build under a strategy; a run builds one per
    # CHUNK_STEPS batches, not one per epoch.
    class CountPipelines(keras.callbacks.Callback):
        built = {"train": 0, "validation": 0}

        def set_run(self, run):
            for name, part in (("train", run.train), ("validation", run.validation)):
                images, batches = part.images, part.images.batches

                def counted(*args, _name=name, _batches=batches, **kwargs):
                    self.built[_name] += 1
                    return _batches(*args, **kwargs)

                images.batches = counted

    counter = CountPipelines()
    epochs, steps = 5, 7
    options = dict(directory=digits["directory"], validation=digits["validation_csv"], classes=digits["classes"],
                   epochs=epochs, steps_per_epoch=steps, batch_size=16, seed=9, verbose=0, cache_images=False)
    history = pykd.distill(tiny_model(seed=1), tiny_model(seed=2), digits["train_csv"], callbacks=counter, **options)
    assert len(history) == epochs and counter.built == {"train": 1, "validation": 1}
    # The teacher's one pass over the table, then every epoch's batches.
    assert history.params["rows_read"] == history.params["n_train"] + epochs * steps * 16
