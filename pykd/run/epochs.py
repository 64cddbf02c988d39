"""One epoch of training or testing over a Feed, and the row-weighted means the history records."""

from __future__ import annotations

from .._tf import keras, tf
from ..core.errors import NonFiniteLossError
from ..data.images import FileImages
from ..data.stream import BatchStream
from . import metrics
from .feed import BatchSource, Feed
from .steps import StepFunctions

# Steps between the host's looks for a non-finite step (each look waits for the device).
CHECK_STEPS = 32


def train_means(functions: StepFunctions) -> dict[str, float]:
    """The epoch's means so far: the history's columns, which the progress bar also shows."""
    return metrics.means(functions.train_sums.numpy(), hint=functions.hint is not None,
                         distilling=functions.settings.distilling)


def run_test(functions: StepFunctions, images: FileImages, stream: BatchStream, n_steps: int) -> dict[str, float]:
    """Evaluate `n_steps` batches from `stream` (continuing where it stopped).

    images: where batches come from: FileImages, or image_cache.DecodedImages.
    """
    return test_epoch(functions, Feed(functions, BatchSource(images, stream, n_steps), epochs=1))


def test_epoch(functions: StepFunctions, feed: Feed) -> dict[str, float]:
    """The student's hard-label loss and accuracy over the next epoch of `feed`."""
    functions.test_sums.assign(tf.zeros(metrics.SLOTS, tf.float64))
    for rows, x, _, _ in feed.epoch():
        functions.test_step(rows, x)
    return metrics.test_means(functions.test_sums.numpy())


def train_epoch(
    functions: StepFunctions,
    source: BatchSource,
    callbacks: keras.callbacks.CallbackList,
    epoch: int,
    batch_logs: bool,
    feed: Feed | None = None,
) -> dict[str, float]:
    """One epoch of `source.steps` batches; raises NonFiniteLossError on a NaN/Inf step.

    feed: the run's Feed of `source`, whose next epoch this is; without one, a Feed of one epoch.
    The host does not wait for each step: it looks for a non-finite one every CHECK_STEPS
    steps and at the end of the epoch (the steps after it have changed nothing).
    """
    feed = Feed(functions, source, epochs=1) if feed is None else feed
    functions.train_sums.assign(tf.zeros(metrics.SLOTS, tf.float64))
    for step, (rows, x, batch, draw) in enumerate(feed.epoch()):
        callbacks.on_train_batch_begin(step)
        functions.train_step(rows, x, tf.constant(len(batch), tf.float32), tf.constant(draw, tf.int64),
                             tf.constant(step, tf.int64))
        if (step + 1) % CHECK_STEPS == 0 or batch_logs:
            _raise_if_stopped(functions, epoch)
        callbacks.on_train_batch_end(step, train_means(functions) if batch_logs else {})
    _raise_if_stopped(functions, epoch)
    return train_means(functions)


def _raise_if_stopped(functions: StepFunctions, epoch: int) -> None:
    stopped = int(functions.stopped_at.numpy())
    if stopped >= 0:
        raise NonFiniteLossError(epoch + 1, stopped + 1)
