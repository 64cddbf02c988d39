"""Replayed pykd epochs: the controls, the cost of reading images, and the candidate changes.

A variant is traced by one distill() call at set-up (with its candidate change, if
it has one); each round then replays `pykd.loop.train_epoch` on the run that call
handed its callbacks (`set_run`: the same compiled Steps and EpochPlan), with no
callbacks and no per-batch logs. The controls "(a)/(b) replayed, unpatched" are
replayed the same way, and the cost of reading images comes from them: after the
warm-up epoch, an epoch reading the images, two epochs whose image source answers
from preloaded tensors, and another epoch reading the images.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import bench_models as bm
import candidates as cand
import numpy as np
from methods import Method, PykdRun, log, run_distill

import pykd.image_cache
import pykd.images
import pykd.loop
from pykd._tf import keras, tf


class Captured:
    """One distill() run, replayable: pykd's own train_epoch on the Steps and EpochPlan it handed set_run."""

    def __init__(self, ctx, observed: PykdRun):
        self.ctx = ctx
        self.steps, self.plan = observed.steps, observed.plan
        self.callbacks = keras.callbacks.CallbackList([])
        self.after_epoch = None

    def _epoch(self, plan) -> float:
        t0 = time.perf_counter()
        pykd.loop.train_epoch(self.steps, plan, self.callbacks, 0, False)  # ends by reading the metric sums
        if self.after_epoch:
            self.after_epoch()
        return time.perf_counter() - t0

    def files_epoch(self) -> float:
        """pykd's own train_epoch, as distill() runs it: its image source -> compiled step."""
        return self._epoch(self.plan)

    def memory_epoch(self) -> float:
        """The same train_epoch and step, its plan's image source answering from preloaded tensors."""
        images = self.ctx["all_images"]
        if isinstance(self.plan.images, pykd.image_cache.DecodedImages):
            images = tf.cast(images, tf.uint8)  # what that source yields (exact: whole pixel values); no retracing
        upcoming = copy.deepcopy(self.plan.stream).take(self.plan.steps)
        ready = [(tf.constant(np.asarray(rows, np.int32)), tf.gather(images, rows)) for rows in upcoming]

        class Preloaded:
            @staticmethod
            def batches(batches):
                assert all(np.array_equal(a, b) for a, b in zip(batches, upcoming)), "stream moved unexpectedly"
                return ready

        return self._epoch(dataclasses.replace(self.plan, images=Preloaded()))


class PykdVariant(Method):
    """distill() traced once at set-up with one candidate change; each round replays steady-state epochs.

    One timed epoch after a warm-up, or with_memory: files, memory, memory, files (see run_round).
    """

    kind = "variant"

    def __init__(self, ctx, key, label, what, base, augmented, *, patch=None, student=None, wrap=None,
                 with_memory=False, options=None):  # fmt: skip
        super().__init__(ctx)
        self.key, self.label, self.what, self.base, self.augmented = key, label, what, base, augmented
        self.patch = patch  # a context manager factory, active while distill() builds and traces the run
        self.wrap = wrap  # changes the captured run after set-up
        self.options = options or {}  # extra distill() arguments (an option pykd already has)
        self.with_memory = with_memory  # also time the same Steps fed in-memory tensors (see run_round)
        self.memory: list[float] = []  # in-memory img/s per round, beside per_round's from the image source
        self.teacher = bm.clone(bm.teacher, ctx["teacher_weights"])
        self.student = student or bm.clone(bm.student, ctx["student_weights"])
        self.captured: Captured | None = None
        self.error = None

    def setup(self):
        try:
            with self.patch() if self.patch else nullcontext():
                run = run_distill(
                    self.ctx, teacher=self.teacher, student=self.student, augmented=self.augmented, epochs=1, seed=99,
                    # Kept after distill() returns (replayed every round); one directory per variant, so none reuses another's.
                    cache_dir=Path(self.ctx["work"]) / f"variant-{self.key}",
                    # One traced epoch reads each row once, so "auto" would skip the decoded-image
                    # cache that the multi-epoch distill() runs (a) and (b) use.
                    **{"cache_images": True, **self.options},
                )  # fmt: skip
            self.captured = Captured(self.ctx, run.run)
            if self.wrap:
                self.wrap(self.captured)
        except Exception as err:  # a candidate that no longer fits pykd is reported, not fatal
            first_line = (str(err).splitlines() or [""])[0]
            self.error = f"{type(err).__name__}: {first_line[:240]}"
            log(f"  variant {self.key} unavailable: {self.error}")

    def run_round(self, round_index):
        if self.error:
            return None
        n, captured = self.ctx["n"], self.captured
        captured.files_epoch()  # unmeasured warm-up epoch (see bench.py's WARM)
        if not self.with_memory:
            seconds = captured.files_epoch()
            self.note("epoch_seconds", seconds)
            return n / seconds
        # files, memory, memory, files: drift within the round hits both sides alike.
        first = captured.files_epoch()
        in_memory = captured.memory_epoch() + captured.memory_epoch()
        last = captured.files_epoch()
        self.note("epoch_seconds", first)
        self.note("epoch_seconds", last)
        self.memory.append(2 * n / in_memory)
        return 2 * n / (first + last)

    def fed_by_files(self):
        return None if self.captured is None else isinstance(self.captured.plan.images, pykd.images.FileImages)

    def measured(self) -> dict:
        return {**super().measured(), "base": self.base, "error": self.error, "with_memory": self.with_memory,
                "memory": self.memory}  # fmt: skip


