"""pykd's speed and memory benchmark: `make bench` (= .venv/bin/python benchmarks/bench.py).

In one process, on the same JPEG files, with clones of the same teacher (~260k
parameters) and student (~24k), batch 64, 64x64x3 images, it measures images/s of

  (a)  pykd.distill with augmentation: the teacher runs every step
  (b)  pykd.distill without augmentation: cache_teacher="auto" computes the
       teacher's logits once and every epoch reuses them
  (c)  Keras 3's keras.distillation.Distiller under fit(), augmentation in tf.data
  (d)  the keras.io example's Distiller (custom train_step), augmentation in the step
  (e)  a seed-style eager loop (Python for-loop, GradientTape, no tf.function)
  (f)  the student's own plain fit() without augmentation (the bound for (b))
  (c0), (d0)  (c) and (d) without augmentation: (b)'s like-for-like partners

and, next to them, pykd's own options switched the other way (a float32
teacher; JPEG decoding every epoch instead of the decoded-image cache), candidate
changes applied by monkeypatching (candidates.py: XLA; with --more-variants also
XLA with augmentation, a bfloat16 student and no per-step host sync),
micro-benchmarks of XLA, bfloat16 and the input pipelines,
the cost of reading images (distill()'s image source: here the decoded-image cache
of the JPEG files) against the same compiled step fed in-memory tensors, measured on
the replays in epochs alternating files, memory, memory, files,
and, in fresh subprocesses, distill()'s peak memory at N and 8N rows and the
effect of TensorFlow's oneDNN switch.

Methods run in rounds (all of them, then all again, each round in a rotated
order) so machine drift hits all alike; a figure is the median over rounds and
a ratio the median of per-round ratios. Thresholds are the issue's; every
PASS/FAIL is computed.

WARM: every measurement in a round follows an unmeasured epoch of the same
method in the same round. A graph that has just run another method's graphs
runs its first epoch up to ~20-40% slower (measured here), so without this the
method measured right after its own first epoch (distill()'s steady epochs)
would be favoured over one measured cold (a single-epoch fit()). So: the first
epoch of every distill() call (also tracing; the one-off decoding of the images
and, for (b), of the teacher's logits come before it), of every fit() call and of every replayed variant is not counted;
(b) is also reported with its cache pass included.

Writes bench-output/bench.json and bench-output/bench.md (for the README).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import baselines as bl  # noqa: E402
import bench_models as bm  # noqa: E402
import candidates as cand  # noqa: E402
import numpy as np  # noqa: E402

import pykd  # noqa: E402  (sets TensorFlow's environment before TensorFlow loads)
import pykd.api  # noqa: E402
import pykd.image_cache  # noqa: E402
import pykd.images  # noqa: E402
import pykd.loop  # noqa: E402
import pykd.stream  # noqa: E402
from pykd._tf import keras, tf  # noqa: E402
from pykd.teacher import _bfloat16_twin  # noqa: E402

tf.get_logger().setLevel("ERROR")  # many Steps objects each trace once: not a retracing problem

TARGETS_TEXT = {
    "a_vs_best_keras": "(a) >= 1.1x the faster of (c) and (d)",
    "a_vs_eager": "(a) >= 2x (e)",
    "b_vs_builtin": "(b) >= 3x (c0), i.e. (c) without augmentation like (b)",
    "b_vs_student_fit": "(b) >= 0.8x (f)",
    "file_cost": "reading images costs <= 10% vs the same compiled step fed in-memory tensors (worse of the (a) and (b) loops)",
    "memory": "peak RSS of distill() grows < 20% when the table grows 8x",
}


def log(*parts) -> None:
    print(*parts, flush=True)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio_per_round(xs, ys):
    return median([x / y for x, y in zip(xs, ys) if x and y])


def on_autotune_wakeup(seconds: float) -> bool:
    """True when an epoch ended 5-45 ms after a wake-up of tf.data's autotune thread.

    That thread sleeps 10 ms, 20 ms, 40 ms, ... (doubling) from the pipeline's
    start, so it wakes at 10 ms x (2^k - 1): 0.31, 0.63, 1.27, 2.55, 5.11, 10.23 s.
    """
    return any(0.005 <= seconds - 0.01 * (2**k - 1) <= 0.045 for k in range(5, 13))


def autotune_wakeups(method) -> list[int] | None:
    """[epochs that ended on an autotune wake-up, epochs], or None when no tf.data pipeline fed them.

    With the decoded-image cache, distill() reads batches without tf.data, and an
    epoch of ~0.3 s would match the 0.31 s wake-up by chance alone.
    """
    captured = getattr(method, "captured", None)
    if captured is None or not isinstance(captured.plan.images, pykd.images.FileImages):
        return None
    seconds = method.extra.get("epoch_seconds", [])
    return [sum(map(on_autotune_wakeup, seconds)), len(seconds)]


def onednn_setting() -> str:
    value = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    return "unset (TensorFlow's default: on)" if value is None else value


# ====================================================================== hooks into pykd
# distill() runs as shipped; the hooks only observe it (epoch times, the cache
# pass, the arguments of each epoch) unless a variant asks for a patch.
_ORIG_TRAIN_EPOCH = pykd.loop.train_epoch
_ORIG_CACHED_LOGITS = pykd.api.cached_logits
_ORIG_IMAGE_SOURCE = pykd.api.image_source


class Hooks:
    epoch_seconds: list[float] = []
    cache_seconds: list[float] = []
    last_epoch_call: tuple | None = None


def _timed_train_epoch(*args, **kwargs):
    t0 = time.perf_counter()
    out = _ORIG_TRAIN_EPOCH(*args, **kwargs)  # ends by reading the metric sums from the device
    Hooks.epoch_seconds.append(time.perf_counter() - t0)
    Hooks.last_epoch_call = (args, kwargs)
    return out


def _timed_cached_logits(*args, **kwargs):
    t0 = time.perf_counter()
    out = _ORIG_CACHED_LOGITS(*args, **kwargs)
    Hooks.cache_seconds.append(time.perf_counter() - t0)
    return out


def _timed_image_source(*args, **kwargs):
    t0 = time.perf_counter()
    out = _ORIG_IMAGE_SOURCE(*args, **kwargs)
    Hooks.cache_seconds.append(time.perf_counter() - t0)  # the one-off decoding into the image cache
    return out


pykd.api.train_epoch = _timed_train_epoch
pykd.api.cached_logits = _timed_cached_logits
pykd.api.image_source = _timed_image_source


@contextmanager
def patched(module, **values):
    """Temporarily replace attributes of `module` (e.g. pykd.api.Steps)."""
    old = {}
    for name, value in values.items():
        if not hasattr(module, name):
            raise AttributeError(f"{module.__name__}.{name} no longer exists: update benchmarks/bench.py")
        old[name] = getattr(module, name)
        setattr(module, name, value)
    try:
        yield
    finally:
        for name, value in old.items():
            setattr(module, name, value)


def run_distill(ctx, *, teacher, student, augmented: bool, epochs: int, seed: int, **options):
    Hooks.epoch_seconds, Hooks.cache_seconds, Hooks.last_epoch_call = [], [], None
    t0 = time.perf_counter()
    with patched(pykd.image_cache.DecodedImages, close=lambda self: None):  # deleted with the work directory
        history = pykd.distill(
            teacher, student, ctx["table"], directory=ctx["image_dir"],
            batch_size=bm.BATCH_SIZE, epochs=epochs, temperature=bm.TEMPERATURE, alpha=bm.ALPHA,
            augment=bm.AUGMENT if augmented else None, cache_teacher="auto", seed=seed, verbose=0, **options,
        )  # fmt: skip
    whole = time.perf_counter() - t0
    if len(Hooks.epoch_seconds) != epochs:
        raise RuntimeError(f"expected {epochs} timed epochs, got {Hooks.epoch_seconds}: update benchmarks/bench.py")
    if bool(history.params.get("teacher_cache")) == augmented:
        raise RuntimeError(f"teacher_cache={history.params.get('teacher_cache')} with augmented={augmented}")
    return whole, list(Hooks.epoch_seconds), list(Hooks.cache_seconds), Captured(ctx, Hooks.last_epoch_call)


class Captured:
    """One distill() epoch call, replayable: the same traced Steps, plan and image spec."""

    def __init__(self, ctx, call):
        self.ctx = ctx
        self.args, self.kwargs = list(call[0]), dict(call[1])
        self.steps = next(a for a in self.args if isinstance(a, pykd.loop.Steps))
        self.plan = next(a for a in self.args if isinstance(a, pykd.loop.EpochPlan))
        for i, a in enumerate(self.args):  # no callbacks, no per-batch logs
            if isinstance(a, keras.callbacks.CallbackList):
                self.args[i] = keras.callbacks.CallbackList([])
        self.after_epoch = None

    def files_epoch(self) -> float:
        """pykd's own train_epoch, as distill() runs it: files -> tf.data -> compiled step."""
        t0 = time.perf_counter()
        _ORIG_TRAIN_EPOCH(*self.args, **self.kwargs)
        if self.after_epoch:
            self.after_epoch()
        return time.perf_counter() - t0

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

        plan = dataclasses.replace(self.plan, images=Preloaded())
        args = [plan if a is self.plan else a for a in self.args]
        t0 = time.perf_counter()
        _ORIG_TRAIN_EPOCH(*args, **self.kwargs)
        if self.after_epoch:
            self.after_epoch()
        return time.perf_counter() - t0


