"""What each measured method runs: pykd.distill() calls, Keras fit()s and the eager loop.

Every method gets its own clones of the same starting weights (ctx["teacher_weights"],
ctx["student_weights"]), batch 64 and the same loss; `run_round` returns one figure
in images/s of steady-state (warm) training and notes the rest in `extra`.

distill() runs as shipped: a `PykdRun` callback times its epochs (on_epoch_begin
to on_epoch_end) and keeps what pykd hands every callback that has a `set_run(run)`
method before training starts: the run's step functions and its training batch
source, which the replays (replays.py) reuse. A candidate change (candidates.py)
goes through the same hook: `PykdRun(change=...)` hands it the run before the first
step. Nothing in pykd is patched.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import baselines as bl
import bench_models as bm
import common

import pykd
from pykd.data.images import FileImages


class Method:
    key = label = what = ""
    augmented = False
    kind = "method"  # "method": the main table; "variant": a candidate pykd change

    def __init__(self, ctx):
        self.ctx = ctx
        self.per_round: list[float | None] = []
        self.extra: dict[str, list] = {}

    def setup(self) -> None:
        pass

    def run_round(self, round_index: int) -> float | None:
        raise NotImplementedError

    def note(self, name, value) -> None:
        self.extra.setdefault(name, []).append(value)

    def fed_by_files(self) -> bool | None:
        """Whether pykd read its epochs from the image files (tf.data); None for non-pykd methods."""
        return None

    def measured(self) -> dict:
        """The plain measurements report.summarize takes."""
        return {"label": self.label, "what": self.what, "augmented": self.augmented, "kind": self.kind,
                "per_round": self.per_round, "extra": self.extra, "fed_by_files": self.fed_by_files()}  # fmt: skip


# ---------------------------------------------------------------- pykd.distill
class PykdRun(common.EpochTimer):
    """Observes one distill() call: seconds per epoch, and the run pykd hands its callbacks.

    change: called with the run before training starts (a candidate change, candidates.py).
    """

    def __init__(self, change: Callable | None = None):
        super().__init__()
        self.change = change
        self.functions = self.source = None

    def set_run(self, run) -> None:
        """Called by pykd before on_train_begin: run.step_functions (pykd.run.steps.StepFunctions)
        and run.train (pykd.run.feed.BatchSource: images, stream, steps)."""
        if self.change is not None:
            self.change(run)
        self.functions, self.source = run.step_functions, run.train


@dataclasses.dataclass
class DistillRun:
    whole_seconds: float
    epoch_seconds: list[float]
    cache_seconds: float  # the one-off passes before epoch 1: decoding into the image cache, teacher logits
    run: PykdRun
    history: object


def run_distill(ctx, *, teacher, student, augmented: bool, epochs: int, seed: int, change: Callable | None = None,
                **options) -> DistillRun:
    """One distill() call with the benchmark's settings, observed by a PykdRun callback (handing `change` the run)."""
    observer = PykdRun(change)
    t0 = time.perf_counter()
    history = pykd.distill(
        teacher, student, ctx["table"], directory=ctx["image_dir"],
        batch_size=bm.BATCH_SIZE, epochs=epochs, temperature=common.TEMPERATURE, alpha=common.ALPHA,
        augment=common.AUGMENT if augmented else None, cache_teacher="auto", seed=seed, verbose=0,
        callbacks=[observer], **options,
    )  # fmt: skip
    whole = time.perf_counter() - t0
    if len(observer.seconds) != epochs:
        raise RuntimeError(f"expected {epochs} timed epochs, got {observer.seconds}: update benchmarks/methods.py")
    if observer.source is None:
        raise RuntimeError("distill() never called set_run(run) on its callbacks: update benchmarks/methods.py")
    params = history.params
    teacher_pass = params.get("seconds_teacher")
    if teacher_pass is not None and (teacher_pass > 0) == augmented:
        raise RuntimeError(f"teacher-logit pass of {teacher_pass} s with augmented={augmented}")
    cache = params.get("seconds_images", 0.0) + (teacher_pass or 0.0)
    return DistillRun(whole, list(observer.seconds), cache, observer, history)


class PykdDistill(Method):
    """A fresh distill() call per round with 1 + k epochs; the first epoch is not counted."""

    def __init__(self, ctx, key, label, what, augmented, measured_epochs):
        super().__init__(ctx)
        self.key, self.label, self.what, self.augmented = key, label, what, augmented
        self.measured_epochs = measured_epochs
        self.teacher = bm.clone(bm.teacher, ctx["teacher_weights"])
        self.student = bm.clone(bm.student, ctx["student_weights"])
        self.last: DistillRun | None = None

    def run_round(self, round_index):
        n, epochs = self.ctx["n"], 1 + self.measured_epochs
        self.last = run = run_distill(
            self.ctx, teacher=self.teacher, student=self.student, augmented=self.augmented, epochs=epochs, seed=round_index
        )
        times, cache = run.epoch_seconds, run.cache_seconds
        self.note("first_epoch_seconds", times[0])
        self.extra.setdefault("epoch_seconds", []).extend(times[1:])
        self.note("whole_call_images_per_s", epochs * n / run.whole_seconds)
        self.note("run_epochs", epochs)
        self.note("cache_pass_seconds", cache)
        self.note("cache_pass_images_per_s", n / cache if cache > 0 else None)
        # The one-off cache pass amortized over this run's epochs (epoch 1's tracing included).
        self.note("with_cache_pass_images_per_s", epochs * n / (cache + sum(times)))
        return self.measured_epochs * n / sum(times[1:])

    def fed_by_files(self):
        return None if self.last is None else isinstance(self.last.run.source.images, FileImages)


