"""Building a run from its Plan: everything that changes state, in one place.

Seed, strategy scope, optimizer, augmenter, batch streams, image sources,
the teacher's logits and the compiled steps. The student is compiled with the
run's optimizer, its hard-label loss and an accuracy metric, as Keras' fit()
would have it, so standard callbacks (ReduceLROnPlateau, EarlyStopping on
val_accuracy, TensorBoard, ...) find what they look for.
"""

from __future__ import annotations

from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field

import numpy as np

from .._tf import keras, tf
from ..core.seeds import fresh_seed
from ..data.augmentation import build_augmenter
from ..data.image_cache import DecodedImages, fits_on_disk, image_source
from ..data.images import FileImages
from ..data.mixing import build_batch_mixing
from ..data.stream import BatchStream
from ..kd.hint import HintTerm
from ..kd.logit_cache import cached_logits, compute_logits, not_finite
from ..kd.teacher import ModelTeacher, TableTeacher
from ..models.forward import clone_model
from . import checkpoint
from .features import Features, FrozenPrefix, prefix_features
from .feed import BatchSource
from .plan import Plan
from .progress import progress_printer, timed
from .schedule import make_optimizer
from .steps import StepFunctions, StepSettings, Targets, Views
from .workers import gather_rows, n_workers, shared_seed, start_from_chief, worker_index


@dataclass(kw_only=True)
class Run:
    """A built run: what Trainer.fit() trains. Close it (or use `with`) to release the image caches."""

    plan: Plan
    student: keras.Model  # the model trained: the user's, or its twin under a strategy
    optimizer: keras.optimizers.Optimizer
    augmenter: keras.Model | None
    step_functions: StepFunctions
    train: BatchSource
    validation: BatchSource | None
    teacher_cache: bool
    image_cache: bool  # the training images were decoded once into a file
    feature_cache: dict | None  # where the student's cached prefix ends, its output's shape and bytes
    view_seed: int | None  # keys the augmented views and the mixing (build._view_seed); checkpointed
    timings: dict = field(default_factory=dict)
    _resources: ExitStack = field(default_factory=ExitStack, repr=False)

    @property
    def user_student(self) -> keras.Model:
        return self.plan.student

    def close(self) -> None:
        self._resources.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(kw_only=True)
class _Sources:
    """What the steps read: the batch sources, and the teacher's targets made before the first step."""

    train: BatchSource
    validation: BatchSource | None
    targets: Targets
    image_cache: bool
    feature_cache: dict | None
    split: FrozenPrefix | None  # the frozen prefix whose outputs the sources hold, or None for images


def build(plan: Plan, resume_from: checkpoint.Saved | None = None) -> Run:
    """Make everything the run needs; the caches it opens are released by Run.close().

    resume_from: the checkpoint that will be continued (the Trainer restores it); the
    frozen prefix's features are then computed from the checkpoint's weights, not those of the
    student passed, and an unseeded run's views are keyed by the seed the checkpoint recorded.
    """
    s = plan.settings
    seed = shared_seed(s.strategy, s.seed)  # several workers shuffle and augment alike
    if seed is not None:
        keras.utils.set_random_seed(seed)
    view_seed = _view_seed(plan, seed, resume_from)
    student, optimizer, augmenter, hint = _in_scope(plan, seed, view_seed)
    resources, timings = ExitStack(), {}
    try:
        sources = _sources(plan, student, hint, seed, resume_from, resources, timings)
        functions = StepFunctions(
            student, optimizer, StepSettings(temperature=s.temperature, alpha=s.alpha if plan.distilling else 1.0,
                                             student_probabilities=plan.student_probabilities,
                                             distilling=plan.distilling, teacher_sees_original=s.teacher_view == "clean"),
            plan.spec, train_labels=plan.train.labels, train_weights=plan.train.weights,
            test_labels=None if plan.validation is None else plan.validation.labels, targets=sources.targets,
            views=Views(augmenter, build_batch_mixing(s.augment, view_seed)), strategy=s.strategy,
            run_eagerly=s.run_eagerly, **_forward(plan, sources.split),
        )  # fmt: skip
        return Run(plan=plan, student=student, optimizer=optimizer, augmenter=augmenter, step_functions=functions,
                   train=sources.train, validation=sources.validation,
                   teacher_cache=sources.targets.cached_logits is not None, image_cache=sources.image_cache,
                   feature_cache=sources.feature_cache, view_seed=view_seed, timings=timings, _resources=resources)
    except BaseException:
        resources.close()
        raise


