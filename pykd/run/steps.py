"""The train and test steps: one compiled `tf.function` each, run on every replica.

A train step takes the batch's view (keyed augmentation, mixing), the teacher's targets
(cached logits, the teacher run live, a hint's features), the exact loss and the update,
which a non-finite loss or gradient skips. Metrics are summed on the device in float64 and
weighted by rows, never by batches, so a short last batch counts for exactly the rows it holds.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .._tf import keras, tf
from ..data.images import FileImages, ImageSpec
from ..data.mixing import BatchMixing
from ..kd.hint import HintTerm
from ..kd.losses import as_logits, combine, label_ids_and_mask, row_terms
from . import metrics
from .replicas import ReplicatedStep, replica_pieces
from .workers import n_workers, worker_index


@dataclass(frozen=True, kw_only=True)
class StepSettings:
    """What the loss is: its temperature and alpha, and how the models' outputs are read."""

    temperature: float
    alpha: float
    student_probabilities: bool
    distilling: bool
    teacher_sees_original: bool = False  # teacher_view="clean": logits of the image before augmentation


@dataclass(frozen=True)
class Targets:
    """What teaches the student besides its labels (all None: the labels alone)."""

    cached_logits: np.ndarray | None = None  # the teacher's logits per training row, computed once
    teacher: Callable | None = None  # the teacher's logits of a batch, run in every step
    hint: HintTerm | None = None  # feature distillation: the teacher and student cut at their hint layers


@dataclass(frozen=True)
class Views:
    """How the step changes the training images: the keyed augmentation, then mixing within the batch."""

    augmenter: keras.Model | None = None
    mixing: BatchMixing | None = None  # mixup or cutmix: each image mixed with another of its batch


class _Terms(NamedTuple):
    """A batch's per-row terms: what the loss sums and the metrics count."""

    per_row: tf.Tensor
    hard: tf.Tensor
    soft: tf.Tensor
    correct: tf.Tensor
    hint: tf.Tensor | None


class _Batch(NamedTuple):
    """A train step's batch, however it came: the student's view and what each row answers to."""

    x: tf.Tensor  # model inputs (or a cached prefix's outputs), the view the student sees
    labels: tf.Tensor  # class ids (0 where there is no label)
    mask: tf.Tensor  # 1 where a row has a label
    teacher: tf.Tensor | None  # the teacher's logits
    teacher_feature: tf.Tensor | None  # its hint layer's output
    counted: tf.Tensor | None  # 0 for a stand-in row under a strategy (StepFunctions._never_empty)
    mixed: tuple | None  # (partner, weight) of a mixed batch
    weights: tf.Tensor | None  # each row's loss weight


