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
from .images import ImageSpec
from .sources import is_dataset


def is_pipeline(data, *, images_alone: bool = False) -> bool:
    """A dataset, or (images_alone) an array of images."""
    return is_dataset(data) or (images_alone and isinstance(data, np.ndarray))


def batched(data, batch_size: int, name: str, steps: int | None = None):
    """The data in batches: a dataset of single images batched by batch_size, a batched dataset or a
    PyDataset as it is; one that never ends is refused unless `steps` bounds it (training's steps_per_epoch)."""
    if isinstance(data, keras.utils.PyDataset):
        if data.num_batches is None and steps is None:
            raise DataError(f"The {name} PyDataset has no end (num_batches is None).",
                            "Give one of known length" + (", or steps_per_epoch." if name == "train" else "."))
        return data
    spec = data.element_spec
    if (spec[0] if isinstance(spec, tuple) else spec).shape.rank == 3:
        data = data.batch(batch_size)
    if steps is None and data.cardinality() == tf.data.INFINITE_CARDINALITY:
        fix = "Pass {steps}, or leave .repeat() out of the pipeline." if name == "train" else \
            "Leave .repeat() out of the pipeline."
        raise DataError(f"The {name} dataset repeats forever, so it never ends.", fix,
                        steps=Setting("steps_per_epoch", 100))
    return data


def image_batches(data, batch_size: int, name: str, spec: ImageSpec | None = None
                  ) -> Iterator[tuple[tf.Tensor, tf.Tensor | None]]:
    """(images, labels or None) per batch, in the data's order; single images are batched by batch_size.
    An array x (n, height, width[, channels]) is read as a dataset of its images. spec: the images are
    fitted to its size and channels, as image files are read."""
    if isinstance(data, np.ndarray):
        data = tf.data.Dataset.from_tensor_slices(data if data.ndim == 4 else data[..., None])
    data = batched(data, batch_size, name)
    elements = (data[i] for i in range(data.num_batches)) if isinstance(data, keras.utils.PyDataset) else iter(data)
    for element in elements:
        x, y, _ = keras.utils.unpack_x_y_sample_weight(element if isinstance(element, tuple) else (element,))
        yield (x if spec is None else fitted(x, spec)), y


def fitted(images, spec: ImageSpec) -> tf.Tensor:
    """A batch of pixel values at the spec's size and channels (float32), as an image file is decoded and resized."""
    images = tf.cast(images, tf.float32)
    if images.shape[-1] != spec.channels:
        convert = tf.image.grayscale_to_rgb if spec.channels == 3 else tf.image.rgb_to_grayscale
        images = convert(images)
    if spec.height is not None and tuple(images.shape[1:3]) != spec.size:
        images = tf.image.resize(images, spec.size)
    return images


def refuse_table_options(given: dict, name: str, names_rows: bool = False) -> None:
    """A pipeline brings its own images: options that say where a table's images are have no use (but x_col
    where it `names_rows`: the column of the output that numbers them)."""
    table_only = (("directory", None), ("on_bad_image", "error"), *(() if names_rows else (("x_col", "image_id"),)))
    for option, default in table_only:
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
