"""Bad inputs get clear errors before any change; NaN stops cleanly; a killed run resumes exactly."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import SIZE, tiny_model, write_images
from PIL import Image

import pykd
from pykd import DataError
from pykd.data import bad_images


@pytest.fixture
def small(tmp_path):
    directory = tmp_path / "img"
    names = write_images(directory, 24, size=SIZE, seed=1)
    table = pd.DataFrame({"image_id": names, "label": np.arange(24) % 3})
    return str(directory), table


def _distill(directory, table, **kwargs):
    # larger_student: the toy teacher is smaller than many students here (the swap check has its own test).
    options = dict(directory=directory, epochs=1, batch_size=8, verbose=0, larger_student=True)
    options.update(kwargs)
    teacher = options.pop("teacher", None) or tiny_model(n_classes=3, seed=1)
    student = options.pop("student", None) or tiny_model(n_classes=3, seed=2)
    return pykd.distill(teacher, student, table, **options)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"epochs": 2.5}, "epochs must be a whole number"),
        ({"steps_per_epoch": 0}, "steps_per_epoch must be >= 1"),
        ({"temperature": 0}, "temperature must be a number > 0"),
        ({"alpha": 1.5}, r"alpha must be a number in \[0, 1\]"),
        ({"image_size": [8, 8]}, r"image_size is \[8, 8\] but the student takes 16x16"),
        ({"image_size": [16]}, "image_size must be two numbers"),
        ({"teacher": tiny_model(n_classes=5)}, "The teacher outputs 5 classes but the data has 3"),
        ({"resume": True}, "resume=True needs checkpoint_dir"),
        ({"augment": {"rotation": 3}}, "Unknown augmentation setting: 'rotation'"),
        ({"on_bad_image": "ignore"}, "on_bad_image must be one of"),
        # Decided once in pykd (issue 16), so R and Python refuse alike:
        ({"rescale": 0}, "rescale must be a finite number other than 0"),
        ({"classes": ["a", "b", "a"]}, "classes names 'a' more than once"),
        ({"classes": ["a"]}, r"classes must name at least two classes, not \['a'\]"),
        ({"augment": {"width_shift_range": 1.0}}, "width_shift_range must be a fraction below 1"),
        ({"augment": {"zoom_range": 1.5}}, "zoom_range must be a fraction below 1"),
        ({"learning_rate": -1}, "learning_rate must be a number > 0"),
        ({"callbacks": ["not a callback"]}, "callbacks must be Keras callbacks"),
    ],
)
def test_bad_arguments_fail_before_any_change(small, kwargs, message):
    directory, table = small
    student = tiny_model(n_classes=3, seed=2)
    before = [w.copy() for w in student.get_weights()]
    with pytest.raises(DataError, match=message):
        _distill(directory, table, student=student, **kwargs)
    assert all(np.array_equal(a, b) for a, b in zip(before, student.get_weights()))


def test_one_hot_columns_in_another_order_than_classes_are_refused(small):
    directory, table = small
    one_hot = pd.DataFrame({"image_id": table.image_id, **{c: (table.label == i).astype(int) for i, c in enumerate("abc")}})
    with pytest.raises(DataError, match=r"classes \(\['c', 'b', 'a'\]\) does not match the one-hot columns \(\['a', 'b', 'c'\]\)"):
        _distill(directory, one_hot, y_col=["a", "b", "c"], classes=["c", "b", "a"])
    renamed = _distill(directory, one_hot, y_col=["a", "b", "c"], classes=["x", "y", "z"])  # new names, same order
    assert renamed.params["classes"] == ["x", "y", "z"]


def test_student_output_width_must_match_the_classes(small):
    directory, table = small
    with pytest.raises(DataError, match="The student outputs 3 classes but the data has 4"):
        _distill(directory, table, classes=["a", "b", "c", "d"])
    with pytest.raises(DataError, match=r"label 7 \(row 1\) but the models output only 3"):
        _distill(directory, table.assign(label=[7] + [0] * 23))


def test_grayscale_rgba_and_odd_sizes_are_converted(tmp_path):
    directory = tmp_path / "mixed"
    directory.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (30, 20), dtype=np.uint8), "L").save(directory / "gray.jpg")
    Image.fromarray(rng.integers(0, 255, (9, 40, 4), dtype=np.uint8), "RGBA").save(directory / "rgba.png")
    Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(directory / "rgb.jpg")
    table = pd.DataFrame({"image_id": ["gray.jpg", "rgba.png", "rgb.jpg"], "label": [0, 1, 2]})
    history = _distill(str(directory), table)
    assert np.isfinite(history.last()["loss"])


def _corrupt(directory):
    good = Image.fromarray(np.zeros((16, 16, 3), np.uint8))
    good.save(os.path.join(directory, "full.jpg"))
    data = open(os.path.join(directory, "full.jpg"), "rb").read()
    open(os.path.join(directory, "truncated.jpg"), "wb").write(data[: len(data) // 2])
    open(os.path.join(directory, "notes.jpg"), "w").write("this is not an image")
    return ["truncated.jpg", "notes.jpg"]


def test_unreadable_images_fail_with_the_list_or_are_skipped_with_one_warning(small):
    directory, table = small
    bad = _corrupt(directory)
    with_bad = pd.concat([table, pd.DataFrame({"image_id": bad, "label": [0, 1]})], ignore_index=True)
    with pytest.raises(DataError, match=r"2 image files are unreadable: (truncated|notes)\.jpg .*on_bad_image='skip'"):
        _distill(directory, with_bad)
    validation = pd.DataFrame({"image_id": ["notes.jpg", table.image_id[0]], "label": [1, 0]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = _distill(directory, with_bad, validation=validation, on_bad_image="skip")
    messages = [str(w.message) for w in caught if "unreadable" in str(w.message)]
    assert len(messages) == 1 and "Skipped 2 unreadable" in messages[0]
    assert history.params["n_train"] == 24 and history.params["n_validation"] == 1


def test_an_image_replaced_after_a_run_is_looked_at_again_even_with_its_old_size_and_times(small, monkeypatch):
    # A run remembers which files it decoded and found readable; a later run in the process
    # trusts that only while the file is unchanged (its inode, size and times).
    monkeypatch.setattr(bad_images, "_SETTLED_NS", 0)  # remembered although just written
    directory, table = small
    _distill(directory, table)
    path = os.path.join(directory, table.image_id[3])
    before = os.stat(path)
    with open(path, "r+b") as f:  # the same size, garbage inside
        f.write(b"\0" * before.st_size)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the times put back, as rsync -t would
    with pytest.raises(DataError, match=f"1 image file is unreadable: {table.image_id[3]}"):
        _distill(directory, table)



def test_a_look_is_remembered_only_once_the_file_has_settled(small, monkeypatch):
    # git's "racy" rule: on a filesystem with coarse times, a file written again in the tick of
    # its look would keep its times, so a look that recent is not trusted later.
    directory, table = small
    paths = [os.path.join(directory, name) for name in table.image_id]
    decoded, look = [], bad_images._look
    monkeypatch.setattr(bad_images, "_look", lambda path, decode=True: decoded.append(path) or look(path, decode))
    monkeypatch.setattr(bad_images, "_SETTLED_NS", 10**18)  # every file counts as just written
    bad_images.find_bad_images(paths), bad_images.find_bad_images(paths)
    assert len(decoded) == 2 * len(paths)
    monkeypatch.setattr(bad_images, "_SETTLED_NS", 0)
    decoded.clear()
    bad_images.find_bad_images(paths), bad_images.find_bad_images(paths)
    assert sorted(decoded) == sorted(paths)  # the second look came from memory

def test_images_the_pipeline_would_misread_are_refused_up_front(small):
    directory, table = small
    colours = Image.fromarray(np.random.default_rng(0).integers(0, 255, (SIZE, SIZE, 3), np.uint8))
    colours.quantize(16).save(os.path.join(directory, "palette.bmp"))  # TensorFlow reads its indices 0..15
    colours.convert("1").save(os.path.join(directory, "bits.bmp"))  # TensorFlow cannot decode it
    colours.save(os.path.join(directory, "scan.tif"))  # PIL reads TIFF, TensorFlow does not
    odd = pd.DataFrame({"image_id": ["palette.bmp", "bits.bmp", "scan.tif"], "label": [0, 1, 2]})
    student = tiny_model(n_classes=3, seed=2)
    weights = [w.copy() for w in student.get_weights()]
    with pytest.raises(DataError, match=r"3 image files are unreadable: .*palette or 1-bit BMP.*TIFF format is not read"):
        _distill(directory, pd.concat([table, odd], ignore_index=True), student=student)
    assert all(np.array_equal(a, b) for a, b in zip(weights, student.get_weights()))
    history = _distill(directory, pd.concat([table, odd], ignore_index=True), on_bad_image="skip")
    assert history.params["n_train"] == 24


def test_nan_loss_stops_at_once_and_keeps_the_last_good_weights(small):
    directory, table = small
    keras = pykd._tf.keras
    # A linear model with an absurd learning rate: step 1 is finite, its update
    # makes the logits overflow, so step 2's loss is not. Seeded: the outcome must not
    # depend on what earlier tests drew from the global random state.
    student = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Rescaling(1 / 255),
                                keras.layers.Flatten(),
                                keras.layers.Dense(3, kernel_initializer=keras.initializers.GlorotUniform(seed=3))])
    good = {}

    def remember(step, steps):
        good["weights"] = [w.copy() for w in student.get_weights()]

    with pytest.raises(pykd.NonFiniteLossError, match=r"epoch 1, step 2") as info:
        _distill(directory, table, student=student, epochs=3, optimizer="sgd", learning_rate=1e38,
                 callbacks=[pykd.FunctionCallback(on_batch_end=remember)])
    assert (info.value.epoch, info.value.step) == (1, 2)
    assert all(np.isfinite(w).all() for w in student.get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(good["weights"], student.get_weights()))


def killable_run(directory, table_csv, ckpt=None, kill_at=0):
    """The SIGKILL test's run: (history, student). kill_at > 0 kills the process at that batch's end."""
    calls = {"n": 0}

    def maybe_die(step, steps):
        calls["n"] += 1
        if calls["n"] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    teacher, student = tiny_model(n_classes=3, seed=1), tiny_model(n_classes=3, seed=2)
    history = pykd.distill(
        teacher, student, table_csv, directory=directory, validation=table_csv, epochs=4, batch_size=8,
        steps_per_epoch=5, validation_steps=2, seed=7, verbose=0, checkpoint_dir=ckpt, resume=ckpt is not None
        and (pathlib.Path(ckpt) / "pykd-checkpoint.npz").exists(), augment=dict(rotation_range=15, horizontal_flip=True),
        callbacks=[pykd.FunctionCallback(on_batch_end=maybe_die)],
    )
    return history, student


KILLED = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from test_reliability import killable_run
    killable_run(*sys.argv[1:4], kill_at=int(sys.argv[4]))
    """
)


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(small, tmp_path):
    # Killed in a process of its own; the uninterrupted run and the resume run here.
    directory, table = small
    table_csv = tmp_path / "table.csv"
    table.to_csv(table_csv, index=False)
    script = tmp_path / "run.py"
    script.write_text(KILLED.format(tests=os.path.dirname(__file__)))
    ckpt = tmp_path / "ckpt"
    killed = subprocess.run([sys.executable, str(script), directory, str(table_csv), str(ckpt), "13"],  # step 3 of epoch 3
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert "pykd-checkpoint.npz" in os.listdir(ckpt)
    assert not [f for f in os.listdir(ckpt) if f.endswith((".tmp", ".partial"))]  # no half-written file left behind
    assert len(pykd.run.checkpoint.read_meta(ckpt)["records"]) == 2

    whole, whole_student = killable_run(directory, str(table_csv))
    resumed, resumed_student = killable_run(directory, str(table_csv), str(ckpt))
    a, b = whole.to_dict(), resumed.to_dict()
    assert a["epoch"] == b["epoch"] == [1, 2, 3, 4]
    for column in a:
        np.testing.assert_allclose(a[column], b[column], rtol=0, atol=1e-6)
    for x, y in zip(whole_student.get_weights(), resumed_student.get_weights()):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-6)


