"""Images a Keras pipeline gives: what evaluate(), predict() and teacher_logits() run over when the data
is a tf.data.Dataset or a keras.utils.PyDataset of (images, labels) (or images alone), or, for predict(),
an array of images x.

Unlike a table, a pipeline names no image: rows are known by their position in the data's order.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .._tf import keras, tf
from ..core.errors import DataError, Setting
from .sources import is_dataset


def is_pipeline(data, *, images_alone: bool = False) -> bool:
    """A dataset, or (images_alone) an array of images."""
    return is_dataset(data) or (images_alone and isinstance(data, np.ndarray))


def image_batches(data, batch_size: int, name: str) -> Iterator[tuple[tf.Tensor, tf.Tensor | None]]:
    """(images, labels or None) per batch, in the data's order; single images are batched by batch_size."""
    if isinstance(data, np.ndarray):
        data = tf.data.Dataset.from_tensor_slices(data)
    if isinstance(data, keras.utils.PyDataset):
        if data.num_batches is None:
            raise DataError(f"The {name} PyDataset has no end (num_batches is None).", "Give one of known length.")
        elements = (data[i] for i in range(data.num_batches))
    else:
        spec = data.element_spec
        if (spec[0] if isinstance(spec, tuple) else spec).shape.rank == 3:
            data = data.batch(batch_size)
        if data.cardinality() == tf.data.INFINITE_CARDINALITY:
            raise DataError(f"The {name} dataset repeats forever.", "Leave .repeat() out of the pipeline.")
        elements = iter(data)
    for element in elements:
        x, y, _ = keras.utils.unpack_x_y_sample_weight(element if isinstance(element, tuple) else (element,))
        yield x, y


def refuse_table_options(given: dict, name: str) -> None:
    """A pipeline brings its own images: options that say where a table's images are have no use."""
    for option, default in (("directory", None), ("x_col", "image_id"), ("on_bad_image", "error")):
        if option in given and given[option] != default:
            raise DataError(f"{option} is for a table of image files; the {name} data (a dataset or an array) "
                            "brings its own images.", f"Leave {option} out.")


def check_pipeline_classes(data, known, name: str) -> None:
    """A dataset that names its classes (image_dataset_from_directory's class_names) in another order than
    the model's classes: its label ids would mean other classes, so it is refused."""
    found = getattr(data, "class_names", None)
    if found is not None and known is not None and tuple(map(str, found)) != tuple(known):
        raise DataError(f"The {name} dataset's class_names are {{found}}, but the model knows its classes as "
                        "{known}: its label ids would name other classes.",
                        "Build the dataset with {order}.", found=list(found), known=list(known),
                        order=Setting("class_names", list(known)))
