"""Replayed pykd epochs: the controls, the cost of reading images, and the candidate changes.

A variant is traced by one distill() call at set-up; a candidate change (candidates.py)
is handed the run by the callback's `set_run` hook before the first step, the only way
it changes anything (pykd itself is not patched). Each round then replays
`pykd.run.epochs.train_epoch` on what that call handed its callbacks (the run's
StepFunctions and training BatchSource), with no callbacks and no per-batch logs. The
controls "(a)/(b) replayed, unpatched" (no candidate change) are replayed the same
way, and the cost of reading images comes from them: after the warm-up epoch, an epoch
reading the images, two epochs whose image source answers from preloaded tensors, and
another epoch reading the images.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path

import bench_models as bm
import candidates as cand
import common
import numpy as np
from methods import Method, PykdRun, run_distill

from pykd._tf import keras, tf
from pykd.data.image_cache import DecodedImages
from pykd.data.images import FileImages
from pykd.run.epochs import train_epoch


class Captured:
    """One distill() run, replayable: pykd's own train_epoch on the StepFunctions and BatchSource it handed set_run."""

    def __init__(self, ctx, observed: PykdRun):
        self.ctx = ctx
        self.functions, self.source = observed.functions, observed.source
        self.callbacks = keras.callbacks.CallbackList([])

    def _epoch(self, source) -> float:
        t0 = time.perf_counter()
        train_epoch(self.functions, source, self.callbacks, 0, False)  # ends by reading the metric sums
        return time.perf_counter() - t0

    def files_epoch(self) -> float:
        """pykd's own train_epoch, as distill() runs it: its image source -> compiled step."""
        return self._epoch(self.source)

    def memory_epoch(self) -> float:
        """The same train_epoch and step, its batch source's images answering from preloaded tensors."""
        images = self.ctx["all_images"]
        if isinstance(self.source.images, DecodedImages):
            images = tf.cast(images, tf.uint8)  # what that source yields (exact: whole pixel values); no retracing
        upcoming = copy.deepcopy(self.source.stream).take(self.source.steps)
        ready = [(tf.constant(np.asarray(rows, np.int32)), tf.gather(images, rows)) for rows in upcoming]

        class Preloaded:
            @staticmethod
            def batches(batches):
                assert all(np.array_equal(a, b) for a, b in zip(batches, upcoming)), "stream moved unexpectedly"
                return ready

        return self._epoch(dataclasses.replace(self.source, images=Preloaded()))


class PykdVariant(Method):
    """distill() traced once at set-up with one candidate change; each round replays steady-state epochs.

    One timed epoch after a warm-up, or with_memory: files, memory, memory, files (see run_round).
    """

    kind = "variant"

    def __init__(self, ctx, key, label, what, base, augmented, *, change=None, student=None, with_memory=False,
                 options=None):  # fmt: skip
        super().__init__(ctx)
        self.key, self.label, self.what, self.base, self.augmented = key, label, what, base, augmented
        self.change = change  # a candidate change: called with the built run (set_run) before its first step
        self.options = options or {}  # extra distill() arguments (an option pykd already has)
        self.with_memory = with_memory  # also time the same step functions fed in-memory tensors (see run_round)
        self.memory: list[float] = []  # in-memory img/s per round, beside per_round's from the image source
        self.teacher = bm.clone(bm.teacher, ctx["teacher_weights"])
        self.student = student or bm.clone(bm.student, ctx["student_weights"])
        self.captured: Captured | None = None
        self.error = None

    def setup(self):
        try:
            run = run_distill(
                self.ctx, teacher=self.teacher, student=self.student, augmented=self.augmented, epochs=1, seed=99,
                change=self.change,
                # Kept after distill() returns (replayed every round); one directory per variant, so none reuses another's.
                cache_dir=Path(self.ctx["work"]) / f"variant-{self.key}",
                # One traced epoch reads each row once, so "auto" would skip the decoded-image
                # cache that the multi-epoch distill() runs (a) and (b) use.
                **{"cache_images": True, **self.options},
            )  # fmt: skip
            self.captured = Captured(self.ctx, run.run)
        except Exception as err:  # a candidate that no longer fits pykd is reported, not fatal
            first_line = (str(err).splitlines() or [""])[0]
            self.error = f"{type(err).__name__}: {first_line[:240]}"
            common.log(f"  variant {self.key} unavailable: {self.error}")

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
        return None if self.captured is None else isinstance(self.captured.source.images, FileImages)

    def measured(self) -> dict:
        return {**super().measured(), "base": self.base, "error": self.error, "with_memory": self.with_memory,
                "memory": self.memory}  # fmt: skip


# ---------------------------------------------------------------- the line-up
CONTROL = "control: pykd's train_epoch replayed on distill()'s own StepFunctions"


def controls(ctx) -> list[PykdVariant]:
    """The replays without a candidate change: the variants' controls and the measure of what reading the images costs."""
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
        PykdVariant(ctx, "b_xla", "(b) + XLA train step", "StepFunctions._train_step under tf.function(jit_compile=True)",
                    "b", False, change=cand.xla_train_step),
        PykdVariant(ctx, "b_files", "(b) with cache_images=False",
                    "every epoch decodes the JPEG files again instead of reading the decoded-image cache",
                    "b", False, options={"cache_images": False}, with_memory=True),
    ]  # fmt: skip
    if more:
        out += [
            PykdVariant(ctx, "a_xla", "(a) + XLA train step",
                        "the step after augmentation under tf.function(jit_compile=True)", "a", True,
                        change=cand.xla_train_step),
            PykdVariant(ctx, "b_bf16", "(b) + bfloat16 student", "the student trains in mixed_bfloat16 (float32 variables)",
                        "b", False, student=bm.clone(bm.student, ctx["student_weights"], dtype="mixed_bfloat16")),
        ]  # fmt: skip
    return out
