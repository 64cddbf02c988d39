"""Weights-only files: saving them (.weights.h5, or Keras 2's .h5 layout), loading
them into a model built the same way, and telling them from whole-model files.
"""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from pathlib import Path

from .._tf import keras
from ..core import storage
from ..core.errors import DataError, Text, Words
from .classes import classes_of, read_from_file, set_classes, write_to_file

WEIGHTS_SUFFIXES = (".weights.h5", ".h5", ".hdf5")
# The functions a fix names, in each language.
CLASSIFIER = Words("pykd.models.classifier()", "rkd_classifier()")
LOAD_WEIGHTS = Words("pykd.models.load_weights()", "rkd_load_weights()")


def _weights_file(path) -> Path:
    if not isinstance(path, (str, os.PathLike)) or not str(path).lower().endswith(WEIGHTS_SUFFIXES):
        raise DataError("Weights files end in .weights.h5 (or legacy .h5), not {path}.",
                        "End the file name in .weights.h5.", path=str(path))
    return Path(path)


def is_weights_only(path) -> bool:
    """True for a file that holds weights but no model: it needs a rebuilt model to load into."""
    path = Path(path)
    if path.name.lower().endswith(".weights.h5"):
        return True
    if path.suffix.lower() not in (".h5", ".hdf5") or not path.is_file():
        return False
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return "model_config" not in f.attrs
    except OSError:  # not HDF5 at all: loading it reports that
        return False


def refuse_weights_only(path, role: str = "model", shown: str | None = None) -> None:
    """Stop load_model() at a weights-only file, pointing to load_weights(); `shown`: the name to give it."""
    if is_weights_only(path):
        raise DataError(f"The {role} file {{path}} holds weights only, not a model.",
                        "Rebuild the model as it was saved (for example with {classifier}) and load the file "
                        "into it with {load_weights}.", path=shown or str(path), classifier=CLASSIFIER, load_weights=LOAD_WEIGHTS)


def save_weights(model: keras.Model, path) -> str:
    """Save only the weights (small, no architecture), to load into a rebuilt model; returns the path.

    model: the Keras model. path: a .weights.h5 file (Keras 3), or .h5 for Keras 2's layout; a local
    path or a URL (gs://...).
    """
    _weights_file(path)
    if storage.is_url(path):  # Keras and h5py write local files: written here, then uploaded
        with tempfile.TemporaryDirectory(prefix="pykd-weights-") as folder:
            local = os.path.join(folder, storage.basename(path))
            _save_local(model, Path(local))
            storage.upload(local, path)
        return path
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _save_local(model, path)
    return str(path)


def _save_local(model: keras.Model, path: Path) -> None:
    if path.name.lower().endswith(".weights.h5"):
        model.save_weights(path)
    else:
        import h5py
        from keras.src.legacy.saving import legacy_h5_format  # Keras 3 writes only .weights.h5 itself

        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)
    write_to_file(path, classes_of(model))


def load_weights(model: keras.Model, path) -> keras.Model:
    """Load a weights-only file into a model built the same way; on failure the model is unchanged.

    model: the Keras model to fill (in place; also returned).
    path: a .weights.h5 file, or a legacy .h5 (Keras 2 weights or a whole .h5 model).
    """
    _weights_file(path)
    if storage.is_url(path):
        if not storage.isfile(path):
            raise DataError("The weights file {path} does not exist.", "Check the path.", path=path)
        with storage.local_copy(path) as local:  # Keras and h5py read local files
            return _load_local(model, Path(local), shown=path)
    path = Path(path)
    if not path.is_file():
        raise DataError("The weights file {path} does not exist.", "Check the path.", path=str(path))
    return _load_local(model, path, shown=str(path))


def _load_local(model: keras.Model, path: Path, shown: str) -> keras.Model:
    before = model.get_weights()
    try:
        with warnings.catch_warnings():  # Keras warns per nested layer before it raises
            warnings.simplefilter("ignore")
            if not _load_legacy_by_name(model, path):
                model.load_weights(path)
    except Exception as err:
        model.set_weights(before)
        raise DataError("The weights in {path} do not fit the model {name}: {reason}",
                        "Build the model exactly as it was when the weights were saved.",
                        path=shown, name=model.name, reason=Text(_mismatch(err))) from err
    known = read_from_file(path)
    return set_classes(model, known) if known is not None else model


def _mismatch(err: Exception) -> str:
    """Keras' load_weights() error in one line: which layer, which shapes (not the variable's values)."""
    text = str(err)
    layer = re.search(r"object <(\w+) name=([^,>]+)", text)
    shapes = re.search(r"variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))", text)
    count = re.search(r"A total of (\d+) objects", text)
    if layer and shapes:
        more = f" ({count.group(1)} layers do not fit)" if count and count.group(1) != "1" else ""
        return (f"its layer {layer.group(2)} ({layer.group(1)}) has weights of shape {shapes.group(1)}, "
                f"the file {shapes.group(2)}{more}.")
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(err).__name__)
    return first.rstrip(":")[:300]


def _load_legacy_by_name(model: keras.Model, path: Path) -> bool:
    """Load a legacy .h5 file matching each layer's weights by their saved names; False (nothing
    loaded) when the file's layers and names are not exactly the model's, for Keras' own loader.

    Keras' legacy loader goes by order, and the order it writes is each layer's trainable weights
    first: a model saved after set_trainable(from_layer=...) would not load into one built afresh.
    By name it loads whatever was frozen when it was saved, and when it is loaded.
    """
    if path.name.lower().endswith(".weights.h5"):
        return False
    import h5py
    import numpy as np
    from keras.src.legacy.saving.legacy_h5_format import load_attributes_from_hdf5_group as attribute

    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in group.attrs:
            return False
        saved = [name for name in attribute(group, "layer_names") if attribute(group[name], "weight_names")]
        layers = [layer for layer in model.layers if layer.weights]
        if saved != [layer.name for layer in layers]:
            return False
        assignments = []
        for layer in layers:
            names = attribute(group[layer.name], "weight_names")
            variables = {_within(str(v.path), layer.name): v for v in layer.weights}
            keys = [_within(name, layer.name) for name in names]
            if len(set(keys)) != len(keys) or sorted(keys) != sorted(variables) or len(variables) != len(layer.weights):
                return False
            for name, key in zip(names, keys):
                value = np.asarray(group[layer.name][name])
                if tuple(value.shape) != tuple(variables[key].shape):
                    return False
                assignments.append((variables[key], value))
    for variable, value in assignments:
        variable.assign(value)
    return True


def _within(path: str, layer: str) -> str:
    """A weight's path within its layer: "sequential_1/out/kernel" in layer "out" is "kernel" (the
    outer model's name, which differs from build to build, left out)."""
    parts = path.split("/")
    return "/".join(parts[parts.index(layer) + 1:]) if layer in parts[:-1] else path
