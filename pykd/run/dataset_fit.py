"""distill() and train_scratch() on a Keras user's own pipeline: a tf.data.Dataset or a keras.utils.PyDataset
yielding (images, labels[, sample weights]), batched or not. Keras' fit() runs pykd.Distiller, whose step is
the one distill() runs on a table.

What pykd's guarantees mean then:
- the pipeline decides the order and the augmentation (pykd's augment= and the caches are for tables);
- the teacher runs live on every batch (pykd cannot key a batch to its images, so nothing is cached);
- a checkpoint keeps the student and the optimizer after each epoch; a resume continues at the next
  epoch and restarts the dataset's iteration (pykd cannot tell whether the dataset is the same one);
- an infinite dataset needs steps_per_epoch.
"""

from __future__ import annotations

import time
from dataclasses import asdict

from .._tf import keras, tf
from ..core.errors import DataError, Setting, warn
from ..data.pipelines import batched, check_pipeline_classes
from ..data.sources import is_dataset
from ..models.classes import check_given, set_classes
from ..models.fingerprint import layers_digest
from ..models.introspection import output_width
from ..models.loading import load_model
from . import checkpoint
from .build import reseed_random_layers
from .claim import claimed
from .distiller import Distiller
from .history import History
from .options import Options, checked, defaults
from .plan import known_order
from .resume import check_same_run, optimizer_key, probe_writable
from .rules import check_sizes
from .schedule import described, make_optimizer

# Options about a table and pykd's own reading of it, and what a pipeline does instead.
TABLE_ONLY = {
    "directory": "the dataset yields the images and labels",
    "x_col": "the dataset yields the images and labels",
    "y_col": "the dataset yields the images and labels",
    "weight_col": "the dataset may yield (images, labels, sample weights)",
    "image_size": "resize in the pipeline (dataset.map with keras.layers.Resizing)",
    "on_bad_image": "the pipeline decodes the images",
    "last_batch": "batch with dataset.batch(batch_size, drop_remainder=True) to drop a short last batch",
    "augment": "augment in the pipeline (dataset.map with Keras' Random* layers)",
    "teacher_view": "the teacher sees each batch as the pipeline gives it",
    "cache_teacher": "the teacher runs live on every batch",
    "cache_images": "the pipeline reads the images (dataset.cache() keeps them)",
    "cache_features": "the student runs whole on every batch",
    "cache_dir": "nothing is cached",
    "strategy": "a dataset trains on one device; give a table for several replicas",
    "frozen_precision": "the student runs whole on every batch",
}


def fit_dataset(mode: str, student, teacher, train, options: Options) -> History:
    """Train on the user's pipeline; the student ends with the trained weights (the history's model)."""
    started = time.perf_counter()
    s = checked(options)
    _refuse_table_options(s, mode)
    student = load_model(student, role="student")
    validation = None if s.validation is None else _batched(_validation(s.validation), s, "validation")
    if s.seed is not None:
        keras.utils.set_random_seed(s.seed)
        reseed_random_layers(student, s.seed)
    distiller = Distiller(teacher if mode == "distill" else None, student, temperature=s.temperature,
                          alpha=s.alpha if mode == "distill" else 1.0, teacher_outputs=s.teacher_outputs,
                          teacher_combine=s.teacher_combine, teacher_precision=s.teacher_precision,
                          student_outputs=s.student_outputs, hint=s.hint, rescale=s.rescale)
    if distiller.teacher is not None:
        check_sizes(distiller._teacher, student, s.larger_student)
    train, classes = _batched(train, s, "train"), _classes(train, s.classes, distiller)
    distiller.compile(make_optimizer(s.optimizer, s.learning_rate, _total_steps(train, s), s.callbacks),
                      run_eagerly=s.run_eagerly)
    history = History(params=_params(mode, s, distiller, classes), model=student)
    with claimed(s.checkpoint_dir):
        key = None if s.checkpoint_dir is None else _run_key(mode, s, distiller)
        _resume(distiller, history, s, key)
        recorder = _Recorder(distiller, history, s.checkpoint_dir, key)
        try:
            distiller.fit(train, epochs=s.epochs, initial_epoch=len(history.records), steps_per_epoch=s.steps_per_epoch,
                          validation_data=validation, validation_steps=s.validation_steps, shuffle=False,
                          callbacks=[recorder, *s.callbacks], verbose=s.verbose, class_weight=_class_weight(s))
        except KeyboardInterrupt as err:  # the student keeps the last finished epoch, as on a table
            student.set_weights(recorder.finished)
            history.params["interrupted"] = True
            err.history = history
            raise
        finally:
            if classes is not None:
                set_classes(student, classes)
            history.params["stopped_early"] = len(history.records) < s.epochs
            history.params["seconds"] = round(time.perf_counter() - started, 3)
    return history


