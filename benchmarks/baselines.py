"""The methods pykd is measured against, all on the same files, models and loss.

(c) Keras 3's built-in `keras.distillation.Distiller` under fit()
(d) the keras.io example's `Distiller`: a keras.Model with its own train_step
(e) a seed-style eager loop: Python for-loop, GradientTape, no tf.function
(f) the student's own plain fit() on the hard labels (the bound for a cached teacher)

Each is fed by one tf.data pipeline, built once: shuffle the (path, label) rows
every epoch, decode in parallel (the same ops as pykd), batch 64, prefetch, with
tf.data autotuning off as in pykd's own pipeline.
Augmentation, where a method gets it, is the augmenter pykd builds (pykd.images.build_augmenter).
"""

from __future__ import annotations

import time

import bench_models as bm

from pykd._tf import keras, tf


def file_dataset(paths, labels, *, seed: int, augmenter=None, augment_in_pipeline: bool = False,
                 batch_size: int = bm.BATCH_SIZE, shape=bm.IMAGE_SHAPE) -> tf.data.Dataset:
    rows = tf.data.Dataset.from_tensor_slices((list(paths), list(labels)))
    ds = (
        rows.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
        .map(lambda p, y: (bm.decode(p, shape), tf.cast(y, tf.int32)), num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size)
    )
    if augment_in_pipeline and augmenter is not None:
        # The built-in Distiller feeds the same x to teacher and student, so the
        # view must be made before the step: in the pipeline, once per batch.
        ds = ds.map(lambda x, y: (augmenter(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    # pykd's own pipeline runs with autotuning off (pykd.images.batches_dataset); so does this
    # one. With it on, an epoch's iterator is torn down only when tf.data's autotune thread
    # next wakes (10 ms x (2^k - 1) after the start), so fit() epochs end at 0.64 / 1.28 /
    # 2.56 s by chance: (c0) measured ~700 or ~1,300 img/s from round to round.
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)


class EpochTimer(keras.callbacks.Callback):
    """Seconds per epoch, from on_epoch_begin to on_epoch_end (after the epoch's metrics sync)."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self._t0 = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._t0)


def _sparse_ce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


# ------------------------------------------------------------------ (c)
def builtin_distiller(teacher, student, optimizer=None) -> keras.Model:
    """keras.distillation.Distiller computing alpha*CE + (1-alpha)*T^2*KL(softmax(t/T) || softmax(s/T)).

    LogitsDistillation's default loss="kl_divergence" resolves to the plain
    function keras.losses.kl_divergence, which LogitsDistillation then applies to
    the scaled logits themselves (no softmax, no T^2). Passing a
    keras.losses.KLDivergence() instance takes its other branch: softmax over
    axis -1 on both sides, KL summed over classes, mean over rows, times T^2.
    optimizer: by default Adam(1e-3), as pykd's default.
    """
    distiller = keras.distillation.Distiller(
        teacher=teacher,
        student=student,
        distillation_losses=keras.distillation.LogitsDistillation(
            temperature=bm.TEMPERATURE, loss=keras.losses.KLDivergence()
        ),
        student_loss_weight=bm.ALPHA,
    )
    distiller.compile(optimizer=optimizer or keras.optimizers.Adam(1e-3), loss=_sparse_ce(), metrics=["accuracy"])
    return distiller


def keras_io_loss(kl, ce, y, teacher_logits, student_logits):
    """The keras.io example's loss: alpha * CE(y, s) + (1 - alpha) * T^2 * KL(softmax(t/T) || softmax(s/T))."""
    t = bm.TEMPERATURE
    hard = ce(y, student_logits)
    soft = kl(tf.nn.softmax(teacher_logits / t, axis=-1), tf.nn.softmax(student_logits / t, axis=-1))
    return bm.ALPHA * hard + (1 - bm.ALPHA) * t * t * soft


# ------------------------------------------------------------------ (d)
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
        self.student_loss_fn = _sparse_ce()
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
        if self.augmenter is not None:
            x = self.augmenter(x, training=True)
        teacher_logits = self.teacher(x, training=False)
        with tf.GradientTape() as tape:
            student_logits = self.student(x, training=True)
            loss = keras_io_loss(self.kl, self.student_loss_fn, y, teacher_logits, student_logits)
        variables = self.student.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
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
        self.ce = _sparse_ce()
        self.kl = keras.losses.KLDivergence()

    def epoch(self, dataset) -> float:
        total, batches = 0.0, 0
        for x, y in dataset:
            if self.augmenter is not None:
                x = self.augmenter(x, training=True)
            teacher_logits = self.teacher(x, training=False)
            with tf.GradientTape() as tape:
                student_logits = self.student(x, training=True)
                loss = keras_io_loss(self.kl, self.ce, y, teacher_logits, student_logits)
            variables = self.student.trainable_variables
            self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            total += float(loss)  # the seed prints a running loss
            batches += 1
        return total / max(batches, 1)


# ------------------------------------------------------------------ (f)
def plain_student(student) -> keras.Model:
    student.compile(optimizer=keras.optimizers.Adam(1e-3), loss=_sparse_ce(), metrics=["accuracy"])
    return student


# ------------------------------------------------------------------ the losses agree
def loss_agreement(teacher, student, x, y) -> dict:
    """On one batch: pykd's loss, (c)'s and (d)/(e)'s, so every method optimizes the same objective."""
    import pykd

    t_logits, s_logits = teacher(x, training=False), student(x, training=False)
    reference = float(pykd.distillation_loss(y, s_logits, t_logits, temperature=bm.TEMPERATURE, alpha=bm.ALPHA))
    builtin = builtin_distiller(teacher, student)
    ours = keras_io_loss(keras.losses.KLDivergence(), _sparse_ce(), y, t_logits, s_logits)
    return {
        "pykd": reference,
        "builtin_distiller": float(builtin.compute_loss(x=x, y=y, y_pred=s_logits, training=False)),
        "keras_io": float(ours),
    }
