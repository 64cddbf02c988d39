"""Candidate pykd changes, measured next to pykd as it ships.

Nothing here is used by pykd itself; each function is the smallest version of a
change the benchmark report suggests, written so it can be lifted into pykd. A
candidate is applied through pykd's public hook, never by patching a pykd module: a
callback with a `set_run(run)` method is handed the built run before the first step
(pykd.run.trainer.Trainer._callbacks), and the candidate changes that run alone
(methods.PykdRun(change=...)). A candidate that no longer fits pykd fails at set-up
and its row says why (replays.PykdVariant); pykd is not affected.

Adopted since, and so no longer here: one fused affine augmentation
(pykd.data.augmentation.RandomAffine), a bfloat16 teacher (distill(teacher_precision="auto")),
tf.data autotuning off for the per-epoch pipeline (pykd.data.images.batches_dataset),
the decoded-image cache (distill(cache_images="auto"), pykd.data.image_cache), and no
host sync per step (pykd.run.epochs.train_epoch looks for a non-finite step every
CHECK_STEPS steps and at the end of the epoch).
"""

from __future__ import annotations

import copy
import dataclasses

from pykd._tf import tf


# ---------------------------------------------------------------- XLA
def xla_train_step(run) -> None:
    """The run's train step compiled with XLA: `run.step_functions._train_step` (the step's
    Python function) under tf.function(jit_compile=True), in place of the run's own step.

    ImageProjectiveTransformV3 (rotation / shift / zoom / shear) has no XLA kernel, so with
    an augmenter the step is split: augment in the ordinary graph, then one XLA-compiled
    function runs teacher, student, gradients and the update on the augmented batch.
    """
    functions = run.step_functions
    if functions.strategy is not None:
        raise ValueError("the XLA candidate compiles the step of one device; this run has a strategy")
    functions.train_step = _xla_step(functions)


def _xla_step(functions):
    augmenter = functions.views.augmenter
    if augmenter is None:
        return tf.function(functions._train_step, jit_compile=True, reduce_retracing=True)
    if functions.settings.teacher_sees_original:
        raise ValueError("the split XLA step gives the teacher the augmented view; this run's teacher sees the original")
    core = copy.copy(functions)  # shares the student, optimizer and metric variables
    core.views = dataclasses.replace(functions.views, augmenter=None)
    core.spec = dataclasses.replace(functions.spec, rescale=None)  # its inputs arrive prepared
    compiled_core = tf.function(core._train_step, jit_compile=True, reduce_retracing=True)
    to_inputs = functions.spec.to_inputs

    def step(rows, x, global_rows, draw, step):
        # As the step itself does: each row's view keyed by (row, draw).
        view = augmenter(to_inputs(x), training=True, keys=(rows, draw))
        return compiled_core(rows, view, global_rows, draw, step)

    return tf.function(step, reduce_retracing=True)
