"""Teacher ensembles, precomputed logit tables, out-of-fold logits and sweeps."""

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_model

import pykd
from pykd import DataError


@pytest.fixture
def run(digits):
    def go(teacher, **kwargs):
        options = dict(directory=digits["directory"], classes=digits["classes"], epochs=2, steps_per_epoch=4,
                       batch_size=16, seed=3, verbose=0)
        options.update(kwargs)
        return pykd.distill(teacher, tiny_model(seed=2), digits["train_csv"], **options)

    return go


def test_precomputed_table_trains_exactly_as_the_live_teacher(digits, run, tmp_path):
    teacher = tiny_model(seed=1)
    table = pykd.teacher_logits(teacher, digits["train_csv"], directory=digits["directory"],
                                classes=digits["classes"], path=tmp_path / "logits.csv")
    assert list(table.columns) == ["image_id", *digits["classes"]] and len(table) == digits["n_train"]
    live = run(teacher).to_frame()
    for source in (table, str(tmp_path / "logits.csv"), table.to_dict(orient="list")):
        pd.testing.assert_frame_equal(run(source).to_frame(), live, rtol=1e-5, atol=1e-6)
    pykd.teacher_logits(teacher, digits["train_csv"], directory=digits["directory"], path=tmp_path / "l.npy")
    from_npy = run([str(tmp_path / "l.npy"), str(tmp_path / "l.ids.txt")])
    pd.testing.assert_frame_equal(from_npy.to_frame(), live, rtol=1e-5, atol=1e-6)
    assert from_npy.params["teacher_params"] is None  # no model loaded


def test_table_missing_images_is_an_error(digits, run):
    table = pykd.teacher_logits(tiny_model(seed=1), digits["train_csv"], directory=digits["directory"])
    with pytest.raises(DataError, match=r"no row for 5 images"):
        run(table.iloc[5:])


def test_ensemble_averages_member_logits(digits, run):
    members = [tiny_model(seed=1), tiny_model(seed=4)]
    ensemble = pykd.teacher_logits(members, digits["train_csv"], directory=digits["directory"])
    each = [pykd.teacher_logits(m, digits["train_csv"], directory=digits["directory"]) for m in members]
    expected = (each[0].iloc[:, 1:].to_numpy() + each[1].iloc[:, 1:].to_numpy()) / 2
    np.testing.assert_allclose(ensemble.iloc[:, 1:].to_numpy(), expected, rtol=1e-5, atol=1e-6)
    history = run(members)
    assert history.params["teacher_params"] == sum(m.count_params() for m in members)
    probs = run(members, teacher_combine="probabilities")
    assert not np.allclose(history.to_frame()["distillation_loss"], probs.to_frame()["distillation_loss"])
    with pytest.raises(DataError, match=r"The teachers of the ensemble output different numbers of classes \(10, 3\)"):
        pykd.teacher_logits([members[0], tiny_model(n_classes=3)], digits["train_csv"], directory=digits["directory"])


def test_out_of_fold_logits_cover_every_row_once(digits):
    built = []

    def build():
        built.append(tiny_model(seed=len(built) + 10))
        return built[-1]

    oof = pykd.out_of_fold_logits(build, digits["train_csv"], directory=digits["directory"], folds=3,
                                  classes=digits["classes"], epochs=1, batch_size=32, verbose=0)
    train = pd.read_csv(digits["train_csv"])
    assert len(built) == 3 and oof["image_id"].tolist() == train["image_id"].tolist()
    assert oof.iloc[:, 1:].notna().all().all()


def test_sweep_gives_one_row_per_setting_from_the_same_start(digits):
    student = tiny_model(seed=2)
    start = student.get_weights()
    table = pykd.sweep(tiny_model(seed=1), student, digits["train_csv"], directory=digits["directory"],
                       validation=digits["validation_csv"], classes=digits["classes"], temperatures=[1, 4],
                       alphas=[0.0, 0.5], epochs=1, steps_per_epoch=3, batch_size=16, seed=0)
    assert table[["temperature", "alpha"]].values.tolist() == [[1, 0], [1, 0.5], [4, 0], [4, 0.5]]
    assert {"loss", "val_accuracy", "best_val_accuracy"} <= set(table.columns)
    assert table["distillation_loss"].nunique() == 4
    assert all(np.array_equal(a, b) for a, b in zip(start, student.get_weights()))  # the original is untouched


