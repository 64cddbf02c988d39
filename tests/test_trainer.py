"""The trainer behaves as Keras' fit() does for the student: standard callbacks work,
eager and compiled runs agree, optimizers are honoured, Keras-style arguments are accepted."""

import math

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from conftest import SIZE, tiny_model, write_images

import pykd
from pykd import DataError
from pykd.run.schedule import PEAK


@pytest.fixture
def small(tmp_path):
    directory = tmp_path / "img"
    names = write_images(directory, 24, size=SIZE, seed=3)
    table = pd.DataFrame({"image_id": names, "label": np.arange(24) % 3})
    return str(directory), table


def _distill(small, **kwargs):
    directory, table = small
    # larger_student: the toy teacher is smaller than some students here.
    options = dict(directory=directory, validation=table, epochs=3, batch_size=8, verbose=0, seed=0, larger_student=True)
    options.update(kwargs)
    teacher = options.pop("teacher", None) or tiny_model(n_classes=3, seed=1)
    student = options.pop("student", None) or tiny_model(n_classes=3, seed=2)
    return pykd.distill(teacher, student, table, **options)


def _learning_rate(model) -> float:
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


def test_reduce_lr_on_plateau_lowers_the_students_learning_rate(small):
    student = tiny_model(n_classes=3, seed=2)
    # min_delta so large that no epoch counts as an improvement: the rate halves after each.
    reduce = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, min_delta=1e9, min_lr=1e-6)
    history = _distill(small, student=student, learning_rate=0.01, callbacks=[reduce], epochs=3)
    assert _learning_rate(student) == pytest.approx(0.01 * 0.5**2)
    # The history records the rate as each epoch ends, before the callback lowers it (as fit() does).
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.01, 0.005])


def test_learning_rate_scheduler_sets_the_rate_each_epoch(small):
    student = tiny_model(n_classes=3, seed=2)
    seen = []
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch: 0.001 * (epoch + 1))
    probe = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(_learning_rate(student)))
    history = _distill(small, student=student, callbacks=[schedule, probe])
    assert seen == pytest.approx([0.001, 0.002, 0.003])
    assert history.history["learning_rate"] == pytest.approx([0.001, 0.002, 0.003])
    assert history.to_frame().columns[-1] == "learning_rate"


def test_tensorboard_writes_event_files(small, tmp_path):
    logs = tmp_path / "tb"
    _distill(small, callbacks=keras.callbacks.TensorBoard(log_dir=str(logs)), epochs=2)  # one callback, not a list
    events = list(logs.rglob("events.out.tfevents.*"))
    assert events and all(e.stat().st_size > 0 for e in events)


def test_early_stopping_on_val_accuracy_knows_higher_is_better(small):
    # A baseline no accuracy can beat: mode "auto" must read val_accuracy as maximised and stop.
    stop = keras.callbacks.EarlyStopping(monitor="val_accuracy", baseline=1.01, patience=1)
    # A fixed 1e-3 keeps the toy's val_accuracy from improving by chance at epoch 2 (which would let it run on).
    history = _distill(small, callbacks=[stop], epochs=6, optimizer=keras.optimizers.Adam(1e-3))
    assert len(history) == 2 and history.params["stopped_early"]


def test_model_checkpoint_on_val_accuracy_saves_the_best_student(small, tmp_path):
    path = tmp_path / "best.keras"
    save = keras.callbacks.ModelCheckpoint(str(path), monitor="val_accuracy", save_best_only=True)
    history = _distill(small, callbacks=[save], epochs=3)
    assert save.monitor_op is np.greater or save.monitor_op.__name__ == "greater"
    best = keras.models.load_model(path)
    assert pykd.evaluate(best, small[1], directory=small[0])["accuracy"] == pytest.approx(max(history.history["val_accuracy"]))


def test_eager_and_compiled_runs_give_the_same_history(small):
    augment = {"rotation_range": 10, "horizontal_flip": True}
    compiled = _distill(small, augment=augment, run_eagerly=False, teacher_precision="float32")
    eager = _distill(small, augment=augment, run_eagerly=True, teacher_precision="float32")
    assert eager.params["run_eagerly"] and not compiled.params["run_eagerly"]
    a, b = compiled.to_frame(), eager.to_frame()
    assert list(a.columns) == list(b.columns)
    np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-6, atol=1e-6)


def test_seed_fixes_the_dropout_masks_whatever_random_state_the_student_was_built_in(small):
    def student_with_dropout():
        return keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Rescaling(1 / 255),
                                 keras.layers.Flatten(), keras.layers.Dropout(0.5), keras.layers.Dense(3)])

    first, second = student_with_dropout(), student_with_dropout()  # different seed generators
    second.set_weights(first.get_weights())
    assert _distill(small, student=first).history == _distill(small, student=second).history


