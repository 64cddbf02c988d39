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
  (c0), (d0)  (c) and (d) without augmentation, the like-for-like partners of (b)

plus pykd with candidate changes applied by monkeypatching (XLA train steps, no
per-step host sync), micro-benchmarks of XLA and bfloat16 for the teacher's
forward pass and the train step, the cost of reading files against the same
compiled step fed in-memory tensors, and (in fresh subprocesses) the peak
memory of distill() at N and 8N rows and the effect of TensorFlow's oneDNN switch.

Methods run in rounds (a, b, c, ... then again, each round in a rotated order),
so machine drift hits all of them alike; each figure is the median over rounds,
and each ratio the median of the per-round ratios (side by side, same round).
Steady state only: the first epoch of every distill() call (tracing, and for
(b) the one-off teacher-cache pass) and a warm-up fit() epoch of every Keras
method are excluded; (b) is also reported with its cache pass included.

Writes bench-output/bench.json and bench-output/bench.md. Never tune a figure to
pass: the thresholds are the issue's and every PASS/FAIL is computed.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402

import pykd  # noqa: E402  (sets TensorFlow's environment switches before TF loads)
import pykd.api  # noqa: E402
import pykd.loop  # noqa: E402
from pykd._tf import keras, tf  # noqa: E402

import baselines as bl  # noqa: E402
import bench_models as bm  # noqa: E402

TARGETS_TEXT = {
    "a_vs_best_keras": "(a) >= 1.1x the faster of (c) and (d)",
    "a_vs_eager": "(a) >= 2x (e)",
    "b_vs_builtin": "(b) >= 3x (c0) [like for like: (c) without augmentation]",
    "b_vs_student_fit": "(b) >= 0.8x (f)",
    "file_cost": "reading files costs <= 10% against the same compiled step fed in-memory tensors [(b) and (a) loops]",
    "memory": "peak RSS of distill() grows < 20% when the table grows 8x",
}


def log(*parts) -> None:
    print(*parts, flush=True)


def onednn_setting() -> str:
    value = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    return "unset (TensorFlow's default: on)" if value is None else value


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# ====================================================================== pykd hooks
# distill() is measured as it ships; these hooks only observe it (epoch times,
# the cache pass) or, for the variant rows, swap in one candidate change.
class Hooks:
    epoch_seconds: list[float] = []
    cache_seconds: list[float] = []
    captured: dict = {}
    steps_class = None  # None = pykd's own Steps
    epoch_impl = None  # None = pykd's own train_epoch
    capture_key: str | None = None


_ORIG_TRAIN_EPOCH = pykd.loop.train_epoch
_ORIG_STEPS = pykd.loop.Steps
_ORIG_CACHED_LOGITS = pykd.api.cached_logits


def _timed_train_epoch(steps, plan, spec, callbacks, epoch, batch_logs):
    impl = Hooks.epoch_impl or _ORIG_TRAIN_EPOCH
    t0 = time.perf_counter()
    out = impl(steps, plan, spec, callbacks, epoch, batch_logs)  # ends with a host read of the metric sums
    Hooks.epoch_seconds.append(time.perf_counter() - t0)
    if Hooks.capture_key:
        Hooks.captured[Hooks.capture_key] = (steps, plan, spec)
    return out


def _steps_factory(*args, **kwargs):
    return (Hooks.steps_class or _ORIG_STEPS)(*args, **kwargs)


def _timed_cached_logits(*args, **kwargs):
    t0 = time.perf_counter()
    out = _ORIG_CACHED_LOGITS(*args, **kwargs)
    Hooks.cache_seconds.append(time.perf_counter() - t0)
    return out


pykd.api.train_epoch = _timed_train_epoch
pykd.api.Steps = _steps_factory
pykd.api.cached_logits = _timed_cached_logits


# ---------------------------------------------------------------- candidate changes
def xla_train_step(steps: pykd.loop.Steps):
    """pykd's own _train_step compiled with XLA.

    ImageProjectiveTransformV3 (rotation/shift/zoom/shear) has no XLA kernel, so
    with an augmenter the step is split: augment in the graph, then one
    XLA-compiled function runs teacher, student, gradients and the update.
    """
    if steps.augmenter is None:
        return tf.function(steps._train_step, jit_compile=True, reduce_retracing=True)
    core = copy.copy(steps)  # shares the student, optimizer and metric variables
    core.augmenter = None
    compiled_core = tf.function(core._train_step, jit_compile=True, reduce_retracing=True)
    augmenter = steps.augmenter

    def step(rows, x):
        return compiled_core(rows, augmenter(x, training=True))

    return tf.function(step, reduce_retracing=True)


class XlaSteps(_ORIG_STEPS):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.train_step = xla_train_step(self)


