"""Preparing a run: every check, once, before anything changes.

`prepare()` turns what the user passed (an `Options` and the models and tables)
into a frozen `Plan`: validated settings, resolved tables, the teacher source
and the image spec. It changes nothing: no seed is set, no variable is made,
no file is written, so a bad input raises DataError with the student untouched.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from ._tf import keras, tf
from .checks import (
    callback_list,
    check_labels_fit,
    check_model_fits,
    drop_bad_images,
    image_spec,
    label_layout,
    loss_settings,
    one_of,
    optimizer_recipe,
    verbosity,
    whole_number,
)
from .errors import DataError, Setting, Text, few, literal
from .features import FrozenPrefix, frozen_prefix, no_prefix_error
from .frames import Table, read_table, resolve_table
from .hint import Hint, layer_output
from .images import Augmentation, FileImages, ImageSpec
from .models import input_shape, load_model, output_kind, output_width, outputs_are_probabilities
from .teacher import ModelTeacher, TableTeacher, resolve_teacher


@dataclass(frozen=True)
class Options:
    """Everything distill() and train_scratch() take besides the models and the training table.

    The fields are the keyword arguments of distill(), with its defaults; see its
    docstring for what each means. train_scratch() leaves the teacher's at theirs.
    """

    directory: str | os.PathLike
    validation: object = None
    x_col: str = "image_id"
    y_col: object = "label"
    classes: object = None
    image_size: object = None
    rescale: float | None = None
    batch_size: int = 32
    epochs: int = 10
    steps_per_epoch: int | None = None
    validation_steps: int | None = None
    temperature: float = 3.0
    alpha: float = 0.1
    teacher_outputs: str = "auto"
    teacher_combine: str = "logits"
    teacher_precision: str = "auto"
    teacher_view: str = "same"
    hint: object = None
    student_outputs: str = "auto"
    optimizer: object = "adam"
    learning_rate: object = None
    augment: object = None
    last_batch: str = "keep"
    callbacks: object = None
    seed: int | None = None
    verbose: object = "auto"
    cache_teacher: object = "auto"
    cache_images: object = "auto"
    cache_features: object = "auto"
    cache_dir: str | os.PathLike | None = None
    on_bad_image: str = "error"
    checkpoint_dir: str | os.PathLike | None = None
    resume: bool = False
    strategy: object = None
    run_eagerly: bool = False


@dataclass(frozen=True)
class Settings:
    """The checked scalar settings of a run."""

    batch_size: int
    epochs: int
    steps_per_epoch: int | None
    validation_steps: int | None
    seed: int | None
    temperature: float
    alpha: float
    verbose: int
    last_batch: str
    cache_teacher: object
    cache_images: object
    cache_features: object
    augment: Augmentation | None
    teacher_view: str  # "same": the teacher sees the student's augmented view; "clean": the original image
    hint: Hint | None  # feature distillation: which layers to match
    optimizer: object  # an optimizer object, or its class (made under the strategy's scope)
    learning_rate: object
    callbacks: tuple
    cache_dir: str | None
    checkpoint_dir: str | None
    resume: bool
    strategy: tf.distribute.Strategy | None
    run_eagerly: bool


@dataclass(frozen=True)
class Plan:
    """A run, fully checked: what build() makes and Trainer.fit() trains."""

    mode: str  # "distill" or "scratch"
    settings: Settings
    student: keras.Model
    spec: ImageSpec
    student_probabilities: bool
    train: Table
    validation: Table | None
    n_classes: int
    teacher: ModelTeacher | TableTeacher | None = None
    options: Options = field(repr=False, default=None)
    teacher_spec: ImageSpec | None = None  # the teacher's own input size, read from the same files
    features: FrozenPrefix | None = None  # the student split at its frozen prefix, when its output may be cached

    @property
    def distilling(self) -> bool:
        return self.mode == "distill"

    @property
    def augmented(self) -> bool:
        return self.settings.augment is not None and not self.settings.augment.is_identity

    @property
    def teacher_follows_augmentation(self) -> bool:
        """Whether the teacher must see each step's augmented view (so its logits cannot be cached)."""
        return self.augmented and self.settings.teacher_view == "same"


