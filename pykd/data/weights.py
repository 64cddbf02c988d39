"""Row weights, as Keras' sample_weight and class_weight: a column of per-row weights and
weights by class, multiplied into one weight per training row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..core.errors import DataError, Setting, few, kind, plural


def weight_column(frame: pd.DataFrame, weight_col: str | None, name: str) -> np.ndarray | None:
    """The per-row weights of `weight_col` (numbers >= 0, finite), or None without the setting."""
    if weight_col is None:
        return None
    if not isinstance(weight_col, str):
        raise DataError("weight_col must be the name of a column of row weights, not {value}.",
                        "For example {example}.", value=kind(weight_col), example=Setting("weight_col", "weight"))
    if weight_col not in frame.columns:
        raise DataError(f"The {name} table has no column {{col}} of row weights; its columns are {{present}}.",
                        "Set weight_col to the column of weights, or leave it out.", col=weight_col,
                        present=few(list(frame.columns)))
    values = pd.to_numeric(frame[weight_col], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        rows = (np.flatnonzero(bad) + 1).tolist()
        raise DataError(f"The {name} table's weights in {{col}} must be numbers >= 0; "
                        f"{plural(len(rows), 'row {rows} holds', 'rows {rows} hold')} {{values}}.",
                        "Give every row a weight (0 leaves a row out of the loss).", col=weight_col, rows=few(rows),
                        values=few(frame[weight_col][bad].tolist()))
    return values


def class_weights(class_weight, n_classes: int, classes: Sequence[str] | None) -> np.ndarray | None:
    """One weight per class id from `class_weight` (a mapping of class id or name to weight, or a
    sequence in class-id order), or None without the setting."""
    if class_weight is None:
        return None
    weights = np.ones(n_classes)
    if isinstance(class_weight, Mapping):
        for key, value in class_weight.items():
            weights[_class_id(key, n_classes, classes)] = _weight(value, key)
    elif isinstance(class_weight, (Sequence, np.ndarray)) and not isinstance(class_weight, str):
        if len(class_weight) != n_classes:
            raise DataError(f"class_weight gives {len(class_weight)} weights for {n_classes} classes.",
                            "Give one weight per class in class-id order, or a dict of class to weight.")
        weights = np.array([_weight(v, i) for i, v in enumerate(class_weight)])
    else:
        raise DataError("class_weight must be a dict of class to weight or one weight per class, not {value}.",
                        "For example {example}.", value=kind(class_weight),
                        example=Setting("class_weight", {"CBB": 1.0, "CMD": 5.0}))
    return weights


def _class_id(key, n_classes: int, classes) -> int:
    """A number is a class id (as Keras' class_weight); text is a class name, or an id written as text (R's
    names are always text: "0", "1") when no class has that name."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool) and 0 <= key < n_classes:
        return int(key)
    if isinstance(key, str) and classes is not None and key in classes:
        return list(classes).index(key)
    text = str(key).strip()
    if isinstance(key, str) and text.isdigit() and 0 <= int(text) < n_classes:
        return int(text)
    raise DataError("class_weight names the class {key}, which is not among the classes ({known}).",
                    "Name classes by their id (0 to {last}) or by their names.", key=key,
                    known=few(list(classes) if classes else list(range(n_classes))), last=n_classes - 1)


def _weight(value, key) -> float:
    try:
        weight = float(value)
    except (TypeError, ValueError):
        weight = float("nan")
    if not np.isfinite(weight) or weight < 0:
        raise DataError("class_weight gives the class {key} the weight {value}: weights are numbers >= 0.", key=key,
                        value=value)
    return weight


def row_weights(table, by_class: np.ndarray | None) -> np.ndarray | None:
    """The weight of each row of a frames.Table: its weight_col weight times its class's weight (unlabeled
    rows: 1); None when every row weighs 1."""
    if table.weights is None and by_class is None:
        return None
    weights = np.ones(len(table)) if table.weights is None else table.weights.astype(np.float64)
    if by_class is not None:
        labeled = table.labels >= 0
        weights = np.where(labeled, weights * by_class[np.maximum(table.labels, 0)], weights)
    return weights.astype(np.float32)