def train_epoch_no_step_sync(steps, plan, spec, callbacks, epoch, batch_logs):
    """pykd.loop.train_epoch reading the per-step `finite` flags once, at the end of the epoch.

    A non-finite step already leaves the weights untouched (tf.cond), so the
    error can be raised after the epoch without training on bad weights.
    """
    from pykd.errors import NonFiniteLossError
    from pykd.images import batches_dataset

    steps.train_sums.assign(tf.zeros(6, tf.float64))
    flags = []
    for step, (rows, x) in enumerate(batches_dataset(plan.paths, plan.stream.take(plan.steps), spec)):
        callbacks.on_train_batch_begin(step)
        flags.append(steps.train_step(rows, x))
        callbacks.on_train_batch_end(step, pykd.loop.train_means(steps) if batch_logs else {})
    for step, ok in enumerate(flags):
        if not bool(ok):
            raise NonFiniteLossError(epoch + 1, step + 1)
    return pykd.loop.train_means(steps)


# ====================================================================== methods
class Method:
    key = ""
    label = ""
    what = ""
    augmented = False
    measured_epochs = 1
    kind = "method"  # "method" (in the main table) or "variant" (a candidate pykd change)

    def __init__(self, ctx):
        self.ctx = ctx
        self.per_round: list[float] = []  # images/s of the steady-state epochs, one value per round
        self.extra: dict[str, list] = {}

    def setup(self) -> None:
        pass

    def run_round(self, round_index: int) -> float:
        raise NotImplementedError

    def note(self, name, value) -> None:
        self.extra.setdefault(name, []).append(value)


class PykdDistill(Method):
    steps_class = None
    epoch_impl = None

    def __init__(self, ctx, key, label, what, augmented, measured_epochs, kind="method", steps_class=None, epoch_impl=None):
        super().__init__(ctx)
        self.key, self.label, self.what, self.augmented = key, label, what, augmented
        self.measured_epochs, self.kind = measured_epochs, kind
        self.steps_class, self.epoch_impl = steps_class, epoch_impl
        self.student = bm.clone(bm.student, ctx["student_weights"])
        self.teacher = bm.clone(bm.teacher, ctx["teacher_weights"])

    def run_round(self, round_index):
        ctx = self.ctx
        epochs = 1 + self.measured_epochs
        Hooks.epoch_seconds, Hooks.cache_seconds = [], []
        Hooks.steps_class, Hooks.epoch_impl, Hooks.capture_key = self.steps_class, self.epoch_impl, self.key
        t0 = time.perf_counter()
        try:
            history = pykd.distill(
                self.teacher, self.student, ctx["table"], directory=ctx["image_dir"],
                batch_size=bm.BATCH_SIZE, epochs=epochs, temperature=bm.TEMPERATURE, alpha=bm.ALPHA,
                augment=bm.AUGMENT if self.augmented else None, cache_teacher="auto",
                seed=round_index, verbose=0,
            )  # fmt: skip
        finally:
            Hooks.steps_class = Hooks.epoch_impl = Hooks.capture_key = None
        whole = time.perf_counter() - t0
        times = list(Hooks.epoch_seconds)
        assert len(times) == epochs, times
        assert bool(history.params.get("teacher_cache")) == (not self.augmented), history.params
        n = ctx["n"]
        self.note("first_epoch_seconds", times[0])
        self.note("whole_call_images_per_s", epochs * n / whole)
        if Hooks.cache_seconds:
            cache = sum(Hooks.cache_seconds)
            self.note("cache_pass_seconds", cache)
            self.note("cache_pass_images_per_s", n / cache)
            # The cache pass amortized over this run's epochs (tracing in epoch 1 included).
            self.note("with_cache_pass_images_per_s", epochs * n / (cache + sum(times)))
        self.note("run_epochs", epochs)
        return self.measured_epochs * n / sum(times[1:])


class KerasFit(Method):
    """A Keras model trained with fit(); its first fit() epoch (tracing) is a warm-up."""

    def __init__(self, ctx, key, label, what, augmented, build, measured_epochs=1):
        super().__init__(ctx)
        self.key, self.label, self.what, self.augmented = key, label, what, augmented
        self.build, self.measured_epochs = build, measured_epochs

    def setup(self):
        self.model, self.dataset = self.build(self.ctx)
        self.model.fit(self.dataset, epochs=1, verbose=0, shuffle=False)  # the dataset shuffles itself
        self.note("jit_compile", bool(self.model.jit_compile))

    def run_round(self, round_index):
        timer = bl.EpochTimer()
        self.model.fit(self.dataset, epochs=self.measured_epochs, verbose=0, shuffle=False, callbacks=[timer])
        return self.measured_epochs * self.ctx["n"] / sum(timer.seconds)


