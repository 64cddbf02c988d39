"""Predictions for a table (or a folder) of images: one row per image, a label and class probabilities.

The images are read exactly as for training (pykd.data.images), the table is checked by
the same rules (pykd.run.inputs), and the model runs in float32 whatever
its dtype policy: bfloat16 rounds near-equal probabilities into ties, and a tie's
label is then arbitrary. A Keras model and an exported .tflite file give the same frame.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from .._tf import keras, tf
from ..core import storage
from ..core.errors import DataError, Words, few
from ..core.hints import ModelLike, TableOnly
from ..data.augmentation import Augmentation
from ..data.frames import Table, image_folder, read_table, resolve_table
from ..data.images import FileImages, ImageSpec
from ..data.pipelines import check_pipeline_classes, image_batches, is_pipeline, refuse_table_options
from ..data.sources import folder_table, is_arrays, is_class_folder
from ..data.tta import TtaViews
from ..models.classes import check_given
from ..models.inputs import image_spec
from ..run import options
from ..run.inputs import model_inputs
from .runners import runner
from .views import Averaged

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


def predict(
    model: ModelLike,
    data: TableOnly | np.ndarray | tf.data.Dataset | keras.utils.PyDataset | None = None,
    *,
    directory: str | os.PathLike | None = None,
    x_col: str = "image_id",
    classes: Sequence[str] | None = None,
    image_size: Sequence[int] | None = None,
    rescale: float | None = None,
    batch_size: int = 32,
    on_bad_image: Literal["error", "skip"] = "error",
    tta: bool | int | Augmentation | dict = False,
    model_outputs: Literal["auto", "logits", "probabilities"] = "auto",
) -> pd.DataFrame:
    """Class probabilities and the predicted label of every image, as a plain DataFrame.

    Columns: `x_col`, "label" (the class name when classes are known, else the class id)
    and one probability column per class (named by classes, else prob_0, prob_1, ...),
    computed in float32; rows keep the table's order. A Kaggle submission is then
    frame[[x_col, "label"]].to_csv("submission.csv", index=False).
    model: a Keras model, a .keras/.h5 path, or a .tflite file written by export().
    data: a DataFrame, CSV path or dict of columns naming the images in `x_col` (other
        columns are ignored); None predicts every image file in `directory`, sorted by name;
        or a tf.data.Dataset / keras.utils.PyDataset of images (labels ignored) or an array x
        of images (or (x, y) arrays), whose rows `x_col` then numbers 0, 1, ... in the data's order;
        or a folder: of images (as `directory`), or of class subfolders (rows named cat/1.jpg).
    The label is the class name, and the columns are named by the classes, when the model knows
    them (trained by pykd, or classifier(classes=)) or `classes` names them; a `classes` that
    contradicts the model's is refused. An unreadable image left out with on_bad_image="skip" has no row.

    Options:
    """
    o = options.checked_call("predict", locals())
    run = runner(model, o.model_outputs)
    check_given(o.classes, run.classes)
    if is_arrays(data):  # (x, y): the labels play no part
        data = data[0]
    if is_pipeline(data, images_alone=True):
        return _predict_pipeline(run, data, o)
    data, directory = _folder_given(data, o.directory, o.x_col)
    table = prediction_table(data, directory, o.x_col, o.classes or run.classes)
    names = list(table.classes) if table.classes else None
    inputs = model_inputs(run.graph, table, image_size=o.image_size, rescale=o.rescale, on_bad_image=o.on_bad_image)
    probs = probabilities(run, inputs.table.paths, inputs.spec, o.batch_size, o.tta)
    return _frame(list(inputs.table.ids), probs, names, o.x_col)


def _predict_pipeline(run, data, o) -> pd.DataFrame:
    """predict() over a dataset's or an array's images: rows named by their position in its order."""
    refuse_table_options(vars(o), "prediction", names_rows=True)
    if o.tta is not None:
        raise DataError("tta keys each image's views by its file, and a dataset or an array has none.",
                        "Give the images as a table or a folder, or leave tta out.")
    names = list(o.classes or run.classes or ()) or None
    check_pipeline_classes(data, names, "prediction")
    spec = image_spec(run.graph, o.image_size, o.rescale)
    parts = [run.probabilities(spec.to_inputs(x)) for x, _ in image_batches(data, o.batch_size, "prediction", spec)]
    probs = np.concatenate(parts).astype(np.float32)
    return _frame(list(range(len(probs))), probs, names, o.x_col)


def _frame(ids: list, probs: np.ndarray, names: list | None, x_col: str) -> pd.DataFrame:
    clash = [n for n in names or () if n in (x_col, "label")]
    if clash:
        raise DataError("The class names {clash} are also the frame's {x_col} or label column.",
                        "Rename those classes, or set x_col to another column.", clash=few(clash), x_col=x_col)
    top = probs.argmax(axis=1)
    labels = [names[i] for i in top] if names else top.astype(np.int64)
    columns = {name: probs[:, j].astype(np.float64)
               for j, name in enumerate(names or [f"prob_{i}" for i in range(probs.shape[1])])}
    return pd.DataFrame({x_col: ids, "label": labels, **columns})


predict.__doc__ = options.with_docs(predict.__doc__, "predict")


def _folder_given(data, directory, x_col: str):
    """(data, directory) for a folder given as data: a folder of images is the directory to predict; a folder
    of class subfolders (image_dataset_from_directory's layout), the table of every image under them, named by
    its path in the folder (cat/1.jpg)."""
    if not is_class_folder(data):
        return data, directory
    if directory is not None:
        raise DataError("directory is for a table of image files; the data (a folder) already says where its "
                        "images are.", "Leave directory out.")
    folder = storage.tidy(data)
    if not any(storage.isdir(storage.join(folder, n)) for n in storage.listdir(folder) if not n.startswith(".")):
        return None, folder
    frame, folder, _ = folder_table(folder, name="prediction")
    return frame[["image_id"]].rename(columns={"image_id": x_col}), folder


def prediction_table(data, directory, x_col: str, classes) -> Table:
    """The checked table of images to predict: `data`, or every image file in `directory`."""
    frame = read_table(data, name="prediction") if data is not None else pd.DataFrame({x_col: image_files(directory)})
    return resolve_table(frame, directory=directory, x_col=x_col, y_col=None, classes=classes, name="prediction")


def image_files(directory) -> list[str]:
    """The names of the image files in `directory` (not its subfolders), sorted."""
    folder = image_folder(directory, "no table names the images to predict")  # a local path or a URL
    names = sorted(n for n in storage.listdir(folder) if not n.startswith(".")
                   and os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS and storage.isfile(storage.join(folder, n)))
    if not names:
        raise DataError("The directory {directory} holds no image files ({extensions}).",
                        "Check directory, or pass {data} naming the images.",
                        directory=folder, extensions=list(IMAGE_EXTENSIONS),
                        data=Words("data='images.csv'", 'df = "images.csv"', cli="--data images.csv"))
    return names


def probabilities(run, paths, spec: ImageSpec, batch_size: int, tta: TtaViews | None = None) -> np.ndarray:
    """(images, classes) float32 probabilities, in the order of `paths`; averaged over the `tta` views if given."""
    n = len(paths)
    batches = [np.arange(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]
    average = Averaged(run, tta, paths) if tta is not None else None
    parts = []
    for rows, pixels in zip(batches, (pixels for _, pixels in FileImages(paths, spec).dataset(batches))):
        x = spec.to_inputs(pixels)
        parts.append(run.probabilities(x) if average is None else average(rows, x))
    return np.concatenate(parts).astype(np.float32)
