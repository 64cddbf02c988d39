"""Labels: one column of class ids or names, or one-hot columns, resolved to class ids
(-1 for an unlabeled row), and the class names themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..core.errors import DataError, Setting, Words, few, kind, literal, plural


def label_layout(frame, y_col, classes, name: str = "evaluation"):
    """y_col for a table, switching between one label column and one-hot columns.

    A validation CSV often comes one-hot (CBB, CBSD, ...) while the training table
    has a label column, or the other way round: when the table lacks `y_col` but
    has the other layout's columns (the class names, or "label"), use those. One-hot
    columns for some classes but not all are refused, naming the missing ones.
    name: how messages name the table.
    """
    wanted = label_columns(y_col)
    if not wanted:
        return y_col
    if all(c in frame.columns for c in wanted):
        return y_col
    if isinstance(y_col, str) and classes and all(c in frame.columns for c in classes):
        return list(classes)
    if not isinstance(y_col, str) and "label" in frame.columns:
        return "label"
    one_hot = wanted if not isinstance(y_col, str) else list(classes or [])
    if any(c in frame.columns for c in one_hot):
        missing = [c for c in one_hot if c not in frame.columns]
        raise DataError(f"The {name} table has one-hot label columns but none for "
                        f"{plural(len(missing), 'the class', 'the classes')} {{missing}}: "
                        "each of the {n} classes needs its column.",
                        f"Add {plural(len(missing), 'the column', 'one column per class')}: 1 for the images of "
                        "the class, else 0 (all 0 when the table has none).",
                        missing=few(missing), n=len(one_hot))
    return y_col


MAX_CLASSES = 2**31  # class ids are int32 in the training step


def _integer_labels(series: pd.Series, classes: Sequence[str] | None, name: str, col: str) -> np.ndarray:
    missing = _is_missing(series)
    labels = np.full(len(series), UNLABELED, dtype=np.int64)
    present = series[~missing]
    logical = present.map(lambda v: isinstance(v, (bool, np.bool_))).astype(bool).to_numpy()
    if logical.any() and classes is None:  # True would silently be class 1
        mask = np.zeros(len(series), bool)
        mask[np.flatnonzero(~missing)[logical]] = True
        raise DataError(f"The {name} table's label column {{col}} holds {{logical}} values in {_rows(mask)}: "
                        "true or false is no class id.",
                        "Give class ids counted from 0, or name the classes (e.g. {example}).",
                        col=col, logical=Words("True/False", "TRUE/FALSE"), example=Setting("classes", ["False", "True"]))
    if logical.any():  # matched by name, whatever the case of the class names ("TRUE" from R)
        named = {str(c).lower(): c for c in classes}
        present = present.map(lambda v: named.get(str(bool(v)).lower(), str(bool(v))) if isinstance(v, (bool, np.bool_))
                              else v)
    numeric = pd.to_numeric(present, errors="coerce") if classes is None else _named_labels(present, classes, name, col)
    bad = numeric.isna() | (numeric != np.floor(numeric))
    if bad.any():
        mask = np.zeros(len(series), bool)
        mask[np.flatnonzero(~missing)[bad.to_numpy()]] = True
        raise DataError(
            f"The {name} table's label column {{col}} has values that are not whole-number "
            f"class ids ({{bad}}) in {_rows(mask)}.",
            "Labels are class ids counted from 0, or class names when classes lists them (e.g. {example})."
            if classes is None else "Labels must be class ids counted from 0 or names in classes ({classes}).",
            col=col, bad=few(present[bad.to_numpy()].tolist()), example=Setting("classes", ["CBB", "CMD"]),
            classes=few(classes or ()),
        )
    values = numeric.to_numpy(dtype=np.float64)
    n_classes = len(classes) if classes is not None else None
    # Checked before the cast to integers, which would wrap a huge label into another number.
    outside = (values < 0) | (values >= (n_classes if n_classes is not None else MAX_CLASSES))
    if outside.any():
        mask = np.zeros(len(series), bool)
        mask[np.flatnonzero(~missing)[outside]] = True
        allowed = f"0..{n_classes - 1}" if n_classes else "0 or more"
        raise DataError(
            f"The {name} table's label column {{col}} has labels outside the classes "
            f"({{bad}}; expected {allowed}) in {_rows(mask)}.",
            "Fix those labels, or give classes with every class name.",
            col=col, bad=few([_as_given(v) for v in present[outside].tolist()]),
        )
    labels[~missing] = values.astype(np.int64)
    return labels


def label_ids(values, classes: Sequence[str] | None = None, name: str = "train", col: str = "label") -> list[int]:
    """Class ids of a label column, -1 for a missing label, by the rules distill() applies.

    values: the labels (a list, a pandas Series, or one value): class ids counted from 0,
        or class names when `classes` lists them; None, NaN, "" or "NA" for a missing one.
    classes: the class names in class-id order, or None.
    name, col: how messages name the table and the column ("train", "label").
    """
    if isinstance(values, pd.Series):
        series = values.reset_index(drop=True)
    else:  # reticulate sends a length-1 R vector as one value
        many = isinstance(values, (Sequence, np.ndarray)) and not isinstance(values, str)
        series = pd.Series(list(values) if many else [values], dtype=object)
    return _integer_labels(series, check_classes(classes), name, col).tolist()


def _as_given(value):
    """A label as the table shows it: 7, not 7.0 (a column with missing labels is float); 1e+20, not the integer
    it would wrap to."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _named_labels(present: pd.Series, classes: Sequence[str], name: str, col: str) -> pd.Series:
    """Class ids for labels when classes are given: text is matched by name, numbers are positions.

    Text that names no class may still be a position ("3"), unless some class names
    are numbers themselves. A number is ambiguous when it is also a class name at
    another position (classes "4", "3", ...: is label 4 the name or the id?): refused.
    """
    ids = {c: i for i, c in enumerate(classes)}
    numeric_names = any(_whole_text(c) is not None for c in classes)
    text = present.map(lambda v: isinstance(v, str)).astype(bool)
    by_name = present[text].map(lambda v: ids.get(v.strip(), np.nan)).astype(float)
    if not numeric_names:
        by_name = by_name.where(by_name.notna(), pd.to_numeric(present[text], errors="coerce"))
    numbers = pd.to_numeric(present[~text], errors="coerce")
    ambiguous = numbers.map(lambda v: _whole_text(v) in ids and ids[_whole_text(v)] != v)
    if ambiguous.any():
        rows = np.zeros(int(present.index.max()) + 1, bool)
        rows[numbers.index[ambiguous.to_numpy()]] = True  # the table's own row positions
        raise DataError(
            f"The {name} table's label column {{col}} holds numbers ({{values}}) that are also class names at other "
            f"positions in classes ({{classes}}), in {_rows(rows)}: names or class ids?",
            "Give the labels as text to match them by name, or as class ids counted from 0 with classes that are not numbers.",
            col=col, values=few(numbers[ambiguous].tolist()), classes=few(classes),
        )
    return pd.concat([by_name, numbers]).reindex(present.index).astype(float)


