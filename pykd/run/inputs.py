"""The table a model is trained on, scored on or run over, prepared one way for every entry
point: read, resolved (ids, files, labels, classes), the model's input spec and class
count, the model checked against both, and unreadable images refused or left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import DataError
from ..data.bad_images import drop_bad_images
from ..data.frames import Table, check_labels_fit, read_table, resolve_table
from ..data.images import FileImages, ImageSpec
from ..data.labels import label_layout
from ..data.sources import LABEL, as_table
from ..models.classes import check_given, in_order
from ..models.inputs import check_model_fits, image_spec
from ..models.introspection import output_width


@dataclass(frozen=True)
class Inputs:
    """A checked table and how its images are fed to the model."""

    table: Table
    spec: ImageSpec
    n_classes: int


def labeled_table(data, *, directory, x_col: str, y_col, classes, name: str) -> Table:
    """`data` resolved with the label layout it has: `y_col`, or the other one (one-hot columns named by
    `classes`, or a "label" column) when the table lacks `y_col` (see data.labels.label_layout)."""
    frame = read_table(data, name=name)
    return resolve_table(frame, directory=directory, x_col=x_col, y_col=label_layout(frame, y_col, classes, name),
                         classes=classes, name=name)


def table_in_model_order(data, known: tuple[str, ...] | None, *, directory, x_col: str, y_col, classes,
                         name: str, what: str = "model") -> Table:
    """labeled_table() for a model that knows its classes (`known`, else None): text labels and one-hot
    columns matched to them by name, class ids read in the model's order; a `classes` that contradicts
    them, or a table naming other classes, refused. `data` may also be a folder of class subfolders or
    (x, y) arrays, as distill() takes them. what: how messages name the model."""
    check_given(classes, known, what)
    # A folder's subfolders are matched to the model's classes by name; arrays' ids are positions in them.
    data, directory, found, own = as_table(data, directory=directory, classes=classes, name=name)
    if own:
        x_col, y_col, classes = "image_id", LABEL, found if found is not None or known is None else known
    one_hot = not isinstance(y_col, str)  # columns named by the classes: matched by name after reading
    table = labeled_table(data, directory=directory, x_col=x_col, y_col=y_col, name=name,
                          classes=classes if classes is not None or one_hot else known)
    return in_order(table, known, what)


def class_count(table: Table, model) -> int:
    """The table's classes when it names them, else the model's outputs."""
    return len(table.classes) if table.classes else output_width(model)


def model_inputs(model, table: Table, *, image_size, rescale, on_bad_image: str, role: str = "model",
                 labeled: bool = False) -> Inputs:
    """The table checked against `model` (a Keras model, or anything with its .name, .inputs and .outputs).

    labeled: the rows must include labeled ones (accuracy is measured on them).
    """
    spec = image_spec(model, image_size, rescale)
    n_classes = class_count(table, model)
    check_model_fits(model, spec, n_classes, role)
    check_labels_fit(table, n_classes)
    (table,) = drop_bad_images([table], on_bad_image)
    if labeled and table.n_labeled == 0:
        raise DataError(f"The {table.name} table has no labeled rows.", "Give rows with labels to measure accuracy on.")
    return Inputs(table, spec, n_classes)


def sample_inputs(table: Table, spec: ImageSpec, n: int = 16):
    """Model inputs for the first rows of the table, to see what a model returns before it trains or runs."""
    rows = np.arange(min(n, len(table)))
    (_, pixels), = FileImages(table.paths, spec).batches([rows])
    return spec.to_inputs(pixels)