class Eager(Method):
    key, label, augmented = "e", "(e) seed-style eager loop", True
    what = "Python for-loop over the tf.data batches; augmenter, teacher and a GradientTape step called eagerly"

    def setup(self):
        ctx = self.ctx
        self.loop = bl.EagerLoop(
            bm.clone(bm.teacher, ctx["teacher_weights"]), bm.clone(bm.student, ctx["student_weights"]), ctx["augmenter"]()
        )
        self.dataset = bl.file_dataset(ctx["paths"], ctx["labels"], seed=5)
        self.loop.epoch(self.dataset.take(3))  # warm-up: first calls build the layers' kernels

    def run_round(self, round_index):
        t0 = time.perf_counter()
        self.loop.epoch(self.dataset)
        return self.ctx["n"] / (time.perf_counter() - t0)


def build_builtin(augmented):
    def build(ctx):
        model = bl.builtin_distiller(bm.clone(bm.teacher, ctx["teacher_weights"]), bm.clone(bm.student, ctx["student_weights"]))
        aug = ctx["augmenter"]() if augmented else None
        return model, bl.file_dataset(ctx["paths"], ctx["labels"], seed=1, augmenter=aug, augment_in_pipeline=True)

    return build


def build_keras_io(augmented):
    def build(ctx):
        aug = ctx["augmenter"]() if augmented else None
        model = bl.keras_io_distiller(bm.clone(bm.teacher, ctx["teacher_weights"]), bm.clone(bm.student, ctx["student_weights"]), aug)
        return model, bl.file_dataset(ctx["paths"], ctx["labels"], seed=2)

    return build


def build_plain(ctx):
    return bl.plain_student(bm.clone(bm.student, ctx["student_weights"])), bl.file_dataset(ctx["paths"], ctx["labels"], seed=3)


# ====================================================================== files vs memory
class FileVsMemory:
    """pykd's own train_epoch (files -> tf.data -> compiled step) against the same Steps fed preloaded tensors.

    Both loops call the same traced `Steps.train_step`, read its `finite` flag
    each step and make the same callback calls, so the difference is the cost of
    reading, decoding and batching the files.
    """

    def __init__(self, ctx, source_key):
        self.ctx, self.source_key = ctx, source_key
        self.files: list[float] = []
        self.memory: list[float] = []

    def _memory_epoch(self, steps, plan):
        images = self.ctx["all_images"]
        batches = [(tf.constant(rows, tf.int32), tf.gather(images, rows)) for rows in plan.stream.take(plan.steps)]
        callbacks = keras.callbacks.CallbackList([])
        t0 = time.perf_counter()
        steps.train_sums.assign(tf.zeros(6, tf.float64))
        for step, (rows, x) in enumerate(batches):
            callbacks.on_train_batch_begin(step)
            if not bool(steps.train_step(rows, x)):
                raise RuntimeError("non-finite step in the benchmark")
            callbacks.on_train_batch_end(step, {})
        pykd.loop.train_means(steps)
        return len(batches), time.perf_counter() - t0

    def run_round(self, round_index):
        steps, plan, spec = Hooks.captured[self.source_key]
        callbacks = keras.callbacks.CallbackList([])
        t0 = time.perf_counter()
        _ORIG_TRAIN_EPOCH(steps, plan, spec, callbacks, 0, False)
        files = time.perf_counter() - t0
        n_batches, memory = self._memory_epoch(steps, plan)
        assert n_batches == plan.steps
        self.files.append(files)
        self.memory.append(memory)

    def summary(self):
        costs = [f / m - 1 for f, m in zip(self.files, self.memory)]
        n = self.ctx["n"]
        return {
            "files_images_per_s": median([n / f for f in self.files]),
            "memory_images_per_s": median([n / m for m in self.memory]),
            "cost": median(costs),
            "cost_per_round": [round(c, 4) for c in costs],
        }