# ====================================================================== methods
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


class PykdDistill(Method):
    """A fresh distill() call per round with 1 + k epochs; the first epoch is not counted."""

    def __init__(self, ctx, key, label, what, augmented, measured_epochs):
        super().__init__(ctx)
        self.key, self.label, self.what, self.augmented = key, label, what, augmented
        self.measured_epochs = measured_epochs
        self.teacher = bm.clone(bm.teacher, ctx["teacher_weights"])
        self.student = bm.clone(bm.student, ctx["student_weights"])
        self.captured: Captured | None = None

    def run_round(self, round_index):
        n, epochs = self.ctx["n"], 1 + self.measured_epochs
        whole, times, cache, self.captured = run_distill(
            self.ctx, teacher=self.teacher, student=self.student, augmented=self.augmented, epochs=epochs, seed=round_index
        )
        self.note("first_epoch_seconds", times[0])
        self.extra.setdefault("epoch_seconds", []).extend(times[1:])
        self.note("whole_call_images_per_s", epochs * n / whole)
        self.note("run_epochs", epochs)
        if cache:
            self.note("cache_pass_seconds", sum(cache))
            self.note("cache_pass_images_per_s", n / sum(cache))
            # The one-off cache pass amortized over this run's epochs (epoch 1's tracing included).
            self.note("with_cache_pass_images_per_s", epochs * n / (sum(cache) + sum(times)))
        return self.measured_epochs * n / sum(times[1:])


