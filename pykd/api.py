"""Public entry points: distill(), train_scratch() and evaluate().

Every argument, table, image and model is checked here before the first step,
so a bad input raises DataError and changes nothing.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Sequence
from contextlib import nullcontext as _nullcontext

import numpy as np

from . import checkpoint
from ._tf import keras, tf
from .errors import DataError
from .frames import Table, read_table, resolve_table
from .history import History
from .images import Augmentation, ImageSpec, build_augmenter, find_bad_images, report_bad_images
from .loop import EpochPlan, StepSettings, Steps, run_test, train_epoch
from .stream import BatchStream
from .teacher import (
    ModelTeacher,
    TableTeacher,
    cached_logits,
    input_shape,
    load_model,
    output_width,
    outputs_are_probabilities,
    resolve_teacher,
)


# ---------------------------------------------------------------- arguments
def _whole(value, name: str, minimum: int = 1, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or value != int(value):
        raise DataError(f"{name} must be a whole number >= {minimum}, not {value!r}.")
    if value < minimum:
        raise DataError(f"{name} must be >= {minimum}, not {value!r}.")
    return int(value)


def _check_loss_settings(temperature, alpha) -> tuple[float, float]:
    if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature <= 0:
        raise DataError(f"temperature must be a number > 0, not {temperature!r}.")
    if not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise DataError(f"alpha must be a number in [0, 1] (it weights the hard-label loss), not {alpha!r}.")
    return float(temperature), float(alpha)


def _choice(value, name: str, allowed: Sequence) -> None:
    if value not in allowed:
        raise DataError(f"{name} must be one of {list(allowed)}, not {value!r}.")


def _image_spec(model: keras.Model, image_size, rescale) -> ImageSpec:
    """The input size: `image_size`, else the model's own; they must agree when both are set."""
    height, width, channels = input_shape(model)
    if channels not in (1, 3, 4):
        raise DataError(f"The student takes {channels} channels; pykd reads images as 1 (grayscale), 3 (RGB) or 4 (RGBA).")
    if image_size is not None:
        if isinstance(image_size, (int, float)) or len(image_size) != 2:
            raise DataError(f"image_size must be two numbers (height, width), not {image_size!r}.")
        size = (_whole(image_size[0], "image_size[0]"), _whole(image_size[1], "image_size[1]"))
        if (height, width) != (None, None) and (height, width) != size:
            raise DataError(f"image_size is {list(size)} but the student takes {height}x{width} images.")
        height, width = size
    if height is None or width is None:
        raise DataError("The student accepts any image size: pass image_size=(height, width).")
    if rescale is not None and (not isinstance(rescale, (int, float)) or not math.isfinite(rescale)):
        raise DataError(f"rescale must be a number (e.g. 1/255) or None, not {rescale!r}.")
    return ImageSpec(int(height), int(width), int(channels), None if rescale is None else float(rescale))


def _check_model_fits(model: keras.Model, spec: ImageSpec, n_classes: int, role: str) -> None:
    height, width, channels = input_shape(model)
    if (height is not None and height != spec.height) or (width is not None and width != spec.width):
        raise DataError(f"The {role} takes {height}x{width} images but the images are prepared as {spec.height}x{spec.width}.")
    if channels != spec.channels:
        raise DataError(f"The {role} takes {channels} channels but the student takes {spec.channels}.")
    width_out = output_width(model)
    if width_out != n_classes:
        raise DataError(f"The {role} outputs {width_out} classes but the data has {n_classes} classes.")


def _check_labels_fit(table: Table, n_classes: int) -> None:
    outside = table.labels >= n_classes
    if outside.any():
        rows = ", ".join(str(i + 1) for i in np.flatnonzero(outside)[:5])
        raise DataError(
            f"The {table.name} table has labels {sorted(set(table.labels[outside].tolist()))[:5]} "
            f"(rows {rows}) but the models output only {n_classes} classes (0..{n_classes - 1})."
        )