def test_ctrl_c_in_a_sweep_carries_the_finished_settings(digits):
    from pykd._tf import keras

    class CtrlCInSecondSetting(keras.callbacks.Callback):
        runs = 0

        def on_train_begin(self, logs=None):
            type(self).runs += 1

        def on_train_batch_end(self, batch, logs=None):
            if self.runs == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:  # 32 rows: the teacher's logits are computed for the table
        pykd.sweep(tiny_model(seed=1), tiny_model(seed=2), pd.read_csv(digits["train_csv"]).head(32),
                   directory=digits["directory"],
                   classes=digits["classes"], temperatures=[1, 4], alphas=[0.5], epochs=1, steps_per_epoch=2,
                   batch_size=16, seed=0, callbacks=[CtrlCInSecondSetting()])
    assert info.value.sweep[["temperature", "alpha", "epochs"]].values.tolist() == [[1, 0.5, 1]]
    assert info.value.history.params["interrupted"] and len(info.value.history) == 0  # the setting it stopped


def test_a_sweep_averages_an_ensemble_as_distill_would(digits):
    # The sweep computes the teacher's logits once, with every teacher option it was given.
    ensemble = [tiny_model(seed=1), tiny_model(seed=3, softmax=True)]
    options = dict(directory=digits["directory"], classes=digits["classes"], epochs=1, steps_per_epoch=3, batch_size=16,
                   seed=0, teacher_combine="probabilities", teacher_precision="float32")
    swept = pykd.sweep(ensemble, tiny_model(seed=2), digits["train_csv"], temperatures=[3.0], alphas=[0.1], **options)
    direct = pykd.distill(ensemble, tiny_model(seed=2), digits["train_csv"], temperature=3.0, alpha=0.1, verbose=0,
                          **options).last()
    assert swept["distillation_loss"].iloc[0] == pytest.approx(direct["distillation_loss"], rel=1e-5)


def test_sweep_can_keep_the_student_of_the_best_setting(digits):
    student = tiny_model(seed=2)
    options = dict(directory=digits["directory"], classes=digits["classes"], epochs=2, steps_per_epoch=4,
                   batch_size=16, seed=0)
    table = pykd.sweep(tiny_model(seed=1), student, digits["train_csv"], validation=digits["validation_csv"],
                       temperatures=[1, 4], alphas=[0.1, 0.9], keep_best=True, **options)
    assert table["best"].sum() == 1 and table.attrs["student"] is student
    best = table[table["best"]].iloc[0]
    assert best["val_accuracy"] == table["val_accuracy"].max()
    scores = pykd.evaluate(student, digits["validation_csv"], directory=digits["directory"], classes=digits["classes"])
    assert scores["accuracy"] == pytest.approx(best["val_accuracy"])
    assert scores["loss"] == pytest.approx(best["val_loss"], rel=1e-5)
    with pytest.raises(pykd.DataError, match="keep_best=True picks the setting by its validation accuracy"):
        pykd.sweep(tiny_model(seed=1), student, digits["train_csv"], keep_best=True, **options)


def test_sweep_gives_every_setting_a_fresh_copy_of_an_optimizer_object(digits):
    from pykd._tf import keras

    schedule = keras.optimizers.schedules.CosineDecay(0.01, 6)
    options = dict(directory=digits["directory"], validation=digits["validation_csv"], classes=digits["classes"],
                   temperatures=[1, 4], alphas=[0.5], epochs=2, steps_per_epoch=3, batch_size=16, seed=0)
    given = keras.optimizers.Adam(schedule)
    shared = pykd.sweep(tiny_model(seed=1), tiny_model(seed=2), digits["train_csv"], optimizer=given, **options)
    by_name = pykd.sweep(tiny_model(seed=1), tiny_model(seed=2), digits["train_csv"], optimizer="adam",
                         learning_rate=schedule, **options)
    pd.testing.assert_frame_equal(shared, by_name, rtol=1e-5, atol=1e-6)
    assert int(given.iterations.numpy()) == 0  # the caller's optimizer is left as it was


