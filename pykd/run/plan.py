"""Preparing a run: every check, once, before anything changes.

`prepare()` turns what the user passed (the `Options` and the models and tables)
into a frozen `Plan`: checked settings, resolved tables, the teacher source and
the image spec. It changes nothing: no seed is set, no variable is made, no file
is written, so a bad input raises DataError with the student untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .._tf import keras
from ..core.errors import DataError, Words, few
from ..data.bad_images import drop_bad_images
from ..data.frames import Table, check_labels_fit, resolve_table
from ..data.images import ImageSpec
from ..data.sources import as_tables
from ..data.stream import steps_per_pass
from ..data.weights import class_weights, row_weights
from ..kd.teacher import ModelTeacher, TableTeacher, resolve_teacher
from ..models.classes import classes_of, in_order
from ..models.inputs import check_model_fits, image_spec
from ..models.introspection import PROBABILITY_ROWS, input_shape, output_kind, outputs_are_probabilities
from ..models.loading import load_model
from .agreement import warn_if_reordered
from .features import FrozenPrefix, LivePrefix
from .inputs import class_count, labeled_table, sample_inputs
from .options import Options, checked
from .rules import cached_prefix, check_combinations, running_prefix, warn_about_likely_mistakes


@dataclass(frozen=True, kw_only=True)
class Plan:
    """A run, fully checked: what build() makes and Trainer.fit() trains."""

    mode: str  # "distill" or "scratch"
    settings: Options  # every option, checked (pykd.run.options.checked)
    student: keras.Model
    spec: ImageSpec
    student_probabilities: bool
    train: Table
    validation: Table | None
    n_classes: int
    teacher: ModelTeacher | TableTeacher | None = None
    teacher_spec: ImageSpec | None = None  # the teacher's own input size, read from the same files
    features: FrozenPrefix | None = None  # the student split at its frozen prefix, when its output may be cached
    live_prefix: LivePrefix | None = None  # the frozen prefix run apart each step (augmented)

    @property
    def distilling(self) -> bool:
        return self.mode == "distill"

    @property
    def augmented(self) -> bool:
        return self.settings.augment is not None and not self.settings.augment.is_identity

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch: as given, or one pass over the training rows."""
        s = self.settings
        return s.steps_per_epoch or steps_per_pass(len(self.train), s.batch_size, s.last_batch)

    @property
    def teacher_follows_augmentation(self) -> bool:
        """Whether the teacher must see each step's augmented view (so its logits cannot be cached)."""
        return self.augmented and self.settings.teacher_view == "same"


def prepare(mode: str, student, teacher, train, options: Options) -> Plan:
    """Check everything about a run and return its Plan; raise DataError naming what is wrong."""
    s = checked(options)
    train, s = as_tables(train, s)  # a folder of class subfolders, or arrays
    student = load_model(student, role="student")
    if s.classes is None and isinstance(s.y_col, str):  # text labels are then read by the names the models know
        s = replace(s, classes=_known_classes(student, teacher))
    spec = image_spec(student, s.image_size, s.rescale)
    outputs_are_probabilities(student, s.student_outputs, "student")  # a valid setting
    train_table, val_table = _tables(train, s)
    n_classes = class_count(train_table, student)
    check_model_fits(student, spec, n_classes, "student")
    for table in (train_table, val_table):
        if table is not None:
            check_labels_fit(table, n_classes)
    # Per row (before any reordering of class ids): weight_col times class_weight, as fit() weighs rows.
    train_table = replace(train_table, weights=row_weights(train_table, class_weights(s.class_weight, n_classes,
                                                                                      train_table.classes)))
    source = teacher_spec = None
    if mode == "distill":
        source, teacher_spec = _teacher(teacher, s, spec, n_classes)
    else:
        train_table = train_table.subset(np.flatnonzero(train_table.labels >= 0))
        if len(train_table) == 0:
            raise DataError("The train table has no labeled rows: a scratch student needs labels.",
                            "Give rows with labels, or distill from a teacher, which also teaches on unlabeled rows.")
    train_table, val_table = _in_class_order(student, source, train_table, val_table)
    train_table, val_table = drop_bad_images([train_table, val_table], s.on_bad_image)
    sample = sample_inputs(train_table, spec)
    rows = lambda spec: lambda: sample_inputs(train_table, spec, PROBABILITY_ROWS)  # noqa: E731 (read only if needed)
    probabilities = output_kind(student, s.student_outputs, "student", sample, rows(spec))
    if isinstance(source, ModelTeacher):
        teacher_sample = sample if teacher_spec == spec else sample_inputs(train_table, teacher_spec)
        source.probabilities = [output_kind(m, s.teacher_outputs, "teacher", teacher_sample, rows(teacher_spec))
                                for m in source.models]
        source.settle_precision(teacher_sample)  # bfloat16 where it can, else float32 with a warning
    plan = Plan(mode=mode, settings=s, student=student, spec=spec, student_probabilities=probabilities,
                train=train_table, validation=val_table, n_classes=n_classes, teacher=source, teacher_spec=teacher_spec)
    check_combinations(plan)
    warn_about_likely_mistakes(plan)
    warn_if_reordered(plan)
    plan = replace(plan, features=cached_prefix(plan, sample[:4]))
    return replace(plan, live_prefix=running_prefix(plan, sample[:4]))