def _whole_text(value) -> str | None:
    """'3' for 3, 3.0 or ' 3 '; None for anything that is not a whole number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return str(int(number)) if np.isfinite(number) and number == int(number) else None


def _one_hot_labels(frame: pd.DataFrame, cols: list[str], name: str) -> np.ndarray:
    block = np.zeros((len(frame), len(cols)))
    bad = np.zeros((len(frame), len(cols)), bool)
    for j, col in enumerate(cols):
        missing = _is_missing(frame[col])  # NA or "" counts as 0: an all-zero row is unlabeled
        numbers = pd.to_numeric(frame[col].where(~missing), errors="coerce").to_numpy(dtype=np.float64)
        bad[:, j] = ~missing & ~np.isin(numbers, (0.0, 1.0))
        block[:, j] = np.where(missing, 0.0, numbers)
    if bad.any():
        cells = [_cell(frame[cols[j]].to_numpy()[i], cols[j], i) for i, j in zip(*np.nonzero(bad))]
        raise DataError(
            f"The {name} table's one-hot columns must hold only 0 and 1, not {{cells}}.",
            "Each one-hot column is 1 for rows of its class and 0 otherwise.",
            cells=few(cells),
        )
    hits = block.sum(axis=1)
    several = hits > 1
    if several.any():
        raise DataError(
            f"The {name} table has one-hot rows with more than one 1 ({_rows(several)}).",
            "Each image needs exactly one class, or none (a row of zeros) for an unlabeled image.",
        )
    return np.where(hits == 1, block.argmax(axis=1), UNLABELED).astype(np.int64)


def _cell(value, col: str, row: int) -> Words:
    """'2 in column "three" (row 3)': a table cell, its column and its row counted from 1, in each language."""
    value = value.item() if hasattr(value, "item") else value
    return Words(*(f"{literal(value, lang)} in column {literal(col, lang)} (row {row + 1})" for lang in ("python", "r")))


def check_classes(classes: Sequence[str] | None) -> tuple[str, ...] | None:
    """Class names as strings: at least two, each once."""
    if classes is None:
        return None
    if isinstance(classes, str) or not isinstance(classes, Sequence):
        raise DataError("classes must be a list of class names, not {value}.", "For example {example}.",
                        value=classes if isinstance(classes, str) else kind(classes),
                        example=Setting("classes", ["CBB", "CBSD", "CGM", "CMD", "Healthy"]))
    names = tuple(str(c) for c in classes)
    if len(names) < 2:
        raise DataError("classes must name at least two classes, not {classes}.",
                        "A classifier tells two or more classes apart; list them all in class-id order.",
                        classes=list(names))
    repeated = [c for c in dict.fromkeys(names) if names.count(c) > 1]
    if repeated:
        raise DataError("classes names {repeated} more than once.", "Give each class once, in class-id order.",
                        repeated=few(repeated))
    return names


def _one_hot_classes(label_cols: list[str], classes: tuple[str, ...] | None) -> tuple[str, ...]:
    """The classes of one-hot columns: the columns' names, or `classes` naming them anew in the same order."""
    repeated = [c for c in dict.fromkeys(label_cols) if label_cols.count(c) > 1]
    if repeated:
        raise DataError("y_col names {repeated} more than once.", "Give each one-hot column once.", repeated=few(repeated))
    if classes is None:
        return check_classes(label_cols)
    reordered = set(classes) == set(label_cols) and list(classes) != list(label_cols)
    if len(classes) != len(label_cols) or reordered:
        raise DataError(
            "classes ({classes}) does not match the one-hot columns ({columns}).",
            "With one-hot labels the classes are the columns in order: leave classes out, or list them in y_col's order.",
            classes=list(classes), columns=list(label_cols),
        )
    return classes