def _forward(plan: Plan, split: FrozenPrefix | None) -> dict:
    """How the step reaches the student's outputs: from cached features, through the frozen prefix run apart
    (plan.live_prefix), or from the images."""
    if split is not None:
        return {"forward": split.rest}
    if plan.live_prefix is not None:
        return {"forward": plan.live_prefix.split.rest, "prefix": plan.live_prefix}
    return {}


def _sources(plan: Plan, student, hint, seed, resume_from, resources: ExitStack, timings: dict) -> _Sources:
    """The streams, the image sources (decoded copies, the frozen prefix's features) and the teacher's logits."""
    s = plan.settings
    train_stream = BatchStream(len(plan.train), s.batch_size, shuffle=True, seed=seed, last_batch=s.last_batch)
    steps = plan.steps_per_epoch
    val_stream = val_steps = None
    if plan.validation is not None:
        val_stream = BatchStream(len(plan.validation), s.batch_size, shuffle=False, seed=0, last_batch="keep")
        val_steps = s.validation_steps or val_stream.steps_per_pass
    teacher_pass = isinstance(plan.teacher, ModelTeacher) and hint is None and (
        s.cache_teacher is True or (s.cache_teacher == "auto" and not plan.teacher_follows_augmentation))
    passes = s.epochs * steps / train_stream.steps_per_pass
    split = plan.features if s.cache_features is True or passes > 1 else None  # once only: nothing to reuse
    if split is not None and s.cache_features == "auto" and not _features_fit(plan, split):
        split = None
    if split is not None and resume_from is not None:  # the prefix's features from the checkpoint's weights
        checkpoint.restore(student.variables, resume_from.values.get("student", []), "student")
    # With the features cached the images are read only for them and for the teacher, each a
    # one-off pass that a later run finds kept: a decoded copy would not pay for itself.
    train_images = _images(plan, plan.train, 1 if split else passes + teacher_pass, resources, timings)
    val_images = None
    if plan.validation is not None:
        val_passes = 1 if split else s.epochs * val_steps / val_stream.steps_per_pass
        val_images = _images(plan, plan.validation, val_passes, resources, timings)
    cached, teacher_fn = _teacher_logits(plan, train_images, teacher_pass, timings)
    image_cache = isinstance(train_images, DecodedImages)
    if split is not None:  # from here on the steps read the prefix's outputs instead of images
        train_images = _features(plan, split, plan.train, train_images, resources, timings)
        if val_images is not None:
            val_images = _features(plan, split, plan.validation, val_images, resources, timings)
    return _Sources(train=BatchSource(train_images, train_stream, steps),
                    validation=None if val_images is None else BatchSource(val_images, val_stream, val_steps),
                    targets=Targets(cached_logits=cached, teacher=teacher_fn, hint=hint), image_cache=image_cache,
                    feature_cache=_described(split, train_images, val_images), split=split)


def _view_seed(plan: Plan, seed: int | None, resume_from: checkpoint.Saved | None) -> int | None:
    """The seed that keys the augmented views and the batch mixing (None: the run has neither).

    seed: the run's seed (under several workers, the chief's draw for seed=None). A run the
    user left unseeded takes the one its checkpoint recorded when it resumes (every worker
    reads the same checkpoint), so that it sees the views it would have seen; else its own
    draw. A seeded run keys its views by its seed, as a fresh run with that seed does.
    """
    augment = plan.settings.augment
    if augment is None or not (augment.moves_pixels or augment.batch_mixing):
        return None
    saved = None if resume_from is None else resume_from.meta.get("view_seed")
    if plan.settings.seed is None and saved is not None:
        return int(saved)
    return fresh_seed() if seed is None else seed