def _tables(train, s: Options) -> tuple[Table, Table | None]:
    train_table = resolve_table(train, directory=s.directory, x_col=s.x_col, y_col=s.y_col, classes=s.classes,
                                name="train", weight_col=s.weight_col)
    if s.validation is None:
        return train_table, None
    val_table = labeled_table(s.validation, directory=s.directory, x_col=s.x_col, y_col=s.y_col,
                              classes=s.classes or train_table.classes, name="validation")
    if val_table.n_labeled == 0:
        raise DataError("The validation table has no labeled rows to measure accuracy on.",
                        "Give validation rows with labels, or leave validation out.")
    return train_table, val_table


def _known_classes(student, teacher) -> tuple[str, ...] | None:
    """The classes the student knows, else those a teacher model passed as an object knows (paths load later)."""
    members = teacher if isinstance(teacher, (list, tuple)) else [teacher]
    return classes_of(student) or next((classes_of(m) for m in members if isinstance(m, keras.Model)
                                        and classes_of(m) is not None), None)


def _in_class_order(student, source, *tables: Table | None) -> list[Table | None]:
    """The tables with their class ids in the order of the classes the models know (pykd.models.classes),
    matched by name; models that know different orders are refused."""
    teachers = source.models if isinstance(source, ModelTeacher) else []
    known = known_order(student, teachers)
    if known is None:
        return list(tables)
    role, order = known
    forget = Words("pykd.models.set_classes(student, None)", "rkd_set_classes(student, NULL)")
    named = tables[0].classes
    unnamed_teacher = source is not None and (not teachers or any(classes_of(m) is None for m in teachers))
    if unnamed_teacher and named is not None and named != order:
        # Its outputs are read in the table's order: reordering the table would mismatch them.
        raise DataError("The student knows its classes in the order {order}, but the teacher does not know its "
                        "own, so its outputs are read in the table's order {named}.",
                        "Name the teacher's outputs with {name_teacher}, or let the student forget its classes "
                        "with {forget}.", order=list(order), named=list(named), forget=forget,
                        name_teacher=Words("pykd.models.set_classes(teacher, [...])",
                                           "rkd_set_classes(teacher, c(...))"))
    return [None if table is None else in_order(table, order, role) for table in tables]


def known_order(student, teachers) -> tuple[str, tuple[str, ...]] | None:
    """(which model, the classes) the student and teachers know, in order (None: no model knows them);
    models that know different orders are refused."""
    known = [(role, classes) for role, classes in [("student", classes_of(student)),
                                                   *[("teacher", classes_of(m)) for m in teachers]] if classes]
    if not known:
        return None
    (role, order), *others = known
    forget = Words("pykd.models.set_classes(student, None)", "rkd_set_classes(student, NULL)")
    for other, classes in others:
        if classes != order:
            raise DataError(f"The {role} knows the classes {{order}}, the {other} {{classes}}.",
                            "Give models trained on the same classes in the same order, or let the student forget "
                            "its own with {forget}.", order=list(order), classes=list(classes), forget=forget)
    return role, order


def _teacher(teacher, s: Options, spec: ImageSpec, n_classes: int):
    """The teacher source and the image spec it takes: its own size (read from the same files), else the student's."""
    source = resolve_teacher(teacher, outputs=s.teacher_outputs, combine=s.teacher_combine,
                             precision=s.teacher_precision, x_col=s.x_col)
    if not isinstance(source, ModelTeacher):
        if source.n_outputs[0] != n_classes:
            raise DataError(f"The teacher logits table has {source.n_outputs[0]} columns but the data has {n_classes} classes.",
                            "Give one logit column per class next to the id column.")
        return source, None
    teacher_spec = spec_of_teacher(source, spec)
    for model in source.models:
        check_model_fits(model, teacher_spec, n_classes, "teacher")
    return source, teacher_spec


def spec_of_teacher(source: ModelTeacher, spec: ImageSpec) -> ImageSpec:
    """The images the teacher takes: the student's, at the teacher's own size where it has another (a 64x64
    teacher for a 32x32 student reads the same images at 64x64)."""
    sizes = {tuple(input_shape(m)[:2]) for m in source.models} - {(None, None)}
    if len(sizes) > 1:
        raise DataError("The teachers of the ensemble take different image sizes ({sizes}).",
                        "Give an ensemble whose members take one image size.", sizes=few(sorted(sizes)))
    if sizes and sizes != {spec.size}:
        height, width = sizes.pop()
        return replace(spec, height=height, width=width)
    return spec