def test_teacher_cache_on_disk_is_keyed_by_weights_and_reused(digits, run, tmp_path):
    teacher = tiny_model(seed=1)
    first = run(teacher, cache_dir=tmp_path / "cache").to_frame()
    (path,) = (tmp_path / "cache").glob("teacher-*.npz")
    stamp = path.stat().st_mtime_ns
    pd.testing.assert_frame_equal(run(teacher, cache_dir=tmp_path / "cache").to_frame(), first)
    assert path.stat().st_mtime_ns == stamp  # read back, not recomputed
    run(tiny_model(seed=9), cache_dir=tmp_path / "cache")  # other weights: another file
    assert len(list((tmp_path / "cache").glob("teacher-*.npz"))) == 2


def test_teacher_fingerprint_follows_what_the_teacher_computes_not_names():
    import keras

    from pykd.data.images import ImageSpec
    from pykd.kd.teacher import ModelTeacher

    def fingerprint(model, spec=None, **kwargs):
        return ModelTeacher([model], precision="float32").fingerprint(spec or ImageSpec(16, 16, 3), **kwargs)

    teacher = tiny_model(seed=1)
    assert fingerprint(tiny_model(seed=1)) == fingerprint(teacher)  # layers numbered anew (conv2d_7): same teacher
    assert fingerprint(tiny_model(seed=9)) != fingerprint(teacher)  # other weights
    assert fingerprint(teacher, ImageSpec(16, 16, 3, rescale=2.0)) != fingerprint(teacher)
    assert fingerprint(teacher, rounded=True) != fingerprint(teacher)  # inputs from resized, rounded pixels
    no_rescaling = keras.Sequential([layer for layer in teacher.layers if not isinstance(layer, keras.layers.Rescaling)])
    assert fingerprint(no_rescaling) != fingerprint(teacher)  # the same weights computing something else


def test_bfloat16_teacher_gives_close_logits_and_trains(digits, run):
    teacher = tiny_model(seed=1)
    exact = pykd.teacher_logits(teacher, digits["train_csv"], directory=digits["directory"], teacher_precision="float32")
    fast = pykd.teacher_logits(teacher, digits["train_csv"], directory=digits["directory"], teacher_precision="bfloat16")
    np.testing.assert_allclose(fast.iloc[:, 1:].to_numpy(), exact.iloc[:, 1:].to_numpy(), rtol=0.05, atol=0.05)
    assert not np.array_equal(fast.iloc[:, 1:].to_numpy(), exact.iloc[:, 1:].to_numpy())
    history = run(teacher, teacher_precision="bfloat16", augment={"rotation_range": 10})
    assert np.isfinite(history.to_frame()["distillation_loss"]).all()
    with pytest.raises(DataError, match="teacher_precision must be"):
        run(teacher, teacher_precision="float16")


def test_mixed_bfloat16_student_trains_with_float32_weights(digits, run):
    """The README tells GPU users to build the student under Keras' mixed_bfloat16 policy."""
    import keras

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        student = tiny_model(seed=2)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    before = [w.copy() for w in student.get_weights()]
    history = pykd.distill(tiny_model(seed=1), student, digits["train_csv"], directory=digits["directory"],
                           classes=digits["classes"], epochs=2, steps_per_epoch=4, batch_size=16, seed=3, verbose=0)
    frame = history.to_frame()
    assert np.isfinite(frame[["loss", "distillation_loss"]].to_numpy()).all()
    assert all(w.dtype == np.float32 for w in student.get_weights())
    assert any(not np.array_equal(a, b) for a, b in zip(before, student.get_weights()))
    assert student.compute_dtype == "bfloat16"


@pytest.mark.both_precisions
def test_auto_precision_follows_the_hardware_and_is_recorded(digits, run):
    from pykd.models.precision import native_bfloat16

    teacher = tiny_model(seed=1)
    history = run(teacher)
    assert history.params["teacher_precision"] == ("bfloat16" if native_bfloat16() else "float32")
    assert run(teacher, teacher_precision="float32").params["teacher_precision"] == "float32"