class PykdVariant(Method):
    """distill() traced once at set-up with one candidate change; each round replays steady-state epochs.

    One timed epoch after a warm-up, or with_memory: files, memory, memory, files (see run_round).
    """

    kind = "variant"

    def __init__(self, ctx, key, label, what, base, augmented, *, module_patches=(), teacher=None, student=None,
                 wrap=None, epoch_patches=(), prepare=None, with_memory=False, options=None):  # fmt: skip
        super().__init__(ctx)
        self.key, self.label, self.what, self.base, self.augmented = key, label, what, base, augmented
        self.module_patches, self.epoch_patches, self.wrap = module_patches, epoch_patches, wrap
        self.prepare = prepare  # called at set-up; returns epoch_patches (for patches that need the data)
        self.options = options or {}  # extra distill() arguments (an option pykd already has)
        self.with_memory = with_memory  # also time the same Steps fed in-memory tensors (see run_round)
        self.memory: list[float] = []  # in-memory img/s per round, beside per_round's from the image source
        self.teacher = teacher or bm.clone(bm.teacher, ctx["teacher_weights"])
        self.student = student or bm.clone(bm.student, ctx["student_weights"])
        self.error = None

    def setup(self):
        try:
            if self.prepare:
                self.epoch_patches = self.prepare(self.ctx)
            with _patches(self.module_patches), _patches(self.epoch_patches):
                _, _, _, self.captured = run_distill(
                    self.ctx, teacher=self.teacher, student=self.student, augmented=self.augmented, epochs=1, seed=99,
                    # One traced epoch reads each row once, so "auto" would skip the decoded-image
                    # cache that the multi-epoch distill() runs (a) and (b) use.
                    **{"cache_images": True, **self.options},
                )  # fmt: skip
            if self.wrap:
                self.wrap(self.captured)
        except Exception as err:  # a candidate that no longer fits pykd is reported, not fatal
            self.error = f"{type(err).__name__}: {str(err).splitlines()[0][:240]}"
            log(f"  variant {self.key} unavailable: {self.error}")

    def run_round(self, round_index):
        if self.error:
            return None
        n = self.ctx["n"]
        with _patches(self.epoch_patches):
            self.captured.files_epoch()  # unmeasured warm-up epoch (see WARM)
            if not self.with_memory:
                seconds = self.captured.files_epoch()
                self.note("epoch_seconds", seconds)
                return n / seconds
            # files, memory, memory, files: drift within the round hits both sides alike.
            first = self.captured.files_epoch()
            in_memory = self.captured.memory_epoch() + self.captured.memory_epoch()
            last = self.captured.files_epoch()
        self.note("epoch_seconds", first)
        self.note("epoch_seconds", last)
        self.memory.append(2 * n / in_memory)
        return 2 * n / (first + last)


@contextmanager
def _patches(pairs):
    if not pairs:
        yield
        return
    module, values = pairs
    with patched(module, **values):
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
        # 1 + k epochs in one fit(); the first is not counted, as for distill() (see WARM below).
        timer = bl.EpochTimer()
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
        self.loop = bl.EagerLoop(
            bm.clone(bm.teacher, ctx["teacher_weights"]), bm.clone(bm.student, ctx["student_weights"]), ctx["augmenter"]()
        )
        self.dataset = bl.file_dataset(ctx["paths"], ctx["labels"], seed=5)
        self.loop.epoch(self.dataset.take(3))  # warm-up: the first calls build the layers

    def run_round(self, round_index):
        # Eager has no per-epoch work to amortize, so a part of an epoch is a fair sample.
        self.loop.epoch(self.dataset.take(2))  # unmeasured, as every method's first epoch of a round
        t0 = time.perf_counter()
        self.loop.epoch(self.dataset.take(self.batches))
        return self.batches * bm.BATCH_SIZE / (time.perf_counter() - t0)


def build_builtin(augmented):
    def build(ctx):
        teacher, student = bm.clone(bm.teacher, ctx["teacher_weights"]), bm.clone(bm.student, ctx["student_weights"])
        aug = ctx["augmenter"]() if augmented else None
        return bl.builtin_distiller(teacher, student), bl.file_dataset(
            ctx["paths"], ctx["labels"], seed=1, augmenter=aug, augment_in_pipeline=True
        )

    return build


def build_keras_io(augmented):
    def build(ctx):
        teacher, student = bm.clone(bm.teacher, ctx["teacher_weights"]), bm.clone(bm.student, ctx["student_weights"])
        aug = ctx["augmenter"]() if augmented else None
        return bl.keras_io_distiller(teacher, student, aug), bl.file_dataset(ctx["paths"], ctx["labels"], seed=2)

    return build


def build_plain(ctx):
    student = bm.clone(bm.student, ctx["student_weights"])
    return bl.plain_student(student), bl.file_dataset(ctx["paths"], ctx["labels"], seed=3)


# ====================================================================== micro-benchmarks
PIPE_PYKD = "input-only epoch: pykd.images.FileImages (decode JPEGs)"
AUG_PYKD = "augmenter: pykd.images.build_augmenter (what every augmented method here uses)"
AUG_CHAIN = "augmenter: stock Keras 3 chain (RandomRotation, RandomTranslation, RandomZoom, RandomFlip)"
PIPE_CACHE = "input-only epoch: pykd.image_cache.DecodedImages (cache_images)"