def test_checkpoint_from_another_run_is_refused(small, tmp_path):
    directory, table = small
    _distill(directory, table, checkpoint_dir=tmp_path / "c", seed=1)
    with pytest.raises(DataError, match="comes from a different run"):
        _distill(directory, table.iloc[:20], checkpoint_dir=tmp_path / "c", resume=True)


def _weights(model):
    return [w.copy() for w in model.get_weights()]


def _bytes(path):
    return path.read_bytes() if path.exists() else None


def test_a_checkpoint_dir_in_use_by_another_run_is_refused_naming_it(small, tmp_path):
    # The other run holds the folder's lock (as a run started at the same time would) and has written nothing yet.
    from pykd.run.claim import claimed

    directory, table = small
    ckpt = tmp_path / "c"
    student = tiny_model(n_classes=3, seed=2)
    weights = _weights(student)
    with claimed(ckpt):
        with pytest.raises(DataError, match=rf"checkpoint_dir '.*' is in use by another run \(process {os.getpid()} on "
                                            r".*, started .*\): two runs would overwrite each other's checkpoints\. "
                                            r"Wait for that run to end, or give this run another checkpoint_dir\."):
            _distill(directory, table, student=student, checkpoint_dir=ckpt, seed=1)
        assert not (ckpt / "pykd-checkpoint.npz").exists()
    assert all(np.array_equal(a, b) for a, b in zip(weights, student.get_weights()))
    _distill(directory, table, student=student, checkpoint_dir=ckpt, seed=1)  # released: the folder is free again
    assert (ckpt / "pykd-checkpoint.npz").exists()


