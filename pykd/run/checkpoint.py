"""Epoch-end checkpoints: written atomically, resumed exactly.

One file holds the student's variables (including dropout seed states), the
optimizer's, the augmenter's, the streams' positions and the history. It is
written to a temporary name and renamed, so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import zipfile
from typing import NamedTuple

import numpy as np

from .._tf import keras
from ..core import storage
from ..core.errors import DataError, Text

FILENAME = "pykd-checkpoint.npz"


def _values(variables) -> list[np.ndarray]:
    return [np.asarray(keras.ops.convert_to_numpy(v)) for v in variables]


def save(directory, *, parts: dict[str, list], meta: dict) -> str:
    """Write variables of each part ({"student": [...], ...}) and JSON meta atomically.

    The temporary file has a name of its own (two runs never share it) and is
    removed if writing fails, so a full disk leaves the last checkpoint as it was.
    """
    storage.makedirs(directory)
    arrays = {"meta": np.array(json.dumps(meta))}
    for name, variables in parts.items():
        for i, value in enumerate(_values(variables)):
            arrays[f"{name}/{i:05d}"] = value
    final = storage.join(directory, FILENAME)
    try:
        storage.remove_abandoned(final)
        with storage.atomic_file(final, fsync=True, seekable=True) as out:
            np.savez(out, **arrays)
    except OSError as err:
        raise OSError(err.errno, f"Could not write the checkpoint {final}: {err.strerror or err}") from err
    return final


def read_meta(directory) -> dict | None:
    """The JSON meta of the checkpoint in `directory`, or None if there is none."""
    saved = load(directory, meta_only=True)
    return None if saved is None else saved[0]


class Saved(NamedTuple):
    """A checkpoint as read: its JSON meta and each part's arrays ({"student": [...], ...})."""

    meta: dict
    values: dict[str, list[np.ndarray]]


def load(directory, *, meta_only: bool = False) -> Saved | None:
    """The last complete checkpoint in `directory`, or None if there is none."""
    path = storage.join(directory, FILENAME)
    if not storage.isfile(path):
        return None
    try:
        with np.load(storage.loadable(path), allow_pickle=False) as saved:
            meta = json.loads(str(saved["meta"]))
            parts: dict[str, list[np.ndarray]] = {}
            for key in [] if meta_only else sorted(k for k in saved.files if k != "meta"):
                name, _ = key.split("/")
                parts.setdefault(name, []).append(saved[key])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(
            "The checkpoint {file} cannot be read ({reason}): it is damaged.",
            "Delete it to start over, or resume from a copy you trust.", file=str(path), reason=Text(type(err).__name__),
        ) from err
    return Saved(meta, parts)


def check_shapes(variables, values: list[np.ndarray], what: str) -> None:
    """Refuse a checkpoint whose `what` has other variables than this run's (a changed model)."""
    variables = list(variables)
    if len(variables) != len(values) or any(tuple(v.shape) != a.shape for v, a in zip(variables, values)):
        raise DataError(f"The checkpoint's {what} does not match this run's {what}: was the model changed?",
                        "Resume with the model of that run, or use another checkpoint_dir.")


def restore(variables, values: list[np.ndarray], what: str) -> None:
    variables = list(variables)
    check_shapes(variables, values, what)
    for variable, value in zip(variables, values):
        variable.assign(value)