class Micro:
    """In-memory batches of 64, so only the compute differs: teacher forward, augmenter, decode."""

    def __init__(self, ctx, n_batches=8):
        self.ctx, self.n_batches = ctx, n_batches
        self.results: dict[str, list[float]] = {}
        self.errors: dict[str, str] = {}
        self.cases: dict = {}

    def setup(self):
        ctx = self.ctx
        rows = [np.arange(i * bm.BATCH_SIZE, (i + 1) * bm.BATCH_SIZE) % ctx["n"] for i in range(self.n_batches)]
        self.batches = [tf.gather(ctx["all_images"], r) for r in rows]
        teacher32 = bm.clone(bm.teacher, ctx["teacher_weights"])
        teacher16 = _bfloat16_twin(teacher32)
        pykd_aug = ctx["augmenter"]()
        keras_chain = bm.keras_chain_augmenter(0)

        def call(layer, training):
            return lambda x: layer(x, training=training)

        cases = {
            "teacher forward fp32": tf.function(call(teacher32, False)),
            "teacher forward fp32 + XLA": tf.function(call(teacher32, False), jit_compile=True),
            "teacher forward bf16": tf.function(call(teacher16, False)),
            "teacher forward bf16 + XLA": tf.function(call(teacher16, False), jit_compile=True),
            AUG_PYKD: tf.function(call(pykd_aug, True)),
            AUG_CHAIN: tf.function(call(keras_chain, True)),
        }
        for name, fn in cases.items():
            try:
                for x in self.batches[:2]:
                    np.asarray(fn(x))
                self.cases[name] = fn
            except Exception as err:  # e.g. an op without an XLA kernel
                self.errors[name] = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
        # An epoch of input alone (no training): JPEG files, and pykd's decoded-image cache.
        spec = pykd.images.ImageSpec(*bm.IMAGE_SHAPE)
        stream = pykd.stream.BatchStream(ctx["n"], bm.BATCH_SIZE, shuffle=True, seed=0)
        n_steps = stream.steps_per_pass
        decoded = _ORIG_IMAGE_SOURCE(True, ctx["paths"], spec, cache_dir=Path(ctx["work"]) / "decoded", passes=2,
                                     batch_size=bm.BATCH_SIZE)

        def pipeline(source, tag):
            def run():
                t0 = time.perf_counter()
                first = None
                for _ in source.batches(stream.take(n_steps)):
                    if first is None:
                        first = time.perf_counter()
                end = time.perf_counter()
                self.results.setdefault(f"input start-up to first batch, ms ({tag})", []).append(1000 * (first - t0))
                return end - t0

            return run

        self.pipelines = {
            PIPE_PYKD: pipeline(pykd.images.FileImages(ctx["paths"], spec), "JPEG files"),
            PIPE_CACHE: pipeline(decoded, "decoded cache"),
        }
        for run in self.pipelines.values():
            run()

    def run_round(self, round_index):
        for name, fn in self.cases.items():
            np.asarray(fn(self.batches[0]))  # warm-up (see WARM)
            t0 = time.perf_counter()
            for x in self.batches:
                out = fn(x)
            np.asarray(out)
            self.results.setdefault(name, []).append(self.n_batches * bm.BATCH_SIZE / (time.perf_counter() - t0))
        for name, run in self.pipelines.items():
            self.results.setdefault(name, []).append(self.ctx["n"] / run())

    def summary(self):
        out = {name: median(values) for name, values in self.results.items()}
        ratios = {}
        pairs = [
            ("teacher forward fp32 + XLA", "teacher forward fp32"),
            ("teacher forward bf16", "teacher forward fp32"),
            ("teacher forward bf16 + XLA", "teacher forward fp32"),
            (AUG_PYKD, AUG_CHAIN),
            (PIPE_CACHE, PIPE_PYKD),
        ]
        for a, b in pairs:
            if a in self.results and b in self.results:
                ratios[f"{a} / {b}"] = ratio_per_round(self.results[a], self.results[b])
        return {"images_per_s": out, "ratios": ratios, "errors": self.errors}


# ====================================================================== subprocess probes
def memory_probe(ctx, rows: int, workdir: Path) -> dict:
    runs = {}
    for size in (rows, 8 * rows):
        directory = workdir / f"mem_{size}"
        table = bm.replicate(ctx["table"], Path(ctx["image_dir"]), directory, size)
        csv = workdir / f"mem_{size}.csv"
        table.to_csv(csv, index=False)
        out = subprocess.run(
            [sys.executable, str(HERE / "memory_probe.py"), str(csv), str(directory)],
            capture_output=True, text=True, env=dict(os.environ), check=False,
        )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"memory probe ({size} rows) failed:\n{out.stderr[-3000:]}")
        runs[size] = json.loads(out.stdout.strip().splitlines()[-1])
        r = runs[size]
        log(f"  memory: {size} rows -> peak RSS {r['peak_rss_mb']:.0f} MB "
            f"(before distill {r['peak_rss_before_distill_mb']:.0f} MB, "
            f"ru_maxrss {r['ru_maxrss_mb']:.0f} MB, {r['seconds']} s)")  # fmt: skip
    small, big = runs[rows], runs[8 * rows]
    grow_small = small["peak_rss_mb"] - small["peak_rss_before_distill_mb"]
    grow_big = big["peak_rss_mb"] - big["peak_rss_before_distill_mb"]
    return {
        "rows": [rows, 8 * rows],
        "runs": [small, big],
        "ratio": big["peak_rss_mb"] / small["peak_rss_mb"],
        "growth_mb": big["peak_rss_mb"] - small["peak_rss_mb"],
        "distill_own_mb": [grow_small, grow_big],
    }


