"""The rules a whole plan is judged by: settings that cannot go together, a hint's layers,
which frozen prefix of the student to cache, and what is legal but probably not meant.
"""

from __future__ import annotations

from ..core.errors import DataError, Setting, Text, few, literal, warn
from ..kd.hint import hint_layer
from ..kd.teacher import ModelTeacher, TableTeacher
from ..models.introspection import trainable_params
from .features import FrozenPrefix, LivePrefix, frozen_prefix, no_prefix_error
from .prefix_advice import warn_if_randomness_stops_the_cache


def check_sizes(teacher, student, larger_student: bool) -> None:
    """A student with more trainable parameters than the teacher has in all is most likely a swap
    (the fine-tuned teacher would be trained in place): refused unless larger_student=True. Frozen
    parameters are left out, so a frozen-backbone student is no false alarm."""
    teacher_params = getattr(teacher, "params", None)
    trainable = trainable_params(student)
    if teacher_params is not None and trainable > teacher_params and not larger_student:
        raise DataError(f"The student has more trainable parameters ({trainable:,}) than the teacher has in all "
                        f"({teacher_params:,}): were they passed in the wrong order?",
                        "Pass them as distill(teacher, student, ...), or {larger} if a larger student is meant.",
                        larger=Setting("larger_student", True))


def warn_about_likely_mistakes(plan) -> None:
    """Legal but probably not meant: validation rows that are training rows."""
    if plan.validation is not None:
        shared = sorted(set(plan.validation.ids) & set(plan.train.ids))
        if shared:
            warn(f"{len(shared)} validation images are also training images ({literal(few(shared))}): "
                 "validation accuracy will read higher than on unseen images.")


def _check_hint(plan) -> None:
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
    hint_layer(plan.teacher.models[0], hint.teacher_layer, "teacher")
    hint_layer(plan.student, hint.student_layer, "student")


def running_prefix(plan, sample) -> LivePrefix | None:
    """The student's frozen prefix, to run every step outside the gradient tape in frozen_precision, for an
    augmented run (whose features cannot be cached) without a hint or a strategy (whose steps read the
    whole student); None when it has none worth running apart."""
    s = plan.settings
    if plan.features is not None or not plan.augmented or s.hint is not None or s.strategy is not None:
        return None
    split, _ = frozen_prefix(plan.student)
    if split is None or not split.same_in_training(sample):
        return None
    runner = ModelTeacher([split.prefix], outputs="logits", precision=s.frozen_precision)
    runner.settle_precision(sample, role="student's frozen prefix", setting="frozen_precision")
    return LivePrefix(split, runner)


def cached_prefix(plan, sample) -> FrozenPrefix | None:
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
    if setting == "auto":
        warn_if_randomness_stops_the_cache(plan.student, split, sample)
    if split is None:
        if setting is True:
            raise no_prefix_error(plan.student, reason)
        return None
    image = plan.spec.height * plan.spec.width * plan.spec.channels
    if setting == "auto" and split.row_bytes(plan.spec) > 4 * image:
        return None  # features larger than the image they come from: reading them back costs more
    return split


def check_combinations(plan) -> None:
    """Refuse settings that cannot go together in this plan, naming both and the fix."""
    check_sizes(plan.teacher, plan.student, plan.settings.larger_student)
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
    s = plan.settings
    if s.last_batch == "drop" and len(plan.train) < s.batch_size:
        raise DataError(f"{{drop}} with batch_size={s.batch_size} leaves no batch from a table of {len(plan.train)} rows.",
                        "Use a smaller batch_size, or keep the short batch with {keep}.",
                        drop=Setting("last_batch", "drop"), keep=Setting("last_batch", "keep"))
