"""Where pykd's augmented step spends its time, for tutorial.py (issue 35).

Called at the end of an augmented distill() run, with the run pykd hands a `set_run` callback
(still open: its decoded-image cache readable), it times each part of the train step alone on
one batch of 32, each part its own tf.function (traced by one unmeasured call, then timed
`reps` times with the result read back, the median kept):

  input       reading the batch the way the run reads it (the decoded-image cache); for
              reference, decoding the JPEG files (what cache_images=False would pay)
  augment     pixels to model inputs and the run's augmenter (one fused affine resampling);
              for reference, the Keras Random* chain the Keras methods run in tf.data
  teacher     the teacher's forward pass, in the run's teacher precision
  prefix      the student's frozen prefix, outside the tape, in its frozen precision
  head        the rest of the student forward, the loss, backward and Adam's update
              (pykd's own StepFunctions._learn on the prefix's outputs)
  step        the whole compiled train step (everything but the input), on the same batch

The parts alone do not add up to the step exactly: inside one step TensorFlow may run the
teacher and the prefix side by side on the two cores.
"""

from __future__ import annotations

import time

import common
import numpy as np

from pykd._tf import tf
from pykd.data.images import FileImages
from pykd.run.steps import _Batch

INPUT_JPEG = "input: decoding the batch's JPEG files (reference: cache_images=False)"
AUG_KERAS = "augment: the Keras Random* chain (reference: what the Keras methods run in tf.data)"
ROWS = [
    ("input", "input: reading the batch as the run does (decoded-image cache)"),
    ("augment", "augment: to model inputs + pykd's fused affine augmenter"),
    ("teacher", "teacher forward (EfficientNet-B0, inference)"),
    ("prefix", "student frozen prefix (EfficientNet-B0 base + pooling, inference, outside the tape)"),
    ("head", "student head forward + loss + backward + Adam update"),
]


def _read(out) -> None:
    """Wait for a result: read every tensor in it back to the host."""
    for t in tf.nest.flatten(out):
        if hasattr(t, "numpy"):
            t.numpy()


def _timed(fn, args, reps: int) -> float:
    """Median milliseconds of fn(*args) over `reps` calls after one unmeasured call (the trace)."""
    _read(fn(*args))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        _read(fn(*args))
        times.append(1000 * (time.perf_counter() - t0))
    return float(np.median(times))


def _input_ms(images, batches, reps: int) -> float:
    """Milliseconds per batch of an input-only pass over `batches` (the first batch, the pipeline's start-up, included)."""
    times = []
    for _ in range(max(1, reps // 2)):
        t0 = time.perf_counter()
        for _, x in images.batches(batches):
            _read(x)
        times.append(1000 * (time.perf_counter() - t0) / len(batches))
    return float(np.median(times))


def _parts(run, keras_chain, paths, reps: int) -> dict:
    sf, source = run.step_functions, run.train
    drawn = source.stream.take_drawn(source.steps)
    batches = [b for b, _ in drawn]
    (batch, draw) = drawn[0]
    rows, x = next(iter(source.images.batches([batch])))
    draw_t, step_t, n_t = tf.constant(draw, tf.int64), tf.constant(0, tf.int64), tf.constant(len(batch), tf.float32)
    labels, mask = sf._labels(sf.train_labels, rows)

    augment = tf.function(lambda x, rows, draw: sf.views.augmenter(sf.spec.to_inputs(x), training=True,
                                                                   keys=(rows, draw)))  # fmt: skip
    view = augment(x, rows, draw_t)
    teacher = tf.function(lambda v: sf.targets.teacher(v))
    prefix = tf.function(lambda v: sf.prefix.outputs(v))
    logits, features = teacher(view), prefix(view)
    head = tf.function(lambda f, t: sf._learn(_Batch(f, labels, mask, t, None, None, None, None), n_t, step_t))
    chain = tf.function(lambda v: keras_chain(v, training=True))
    ms = {
        "input": _input_ms(source.images, batches, reps),
        "input_jpeg": _input_ms(FileImages(paths, sf.spec), batches, reps),
        "augment": _timed(augment, (x, rows, draw_t), reps),
        "augment_keras": _timed(chain, (sf.spec.to_inputs(x),), reps),
        "teacher": _timed(teacher, (view,), reps),
        "prefix": _timed(prefix, (view,), reps),
        "head": _timed(head, (features, logits), reps),
        "step": _timed(sf.train_step, (rows, x, n_t, draw_t, step_t), reps),
    }
    return ms


def profile(run, epoch_seconds: list[float], keras_chain, paths, reps: int) -> dict | None:
    """The profile of an augmented distill() run, called before the run closes (on_train_end), or None
    when its step has no live frozen prefix."""
    if run.step_functions.prefix is None:
        common.log("  profile: the augmented run has no live frozen prefix to profile")
        return None
    ms = _parts(run, keras_chain, paths, reps)
    in_epoch = common.median([s / run.train.steps for s in epoch_seconds[1:]])
    out = {"ms_per_batch": ms, "batch_size": int(run.plan.settings.batch_size), "reps": reps,
           "epoch_step_ms": None if in_epoch is None else 1000 * in_epoch,
           "sum_of_parts_ms": sum(ms[k] for k, _ in ROWS),
           "teacher_precision": getattr(run.plan.teacher, "precision", None),
           "prefix_precision": run.step_functions.prefix.runner.precision,
           "prefix_ends_at": run.step_functions.prefix.split.ends_at}  # fmt: skip
    common.log("  profile, ms per batch: " + ", ".join(f"{k} {v:.0f}" for k, v in ms.items())
               + f"; an epoch-2 step {common.fmt(out['epoch_step_ms'])} ms")  # fmt: skip
    return out


def markdown(p: dict) -> str:
    ms, step = p["ms_per_batch"], p["epoch_step_ms"]

    def share(v):
        return "" if not step else f"{100 * v / step:.0f}%"

    lines = [f"### Where pykd's augmented step spends its time (batch {p['batch_size']})", "",
             "Each part timed alone on one batch, in its own tf.function (median of "
             f"{p['reps']} calls after the trace); shares are of an epoch-2 step of the measured run "
             f"({common.fmt(step)} ms: epoch seconds / steps). Teacher in {p['teacher_precision']}, frozen prefix "
             f"(to `{p['prefix_ends_at']}`) in {p['prefix_precision']}.", "",
             "| part | ms per batch | share of an epoch-2 step |", "|---|--:|--:|"]  # fmt: skip
    for key, label in ROWS:
        lines.append(f"| {label} | {ms[key]:.0f} | {share(ms[key])} |")
    lines += [f"| sum of the parts | {p['sum_of_parts_ms']:.0f} | {share(p['sum_of_parts_ms'])} |",
              f"| the compiled train step alone (all but the input) | {ms['step']:.0f} | {share(ms['step'])} |",
              f"| {INPUT_JPEG} | {ms['input_jpeg']:.0f} | |",
              f"| {AUG_KERAS} | {ms['augment_keras']:.0f} | |"]  # fmt: skip
    return "\n".join(lines)