def prepare(mode: str, student, teacher, train, options: Options) -> Plan:
    """Check everything about a run and return its Plan; raise DataError naming what is wrong."""
    settings = check_settings(options)
    student = load_model(student, role="student")
    spec = image_spec(student, options.image_size, options.rescale)
    outputs_are_probabilities(student, options.student_outputs, "student")  # a valid setting
    train_table, val_table = _tables(train, options)
    n_classes = len(train_table.classes) if train_table.classes else output_width(student)
    check_model_fits(student, spec, n_classes, "student")
    for table in (train_table, val_table):
        if table is not None:
            check_labels_fit(table, n_classes)
    source = teacher_spec = None
    if mode == "distill":
        source, teacher_spec = _teacher(teacher, options, spec, n_classes)
    else:
        train_table = train_table.subset(np.flatnonzero(train_table.labels >= 0))
        if len(train_table) == 0:
            raise DataError("The train table has no labeled rows: a scratch student needs labels.",
                            "Give rows with labels, or distill from a teacher, which also teaches on unlabeled rows.")
    train_table, val_table = drop_bad_images([train_table, val_table], options.on_bad_image)
    sample = _sample_inputs(train_table, spec)
    probabilities = output_kind(student, options.student_outputs, "student", sample)
    if isinstance(source, ModelTeacher):
        teacher_sample = sample if teacher_spec == spec else _sample_inputs(train_table, teacher_spec)
        source.probabilities = [output_kind(m, options.teacher_outputs, "teacher", teacher_sample) for m in source.models]
    plan = Plan(mode, settings, student, spec, probabilities, train_table, val_table, n_classes, source, options,
                teacher_spec)
    _check_combinations(plan)
    _warn_about_likely_mistakes(plan)
    return replace(plan, features=_frozen_prefix(plan, sample[:4]))


def _sample_inputs(table: Table, spec: ImageSpec, n: int = 16):
    """Model inputs for the first rows of the table, to see what the models return before training."""
    rows = np.arange(min(n, len(table)))
    (_, pixels), = FileImages(table.paths, spec).batches([rows])
    return spec.to_inputs(pixels)


def check_settings(options: Options) -> Settings:
    temperature, alpha = loss_settings(options.temperature, options.alpha)
    one_of(options.last_batch, "last_batch", ("keep", "drop"))
    one_of(options.cache_teacher, "cache_teacher", ("auto", True, False))
    one_of(options.cache_images, "cache_images", ("auto", True, False))
    one_of(options.cache_features, "cache_features", ("auto", True, False))
    one_of(options.resume, "resume", (True, False))
    one_of(options.run_eagerly, "run_eagerly", (True, False))
    one_of(options.teacher_view, "teacher_view", ("same", "clean"))
    if options.resume and options.checkpoint_dir is None:
        raise DataError("resume=True needs checkpoint_dir= to resume from.",
                        "Pass the checkpoint_dir of the run to continue.")
    if options.strategy is not None and not isinstance(options.strategy, tf.distribute.Strategy):
        raise DataError(f"strategy must be a tf.distribute.Strategy, not {type(options.strategy).__name__}.",
                        "For example tf.distribute.MirroredStrategy(), or None for one device.")
    optimizer, learning_rate = optimizer_recipe(options.optimizer, options.learning_rate)
    return Settings(
        batch_size=whole_number(options.batch_size, "batch_size"),
        epochs=whole_number(options.epochs, "epochs"),
        steps_per_epoch=whole_number(options.steps_per_epoch, "steps_per_epoch", allow_none=True),
        validation_steps=whole_number(options.validation_steps, "validation_steps", allow_none=True),
        seed=whole_number(options.seed, "seed", minimum=0, allow_none=True),
        temperature=temperature, alpha=alpha, verbose=verbosity(options.verbose),
        last_batch=options.last_batch, cache_teacher=options.cache_teacher, cache_images=options.cache_images,
        cache_features=options.cache_features, augment=Augmentation.coerce(options.augment),
        teacher_view=options.teacher_view, hint=Hint.coerce(options.hint), optimizer=optimizer, learning_rate=learning_rate,
        callbacks=tuple(callback_list(options.callbacks)),
        cache_dir=_path(options.cache_dir, "cache_dir"), checkpoint_dir=_path(options.checkpoint_dir, "checkpoint_dir"),
        resume=bool(options.resume), strategy=options.strategy, run_eagerly=bool(options.run_eagerly),
    )  # fmt: skip


