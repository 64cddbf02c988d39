"""The frozen-prefix feature cache: what a frozen backbone computes, computed once per image.

In the most common transfer set-up (a frozen backbone under a small trainable head)
every epoch pushes every image through layers whose output cannot change. Without
augmentation, pykd finds the longest such prefix of the student, computes its output
once per image, and trains only the rest of the network on those features. The rest
shares its layers (and so its weights) with the student: the user's model is trained,
and predict, evaluate, export and checkpoints see the whole network.

A layer belongs to the prefix only if training cannot change it and it computes the
same in training as in inference: no trainable weights, and not dropout, noise or
anything random (a frozen BatchNormalization runs in inference mode in Keras 3). The
prefix ends at a single tensor that everything after it depends on alone. Nested
models (a backbone inside a classifier) are looked into, so unfreezing the top blocks
of a backbone moves the end of the prefix to just before them.
"""

from __future__ import annotations

import inspect
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._tf import keras
from ..core import storage
from ..core.content import digest_of, file_digests, unchanged
from ..core.errors import DataError, Setting, Text, Words, warn
from ..data.image_cache import DecodedImages, RowFile, verified, write_rows
from ..models.fingerprint import Unfingerprintable, update_digest
from ..models.forward import compiled
from ..models.freezing import is_quiet
from ..models.nested import flattened

_FORMAT = "1"
_MAGIC = b"pykd-f32" + _FORMAT.encode()  # the file's footer: this marker, then its rows' checksum


@dataclass
class FrozenPrefix:
    """A student split at the end of its frozen prefix: student(x) == rest(prefix(x))."""

    prefix: keras.Model
    rest: keras.Model
    ends_at: str  # the last layer of the prefix

    def row_bytes(self, spec) -> int:
        """The bytes of one image's features (float32)."""
        shape = self.prefix.compute_output_shape((1, spec.height, spec.width, spec.channels))[1:]
        return int(np.prod(shape)) * 4

    def same_in_training(self, x) -> bool:
        """Whether the prefix computes the same for `x` in training as in inference; the prefix is left as it
        was (a BatchNormalization run in training moves its statistics, a Dropout its random state)."""
        state = [(v, v.numpy()) for v in self.prefix.non_trainable_variables]
        try:
            first, second = (np.asarray(self.prefix(x, training=training)) for training in (True, False))
        finally:
            for variable, value in state:
                variable.assign(value)
        return bool(np.allclose(first, second, rtol=1e-6, atol=1e-6))

    def fingerprint(self, spec, rounded: bool) -> str:
        """Changes whenever the prefix's layers or weights, or the images' preparation, change."""
        digest = update_digest(None, self.prefix)
        digest.update(f"|{spec.key()}|{rounded}".encode())
        return digest.hexdigest()[:32]


@dataclass
class LivePrefix:
    """A frozen prefix run every step (its outputs cannot be cached: augmented views): outside the gradient
    tape, in inference mode, in its own precision (`runner`, a ModelTeacher of the prefix alone)."""

    split: FrozenPrefix
    runner: object  # kd.teacher.ModelTeacher: its logits() are the prefix's outputs, in float32

    def outputs(self, x):
        return self.runner.logits(x)


def frozen_prefix(model: keras.Model) -> tuple[FrozenPrefix | None, str | None]:
    """(the split, None), or (None, why there is no prefix worth caching)."""
    flat = flattened(model)
    if flat is None:
        return None, "it is not a Sequential or functional model"
    cut, blocker = _last_cut(flat)
    first = "nothing in it trains" if blocker is None else f"its layer {blocker} {_why(blocker, flat)}"
    if cut is None:
        return None, first
    prefix = keras.Model(flat.input, cut, name=f"{model.name}_frozen_prefix")
    if not any(getattr(layer, "kernel", None) is not None for layer in prefix.layers):
        # Rescaling or normalizing the pixels costs less than reading 4-byte features back.
        return None, f"{first}, and the layers before it hold no convolution or dense layer worth caching"
    rest = keras.Model(cut, flat.output, name=f"{model.name}_rest")
    trained = {id(v) for v in model.trainable_variables}
    if {id(v) for v in rest.trainable_variables} != trained:  # never train less than the whole student
        return None, "the layers after its frozen prefix do not hold all its trainable weights"
    return FrozenPrefix(prefix, rest, cut._keras_history[0].name), None


def _last_cut(flat: keras.Model):
    """(the last tensor of the unchanging prefix that the rest depends on alone, or None;
    the name of the first layer that may change, or None)."""
    nodes = [node for depth in sorted(flat._nodes_by_depth, reverse=True) for node in flat._nodes_by_depth[depth]]
    uses: dict[int, int] = {}
    for node in nodes:
        for x in node.input_tensors:
            uses[id(x)] = uses.get(id(x), 0) + 1
    outputs = {id(x) for x in flat.outputs}
    live: dict[int, object] = {}  # computed tensors that later layers still need
    cut = None
    for node in nodes:
        if node.is_input:
            live.update({id(x): x for x in node.outputs})
            continue
        if not unchanging(node.operation):
            return cut, node.operation.name
        for x in node.input_tensors:
            uses[id(x)] -= 1
            if uses[id(x)] == 0:
                live.pop(id(x), None)
        live.update({id(x): x for x in node.outputs if uses.get(id(x), 0) > 0 or id(x) in outputs})
        if len(live) == 1:  # everything after this point depends on this one tensor alone
            (only,) = live.values()
            if id(only) not in outputs:
                cut = only
    return cut, None


