"""Images: decoding files with tf.data, checking them up front, and augmenting batches.

Augmentation speaks the vocabulary of Keras 2's `ImageDataGenerator` (what R's
`image_data_generator()` exposed) but is built from Keras 3 preprocessing layers
and runs inside the compiled train step, so teacher and student see one view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._tf import tf

_MIX = (0xBF58476D1CE4E5B9, 0x94D049BB133111EB)


@dataclass(frozen=True)
class ImageSpec:
    """How files become model inputs: size (height, width), channels and pixel scale."""

    height: int
    width: int
    channels: int = 3
    rescale: float | None = None

    @property
    def size(self) -> tuple[int, int]:
        return (self.height, self.width)

    def key(self) -> str:
        return f"{self.height}x{self.width}x{self.channels}*{self.rescale}"

    def to_inputs(self, pixels: tf.Tensor) -> tf.Tensor:
        """Model inputs from a batch of pixel values (uint8 or float32, 0..255): float32, rescaled."""
        images = tf.cast(pixels, tf.float32)
        return images if self.rescale is None else images * self.rescale


def decode(path: tf.Tensor, spec: ImageSpec) -> tf.Tensor:
    """Read one file into a float32 (height, width, channels) tensor of pixel values, 0..255.

    Grayscale, RGBA and differently sized images are converted, not rejected.
    Rescaling is left to the step (ImageSpec.to_inputs), whatever the image source.
    """
    raw = tf.io.read_file(path)
    image = tf.io.decode_image(raw, channels=spec.channels, expand_animations=False)
    image = tf.image.resize(tf.cast(image, tf.float32), spec.size)
    image.set_shape((spec.height, spec.width, spec.channels))
    return image


def batches_dataset(paths: Sequence[str], batches: Sequence[np.ndarray], spec: ImageSpec) -> tf.data.Dataset:
    """A dataset yielding (rows, pixels) for each batch of row indices, in order.

    Each run of batches of one size (full batches; under a strategy, one replica's
    pieces of them) is decoded element-wise in parallel and batched; an empty piece
    (a replica with no row of a short batch) is an empty batch.
    """
    path_table = tf.constant(list(paths))
    runs: list[list[np.ndarray]] = []
    for batch in batches:
        if runs and len(runs[-1][0]) == len(batch):
            runs[-1].append(batch)
        else:
            runs.append([batch])

    def load(row):
        return row, decode(tf.gather(path_table, row), spec)

    if len(runs) > 8 and len(runs) > len(batches) // 4:  # sizes that alternate: one map call per batch
        return _tuned(_per_batch(path_table, batches, spec))
    dataset = None
    for run in runs:
        if len(run[0]) == 0:
            empty = (tf.zeros([0], tf.int32), tf.zeros([0, spec.height, spec.width, spec.channels], tf.float32))
            part = tf.data.Dataset.from_tensors(empty).repeat(len(run))
        else:
            part = (
                tf.data.Dataset.from_tensor_slices(np.concatenate(run).astype(np.int32))
                .map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
                .batch(len(run[0]))
            )
        dataset = part if dataset is None else dataset.concatenate(part)
    if dataset is None:
        raise ValueError("no batches to load")
    return _tuned(dataset)


def _per_batch(path_table: tf.Tensor, batches: Sequence[np.ndarray], spec: ImageSpec) -> tf.data.Dataset:
    """(rows, pixels) per batch whatever the sizes: batches decoded in parallel, the images of each in turn."""
    rows = tf.RaggedTensor.from_row_lengths(
        np.concatenate([np.asarray(b, np.int32) for b in batches]), [len(b) for b in batches])
    image = tf.TensorSpec((spec.height, spec.width, spec.channels), tf.float32)

    def load(batch):
        return batch, tf.map_fn(lambda row: decode(tf.gather(path_table, row), spec), batch,
                                fn_output_signature=image)

    return tf.data.Dataset.from_tensor_slices(rows).map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _tuned(dataset: tf.data.Dataset) -> tf.data.Dataset:
    options = tf.data.Options()
    options.experimental_optimization.map_parallelization = True
    # A pipeline lives for one epoch. With autotuning on, a finished pipeline is torn
    # down only when the autotune thread next wakes (its sleeps double from the start),
    # which stalled each epoch's end; the untuned defaults (one call per core, a small
    # prefetch buffer) keep decoding ahead of training.
    options.autotune.enabled = False
    return dataset.with_options(options).prefetch(2)


class FileImages:
    """A table's images read from their files on every pass (decode, resize): (rows, float32 pixels) batches."""

    def __init__(self, paths: Sequence[str], spec: ImageSpec):
        self.paths = tuple(paths)
        self.spec = spec
        self.rows_read = 0  # images this process was asked to decode (under several workers, its share)

    def dataset(self, batches: Sequence[np.ndarray]) -> tf.data.Dataset:
        self.rows_read += sum(len(b) for b in batches)
        return batches_dataset(self.paths, batches, self.spec)

    batches = dataset  # what the loop iterates without a strategy: the same pipeline

    def close(self) -> None:
        """Nothing to release: the files are the user's."""


