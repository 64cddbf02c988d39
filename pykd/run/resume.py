"""Which checkpoint a run may continue, decided before the first step.

A checkpoint records what its run was: data (the image files' contents too), labels,
loss, optimizer, teacher, the student's layers and augmentation. A run with resume=True must be that run (only `epochs` may
grow), and is refused naming every setting that differs with its old and new
value; a run with resume=False never overwrites a checkpoint; resume=True with
no checkpoint says that it starts fresh. Folders that will be written are tried
for writing first, so nothing fails after an epoch has trained.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .._tf import keras
from ..core import storage
from ..core.content import digest_of, file_digests
from ..core.errors import DataError, Setting, Text, Words, few, literal, warn
from ..data.augmentation import BATCH_MIXING
from ..kd.teacher import ModelTeacher, TableTeacher
from ..models.fingerprint import layers_digest
from . import checkpoint
from .options import OPTIONS
from .plan import Plan


def digest(values) -> str:
    """A stable fingerprint of ids, labels or arrays (Python's own hash() changes per process)."""
    if isinstance(values, np.ndarray):
        return hashlib.sha1(np.ascontiguousarray(values).tobytes()).hexdigest()[:16]
    return hashlib.sha1("\n".join(map(str, values)).encode()).hexdigest()[:16]


def run_key(plan: Plan) -> dict:
    """What a checkpoint must agree on to be continued by this run (plain JSON values): what the run
    read (its tables, images and teacher) and the options declared part of the key (Option.resume)."""
    s = plan.settings
    key = {
        "mode": plan.mode, "steps": plan.steps_per_epoch,
        "n_train": len(plan.train), "ids": digest(plan.train.ids), "labels": digest(plan.train.labels.astype(np.int64)),
        "classes": None if plan.train.classes is None else list(plan.train.classes),
        "validation": None if plan.validation is None else digest(
            [*plan.validation.ids, *plan.validation.labels.tolist()]),
        "image": plan.spec.key(), "teacher": _teacher(plan),
        "student": layers_digest(plan.student),  # a layer's activation or settings changed: not the same run
        "images": digest_of(*file_digests([*plan.train.paths, *(plan.validation.paths if plan.validation else ())])),
    }  # fmt: skip
    for name in dict.fromkeys(option.resume for option in OPTIONS if option.resume):
        value = _KEYED[name](plan) if name in _KEYED else getattr(s, name)
        if value is not _OMITTED:
            key[name] = value
    return key


_OMITTED = object()  # an entry left out of the key, as in checkpoints written before its setting existed
# How the key writes the options that are not written as their checked value.
_KEYED = {
    "temperature": lambda plan: plan.settings.temperature if plan.distilling else None,
    "alpha": lambda plan: plan.settings.alpha if plan.distilling else None,
    "optimizer": lambda plan: optimizer_key(plan.settings.optimizer, plan.settings.learning_rate),
    "augment": lambda plan: _augmentation(plan.settings.augment) if plan.augmented else None,
    "teacher_view": lambda plan: plan.settings.teacher_view
    if plan.distilling and plan.settings.teacher_view != "same" else _OMITTED,
    "hint": lambda plan: _OMITTED if plan.settings.hint is None else asdict(plan.settings.hint),
    "weights": lambda plan: _OMITTED if plan.train.weights is None else digest(plan.train.weights),
    "frozen_precision": lambda plan: _OMITTED if plan.live_prefix is None else plan.live_prefix.runner.precision,
}


def _augmentation(augment) -> dict:
    settings = augment.to_dict()
    for mixing in BATCH_MIXING:
        if settings[mixing] == 0:
            del settings[mixing]  # as checkpoints from before the setting existed: they still resume
    return settings


def optimizer_key(optimizer, learning_rate) -> dict:
    if learning_rate is None:  # an optimizer object: its class and configuration, rate included
        config = optimizer.get_config()
        config.pop("name", None)  # Keras numbers each new object's name (adam_1, adam_2): not a setting
        return {"class": type(optimizer).__name__, **json.loads(json.dumps(config, default=str))}
    if isinstance(learning_rate, float):  # the peak of the warm-up and cosine over the run (pykd.run.schedule)
        return {"class": optimizer.__name__, "learning_rate": learning_rate, "schedule": "warmup_cosine"}
    rate = keras.optimizers.schedules.serialize(learning_rate)
    return {"class": optimizer.__name__, "learning_rate": json.loads(json.dumps(rate, default=str))}


def _teacher(plan: Plan) -> str | None:
    if isinstance(plan.teacher, ModelTeacher):
        return plan.teacher.fingerprint(plan.spec, strict=False)
    if isinstance(plan.teacher, TableTeacher):
        return digest(plan.teacher.lookup(plan.train))
    return None


def check_before_start(plan: Plan, key: dict | None = None) -> checkpoint.Saved | None:
    """The checkpoint to continue from, read once (None: start fresh), or a DataError naming why not.

    key: the run's run_key(plan), when the caller has it (it hashes every image file).
    """
    s = plan.settings
    for name in ("checkpoint_dir", "cache_dir"):
        if getattr(s, name) is not None:
            probe_writable(getattr(s, name), name)
    if s.checkpoint_dir is None:
        return None
    probe_room(plan)
    path = storage.join(s.checkpoint_dir, checkpoint.FILENAME)
    if not s.resume:
        if storage.exists(path):
            raise DataError(
                "checkpoint_dir {directory} already holds a checkpoint; this run would overwrite it.",
                "Continue it with {resume}, or start over in another checkpoint_dir (or delete {file}).",
                directory=str(s.checkpoint_dir), resume=Setting("resume", True), file=str(path),
            )
        return None
    saved = checkpoint.load(s.checkpoint_dir)
    if saved is None:
        warn(f"resume=True, but {s.checkpoint_dir} holds no checkpoint yet: starting fresh.")
        return None
    checkpoint.check_shapes(plan.student.variables, saved.values.get("student", []), "student")  # before it is compiled
    check_same_run(saved.meta.get("run_key", {}), run_key(plan) if key is None else key, s.checkpoint_dir)
    return saved


# Entries added to the key after checkpoints were first written: a checkpoint without one still resumes.
_RECORDED_LATER = {"seed", "student", "images", "frozen_precision"}


def check_same_run(saved: dict, now: dict, directory) -> None:
    # Entries a key leaves out when unset (hint, weights) count as changed either way.
    compared = [k for k in {**saved, **now} if (k in saved and k in now) or k not in _RECORDED_LATER]
    shown = [change for k in compared if saved.get(k) != now.get(k) for change in _changes(k, saved.get(k), now.get(k))]
    if shown:
        raise DataError(
            "The checkpoint in {directory} comes from a different run: {changes}.",
            "Resume with the settings of that run (only epochs may grow), or start over in another checkpoint_dir.",
            directory=str(directory), changes=few(shown),
        )


_FINGERPRINTS = {"ids": "the image ids", "labels": "the labels", "validation": "the validation table",
                 "teacher": "the teacher", "student": "the student's layers (their kinds, settings or wiring)",
                 "images": "the content of the image files", "weights": "the row weights"}


def _changes(name: str, then, now) -> list[Words]:
    """'optimizer learning_rate was 0.001, now 0.01', in each language's syntax; settings
    that are dicts (the optimizer, the augmentation) name their entries that changed."""
    if name in _FINGERPRINTS:  # digests: their values mean nothing to a reader
        what = _FINGERPRINTS[name]
        happened = "was added" if then is None else "was removed" if now is None else "changed"
        return [Words(f"{what} {happened}", f"{what} {happened}")]
    if isinstance(then, dict) and isinstance(now, dict):
        return [change for key in sorted(set(then) | set(now)) if then.get(key) != now.get(key)
                for change in _changes(f"{name} {key}", then.get(key), now.get(key))]
    return [Words(*(f"{name} was {_short(then, lang)}, now {_short(now, lang)}" for lang in ("python", "r")))]


def _short(value, language: str) -> str:
    text = literal(value, language)
    return text if len(text) <= 60 else text[:57] + "..."


def checkpoint_bytes(plan: Plan) -> int:
    """About what one checkpoint of the run takes: the student's variables, and two optimizer slots (Adam's
    moments) per trainable one."""
    size = lambda variables: sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in variables)  # noqa: E731
    return size(plan.student.variables) + 2 * size(plan.student.trainable_variables)