def test_a_checkpoint_url_is_held_by_a_heartbeat_and_a_dead_runs_claim_expires(small):
    import json
    import time
    import uuid

    import tensorflow as tf

    from pykd.run import claim

    directory, table = small
    url = f"ram://pykd-claim-{uuid.uuid4().hex[:8]}"
    tf.io.gfile.makedirs(url)
    owner = {"host": "elsewhere", "pid": 4321, "started": "2026-12-07 10:00:00", "token": "x", "directory": url}
    with tf.io.gfile.GFile(f"{url}/{claim.OWNER}", "w") as f:
        f.write(json.dumps({**owner, "beat": time.time()}))
    for written in (url, url + "/"):  # however the path is written
        with pytest.raises(DataError, match=r"in use by another run \(process 4321 on elsewhere, started 2026-12-07"):
            _distill(directory, table, checkpoint_dir=written, seed=1)
    with tf.io.gfile.GFile(f"{url}/{claim.OWNER}", "w") as f:  # that run died long ago: its claim is stale
        f.write(json.dumps({**owner, "beat": time.time() - 2 * claim.STALE}))
    _distill(directory, table, checkpoint_dir=url, seed=1)
    assert not tf.io.gfile.exists(f"{url}/{claim.OWNER}")  # released as the run ended
    # An owner file copied along with a checkpoint from another folder holds nothing here.
    with tf.io.gfile.GFile(f"{url}/{claim.OWNER}", "w") as f:
        f.write(json.dumps({**owner, "directory": f"{url}-elsewhere", "beat": time.time()}))
    _distill(directory, table, checkpoint_dir=url, seed=1, resume=True, epochs=2)