def _label_layout(frame, y_col, classes):
    """y_col for a table, switching between one label column and one-hot columns.

    A validation CSV often comes one-hot (CBB, CBSD, ...) while the training table
    has a label column, or the other way round: when the table lacks `y_col` but
    has the other layout's columns (the class names, or "label"), use those.
    """
    wanted = [y_col] if isinstance(y_col, str) else list(y_col)
    if all(c in frame.columns for c in wanted):
        return y_col
    if isinstance(y_col, str) and classes and all(c in frame.columns for c in classes):
        return list(classes)
    if not isinstance(y_col, str) and "label" in frame.columns:
        return "label"
    return y_col


def _make_optimizer(optimizer, learning_rate) -> keras.optimizers.Optimizer:
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer
    if not isinstance(learning_rate, (int, float)) or learning_rate <= 0:
        raise DataError(f"learning_rate must be a number > 0, not {learning_rate!r}.")
    try:
        kind = type(keras.optimizers.get(optimizer))
    except ValueError as err:
        raise DataError(f"Unknown optimizer {optimizer!r}: use a name such as 'adam' or 'sgd', or an optimizer.") from err
    return kind(learning_rate=float(learning_rate))


def _drop_bad_images(tables: list[Table | None], policy: str) -> list[Table | None]:
    _choice(policy, "on_bad_image", ("error", "skip"))
    paths = sorted({p for t in tables if t is not None for p in t.paths})
    bad_rows = find_bad_images(paths)
    bad_paths = {paths[i]: reason for i, reason in bad_rows.items()}
    report_bad_images({os.path.basename(p): r for p, r in bad_paths.items()}, policy)
    if not bad_paths:
        return tables
    kept = []
    for table in tables:
        if table is None:
            kept.append(None)
            continue
        good = np.array([p not in bad_paths for p in table.paths])
        if not good.any():
            raise DataError(f"Every image of the {table.name} table is unreadable.")
        kept.append(table.subset(np.flatnonzero(good)))
    return kept


def _digest(ids: Sequence[str]) -> str:
    """A stable fingerprint of the row ids (Python's own hash() changes per process)."""
    return hashlib.sha1("\n".join(ids).encode()).hexdigest()[:16]


def _clone(model: keras.Model) -> keras.Model:
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    return twin


def _progress_printer(verbose: int, title: str):
    if verbose != 1:
        return None
    bar: dict = {}

    def update(step: int, total: int) -> None:
        if "bar" not in bar:
            print(title)
            bar["bar"] = keras.utils.Progbar(total)
        bar["bar"].update(step)

    return update