def probe_room(plan: Plan) -> None:
    """Refuse a local checkpoint_dir without room for two checkpoints (the next is written beside the last,
    then renamed over it), before the first epoch rather than after it."""
    folder = plan.settings.checkpoint_dir
    if storage.is_url(folder):  # object stores report no free space
        return
    need, free = 2 * checkpoint_bytes(plan), storage.free_bytes(folder)
    if free < need:
        raise DataError("checkpoint_dir {folder} has {free} free, but each checkpoint of this run takes about {size} "
                        "(the student's weights and the optimizer's state), written beside the last one.",
                        "Free some space on that disk, or give a checkpoint_dir on a disk with room.",
                        folder=str(folder), free=Text(_megabytes(free)), size=Text(_megabytes(need // 2)))


def _megabytes(n: int) -> str:
    return f"{n / 2**20:,.1f} MB" if n >= 2**20 else f"{n / 2**10:,.1f} KB"


def probe_writable(folder, name: str) -> None:
    """Write and delete a file in `folder` (or the nearest folder above it that exists)."""
    if storage.isfile(folder):
        raise DataError(f"{name} {{folder}} is a file, not a folder.", f"Give {name} a folder path.", folder=str(folder))
    if storage.is_url(folder):
        _probe_url(folder, name)
        return
    target = Path(folder)
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise DataError(f"{name} {{folder}} cannot be written ({err.strerror or err}).",
                        f"Give {name} a folder you can write to.", folder=str(target)) from err
    if not os.access(existing, os.W_OK):  # pragma: no cover - root passes permission bits
        raise DataError(f"{name} {{folder}} cannot be written.", f"Give {name} a folder you can write to.", folder=str(target))


def _probe_url(folder: str, name: str) -> None:
    """Write and delete a small file in the URL `folder` (object stores have no folders to look for first)."""
    probe = storage.join(folder, f".pykd-probe-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        storage.write_bytes_atomic(probe, b"")
        storage.remove(probe)
    except OSError as err:
        raise DataError(f"{name} {{folder}} cannot be written ({err.strerror or err}).",
                        f"Give {name} a folder you can write to.", folder=folder) from err