def test_a_checkpoint_is_never_overwritten_by_a_fresh_run(small, tmp_path):
    directory, table = small
    ckpt = tmp_path / "c"
    _distill(directory, table, checkpoint_dir=ckpt, seed=1)
    before = _bytes(ckpt / "pykd-checkpoint.npz")
    student = tiny_model(n_classes=3, seed=2)
    weights = _weights(student)
    with pytest.raises(DataError, match=r"already holds a checkpoint.*resume=True.*another checkpoint_dir"):
        _distill(directory, table, student=student, checkpoint_dir=ckpt)
    assert _bytes(ckpt / "pykd-checkpoint.npz") == before
    assert all(np.array_equal(a, b) for a, b in zip(weights, student.get_weights()))


@pytest.mark.parametrize(
    "change,named",
    [
        ({"learning_rate": 0.03}, "optimizer"),  # not the default (3e-3)
        ({"temperature": 9.0}, "temperature"),
        ({"alpha": 0.7}, "alpha"),
        ({"teacher": tiny_model(n_classes=3, seed=9)}, "teacher"),
        ({"augment": {"horizontal_flip": True}}, "augment"),
        ({"seed": 2}, "seed"),
    ],
)
def test_resume_refuses_a_changed_setting_naming_it(small, tmp_path, change, named):
    directory, table = small
    ckpt = tmp_path / "c"
    _distill(directory, table, checkpoint_dir=ckpt, seed=1, teacher=tiny_model(n_classes=3, seed=1))
    before = _bytes(ckpt / "pykd-checkpoint.npz")
    options = {"teacher": tiny_model(n_classes=3, seed=1), **change}
    with pytest.raises(DataError, match=rf"comes from a different run: .*{named}\b.*(was .*, now |changed)"):
        _distill(directory, table, checkpoint_dir=ckpt, resume=True, **options)
    assert _bytes(ckpt / "pykd-checkpoint.npz") == before