def _path(value, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise DataError(f"{name} must be a folder path, not {{value}}.", value=value)
    return os.fspath(value)


def _tables(train, options: Options) -> tuple[Table, Table | None]:
    o = options
    train_table = resolve_table(train, directory=o.directory, x_col=o.x_col, y_col=o.y_col, classes=o.classes, name="train")
    if o.validation is None:
        return train_table, None
    val_classes = o.classes or train_table.classes
    frame = read_table(o.validation, name="validation")
    val_table = resolve_table(frame, directory=o.directory, x_col=o.x_col, y_col=label_layout(frame, o.y_col, val_classes),
                              classes=val_classes, name="validation")
    if val_table.n_labeled == 0:
        raise DataError("The validation table has no labeled rows to measure accuracy on.",
                        "Give validation rows with labels, or leave validation out.")
    return train_table, val_table


def _teacher(teacher, options: Options, spec: ImageSpec, n_classes: int):
    """The teacher source and the image spec it takes: its own size (read from the same files), else the student's."""
    source = resolve_teacher(teacher, outputs=options.teacher_outputs, combine=options.teacher_combine,
                             precision=options.teacher_precision, x_col=options.x_col)
    if not isinstance(source, ModelTeacher):
        if source.n_outputs[0] != n_classes:
            raise DataError(f"The teacher logits table has {source.n_outputs[0]} columns but the data has {n_classes} classes.",
                            "Give one logit column per class next to the id column.")
        return source, None
    sizes = {tuple(input_shape(m)[:2]) for m in source.models} - {(None, None)}
    if len(sizes) > 1:
        raise DataError("The teachers of the ensemble take different image sizes ({sizes}).",
                        "Give an ensemble whose members take one image size.", sizes=few(sorted(sizes)))
    teacher_spec = spec
    if sizes and sizes != {spec.size}:  # e.g. a 64x64 teacher for a 32x32 student
        height, width = sizes.pop()
        teacher_spec = replace(spec, height=height, width=width)
    for model in source.models:
        check_model_fits(model, teacher_spec, n_classes, "teacher")
    return source, teacher_spec


def _warn_about_likely_mistakes(plan: Plan) -> None:
    """Legal but probably not meant: a teacher smaller than its student, validation rows that are training rows."""
    teacher_params = getattr(plan.teacher, "params", None)
    student_params = int(plan.student.count_params())
    if teacher_params is not None and teacher_params < student_params:
        warnings.warn(f"The teacher ({teacher_params:,} parameters) is smaller than the student ({student_params:,}): "
                      "were they passed in the wrong order? distill(teacher, student, ...).", stacklevel=4)
    if plan.validation is not None:
        shared = sorted(set(plan.validation.ids) & set(plan.train.ids))
        if shared:
            warnings.warn(f"{len(shared)} validation images are also training images ({literal(few(shared))}): "
                          "validation accuracy will read higher than on unseen images.", stacklevel=4)


def _check_hint(plan: Plan) -> None:
    """A hint needs one teacher model with layers, run live, and layers that exist."""
    s, hint = plan.settings, plan.settings.hint
    if not isinstance(plan.teacher, ModelTeacher) or len(plan.teacher.models) != 1:
        raise DataError("A hint matches a layer of one teacher model, and the teacher is {what}.",
                        "Pass the teacher model itself, or leave hint out.",
                        what=Text("precomputed logits" if isinstance(plan.teacher, TableTeacher) else "an ensemble"))
    if s.strategy is not None:
        raise DataError("hint does not work under a tf.distribute strategy yet.", "Leave hint out under a strategy.")
    if s.cache_teacher is True:
        raise DataError("cache_teacher=True cannot apply with a hint: the teacher's layer is read every step.",
                        "Pass {auto}.", auto=Setting("cache_teacher", "auto"))
    layer_output(plan.teacher.models[0], hint.teacher_layer, "teacher")
    layer_output(plan.student, hint.student_layer, "student")


def _frozen_prefix(plan: Plan, sample) -> FrozenPrefix | None:
    """The student split at the end of its frozen prefix, if cache_features allows it and it can apply.

    sample: a few model inputs, on which the prefix must compute the same in training and in
    inference, whatever its layers claim (a custom layer drawing random numbers would not).
    """
    setting = plan.settings.cache_features
    if setting is False:
        return None
    insist, auto = Setting("cache_features", True), Setting("cache_features", "auto")
    blocked = None
    if plan.settings.hint is not None:
        blocked = DataError("{insist} cannot apply with a hint: the hint term reads the student's layer from the "
                            "images every step.", "Pass {auto}.", insist=insist, auto=auto)
    elif plan.augmented:
        blocked = DataError("{insist} needs {none}: augmented images change every feature every step.",
                            "Pass {auto} to cache only when it applies.", insist=insist, none=Setting("augment", None),
                            auto=auto)
    elif plan.settings.strategy is not None:
        blocked = DataError("{insist} does not work under a tf.distribute strategy yet.",
                            "Pass {auto}, which trains the whole student under a strategy.", insist=insist, auto=auto)
    elif isinstance(plan.teacher, ModelTeacher) and plan.settings.cache_teacher is False:
        blocked = DataError("{insist} needs the teacher's logits cached: with {off} the teacher reads the "
                            "images every step, and the step would have only features.",
                            "Pass {teacher} as well, or {auto}.", insist=insist, off=Setting("cache_teacher", False),
                            teacher=Setting("cache_teacher", "auto"), auto=auto)
    if blocked is not None:
        if setting is True:
            raise blocked
        return None
    split, reason = frozen_prefix(plan.student)
    if split is not None and not split.same_in_training(sample):
        split, reason = None, f"its layers up to {split.ends_at} compute other values in training than in inference"
    if split is None:
        if setting is True:
            raise no_prefix_error(plan.student, reason)
        return None
    image = plan.spec.height * plan.spec.width * plan.spec.channels
    if setting == "auto" and split.row_bytes(plan.spec) > 4 * image:
        return None  # features larger than the image they come from: reading them back costs more
    return split


def _check_combinations(plan: Plan) -> None:
    if plan.settings.hint is not None:
        _check_hint(plan)
    if plan.distilling and plan.settings.alpha == 1.0 and plan.train.n_labeled == 0:
        raise DataError("alpha=1 learns from the labels alone, and the train table has no labeled rows.",
                        "Lower alpha so the student learns from the teacher (the default is 0.1), or give labels.")
    mixing = plan.settings.augment.batch_mixing if plan.augmented else None  # "mixup", "cutmix" or None
    if plan.settings.strategy is not None and mixing:
        raise DataError(f"{mixing} does not work under a tf.distribute strategy yet: each replica holds only its share "
                        "of a batch, so the mixtures would depend on the number of replicas.",
                        f"Leave {mixing} at 0 under a strategy.")
    if plan.settings.teacher_view == "clean" and mixing:
        raise DataError("{clean} gives the teacher's logits of the original images, and a mixed image has no original.",
                        f"Leave {mixing} at 0 with {{clean}}, or use {{same}} (the teacher sees the mixture).",
                        clean=Setting("teacher_view", "clean"), same=Setting("teacher_view", "same"))
    if plan.settings.cache_teacher is True and plan.teacher_follows_augmentation:
        raise DataError("cache_teacher=True needs augment=None: augmented images change the teacher's logits every step.",
                        "Pass {auto} to cache only when it is exact, or {clean} for the teacher's logits of the "
                        "original images.", auto=Setting("cache_teacher", "auto"), clean=Setting("teacher_view", "clean"))
    if isinstance(plan.teacher, TableTeacher) and plan.teacher_follows_augmentation:
        raise DataError("Precomputed teacher logits cannot follow augmented images.",
                        "Use augment=None, pass the teacher model itself, or {clean} to use them for the "
                        "original images.", clean=Setting("teacher_view", "clean"))
