"""The training loop: compiled train/test steps, row-weighted metrics, callbacks.

One compiled `tf.function` per step kind. Metrics are summed on the device in
float64 and weighted by rows, never by batches, so a short last batch counts
for exactly the rows it holds. Standard Keras callbacks receive the student as
their model, so EarlyStopping, ModelCheckpoint, CSVLogger and TerminateOnNaN work.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np

from ._tf import keras, tf
from .errors import NonFiniteLossError
from .hint import HintTerm
from .images import BatchMixing, FileImages, ImageSpec
from .losses import as_logits, combine, row_terms
from .stream import BatchStream
from .workers import n_workers, worker_index

# Slots of the on-device accumulators.
_LOSS, _HARD, _SOFT, _CORRECT, _ROWS, _LABELED, _HINT = range(7)
_SLOTS = 7


@dataclass
class StepSettings:
    temperature: float
    alpha: float
    student_probabilities: bool
    distilling: bool
    teacher_sees_original: bool = False  # teacher_view="clean": logits of the image before augmentation


class Steps:
    """The compiled train and test steps for one student, teacher and label set."""

    def __init__(
        self,
        student: keras.Model,
        optimizer: keras.optimizers.Optimizer,
        settings: StepSettings,
        spec: ImageSpec,
        *,
        train_labels: np.ndarray | None = None,
        test_labels: np.ndarray | None = None,
        teacher_logits_fn: Callable | None = None,
        cached_teacher_logits: np.ndarray | None = None,
        augmenter: keras.Model | None = None,
        mixing: BatchMixing | None = None,
        hint: HintTerm | None = None,
        strategy: tf.distribute.Strategy | None = None,
        run_eagerly: bool = False,
        forward: keras.Model | None = None,
    ):
        """forward: the part of the student after its frozen prefix, when batches hold the prefix's
        outputs (pykd.features) instead of pixels; it shares the student's weights."""
        self.spec = spec  # turns each batch's pixels into model inputs inside the step
        self.student = student
        self.forward = student if forward is None else forward
        self.features = forward is not None
        self.optimizer = optimizer
        self.settings = settings
        self.augmenter = augmenter
        self.mixing = mixing  # mixup or cutmix: each image mixed with another of its batch
        self.hint = hint  # feature distillation: the teacher and student cut at their hint layers
        self.teacher_logits_fn = teacher_logits_fn
        self.train_labels = None if train_labels is None else tf.constant(train_labels, tf.int32)
        self.test_labels = None if test_labels is None else tf.constant(test_labels, tf.int32)
        self.cache = None if cached_teacher_logits is None else tf.constant(cached_teacher_logits, tf.float32)
        self.strategy = strategy
        with strategy.scope() if strategy else nullcontext():
            # Summed per replica, added up across replicas when read.
            sums = dict(trainable=False, synchronization=tf.VariableSynchronization.ON_READ,
                        aggregation=tf.VariableAggregation.SUM)
            self.train_sums = tf.Variable(tf.zeros(_SLOTS, tf.float64), **sums)
            self.test_sums = tf.Variable(tf.zeros(_SLOTS, tf.float64), **sums)
            # The step of the epoch whose loss was not finite (-1: none). Set on the device, so
            # the host reads it now and then instead of after every step; from that step on,
            # no step changes anything.
            self.stopped_at = tf.Variable(tf.constant(-1, tf.int64), trainable=False,
                                          aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        # TensorFlow counts traces per code object, so closures or bound methods of every
        # run would share one count and warn about "retracing" after a few runs: each run's
        # steps are callable objects of their own (_Step). run_eagerly runs the very same
        # steps op by op, for prints and breakpoints.
        compile_step = (lambda f: f) if run_eagerly else (lambda f: tf.function(f, reduce_retracing=True))
        self.train_step = compile_step(self._distributed(self._train_step))
        self.test_step = compile_step(self._distributed(self._test_step))

    def _distributed(self, step):
        """Run `step` on every replica; global-batch arguments are split by the dataset."""
        return _Step(step, self.strategy)

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

    def _inputs(self, x):
        return x if self.features else self.spec.to_inputs(x)

    def _student_logits(self, x, training):
        return as_logits(self.forward(x, training=training), self.settings.student_probabilities)

    @staticmethod
    def _labels(table, rows):
        labels = tf.gather(table, rows)
        return tf.maximum(labels, 0), tf.cast(labels >= 0, tf.float32)

    def _train_step(self, rows, x, global_rows, draw, step):
        s = self.settings
        rows, x, counted = self._never_empty(rows, x)
        labels, mask = self._labels(self.train_labels, rows)
        if counted is not None:  # a stand-in row: no label, no teacher term, no hint, not counted
            mask = mask * counted
        x = original = self._inputs(x)
        if self.augmenter is not None:  # a row's view depends on (seed, row, draw) alone
            x = self.augmenter(x, training=True, keys=(rows, draw))
        if self.mixing is not None:
            x, partner, weight = self.mixing(x, rows, draw)
        teacher, teacher_feature = self._teacher_targets(rows, original if s.teacher_sees_original else x)
        variables = self.student.trainable_variables
        if self.hint is not None:
            variables = [*variables, *self.hint.projection.trainable_variables]
        with tf.GradientTape() as tape:
            if self.hint is None:
                logits, hint = self._student_logits(x, training=True), None
            else:
                student_feature, outputs = self.hint.student(x, training=True)
                logits = as_logits(outputs, s.student_probabilities)
                hint = self.hint.per_row(student_feature, teacher_feature)
            hard, soft = row_terms(labels, mask, logits, teacher, s.temperature)
            if counted is not None:
                soft = soft * counted
                hint = None if hint is None else hint * counted
            correct = _correct(logits, labels, mask)
            if self.mixing is not None:
                hard, correct = _mixed(hard, correct, logits, labels, mask, partner, weight)
            per_row = combine(hard, soft, s.alpha) if hint is None else combine(hard, soft, s.alpha) + hint
            # Divided by the rows of the whole (global) batch: replicas' gradients are summed.
            loss = tf.reduce_sum(per_row) / global_rows
            # As compile() does: a LossScaleOptimizer scales the loss here and unscales the
            # gradients when it applies them; any other optimizer returns the loss unchanged.
            scaled = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, variables)
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

        def apply(grads, per_row, hard, soft, correct, mask, hint, counted):
            self.optimizer.apply_gradients(zip(grads, variables))
            self._accumulate(self.train_sums, per_row, hard, soft, correct, mask, hint, counted)
            return tf.constant(True)

        tensors = (grads, per_row, hard, soft, correct, mask, tf.zeros_like(hard) if hint is None else hint,
                   tf.ones_like(hard) if counted is None else counted)

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
        logits = tf.gather(self.cache, rows) if self.cache is not None else self.teacher_logits_fn(x)
        return tf.stop_gradient(logits), None

    def _test_step(self, rows, x):
        rows, x, counted = self._never_empty(rows, x)
        labels, mask = self._labels(self.test_labels, rows)
        if counted is not None:
            mask = mask * counted
        logits = self._student_logits(self._inputs(x), training=False)
        hard, _ = row_terms(labels, mask, logits, None, 1.0)
        self._accumulate(self.test_sums, hard, hard, tf.zeros_like(hard), _correct(logits, labels, mask), mask,
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

    @staticmethod
    def _accumulate(sums, per_row, hard, soft, correct, mask, hint=None, counted=None):
        """Add a batch's sums; `counted` (1 a row, 0 a stand-in) counts its rows, by default all of them."""
        total = lambda v: tf.reduce_sum(tf.cast(v, tf.float64))  # noqa: E731
        sums.assign_add(tf.stack([total(per_row), total(hard), total(soft), total(correct),
                                  total(tf.ones_like(mask) if counted is None else counted), total(mask),
                                  tf.constant(0.0, tf.float64) if hint is None else total(hint)]))


def _correct(logits, labels, mask):
    """1 where a labeled row's top class is its label, else 0."""
    return tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels), tf.float32) * mask


