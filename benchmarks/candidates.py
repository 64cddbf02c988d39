"""Candidate pykd changes, applied by monkeypatching so they can be measured next to pykd as it ships.

Nothing here is used by pykd itself; each function is the smallest version of a
change the benchmark report suggests, written so it can be lifted into pykd.
Adopted since, and so no longer here: one fused affine augmentation
(pykd.images.RandomAffine), a bfloat16 teacher (distill(teacher_precision=...)),
and tf.data autotuning off for the per-epoch pipeline (pykd.images.batches_dataset).
"""

from __future__ import annotations

import copy

from pykd._tf import keras, tf


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
    compiled_core = tf.function(core._train_step, jit_compile=True, reduce_retracing=True)
    augmenter = steps.augmenter

    def step(rows, x, *rest):
        return compiled_core(rows, augmenter(x, training=True), *rest)

    return tf.function(step, reduce_retracing=True)


def xla_steps_class(base):
    class XlaSteps(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.train_step = xla_train_step(self)

    return XlaSteps


# ---------------------------------------------------------------- bfloat16 teacher
def bfloat16_copy(model: keras.Model) -> keras.Model:
    """An inference copy of `model` computing in bfloat16: pykd's own teacher_precision="bfloat16" twin."""
    from pykd.teacher import _bfloat16_twin

    return _bfloat16_twin(model)


# ---------------------------------------------------------------- decoded-image cache on disk
class DecodedImageCache:
    """Each image decoded once into one flat uint8 file (rows x height x width x channels) on disk.

    Later epochs read a batch's rows with os.preadv into one small buffer: no
    JPEG decode, no resize, no per-image tf.data element. Nothing is mapped, so
    the file's pages live in the OS page cache, not in the process's RSS; the
    process holds one batch at a time. The teacher-cache pass already decodes
    every image once, so pykd could write this file during that pass.
    Stored as uint8, which is exact when the files already have the model's
    size (resize is then the identity) and rounds resized pixels to integers.
    """

    def __init__(self, paths, spec, path, batch_size=64):
        import dataclasses

        import numpy as np

        from pykd.images import batches_dataset

        self.path = str(path)
        self.item = spec.height * spec.width * spec.channels
        rows = np.arange(len(paths))
        pixels = dataclasses.replace(spec, rescale=None)  # store 0..255; rescale on the way out
        with open(self.path, "wb") as out:
            for _, x in batches_dataset(paths, [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)], pixels):
                out.write(np.clip(np.rint(x.numpy()), 0, 255).astype(np.uint8).tobytes())

    def batches_dataset(self, paths, batches, spec, prefetch=2):
        """Drop-in for pykd.images.batches_dataset (same (rows, images) batches, in order).

        A background thread reads up to `prefetch` batches ahead of the training step.
        """
        import os
        import queue
        import threading

        import numpy as np

        shape = (spec.height, spec.width, spec.channels)
        ready: queue.Queue = queue.Queue(maxsize=prefetch)
        stop = threading.Event()

        def read():
            fd = os.open(self.path, os.O_RDONLY)
            try:
                for rows in batches:
                    buffer = np.empty((len(rows),) + shape, np.uint8)
                    flat = buffer.reshape(len(rows), -1)
                    for i, row in enumerate(rows):
                        os.preadv(fd, [flat[i]], int(row) * self.item)
                    images = tf.cast(tf.constant(buffer), tf.float32)
                    if spec.rescale is not None:
                        images = images * spec.rescale
                    item = (tf.constant(np.asarray(rows, np.int32)), images)
                    while not stop.is_set():
                        try:
                            ready.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
            except BaseException as err:  # handed to the consumer
                ready.put(err)
                return
            finally:
                os.close(fd)
            ready.put(None)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            while (item := ready.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            reader.join()

