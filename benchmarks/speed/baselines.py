"""The methods pykd is measured against, all on the same files, models and loss.

(c) Keras 3's built-in `keras.distillation.Distiller` under fit() (common.builtin_distiller)
(d) the keras.io example's `Distiller`: a keras.Model with its own train_step
(e) a seed-style eager loop: Python for-loop, GradientTape, no tf.function
(f) the student's own plain fit() on the hard labels (common.plain_student; the bound for a cached teacher)

Each is fed by one tf.data pipeline, built once (common.file_dataset): shuffle the (path,
label) rows every epoch, decode in parallel (the same ops as pykd), batch 64, prefetch,
with tf.data autotuning off as in pykd's own pipeline.
Augmentation, where a method gets it, is the augmenter pykd builds (pykd.data.augmentation.build_augmenter).
"""

from __future__ import annotations

import bench_models as bm
import common

from pykd._tf import keras, tf


def file_dataset(paths, labels, *, seed: int, augmenter=None) -> tf.data.Dataset:
    """common.file_dataset at this benchmark's batch size and image shape; `augmenter` runs in the pipeline."""
    return common.file_dataset(paths, labels, seed=seed, batch_size=bm.BATCH_SIZE, shape=bm.IMAGE_SHAPE,
                               augmenter=augmenter)  # fmt: skip


# ------------------------------------------------------------------ (d)
def keras_io_step(teacher, student, optimizer, augmenter, kl, ce, x, y):
    """The keras.io example's step, which (d) compiles and (e) runs eagerly: one view of the batch
    (when augmented), the teacher outside the tape, the student's update; (loss, student logits)."""
    if augmenter is not None:
        x = augmenter(x, training=True)
    teacher_logits = teacher(x, training=False)
    with tf.GradientTape() as tape:
        student_logits = student(x, training=True)
        loss = common.keras_io_loss(kl, ce, y, teacher_logits, student_logits)
    variables = student.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return loss, student_logits


class KerasIoDistiller(keras.Model):
    """The keras.io "Knowledge Distillation" example, in its train_step form.

    The teacher runs in inference mode outside the tape; the student's loss is
    alpha * CE(y, s) + (1 - alpha) * T^2 * KL(softmax(t/T) || softmax(s/T)).
    With an augmenter, one random view per batch is made inside the step and
    shown to both models (as pykd does).
    """

    def __init__(self, teacher, student, augmenter=None):
        super().__init__()
        self.teacher = teacher
        self.student = student
        self.augmenter = augmenter
        self.teacher.trainable = False
        self.student_loss_fn = common.sparse_ce()
        self.kl = keras.losses.KLDivergence()
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy]

    def call(self, x, training=False):
        return self.student(x, training=training)

    def train_step(self, data):
        x, y = data
        loss, student_logits = keras_io_step(self.teacher, self.student, self.optimizer, self.augmenter, self.kl,
                                             self.student_loss_fn, x, y)  # fmt: skip
        self.loss_tracker.update_state(loss)
        self.accuracy.update_state(y, student_logits)
        return {m.name: m.result() for m in self.metrics}


def keras_io_distiller(teacher, student, augmenter=None) -> keras.Model:
    model = KerasIoDistiller(teacher, student, augmenter)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


# ------------------------------------------------------------------ (e)
class EagerLoop:
    """The seed's loop: for each batch, augment, call the teacher, take a tape, step; all eager."""

    def __init__(self, teacher, student, augmenter=None):
        self.teacher, self.student, self.augmenter = teacher, student, augmenter
        self.optimizer = keras.optimizers.Adam(1e-3)
        self.ce = common.sparse_ce()
        self.kl = keras.losses.KLDivergence()

    def epoch(self, dataset) -> float:
        total, batches = 0.0, 0
        for x, y in dataset:
            loss, _ = keras_io_step(self.teacher, self.student, self.optimizer, self.augmenter, self.kl, self.ce, x, y)
            total += float(loss)  # the seed prints a running loss
            batches += 1
        return total / max(batches, 1)
