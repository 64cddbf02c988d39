"""Candidate pykd changes, applied by monkeypatching so they can be measured next to pykd as it ships.

Nothing here is used by pykd itself; each function is the smallest version of a
change the benchmark report suggests, written so it can be lifted into pykd.
Adopted since, and so no longer here: one fused affine augmentation
(pykd.images.RandomAffine), a bfloat16 teacher (distill(teacher_precision="auto")),
tf.data autotuning off for the per-epoch pipeline (pykd.images.batches_dataset),
and the decoded-image cache (distill(cache_images="auto"), pykd.image_cache).
"""

from __future__ import annotations

import copy
import dataclasses

from pykd._tf import tf


# ---------------------------------------------------------------- XLA
def xla_train_step(steps):
    """pykd's own `Steps._train_step` compiled with XLA (tf.function(jit_compile=True)).

    ImageProjectiveTransformV3 (rotation / shift / zoom / shear) has no XLA
    kernel, so with an augmenter the step is split: augment in the ordinary
    graph, then one XLA-compiled function runs teacher, student, gradients and
    the update. Extra step arguments (e.g. global_rows) are passed through.
    """
    if steps.augmenter is None:
        return tf.function(steps._train_step, jit_compile=True, reduce_retracing=True)
    core = copy.copy(steps)  # shares the student, optimizer and metric variables
    core.augmenter = None
    core.spec = dataclasses.replace(steps.spec, rescale=None)  # its inputs arrive prepared
    compiled_core = tf.function(core._train_step, jit_compile=True, reduce_retracing=True)
    augmenter, to_inputs = steps.augmenter, steps.spec.to_inputs

    def step(rows, x, *rest):
        return compiled_core(rows, augmenter(to_inputs(x), training=True), *rest)

    return tf.function(step, reduce_retracing=True)


def xla_steps_class(base):
    class XlaSteps(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.train_step = xla_train_step(self)

    return XlaSteps