def unchanging(layer) -> bool:
    """Whether training leaves `layer` as it is and it computes the same in training and in inference."""
    if not isinstance(layer, keras.layers.Layer):
        return True  # a keras.ops operation in the graph (MobileNetV3's adds): a function of its inputs
    if layer.trainable_weights:
        return False
    if is_quiet(layer):
        return True  # dropout or noise turned off: as set_trainable() and classifier() leave a frozen backbone's
    if any(v.name == "seed_generator_state" for v in layer.non_trainable_variables):
        return False  # draws random numbers
    if isinstance(layer, keras.layers.BatchNormalization):
        return True  # frozen, so it normalizes with its moving statistics in training too
    if isinstance(layer, keras.layers.Lambda):  # it passes `training` on only to a function that takes it
        try:
            return "training" not in inspect.signature(layer.function).parameters
        except (TypeError, ValueError):  # a callable Python cannot inspect
            return False
    return "training" not in inspect.signature(layer.call).parameters


def _why(name: str, flat: keras.Model) -> str:
    layer = next(layer for layer in flat._flatten_layers(include_self=False) if layer.name == name)
    if layer.trainable_weights:
        return "trains"
    return f"({type(layer).__name__}) is random or acts differently in training"


def no_prefix_error(model: keras.Model, reason: str) -> DataError:
    return DataError(
        "{insist}, but the student {name} has no frozen prefix to cache: {reason}.",
        "Freeze its backbone ({builder} freezes it and turns its dropout off), or pass {auto}.",
        insist=Setting("cache_features", True), name=model.name, reason=Text(reason),
        builder=Words("pykd.models.classifier()", "rkd_classifier()"),
        auto=Setting("cache_features", "auto"),
    )


class Features(RowFile):
    """A prefix's outputs, one float32 row per image: read by batches of rows as image sources are."""


def prefix_features(
    split: FrozenPrefix, images, paths: Sequence[str], batch_size: int, cache_dir, progress=None
) -> Features:
    """The prefix's output for every row of `images`, computed once; kept in `cache_dir` (or a temporary folder).

    A kept file is named by the prefix's fingerprint and the content digests of the
    rows' files, in order, and verified by its checksum before it is used again.
    """
    spec = images.spec
    shape = tuple(int(d) for d in split.prefix.compute_output_shape((1, spec.height, spec.width, spec.channels))[1:])
    row_bytes = split.row_bytes(spec)
    rounded = isinstance(images, DecodedImages) and images.exact is not True
    fingerprint = None
    if cache_dir is not None:
        try:
            fingerprint = split.fingerprint(spec, rounded)
        except Unfingerprintable as err:  # a kept answer could be stale: computed for this run only
            warn(f"The student's frozen-prefix features are not kept in cache_dir: {err}, whose content pykd cannot "
                 "fingerprint, so a kept answer could be stale. They are computed for this run.")
            cache_dir = None
    if cache_dir is None:
        path = Path(tempfile.mkdtemp(prefix="pykd-features-"), "features.f32")
        try:
            _write(split, images, len(paths), path, batch_size, progress, None)
        except BaseException:
            shutil.rmtree(path.parent, ignore_errors=True)
            raise
        return Features(path, len(paths), shape, np.float32, temporary=True)
    digests = getattr(images, "digests", None) or file_digests(paths)
    name = digest_of("pykd prefix features", _FORMAT, fingerprint, "\n".join(digests))
    path = storage.join(cache_dir, f"features-{name}.f32")
    if not verified(path, len(paths) * row_bytes, _MAGIC, "prefix-feature cache", "the features are computed again"):
        _write(split, images, len(paths), path, batch_size, progress,
               None if isinstance(images, DecodedImages) else digests)
    return Features(path, len(paths), shape, np.float32, temporary=False)


def _write(split: FrozenPrefix, images, n_rows: int, path: str | Path, batch_size: int, progress, digests) -> None:
    rows = np.arange(n_rows)
    batches = [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)]

    prefix = compiled(split.prefix, images.spec)

    def blocks():
        for step, (_, pixels) in enumerate(images.batches(batches)):
            yield prefix(images.spec.to_inputs(pixels)).numpy()
            if progress is not None:
                progress(step + 1, len(batches))
        if digests is not None:  # read from the files since they were hashed
            unchanged(digests, "the student's prefix features")

    try:
        storage.makedirs(storage.parent(path))
        write_rows(path, blocks(), _MAGIC)
    except OSError as err:
        raise DataError("Could not write the student's prefix features to {path}: {reason}.",
                        "Free some disk space, pass another cache_dir, or {off}.",
                        path=str(path), reason=Text(err.strerror or str(err)),
                        off=Setting("cache_features", False)) from err
