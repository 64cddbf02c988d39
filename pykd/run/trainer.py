"""Running a built run: epochs, validation, callbacks, checkpoints and resume.

Shaped like Keras' fit(): `fit()` prepares, builds and hands the run to a
Trainer, which coordinates the epoch loop (pykd.run.epochs.train_epoch owns the
batches, a keras CallbackList the callbacks, the StepFunctions the step) and
does little else.
"""

from __future__ import annotations

import time
from dataclasses import asdict

from .._tf import keras, tf
from ..data.sources import is_dataset
from ..models.classes import set_classes
from . import checkpoint
from .build import Run, build
from .claim import claimed
from .dataset_fit import fit_dataset
from .epochs import test_epoch, train_epoch
from .feed import Feed
from .history import History
from .options import OPTIONS, Options
from .plan import prepare
from .resume import check_before_start, run_key
from .schedule import described
from .workers import agree_on_epoch, is_chief


def fit(mode: str, student, teacher, train, options: Options) -> History:
    """Prepare (check everything), build, then train; the user's student ends with the trained weights."""
    if is_dataset(train):  # the user's own pipeline: Keras' fit() on pykd.Distiller, with the same step
        return fit_dataset(mode, student, teacher, train, options)
    started = time.perf_counter()
    plan = prepare(mode, student, teacher, train, options)
    s = plan.settings
    with claimed(s.checkpoint_dir if is_chief(s.strategy) else None):  # one run at a time in a checkpoint_dir
        # What a checkpoint must agree on to be continued: taken once (it hashes every image file).
        key = run_key(plan) if s.checkpoint_dir is not None else None
        resume_from = check_before_start(plan, key)  # still before anything changes
        with build(plan, resume_from) as run:
            history = Trainer(run, resume_from, key).fit()
    history.params["seconds"] = round(time.perf_counter() - started, 3)
    return history


class Trainer:
    """The epoch loop over a built Run."""

    def __init__(self, run: Run, resume_from: checkpoint.Saved | None = None, key: dict | None = None):
        """resume_from: the checkpoint to continue, as resume.check_before_start read and checked it.
        key: the run's resume.run_key, written into each checkpoint (None: made here when checkpointing)."""
        self.run = run
        self.resume_from = resume_from
        self.history = History(params=run_params(run), model=run.user_student)
        self.train_feed = self.val_feed = None  # made when training starts (pykd.run.feed.Feed)
        self._finished_weights = None  # the student's weights as the last epoch ended (or at the start)
        self.key = key if key is not None or run.plan.settings.checkpoint_dir is None else run_key(run.plan)

    def fit(self) -> History:
        """Train the remaining epochs. On KeyboardInterrupt (Ctrl-C) the student holds the last
        finished epoch's weights (its starting ones if none finished: never a partial epoch's) and
        the exception carries the finished epochs as `err.history`."""
        try:
            self._epochs()
        except KeyboardInterrupt as err:
            if self._finished_weights is not None:
                self.run.student.set_weights(self._finished_weights)
            self._finish()
            self.history.params["interrupted"] = True
            err.history = self.history
            raise
        self._finish()
        return self.history

    def _epochs(self) -> None:
        run, s = self.run, self.run.plan.settings
        start = self._resume() if self.resume_from is not None else 0
        if s.resume:
            agree_on_epoch(s.strategy, start, s.checkpoint_dir)  # or every worker stops
        self.history.params["resumed_after_epoch"] = start  # params["seconds"] times this call's epochs only
        callbacks = self._callbacks()
        run.student.stop_training = False
        callbacks.on_train_begin()
        # One input pipeline for many epochs (run.feed.Feed), after the resume set the streams.
        self.train_feed = Feed(run.step_functions, run.train, s.epochs - start)
        self.val_feed = None if run.validation is None else Feed(run.step_functions, run.validation, s.epochs - start)
        logs: dict = {}
        self._finished_weights = run.student.get_weights()
        for done, epoch in enumerate(range(start, s.epochs)):
            callbacks.on_epoch_begin(epoch)
            logs = train_epoch(run.step_functions, run.train, callbacks, epoch, self._batch_logs, self.train_feed)
            if self.val_feed is not None:
                val = test_epoch(run.step_functions, self.val_feed)
                logs.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
            # As Keras' learning-rate callbacks log it: the rate the optimizer holds as the epoch ends.
            logs["learning_rate"] = _current_rate(run.optimizer)
            finished = run.student.get_weights()  # what a Ctrl-C from now on leaves in the student
            self.history.records.append({"epoch": epoch + 1, **logs})
            self._finished_weights = finished
            if s.checkpoint_dir is not None and is_chief(s.strategy):  # the chief alone writes it
                self._save(done)  # before the callbacks, so a crash in one never loses the epoch
            callbacks.on_epoch_end(epoch, dict(logs))
            if run.student.stop_training:
                break
        # As fit() ends: an optimizer keeping an average of the weights (use_ema=True) leaves it in the student.
        run.optimizer.finalize_variable_values(run.student.trainable_variables)
        callbacks.on_train_end(dict(logs))

    def _finish(self) -> None:
        run = self.run
        if run.student is not run.user_student:
            run.user_student.set_weights(run.student.get_weights())
        if run.plan.train.classes is not None:  # the student now knows its classes (pykd.models.classes)
            set_classes(run.user_student, run.plan.train.classes)
        self.history.params["stopped_early"] = len(self.history.records) < run.plan.settings.epochs
        # The training rows this process read: not those a run that stopped early had queued.
        unread = 0 if self.train_feed is None else self.train_feed.unread_rows
        self.history.params["rows_read"] = run.train.images.rows_read - unread

    @property
    def _batch_logs(self) -> bool:
        """Whether anyone reads per-batch metrics: each read syncs with the device, so only then (as Keras)."""
        return self.run.plan.settings.verbose == 1 or any(map(_reads_batch_logs, self.run.plan.settings.callbacks))

    def _callbacks(self) -> keras.callbacks.CallbackList:
        run, s = self.run, self.run.plan.settings
        for callback in s.callbacks:
            if hasattr(callback, "set_run"):  # a pykd-aware callback sees the built run (streams, steps)
                callback.set_run(run)
        return keras.callbacks.CallbackList(
            list(s.callbacks), add_progbar=s.verbose > 0, model=run.student, verbose=s.verbose,
            epochs=s.epochs, steps=run.train.steps,
        )

    # ------------------------------------------------------------ checkpoints
    def _parts(self) -> dict:
        run = self.run
        parts = {"student": run.student.variables, "optimizer": run.optimizer.variables}
        if run.augmenter is not None:
            parts["augmenter"] = run.augmenter.variables
        if run.step_functions.hint is not None:
            parts["hint"] = run.step_functions.hint.projection.variables
        return parts

    def _save(self, done: int) -> None:
        """Checkpoint the epoch just finished, the `done`-th of this call (from 0)."""
        run = self.run
        checkpoint.save(run.plan.settings.checkpoint_dir, parts=self._parts(), meta={
            "run_key": self.key,
            "records": self.history.records,
            # The streams run ahead of training: their states at the end of this epoch.
            "train_stream": self.train_feed.end_states[done],
            "val_stream": None if self.val_feed is None else self.val_feed.end_states[done],
            "view_seed": run.view_seed,
        })  # fmt: skip

    def _resume(self) -> int:
        """Restore the last complete epoch from the checkpoint; returns the epoch to start at."""
        meta, values = self.resume_from
        for name, variables in self._parts().items():
            checkpoint.restore(variables, values.get(name, []), name)
        self.run.train.stream.set_state(meta["train_stream"])
        if self.run.validation is not None and meta.get("val_stream"):
            self.run.validation.stream.set_state(meta["val_stream"])
        self.history.records = meta["records"]
        return len(self.history.records)


