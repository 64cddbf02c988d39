"""Public entry points: distill(), train_scratch() and evaluate().

Every argument, table, image and model is checked here before the first step,
so a bad input raises DataError and changes nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from contextlib import nullcontext

import numpy as np

from . import checkpoint
from ._tf import keras, tf
from .checks import (
    check_labels_fit,
    check_model_fits,
    clone_model,
    digest,
    drop_bad_images,
    image_spec,
    label_layout,
    loss_settings,
    make_optimizer,
    one_of,
    progress_printer,
    whole_number,
)
from .errors import DataError
from .frames import read_table, resolve_table
from .history import History
from .image_cache import DecodedImages, image_source
from .images import Augmentation, FileImages, build_augmenter
from .loop import EpochPlan, Steps, StepSettings, run_test, train_epoch
from .stream import BatchStream
from .teacher import (
    ModelTeacher,
    TableTeacher,
    cached_logits,
    load_model,
    output_width,
    outputs_are_probabilities,
    resolve_teacher,
)


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
    teacher_precision,
    student_outputs,
    optimizer,
    learning_rate,
    augment,
    last_batch,
    callbacks,
    seed,
    verbose,
    cache_teacher,
    cache_images,
    cache_dir,
    on_bad_image,
    checkpoint_dir,
    resume,
    strategy,
) -> History:
    started = time.perf_counter()
    batch_size = whole_number(batch_size, "batch_size")
    epochs = whole_number(epochs, "epochs")
    steps_per_epoch = whole_number(steps_per_epoch, "steps_per_epoch", allow_none=True)
    validation_steps = whole_number(validation_steps, "validation_steps", allow_none=True)
    seed = whole_number(seed, "seed", minimum=0, allow_none=True)
    temperature, alpha = loss_settings(temperature, alpha)
    one_of(verbose, "verbose", (0, 1, 2))
    one_of(last_batch, "last_batch", ("keep", "drop"))
    one_of(cache_teacher, "cache_teacher", ("auto", True, False))
    one_of(cache_images, "cache_images", ("auto", True, False))
    augment = Augmentation.coerce(augment)
    if resume and checkpoint_dir is None:
        raise DataError("resume=True needs checkpoint_dir= to resume from.")
    if strategy is not None and not isinstance(strategy, tf.distribute.Strategy):
        raise DataError(f"strategy must be a tf.distribute.Strategy, not {type(strategy).__name__}.")

    student = load_model(student, role="student")
    spec = image_spec(student, image_size, rescale)
    student_probabilities = outputs_are_probabilities(student, student_outputs, "student")
    train_table = resolve_table(train, directory=directory, x_col=x_col, y_col=y_col, classes=classes, name="train")
    val_table = None
    if validation is not None:
        val_classes = classes or train_table.classes
        val_frame = read_table(validation, name="validation")
        val_table = resolve_table(
            val_frame, directory=directory, x_col=x_col, y_col=label_layout(val_frame, y_col, val_classes),
            classes=val_classes, name="validation",
        )
        if val_table.n_labeled == 0:
            raise DataError("The validation table has no labeled rows to measure accuracy on.")
    n_classes = len(train_table.classes) if train_table.classes else output_width(student)
    check_model_fits(student, spec, n_classes, "student")
    for table in (train_table, val_table):
        if table is not None:
            check_labels_fit(table, n_classes)

    source = None
    if mode == "distill":
        source = resolve_teacher(
            teacher, outputs=teacher_outputs, combine=teacher_combine, precision=teacher_precision, x_col=x_col
        )
        if isinstance(source, ModelTeacher):
            for model in source.models:
                check_model_fits(model, spec, n_classes, "teacher")
        elif source.n_outputs[0] != n_classes:
            raise DataError(f"The teacher logits table has {source.n_outputs[0]} columns but the data has {n_classes} classes.")
    else:
        train_table = train_table.subset(np.flatnonzero(train_table.labels >= 0))
        if len(train_table) == 0:
            raise DataError("The train table has no labeled rows: a scratch student needs labels.")

    train_table, val_table = drop_bad_images([train_table, val_table], on_bad_image)
    augmenter_wanted = augment is not None and not augment.is_identity
    if cache_teacher is True and augmenter_wanted:
        raise DataError("cache_teacher=True needs augment=None: augmented images change the teacher's logits every step.")
    if isinstance(source, TableTeacher) and augmenter_wanted:
        raise DataError("Precomputed teacher logits cannot follow augmented images: use augment=None or a teacher model.")

    # Everything is valid: from here on the run changes state.
    if seed is not None:
        keras.utils.set_random_seed(seed)
    user_student = student
    with strategy.scope() if strategy is not None else nullcontext():
        if strategy is not None:  # variables must live under the strategy's scope
            student = clone_model(student)
        augmenter = build_augmenter(augment, seed)
        if augmenter is not None:
            augmenter.build((None, spec.height, spec.width, spec.channels))
        opt = make_optimizer(optimizer, learning_rate)
        opt.build(student.trainable_variables)

    train_stream = BatchStream(len(train_table), batch_size, shuffle=True, seed=seed, last_batch=last_batch)
    steps = steps_per_epoch or train_stream.steps_per_pass
    val_stream = val_steps = None
    if val_table is not None:
        val_stream = BatchStream(len(val_table), batch_size, shuffle=False, seed=0, last_batch="keep")
        val_steps = validation_steps or val_stream.steps_per_pass
    teacher_pass = isinstance(source, ModelTeacher) and (
        cache_teacher is True or (cache_teacher == "auto" and augmenter is None))
    # Decoded once into a file when that pays (see image_cache); closed in the finally below.
    # Kept beside the checkpoint like the teacher's logits, so a resumed run reuses it.
    image_dir = cache_dir if cache_dir is not None else checkpoint_dir
    train_images = val_images = None
    try:
        train_images = image_source(
            cache_images, train_table.paths, spec, cache_dir=image_dir,
            passes=epochs * steps / train_stream.steps_per_pass + teacher_pass, batch_size=batch_size,
            progress=progress_printer(verbose, f"Decoding {len(train_table)} training images once"),
        )
        if val_table is not None:
            val_images = image_source(
                cache_images, val_table.paths, spec, cache_dir=image_dir,
                passes=epochs * val_steps / val_stream.steps_per_pass, batch_size=batch_size,
                progress=progress_printer(verbose, f"Decoding {len(val_table)} validation images once"),
            )
        cached = None
        teacher_fn = None
        if isinstance(source, TableTeacher):
            cached = source.lookup(train_table)
        elif isinstance(source, ModelTeacher):
            if teacher_pass:
                # A resumed run finds the logits beside its checkpoint instead of recomputing them.
                cached = cached_logits(
                    source, train_table, train_images, batch_size, cache_dir if cache_dir is not None else checkpoint_dir,
                    progress_printer(verbose, f"Teacher logits for {len(train_table)} images (once, reused every epoch)"),
                )
            else:
                if strategy is not None:
                    with strategy.scope():
                        twins = [clone_model(m) for m in source.models]
                        source = ModelTeacher(twins, outputs=teacher_outputs, combine=teacher_combine,
                                              precision=teacher_precision)
                teacher_fn = source.logits

        settings = StepSettings(temperature, alpha if mode == "distill" else 1.0, student_probabilities, mode == "distill")
        compiled = Steps(
            student, opt, settings, spec,
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
                "teacher_precision": getattr(source, "precision", None),
                "student_params": int(student.count_params()),
                "teacher_cache": cached is not None,
                "augmented": augmenter is not None,
                "image_cache": isinstance(train_images, DecodedImages),
                "last_batch": last_batch,
                "seed": seed,
                "replicas": 1 if strategy is None else int(strategy.num_replicas_in_sync),
            }
        )

        parts = {"student": student.variables, "optimizer": opt.variables}
        if augmenter is not None:
            parts["augmenter"] = augmenter.variables
        run_key = {"mode": mode, "batch_size": batch_size, "steps": steps, "n_train": len(train_table),
                   "ids": digest(train_table.ids)}
        start_epoch = 0
        if resume:
            start_epoch = _resume(checkpoint_dir, run_key, parts, train_stream, val_stream, history)
        callback_list = keras.callbacks.CallbackList(
            list(callbacks or []), add_progbar=verbose > 0, model=student, verbose=verbose, epochs=epochs, steps=steps
        )
        validate = None
        if val_table is not None:
            def validate():
                return run_test(compiled, val_images, val_stream, val_steps)

        def save_checkpoint():
            checkpoint.save(checkpoint_dir, parts=parts, meta={
                "run_key": run_key,
                "records": history.records,
                "train_stream": train_stream.get_state(),
                "val_stream": None if val_stream is None else val_stream.get_state(),
            })  # fmt: skip

        _run_epochs(
            compiled, EpochPlan(train_images, train_stream, steps), history, callback_list,
            range(start_epoch, epochs), validate, save_checkpoint if checkpoint_dir is not None else None,
            batch_logs=verbose == 1 or bool(callbacks),
        )
        if student is not user_student:
            user_student.set_weights(student.get_weights())
        history.params["seconds"] = round(time.perf_counter() - started, 3)
        history.params["stopped_early"] = len(history.records) < epochs
        return history
    finally:
        for images in (train_images, val_images):
            if images is not None:
                images.close()


def _resume(checkpoint_dir, run_key: dict, parts: dict, train_stream, val_stream, history: History) -> int:
    """Restore the last complete epoch from `checkpoint_dir`; returns the epoch to start at."""
    saved = checkpoint.load(checkpoint_dir)
    if saved is None:
        return 0
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
    return len(history.records)


def _run_epochs(compiled, plan, history, callbacks, epochs, validate, save_checkpoint, *, batch_logs) -> None:
    """The epoch loop: train, validate, record, checkpoint, then tell the callbacks."""
    student = compiled.student
    student.stop_training = False
    callbacks.on_train_begin()
    logs: dict = {}
    for epoch in epochs:
        callbacks.on_epoch_begin(epoch)
        logs = train_epoch(compiled, plan, callbacks, epoch, batch_logs)
        if validate is not None:
            val = validate()
            logs.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
        history.records.append({"epoch": epoch + 1, **logs})
        if save_checkpoint is not None:
            save_checkpoint()  # before callbacks, so a crash in one never loses the epoch
        callbacks.on_epoch_end(epoch, dict(logs))
        if student.stop_training:
            break
    callbacks.on_train_end(dict(logs))


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
    cache_images="auto",
    cache_dir: str | os.PathLike | None = None,
    on_bad_image: str = "error",
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    teacher_combine: str = "logits",
    teacher_precision: str = "auto",
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
    teacher_precision: "auto" (the default) runs the teacher's forward pass in bfloat16
        where the hardware computes it natively (CPUs with avx512_bf16/amx_bf16, GPUs of
        compute capability 8.0+), 1.6-1.9x faster in `make bench`, and in float32 elsewhere; logits then
        round to ~3 significant digits. "float32" or "bfloat16" forces either.
    cache_teacher: "auto" computes the teacher's logits once per image and reuses them
        every epoch when there is no augmentation; True insists, False never caches.
    cache_images: "auto" decodes every image once into a uint8 file and reads epochs
        from it when that is exact (files already at the model's size), the run reads
        more rows than the table holds, and the file fits in half the free disk space;
        True always (resized pixels round to whole grey levels); False never.
    cache_dir: where both caches are kept and reused by later runs; by default
        checkpoint_dir, and without either the decoded images go to a temporary
        file deleted at the end of the run.
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
    cache_images="auto",
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
        teacher_combine="logits", teacher_precision="float32", cache_teacher=False, cache_dir=None,
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
    batch_size = whole_number(batch_size, "batch_size")
    model = load_model(model)
    spec = image_spec(model, image_size, rescale)
    frame = read_table(data, name="evaluation")
    table = resolve_table(frame, directory=directory, x_col=x_col, y_col=label_layout(frame, y_col, classes),
                          classes=classes, name="evaluation")
    n_classes = len(table.classes) if table.classes else output_width(model)
    check_model_fits(model, spec, n_classes, "model")
    check_labels_fit(table, n_classes)
    (table,) = drop_bad_images([table], on_bad_image)
    if table.n_labeled == 0:
        raise DataError("The evaluation table has no labeled rows.")
    settings = StepSettings(1.0, 1.0, outputs_are_probabilities(model, model_outputs, "model"), False)
    steps = Steps(model, None, settings, spec, test_labels=table.labels)
    stream = BatchStream(len(table), batch_size, shuffle=False, seed=0)
    return run_test(steps, FileImages(table.paths, spec), stream, stream.steps_per_pass)


__all__ = ["distill", "train_scratch", "evaluate", "tf"]
