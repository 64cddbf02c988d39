"""A model's class names, in the order of its outputs.

distill() and train_scratch() record them in the student, classifier(classes=) in a new
model; save_model()/load_model(), save_weights()/load_weights() and export() keep them in
the file (an entry of the .keras zip, an attribute of the .h5 file, the .tflite file's
metadata), so that predictions carry names and a table whose classes are in another order
is matched by name or refused, never silently renamed. Keras itself reads none of these
places: a file written by pykd loads in plain Keras as before.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from .._tf import keras
from ..core import storage
from ..core.errors import DataError, Setting, Words
from ..data.frames import Table
from ..data.labels import check_classes
from .introspection import keras_model, output_width

_ATTRIBUTE = "_pykd_classes"
KERAS_ENTRY = "pykd.json"  # in a .keras file, beside Keras' config.json and model.weights.h5
H5_ATTRIBUTE = "pykd_classes"  # on the root group of an .h5 or .weights.h5 file
TFLITE_METADATA = "pykd_classes"  # a named metadata buffer of a .tflite flatbuffer


def classes_of(model) -> tuple[str, ...] | None:
    """The class names `model` was trained with, in output order; None when it does not know them.

    model: a Keras model, or the path of a file pykd wrote (.keras, .h5, .weights.h5, .tflite; local or a URL).
    """
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not storage.isfile(path):
            raise DataError("The model file {path} does not exist.", "Check the path.", path=path)
        if path.lower().endswith(".tflite"):
            return tflite_classes(storage.read_bytes(path))
        with storage.local_copy(path) as local:
            return read_from_file(local)
    return getattr(model, _ATTRIBUTE, None)


def set_classes(model: keras.Model, classes: Sequence[str] | None) -> keras.Model:
    """Record the class names of `model`'s outputs (None forgets them); returns the model."""
    keras_model(model)  # a path or another object is refused, saying what to pass
    classes = check_classes(classes)
    if classes is not None:
        width = output_width(model)
        if width is not None and width != len(classes):
            raise DataError(f"The model {{name}} has {width} outputs, but {{n}} class names were given: {{classes}}.",
                            "Give one class name per output, in output order.", name=model.name,
                            n=len(classes), classes=list(classes))
    object.__setattr__(model, _ATTRIBUTE, classes)  # not a Keras-tracked attribute: no weights, no config
    return model


def write_to_file(path: str | os.PathLike, classes: Sequence[str] | None) -> None:
    """Add the class names to a local .keras, .h5 or .weights.h5 file Keras has just written."""
    if classes is None:
        return
    path = os.fspath(path)
    if path.lower().endswith(".keras"):
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(KERAS_ENTRY, json.dumps({"classes": list(classes)}))
    else:
        import h5py

        with h5py.File(path, "a") as f:
            f.attrs[H5_ATTRIBUTE] = json.dumps(list(classes))


def read_from_file(path: str | os.PathLike) -> tuple[str, ...] | None:
    """The class names in a local model or weights file pykd wrote, or None."""
    path = os.fspath(path)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                if KERAS_ENTRY not in archive.namelist():
                    return None
                return tuple(json.loads(archive.read(KERAS_ENTRY))["classes"])
        import h5py

        with h5py.File(path, "r") as f:
            value = f.attrs.get(H5_ATTRIBUTE)
        return None if value is None else tuple(json.loads(value))
    except (OSError, KeyError, ValueError):  # not a file pykd wrote: no names
        return None


def tflite_with_classes(flatbuffer: bytes, classes: Sequence[str] | None) -> bytes:
    """A .tflite flatbuffer with the class names in its metadata (as the converter keeps its own there)."""
    if classes is None:
        return flatbuffer
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(list(classes)).encode(), dtype=np.uint8)
    model.buffers = [*(model.buffers or []), buffer]
    entry = schema.MetadataT()
    entry.name, entry.buffer = TFLITE_METADATA, len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def tflite_classes(flatbuffer: bytes) -> tuple[str, ...] | None:
    """The class names export() wrote into a .tflite flatbuffer, or None."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAs(flatbuffer, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() is not None and entry.Name().decode() == TFLITE_METADATA:
            return tuple(json.loads(model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()))
    return None


def check_given(given: Sequence[str] | None, known: tuple[str, ...] | None, what: str = "model") -> None:
    """Refuse `classes=` (or R's factor levels) that contradict the classes the model was trained with."""
    given = check_classes(given)
    if given is None or known is None or given == known:
        return
    raise DataError(f"{{named}} {{given}}, but the {what} was trained with the classes {{known}}"
                    + (" (the same names in another order)." if set(given) == set(known) else "."),
                    "Leave classes out to use the model's own, or give them in its order ({example}){factor}.",
                    named=Words("classes is", "classes (or the levels of a factor label column) is"),
                    given=list(given), known=list(known), example=Setting("classes", list(known)),
                    factor=Words("", "; relevel a factor with factor(x, levels = rkd_classes(model))"))


def in_order(table: Table, known: tuple[str, ...] | None, what: str = "model") -> Table:
    """`table` with its class ids in the order `known` (the model's classes), matched by name.

    A table without names takes the model's (its labels are then class ids in the model's
    order); one naming some of them (a test folder without one class) is read by name; one naming
    classes the model does not know is refused, naming both.
    """
    if known is None or table.classes == known:
        return table
    if table.classes is None:
        return replace(table, classes=known)
    unknown = [name for name in table.classes if name not in known]
    if unknown:  # a table with some of the model's classes is read by name; one naming others is refused
        raise DataError(f"The {table.name} table's classes are {{table}}, but the {what} was trained with {{known}}.",
                        f"Give the {table.name} table the {what}'s classes, or a {what} trained on these.",
                        table=list(table.classes), known=list(known))
    position = {name: i for i, name in enumerate(known)}
    remap = np.array([position[name] for name in table.classes], dtype=np.int64)
    labels = np.where(table.labels >= 0, remap[np.maximum(table.labels, 0)], table.labels)
    return replace(table, labels=labels, classes=known)