# ====================================================================== micro-benchmarks
class Micro:
    """In-memory batches, so only the compute differs: XLA and bfloat16 for the teacher and the train step."""

    def __init__(self, ctx, steps_per_sample=8):
        self.ctx = ctx
        self.n_steps = steps_per_sample
        self.results: dict[str, list[float]] = {}
        self.errors: dict[str, str] = {}
        self.cases: dict = {}

    def setup(self):
        ctx = self.ctx
        images = ctx["all_images"]
        rows = [np.arange(i * bm.BATCH_SIZE, (i + 1) * bm.BATCH_SIZE) % len(ctx["labels"]) for i in range(self.n_steps)]
        self.batches = [(tf.constant(r, tf.int32), tf.gather(images, r)) for r in rows]
        tw, sw = ctx["teacher_weights"], ctx["student_weights"]
        teacher32 = bm.clone(bm.teacher, tw)
        teacher16 = bm.clone(bm.teacher, tw, dtype="mixed_bfloat16")

        def forward(model):
            return lambda rows, x: model(x, training=False)

        cases = {
            "teacher_forward_fp32": tf.function(forward(teacher32)),
            "teacher_forward_fp32_xla": tf.function(forward(teacher32), jit_compile=True),
            "teacher_forward_bf16": tf.function(forward(teacher16)),
            "teacher_forward_bf16_xla": tf.function(forward(teacher16), jit_compile=True),
        }
        logits = np.zeros((len(ctx["labels"]), bm.N_CLASSES), np.float32)
        labels = np.asarray(ctx["labels"], np.int32)

        def steps(student, *, teacher_fn=None, augmenter=None):
            opt = keras.optimizers.Adam(1e-3)
            opt.build(student.trainable_variables)
            settings = pykd.loop.StepSettings(bm.TEMPERATURE, bm.ALPHA, False, True)
            return _ORIG_STEPS(
                student, opt, settings, train_labels=labels,
                cached_teacher_logits=None if teacher_fn else logits, teacher_logits_fn=teacher_fn, augmenter=augmenter,
            )  # fmt: skip

        def student32():
            return bm.clone(bm.student, sw)

        def student16():
            return bm.clone(bm.student, sw, dtype="mixed_bfloat16")

        def teacher_logits(model):
            return lambda x: model(x, training=False)

        cached = steps(student32())
        cases["step_cached_fp32"] = cached.train_step
        cases["step_cached_fp32_xla"] = xla_train_step(steps(student32()))
        cases["step_cached_bf16_student"] = steps(student16()).train_step
        aug = steps(student32(), teacher_fn=teacher_logits(bm.clone(bm.teacher, tw)), augmenter=ctx["augmenter"]())
        cases["step_augmented_fp32"] = aug.train_step
        cases["step_augmented_fp32_xla"] = xla_train_step(
            steps(student32(), teacher_fn=teacher_logits(bm.clone(bm.teacher, tw)), augmenter=ctx["augmenter"]())
        )
        cases["step_augmented_bf16_teacher"] = steps(
            student32(), teacher_fn=teacher_logits(bm.clone(bm.teacher, tw, dtype="mixed_bfloat16")), augmenter=ctx["augmenter"]()
        ).train_step
        cases["step_augmented_bf16_teacher_xla"] = xla_train_step(
            steps(student32(), teacher_fn=teacher_logits(bm.clone(bm.teacher, tw, dtype="mixed_bfloat16")), augmenter=ctx["augmenter"]())
        )
        for name, fn in cases.items():
            try:
                for rows, x in self.batches[:2]:
                    np.asarray(fn(rows, x))
                self.cases[name] = fn
            except Exception as err:  # e.g. an op without an XLA kernel
                self.errors[name] = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"

    def run_round(self, round_index):
        names = list(self.cases)
        names = names[round_index % len(names):] + names[: round_index % len(names)]
        for name in names:
            fn = self.cases[name]
            t0 = time.perf_counter()
            for rows, x in self.batches:
                out = fn(rows, x)
            np.asarray(out)
            self.results.setdefault(name, []).append(self.n_steps * bm.BATCH_SIZE / (time.perf_counter() - t0))

    def summary(self):
        out = {name: median(values) for name, values in self.results.items()}
        ratios = {}

        def ratio(a, b):
            if a in self.results and b in self.results:
                ratios[f"{a} / {b}"] = median([x / y for x, y in zip(self.results[a], self.results[b])])

        ratio("teacher_forward_fp32_xla", "teacher_forward_fp32")
        ratio("teacher_forward_bf16", "teacher_forward_fp32")
        ratio("teacher_forward_bf16_xla", "teacher_forward_fp32")
        ratio("step_cached_fp32_xla", "step_cached_fp32")
        ratio("step_cached_bf16_student", "step_cached_fp32")
        ratio("step_augmented_fp32_xla", "step_augmented_fp32")
        ratio("step_augmented_bf16_teacher", "step_augmented_fp32")
        ratio("step_augmented_bf16_teacher_xla", "step_augmented_fp32")
        return {"images_per_s": out, "ratios": ratios, "errors": self.errors}