# ---------------------------------------------------------------- candidate changes
@contextmanager
def patched(module, **values):
    """Temporarily replace attributes of `module` (e.g. pykd.build.Steps)."""
    old = {}
    for name, value in values.items():
        if not hasattr(module, name):
            raise AttributeError(f"{module.__name__}.{name} no longer exists: update benchmarks/replays.py")
        old[name] = getattr(module, name)
        setattr(module, name, value)
    try:
        yield
    finally:
        for name, value in old.items():
            setattr(module, name, value)


@contextmanager
def xla_steps():
    """Candidate: the steps class pykd's trainer builds (pykd.build.Steps) with its train step under XLA."""
    build = importlib.import_module("pykd.build")
    with patched(build, Steps=cand.xla_steps_class(build.Steps)):
        yield


def no_step_sync(captured: Captured) -> None:
    """Candidate: do not read the `finite` flag every step; read all of an epoch's flags at its end.

    A non-finite step already leaves the weights untouched (tf.cond), so raising
    after the epoch trains on no bad weights; it only reports the step later.
    """
    steps = captured.steps
    inner, flags = steps.train_step, []

    def step(*args):
        flags.append(inner(*args))
        return True

    def check():
        bad = [i for i, ok in enumerate(flags) if not bool(ok)]
        flags.clear()
        if bad:
            raise RuntimeError(f"non-finite step {bad[0] + 1}")

    steps.train_step = step
    captured.after_epoch = check


# ---------------------------------------------------------------- the line-up
CONTROL = "control: pykd's train_epoch replayed on distill()'s own Steps"


def controls(ctx) -> list[PykdVariant]:
    """The unpatched replays: the variants' controls and the measure of what reading the images costs."""
    return [
        PykdVariant(ctx, "a_replay", "(a) replayed, unpatched", CONTROL, "a", True, with_memory=True),
        PykdVariant(ctx, "b_replay", "(b) replayed, unpatched", CONTROL, "b", False, with_memory=True),
    ]


def variants(ctx, more: bool) -> list[PykdVariant]:
    """pykd's own options switched the other way, and candidate changes (more: also the slower-to-set-up ones)."""
    out = [
        PykdVariant(ctx, "a_fp32", "(a) with teacher_precision='float32'",
                    "the teacher in float32 (what 'auto' picks on hardware without native bfloat16)",
                    "a", True, options={"teacher_precision": "float32"}),
        PykdVariant(ctx, "b_xla", "(b) + XLA train step", "Steps.train_step under tf.function(jit_compile=True)",
                    "b", False, patch=xla_steps),
        PykdVariant(ctx, "b_files", "(b) with cache_images=False",
                    "every epoch decodes the JPEG files again instead of reading the decoded-image cache",
                    "b", False, options={"cache_images": False}, with_memory=True),
    ]  # fmt: skip
    if more:
        out += [
            PykdVariant(ctx, "a_xla", "(a) + XLA train step",
                        "the step after augmentation under tf.function(jit_compile=True)", "a", True, patch=xla_steps),
            PykdVariant(ctx, "b_bf16", "(b) + bfloat16 student", "the student trains in mixed_bfloat16 (float32 variables)",
                        "b", False, student=bm.clone(bm.student, ctx["student_weights"], dtype="mixed_bfloat16")),
            PykdVariant(ctx, "b_nosync", "(b) + no per-step sync", "the finite flags read once per epoch, not every step",
                        "b", False, wrap=no_step_sync),
        ]  # fmt: skip
    return out