def label_columns(y_col) -> list[str]:
    """The label columns y_col names: [] for None, [y_col] for one name, the names of a list of one-hot columns."""
    if y_col is None:
        return []
    if isinstance(y_col, str):
        return [y_col]
    names = list(y_col) if isinstance(y_col, (Sequence, np.ndarray)) else None
    if names is None or not all(isinstance(c, str) for c in names):
        raise DataError("y_col must be {forms}, not {value}.", "For example {label}, or {one_hot}.",
                        forms=Words("a column name, a list of one-hot column names, or None",
                                    "a column name, a vector of one-hot column names, or NULL"),
                        value=kind(y_col) if names is None else few(kind(c) for c in names if not isinstance(c, str)),
                        label=Setting("y_col", "label"), one_hot=Setting("y_col", ["CBB", "CBSD", "CMD"]))
    return names


UNLABELED = -1


def _rows(mask: np.ndarray) -> str:
    """'rows 3, 9, 12' for the True positions, counted from 1 (numbers read the same in R and Python)."""
    where = (np.flatnonzero(mask) + 1).tolist()
    return f"row{'s' if len(where) > 1 else ''} {literal(few(where))}"


def _is_missing(series: pd.Series) -> np.ndarray:
    missing = series.isna().to_numpy().copy()
    # CSV or R may give "" or "NA" for a missing label, as objects or (pandas 3) as its string dtype.
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype) or isinstance(
            series.dtype, pd.CategoricalDtype):
        text = series.astype(str).str.strip()
        missing |= text.isin(["", "NA", "NaN", "nan", "None"]).to_numpy()
    return missing