class StepFunctions:
    """The train and test steps for one student, teacher and label set: compiled (one tf.function
    each), or the same Python code run op by op with run_eagerly."""

    def __init__(
        self,
        student: keras.Model,
        optimizer: keras.optimizers.Optimizer | None,
        settings: StepSettings,
        spec: ImageSpec,
        *,
        train_labels: np.ndarray | None = None,
        train_weights: np.ndarray | None = None,
        test_labels: np.ndarray | None = None,
        targets: Targets = Targets(),
        views: Views = Views(),
        strategy: tf.distribute.Strategy | None = None,
        run_eagerly: bool = False,
        forward: keras.Model | None = None,
        prefix=None,
    ):
        """forward: the part of the student after its frozen prefix, when batches hold the prefix's
        outputs (pykd.run.features) instead of pixels, or when `prefix` computes them in the step;
        it shares the student's weights. prefix: a features.LivePrefix, run outside the gradient tape."""
        self.spec = spec  # turns each batch's pixels into model inputs inside the step
        self.student = student
        self.forward = student if forward is None else forward
        self.prefix = prefix
        self.features = forward is not None and prefix is None
        self.optimizer = optimizer
        self.settings = settings
        self.targets = targets
        self.views = views
        self.hint = targets.hint
        self.train_labels = None if train_labels is None else tf.constant(train_labels, tf.int32)
        # Each row's loss weight (weight_col times class_weight), as Keras' sample_weight; None: all 1.
        self.train_weights = None if train_weights is None else tf.constant(train_weights, tf.float32)
        self.test_labels = None if test_labels is None else tf.constant(test_labels, tf.int32)
        self.cache = None if targets.cached_logits is None else tf.constant(targets.cached_logits, tf.float32)
        self.strategy = strategy
        with strategy.scope() if strategy else nullcontext():
            # Summed per replica, added up across replicas when read.
            sums = dict(trainable=False, synchronization=tf.VariableSynchronization.ON_READ,
                        aggregation=tf.VariableAggregation.SUM)
            self.train_sums = tf.Variable(tf.zeros(metrics.SLOTS, tf.float64), **sums)
            self.test_sums = tf.Variable(tf.zeros(metrics.SLOTS, tf.float64), **sums)
            # The step of the epoch whose loss was not finite (-1: none). Set on the device, so
            # the host reads it now and then instead of after every step; from that step on,
            # no step changes anything.
            self.stopped_at = tf.Variable(tf.constant(-1, tf.int64), trainable=False,
                                          aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        # TensorFlow counts traces per code object, so closures or bound methods of every
        # run would share one count and warn about "retracing" after a few runs: each run's
        # steps are callable objects of their own (ReplicatedStep). run_eagerly runs the very same
        # steps op by op, for prints and breakpoints.
        # Without autograph: the steps branch with tf.cond and Python values only, and tracing is a quarter faster.
        compile_step = (lambda f: f) if run_eagerly else (lambda f: tf.function(f, reduce_retracing=True, autograph=False))
        self.train_step = compile_step(ReplicatedStep(self._train_step, strategy))
        self.test_step = compile_step(ReplicatedStep(self._test_step, strategy))

    def feed(self, images: FileImages, batches):
        """(rows, images) per batch of row indices; under a strategy, each replica's part of each batch.

        Each worker's pipeline reads and decodes only its own replicas' rows: its
        input throughput adds up across machines instead of being thrown away.
        """
        if self.strategy is None:
            return images.batches(batches)

        def pipeline(context: tf.distribute.InputContext) -> tf.data.Dataset:
            return images.dataset(replica_pieces(batches, context.num_replicas_in_sync,
                                                 context.input_pipeline_id, context.num_input_pipelines))

        return self.strategy.distribute_datasets_from_function(pipeline)

    def local_rows(self, batch) -> int:
        """How many rows of a global batch this process reads (under several workers, its share)."""
        if self.strategy is None:
            return len(batch)
        pieces = replica_pieces([batch], self.strategy.num_replicas_in_sync, worker_index(self.strategy),
                                n_workers(self.strategy))
        return sum(len(piece) for piece in pieces)

    @property
    def trained_variables(self) -> list:
        """The student's trainable variables, and a hint's projection's."""
        hint = [] if self.hint is None else self.hint.projection.trainable_variables
        return [*self.student.trainable_variables, *hint]

    def _inputs(self, x):
        return x if self.features else self.spec.to_inputs(x)

    def _fixed(self, x):
        """The frozen prefix's outputs for model inputs x, when it runs apart: a constant to the tape."""
        return x if self.prefix is None else tf.stop_gradient(self.prefix.outputs(x))

    def _student_logits(self, x, training):
        return as_logits(self.forward(x, training=training), self.settings.student_probabilities)

    @staticmethod
    def _labels(table, rows):
        labels = tf.gather(table, rows)
        return tf.maximum(labels, 0), tf.cast(labels >= 0, tf.float32)

    def _train_step(self, rows, x, global_rows, draw, step):
        rows, x, counted = self._never_empty(rows, x)
        labels, mask = self._labels(self.train_labels, rows)
        if counted is not None:  # a stand-in row: no label, no teacher term, no hint, not counted
            mask = mask * counted
        original = self._inputs(x)
        x, mixed = self._view(original, rows, draw)
        teacher, teacher_feature = self._teacher_targets(rows, original if self.settings.teacher_sees_original else x)
        x = self._fixed(x)
        weights = None if self.train_weights is None else tf.gather(self.train_weights, rows)
        return self._learn(_Batch(x, labels, mask, teacher, teacher_feature, counted, mixed, weights), global_rows, step)

    def batch_train_step(self, x, y, sample_weight, step):
        """The train step on a batch that brings its own labels, as Keras' fit() hands one to train_step:
        y class ids (-1 or NaN: unlabeled) or one-hot rows (all zeros: unlabeled), or None (all unlabeled);
        sample_weight as fit()'s. The teacher runs live on the batch as given (the pipeline made the view)."""
        x = self._inputs(x)
        labels, mask = (tf.zeros(tf.shape(x)[:1], tf.int32), tf.zeros(tf.shape(x)[:1])) if y is None \
            else label_ids_and_mask(y)
        teacher, teacher_feature = self._teacher_targets(None, x)
        x = self._fixed(x)
        weights = None if sample_weight is None else tf.reshape(tf.cast(sample_weight, tf.float32), [-1])
        rows = tf.cast(tf.shape(x)[0], tf.float32)
        return self._learn(_Batch(x, labels, mask, teacher, teacher_feature, None, None, weights), rows, step)

    def _learn(self, batch: _Batch, global_rows, step):
        """What every train step does with its batch: the loss, its gradients and the update (or the skip)."""
        variables = self.trained_variables
        with tf.GradientTape() as tape:
            terms = self._terms(batch)
            # Divided by the rows of the whole (global) batch: replicas' gradients are summed.
            loss = tf.reduce_sum(terms.per_row) / global_rows
            # As compile() does: a LossScaleOptimizer scales the loss here and unscales the
            # gradients when it applies them; any other optimizer returns the loss unchanged.
            scaled = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, variables)
        return self._apply_or_skip(self._all_finite(loss, grads), step, grads, variables, terms, batch.mask,
                                   batch.counted)

    def _view(self, x, rows, draw):
        """(the student's view of the batch, (partner, weight) of a mixed batch or None)."""
        if self.views.augmenter is not None:  # a row's view depends on (seed, row, draw) alone
            x = self.views.augmenter(x, training=True, keys=(rows, draw))
        if self.views.mixing is None:
            return x, None
        x, partner, weight = self.views.mixing(x, rows, draw)
        return x, (partner, weight)

    def _terms(self, batch: _Batch) -> _Terms:
        """The student's forward pass on its view and each row's loss terms and correctness.

        batch.weights: each row's weight (weight_col times class_weight), which multiplies its loss as fit()'s
        sample_weight does; the student's own losses (regularizers) are not weighted, nor the other metrics.
        """
        s = self.settings
        x, labels, mask, teacher, teacher_feature, counted, mixed, weights = batch
        if self.hint is None:
            logits, hint = self._student_logits(x, training=True), None
            own = _own_loss(self.forward)
        else:
            student_feature, outputs = self.hint.student(x, training=True)
            logits = as_logits(outputs, s.student_probabilities)
            hint = self.hint.per_row(student_feature, teacher_feature)
            own = _own_loss(self.hint.student)
        hard, soft = row_terms(labels, mask, logits, teacher, s.temperature)
        if counted is not None:
            soft = soft * counted
            hint = None if hint is None else hint * counted
        correct = _correct(logits, labels, mask)
        if mixed is not None:
            hard, correct = _mixed(hard, correct, logits, labels, mask, *mixed)
        per_row = combine(hard, soft, s.alpha) if hint is None else combine(hard, soft, s.alpha) + hint
        if weights is not None:
            per_row = per_row * weights
        if own is not None:  # each row carries it, so the loss and its mean over any rows include it once
            per_row = per_row + own * (tf.ones_like(per_row) if counted is None else counted)
        return _Terms(per_row, hard, soft, correct, hint)

    def _all_finite(self, loss, grads):
        """Whether the loss and every gradient are finite, on every replica alike."""
        finite = tf.math.is_finite(loss)
        if not isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
            # (A LossScaleOptimizer skips steps with overflowing gradients itself and lowers its scale.)
            for g in grads:
                if g is not None:
                    finite = finite & tf.reduce_all(tf.math.is_finite(g))
        if self.strategy is not None:  # every replica must take the same branch
            context = tf.distribute.get_replica_context()
            failed = context.all_reduce(tf.distribute.ReduceOp.SUM, 1.0 - tf.cast(finite, tf.float32))
            finite = failed == 0
        return finite

    def _apply_or_skip(self, finite, step, grads, variables, terms: _Terms, mask, counted):
        """Apply the gradients and count the batch when the step is finite and no earlier one was not;
        else change nothing and record the first step that was not."""

        def apply(grads, per_row, hard, soft, correct, mask, hint, counted):
            self.optimizer.apply_gradients(zip(grads, variables))
            metrics.accumulate(self.train_sums, per_row, hard, soft, correct, mask, hint, counted)
            return tf.constant(True)

        tensors = (grads, terms.per_row, terms.hard, terms.soft, terms.correct, mask,
                   tf.zeros_like(terms.hard) if terms.hint is None else terms.hint,
                   tf.ones_like(terms.hard) if counted is None else counted)

        def skip(finite):
            # A non-finite step changes nothing (the student keeps its last good weights) and
            # stops every later one; the first such step is the one reported.
            first = tf.logical_and(tf.logical_not(finite), self.stopped_at < 0)
            self.stopped_at.assign(tf.where(first, tf.cast(step, tf.int64), self.stopped_at))
            return tf.constant(False)

        if self.strategy is None:
            ok = tf.logical_and(finite, self.stopped_at < 0)
            return tf.cond(ok, lambda: apply(*tensors), lambda: skip(finite))

        def cross_replica(distribution, finite, tensors):
            # As Keras' LossScaleOptimizer does: the cond must sit in cross-replica
            # context, because apply_gradients synchronises replicas (merge_call).
            finite = distribution.experimental_local_results(finite)[0]
            ok = tf.logical_and(finite, self.stopped_at < 0)

            def apply_everywhere():
                distribution.extended.call_for_each_replica(apply, args=tensors)
                return tf.constant(True)

            return tf.cond(ok, apply_everywhere, lambda: skip(finite))

        tf.distribute.get_replica_context().merge_call(cross_replica, args=(finite, tensors))
        return finite

    def _teacher_targets(self, rows, x):
        """(the teacher's logits or None, its hint layer's output or None) for a batch, as constants."""
        if self.hint is not None:
            feature, logits = self.hint.teacher_outputs(x)
            return tf.stop_gradient(logits), tf.stop_gradient(feature)
        if not self.settings.distilling:
            return None, None
        logits = tf.gather(self.cache, rows) if self.cache is not None else self.targets.teacher(x)
        return tf.stop_gradient(logits), None

    def _test_step(self, rows, x):
        rows, x, counted = self._never_empty(rows, x)
        labels, mask = self._labels(self.test_labels, rows)
        if counted is not None:
            mask = mask * counted
        self._score(self._fixed(self._inputs(x)), labels, mask, counted)

    def batch_test_step(self, x, y):
        """The test step on a batch that brings its own labels (as batch_train_step takes them)."""
        self._score(self._fixed(self._inputs(x)), *label_ids_and_mask(y))

    def _score(self, x, labels, mask, counted=None):
        logits = self._student_logits(x, training=False)
        hard, _ = row_terms(labels, mask, logits, None, 1.0)
        metrics.accumulate(self.test_sums, hard, hard, tf.zeros_like(hard), _correct(logits, labels, mask), mask,
                           counted=counted)

    def _never_empty(self, rows, x):
        """(rows, x, counted): under a strategy, a replica's piece of a batch, given one stand-in row
        (counted 0, every real row 1) when it has none; counted is None without a strategy, where
        no batch is empty.

        A batch with fewer rows than replicas leaves some replicas no rows, and TensorFlow 2.21's
        oneDNN convolution gives an empty batch its input's shape (seen on CPUs with AVX-512),
        which breaks the next layer: so no model sees an empty batch. The stand-in (zero pixels,
        row 0's label and teacher logits) adds nothing to the loss, the gradients or the metrics;
        only a BatchNormalization layer in training mode takes it into its moving statistics.
        """
        if self.strategy is None:
            return rows, x, None
        n = tf.shape(x)[0]
        x = tf.cond(n > 0, lambda: x, lambda: tf.zeros(tf.concat([[1], tf.shape(x)[1:]], 0), x.dtype))
        rows = tf.cond(n > 0, lambda: rows, lambda: tf.zeros([1], rows.dtype))
        return rows, x, tf.cast(tf.range(tf.shape(x)[0]) < n, tf.float32)


def _own_loss(model):
    """The losses of the model just called (weight regularizers, add_loss), summed, or None: fit() adds
    them to the loss. (The model called is the student, or the part of it after a cached prefix.)"""
    losses = model.losses
    return tf.add_n([tf.cast(loss, tf.float32) for loss in losses]) if losses else None


def _correct(logits, labels, mask):
    """1 where a labeled row's top class is its label, else 0."""
    return tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels), tf.float32) * mask


def _mixed(hard, correct, logits, labels, mask, partner, weight):
    """The hard term and correctness of mixed images: each answers to both its labels, as weighted."""
    partner_labels, partner_mask = tf.gather(labels, partner), tf.gather(mask, partner)
    partner_hard, _ = row_terms(partner_labels, partner_mask, logits, None, 1.0)
    partner_correct = _correct(logits, partner_labels, partner_mask)
    return weight * hard + (1.0 - weight) * partner_hard, weight * correct + (1.0 - weight) * partner_correct