def _in_scope(plan: Plan, seed: int | None, view_seed: int | None):
    """The student, optimizer and augmenter, made under the strategy's scope when there is one."""
    s = plan.settings
    with s.strategy.scope() if s.strategy is not None else nullcontext():
        # Variables must live under the strategy's scope: train a twin, copied back at the end.
        student = clone_model(plan.student) if s.strategy is not None else plan.student
        if seed is not None:
            reseed_random_layers(student, seed)
        augmenter = build_augmenter(s.augment, view_seed)
        if augmenter is not None:
            augmenter.build((None, plan.spec.height, plan.spec.width, plan.spec.channels))
        # Workers that built their students apart (unseeded) all start from the chief's.
        start_from_chief(s.strategy, [*student.variables, *([] if augmenter is None else augmenter.variables)])
        hint = None if s.hint is None else _hint_term(plan, student)
        optimizer = make_optimizer(s.optimizer, s.learning_rate, s.epochs * plan.steps_per_epoch, s.callbacks)
        optimizer.build([*student.trainable_variables, *([] if hint is None else hint.projection.trainable_variables)])
        student.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not plan.student_probabilities),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
        # Built now, on one made-up row then reset, so that callbacks can read the metric's
        # direction (accuracy: higher is better) before the first epoch, as after fit()'s first step.
        student.compute_metrics(None, tf.zeros((1,), tf.int32), tf.zeros((1, plan.n_classes)))
        student.reset_metrics()
    return student, optimizer, augmenter, hint


def _hint_term(plan: Plan, student: keras.Model) -> HintTerm:
    """The teacher and student cut at their hint layers, with a projection seeded like the run."""
    return hint_term(plan.settings.hint, plan.teacher, student,
                     None if plan.teacher_spec == plan.spec else plan.teacher_spec.size)


def hint_term(hint, teacher: ModelTeacher, student: keras.Model, teacher_size=None) -> HintTerm:
    """The teacher (its first model) and the student cut at their hint layers; teacher_size: the teacher's
    input size when it differs from the student's."""
    term = HintTerm(hint, teacher.models[0], student)
    term.teacher_probabilities = teacher.probabilities[0]
    term.teacher_scope = teacher.computing
    if teacher_size is not None:
        term.teacher_size = teacher_size
    return term


def live_teacher(teacher: ModelTeacher, teacher_size=None):
    """The teacher's logits of a batch of the student's inputs, resized to its own input size if it differs."""
    if teacher_size is None:
        return teacher.logits
    return lambda x: teacher.logits(tf.image.resize(x, teacher_size))


def reseed_random_layers(model: keras.Model, seed: int) -> None:
    """Start the model's dropout and noise layers' random streams from the run's seed.

    Each such layer draws from a seed generator made when the model was built, from
    Keras' global state at that moment, so two students with equal weights would draw
    different masks under the same seed= without this.
    """
    states = [v for v in model.non_trainable_variables if v.name == "seed_generator_state"]
    for i, state in enumerate(states):
        state.assign(np.array([(seed * 1_000_003 + i) % 2**31, 0]).astype(state.dtype))


def _images(plan: Plan, table, passes: float, resources: ExitStack, timings: dict):
    s = plan.settings
    image_dir = s.cache_dir if s.cache_dir is not None else s.checkpoint_dir
    name = "training" if table is plan.train else "validation"
    # Under several workers each reads its share of every batch: a decoded copy of all
    # rows pays for itself only if this worker reads more rows than the table holds.
    passes /= n_workers(s.strategy)
    with timed(timings, "seconds_images"):
        images = image_source(
            s.cache_images, table.paths, plan.spec, cache_dir=image_dir, passes=passes, batch_size=s.batch_size,
            progress=progress_printer(s.verbose, f"Decoding {len(table)} {name} images once"),
        )
    resources.callback(images.close)
    return images