def _regularized_student(l2: float = 0.0, penalty: float = 0.0) -> keras.Model:
    """A linear student with an L2 penalty on its kernel and a layer adding penalty * mean(x^2) by add_loss."""

    class Penalty(keras.layers.Layer):
        def call(self, x):
            self.add_loss(penalty * keras.ops.mean(keras.ops.square(x)))
            return x

    keras.utils.set_random_seed(5)
    regularizer = keras.regularizers.L2(l2) if l2 else None
    return keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(),
                             Penalty(), keras.layers.Dense(3, kernel_regularizer=regularizer)])


@pytest.mark.parametrize("mode", ["distill", "scratch"])
def test_the_students_own_losses_are_added_to_the_loss_as_fit_adds_them(small, mode):
    directory, table = small
    common = dict(directory=directory, epochs=1, batch_size=8, seed=0, verbose=0)
    still = lambda: dict(optimizer=keras.optimizers.SGD(learning_rate=0.0))  # noqa: E731 (weights held still)

    def train(student, **options):
        if mode == "scratch":
            return pykd.train_scratch(student, table, **common, **options).history
        return pykd.distill(tiny_model(n_classes=3, seed=1), student, table, larger_student=True, alpha=0.3,
                            **common, **options).history

    def labels_and_teacher(h):  # every row is labeled: the loss without the student's own terms
        return h["student_loss"][0] if mode == "scratch" else 0.3 * h["student_loss"][0] + 0.7 * h["distillation_loss"][0]

    # Weights held still: the loss is the labels' and teacher's terms plus 0.5 * sum(kernel^2), exactly.
    model = _regularized_student(l2=0.5)
    penalty = 0.5 * float(np.sum(model.layers[-1].kernel.numpy() ** 2))
    h = train(model, **still())
    assert h["loss"][0] == pytest.approx(labels_and_teacher(h) + penalty, rel=1e-5)
    # add_loss() terms count too, and without any the loss is the two terms alone.
    h = train(_regularized_student(penalty=1.0), **still())
    assert h["loss"][0] > labels_and_teacher(h) + 0.01
    h = train(_regularized_student(), **still())
    assert h["loss"][0] == pytest.approx(labels_and_teacher(h), rel=1e-6)
    # And the penalty is trained on: a strong one shrinks the kernel.
    plain, penalized = _regularized_student(), _regularized_student(l2=1.0)
    train(plain, optimizer=keras.optimizers.SGD(0.05))  # a fixed rate: three steps at 0.05
    train(penalized, optimizer=keras.optimizers.SGD(0.05))
    norm = lambda model: float(np.linalg.norm(model.layers[-1].kernel.numpy()))  # noqa: E731
    assert norm(penalized) < 0.8 * norm(plain)


def test_keras_set_random_seed_repeats_an_unseeded_run(small):
    """As it repeats a Keras fit(): shuffling, the augmented views and the mixing draw from Keras' global seed."""

    def unseeded(global_seed):
        teacher, student = tiny_model(n_classes=3, seed=1), tiny_model(n_classes=3, seed=2)
        keras.utils.set_random_seed(global_seed)
        return _distill(small, teacher=teacher, student=student, seed=None, epochs=2,
                        augment={"width_shift_range": 0.2, "mixup": 0.2}).to_frame()

    pd.testing.assert_frame_equal(unseeded(7), unseeded(7))
    assert not unseeded(7).equals(unseeded(8))


def test_an_optimizer_averaging_the_weights_leaves_the_average_in_the_student(small):
    """As fit() ends (finalize_variable_values): with use_ema=True the student ends with the averaged weights."""
    weights = {}
    for ema in (False, True):
        student = tiny_model(n_classes=3, seed=2)
        optimizer = keras.optimizers.Adam(1e-2, use_ema=ema, ema_momentum=0.9)
        _distill(small, student=student, optimizer=optimizer)
        weights[ema] = student.get_weights()
        if ema:
            average = [v.numpy() for v in optimizer._model_variables_moving_average]
            assert all(np.array_equal(a, b) for a, b in zip(weights[ema], average))
    assert not all(np.allclose(a, b) for a, b in zip(weights[False], weights[True]))


