"""The representative images of an int8 export: real inputs the TFLite converter runs the model on to
measure the range of every activation, read as predict() reads images (the model's input size, `rescale`).

They may be given as every other entry point takes data: a table of image files (with `directory`), a
folder of class subfolders, `(x, y)` or `x` uint8 arrays, or a tf.data.Dataset yielding images or
(image, label) pairs, batched or not. At most MAX_IMAGES are used: evenly spaced through a table (so a
folder sorted by class gives every class its share), the first ones of a dataset.
"""

from __future__ import annotations

import numpy as np

from .._tf import tf
from ..core.errors import DataError, Setting, Text, Words
from ..data.frames import read_table, resolve_table
from ..data.images import FileImages, ImageSpec
from ..data.sources import as_table
from ..models.inputs import image_spec

MAX_IMAGES = 200  # enough to calibrate the ranges (TFLite suggests 100 to 500), few enough to export in seconds
NAME = "representative"


def representative_inputs(model, data, *, directory, x_col: str, image_size, rescale,
                          limit: int = MAX_IMAGES) -> np.ndarray:
    """Up to `limit` model inputs (float32, the model's input size, rescaled) from `data`."""
    spec = image_spec(model, image_size, rescale)
    if isinstance(data, tf.data.Dataset):
        if directory is not None:
            raise DataError("directory is for a table of image files; a dataset holds its images.",
                            "Leave directory out.")
        return _from_dataset(data, spec, limit)
    if isinstance(data, np.ndarray):  # x alone: pixels to calibrate on need no labels
        data = (data, np.full(len(data), -1))
    elif isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], np.ndarray):
        data = (data[0], np.full(len(data[0]), -1))  # labels play no part (and may be names)
    data, directory, _, own = as_table(data, directory=directory, classes=None, name=NAME)
    if own:
        x_col = "image_id"
    elif directory is None:
        raise DataError("directory is not set, and the representative table names image files.",
                        "Set directory to the folder that holds them, or give representative as a folder of "
                        "class subfolders.")
    table = resolve_table(read_table(data, name=NAME), directory=directory, x_col=x_col, y_col=None, name=NAME)
    rows = np.unique(np.linspace(0, len(table) - 1, min(limit, len(table))).round().astype(np.int64))
    (_, pixels), = FileImages([table.paths[i] for i in rows], spec).dataset([np.arange(len(rows))])
    return spec.to_inputs(pixels).numpy()


def _from_dataset(dataset: tf.data.Dataset, spec: ImageSpec, limit: int) -> np.ndarray:
    """The first `limit` images of a dataset of images or (image, label), batched or not, as model inputs."""
    parts, n = [], 0
    for element in dataset:
        images = element[0] if isinstance(element, (tuple, list)) else element
        if isinstance(images, dict) or not hasattr(images, "shape"):
            raise DataError("The representative dataset yields {kind}; pykd takes images or (image, label) pairs.",
                            "Map it to images first, e.g. {example}.", kind=Text(type(images).__name__),
                            example=Words("dataset.map(lambda x, y: x)", "dataset.map(lambda x, y: x)"))
        images = tf.convert_to_tensor(images)
        images = images[None] if images.shape.rank == 3 else images
        if images.shape.rank != 4 or images.shape[-1] != spec.channels:
            raise DataError("The representative dataset yields images of shape {shape}; the model takes "
                            f"{spec.height}x{spec.width} images with {spec.channels} channels.",
                            "Give images as (height, width, channels), batched or not.",
                            shape=list(images.shape))
        if tuple(images.shape[1:3]) != spec.size:
            images = tf.image.resize(tf.cast(images, tf.float32), spec.size)  # as image files are resized
        parts.append(spec.to_inputs(images).numpy()[: limit - n])
        n += len(parts[-1])
        if n >= limit:
            break
    if n == 0:
        raise DataError("The representative dataset yields no images.", "Give a dataset of real images, e.g. "
                        "{example}.", example=Setting("representative", Text("validation_dataset")))
    return np.concatenate(parts)