def _refuse_table_options(s: Options, mode: str) -> None:
    default = defaults("distill" if mode == "distill" else "train_scratch")
    for name, instead in TABLE_ONLY.items():
        if name in default and getattr(s, name) != default[name]:
            raise DataError(f"{name} is for a table of image files, not for a dataset: {instead}.",
                            f"Leave {name} out, or give a table.")


def _batched(data, s: Options, name: str):
    """The dataset in batches (pipelines.batched), its labels class ids or one-hot rows."""
    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        labels = spec[1] if isinstance(spec, tuple) and len(spec) > 1 else None
        if labels is not None and labels.dtype == tf.string:
            raise DataError(f"The {name} dataset's labels are strings; the step reads class ids or one-hot rows.",
                            "Map them to ids in the pipeline, e.g. with keras.layers.StringLookup(vocabulary=classes, "
                            "num_oov_indices=0).")
    elif not isinstance(data, keras.utils.PyDataset):
        return data  # validation arrays, batched by fit()
    return batched(data, s.batch_size, name, s.steps_per_epoch if name == "train" else None)


def _total_steps(train: tf.data.Dataset, s: Options) -> int | None:
    """The run's optimizer steps, for the learning-rate schedule: None when the dataset's length is unknown."""
    steps = s.steps_per_epoch or int(train.cardinality())  # batches; < 0: infinite or unknown
    return s.epochs * steps if steps > 0 else None


def _validation(validation):
    if is_dataset(validation) or (isinstance(validation, tuple) and len(validation) == 2):
        return validation
    raise DataError("With a train dataset, validation is a dataset or (x, y) arrays, not a table.",
                    "Give validation as a tf.data.Dataset of (images, labels).")


def _classes(train, given, distiller: Distiller) -> list[str] | None:
    """The class names the student learns to know: classes=, else the dataset's own class_names
    (image_dataset_from_directory's), else those the models know; the three must agree in order, since the
    labels are ids in it."""
    teachers = [] if distiller._teacher is None else distiller._teacher.models
    known = known_order(distiller.student, teachers)
    known = None if known is None else known[1]
    check_given(given, known)
    check_pipeline_classes(train, known, "train")
    found = getattr(train, "class_names", None)
    classes = given if given is not None else found if found is not None else known
    if classes is None:
        return None
    classes = [str(c) for c in classes]
    if found is not None and list(map(str, found)) != classes:
        raise DataError("classes names {classes}, but the train dataset's class_names are {found}: its label ids "
                        "would name other classes.", "Leave classes out, or build the dataset with "
                        "class_names=classes.", classes=classes, found=list(map(str, found)))
    width = output_width(distiller.student)
    if len(classes) != width:
        raise DataError(f"There are {len(classes)} class names, but the student has {width} outputs.",
                        "Give one name per output, in the order of the label ids.")
    return classes


