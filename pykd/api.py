"""Public entry points: distill(), train_scratch() and evaluate().

Each takes its options explicitly and hands them on: pykd.plan checks every
one before the first step (a bad input raises DataError and changes nothing),
pykd.build makes the run and pykd.trainer trains it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ._tf import keras, tf
from .checks import check_labels_fit, check_model_fits, drop_bad_images, image_spec, label_layout, whole_number
from .errors import DataError
from .frames import read_table, resolve_table
from .history import History
from .images import Augmentation, FileImages
from .loop import Steps, StepSettings, run_test
from .models import load_model, output_width, outputs_are_probabilities
from .plan import Options
from .stream import BatchStream
from .trainer import fit

_COMMON_DOC = """
    directory: the folder holding the image files; `x_col` names them relative to it
        (not set when train is a folder or arrays).
    validation: an optional table like `train` (or a folder of class subfolders, or
        (x, y) arrays); it may use the other label layout
        (one-hot columns named by `classes`, or a "label" column). Its hard-label
        loss and accuracy are reported as val_loss and val_accuracy every epoch.
    x_col: the column of image file names. y_col: one label column (class ids from 0,
        or class names listed in `classes`; NA = unlabeled) or a list of one-hot
        columns (an all-zero row = unlabeled).
    classes: class names in class-id order; by default the one-hot column names, or
        numbers. At least two, each once.
    image_size: (height, width) the images are resized to; by default the student's
        input size. rescale: a factor pixels (0..255) are multiplied by, e.g. 1/255,
        or None to leave them.
    batch_size: images per batch (under a strategy, the global batch).
    epochs: epochs to train. steps_per_epoch: batches per epoch, continuing where the
        last epoch stopped (None: one pass). validation_steps: the same for validation.
    optimizer: a name ("adam", "sgd", ...) or a keras optimizer object (a
        LossScaleOptimizer scales the loss as compile() does).
    learning_rate: a number or a keras LearningRateSchedule for a named optimizer
        (default 1e-3); refused next to an optimizer object, which has its own.
    augment: None, a pykd.Augmentation or a dict of its fields: random transforms of
        the training images inside the compiled step.
    last_batch: "keep" the short last batch of a pass (metrics weighted by rows) or "drop" it.
    callbacks: a Keras callback or a list of them; they see the student as their model,
        compiled with the run's optimizer and an accuracy metric as under fit().
    seed: seeds shuffling, augmentation and Keras' initial state; None for a random start.
    verbose: 0 silent, 1 a progress bar ("auto", the default), 2 one line per epoch.
    cache_images: "auto" decodes every image once into a uint8 file and reads epochs
        from it when that is exact (files already at the model's size), the run reads
        more rows than the table holds, and the file fits in half the free disk space;
        True always (resized pixels round to whole grey levels); False never.
    cache_features: "auto" computes the output of the student's frozen prefix (a frozen
        backbone: no trainable weights, dropout or noise) once per image and trains only the
        rest, when there is no augmentation or strategy, the teacher's logits are cached, the
        table is read more than once and the features are no larger than the images and take
        under half the free disk space; True insists (or says why not), False never.
    cache_dir: where the caches are kept and reused by later runs; by default
        checkpoint_dir; without either nothing is kept (decoded images and features go to
        temporary files deleted at the end of the run).
        history.params["feature_cache"] tells where the prefix ended and its bytes on disk.
    on_bad_image: "error" stops before training at an unreadable image, naming it;
        "skip" leaves such images out with one warning.
    checkpoint_dir: a folder for an atomic checkpoint after every epoch.
        resume: continue from the checkpoint there (exactly, stream positions included).
    student_outputs: "auto" (read from the last layer), "logits" or "probabilities".
    strategy: a tf.distribute.Strategy (MirroredStrategy, MultiWorkerMirroredStrategy, ...);
        batch_size is then the global batch, split across replicas.
    run_eagerly: run the very same train step op by op instead of compiled, for
        debugging with prints and breakpoints (slower; same results).
    Returns a History with one record per epoch.