# ====================================================================== subprocess probes
def memory_probe(ctx, rows: int, workdir: Path) -> dict:
    tables = {}
    for size in (rows, 8 * rows):
        directory = workdir / f"mem_{size}"
        table = bm.replicate(ctx["table"], Path(ctx["image_dir"]), directory, size)
        csv = workdir / f"mem_{size}.csv"
        table.to_csv(csv, index=False)
        tables[size] = (csv, directory)
    runs = {}
    for size, (csv, directory) in tables.items():
        out = subprocess.run(
            [sys.executable, str(HERE / "memory_probe.py"), str(csv), str(directory)],
            capture_output=True, text=True, env=dict(os.environ), check=False,
        )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"memory probe ({size} rows) failed:\n{out.stderr[-2000:]}")
        runs[size] = json.loads(out.stdout.strip().splitlines()[-1])
        log(f"  memory: {size} rows -> peak RSS {runs[size]['peak_rss_mb']} MB "
            f"(before distill {runs[size]['peak_rss_before_distill_mb']} MB, {runs[size]['seconds']} s)")  # fmt: skip
    small, big = runs[rows], runs[8 * rows]
    return {
        "rows": [rows, 8 * rows],
        "runs": [small, big],
        "ratio": big["peak_rss_mb"] / small["peak_rss_mb"],
        "growth_mb": big["peak_rss_mb"] - small["peak_rss_mb"],
        "distill_growth_ratio": (big["peak_rss_mb"] - big["peak_rss_before_distill_mb"])
        / max(small["peak_rss_mb"] - small["peak_rss_before_distill_mb"], 1e-9),
    }


