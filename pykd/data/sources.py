"""Training data given as something other than a table: a folder of class subfolders, or arrays.

Both become what the rest of pykd reads, a table of image files and labels, so every
check, cache, checkpoint and resume works on them unchanged:

- a folder of class subfolders (the `keras.utils.image_dataset_from_directory` layout:
  `train/cat/1.jpg`, `train/dog/2.jpg`) becomes the table of its images, labeled by their
  subfolder, the classes being the subfolder names in sorted order as Keras sorts them;
- `(x, y)` NumPy arrays (uint8 pixels and class ids) are written once as lossless PNG
  files into a folder named by the arrays' content, which later runs on the same arrays
  reuse (so the teacher cache and resume see the same files).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..core import storage
from ..core.errors import DataError, Setting, Text, Words, few, literal, plural, warn

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
LABEL = "label"


def is_class_folder(data) -> bool:
    return isinstance(data, (str, os.PathLike)) and storage.isdir(data)


def is_dataset(data) -> bool:
    """A Keras user's own pipeline: a tf.data.Dataset or a keras.utils.PyDataset."""
    from .._tf import keras, tf

    return isinstance(data, (tf.data.Dataset, keras.utils.PyDataset))


def is_arrays(data) -> bool:
    return isinstance(data, tuple) and len(data) == 2 and all(isinstance(a, np.ndarray) for a in data)


def as_tables(train, options):
    """(train, options) with a folder or arrays given as train or validation turned into tables.

    The image directory becomes the training folder (a validation folder elsewhere is
    reached by relative paths), and the classes the training folder's subfolders.
    """
    own_images = is_class_folder(train) or is_arrays(train)
    if own_images and options.directory is not None:
        raise DataError("directory is for a table of image files; {train} already says where its images are.",
                        "Leave directory out.", train=Words("train (a folder or arrays)", "df (a folder)"))
    if not own_images and options.directory is None:
        raise DataError("directory is not set, and the training table names image files.",
                        "Set directory to the folder that holds them, or give {train} as a folder of class "
                        "subfolders.", train=Words("train", "df"))
    changes: dict = {}
    if own_images:
        train, directory, classes = _table(train, options.classes, options.cache_dir, "train")
        changes.update(directory=directory, classes=classes, x_col="image_id", y_col=LABEL)
    else:
        directory = options.directory
    validation = options.validation
    if is_class_folder(validation) or is_arrays(validation):
        if not own_images and (options.x_col, options.y_col) != ("image_id", LABEL):
            raise DataError("A validation folder or arrays needs the training table's columns to be "
                            "{x_col} and {y_col}.", "Rename the columns, or give validation as a table.",
                            x_col=Setting("x_col", "image_id"), y_col=Setting("y_col", LABEL))
        classes = changes.get("classes", options.classes)
        table, folder, _ = _table(validation, classes, options.cache_dir, "validation")
        table["image_id"] = [storage.relative(storage.join(folder, i), directory) for i in table["image_id"]]
        changes["validation"] = table
    return train, (dataclasses.replace(options, **changes) if changes else options)


def _table(data, classes, cache_dir, name: str) -> tuple[pd.DataFrame, str, list | None]:
    if is_arrays(data):
        return array_table(*data, classes=classes, cache_dir=cache_dir, name=name)
    return folder_table(data, classes=classes, name=name)


def folder_table(folder, *, classes=None, name: str = "train") -> tuple[pd.DataFrame, str, list]:
    """(table of image_id, label; the folder; the classes) for a folder of class subfolders.

    classes: the subfolder names to read, in class-id order; None takes every subfolder, sorted.
    """
    folder = storage.tidy(folder)  # a local path or a URL
    found = sorted(n for n in storage.listdir(folder) if not n.startswith(".") and storage.isdir(storage.join(folder, n)))
    if classes is None:
        classes = found
    else:
        classes = [str(c) for c in classes]
        missing = [c for c in classes if c not in found]
        if missing:
            raise DataError(f"The {name} folder {{folder}} has no subfolder for the "
                            f"{plural(len(missing), 'class', 'classes')} {{missing}}.",
                            "Give classes as the subfolder names, or leave classes out to take them all.",
                            folder=folder, missing=few(missing))
    if len(classes) < 2:
        raise DataError(f"The {name} folder {{folder}} has {{n}} class {plural(len(classes), 'subfolder', 'subfolders')}; "
                        "at least two are needed.",
                        "Put the images of each class in their own subfolder, e.g. {example}.",
                        folder=folder, n=len(classes), example=Words("train/cat/1.jpg", "train/cat/1.jpg"))
    rows = [(f"{c}/{path}", c) for c in classes for path in _images_under(storage.join(folder, c))]
    empty = [c for c in classes if not any(label == c for _, label in rows)]
    if empty:
        raise DataError(f"The class {plural(len(empty), 'subfolder', 'subfolders')} {{empty}} of the {name} "
                        f"folder {{folder}} {plural(len(empty), 'holds', 'hold')} no image files.",
                        "Remove them, or give classes without them.", folder=folder, empty=few(empty))
    return pd.DataFrame(rows, columns=["image_id", LABEL]), folder, list(classes)