def _mixed(hard, correct, logits, labels, mask, partner, weight):
    """The hard term and correctness of mixed images: each answers to both its labels, as weighted."""
    partner_labels, partner_mask = tf.gather(labels, partner), tf.gather(mask, partner)
    partner_hard, _ = row_terms(partner_labels, partner_mask, logits, None, 1.0)
    partner_correct = _correct(logits, partner_labels, partner_mask)
    return weight * hard + (1.0 - weight) * partner_hard, weight * correct + (1.0 - weight) * partner_correct


def replica_pieces(batches, replicas: int, pipeline: int = 0, pipelines: int = 1) -> list[np.ndarray]:
    """The pieces of each global batch one input pipeline (worker) feeds its replicas, batch by batch.

    Replica r of `replicas` takes np.array_split(batch, replicas)[r]: a batch shorter than
    the number of replicas leaves some of them an empty piece, which counts for nothing.
    A worker's local replicas take its pipeline's pieces in turn.
    """
    local = replicas // pipelines
    first = pipeline * local
    return [piece for batch in batches for piece in np.array_split(np.asarray(batch), replicas)[first:first + local]]


class _Step:
    """One step of one run: a callable object, so tf.function counts its traces apart from other runs'."""

    def __init__(self, step, strategy):
        self.step = step
        self.strategy = strategy

    def __call__(self, *args):
        if self.strategy is None:
            return self.step(*args)
        result = self.strategy.run(self.step, args=args)
        return None if result is None else self.strategy.experimental_local_results(result)[0]


def _means(sums: np.ndarray, hint: bool = False) -> dict[str, float]:
    """The epoch's means, in History.columns' order (hint_loss before accuracy)."""
    rows, labeled = sums[_ROWS], sums[_LABELED]
    per_row = (lambda v: float(v / rows)) if rows else (lambda v: float("nan"))
    per_labeled = (lambda v: float(v / labeled)) if labeled > 0 else (lambda v: float("nan"))
    means = {"loss": per_row(sums[_LOSS]), "student_loss": per_labeled(sums[_HARD]),
             "distillation_loss": per_row(sums[_SOFT])}  # fmt: skip
    if hint:
        means["hint_loss"] = per_row(sums[_HINT])
    return {**means, "accuracy": per_labeled(sums[_CORRECT])}


