"""Teacher logits computed ahead of time: a table keyed by image id.

Passing that table as `teacher` trains exactly as the live teacher would
without augmentation, and loads no teacher model at all. The out-of-fold
recipe trains k teachers and gives each image the logits of the teacher that
never saw it, so the student does not learn a teacher's memorised labels.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from .._tf import keras
from ..api import train_scratch
from ..core import storage
from ..core.errors import DataError, few
from ..core.hints import TableLike, TableOnly, TeacherLike
from ..core.validation import whole_number
from ..data.frames import resolve_table
from ..data.images import FileImages
from ..data.pipelines import check_pipeline_classes, image_batches, is_pipeline, refuse_table_options
from ..data.sources import as_table
from ..kd.logit_cache import compute_logits
from ..kd.teacher import ModelTeacher, resolve_teacher
from ..models.classes import check_given, classes_of
from ..models.inputs import check_model_fits, image_spec
from ..models.introspection import output_width
from ..run import options
from ..run.inputs import model_inputs, sample_inputs


def teacher_logits(
    teacher: TeacherLike,
    data: TableLike,
    *,
    directory: str | os.PathLike | None = None,
    x_col: str = "image_id",
    classes: Sequence[str] | None = None,
    image_size: Sequence[int] | None = None,
    rescale: float | None = None,
    batch_size: int = 32,
    on_bad_image: Literal["error", "skip"] = "error",
    teacher_outputs: Literal["auto", "logits", "probabilities"] = "auto",
    teacher_combine: Literal["logits", "probabilities"] = "logits",
    teacher_precision: Literal["auto", "float32", "bfloat16"] = "auto",
    path: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """A DataFrame of `x_col` plus one logit column per class (named by `classes`).

    teacher: a model, a path, or a list of them (ensemble). With `path`, the table
    is also written there as CSV (or as .npy plus a `.ids.txt` file for a .npy path).
    data: a table with an `x_col` column of image file names (labels are not needed), or a folder of
        class subfolders, (x, y) arrays or a tf.data.Dataset / keras.utils.PyDataset as distill() takes
        them (then without directory; a dataset's rows are numbered 0, 1, ... in its order).
    The columns are named by `classes`, else by the classes the teacher knows (pykd.models.classes_of),
    else logit_0, logit_1, ...

    Options:
    """
    o = options.checked_call("teacher_logits", locals())
    source = resolve_teacher(teacher, outputs=o.teacher_outputs, combine=o.teacher_combine, precision=o.teacher_precision)
    if not isinstance(source, ModelTeacher):
        raise DataError("teacher_logits() needs a teacher model (or a list of models), not a table.")
    widths = [output_width(model) for model in source.models]
    if len(set(widths)) > 1:
        raise DataError("The teachers of the ensemble output different numbers of classes ({widths}).",
                        "Give an ensemble whose members output one value per class each.", widths=few(widths))
    width = widths[0]
    if classes is not None and len(classes) != width:
        raise DataError(f"classes has {len(classes)} names but the teacher outputs {width} classes.",
                        "Give one name per teacher output, in class-id order.")
    known = classes_of(source.models[0])
    for model in source.models:
        check_given(classes, classes_of(model), "teacher")
        if classes_of(model) != known:  # averaging outputs that name other classes
            raise DataError("The teachers of the ensemble know their classes in different orders: {a} and {b}.",
                            "Give an ensemble whose members were trained on the same classes in the same order.",
                            a=list(known or ()), b=list(classes_of(model) or ()))
    if is_pipeline(data):
        values = _pipeline_logits(source, data, o)
        return _logits_frame(values, classes if classes is not None else known, list(range(len(values))),
                             o.x_col, path)
    data, directory, _, own = as_table(data, directory=o.directory, classes=classes, name="teacher")
    classes = classes if classes is not None else known  # columns named by the classes the teacher knows
    x_col = "image_id" if own else o.x_col  # a folder's or arrays' table names its images so
    table = resolve_table(data, directory=directory, x_col=x_col, y_col=None, name="teacher")
    inputs = model_inputs(source.models[0], table, image_size=o.image_size, rescale=o.rescale,
                          on_bad_image=o.on_bad_image, role="teacher")
    table, spec = inputs.table, inputs.spec
    for model in source.models[1:]:  # an ensemble's members take the first one's images and classes
        check_model_fits(model, spec, width, "teacher")
    source.settle_precision(sample_inputs(table, spec))
    values = compute_logits(source, FileImages(table.paths, spec), np.arange(len(table)), o.batch_size)
    return _logits_frame(values, classes, list(table.ids), x_col, path)


teacher_logits.__doc__ = options.with_docs(teacher_logits.__doc__, "teacher_logits")


def _pipeline_logits(source: ModelTeacher, data, o) -> np.ndarray:
    """The teacher's logits of a dataset's images, in its order (rows known by their position)."""
    refuse_table_options(vars(o), "teacher", names_rows=True)
    check_pipeline_classes(data, classes_of(source.models[0]), "teacher")
    spec = image_spec(source.models[0], o.image_size, o.rescale)
    parts = []
    for x, _ in image_batches(data, o.batch_size, "teacher", spec):
        x = spec.to_inputs(x)
        if not parts:
            source.settle_precision(x)
        parts.append(source.logits(x).numpy())
    return np.concatenate(parts).astype(np.float32)


def _logits_frame(values: np.ndarray, classes, ids: list, x_col: str, path) -> pd.DataFrame:
    names = [str(c) for c in classes] if classes is not None else [f"logit_{i}" for i in range(values.shape[1])]
    frame = pd.DataFrame(values, columns=names)
    frame.insert(0, x_col, ids)
    if path is not None:
        _write(frame, storage.tidy(path), x_col)
    return frame


def _write(frame: pd.DataFrame, path: str, x_col: str) -> None:
    """The logits as a CSV file, or a .npy file and its .ids.txt beside it; atomically, locally or on a URL."""
    storage.makedirs(storage.parent(path))
    if path.endswith(".npy"):
        with storage.atomic_file(path, seekable=True) as out:
            np.save(out, frame.drop(columns=[x_col]).to_numpy(np.float32))
        storage.write_bytes_atomic(path[:-len(".npy")] + ".ids.txt", ("\n".join(map(str, frame[x_col])) + "\n").encode())
    else:
        storage.write_bytes_atomic(path, frame.to_csv(index=False).encode())


def out_of_fold_logits(
    build_teacher: Callable[[], keras.Model],
    train: TableOnly,
    *,
    directory: str | os.PathLike,
    folds: int = 4,
    x_col: str = "image_id",
    y_col: str | Sequence[str] = "label",
    classes: Sequence[str] | None = None,
    seed: int = 0,
    path: str | os.PathLike | None = None,
    **train_options: object,
) -> pd.DataFrame:
    """Train `folds` teachers, each without one fold; return every row's logits from the one that did not see it.

    build_teacher: called once per fold for a fresh, untrained model.
    train: the labeled table (and unlabeled rows); directory, x_col, y_col, classes as for distill().
    folds: how many teachers (at least 2). seed: fixes the split and each teacher's training.
    path: also write the table there (CSV, or .npy plus .ids.txt).
    train_options: passed to train_scratch (epochs, batch_size, augment, ...).
    Unlabeled rows get the average logits of all fold teachers (none of them saw those labels).
    """
    folds = whole_number(folds, "folds", minimum=2)
    weight_col = train_options.get("weight_col")
    table = resolve_table(train, directory=directory, x_col=x_col, y_col=y_col, classes=classes, name="train",
                          weight_col=weight_col)
    frame = pd.DataFrame({x_col: list(table.ids), "label": table.labels})
    if table.weights is not None:  # the fold teachers' rows keep their weights
        frame[weight_col] = table.weights
    fold_of = np.random.default_rng(seed).permutation(len(frame)) % folds
    pieces, unlabeled = [], []
    unlabeled_rows = frame[frame.label < 0]
    # The teachers are scored as they were trained (image size, scale, batch, unreadable images).
    scoring = {o.name: train_options[o.name] for o in options.declared("teacher_logits") if o.name in train_options}
    for k in range(folds):
        fit_rows = frame[(fold_of != k) & (frame.label >= 0)]
        held = frame[(fold_of == k) & (frame.label >= 0)]
        teacher = build_teacher()
        train_scratch(teacher, fit_rows, directory=directory, x_col=x_col, classes=table.classes, seed=seed + k,
                      **train_options)
        if len(held):
            pieces.append(teacher_logits(teacher, held[[x_col]], directory=directory, x_col=x_col, classes=classes,
                                         **scoring))
        if len(unlabeled_rows):
            unlabeled.append(teacher_logits(teacher, unlabeled_rows[[x_col]], directory=directory, x_col=x_col,
                                            classes=classes, **scoring))
    if unlabeled:
        mean = unlabeled[0].copy()
        mean.iloc[:, 1:] = np.mean([u.iloc[:, 1:].to_numpy() for u in unlabeled], axis=0)
        pieces.append(mean)
    result = pd.concat(pieces, ignore_index=True).set_index(x_col).loc[list(table.ids)].reset_index()
    if path is not None:
        _write(result, storage.tidy(path), x_col)
    return result
