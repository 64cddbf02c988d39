"""Loading models from Keras objects or .keras/.h5 files (local or on URLs), and
saving whole models.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .._tf import keras
from ..core import storage
from ..core.errors import DataError, Setting, Words, kind
from .classes import classes_of, read_from_file, set_classes, write_to_file
from .introspection import LOAD_MODEL, keras_model
from .weights import refuse_weights_only

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
SAVE_MODEL = Words("save_model()", "rkd_save_model()")


def load_model(model, *, role: str = "model") -> keras.Model:
    """A Keras model, or one loaded from a .keras/.h5 path (without its compile state).

    role: how error messages name the model ("teacher", "student", ...).
    """
    if isinstance(model, keras.Model):
        return model
    if isinstance(model, (str, os.PathLike)) and storage.is_url(os.fspath(model)):
        return _load_from_url(os.fspath(model), role)
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if path.is_dir() and (path / "saved_model.pb").is_file():
            raise DataError(f"The {role} {{path}} is a SavedModel folder, which pykd does not read back.",
                            "Give the .keras model it was exported from, or export a .tflite file to predict "
                            "and compare with.", path=str(path))
        if not path.is_file():
            raise DataError(f"The {role} file {{path}} does not exist.", "Check the path, or pass the model itself.",
                            path=str(path))
        if path.suffix.lower() not in MODEL_SUFFIXES:
            raise DataError(f"The {role} file {{path}} is not a .keras or .h5 model file.",
                            "Save whole models with {save} to a .keras file.", path=str(path), save=SAVE_MODEL)
        refuse_weights_only(path, role)
        try:
            return _read(path)
        except Exception as err:
            raise DataError(f"Could not load the {role} from {{path}}: {err}", path=str(path)) from err
    raise DataError(f"The {role} must be a Keras model or the path of a .keras or .h5 file, not {{value}}.",
                    "Build it with Keras, or load a saved one with {load}.", value=kind(model), load=LOAD_MODEL)


def _load_from_url(url: str, role: str) -> keras.Model:
    """A model file on a URL, read from a local copy (Keras reads local files); errors name the URL."""
    if not storage.isfile(url):
        raise DataError(f"The {role} file {{path}} does not exist.", "Check the path, or pass the model itself.", path=url)
    if not url.lower().endswith(MODEL_SUFFIXES):
        raise DataError(f"The {role} file {{path}} is not a .keras or .h5 model file.",
                        "Save whole models with {save} to a .keras file.", path=url, save=SAVE_MODEL)
    try:
        with storage.local_copy(url) as local:
            refuse_weights_only(local, role, shown=url)
            return _read(local)
    except DataError:
        raise
    except Exception as err:
        raise DataError(f"Could not load the {role} from {{path}}: {err}", path=url) from err

def _read(path) -> keras.Model:
    """The model in a local file, with the class names pykd saved beside its weights (pykd.models.classes)."""
    return set_classes(keras.models.load_model(path, compile=False), read_from_file(path))


def save_model(model: keras.Model, path: str | os.PathLike) -> str:
    """Save a whole model to a .keras (or legacy .h5) file, with its class names if it knows them; returns the path."""
    keras_model(model)
    if not isinstance(path, (str, os.PathLike)):
        raise DataError("The file to save to must be a path ending in .keras, not {value}.",
                        "For example {example}.", value=kind(path), example=Setting("path", "student.keras"))
    path = storage.tidy(path)
    if not path.endswith((".keras", ".h5")):
        raise DataError("Save models to a .keras (or .h5) file, not {path}.", "End the file name in .keras.", path=path)
    storage.makedirs(storage.parent(path))
    if not storage.is_url(path):
        model.save(path)
        write_to_file(path, classes_of(model))
        return path
    with tempfile.TemporaryDirectory(prefix="pykd-save-") as folder:  # Keras writes local files: uploaded after
        local = os.path.join(folder, storage.basename(path))
        model.save(local)
        write_to_file(local, classes_of(model))
        storage.upload(local, path)
    return path