ONEDNN_PROBE = r"""
import json, os, sys, time
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import numpy as np
import pykd, pykd.loop
from pykd._tf import keras, tf
import bench_models as bm
tw = bm.teacher().get_weights(); sw = bm.student().get_weights()
x = tf.random.uniform((bm.BATCH_SIZE,) + bm.IMAGE_SHAPE, 0, 255, seed=0)
rows = tf.range(bm.BATCH_SIZE)
labels = np.zeros(bm.BATCH_SIZE, np.int32)
def steps(student, teacher_fn=None, augmenter=None):
    opt = keras.optimizers.Adam(1e-3); opt.build(student.trainable_variables)
    s = pykd.loop.StepSettings(bm.TEMPERATURE, bm.ALPHA, False, True)
    return pykd.loop.Steps(student, opt, s, train_labels=labels, teacher_logits_fn=teacher_fn, augmenter=augmenter,
        cached_teacher_logits=None if teacher_fn else np.zeros((bm.BATCH_SIZE, bm.N_CLASSES), np.float32))
t32 = bm.clone(bm.teacher, tw); t16 = bm.clone(bm.teacher, tw, "mixed_bfloat16")
aug = pykd.images.build_augmenter(pykd.Augmentation(**bm.AUGMENT), 0)
cases = {
    "teacher_forward_fp32": tf.function(lambda r, x: t32(x, training=False)),
    "teacher_forward_fp32_xla": tf.function(lambda r, x: t32(x, training=False), jit_compile=True),
    "teacher_forward_bf16": tf.function(lambda r, x: t16(x, training=False)),
    "step_cached_fp32": steps(bm.clone(bm.student, sw)).train_step,
    "step_augmented_fp32": steps(bm.clone(bm.student, sw), lambda x: t32(x, training=False), aug).train_step,
}
out = {}
for name, fn in cases.items():
    fn(rows, x); np.asarray(fn(rows, x))
for name, fn in cases.items():
    t0 = time.perf_counter()
    for _ in range(int(sys.argv[3])):
        r = fn(rows, x)
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
                raise RuntimeError(f"oneDNN probe failed:\n{out.stderr[-2000:]}")
            results[flag].append(json.loads(out.stdout.strip().splitlines()[-1]))
    names = list(results["0"][0])
    table = {}
    for name in names:
        off = median([r[name] for r in results["0"]])
        on = median([r[name] for r in results["1"]])
        table[name] = {"onednn_off": off, "onednn_on": on, "on_over_off": on / off}
    return table


# ====================================================================== report
def fmt(value, digits=0):
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def per_round_ratio(a: Method, b_values: list[float]) -> float | None:
    pairs = [x / y for x, y in zip(a.per_round, b_values) if x and y]
    return median(pairs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of every method (default 5)")
    parser.add_argument("--images", type=int, default=1792, help="training images (default 1792 = 28 batches of 64)")
    parser.add_argument("--memory-rows", type=int, default=256, help="N for the memory probe (N and 8N rows)")
    parser.add_argument("--onednn-pairs", type=int, default=1, help="pairs of oneDNN off/on subprocess probes (0 = skip)")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-variants", action="store_true", help="skip the candidate-change rows and micro-benchmarks")
    parser.add_argument("--out", default=str(ROOT / "bench-output"))
    args = parser.parse_args()
    started = time.perf_counter()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    log(f"pykd benchmark: {args.images} images 64x64x3, batch {bm.BATCH_SIZE}, {args.rounds} rounds, "
        f"{os.cpu_count()} CPUs, TF {tf.__version__}, Keras {keras.__version__}, "
        f"TF_ENABLE_ONEDNN_OPTS={onednn_setting()}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="pykd-bench-") as tmp:
        work = Path(tmp)
        image_dir = work / "images"
        table = bm.write_images(image_dir, args.images, seed=0)
        keras.utils.set_random_seed(0)
        teacher0, student0 = bm.teacher(), bm.student()
        paths = [str(image_dir / i) for i in table["image_id"]]
        ctx = {
            "n": len(table),
            "table": table,
            "image_dir": str(image_dir),
            "paths": paths,
            "labels": table["label"].astype(int).tolist(),
            "teacher_weights": teacher0.get_weights(),
            "student_weights": student0.get_weights(),
            "augmenter": lambda: pykd.images.build_augmenter(pykd.Augmentation(**bm.AUGMENT), 0),
        }
        ctx["all_images"] = tf.stack([bm.decode(tf.constant(p)) for p in paths])
        log(f"  wrote {len(table)} JPEGs; teacher {teacher0.count_params():,} params, student {student0.count_params():,}")

        methods: list[Method] = [
            PykdDistill(ctx, "a", "(a) pykd.distill, augmented", "distill(augment=...): augmenter + teacher + student in one tf.function per step", True, 1),
            PykdDistill(ctx, "b", "(b) pykd.distill, teacher cache", "distill(augment=None, cache_teacher='auto'): teacher logits computed once, gathered per step", False, 3),
            KerasFit(ctx, "c", "(c) keras.distillation.Distiller", "built-in Distiller + LogitsDistillation(KLDivergence()) under fit(); augmentation in tf.data", True, build_builtin(True)),
            KerasFit(ctx, "d", "(d) keras.io Distiller", "keras.Model with custom train_step under fit(); augmentation inside the step", True, build_keras_io(True)),
            Eager(ctx),
            KerasFit(ctx, "f", "(f) student plain fit()", "the student alone, hard labels, fit() on the same pipeline (bound for (b))", False, build_plain, 3),
            KerasFit(ctx, "c0", "(c0) keras.distillation.Distiller, no aug", "(c) without augmentation", False, build_builtin(False)),
            KerasFit(ctx, "d0", "(d0) keras.io Distiller, no aug", "(d) without augmentation", False, build_keras_io(False)),
        ]
        if not args.skip_variants:
            methods += [
                PykdDistill(ctx, "a_xla", "(a) + XLA train step", "(a) with the step after augmentation under tf.function(jit_compile=True)", True, 1, "variant", steps_class=XlaSteps),
                PykdDistill(ctx, "b_xla", "(b) + XLA train step", "(b) with Steps.train_step under tf.function(jit_compile=True)", False, 3, "variant", steps_class=XlaSteps),
                PykdDistill(ctx, "b_nosync", "(b) + no per-step sync", "(b) with the finite flags read once per epoch instead of every step", False, 3, "variant", epoch_impl=train_epoch_no_step_sync),
                PykdDistill(ctx, "b_xla_nosync", "(b) + XLA + no per-step sync", "both changes", False, 3, "variant", steps_class=XlaSteps, epoch_impl=train_epoch_no_step_sync),
            ]
        t0 = time.perf_counter()
        for m in methods:
            m.setup()
        log(f"  set-up and warm-up of the Keras baselines: {time.perf_counter() - t0:.1f} s")
        io_b, io_a = FileVsMemory(ctx, "b"), FileVsMemory(ctx, "a")
        micro = None if args.skip_variants else Micro(ctx)
        if micro:
            t0 = time.perf_counter()
            micro.setup()
            log(f"  micro-benchmark set-up (tracing, XLA compiles): {time.perf_counter() - t0:.1f} s")

        for r in range(args.rounds):
            t_round = time.perf_counter()
            order = methods[r % len(methods):] + methods[: r % len(methods)]
            for m in order:
                m.per_round.append(m.run_round(r))
            io_b.run_round(r)
            io_a.run_round(r)
            if micro:
                micro.run_round(r)
            log(f"  round {r + 1}/{args.rounds} ({time.perf_counter() - t_round:.0f} s): "
                + ", ".join(f"{m.key} {m.per_round[-1]:.0f}" for m in methods) + " img/s")  # fmt: skip

        memory = None if args.skip_memory else memory_probe(ctx, args.memory_rows, work)
    onednn = onednn_probe(args.onednn_pairs, 8) if args.onednn_pairs > 0 else None

    # ------------------------------------------------------------ figures
    by = {m.key: m for m in methods}
    med = {k: median(m.per_round) for k, m in by.items()}
    best_keras = [max(c, d) for c, d in zip(by["c"].per_round, by["d"].per_round)]
    ratios = {
        "a / max(c, d)": per_round_ratio(by["a"], best_keras),
        "a / c": per_round_ratio(by["a"], by["c"].per_round),
        "a / d": per_round_ratio(by["a"], by["d"].per_round),
        "a / e": per_round_ratio(by["a"], by["e"].per_round),
        "b / c0": per_round_ratio(by["b"], by["c0"].per_round),
        "b / c": per_round_ratio(by["b"], by["c"].per_round),
        "b / d0": per_round_ratio(by["b"], by["d0"].per_round),
        "b / f": per_round_ratio(by["b"], by["f"].per_round),
        "b incl. cache pass / c0": median(
            [x / y for x, y in zip(by["b"].extra["with_cache_pass_images_per_s"], by["c0"].per_round)]
        ),
        "c / e": per_round_ratio(by["c"], by["e"].per_round),
        "f / c0": per_round_ratio(by["f"], by["c0"].per_round),
    }
    for key in ("a_xla",):
        if key in by:
            ratios[f"{key} / max(c, d)"] = per_round_ratio(by[key], best_keras)
            ratios[f"{key} / a"] = per_round_ratio(by[key], by["a"].per_round)
    for key in ("b_xla", "b_nosync", "b_xla_nosync"):
        if key in by:
            ratios[f"{key} / f"] = per_round_ratio(by[key], by["f"].per_round)
            ratios[f"{key} / b"] = per_round_ratio(by[key], by["b"].per_round)
    io = {"b": io_b.summary(), "a": io_a.summary()}

    def verdict(value, threshold, higher_is_better=True):
        if value is None:
            return "n/a"
        return "PASS" if (value >= threshold if higher_is_better else value <= threshold) else "FAIL"

    targets = [
        ("a_vs_best_keras", ratios["a / max(c, d)"], 1.1, True, "x"),
        ("a_vs_eager", ratios["a / e"], 2.0, True, "x"),
        ("b_vs_builtin", ratios["b / c0"], 3.0, True, "x"),
        ("b_vs_student_fit", ratios["b / f"], 0.8, True, "x"),
        ("file_cost", max(io["b"]["cost"], io["a"]["cost"]), 0.10, False, "%"),
        ("memory", None if memory is None else memory["ratio"] - 1, 0.20, False, "%"),
    ]
    target_rows = [
        {"target": key, "text": TARGETS_TEXT[key], "value": value, "threshold": thr, "unit": unit,
         "result": verdict(value, thr, hi)}
        for key, value, thr, hi, unit in targets
    ]  # fmt: skip

    results = {
        "command": "make bench  (= .venv/bin/python benchmarks/bench.py)",
        "config": {
            "images": ctx["n"], "image_shape": list(bm.IMAGE_SHAPE), "batch_size": bm.BATCH_SIZE,
            "rounds": args.rounds, "teacher_params": int(teacher0.count_params()),
            "student_params": int(student0.count_params()), "temperature": bm.TEMPERATURE, "alpha": bm.ALPHA,
            "augmentation": bm.AUGMENT, "cpus": os.cpu_count(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "keras": keras.__version__,
            "TF_ENABLE_ONEDNN_OPTS": onednn_setting(),
            "keras_jit_compile": {k: by[k].extra.get("jit_compile", [None])[0] for k in ("c", "d", "f", "c0", "d0")},
            "seconds": None,
        },  # fmt: skip
        "methods": {
            k: {"label": m.label, "what": m.what, "augmented": m.augmented, "kind": m.kind,
                "images_per_s": med[k], "per_round": m.per_round, "extra": m.extra}
            for k, m in by.items()
        },  # fmt: skip
        "ratios": ratios,
        "files_vs_memory": io,
        "micro": None if micro is None else micro.summary(),
        "onednn": onednn,
        "memory": memory,
        "targets": target_rows,
    }
    results["config"]["seconds"] = round(time.perf_counter() - started, 1)
    (out_dir / "bench.json").write_text(json.dumps(results, indent=2, default=float))
    md = markdown(results)
    (out_dir / "bench.md").write_text(md)
    log("")
    log(md)
    log(f"wrote {out_dir / 'bench.json'} and {out_dir / 'bench.md'} in {results['config']['seconds']:.0f} s")
    return 0


def markdown(res) -> str:
    cfg, methods, ratios = res["config"], res["methods"], res["ratios"]
    c0 = methods["c0"]["images_per_s"]
    f = methods["f"]["images_per_s"]
    lines = [
        f"Measured with `make bench` (`.venv/bin/python benchmarks/bench.py`): {cfg['images']} JPEG images "
        f"{cfg['image_shape'][0]}x{cfg['image_shape'][1]}x3, batch {cfg['batch_size']}, teacher "
        f"{cfg['teacher_params']:,} params, student {cfg['student_params']:,} params, {cfg['cpus']} CPUs, "
        f"TensorFlow {cfg['tensorflow']}, Keras {cfg['keras']}, TF_ENABLE_ONEDNN_OPTS={cfg['TF_ENABLE_ONEDNN_OPTS']}. "
        f"Medians over {cfg['rounds']} alternating rounds, steady-state epochs; ratios are medians of per-round ratios.",
        "",
        "| method | augmented | images/s | vs (c0) | vs (f) |",
        "|---|:-:|--:|--:|--:|",
    ]
    for key, m in methods.items():
        if m["kind"] != "method":
            continue
        v = m["images_per_s"]
        lines.append(f"| {m['label']} | {'yes' if m['augmented'] else 'no'} | {fmt(v)} | {fmt(v / c0, 2)}x | {fmt(v / f, 2)}x |")
    b = methods["b"]["extra"]
    lines.append(
        f"| (b) incl. its one-off cache pass, over the run's {b['run_epochs'][0]} epochs | no | "
        f"{fmt(median(b['with_cache_pass_images_per_s']))} | {fmt(median(b['with_cache_pass_images_per_s']) / c0, 2)}x | "
        f"{fmt(median(b['with_cache_pass_images_per_s']) / f, 2)}x |"
    )
    lines += [
        "",
        f"Teacher-cache pass: {fmt(median(b['cache_pass_seconds']), 2)} s for {cfg['images']} images "
        f"({fmt(median(b['cache_pass_images_per_s']))} img/s). Keras resolves jit_compile to "
        f"{res['config']['keras_jit_compile']['c']} for the baselines on a CPU-only machine.",
        "",
        "| target | measured | threshold | result |",
        "|---|--:|--:|:-:|",
    ]
    for t in res["targets"]:
        value = "n/a" if t["value"] is None else (f"{t['value']:.2f}x" if t["unit"] == "x" else f"{100 * t['value']:+.1f}%")
        thr = f"{t['threshold']}x" if t["unit"] == "x" else f"{100 * t['threshold']:.0f}%"
        lines.append(f"| {t['text']} | {value} | {thr} | **{t['result']}** |")
    lines += ["", "| ratio (median of per-round ratios) | value |", "|---|--:|"]
    lines += [f"| {k} | {fmt(v, 2)}x |" for k, v in ratios.items()]
    io = res["files_vs_memory"]
    lines += [
        "",
        "| pykd loop fed from files vs the same compiled step fed in-memory tensors | files img/s | memory img/s | cost of files |",
        "|---|--:|--:|--:|",
    ]
    for key, name in (("b", "(b) cached teacher"), ("a", "(a) augmented, teacher every step")):
        r = io[key]
        lines.append(f"| {name} | {fmt(r['files_images_per_s'])} | {fmt(r['memory_images_per_s'])} | {100 * r['cost']:+.1f}% |")
    variants = [(k, m) for k, m in methods.items() if m["kind"] == "variant"]
    if variants:
        lines += ["", "Candidate pykd changes (monkeypatched here, not shipped):", "",
                  "| variant | images/s | vs unpatched | vs (f) | vs max(c, d) |", "|---|--:|--:|--:|--:|"]  # fmt: skip
        for key, m in variants:
            base = "a" if key.startswith("a") else "b"
            vs_base = ratios.get(f"{key} / {base}")
            lines.append(
                f"| {m['label']} | {fmt(m['images_per_s'])} | {fmt(vs_base, 2)}x | "
                f"{fmt(ratios.get(f'{key} / f'), 2) + 'x' if f'{key} / f' in ratios else ''} | "
                f"{fmt(ratios.get(f'{key} / max(c, d)'), 2) + 'x' if f'{key} / max(c, d)' in ratios else ''} |"
            )
    micro = res.get("micro")
    if micro:
        lines += ["", "XLA and bfloat16 on this CPU (in-memory batches of 64):", "", "| case | images/s |", "|---|--:|"]
        lines += [f"| {k} | {fmt(v)} |" for k, v in micro["images_per_s"].items()]
        lines += [f"| {k} | {fmt(v, 2)}x |" for k, v in micro["ratios"].items()]
        lines += [f"| {k} | failed: {v} |" for k, v in micro["errors"].items()]
    if res.get("onednn"):
        lines += ["", "TensorFlow's oneDNN switch (fresh processes, in-memory batches):", "",
                  "| case | TF_ENABLE_ONEDNN_OPTS=0 | =1 | on/off |", "|---|--:|--:|--:|"]  # fmt: skip
        for k, v in res["onednn"].items():
            lines.append(f"| {k} | {fmt(v['onednn_off'])} | {fmt(v['onednn_on'])} | {fmt(v['on_over_off'], 2)}x |")
    mem = res.get("memory")
    if mem:
        s, b8 = mem["runs"]
        lines += [
            "",
            f"Memory: distill() in a fresh process, {mem['rows'][0]} rows -> peak RSS {s['peak_rss_mb']:.0f} MB; "
            f"{mem['rows'][1]} rows -> {b8['peak_rss_mb']:.0f} MB (x{mem['ratio']:.3f}, {mem['growth_mb']:+.0f} MB). "
            f"Before distill() (imports, models) {s['peak_rss_before_distill_mb']:.0f} / {b8['peak_rss_before_distill_mb']:.0f} MB.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