def _images_under(folder: str) -> list[str]:
    """The image files under `folder` and its subfolders, relative to it, sorted (as Keras walks a class folder).

    Hidden files and folders (.ipynb_checkpoints, ._a.jpg) are left out; links to files that are gone, with
    a warning naming them.
    """
    broken = [p for p in _broken_links(folder) if _is_image(p)]
    if broken:
        n = len(broken)
        warn(f"{n} {plural(n, 'link', 'links')} under {literal(folder)} {plural(n, 'points', 'point')} to no file and "
             f"{plural(n, 'is', 'are')} left out: {literal(few(broken))}.")
    return [p for p in storage.files_under(folder) if _is_image(p)]


def _is_image(path: str) -> bool:
    """A visible image file: no part of its path is hidden."""
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS and not any(
        part.startswith(".") for part in path.split("/"))


def _broken_links(folder: str) -> list[str]:
    """Symbolic links under a local `folder` whose target does not exist, relative to it."""
    if storage.is_url(folder):
        return []
    return sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*") if p.is_symlink() and not p.exists())


def array_table(x, y, *, classes=None, cache_dir=None, name: str = "train") -> tuple[pd.DataFrame, str, list | None]:
    """(table of image_id, label; the folder of PNG files; classes) for arrays x (n, h, w[, c]) and y (n,).

    x: uint8 pixels 0..255, one or three channels. y: class ids from 0; -1 (or NaN) = unlabeled; or class
    names, matched to `classes` (or the model's own) by name as a table's text labels are.
    """
    x, labels = _checked_arrays(x, y, name)
    digest = hashlib.sha256()
    for part in (str(x.shape).encode(), x.tobytes()):
        digest.update(part)
    folder = storage.join(cache_dir if cache_dir is not None else tempfile.gettempdir(),
                          f"pykd-arrays-{digest.hexdigest()[:24]}")
    ids = [f"{i:06d}.png" for i in range(len(x))]
    _write_pngs(x, folder, ids)
    table = pd.DataFrame({"image_id": ids, LABEL: labels})
    return table, folder, None if classes is None else list(classes)


def _checked_arrays(x, y, name: str) -> tuple[np.ndarray, list]:
    if x.dtype != np.uint8:
        raise DataError(f"The {name} images x are {{dtype}}; pykd reads images as 8-bit pixels, 0 to 255.",
                        "Pass {example} (and rescale=1/255 if the model expects 0 to 1).",
                        dtype=Text(x.dtype.name), example=Words("(x * 255).round().astype('uint8')",
                                                                "(x * 255).round().astype('uint8')"))
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise DataError(f"The {name} images x have shape {{shape}}; they must be (images, height, width) or "
                        "(images, height, width, 1 or 3).", shape=list(x.shape))
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"The {name} labels y have shape {{shape}}, for {{n}} images.",
                        "Give one class id per image (-1 for an unlabeled one).", shape=list(y.shape), n=len(x))
    if y.dtype.kind in "USO" and any(isinstance(v, str) for v in y.tolist()):
        # Class names: matched to the classes by name as a table's text labels are ("" or None: unlabeled).
        return x, [None if v is None or (isinstance(v, str) and not v.strip()) else v for v in y.tolist()]
    values = y.astype(np.float64)
    unlabeled = np.isnan(values) | (values == -1)
    if not np.all(values[~unlabeled] == np.round(values[~unlabeled])) or np.any(values[~unlabeled] < 0):
        raise DataError(f"The {name} labels y must be class ids from 0 (-1 for unlabeled).",
                        "Pass {example}.", example=Setting("y", "ids"))
    return x, [None if u else int(v) for u, v in zip(unlabeled, values)]


def _write_pngs(x: np.ndarray, folder: str, ids: list[str]) -> None:
    """Write x as PNG files once: a complete folder (marked by its last file) is reused as it is."""
    from .._tf import tf

    storage.makedirs(folder)
    done = storage.join(folder, ".complete")
    with storage.locked(storage.join(folder, ".lock")):
        if storage.isfile(done):
            return
        for image, name in zip(x, ids):
            storage.write_bytes_atomic(storage.join(folder, name), tf.io.encode_png(image).numpy())
        storage.write_bytes_atomic(done, f"{len(ids)} images\n".encode())


def as_table(data, *, directory, classes, name: str):
    """(data, directory, classes, own) for a table to score or run over: a folder of class subfolders or
    (x, y) arrays as their table and folder (own=True: its columns are image_id and label), anything else
    as it is."""
    if not (is_class_folder(data) or is_arrays(data)):
        return data, directory, classes, False
    if directory is not None:
        raise DataError(f"directory is for a table of image files; the {name} data (a folder or arrays) already "
                        "says where its images are.", "Leave directory out.")
    table, folder, found = _table(data, classes, None, name)
    return table, folder, found, True