ONEDNN_PROBE = r"""
import json, sys, time
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import numpy as np
import pykd
from pykd._tf import keras, tf
import bench_models as bm
from pykd.teacher import _bfloat16_twin
t32 = bm.teacher(); t16 = _bfloat16_twin(t32); s32 = bm.student()
aug = pykd.images.build_augmenter(pykd.Augmentation(**bm.AUGMENT), 0)
opt = keras.optimizers.Adam(1e-3)
x = tf.random.uniform((bm.BATCH_SIZE,) + bm.IMAGE_SHAPE, 0, 255, seed=0)
y = tf.zeros((bm.BATCH_SIZE,), tf.int32)
ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
def student_step(x):
    with tf.GradientTape() as tape:
        loss = ce(y, s32(x, training=True))
    g = tape.gradient(loss, s32.trainable_variables)
    opt.apply_gradients(zip(g, s32.trainable_variables))
    return loss
def f32(x): return t32(x, training=False)
def f16(x): return t16(x, training=False)
def fa(x): return aug(x, training=True)
cases = {"teacher forward fp32": tf.function(f32), "teacher forward fp32 + XLA": tf.function(f32, jit_compile=True),
         "teacher forward bf16": tf.function(f16), "student train step fp32": tf.function(student_step),
         "augmenter (pykd.images.build_augmenter)": tf.function(fa)}
for fn in cases.values():
    np.asarray(fn(x)); np.asarray(fn(x))
out = {}
for name, fn in cases.items():
    t0 = time.perf_counter()
    for _ in range(int(sys.argv[3])):
        r = fn(x)
    np.asarray(r)
    out[name] = int(sys.argv[3]) * bm.BATCH_SIZE / (time.perf_counter() - t0)
print(json.dumps(out))
"""


def onednn_probe(pairs: int, steps: int) -> dict:
    """The same micro-benchmark in fresh processes with TF_ENABLE_ONEDNN_OPTS=0 and =1, alternated."""
    results: dict[str, list[dict]] = {"0": [], "1": []}
    for _ in range(pairs):
        for flag in ("0", "1"):
            env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=flag, TF_CPP_MIN_LOG_LEVEL="2")
            out = subprocess.run(
                [sys.executable, "-c", ONEDNN_PROBE, str(ROOT), str(HERE), str(steps)],
                capture_output=True, text=True, env=env, check=False,
            )  # fmt: skip
            if out.returncode != 0:
                raise RuntimeError(f"oneDNN probe failed:\n{out.stderr[-3000:]}")
            results[flag].append(json.loads(out.stdout.strip().splitlines()[-1]))
    table = {}
    for name in results["0"][0]:
        off = median([r[name] for r in results["0"]])
        on = median([r[name] for r in results["1"]])
        table[name] = {"onednn_off": off, "onednn_on": on, "on_over_off": on / off}
    return table


# ====================================================================== the line-up
def build_methods(ctx, args):
    control = "control: pykd's train_epoch replayed on distill()'s own Steps"
    a = PykdDistill(ctx, "a", "(a) pykd.distill, augmented", "augmenter + teacher + student in one compiled step", True, 1)
    b = PykdDistill(
        ctx, "b", "(b) pykd.distill, teacher cache",
        "augment=None, cache_teacher='auto': teacher logits computed once, gathered per step", False, 2,
    )  # fmt: skip
    methods: list[Method] = [
        a,
        b,
        KerasFit(ctx, "c", "(c) keras.distillation.Distiller",
                 "LogitsDistillation(loss=KLDivergence()) under fit(); augmentation in tf.data", True, build_builtin(True)),
        KerasFit(ctx, "d", "(d) keras.io Distiller",
                 "keras.Model with its own train_step under fit(); augmentation in the step", True, build_keras_io(True)),
        Eager(ctx, args.eager_batches),
        KerasFit(ctx, "f", "(f) student plain fit()",
                 "the student alone on hard labels, same pipeline (the bound for (b))", False, build_plain, 2),
        KerasFit(ctx, "c0", "(c0) keras.distillation.Distiller, no aug", "(c) without augmentation", False, build_builtin(False)),
        KerasFit(ctx, "d0", "(d0) keras.io Distiller, no aug", "(d) without augmentation", False, build_keras_io(False)),
        # Controls for the variants, and the measure of what reading the images costs.
        PykdVariant(ctx, "a_replay", "(a) replayed, unpatched", control, "a", True, with_memory=True),
        PykdVariant(ctx, "b_replay", "(b) replayed, unpatched", control, "b", False, with_memory=True),
    ]  # fmt: skip
    if args.skip_variants:
        return methods, a, b
    xla = (pykd.api, {"Steps": cand.xla_steps_class(pykd.loop.Steps)})
    methods += [
        PykdVariant(ctx, "a_fp32", "(a) with teacher_precision='float32'",
                    "the teacher in float32 (what 'auto' picks on hardware without native bfloat16)",
                    "a", True, options={"teacher_precision": "float32"}),
        PykdVariant(ctx, "b_xla", "(b) + XLA train step", "Steps.train_step under tf.function(jit_compile=True)",
                    "b", False, module_patches=xla),
        PykdVariant(ctx, "b_files", "(b) with cache_images=False",
                    "every epoch decodes the JPEG files again instead of reading the decoded-image cache",
                    "b", False, options={"cache_images": False}, with_memory=True),
    ]  # fmt: skip
    if args.more_variants:
        methods += [
            PykdVariant(ctx, "a_xla", "(a) + XLA train step",
                        "the step after augmentation under tf.function(jit_compile=True)", "a", True, module_patches=xla),
            PykdVariant(ctx, "b_bf16", "(b) + bfloat16 student", "the student trains in mixed_bfloat16 (float32 variables)",
                        "b", False, student=bm.clone(bm.student, ctx["student_weights"], dtype="mixed_bfloat16")),
            PykdVariant(ctx, "b_nosync", "(b) + no per-step sync", "the finite flags read once per epoch, not every step",
                        "b", False, wrap=no_step_sync),
        ]  # fmt: skip
    return methods, a, b


