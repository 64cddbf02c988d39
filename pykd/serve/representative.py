"""The representative images of an int8 export: real inputs the TFLite converter runs the model on to
measure the range of every activation, read as predict() reads images (the model's input size, `rescale`).

They may be given as every other entry point takes data: a table of image files (with `directory`), a
folder of class subfolders, `(x, y)` or `x` uint8 arrays, or a tf.data.Dataset yielding images or
(image, label) pairs, batched or not. At most MAX_IMAGES are used: evenly spaced through a table (so a
folder sorted by class gives every class its share), the first ones of a dataset.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import DataError, Setting, Text
from ..data.frames import read_table, resolve_table
from ..data.images import FileImages, ImageSpec
from ..data.pipelines import image_batches, is_pipeline
from ..data.sources import as_table, is_arrays
from ..models.inputs import image_spec

MAX_IMAGES = 200  # enough to calibrate the ranges (TFLite suggests 100 to 500), few enough to export in seconds
NAME = "representative"


def representative_inputs(model, data, *, directory, x_col: str, image_size, rescale,
                          limit: int = MAX_IMAGES) -> np.ndarray:
    """Up to `limit` model inputs (float32, the model's input size, rescaled) from `data`."""
    spec = image_spec(model, image_size, rescale)
    if is_arrays(data):  # labels play no part (and may be names)
        data = data[0]
    if isinstance(data, np.ndarray):
        data = data[_spread(len(data), limit)]
    if is_pipeline(data, images_alone=True):
        if directory is not None:
            raise DataError("directory is for a table of image files; a dataset or an array holds its images.",
                            "Leave directory out.")
        return _first(image_batches(data, 32, NAME, spec), spec, limit)
    data, directory, _, own = as_table(data, directory=directory, classes=None, name=NAME)
    if own:
        x_col = "image_id"
    elif directory is None:
        raise DataError("directory is not set, and the representative table names image files.",
                        "Set directory to the folder that holds them, or give representative as a folder of "
                        "class subfolders.")
    table = resolve_table(read_table(data, name=NAME), directory=directory, x_col=x_col, y_col=None, name=NAME)
    rows = _spread(len(table), limit)
    (_, pixels), = FileImages([table.paths[i] for i in rows], spec).dataset([np.arange(len(rows))])
    return spec.to_inputs(pixels).numpy()


def _spread(n: int, limit: int) -> np.ndarray:
    """Up to `limit` rows of n, evenly spaced (a table sorted by class gives every class its share)."""
    return np.unique(np.linspace(0, n - 1, min(limit, n)).round().astype(np.int64))


def _first(batches, spec: ImageSpec, limit: int) -> np.ndarray:
    """The first `limit` images of a dataset's batches, as model inputs."""
    parts, n = [], 0
    for images, _ in batches:
        parts.append(spec.to_inputs(images).numpy()[: limit - n])
        n += len(parts[-1])
        if n >= limit:
            break
    if n == 0:
        raise DataError("The representative dataset yields no images.", "Give a dataset of real images, e.g. "
                        "{example}.", example=Setting("representative", Text("validation_dataset")))
    return np.concatenate(parts)