# ---------------------------------------------------------------- the run
def _fit(
    *,
    mode: str,
    student,
    teacher,
    train,
    directory,
    validation,
    x_col,
    y_col,
    classes,
    image_size,
    rescale,
    batch_size,
    epochs,
    steps_per_epoch,
    validation_steps,
    temperature,
    alpha,
    teacher_outputs,
    teacher_combine,
    student_outputs,
    optimizer,
    learning_rate,
    augment,
    last_batch,
    callbacks,
    seed,
    verbose,
    cache_teacher,
    cache_dir,
    on_bad_image,
    checkpoint_dir,
    resume,
    strategy,
) -> History:
    started = time.perf_counter()
    batch_size = _whole(batch_size, "batch_size")
    epochs = _whole(epochs, "epochs")
    steps_per_epoch = _whole(steps_per_epoch, "steps_per_epoch", allow_none=True)
    validation_steps = _whole(validation_steps, "validation_steps", allow_none=True)
    seed = _whole(seed, "seed", minimum=0, allow_none=True)
    temperature, alpha = _check_loss_settings(temperature, alpha)
    _choice(verbose, "verbose", (0, 1, 2))
    _choice(last_batch, "last_batch", ("keep", "drop"))
    _choice(cache_teacher, "cache_teacher", ("auto", True, False))
    augment = Augmentation.coerce(augment)
    if resume and checkpoint_dir is None:
        raise DataError("resume=True needs checkpoint_dir= to resume from.")
    if strategy is not None and not isinstance(strategy, tf.distribute.Strategy):
        raise DataError(f"strategy must be a tf.distribute.Strategy, not {type(strategy).__name__}.")

    student = load_model(student, role="student")
    spec = _image_spec(student, image_size, rescale)
    student_probabilities = outputs_are_probabilities(student, student_outputs, "student")
    train_table = resolve_table(train, directory=directory, x_col=x_col, y_col=y_col, classes=classes, name="train")
    val_table = None
    if validation is not None:
        val_classes = classes or train_table.classes
        val_frame = read_table(validation, name="validation")
        val_table = resolve_table(
            val_frame, directory=directory, x_col=x_col, y_col=_label_layout(val_frame, y_col, val_classes),
            classes=val_classes, name="validation",
        )
        if val_table.n_labeled == 0:
            raise DataError("The validation table has no labeled rows to measure accuracy on.")
    n_classes = len(train_table.classes) if train_table.classes else output_width(student)
    _check_model_fits(student, spec, n_classes, "student")
    for table in (train_table, val_table):
        if table is not None:
            _check_labels_fit(table, n_classes)

    source = None
    if mode == "distill":
        source = resolve_teacher(teacher, outputs=teacher_outputs, combine=teacher_combine, x_col=x_col)
        if isinstance(source, ModelTeacher):
            for model in source.models:
                _check_model_fits(model, spec, n_classes, "teacher")
        elif source.n_outputs[0] != n_classes:
            raise DataError(f"The teacher logits table has {source.n_outputs[0]} columns but the data has {n_classes} classes.")
    else:
        train_table = train_table.subset(np.flatnonzero(train_table.labels >= 0))
        if len(train_table) == 0:
            raise DataError("The train table has no labeled rows: a scratch student needs labels.")

    train_table, val_table = _drop_bad_images([train_table, val_table], on_bad_image)
    augmenter_wanted = augment is not None and not augment.is_identity
    if cache_teacher is True and augmenter_wanted:
        raise DataError("cache_teacher=True needs augment=None: augmented images change the teacher's logits every step.")
    if isinstance(source, TableTeacher) and augmenter_wanted:
        raise DataError("Precomputed teacher logits cannot follow augmented images: use augment=None or a teacher model.")

    # Everything is valid: from here on the run changes state.
    if seed is not None:
        keras.utils.set_random_seed(seed)
    user_student = student
    with strategy.scope() if strategy is not None else _nullcontext():
        if strategy is not None:  # variables must live under the strategy's scope
            student = _clone(student)
        augmenter = build_augmenter(augment, seed)
        if augmenter is not None:
            augmenter.build((None, spec.height, spec.width, spec.channels))
        opt = _make_optimizer(optimizer, learning_rate)
        opt.build(student.trainable_variables)

    cached = None
    teacher_fn = None
    if isinstance(source, TableTeacher):
        cached = source.lookup(train_table)
    elif isinstance(source, ModelTeacher):
        if cache_teacher is True or (cache_teacher == "auto" and augmenter is None):
            cached = cached_logits(
                source, train_table, spec, batch_size, cache_dir,
                _progress_printer(verbose, f"Teacher logits for {len(train_table)} images (computed once, reused every epoch)"),
            )
        else:
            if strategy is not None:
                with strategy.scope():
                    source = ModelTeacher([_clone(m) for m in source.models], outputs=teacher_outputs, combine=teacher_combine)
            teacher_fn = source.logits

    train_stream = BatchStream(len(train_table), batch_size, shuffle=True, seed=seed, last_batch=last_batch)
    steps = steps_per_epoch or train_stream.steps_per_pass
    val_stream = val_steps = None
    if val_table is not None:
        val_stream = BatchStream(len(val_table), batch_size, shuffle=False, seed=0, last_batch="keep")
        val_steps = validation_steps or val_stream.steps_per_pass

    settings = StepSettings(temperature, alpha if mode == "distill" else 1.0, student_probabilities, mode == "distill")
    compiled = Steps(
        student, opt, settings,
        train_labels=train_table.labels,
        test_labels=None if val_table is None else val_table.labels,
        teacher_logits_fn=teacher_fn,
        cached_teacher_logits=cached,
        augmenter=augmenter,
        strategy=strategy,
    )
    history = History(
        params={
            "mode": mode,
            "temperature": temperature if mode == "distill" else None,
            "alpha": alpha if mode == "distill" else 1.0,
            "batch_size": batch_size,
            "epochs": epochs,
            "steps_per_epoch": steps,
            "validation_steps": val_steps,
            "n_train": len(train_table),
            "n_labeled": train_table.n_labeled,
            "n_validation": 0 if val_table is None else len(val_table),
            "classes": None if train_table.classes is None else list(train_table.classes),
            "image_size": [spec.height, spec.width],
            "teacher_params": getattr(source, "params", None),
            "student_params": int(student.count_params()),
            "teacher_cache": cached is not None,
            "augmented": augmenter is not None,
            "last_batch": last_batch,
            "seed": seed,
            "replicas": 1 if strategy is None else int(strategy.num_replicas_in_sync),
        }
    )

    parts = {"student": student.variables, "optimizer": opt.variables}
    if augmenter is not None:
        parts["augmenter"] = augmenter.variables
    run_key = {"mode": mode, "batch_size": batch_size, "steps": steps, "n_train": len(train_table), "ids": _digest(train_table.ids)}
    start_epoch = 0
    if resume:
        saved = checkpoint.load(checkpoint_dir)
        if saved is not None:
            meta, values = saved
            if meta["run_key"] != run_key:
                raise DataError(
                    f"The checkpoint in {str(checkpoint_dir)!r} comes from a different run "
                    f"({meta['run_key']}), not this one ({run_key}); use another checkpoint_dir."
                )
            for name, variables in parts.items():
                checkpoint.restore(variables, values.get(name, []), name)
            train_stream.set_state(meta["train_stream"])
            if val_stream is not None and meta.get("val_stream"):
                val_stream.set_state(meta["val_stream"])
            history.records = meta["records"]
            start_epoch = len(history.records)

    callback_list = keras.callbacks.CallbackList(
        list(callbacks or []), add_progbar=verbose > 0, model=student, verbose=verbose, epochs=epochs, steps=steps
    )
    batch_logs = verbose == 1 or bool(callbacks)
    student.stop_training = False
    callback_list.on_train_begin()
    logs: dict = {}
    plan = EpochPlan(train_table.paths, train_stream, steps)
    for epoch in range(start_epoch, epochs):
        callback_list.on_epoch_begin(epoch)
        logs = train_epoch(compiled, plan, spec, callback_list, epoch, batch_logs)
        if val_table is not None:
            val = run_test(compiled, val_table.paths, val_stream, val_steps, spec)
            logs.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
        history.records.append({"epoch": epoch + 1, **logs})
        if checkpoint_dir is not None:
            checkpoint.save(
                checkpoint_dir,
                parts=parts,
                meta={
                    "run_key": run_key,
                    "records": history.records,
                    "train_stream": train_stream.get_state(),
                    "val_stream": None if val_stream is None else val_stream.get_state(),
                },
            )
        callback_list.on_epoch_end(epoch, dict(logs))
        if student.stop_training:
            break
    callback_list.on_train_end(dict(logs))
    if student is not user_student:
        user_student.set_weights(student.get_weights())
    history.params["seconds"] = round(time.perf_counter() - started, 3)
    history.params["stopped_early"] = len(history.records) < epochs
    return history


