"""The noised student (Xie et al., 2020): a student trained under noise on the teacher's
logits of the original images, for as many rounds as asked, each round's student
teaching the next."""

from __future__ import annotations

from dataclasses import replace

from ..api import distill
from ..core.errors import DataError, Setting
from ..core.hints import ModelLike, TableLike, TeacherLike
from ..core.storage import join
from ..core.validation import whole_number
from ..data.augmentation import Augmentation
from ..kd.hint import Hint
from ..models.forward import clone_model
from ..models.loading import load_model
from ..run.history import History
from ..run.options import FIXED, check_names

# Noise that keeps a photo's class: shifts, a little zoom and rotation, mirror images.
NOISE = Augmentation(rotation_range=10, width_shift_range=0.1, height_shift_range=0.1, zoom_range=0.1,
                     horizontal_flip=True)


def noisy_student(teacher: TeacherLike, student: ModelLike, train: TableLike, *, rounds: int = 1,
                  augment: Augmentation | dict | None = NOISE, **options: object) -> list[History]:
    """Distill `teacher` into `student` with noise on the student only; returns one History per round.

    Every round shows the student augmented images (and runs its own dropout) while its
    targets are the teacher's logits of the original images, computed once
    (teacher_view="clean"); unlabeled rows of `train` are where this pays. The student may be
    larger than its teacher (larger_student=True). From the
    second round on, the previous round's student is the teacher and the student starts
    again from its initial weights. `student` ends with the last round's weights.

    teacher, student, train: as for distill(); student may be a path (the trained model
        is each history's `model`).
    rounds: how many times to distill, at least 1.
    augment: the noise, a pykd.Augmentation or a dict of its fields (mixup and cutmix
        cannot apply: a mixed image has no original); by default pykd.recipes.noisy.NOISE, which
        mirrors images: pass another for images whose sides matter.
    options: any other distill() option (epochs, validation, temperature, alpha, seed, ...).
        With several rounds, checkpoint_dir holds one folder per round (round-1, ...), and
        a hint's teacher layer is the student's own layer from round 2 on.
    A KeyboardInterrupt carries the finished rounds and the interrupted one's finished
    epochs as `err.histories`.
    """
    rounds = whole_number(rounds, "rounds")
    augment = Augmentation.coerce(augment)
    if augment is None or augment.is_identity:
        raise DataError("A noised student needs noise: augment changes nothing.",
                        "Pass augmentation settings, for example {example}, or use distill().",
                        example=Setting("augment", {"width_shift_range": 0.1, "horizontal_flip": True}))
    if augment.batch_mixing:
        raise DataError(f"A noised student cannot use {augment.batch_mixing}: its targets are the teacher's logits of "
                        "the original images, and a mixed image has none.", f"Set {augment.batch_mixing} to 0.")
    check_names("noisy_student", options)
    student = load_model(student, role="student")
    initial = student.get_weights()
    histories: list[History] = []
    for round_ in range(rounds):
        if round_:
            teacher = clone_model(student)  # this round's teacher: the last round's student, frozen
            student.set_weights(initial)
        try:
            histories.append(distill(teacher, student, train, augment=augment, **FIXED["noisy_student"],
                                     **_round_options(options, round_, rounds)))
        except KeyboardInterrupt as err:  # the rounds so far, the interrupted one's finished epochs last
            err.histories = [*histories, *([err.history] if hasattr(err, "history") else [])]
            raise
    return histories


def _round_options(options: dict, round_: int, rounds: int) -> dict:
    """One round's distill() options: its own checkpoint folder, and a hint on the student's layer once
    the teacher is a student."""
    options = dict(options)
    if options.get("checkpoint_dir") is not None and rounds > 1:
        options["checkpoint_dir"] = join(options["checkpoint_dir"], f"round-{round_ + 1}")
    hint = Hint.coerce(options.get("hint"))
    if hint is not None and round_:
        options["hint"] = replace(hint, teacher_layer=hint.student_layer)
    return options