def _current_rate(optimizer) -> float:
    """The optimizer's learning rate now (a schedule's value at its step), under a strategy too."""
    rate = optimizer.learning_rate
    return float(tf.convert_to_tensor(getattr(rate, "value", rate)).numpy())


def _reads_batch_logs(callback) -> bool:
    declared = getattr(callback, "reads_batch_logs", None)  # e.g. FunctionCallback: counts, not metrics
    if declared is not None:
        return bool(declared)
    base = keras.callbacks.Callback
    for hook in ("on_train_batch_end", "on_batch_end"):
        method = getattr(callback, hook)
        if getattr(method, "__func__", method) is not getattr(base, hook):  # overridden, or set (LambdaCallback)
            return True
    return False


def run_params(run: Run) -> dict:
    """What was trained, as plain values (safe to send to R): the history's params."""
    plan, s = run.plan, run.plan.settings
    distilling = plan.distilling
    return {
        "mode": plan.mode,
        **{option.name: getattr(s, option.name) for option in OPTIONS if option.params},
        "temperature": s.temperature if distilling else None,
        "alpha": s.alpha if distilling else 1.0,
        "steps_per_epoch": run.train.steps,
        "learning_rate": described(run.optimizer),
        "validation_steps": None if run.validation is None else run.validation.steps,
        "n_train": len(plan.train),
        "n_labeled": plan.train.n_labeled,
        "n_validation": 0 if plan.validation is None else len(plan.validation),
        "classes": None if plan.train.classes is None else list(plan.train.classes),
        "image_size": [plan.spec.height, plan.spec.width],
        "teacher_params": getattr(plan.teacher, "params", None),
        "teacher_precision": getattr(plan.teacher, "precision", None),
        "student_params": int(run.student.count_params()),
        "teacher_cache": run.teacher_cache,
        "augmented": run.plan.augmented,
        "teacher_view": s.teacher_view if distilling else None,
        "hint": None if s.hint is None else asdict(s.hint),
        "image_cache": run.image_cache,
        "feature_cache": run.feature_cache,
        "frozen_prefix": None if plan.live_prefix is None else {"ends_at": plan.live_prefix.split.ends_at,
                                                                "precision": plan.live_prefix.runner.precision},
        "replicas": 1 if s.strategy is None else int(s.strategy.num_replicas_in_sync),
        "seconds_images": run.timings.get("seconds_images", 0.0),
        "seconds_teacher": run.timings.get("seconds_teacher", 0.0),
        "seconds_features": run.timings.get("seconds_features", 0.0),
    }