def test_a_scratch_runs_progress_shows_the_columns_its_history_has(small):
    seen = []
    logger = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(sorted(logs)))
    directory, table = small
    history = pykd.train_scratch(tiny_model(n_classes=3, seed=2), table, directory=directory, epochs=1, batch_size=8,
                                 verbose=0, callbacks=[logger])
    assert seen and all(keys == ["accuracy", "loss", "student_loss"] for keys in seen)  # no distillation_loss of 0
    assert "distillation_loss" not in history.to_frame()


def test_a_loss_scale_optimizer_trains_like_its_inner_optimizer(small):
    plain = _distill(small, optimizer=keras.optimizers.Adam(1e-3))
    scaled = _distill(small, optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-3)))
    # The loss is scaled before the gradient and unscaled when applied: the same steps up to rounding.
    np.testing.assert_allclose(scaled.to_frame().to_numpy(float), plain.to_frame().to_numpy(float), rtol=1e-4, atol=1e-5)


def test_a_learning_rate_schedule_is_accepted(small):
    student = tiny_model(n_classes=3, seed=2)
    decay = keras.optimizers.schedules.ExponentialDecay(0.01, decay_steps=1, decay_rate=0.5)
    history = _distill(small, student=student, learning_rate=decay, epochs=1)
    assert history.history["learning_rate"] == pytest.approx([0.01 * 0.5**3])  # the rate the next step would take
    assert _learning_rate(student) == pytest.approx(0.01 * 0.5**3)  # 3 steps of 8 rows


def test_the_default_rate_warms_up_then_decays_by_a_cosine_to_zero_over_the_run(small):
    peak = PEAK
    history = _distill(small, epochs=2, steps_per_epoch=20)  # 40 steps: 2 of warm-up (5%), 38 of cosine
    expected = [0.5 * peak * (1 + math.cos(math.pi * (20 - 2) / 38)), 0.0]
    assert history.history["learning_rate"] == pytest.approx(expected, abs=1e-9)  # the rate the next step takes
    assert history.params["learning_rate"] == {"schedule": "cosine", "peak": peak, "warmup_steps": 2, "steps": 40}
    given = _distill(small, epochs=1, learning_rate=0.05)  # a number is the peak of the same schedule (3 steps)
    assert given.params["learning_rate"] == {"schedule": "cosine", "peak": 0.05, "warmup_steps": 0, "steps": 3}
    fixed = _distill(small, epochs=1, optimizer=keras.optimizers.Adam(1e-3))  # an optimizer object as it is
    assert fixed.params["learning_rate"] == {"schedule": "constant", "rate": 0.001}


def test_a_dataset_of_unknown_length_trains_at_a_fixed_rate(small):
    x = np.random.default_rng(0).integers(0, 255, (16, SIZE, SIZE, 3)).astype("uint8")
    dataset = tf.data.Dataset.from_tensor_slices((x, np.arange(16) % 3)).filter(lambda x, y: True).batch(8)
    assert int(dataset.cardinality()) == tf.data.UNKNOWN_CARDINALITY
    history = pykd.distill(tiny_model(n_classes=3, seed=1), tiny_model(n_classes=3, seed=2), dataset, epochs=2,
                           learning_rate=0.01, verbose=0, larger_student=True)
    assert history.params["learning_rate"] == {"schedule": "constant", "rate": 0.01}
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.01])


def test_learning_rate_next_to_an_optimizer_object_is_refused(small):
    with pytest.raises(DataError, match="learning_rate is given next to an optimizer object"):
        _distill(small, optimizer=keras.optimizers.SGD(0.1), learning_rate=0.01)


def test_numpy_scalars_and_keras_verbose_are_accepted(small):
    history = _distill(small, batch_size=np.int64(8), epochs=np.int32(1), temperature=np.float32(2.0),
                       alpha=np.float64(0.5), learning_rate=np.float32(0.01), verbose="auto")
    assert history.params["batch_size"] == 8 and history.params["temperature"] == 2.0


def test_history_offers_what_keras_users_reach_for(small):
    student = tiny_model(n_classes=3, seed=2)
    history = _distill(small, student=student, epochs=2)
    assert history.epoch == [0, 1] and history.model is student
    assert history.history["val_accuracy"] == history.to_frame()["val_accuracy"].tolist()
    assert set(history.history) == set(history.columns) - {"epoch"}


def test_a_pykd_aware_callback_sees_the_built_run(small):
    class Probe(keras.callbacks.Callback):
        def set_run(self, run):
            self.run = run

    probe = Probe()
    _distill(small, callbacks=probe, epochs=1)
    assert probe.run.train.steps == 3 and probe.run.plan.n_classes == 3