def test_a_checkpoint_written_before_the_seed_was_in_the_resume_key_still_resumes(small, tmp_path):
    directory, table = small
    ckpt = tmp_path / "c"
    _distill(directory, table, checkpoint_dir=ckpt, seed=1)
    path = ckpt / "pykd-checkpoint.npz"
    with np.load(path) as saved:
        arrays = dict(saved)
    meta = json.loads(str(arrays["meta"]))
    del meta["run_key"]["seed"]  # as pykd wrote it before
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    history = _distill(directory, table, checkpoint_dir=ckpt, seed=1, resume=True, epochs=2)
    assert history.params["resumed_after_epoch"] == 1


def test_resume_with_changed_labels_validation_layers_or_images_is_refused(small, tmp_path):
    directory, table = small
    ckpt = tmp_path / "c"
    _distill(directory, table, checkpoint_dir=ckpt, seed=1)
    with pytest.raises(DataError, match="from a different run: the labels changed"):
        _distill(directory, table.assign(label=table.label[::-1].to_numpy()), checkpoint_dir=ckpt, resume=True, seed=1)
    with pytest.raises(DataError, match="the validation table was added"):
        _distill(directory, table, validation=table.iloc[:6], checkpoint_dir=ckpt, resume=True, seed=1)
    # The same variables, another activation: another model.
    tanh_conv = tiny_model(n_classes=3, seed=2)
    tanh_conv.layers[1].activation = pykd._tf.keras.activations.tanh
    with pytest.raises(DataError, match=r"from a different run: the student's layers \(their kinds, settings or wiring\) "
                                        "changed"):
        _distill(directory, table, student=tanh_conv, checkpoint_dir=ckpt, resume=True, seed=1)
    # Another picture under the same file name.
    write_images(directory, 1, size=SIZE, seed=7)  # img_00000.jpg, rewritten
    with pytest.raises(DataError, match="from a different run: the content of the image files changed"):
        _distill(directory, table, checkpoint_dir=ckpt, resume=True, seed=1)


def test_resume_with_another_student_is_refused_before_the_student_is_touched(small, tmp_path):
    directory, table = small
    ckpt = tmp_path / "c"
    _distill(directory, table, checkpoint_dir=ckpt, seed=1)
    keras = pykd._tf.keras
    wider = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Conv2D(8, 3, strides=2),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    weights = _weights(wider)
    with pytest.raises(DataError, match="The checkpoint's student does not match this run's student"):
        _distill(directory, table, student=wider, checkpoint_dir=ckpt, resume=True, seed=1)
    assert getattr(wider, "optimizer", None) is None  # not compiled: build() never began
    assert all(np.array_equal(a, b) for a, b in zip(weights, _weights(wider)))


def test_resume_with_more_epochs_continues_and_without_a_checkpoint_says_it_starts_fresh(small, tmp_path):
    directory, table = small
    ckpt = tmp_path / "c"
    with pytest.warns(UserWarning, match="holds no checkpoint yet: starting fresh") as caught:
        _distill(directory, table, checkpoint_dir=ckpt, resume=True, seed=1, epochs=1)
    assert {w.filename for w in caught if "starting fresh" in str(w.message)} == {__file__}  # the caller's line
    history = _distill(directory, table, checkpoint_dir=ckpt, resume=True, seed=1, epochs=2)
    assert [r["epoch"] for r in history.records] == [1, 2]