def train_means(steps: Steps) -> dict[str, float]:
    return _means(steps.train_sums.numpy(), hint=steps.hint is not None)


def test_means(steps: Steps) -> dict[str, float]:
    """The student's hard-label loss and accuracy over labeled rows, and how many."""
    sums = steps.test_sums.numpy()
    means = _means(sums)
    return {"loss": means["student_loss"], "accuracy": means["accuracy"], "n": int(sums[_LABELED])}


def run_test(steps: Steps, images: FileImages, stream: BatchStream, n_steps: int) -> dict[str, float]:
    """Evaluate `n_steps` batches from `stream` (continuing where it stopped).

    images: where batches come from: FileImages, or image_cache.DecodedImages.
    """
    return test_epoch(steps, Feed(steps, EpochPlan(images, stream, n_steps), epochs=1))


def test_epoch(steps: Steps, feed: Feed) -> dict[str, float]:
    """The student's hard-label loss and accuracy over the next epoch of `feed`."""
    steps.test_sums.assign(tf.zeros(_SLOTS, tf.float64))
    for rows, x, _, _ in feed.epoch():
        steps.test_step(rows, x)
    return test_means(steps)


# Batches of row indices made at a time: an epoch of 10 million steps never holds them all.
CHUNK_STEPS = 4096


@dataclass
class EpochPlan:
    images: FileImages  # or image_cache.DecodedImages: anything with .batches() and .dataset()
    stream: BatchStream
    steps: int


class Feed:
    """The batches of many epochs through few input pipelines: one per CHUNK_STEPS batches,
    across epoch ends, so that no epoch waits for its pipeline to be built (0.2-0.3 s each,
    measured under a strategy) and reading runs ahead into the next epoch.

    The stream is taken ahead of training, so the state it had at the end of each epoch is
    kept (end_states) for the checkpoint of that epoch.
    """

    def __init__(self, steps: Steps, plan: EpochPlan, epochs: int):
        self.steps, self.plan = steps, plan
        self.left = epochs * plan.steps  # batches still to take from the stream
        self.taken = 0
        self.end_states: list[dict] = []  # the stream's state after each epoch's last batch, in order
        self.unread_rows = 0  # rows handed to a pipeline that no step has taken yet (a run may stop early)
        self._batches = self._all()

    def epoch(self):
        """(rows, x, batch, draw) for each step of the next epoch."""
        for _ in range(self.plan.steps):
            yield next(self._batches)

    def _all(self):
        while self.left > 0:
            drawn = self._take(min(CHUNK_STEPS, self.left))
            self.unread_rows += sum(self.steps.local_rows(batch) for batch, _ in drawn)
            for (rows, x), (batch, draw) in zip(self.steps.feed(self.plan.images, [b for b, _ in drawn]), drawn):
                self.unread_rows -= self.steps.local_rows(batch)
                yield rows, x, batch, draw

    def _take(self, n: int) -> list[tuple[np.ndarray, int]]:
        drawn: list[tuple[np.ndarray, int]] = []
        while len(drawn) < n:
            k = min(self.plan.steps - self.taken % self.plan.steps, n - len(drawn))  # up to the epoch's end
            drawn += self.plan.stream.take_drawn(k)
            self.taken += k
            if self.taken % self.plan.steps == 0:
                self.end_states.append(self.plan.stream.get_state())
        self.left -= n
        return drawn


def train_epoch(
    steps: Steps,
    plan: EpochPlan,
    callbacks: keras.callbacks.CallbackList,
    epoch: int,
    batch_logs: bool,
    feed: Feed | None = None,
) -> dict[str, float]:
    """One epoch of `plan.steps` batches; raises NonFiniteLossError on a NaN/Inf step.

    feed: the run's Feed of `plan`, whose next epoch this is; without one, a Feed of one epoch.
    The host does not wait for each step: it looks for a non-finite one every CHECK_STEPS
    steps and at the end of the epoch (the steps after it have changed nothing).
    """
    feed = Feed(steps, plan, epochs=1) if feed is None else feed
    steps.train_sums.assign(tf.zeros(_SLOTS, tf.float64))
    for step, (rows, x, batch, draw) in enumerate(feed.epoch()):
        callbacks.on_train_batch_begin(step)
        steps.train_step(rows, x, tf.constant(len(batch), tf.float32), tf.constant(draw, tf.int64),
                         tf.constant(step, tf.int64))
        if (step + 1) % CHECK_STEPS == 0 or batch_logs:
            _raise_if_stopped(steps, epoch)
        callbacks.on_train_batch_end(step, train_means(steps) if batch_logs else {})
    _raise_if_stopped(steps, epoch)
    return train_means(steps)


# Steps between the host's looks for a non-finite step (each look waits for the device).
CHECK_STEPS = 32


def _raise_if_stopped(steps: Steps, epoch: int) -> None:
    stopped = int(steps.stopped_at.numpy())
    if stopped >= 0:
        raise NonFiniteLossError(epoch + 1, stopped + 1)