def test_repeated_runs_in_one_process_trigger_no_retracing_warnings(small):
    # TensorFlow keys its retracing counter by code object: each run's steps must count apart.
    import logging

    class Keep(logging.Handler):
        messages: list = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    logger = logging.getLogger("tensorflow")  # it does not propagate to the root logger
    handler = Keep()
    logger.addHandler(handler)
    try:
        for _ in range(6):
            _distill(small, epochs=1)
    finally:
        logger.removeHandler(handler)
    assert not [m for m in handler.messages if "retracing" in m]


def test_ctrl_c_propagates_and_the_finished_epochs_stay_reachable(small):
    from pykd.core import bridge

    class CtrlC(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.params and self._epoch == 1 and batch == 1:
                raise KeyboardInterrupt

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch

        def on_epoch_end(self, epoch, logs=None):
            self.finished = [w.copy() for w in self.model.get_weights()]

    student = tiny_model(n_classes=3, seed=2)
    initial = [w.copy() for w in student.get_weights()]
    ctrl_c = CtrlC()
    with pytest.raises(KeyboardInterrupt) as info:
        bridge.call(_distill, small, student=student, callbacks=[ctrl_c], epochs=5)
    history = info.value.history
    assert [r["epoch"] for r in history.records] == [1] and history.params["interrupted"]
    assert not all(np.array_equal(a, b) for a, b in zip(initial, student.get_weights()))
    # The student holds epoch 1's weights, not those of the batch of epoch 2 that ran.
    assert all(np.array_equal(a, b) for a, b in zip(ctrl_c.finished, student.get_weights()))
    seen_by_r = bridge.last_error("r")
    assert seen_by_r["type"] == "KeyboardInterrupt" and seen_by_r["history"] is history


def test_the_bridge_makes_every_ctrl_c_during_a_call_a_keyboard_interrupt(monkeypatch):
    """reticulate 1.28's SIGINT handler raises KeyboardInterrupt only if R, asked, has not taken the
    Ctrl-C; R takes it in any R code Python calls back, even while asked (RuntimeError)."""
    import os
    import signal
    import sys
    import types

    from pykd.core import bridge

    r = {"answer": False, "asked": 0}  # R answers False once it has taken the Ctrl-C itself

    def ask_r(reset):
        r["asked"] += 1
        if isinstance(r["answer"], Exception):
            raise r["answer"]
        return r["answer"]

    def reticulate_handler(signum, frame):  # rpytools.signals._signal_handler in reticulate 1.28
        if signals._callback(False):
            signals._callback(True)
            raise KeyboardInterrupt

    signals = types.ModuleType("rpytools.signals")
    signals._callback = ask_r
    monkeypatch.setitem(sys.modules, "rpytools.signals", signals)
    bridge.handle_interrupts()
    wrapped = signals._callback
    bridge.handle_interrupts()  # wraps once
    assert signals._callback is wrapped and wrapped is not ask_r

    reticulate_handler(signal.SIGINT, None)  # outside a call, a Ctrl-C R took stays R's
    assert r["asked"] == 1

    def ctrl_c_in_an_r_callback():
        os.kill(os.getpid(), signal.SIGINT)

    previous = signal.signal(signal.SIGINT, reticulate_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            bridge.call(ctrl_c_in_an_r_callback)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert bridge.last_error("r")["type"] == "KeyboardInterrupt" and r["asked"] == 1  # R not asked

    r["answer"] = RuntimeError("(Unknown exception occurred)")  # R took it while asked
    with pytest.raises(KeyboardInterrupt):
        reticulate_handler(signal.SIGINT, None)

    monkeypatch.delitem(sys.modules, "rpytools.signals")
    bridge.handle_interrupts()  # without reticulate's handler (Python alone, reticulate >= 1.37): nothing


def test_metrics_are_read_every_batch_only_for_callbacks_that_read_them():
    from pykd.run.trainer import _reads_batch_logs

    assert not _reads_batch_logs(keras.callbacks.EarlyStopping())
    assert not _reads_batch_logs(keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: None))
    assert not _reads_batch_logs(pykd.FunctionCallback(on_batch_end=lambda step, steps: None))
    assert _reads_batch_logs(keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: None))

    class Reader(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.loss = logs["loss"]

    assert _reads_batch_logs(Reader())


def test_the_bridge_keeps_warnings_for_r():
    import warnings

    from pykd.core import bridge

    def noisy():
        warnings.warn("Skipped 2 unreadable image file(s): a.jpg, b.jpg.", stacklevel=2)
        return 7

    assert bridge.call(noisy) == 7
    assert bridge.last_warnings() == ["Skipped 2 unreadable image file(s): a.jpg, b.jpg."] and bridge.last_warnings() == []