"""


def distill(
    teacher,
    student,
    train,
    *,
    directory: str | os.PathLike | None = None,
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
    learning_rate=None,
    augment: Augmentation | dict | None = None,
    last_batch: str = "keep",
    callbacks: Sequence[keras.callbacks.Callback] | keras.callbacks.Callback | None = None,
    seed: int | None = None,
    verbose="auto",
    cache_teacher="auto",
    cache_images="auto",
    cache_features="auto",
    cache_dir: str | os.PathLike | None = None,
    on_bad_image: str = "error",
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    teacher_combine: str = "logits",
    teacher_precision: str = "auto",
    teacher_view: str = "same",
    hint=None,
    student_outputs: str = "auto",
    strategy: tf.distribute.Strategy | None = None,
    run_eagerly: bool = False,
) -> History:
    """Train `student` to match `teacher`'s softened predictions on a table of images.

    The loss per row is alpha * hard + (1 - alpha) * T^2 * KL(softmax(t/T) || softmax(s/T)),
    with student logits s, teacher logits t and temperature T; hard is the cross-entropy
    with the row's label, and unlabeled rows learn from the teacher alone.

    teacher: a Keras model, a .keras/.h5 path, a list of those (an ensemble whose
        logits, or probabilities with teacher_combine="probabilities", are averaged),
        or precomputed logits: a DataFrame/dict/CSV with `x_col` and one column per class.
    student: a Keras model, trained in place, or a .keras/.h5 path, loaded and trained
        (the file is left as it was; the trained model is the returned history's `model`).
    train: a DataFrame, CSV path or dict of columns, one row per image; or a folder of
        class subfolders (train/cat/1.jpg: the image_dataset_from_directory layout,
        classes the sorted subfolder names) or a tuple (x, y) of NumPy arrays (uint8
        pixels, class ids with -1 for unlabeled), both without `directory`.
    temperature: T > 0, softening both distributions. alpha: in [0, 1], the weight of
        the hard-label loss (1 - alpha weighs the distillation term).
    teacher_outputs: "auto", "logits" or "probabilities" (a teacher ending in softmax
        gives probabilities; they are turned into logits, never softmaxed twice).
    teacher_combine: how an ensemble is averaged, "logits" or "probabilities".
    """
    options = Options(
        directory=directory, validation=validation, x_col=x_col, y_col=y_col, classes=classes, image_size=image_size,
        rescale=rescale, batch_size=batch_size, epochs=epochs, steps_per_epoch=steps_per_epoch,
        validation_steps=validation_steps, temperature=temperature, alpha=alpha, teacher_outputs=teacher_outputs,
        teacher_combine=teacher_combine, teacher_precision=teacher_precision, teacher_view=teacher_view,
        hint=hint, student_outputs=student_outputs,
        optimizer=optimizer, learning_rate=learning_rate, augment=augment, last_batch=last_batch, callbacks=callbacks,
        seed=seed, verbose=verbose, cache_teacher=cache_teacher, cache_images=cache_images, cache_features=cache_features,
        cache_dir=cache_dir, on_bad_image=on_bad_image, checkpoint_dir=checkpoint_dir, resume=resume, strategy=strategy,
        run_eagerly=run_eagerly,
    )  # fmt: skip
    return fit("distill", student, teacher, train, options)


_TEACHER_DOC = """
    teacher_precision: "auto" (the default) runs the teacher's forward pass in bfloat16
        where the hardware computes it natively (CPUs with avx512_bf16/amx_bf16, GPUs of
        compute capability 8.0+), 1.6-1.9x faster in `make bench`, and in float32 elsewhere;
        logits then round to ~3 significant digits. "float32" or "bfloat16" forces either.
    cache_teacher: "auto" computes the teacher's logits once per image and reuses them
        every epoch when there is no augmentation; True insists, False never caches.
    teacher_view: under augmentation, "same" (the default) shows the teacher the student's
        augmented view, so the student matches the teacher's function on every view
        ("consistent" distillation, Beyer et al., 2022; with mixup or cutmix, the same mixture);
        "clean" gives the teacher's logits of the original images (computed once) as targets
        for the augmented student, the noised student of Xie et al. (2020).
    hint: feature distillation (FitNets): None, a pykd.Hint or a dict of its fields
        (teacher_layer, student_layer, weight=1.0). The student layer's output, through a
        learned projection, is regressed on the teacher layer's (mean squared difference
        times weight, per row, added to the loss and reported as hint_loss). The teacher
        then runs every step.
"""

distill.__doc__ += _TEACHER_DOC + _COMMON_DOC


def train_scratch(
    student,
    train,
    *,
    directory: str | os.PathLike | None = None,
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
    learning_rate=None,
    augment: Augmentation | dict | None = None,
    last_batch: str = "keep",
    callbacks: Sequence[keras.callbacks.Callback] | keras.callbacks.Callback | None = None,
    seed: int | None = None,
    verbose="auto",
    cache_images="auto",
    cache_features="auto",
    cache_dir: str | os.PathLike | None = None,
    on_bad_image: str = "error",
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    student_outputs: str = "auto",
    strategy: tf.distribute.Strategy | None = None,
    run_eagerly: bool = False,
) -> History:
    """The scratch baseline: the same loop with the hard-label loss only (alpha = 1, no teacher).

    student: a Keras model, trained in place, or a .keras/.h5 path (the trained model is
        the returned history's `model`).
    train: a DataFrame, CSV path or dict of columns, one row per image; or a folder of
        class subfolders or (x, y) arrays, as for distill(). Unlabeled rows carry no
        signal without a teacher, so they are left out.
    """
    options = Options(
        directory=directory, validation=validation, x_col=x_col, y_col=y_col, classes=classes,
        image_size=image_size, rescale=rescale, batch_size=batch_size, epochs=epochs,
        steps_per_epoch=steps_per_epoch, validation_steps=validation_steps, temperature=1.0, alpha=1.0,
        student_outputs=student_outputs, optimizer=optimizer, learning_rate=learning_rate, augment=augment,
        last_batch=last_batch, callbacks=callbacks, seed=seed, verbose=verbose, cache_teacher=False,
        cache_images=cache_images, cache_features=cache_features, cache_dir=cache_dir, on_bad_image=on_bad_image,
        checkpoint_dir=checkpoint_dir, resume=resume, strategy=strategy, run_eagerly=run_eagerly,
    )  # fmt: skip
    return fit("scratch", student, None, train, options)


train_scratch.__doc__ += _COMMON_DOC


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

    model: a Keras model or a .keras/.h5 path. data: a DataFrame, CSV path or dict of
        columns; directory, x_col, y_col, classes, image_size, rescale, batch_size and
        on_bad_image as for distill(). model_outputs: "auto", "logits" or "probabilities".
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
        raise DataError("The evaluation table has no labeled rows.", "Give rows with labels to measure accuracy on.")
    settings = StepSettings(1.0, 1.0, outputs_are_probabilities(model, model_outputs, "model"), False)
    steps = Steps(model, None, settings, spec, test_labels=table.labels)
    stream = BatchStream(len(table), batch_size, shuffle=False, seed=0)
    return run_test(steps, FileImages(table.paths, spec), stream, stream.steps_per_pass)


__all__ = ["distill", "train_scratch", "evaluate", "tf"]