def distill(
    teacher,
    student,
    train,
    *,
    directory,
    validation=None,
    x_col: str = "image_id",
    y_col: str | Sequence[str] = "label",
    classes: Sequence[str] | None = None,
    image_size: Sequence[int] | None = None,
    rescale: float | None = None,
    batch_size: int = 32,
    epochs: int = 10,
    steps_per_epoch: int | None = None,
    validation_steps: int | None = None,
    temperature: float = 3.0,
    alpha: float = 0.1,
    teacher_outputs: str = "auto",
    optimizer="adam",
    learning_rate: float = 1e-3,
    augment: Augmentation | dict | None = None,
    last_batch: str = "keep",
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    seed: int | None = None,
    verbose: int = 1,
    cache_teacher="auto",
    cache_dir: str | os.PathLike | None = None,
    on_bad_image: str = "error",
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    teacher_combine: str = "logits",
    student_outputs: str = "auto",
    strategy: tf.distribute.Strategy | None = None,
) -> History:
    """Train `student` to match `teacher`'s softened predictions on a table of images.

    teacher: a Keras model, a .keras/.h5 path, a list of those (an ensemble whose
        logits, or probabilities with teacher_combine="probabilities", are averaged),
        or precomputed logits: a DataFrame/dict/CSV with `x_col` and one column per class.
    student: a Keras model or path; it is trained in place.
    train, validation: DataFrame, CSV path or dict of columns; `y_col` is one label
        column (NA = unlabeled) or a list of one-hot columns (all-zero row = unlabeled).
        Unlabeled rows learn from the teacher alone.
    The loss per row is alpha * hard + (1 - alpha) * T^2 * KL(teacher || student).
    strategy: a tf.distribute.Strategy (MirroredStrategy, MultiWorkerMirroredStrategy, ...);
        batch_size is then the global batch, split across replicas.
    Returns a History with one record per epoch.
    """
    return _fit(mode="distill", **{k: v for k, v in locals().items()})