def test_unwritable_checkpoint_dir_and_damaged_checkpoint_fail_before_training(small, tmp_path):
    directory, table = small
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    student = tiny_model(n_classes=3, seed=2)
    weights = _weights(student)
    with pytest.raises(DataError, match="checkpoint_dir .*not-a-folder.* is a file, not a folder"):
        _distill(directory, table, student=student, checkpoint_dir=a_file)
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "pykd-checkpoint.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match=r"pykd-checkpoint.npz.* cannot be read .*damaged.*Delete it to start over"):
        _distill(directory, table, student=student, checkpoint_dir=damaged, resume=True)
    assert all(np.array_equal(a, b) for a, b in zip(weights, student.get_weights()))
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith((".tmp", ".partial"))]


def test_alpha_one_without_labels_is_refused(small):
    directory, table = small
    with pytest.raises(DataError, match="alpha=1 learns from the labels alone"):
        _distill(directory, table.assign(label=None), alpha=1.0)


def test_students_the_loop_cannot_train_are_refused_with_the_reason(small):
    directory, table = small
    keras = pykd._tf.keras

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3)

        def call(self, x):
            return self.dense(keras.ops.mean(x, axis=(1, 2)))

    with pytest.raises(DataError, match="subclassed model whose input and output shapes are unknown.*keras.Input"):
        _distill(directory, table, student=Subclassed())
    inputs = keras.Input((SIZE, SIZE, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    two_heads = keras.Model(inputs, [keras.layers.Dense(3)(pooled), keras.layers.Dense(3)(pooled)])
    with pytest.raises(DataError, match="has 2 outputs; pykd trains models with one output"):
        _distill(directory, table, student=two_heads)


def test_a_student_larger_than_its_teacher_is_refused_as_a_swap_before_it_changes(small):
    directory, table = small
    keras = pykd._tf.keras
    big = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Flatten(), keras.layers.Dense(3)])
    before = [w.copy() for w in big.get_weights()]
    with pytest.raises(DataError, match=r"The student has more trainable parameters \(.*\) than the teacher has in all "
                                        r"\(.*\): were they passed in the wrong order\?.*larger_student=True"):
        _distill(directory, table, student=big, larger_student=False)
    assert all(np.array_equal(a, b) for a, b in zip(before, big.get_weights()))
    _distill(directory, table, student=big, larger_student=True)  # meant: it trains
    assert not all(np.array_equal(a, b) for a, b in zip(before, big.get_weights()))


def test_a_frozen_backbone_larger_than_the_teacher_is_no_swap(small):
    # Its frozen parameters do not count: no refusal and no warning.
    directory, table = small
    keras = pykd._tf.keras
    backbone = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Flatten(), keras.layers.Dense(8)])
    backbone.trainable = False
    student = keras.Sequential([keras.Input((SIZE, SIZE, 3)), backbone, keras.layers.Dense(3)])
    teacher = tiny_model(n_classes=3, seed=1)
    assert student.count_params() > teacher.count_params() > pykd.models.introspection.trainable_params(student)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _distill(directory, table, teacher=teacher, student=student, larger_student=False)


def test_validation_rows_that_are_training_rows_are_warned_about(small):
    directory, table = small
    with pytest.warns(UserWarning, match=r"3 validation images are also training images \('img_00000.jpg', "):
        _distill(directory, table, validation=table.iloc[:3])


def test_ids_without_their_extension_get_a_fix_naming_it(small):
    directory, table = small
    bare = table.assign(image_id=table.image_id.str.replace(".jpg", "", regex=False))
    with pytest.raises(DataError, match=r"The folder has them with the extension '.jpg' \(img_00000.jpg\): add it"):
        _distill(directory, bare)


def test_a_checkpoint_dir_without_room_for_two_checkpoints_is_refused_before_the_first_epoch(small, tmp_path,
                                                                                                monkeypatch):
    import shutil
    from collections import namedtuple

    directory, table = small
    student = tiny_model(n_classes=3, seed=2)
    weights = _weights(student)
    usage = namedtuple("usage", "total used free")
    # The disk as a nearly full one reports itself (a real full disk needs privileges to make).
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(DataError, match=r"checkpoint_dir '.*' has 1.0 KB free, but each checkpoint of this run takes "
                                        r"about 1.\d KB \(the student's weights and the optimizer's state\)"):
        _distill(directory, table, student=student, checkpoint_dir=tmp_path / "c")
    assert not list((tmp_path / "c").glob("pykd-checkpoint*"))
    assert all(np.array_equal(a, b) for a, b in zip(weights, student.get_weights()))