# ---------------------------------------------------------------- Keras
class KerasFit(Method):
    """A Keras model trained with fit() on a tf.data pipeline built once; one warm-up epoch at set-up."""

    def __init__(self, ctx, key, label, what, augmented, build, measured_epochs=1):
        super().__init__(ctx)
        self.key, self.label, self.what, self.augmented = key, label, what, augmented
        self.build, self.measured_epochs = build, measured_epochs

    def setup(self):
        self.model, self.dataset = self.build(self.ctx)
        self.model.fit(self.dataset, epochs=1, verbose=0, shuffle=False)  # the dataset shuffles itself
        self.note("jit_compile", bool(self.model.jit_compile))

    def run_round(self, round_index):
        # 1 + k epochs in one fit(); the first is not counted, as for distill() (see bench.py's WARM).
        timer = common.EpochTimer()
        self.model.fit(self.dataset, epochs=1 + self.measured_epochs, verbose=0, shuffle=False, callbacks=[timer])
        return self.measured_epochs * self.ctx["n"] / sum(timer.seconds[1:])


class Eager(Method):
    key, label, augmented = "e", "(e) seed-style eager loop", True
    what = "Python for-loop over the tf.data batches; augmenter, teacher and GradientTape step called eagerly"

    def __init__(self, ctx, batches_per_round):
        super().__init__(ctx)
        self.batches = batches_per_round

    def setup(self):
        ctx = self.ctx
        self.loop = bl.EagerLoop(*_models(ctx), ctx["augmenter"]())
        self.dataset = bl.file_dataset(ctx["paths"], ctx["labels"], seed=5)
        self.loop.epoch(self.dataset.take(3))  # warm-up: the first calls build the layers

    def run_round(self, round_index):
        # Eager has no per-epoch work to amortize, so a part of an epoch is a fair sample.
        self.loop.epoch(self.dataset.take(2))  # unmeasured, as every method's first epoch of a round
        t0 = time.perf_counter()
        self.loop.epoch(self.dataset.take(self.batches))
        return self.batches * bm.BATCH_SIZE / (time.perf_counter() - t0)


def _models(ctx):
    return bm.clone(bm.teacher, ctx["teacher_weights"]), bm.clone(bm.student, ctx["student_weights"])


def build_builtin(augmented):
    def build(ctx):
        teacher, student = _models(ctx)
        aug = ctx["augmenter"]() if augmented else None
        return common.builtin_distiller(teacher, student), bl.file_dataset(ctx["paths"], ctx["labels"], seed=1, augmenter=aug)

    return build


def build_keras_io(augmented):
    def build(ctx):
        teacher, student = _models(ctx)
        aug = ctx["augmenter"]() if augmented else None
        return bl.keras_io_distiller(teacher, student, aug), bl.file_dataset(ctx["paths"], ctx["labels"], seed=2)

    return build


def build_plain(ctx):
    student = bm.clone(bm.student, ctx["student_weights"])
    return common.plain_student(student), bl.file_dataset(ctx["paths"], ctx["labels"], seed=3)


# ---------------------------------------------------------------- the main table
def main_methods(ctx, eager_batches: int) -> list[Method]:
    """(a), (b), (c), (d), (e), (f), (c0), (d0), in this order."""
    return [
        PykdDistill(ctx, "a", "(a) pykd.distill, augmented", "augmenter + teacher + student in one compiled step", True, 1),
        PykdDistill(ctx, "b", "(b) pykd.distill, teacher cache",
                    "augment=None, cache_teacher='auto': teacher logits computed once, gathered per step", False, 2),
        KerasFit(ctx, "c", "(c) keras.distillation.Distiller",
                 "LogitsDistillation(loss=KLDivergence()) under fit(); augmentation in tf.data", True, build_builtin(True)),
        KerasFit(ctx, "d", "(d) keras.io Distiller",
                 "keras.Model with its own train_step under fit(); augmentation in the step", True, build_keras_io(True)),
        Eager(ctx, eager_batches),
        KerasFit(ctx, "f", "(f) student plain fit()",
                 "the student alone on hard labels, same pipeline (the bound for (b))", False, build_plain, 2),
        KerasFit(ctx, "c0", "(c0) keras.distillation.Distiller, no aug", "(c) without augmentation", False, build_builtin(False)),
        KerasFit(ctx, "d0", "(d0) keras.io Distiller, no aug", "(d) without augmentation", False, build_keras_io(False)),
    ]  # fmt: skip