# ====================================================================== main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of every method (default 5)")
    parser.add_argument("--images", type=int, default=1792, help="training images (default 1792 = 28 batches of 64)")
    parser.add_argument("--eager-batches", type=int, default=14, help="batches of (e) per round (default 14, half an epoch)")
    parser.add_argument("--memory-rows", type=int, default=256, help="N for the memory probe: N and 8N rows")
    parser.add_argument("--onednn-pairs", type=int, default=1, help="oneDNN off/on subprocess pairs (0 = skip)")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-variants", action="store_true", help="no candidate-change rows, no micro-benchmarks")
    parser.add_argument("--more-variants", action="store_true",
                        help="also XLA with augmentation, a bfloat16 student, no per-step sync")
    parser.add_argument("--out", default=str(ROOT / "bench-output"))
    args = parser.parse_args()
    started = time.perf_counter()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    log(f"pykd benchmark: {args.images} JPEGs 64x64x3, batch {bm.BATCH_SIZE}, {args.rounds} rounds, {os.cpu_count()} CPUs, "
        f"TF {tf.__version__}, Keras {keras.__version__}, TF_ENABLE_ONEDNN_OPTS={onednn_setting()}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="pykd-bench-") as tmp:
        work = Path(tmp)
        # distill()'s temporary decoded-image files go here, and are kept until the end
        # (see run_distill): variants replay epochs after their distill() call returned.
        tempfile.tempdir = str(work)
        image_dir = work / "images"
        table = bm.write_images(image_dir, args.images, seed=0)
        keras.utils.set_random_seed(0)
        teacher0, student0 = bm.teacher(), bm.student()
        paths = [str(image_dir / i) for i in table["image_id"]]
        ctx = {
            "n": len(table), "table": table, "image_dir": str(image_dir), "paths": paths, "work": str(work),
            "labels": table["label"].astype(int).tolist(),
            "teacher_weights": teacher0.get_weights(), "student_weights": student0.get_weights(),
            "augmenter": lambda: pykd.images.build_augmenter(pykd.Augmentation(**bm.AUGMENT), 0),
        }  # fmt: skip
        ctx["all_images"] = tf.stack([bm.decode(tf.constant(p)) for p in paths])
        log(f"  wrote {len(table)} JPEGs; teacher {teacher0.count_params():,} params, student {student0.count_params():,}")
        # A teacher whose soft targets are not near-uniform, so the KL terms are not ~0 when compared.
        sharp = bm.clone(bm.teacher, [w * 3.0 for w in ctx["teacher_weights"]])
        agreement = bl.loss_agreement(sharp, student0, ctx["all_images"][:64], tf.constant(ctx["labels"][:64], tf.int32))
        worst = max(abs(v - agreement["pykd"]) / max(abs(agreement["pykd"]), 1e-12) for v in agreement.values())
        agreement["max_relative_difference"] = worst
        log(f"  one batch's loss: pykd {agreement['pykd']:.6f}, "
            f"keras.distillation.Distiller {agreement['builtin_distiller']:.6f}, "
            f"keras.io-style {agreement['keras_io']:.6f} (max relative difference {worst:.1e})")  # fmt: skip
        if worst > 1e-3:
            log("  WARNING: the methods do not optimize the same loss; the comparison is not like for like")

        methods, a, b = build_methods(ctx, args)
        micro = None if args.skip_variants else Micro(ctx)
        t0 = time.perf_counter()
        for m in methods:
            m.setup()
        if micro:
            micro.setup()
        log(f"  set-up, tracing and warm-up epochs: {time.perf_counter() - t0:.0f} s")

        for r in range(args.rounds):
            t_round = time.perf_counter()
            order = methods[r % len(methods):] + methods[: r % len(methods)]
            for m in order:
                m.per_round.append(m.run_round(r))
            if micro:
                micro.run_round(r)
            log(f"  round {r + 1}/{args.rounds} ({time.perf_counter() - t_round:.0f} s): "
                + ", ".join(f"{m.key} {m.per_round[-1] or 0:.0f}" for m in methods) + " img/s")  # fmt: skip

        memory = None if args.skip_memory else memory_probe(ctx, args.memory_rows, work)
    onednn = onednn_probe(args.onednn_pairs, 8) if args.onednn_pairs > 0 else None

    results = summarize(args, ctx, teacher0, student0, methods, a, b, micro, memory, onednn)
    results["loss_agreement"] = agreement
    results["config"]["seconds"] = round(time.perf_counter() - started, 1)
    (out_dir / "bench.json").write_text(json.dumps(results, indent=2, default=float))
    md = markdown(results)
    (out_dir / "bench.md").write_text(md)
    log("")
    log(md)
    log(f"wrote {out_dir / 'bench.json'} and {out_dir / 'bench.md'} in {results['config']['seconds']:.0f} s")
    return 0


def files_costs(m) -> list[float]:
    """Per round: epoch time reading the images / epoch time from in-memory tensors - 1."""
    return [mem / f - 1 for f, mem in zip(m.per_round, m.memory) if f and mem]


def summarize(args, ctx, teacher0, student0, methods, a, b, micro, memory, onednn) -> dict:
    by = {m.key: m for m in methods}
    rounds = lambda key: by[key].per_round  # noqa: E731
    best_keras = [max(c, d) for c, d in zip(rounds("c"), rounds("d"))]
    ratios = {
        "a / max(c, d)": ratio_per_round(rounds("a"), best_keras),
        "a / c": ratio_per_round(rounds("a"), rounds("c")),
        "a / d": ratio_per_round(rounds("a"), rounds("d")),
        "a / e": ratio_per_round(rounds("a"), rounds("e")),
        "b / c0": ratio_per_round(rounds("b"), rounds("c0")),
        "b / d0": ratio_per_round(rounds("b"), rounds("d0")),
        "b / c": ratio_per_round(rounds("b"), rounds("c")),
        "b / f": ratio_per_round(rounds("b"), rounds("f")),
        "b incl. cache pass / c0": ratio_per_round(b.extra["with_cache_pass_images_per_s"], rounds("c0")),
        "c / c0 (cost of augmentation)": ratio_per_round(rounds("c"), rounds("c0")),
        "c / e": ratio_per_round(rounds("c"), rounds("e")),
        "f / c0": ratio_per_round(rounds("f"), rounds("c0")),
    }
    variants = {}
    for m in methods:
        if m.kind != "variant":
            continue
        control = m.base if m.key.endswith("_replay") else f"{m.base}_replay"
        v = {"vs unpatched": ratio_per_round(m.per_round, rounds(control)), "unpatched": control}
        v["error"] = m.error
        v["epochs on an autotune wake-up"] = autotune_wakeups(m)
        if m.base == "a":
            v["vs max(c, d)"] = ratio_per_round(m.per_round, best_keras)
            v["vs e"] = ratio_per_round(m.per_round, rounds("e"))
        else:
            v["vs c0"] = ratio_per_round(m.per_round, rounds("c0"))
            v["vs f"] = ratio_per_round(m.per_round, rounds("f"))
        if m.with_memory:  # its cost of files, against its own Steps fed in-memory tensors
            v["files cost"] = median(files_costs(m))
        variants[m.key] = v
    wakeups = {key: autotune_wakeups(by[key]) for key in ("a", "b")}
    io = {}
    for key in ("b", "a"):
        m = by[f"{key}_replay"]
        costs = files_costs(m)
        io[key] = {
            "files_images_per_s": median(m.per_round), "memory_images_per_s": median(m.memory),
            "cost": median(costs), "cost_per_round": costs,
        }  # fmt: skip
    costs = [c for c in (io["b"]["cost"], io["a"]["cost"]) if c is not None]
    targets = [
        ("a_vs_best_keras", ratios["a / max(c, d)"], 1.1, True, "x"),
        ("a_vs_eager", ratios["a / e"], 2.0, True, "x"),
        ("b_vs_builtin", ratios["b / c0"], 3.0, True, "x"),
        ("b_vs_student_fit", ratios["b / f"], 0.8, True, "x"),
        ("file_cost", max(costs) if len(costs) == 2 else None, 0.10, False, "%"),
        ("memory", None if memory is None else memory["ratio"] - 1, 0.20, False, "%"),
    ]

    def verdict(value, threshold, higher_is_better):
        if value is None:
            return "n/a"
        return "PASS" if (value >= threshold if higher_is_better else value <= threshold) else "FAIL"

    return {
        "command": "make bench  (= .venv/bin/python benchmarks/bench.py)",
        "config": {
            "images": ctx["n"], "image_shape": list(bm.IMAGE_SHAPE), "batch_size": bm.BATCH_SIZE, "rounds": args.rounds,
            "teacher_params": int(teacher0.count_params()), "student_params": int(student0.count_params()),
            "temperature": bm.TEMPERATURE, "alpha": bm.ALPHA, "augmentation": bm.AUGMENT,
            "eager_batches_per_round": args.eager_batches, "cpus": os.cpu_count(),
            "python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "TF_ENABLE_ONEDNN_OPTS": onednn_setting(),
            "keras_jit_compile": {k: by[k].extra.get("jit_compile", [None])[0] for k in ("c", "d", "f", "c0", "d0")},
        },  # fmt: skip
        "methods": {
            m.key: {"label": m.label, "what": m.what, "augmented": m.augmented, "kind": m.kind,
                    "images_per_s": median(m.per_round), "per_round": m.per_round, "extra": m.extra}
            for m in methods
        },  # fmt: skip
        "ratios": ratios,
        "distill_epochs_on_an_autotune_wakeup": wakeups,
        "variants": variants,
        "files_vs_memory": io,
        "micro": None if micro is None else micro.summary(),
        "onednn": onednn,
        "memory": memory,
        "targets": [
            {"target": key, "text": TARGETS_TEXT[key], "value": value, "threshold": thr, "unit": unit,
             "result": verdict(value, thr, hi)}
            for key, value, thr, hi, unit in targets
        ],  # fmt: skip
    }


def fmt(value, digits=0, suffix=""):
    return "n/a" if value is None else f"{value:,.{digits}f}{suffix}"


def markdown(res) -> str:
    cfg, methods, ratios = res["config"], res["methods"], res["ratios"]
    c0, f = methods["c0"]["images_per_s"], methods["f"]["images_per_s"]
    lines = [
        f"`make bench` (`.venv/bin/python benchmarks/bench.py`): {cfg['images']} JPEGs {cfg['image_shape'][0]}x"
        f"{cfg['image_shape'][1]}x3, batch {cfg['batch_size']}, teacher {cfg['teacher_params']:,} params, student "
        f"{cfg['student_params']:,}, {cfg['cpus']} CPUs, TensorFlow {cfg['tensorflow']}, Keras {cfg['keras']}, "
        f"TF_ENABLE_ONEDNN_OPTS={cfg['TF_ENABLE_ONEDNN_OPTS']}. Images/s are medians over {cfg['rounds']} alternating "
        "rounds of steady-state epochs; ratios are medians of per-round ratios.",
        "",
        "| method | augmented | images/s | vs (c0) | vs (f) |",
        "|---|:-:|--:|--:|--:|",
    ]
    for m in methods.values():
        if m["kind"] == "method":
            v = m["images_per_s"]
            aug = "yes" if m["augmented"] else "no"
            lines.append(f"| {m['label']} | {aug} | {fmt(v)} | {fmt(v / c0, 2, 'x')} | {fmt(v / f, 2, 'x')} |")
    bx = methods["b"]["extra"]
    amort = median(bx["with_cache_pass_images_per_s"])
    lines += [
        f"| (b) with its one-off cache pass, over the run's {bx['run_epochs'][0]} epochs | no | {fmt(amort)} | "
        f"{fmt(amort / c0, 2, 'x')} | {fmt(amort / f, 2, 'x')} |",
        "",
        f"The teacher-cache pass took {fmt(median(bx['cache_pass_seconds']), 2)} s for {cfg['images']} images "
        f"({fmt(median(bx['cache_pass_images_per_s']))} img/s). Keras resolves jit_compile to "
        f"{cfg['keras_jit_compile']['c']} for the Keras methods on a CPU-only machine.",
        "",
        "| target | measured | threshold | result |",
        "|---|--:|--:|:-:|",
    ]
    for t in res["targets"]:
        if t["unit"] == "x":
            value, thr = fmt(t["value"], 2, "x"), f"{t['threshold']}x"
        else:
            value, thr = ("n/a" if t["value"] is None else f"{100 * t['value']:+.1f}%"), f"{100 * t['threshold']:.0f}%"
        lines.append(f"| {t['text']} | {value} | {thr} | **{t['result']}** |")
    lines += ["", "| ratio (median of per-round ratios) | value |", "|---|--:|"]
    lines += [f"| {k} | {fmt(v, 2, 'x')} |" for k, v in ratios.items()]
    w = {k: "no tf.data pipeline" if v is None else f"{v[0]} of {v[1]}"
         for k, v in res["distill_epochs_on_an_autotune_wakeup"].items()}  # fmt: skip
    lines += [
        "",
        f"Steady distill() epochs that ended 5-45 ms after a wake-up of tf.data's autotune thread "
        f"(10 ms x (2^k - 1) after the epoch's pipeline started: 0.31, 0.63, 1.27, 2.55, 5.11 s): "
        f"(a) {w['a']}, (b) {w['b']}.",
    ]
    io = res["files_vs_memory"]
    lines += [
        "",
        "| pykd's train_epoch replayed on distill()'s Steps, epochs alternating files, memory, memory, files "
        "| from its image source img/s | in-memory img/s | cost of reading |",
        "|---|--:|--:|--:|",
    ]
    for key, name in (("b", "(b) cached teacher"), ("a", "(a) augmented, teacher every step")):
        r = io[key]
        cost = "n/a" if r["cost"] is None else f"{100 * r['cost']:+.1f}%"
        lines.append(f"| {name} | {fmt(r['files_images_per_s'])} | {fmt(r['memory_images_per_s'])} | {cost} |")
    if res["variants"]:
        lines += [
            "",
            "Candidate pykd changes (benchmarks/candidates.py, monkeypatched here; not in pykd):",
            "",
            "| variant | images/s | vs unpatched | target ratios with it |",
            "|---|--:|--:|---|",
        ]
        for key, v in res["variants"].items():
            m = methods[key]
            if v["error"]:
                lines.append(f"| {m['label']} | n/a | n/a | unavailable: {v['error']} |")
                continue
            if key.startswith("a"):
                target = f"vs max(c, d) {fmt(v['vs max(c, d)'], 2, 'x')}, vs (e) {fmt(v['vs e'], 2, 'x')}"
            else:
                target = f"vs (c0) {fmt(v['vs c0'], 2, 'x')}, vs (f) {fmt(v['vs f'], 2, 'x')}"
            if "files cost" in v:
                cost = None if v["files cost"] is None else 100 * v["files cost"]
                target += f"; files cost vs the same Steps in memory {fmt(cost, 1, '%')}"
            base = "distill() epochs" if v["unpatched"] in ("a", "b") else f"({v['unpatched'][0]}) replayed"
            if v["epochs on an autotune wake-up"] is not None:  # only where tf.data fed the epochs
                hits, n = v["epochs on an autotune wake-up"]
                target += f"; epochs ending on an autotune wake-up: {hits}/{n}"
            lines.append(f"| {m['label']} | {fmt(m['images_per_s'])} | {fmt(v['vs unpatched'], 2, 'x')} vs {base} | {target} |")
    micro = res.get("micro")
    if micro:
        lines += ["", "Micro-benchmarks (in-memory batches of 64; the input rows read one epoch of images without training):", "",
                  "| case | value |", "|---|--:|"]  # fmt: skip
        for k, v in micro["images_per_s"].items():
            lines.append(f"| {k} | {fmt(v, 1) if ' ms ' in k else fmt(v) + ' img/s'} |")
        lines += [f"| {k} | {fmt(v, 2, 'x')} |" for k, v in micro["ratios"].items()]
        lines += [f"| {k} | failed: {v} |" for k, v in micro["errors"].items()]
    if res.get("onednn"):
        lines += ["", "TensorFlow's oneDNN switch (fresh processes, in-memory batches, img/s):", "",
                  "| case | TF_ENABLE_ONEDNN_OPTS=0 | =1 | on / off |", "|---|--:|--:|--:|"]  # fmt: skip
        for k, v in res["onednn"].items():
            lines.append(f"| {k} | {fmt(v['onednn_off'])} | {fmt(v['onednn_on'])} | {fmt(v['on_over_off'], 2, 'x')} |")
    mem = res.get("memory")
    if mem:
        s, big = mem["runs"]
        lines += [
            "",
            f"Memory, distill() in a fresh process each (peak RSS = VmHWM): {mem['rows'][0]} rows -> {s['peak_rss_mb']:.0f} MB, "
            f"{mem['rows'][1]} rows -> {big['peak_rss_mb']:.0f} MB (x{mem['ratio']:.3f}, {mem['growth_mb']:+.0f} MB). "
            f"Of that, before distill() (imports, models): {s['peak_rss_before_distill_mb']:.0f} / "
            f"{big['peak_rss_before_distill_mb']:.0f} MB; added by distill(): {mem['distill_own_mb'][0]:.0f} / "
            f"{mem['distill_own_mb'][1]:.0f} MB.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
