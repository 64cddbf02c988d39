"""Validate a table of image files and labels and resolve it to paths and label ids.

A table is a pandas DataFrame, a CSV path, or a mapping of column name to values
(what R sends through reticulate). Labels are one integer column (missing = NA)
or several one-hot columns (missing = an all-zero row). Every problem is reported
before training starts, naming the offending rows (counted from 1) or values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError

UNLABELED = -1
_SHOW = 5  # how many offending rows or names a message lists


@dataclass(frozen=True)
class Table:
    """A validated table: one row per image, labels as class ids (-1 = unlabeled)."""

    ids: tuple[str, ...]
    paths: tuple[str, ...]
    labels: np.ndarray
    classes: tuple[str, ...] | None
    name: str = "train"

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
        )


def read_table(data, *, name: str = "train") -> pd.DataFrame:
    """Return `data` as a DataFrame: a DataFrame, a CSV path, or a column mapping."""
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True)
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.is_file():
            raise DataError(f"The {name} table {str(path)!r} does not exist.")
        try:
            return pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise DataError(f"The {name} table {str(path)!r} is not a readable CSV file: {err}") from err
    if isinstance(data, Mapping):
        # reticulate turns a length-1 R vector into a scalar: wrap it back.
        columns = {
            str(k): (list(v) if isinstance(v, Sequence) and not isinstance(v, str) else [v])
            for k, v in data.items()
        }
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise DataError(f"The {name} table's columns have different lengths: {sorted(lengths)}.")
        return pd.DataFrame(columns)
    raise DataError(
        f"The {name} table must be a pandas DataFrame, a CSV path or a dict of columns, "
        f"not {type(data).__name__}."
    )


def _rows(mask: np.ndarray) -> str:
    """'rows 3, 9 and 12' for the first few True positions, counted from 1."""
    where = np.flatnonzero(mask) + 1
    shown = ", ".join(str(i) for i in where[:_SHOW])
    more = f" and {len(where) - _SHOW} more" if len(where) > _SHOW else ""
    return f"row{'s' if len(where) > 1 else ''} {shown}{more}"


def _values(values) -> str:
    values = list(dict.fromkeys(values))
    shown = ", ".join(repr(v) for v in values[:_SHOW])
    return shown + (f" and {len(values) - _SHOW} more" if len(values) > _SHOW else "")


def _is_missing(series: pd.Series) -> np.ndarray:
    missing = series.isna().to_numpy().copy()
    if series.dtype == object:  # CSV or R may give "" or "NA" for a missing label
        text = series.astype(str).str.strip()
        missing |= text.isin(["", "NA", "NaN", "nan", "None"]).to_numpy()
    return missing


def _integer_labels(series: pd.Series, classes: Sequence[str] | None, name: str, col: str) -> np.ndarray:
    missing = _is_missing(series)
    labels = np.full(len(series), UNLABELED, dtype=np.int64)
    present = series[~missing]
    numeric = pd.to_numeric(present, errors="coerce")
    if classes is not None and numeric.isna().any():
        # Labels may be class names ("CBB") when classes are given.
        lookup = {str(c): i for i, c in enumerate(classes)}
        named = present.astype(str).map(lookup)
        numeric = numeric.where(numeric.notna(), named)
    bad = numeric.isna() | (numeric != np.floor(numeric))
    if bad.any():
        mask = np.zeros(len(series), bool)
        mask[np.flatnonzero(~missing)[bad.to_numpy()]] = True
        raise DataError(
            f"The {name} table's label column {col!r} has values that are not whole-number "
            f"class ids ({_values(present[bad.to_numpy()])}) in {_rows(mask)}."
        )
    labels[~missing] = numeric.to_numpy(dtype=np.float64).astype(np.int64)
    n_classes = len(classes) if classes is not None else None
    outside = (labels < UNLABELED) | (labels == UNLABELED) & ~missing
    if n_classes is not None:
        outside |= labels >= n_classes
    if outside.any():
        allowed = f"0..{n_classes - 1}" if n_classes else "0 or more"
        raise DataError(
            f"The {name} table's label column {col!r} has labels outside the classes "
            f"({_values(labels[outside].tolist())}; expected {allowed}) in {_rows(outside)}."
        )
    return labels


def _one_hot_labels(frame: pd.DataFrame, cols: list[str], name: str) -> np.ndarray:
    block = frame[cols].apply(pd.to_numeric, errors="coerce")
    block = block.fillna(0.0).to_numpy(dtype=np.float64)
    not_binary = ~np.isin(block, (0.0, 1.0)).all(axis=1)
    if not_binary.any():
        raise DataError(
            f"The {name} table's one-hot columns {cols} must hold only 0 and 1; "
            f"{_rows(not_binary)} do not."
        )
    hits = block.sum(axis=1)
    several = hits > 1
    if several.any():
        raise DataError(
            f"The {name} table has one-hot rows with more than one 1 ({_rows(several)}): "
            "each image needs exactly one class, or none for an unlabeled image."
        )
    return np.where(hits == 1, block.argmax(axis=1), UNLABELED).astype(np.int64)


def resolve_table(
    data,
    *,
    directory: str | os.PathLike,
    x_col: str = "image_id",
    y_col: str | Sequence[str] | None = "label",
    classes: Sequence[str] | None = None,
    name: str = "train",
    check_files: bool = True,
) -> Table:
    """Validate `data` and return a Table; raise DataError naming what is wrong."""
    frame = read_table(data, name=name)
    label_cols = [] if y_col is None else ([y_col] if isinstance(y_col, str) else list(y_col))
    missing_cols = [c for c in [x_col, *label_cols] if c not in frame.columns]
    if missing_cols:
        raise DataError(
            f"The {name} table has no column{'s' if len(missing_cols) > 1 else ''} "
            f"{_values(missing_cols)}; its columns are {_values(list(frame.columns))}."
        )
    if len(frame) == 0:
        raise DataError(f"The {name} table is empty: it has no rows to train or evaluate on.")

    ids = frame[x_col]
    no_id = _is_missing(ids)
    if no_id.any():
        raise DataError(f"The {name} table's column {x_col!r} is empty in {_rows(no_id)}.")
    ids = ids.astype(str).str.strip()
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        raise DataError(
            f"The {name} table has duplicate {x_col} values ({_values(ids[dup])}) in {_rows(dup)}: "
            "each image may appear once."
        )

    if classes is not None:
        classes = tuple(str(c) for c in classes)
    if not label_cols:
        labels = np.full(len(frame), UNLABELED, dtype=np.int64)
    elif len(label_cols) == 1:
        labels = _integer_labels(frame[label_cols[0]], classes, name, label_cols[0])
    else:
        if classes is not None and len(classes) != len(label_cols):
            raise DataError(
                f"classes has {len(classes)} names but y_col lists {len(label_cols)} one-hot columns."
            )
        labels = _one_hot_labels(frame, label_cols, name)
        classes = classes or tuple(label_cols)

    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"The image directory {str(directory)!r} does not exist.")
    paths = tuple(str(directory / i) for i in ids)
    if check_files:
        absent = np.array([not os.path.isfile(p) for p in paths])
        if absent.any():
            raise DataError(
                f"{int(absent.sum())} of {len(paths)} image files in the {name} table are missing "
                f"from {str(directory)!r}: {_values(ids[absent])}."
            )
    return Table(ids=tuple(ids), paths=paths, labels=labels, classes=classes, name=name)
