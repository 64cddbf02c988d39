"""Validate a table of image files and labels and resolve it to paths and label ids.

A table is a pandas DataFrame, a CSV path, or a mapping of column name to values
(what R sends through reticulate). Labels are one integer column (missing = NA)
or several one-hot columns (missing = an all-zero row). Every problem is reported
before training starts, naming the offending rows (counted from 1) or values.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..core import storage
from ..core.errors import DataError, Setting, Text, Words, few, kind, plural
from .labels import (
    UNLABELED,
    _integer_labels,
    _is_missing,
    _one_hot_classes,
    _one_hot_labels,
    _rows,
    check_classes,
    label_columns,
)
from .weights import weight_column


@dataclass(frozen=True)
class Table:
    """A validated table: one row per image, labels as class ids (-1 = unlabeled)."""

    ids: tuple[str, ...]
    paths: tuple[str, ...]
    labels: np.ndarray
    classes: tuple[str, ...] | None
    name: str = "train"
    weights: np.ndarray | None = None  # per-row weights (weight_col), None: every row weighs 1

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_labeled(self) -> int:
        return int(np.sum(self.labels >= 0))

    def subset(self, rows: np.ndarray) -> Table:
        rows = np.asarray(rows, dtype=np.int64)
        return Table(
            ids=tuple(self.ids[i] for i in rows),
            paths=tuple(self.paths[i] for i in rows),
            labels=self.labels[rows],
            classes=self.classes,
            name=self.name,
            weights=None if self.weights is None else self.weights[rows],
        )


def read_table(data, *, name: str = "train") -> pd.DataFrame:
    """Return `data` as a DataFrame: a DataFrame, a CSV path, or a column mapping."""
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True)
    if isinstance(data, (str, os.PathLike)):
        path = storage.name(data)  # a local path or a URL (gs://...), shown as given
        if not storage.isfile(path):
            raise DataError(f"The {name} table {{path}} does not exist.",
                            "Give a data frame, or the path of a CSV file with one row per image.", path=path)
        try:
            return pd.read_csv(storage.loadable(path))
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise DataError(f"The {name} table {{path}} is not a readable CSV file: {err}", path=path) from err
    if isinstance(data, Mapping):
        # reticulate turns a length-1 R vector into a scalar: wrap it back.
        columns = {
            str(k): (list(v) if isinstance(v, Sequence) and not isinstance(v, str) else [v])
            for k, v in data.items()
        }
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise DataError(f"The {name} table's columns have different lengths: {{lengths}}.",
                            "Give every column one value per image.", lengths=few(sorted(lengths)))
        return pd.DataFrame(columns)
    raise DataError(
        f"The {name} table must be {{forms}}, not {{value}}.",
        "Give a data frame, or the path of a CSV file with one row per image.",
        forms=Words("a pandas DataFrame, the path of a CSV file or a dict of columns",
                    "a data frame or the path of a CSV file"),
        value=kind(data),
    )


def _missing_suffix(directory: str, missing: list[str]) -> str | None:
    """The extension that names the missing files, when the ids lack one (Kaggle's 'abc' for 'abc.jpg')."""
    for suffix in (".jpg", ".jpeg", ".png", ".JPG", ".bmp", ".gif", ".webp"):
        if all(storage.isfile(storage.join(directory, f"{i}{suffix}")) for i in missing[:20]):
            return suffix
    return None


def _check_files(ids: pd.Series, paths: tuple[str, ...], directory: str, name: str, x_col: str) -> None:
    """Every image file exists; else name the missing ones (and the extension they lack, if that is it).

    On URLs each check is a request to the object store: several are in flight at once.
    """
    if storage.is_url(directory):
        with ThreadPoolExecutor(max_workers=16) as pool:
            absent = ~np.array(list(pool.map(storage.isfile, paths)), dtype=bool)
    else:
        absent = np.array([not os.path.isfile(p) for p in paths])
    if absent.any():
        missing = ids[absent].tolist()
        suffix = _missing_suffix(directory, missing)
        n = int(absent.sum())
        raise DataError(
            f"{n} of {len(paths)} image files in the {name} table {plural(n, 'is', 'are')} missing "
            "from {directory}: {absent}.",
            f"Check directory and x_col, or drop the {plural(n, 'row whose image is', 'rows whose images are')} "
            "missing." if suffix is None else
            f"The folder has {plural(n, 'it', 'them')} with the extension {{suffix}} ({{example}}): add it to the "
            f"{x_col} column.",
            directory=directory, absent=few(missing), suffix=suffix,
            example=Text(f"{missing[0]}{suffix}"),
        )


def resolve_table(
    data,
    *,
    directory: str | os.PathLike,
    x_col: str = "image_id",
    y_col: str | Sequence[str] | None = "label",
    classes: Sequence[str] | None = None,
    name: str = "train",
    check_files: bool = True,
    weight_col: str | None = None,
) -> Table:
    """Validate `data` and return a Table; raise DataError naming what is wrong."""
    if not isinstance(x_col, str):
        raise DataError("x_col must be the name of the column of image file names, not {value}.",
                        "For example {example}.", value=kind(x_col), example=Setting("x_col", "image_id"))
    label_cols = label_columns(y_col)
    frame = read_table(data, name=name)
    missing_cols = [c for c in [x_col, *label_cols] if c not in frame.columns]
    if missing_cols:
        raise DataError(
            f"The {name} table has no column{'s' if len(missing_cols) > 1 else ''} {{missing}}; its columns are {{present}}.",
            "Set x_col and y_col to the table's column names.",
            missing=few(missing_cols), present=few(list(frame.columns)),
        )
    if len(frame) == 0:
        raise DataError(f"The {name} table is empty: it has no rows to train or evaluate on.",
                        "Give a table with one row per image.")

    ids = frame[x_col]
    no_id = _is_missing(ids)
    if no_id.any():
        raise DataError(
            f"The {name} table's column {{x_col}} is empty in {_rows(no_id)}.",
            "Remove those rows or fill in their file names.", x_col=x_col,
        )
    ids = ids.astype(str).str.strip()
    dup = ids.map(_same_file).duplicated(keep=False).to_numpy()  # "./a.jpg" is "a.jpg"
    if dup.any():
        raise DataError(
            f"The {name} table has duplicate {x_col} values ({{dup}}) in {_rows(dup)}.",
            "Each image may appear once: keep one row per image.",
            dup=few(ids[dup].tolist()),
        )

    classes = check_classes(classes)
    if not label_cols:
        labels = np.full(len(frame), UNLABELED, dtype=np.int64)
    elif len(label_cols) == 1:
        labels = _integer_labels(frame[label_cols[0]], classes, name, label_cols[0])
    else:
        classes = _one_hot_classes(label_cols, classes)
        labels = _one_hot_labels(frame, label_cols, name)

    directory = image_folder(directory, f"the {name} table names image files")
    paths = tuple(storage.join(directory, i) for i in ids)
    if check_files:
        _check_files(ids, paths, directory, name, x_col)
    return Table(ids=tuple(ids), paths=paths, labels=labels, classes=classes, name=name,
                 weights=weight_column(frame, weight_col, name))


def _same_file(image_id: str) -> str:
    """An id as the file it names: "./a.jpg", "sub//a.jpg" and "sub/../a.jpg" are the files "a.jpg", "sub/a.jpg"
    and "a.jpg" (ids that are URLs are left as they are)."""
    return image_id if "://" in image_id else posixpath.normpath(image_id.replace("\\", "/"))


def image_folder(directory, why: str) -> str:
    """The folder `directory` names (a local path or a URL), which must exist; `why` it is needed."""
    if directory is None:
        raise DataError(f"directory is not set, and {why}.", "Set directory to the folder that holds the image files.")
    if not isinstance(directory, (str, os.PathLike)):
        raise DataError("directory must be a folder path, not {value}.", value=kind(directory))
    folder = storage.tidy(directory)
    if not storage.isdir(folder):
        raise DataError("The image directory {directory} does not exist.",
                        "Set directory to the folder that holds the image files.", directory=folder)
    return folder


def check_labels_fit(table: Table, n_classes: int) -> None:
    outside = table.labels >= n_classes
    if outside.any():
        rows = (np.flatnonzero(outside) + 1).tolist()
        labels = sorted(set(table.labels[outside].tolist()))
        raise DataError(
            f"The {table.name} table has {plural(len(labels), 'label', 'labels')} {{labels}} "
            f"({plural(len(rows), 'row', 'rows')} {{rows}}) but the models output only "
            f"{n_classes} {plural(n_classes, 'class', 'classes')} (0..{n_classes - 1}).",
            f"Fix {plural(len(rows), 'that label', 'those labels')}, or give models with one output per class.",
            labels=few(labels), rows=few(rows),
        )