def train_scratch(
    student,
    train,
    *,
    directory,
    validation=None,
    x_col: str = "image_id",
    y_col: str | Sequence[str] = "label",
    classes: Sequence[str] | None = None,
    image_size: Sequence[int] | None = None,
    rescale: float | None = None,
    batch_size: int = 32,
    epochs: int = 10,
    steps_per_epoch: int | None = None,
    validation_steps: int | None = None,
    optimizer="adam",
    learning_rate: float = 1e-3,
    augment: Augmentation | dict | None = None,
    last_batch: str = "keep",
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    seed: int | None = None,
    verbose: int = 1,
    on_bad_image: str = "error",
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    student_outputs: str = "auto",
    strategy: tf.distribute.Strategy | None = None,
) -> History:
    """The scratch baseline: the same loop with the hard-label loss only (alpha = 1, no teacher).

    Unlabeled rows carry no signal without a teacher, so they are left out.
    """
    return _fit(
        mode="scratch", teacher=None, temperature=1.0, alpha=1.0, teacher_outputs="auto",
        teacher_combine="logits", cache_teacher=False, cache_dir=None,
        **{k: v for k, v in locals().items()},
    )  # fmt: skip


def evaluate(
    model,
    data,
    *,
    directory,
    x_col: str = "image_id",
    y_col: str | Sequence[str] = "label",
    classes: Sequence[str] | None = None,
    image_size: Sequence[int] | None = None,
    rescale: float | None = None,
    batch_size: int = 32,
    model_outputs: str = "auto",
    on_bad_image: str = "error",
) -> dict:
    """The model's hard-label loss and accuracy over the labeled rows of `data`.

    Returns {"loss": float, "accuracy": float, "n": labeled rows}; the same numbers
    distill() reports as val_loss and val_accuracy on the same rows.
    """
    batch_size = _whole(batch_size, "batch_size")
    model = load_model(model)
    spec = _image_spec(model, image_size, rescale)
    frame = read_table(data, name="evaluation")
    table = resolve_table(frame, directory=directory, x_col=x_col, y_col=_label_layout(frame, y_col, classes),
                          classes=classes, name="evaluation")
    n_classes = len(table.classes) if table.classes else output_width(model)
    _check_model_fits(model, spec, n_classes, "model")
    _check_labels_fit(table, n_classes)
    (table,) = _drop_bad_images([table], on_bad_image)
    if table.n_labeled == 0:
        raise DataError("The evaluation table has no labeled rows.")
    settings = StepSettings(1.0, 1.0, outputs_are_probabilities(model, model_outputs, "model"), False)
    steps = Steps(model, None, settings, test_labels=table.labels)
    stream = BatchStream(len(table), batch_size, shuffle=False, seed=0)
    return run_test(steps, table.paths, stream, stream.steps_per_pass, spec)


__all__ = ["distill", "train_scratch", "evaluate", "tf"]