def _class_weight(s: Options) -> dict | None:
    weights = s.class_weight
    if weights is None:
        return None
    if isinstance(weights, dict):
        if not all(isinstance(k, int) for k in weights):
            raise DataError("With a dataset, class_weight is keyed by class ids (its labels are ids).",
                            "Give {example}.", example=Setting("class_weight", {0: 1.0, 1: 2.0}))
        return {int(k): float(v) for k, v in weights.items()}
    return {i: float(v) for i, v in enumerate(weights)}


def _params(mode: str, s: Options, distiller: Distiller, classes) -> dict:
    distilling = mode == "distill"
    return {
        "mode": "distill" if distilling else "scratch", "input": "dataset", "epochs": s.epochs,
        "batch_size": s.batch_size, "seed": s.seed, "temperature": s.temperature if distilling else None,
        "alpha": s.alpha if distilling else 1.0, "steps_per_epoch": s.steps_per_epoch,
        "learning_rate": described(distiller.optimizer), "classes": classes, "hint": None if s.hint is None else asdict(s.hint),
        "student_params": int(distiller.student.count_params()),
        "teacher_params": getattr(distiller._teacher, "params", None),
        "teacher_precision": getattr(distiller._teacher, "precision", None),
        "teacher_cache": False, "image_cache": False, "feature_cache": None, "augmented": None,
    }  # fmt: skip


def _run_key(mode: str, s: Options, distiller: Distiller) -> dict:
    """What a checkpoint must agree on to be continued (the dataset itself cannot be checked)."""
    teacher = distiller._teacher
    return {"mode": mode, "input": "dataset", "student": layers_digest(distiller.student),
            "teacher": None if teacher is None else teacher.fingerprint(distiller._functions.spec, strict=False),
            "temperature": s.temperature, "alpha": s.alpha if mode == "distill" else None,
            "optimizer": optimizer_key(s.optimizer, s.learning_rate),
            "hint": None if s.hint is None else asdict(s.hint)}


def _parts(distiller: Distiller) -> dict:
    parts = {"student": distiller.student.variables, "optimizer": distiller.optimizer.variables}
    hint = distiller._functions.hint
    if hint is not None:
        parts["hint"] = hint.projection.variables
    return parts


def _resume(distiller: Distiller, history: History, s: Options, key: dict | None) -> None:
    if s.checkpoint_dir is None:
        return
    probe_writable(s.checkpoint_dir, "checkpoint_dir")
    saved = checkpoint.load(s.checkpoint_dir)
    if saved is not None and not s.resume:
        raise DataError("checkpoint_dir {directory} already holds a checkpoint; this run would overwrite it.",
                        "Continue it with {resume}, or start over in another checkpoint_dir.",
                        directory=str(s.checkpoint_dir), resume=Setting("resume", True))
    if saved is None:
        if s.resume:
            warn(f"resume=True, but {s.checkpoint_dir} holds no checkpoint yet: starting fresh.")
        return
    check_same_run(saved.meta.get("run_key", {}), key, s.checkpoint_dir)
    for name, variables in _parts(distiller).items():
        checkpoint.restore(variables, saved.values.get(name, []), name)
    history.records = saved.meta["records"]


class _Recorder(keras.callbacks.Callback):
    """The history's record of each epoch, and its checkpoint (before the user's callbacks see the next)."""

    def __init__(self, distiller: Distiller, history: History, directory, key: dict | None):
        super().__init__()
        self.distiller, self.history, self.directory, self.key = distiller, history, directory, key
        self.finished = distiller.student.get_weights()  # the weights of the last finished epoch


    def on_epoch_end(self, epoch, logs=None):
        rate = self.distiller.optimizer.learning_rate
        record = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()},
                  "learning_rate": float(tf.convert_to_tensor(getattr(rate, "value", rate)).numpy())}
        self.history.records.append(record)
        self.finished = self.distiller.student.get_weights()
        if self.directory is not None:
            checkpoint.save(self.directory, parts=_parts(self.distiller),
                            meta={"run_key": self.key, "records": self.history.records})