def _features(plan: Plan, split: FrozenPrefix, table, images, resources: ExitStack, timings: dict) -> Features:
    s = plan.settings
    name = "training" if table is plan.train else "validation"
    with timed(timings, "seconds_features"):
        features = prefix_features(
            split, images, table.paths, s.batch_size, s.cache_dir if s.cache_dir is not None else s.checkpoint_dir,
            progress_printer(s.verbose, f"Student's frozen layers up to {split.ends_at!r} for {len(table)} {name} "
                                        "images (once, reused every epoch)"),
        )
    resources.callback(features.close)
    return features


def _features_fit(plan: Plan, split: FrozenPrefix) -> bool:
    """Whether every image's features fit in half the free space where they would be written, as "auto" asks."""
    s = plan.settings
    rows = len(plan.train) + (0 if plan.validation is None else len(plan.validation))
    directory = s.cache_dir if s.cache_dir is not None else s.checkpoint_dir
    return fits_on_disk(directory, rows * split.row_bytes(plan.spec))


def _described(split: FrozenPrefix | None, *sources) -> dict | None:
    if split is None:
        return None
    sources = [f for f in sources if f is not None]
    return {"ends_at": split.ends_at, "shape": list(sources[0].shape),
            "bytes": sum(f.n_rows * f.row_bytes for f in sources), "kept": not sources[0].temporary}


def _teacher_logits(plan: Plan, train_images, teacher_pass: bool, timings: dict):
    """(cached logits per training row, or None; a teacher function for the step, or None)."""
    s = plan.settings
    source = plan.teacher
    if isinstance(source, TableTeacher):
        return source.lookup(plan.train), None
    if not isinstance(source, ModelTeacher):
        return None, None
    if teacher_pass:
        # A teacher of another input size reads the same files at its own size.
        images = train_images if plan.teacher_spec == plan.spec else FileImages(plan.train.paths, plan.teacher_spec)
        if n_workers(s.strategy) > 1:  # each worker computes its share, then all have all
            with timed(timings, "seconds_teacher"):
                return _sharded_logits(plan, source, images), None
        # Kept beside the checkpoint: a resumed run finds the logits instead of recomputing them.
        with timed(timings, "seconds_teacher"):
            logits = cached_logits(
                source, plan.train, images, s.batch_size, s.cache_dir if s.cache_dir is not None else s.checkpoint_dir,
                progress_printer(s.verbose, f"Teacher logits for {len(plan.train)} images (once, reused every epoch)"),
            )
        return logits, None
    if s.strategy is not None:
        source = _teacher_in_scope(source, s.strategy)
    # Augmented: the teacher sees the student's very view, resized to its own input size.
    return None, live_teacher(source, None if plan.teacher_spec == plan.spec else plan.teacher_spec.size)


def _teacher_in_scope(source: ModelTeacher, strategy) -> ModelTeacher:
    """The teacher with its variables made under the strategy's scope, as the student's are.

    A model Keras cannot rebuild from its config (a Python lambda, a custom layer without
    get_config or with arguments it cannot serialize) runs as it is: replicas then read its
    variables from where they live.
    """
    try:
        with strategy.scope():
            models = [clone_model(m) for m in source.models]
    except Exception:  # Keras refuses such models with TypeError, ValueError or NotImplementedError
        return source
    twin = ModelTeacher(models, combine=source.combine, precision=source.precision)
    twin.probabilities = source.probabilities  # as the plan read them from the outputs
    return twin


def _sharded_logits(plan: Plan, source: ModelTeacher, images) -> np.ndarray:
    """The teacher's logits for every training row, each row computed by one worker only."""
    s = plan.settings
    rows = np.array_split(np.arange(len(plan.train)), n_workers(s.strategy))[worker_index(s.strategy)]
    progress = progress_printer(s.verbose, f"Teacher logits for this worker's {len(rows)} of {len(plan.train)} images")
    logits = gather_rows(s.strategy, rows, compute_logits(source, images, rows, s.batch_size, progress), len(plan.train))
    bad = np.flatnonzero(~np.isfinite(logits).all(axis=1))
    if len(bad):  # every worker holds every row's logits, so all of them stop here
        raise not_finite(source, images.spec, plan.train.ids, bad)
    return logits
