"""Augmentation in ImageDataGenerator's terms (rotation, shifts, shear, zoom, flip),
run inside the compiled step as one fused affine resampling per image, keyed by
(seed, row, draw) so that any replica or resumed run sees the same views.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

import numpy as np

from .._tf import keras, tf
from ..core.errors import DataError, Setting, Words, every, few, kind, plural, shown
from ..core.seeds import fresh_seed
from .images import _MIX

FILL_MODES = ("reflect", "wrap", "constant", "nearest")


# Shifts and zoom are fractions of the image: 1 or more would shift it out of view or zoom to nothing.
FRACTIONS = ("width_shift_range", "height_shift_range", "zoom_range")


# The settings that mix each image with another of its batch, each a Beta concentration, and a usual value.
BATCH_MIXING = {"mixup": 0.2, "cutmix": 1.0}


@dataclass(frozen=True)
class Augmentation:
    """Random training-time transforms, in `ImageDataGenerator` terms.

    rotation_range: degrees, rotate by up to +/- this much.
    width_shift_range, height_shift_range: fraction of the size, shift up to +/-.
    shear_range: shear angle in degrees, +/- (as Keras 2 defined it).
    zoom_range: zoom in or out by up to this fraction.
    horizontal_flip: flip left-right half of the time.
    fill_mode: how to fill pixels moved in from outside the image.
    mixup: mix each image with another of its batch (Zhang et al., 2018), the
        weight drawn from Beta(mixup, mixup): 0.2 to 0.4 is usual, 0 is off. The
        teacher sees the same mixture, and the hard-label term mixes the two labels.
    cutmix: paste a box of another image of its batch into each image (Yun et al.,
        2019), the box's share of the area drawn from Beta(cutmix, cutmix): 1.0 is
        usual, 0 is off. As with mixup, the teacher sees the same image, and the two
        labels are mixed by the area each image shows. Use mixup or cutmix, not both.
    """

    rotation_range: float = 0.0
    width_shift_range: float = 0.0
    height_shift_range: float = 0.0
    shear_range: float = 0.0
    zoom_range: float = 0.0
    horizontal_flip: bool = False
    fill_mode: str = "reflect"
    mixup: float = 0.0
    cutmix: float = 0.0

    def __post_init__(self):
        for field in ("rotation_range", "width_shift_range", "height_shift_range", "shear_range", "zoom_range",
                      *BATCH_MIXING):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0 or not math.isfinite(value):
                fix = (f"{field} is the concentration of Beta({field}, {field}), such as {{usual}}; use 0 to turn it off."
                       if field in BATCH_MIXING else "Ranges are symmetric: a range r draws from -r to r; use 0 to turn it off.")
                raise DataError(f"Augmentation {field} must be a number >= 0, not {{value}}.", fix, value=shown(value),
                                usual=BATCH_MIXING.get(field, 0.0))
            object.__setattr__(self, field, float(value))
        if self.mixup and self.cutmix:
            raise DataError("Augmentation mixup and cutmix cannot both be on: each mixes every image with another "
                            "of its batch, in its own way.", "Use one of them: set {no_mixup} or {no_cutmix}.",
                            no_mixup=Setting("mixup", 0), no_cutmix=Setting("cutmix", 0))
        for field in FRACTIONS:
            value = getattr(self, field)
            if value >= 1:
                raise DataError(f"Augmentation {field} must be a fraction below 1, not {{value}}.",
                                "Use for example {example} for up to 20%.", value=value, example=Setting(field, 0.2))
        if not isinstance(self.horizontal_flip, (bool, np.bool_)):
            raise DataError("Augmentation horizontal_flip must be {true} or {false}, not {value}.",
                            "For example {example}.", true=True, false=False, value=shown(self.horizontal_flip),
                            example=Setting("horizontal_flip", True))
        object.__setattr__(self, "horizontal_flip", bool(self.horizontal_flip))
        if not isinstance(self.fill_mode, str) or self.fill_mode not in FILL_MODES:
            raise DataError("Augmentation fill_mode must be one of {modes}, not {value}.",
                            "The default {default} mirrors the image at its edges.",
                            modes=every(FILL_MODES), value=shown(self.fill_mode), default="reflect")

    @classmethod
    def coerce(cls, value) -> Augmentation | None:
        """Accept None, an Augmentation or a dict of its fields (as R sends it)."""
        if value is None or isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            unknown = [k for k in value if k not in cls.__dataclass_fields__]
            if unknown:
                raise DataError(f"Unknown augmentation {plural(len(unknown), 'setting', 'settings')}: {{unknown}}.",
                                "The settings are {known}.",
                                unknown=few(sorted(map(str, unknown))), known=every(cls.__dataclass_fields__))
            return cls(**dict(value))
        raise DataError("augment must be {none}, {forms}, not {value}.",
                        "For example {example}.", none=None, value=kind(value),
                        forms=Words("a pykd.Augmentation or a dict of its settings",
                                    "augmentation() or a named list of its settings"),
                        example=Setting("augment", {"horizontal_flip": True}))

    @property
    def is_identity(self) -> bool:
        return self == Augmentation(fill_mode=self.fill_mode)

    @property
    def moves_pixels(self) -> bool:
        """Whether the affine part (rotation, shifts, shear, zoom, flip) changes anything."""
        return not replace(self, **dict.fromkeys(BATCH_MIXING, 0.0)).is_identity

    @property
    def batch_mixing(self) -> str | None:
        """The setting that mixes images within a batch ("mixup" or "cutmix"), or None when neither is on."""
        return next((field for field in BATCH_MIXING if getattr(self, field)), None)

    def to_dict(self) -> dict:
        return asdict(self)


class RandomAffine(keras.layers.Layer):
    """Rotation, shift, shear, zoom and flip composed into ONE transform per image.

    Keras 2's ImageDataGenerator resampled each image once; chaining Keras 3's
    RandomRotation, RandomTranslation, RandomShear and RandomZoom resamples the
    batch once per layer, which measured about 3x slower.

    In training, pykd calls it with `keys` (each image's row and how many times the
    stream has drawn that row before): the transform is then a pure function of
    (seed, row, draw), the same whatever batch, replica or machine the row lands on,
    so one device and N replicas see the same views and a resumed run repeats them.
    Without keys (test-time augmentation, the benchmarks' baselines) the random state
    is a SeedGenerator, and a seeded run repeats.
    """

    def __init__(self, augment: Augmentation, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.augment = augment
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.seed = fresh_seed() if seed is None else int(seed)

    def call(self, images, training=True, keys=None):
        if not training:
            return images
        a = self.augment
        n = tf.shape(images)[0]
        height = tf.cast(tf.shape(images)[1], tf.float32)
        width = tf.cast(tf.shape(images)[2], tf.float32)
        # Seven uniform draws in [-1, 1] per image: angle, shifts, shear, zooms, flip.
        if keys is None:
            u = tf.convert_to_tensor(keras.random.uniform((n, 7), minval=-1.0, maxval=1.0, seed=self.seed_generator))
        else:
            u = keyed_uniform(self.seed, keys[0], keys[1], 7)
        angle = u[:, 0] * math.radians(a.rotation_range)
        shift_x, shift_y = u[:, 1] * a.width_shift_range * width, u[:, 2] * a.height_shift_range * height
        shear = u[:, 3] * math.radians(min(a.shear_range, 89.0))
        zoom_x, zoom_y = 1.0 + u[:, 4] * a.zoom_range, 1.0 + u[:, 5] * a.zoom_range
        flip = tf.cast(u[:, 6] < 0, tf.float32) if a.horizontal_flip else tf.zeros_like(angle)
        cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0

        # Maps each output pixel to the input pixel it samples, right to left:
        # flip, shift, then zoom, shear and rotate about the centre.
        matrix = _affine(1.0 - 2.0 * flip, 0.0, flip * (width - 1.0), 0.0, 1.0, 0.0)
        for step in (
            _affine(1.0, 0.0, shift_x, 0.0, 1.0, shift_y),
            _affine(1.0, 0.0, -cx, 0.0, 1.0, -cy),
            _affine(zoom_x, 0.0, 0.0, 0.0, zoom_y, 0.0),
            _affine(1.0, -tf.sin(shear), 0.0, 0.0, tf.cos(shear), 0.0),
            _affine(tf.cos(angle), -tf.sin(angle), 0.0, tf.sin(angle), tf.cos(angle), 0.0),
            _affine(1.0, 0.0, cx, 0.0, 1.0, cy),
        ):
            matrix = _compose(step, matrix, n)
        out = tf.raw_ops.ImageProjectiveTransformV3(
            images=images,
            transforms=matrix,
            output_shape=tf.shape(images)[1:3],
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode=a.fill_mode.upper(),
        )
        return tf.ensure_shape(out, images.shape)


_GOLDEN = 0x9E3779B97F4A7C15  # splitmix64's increment and mixing constants


def keyed_uniform(seed: int, rows, draw, k: int) -> tf.Tensor:
    """(len(rows), k) float32 uniform in [-1, 1): a pure function of (seed, row, draw, column).

    splitmix64 over a counter made of the four, so no state is shared between rows
    and any split of a batch gives every row its own numbers.
    """
    u64 = lambda v: tf.cast(v, tf.uint64)  # noqa: E731
    shift = lambda z, bits: tf.bitwise.right_shift(z, tf.constant(bits, tf.uint64))  # noqa: E731
    rows, draw = u64(tf.reshape(rows, [-1])), u64(draw)
    counter = (u64(seed) * tf.constant(_MIX[0], tf.uint64) + rows) * tf.constant(_MIX[1], tf.uint64) + draw
    z = counter[:, None] * tf.constant(k, tf.uint64) + tf.constant(list(range(k)), tf.uint64)[None, :]
    z = z * tf.constant(_GOLDEN, tf.uint64) + tf.constant(_GOLDEN, tf.uint64)
    z = tf.bitwise.bitwise_xor(z, shift(z, 30)) * tf.constant(_MIX[0], tf.uint64)
    z = tf.bitwise.bitwise_xor(z, shift(z, 27)) * tf.constant(_MIX[1], tf.uint64)
    z = tf.bitwise.bitwise_xor(z, shift(z, 31))
    unit = tf.cast(shift(z, 11), tf.float64) * (2.0**-53)  # 53 random bits: [0, 1)
    return tf.cast(unit * 2.0 - 1.0, tf.float32)


def _affine(a, b, c, d, e, f) -> list:
    """The 2x3 affine [[a, b, c], [d, e, f]]; entries are scalars or per-image vectors."""
    return [a, b, c, d, e, f]


def _compose(outer: list, inner: list, n) -> tf.Tensor:
    """outer @ inner for per-image 2x3 affines, as the (n, 8) rows ImageProjectiveTransform takes."""
    if isinstance(inner, tf.Tensor):
        inner = [inner[:, i] for i in (0, 1, 2, 3, 4, 5)]
    o = [tf.broadcast_to(tf.cast(v, tf.float32), [n]) for v in outer]
    i = [tf.broadcast_to(tf.cast(v, tf.float32), [n]) for v in inner]
    rows = [
        o[0] * i[0] + o[1] * i[3], o[0] * i[1] + o[1] * i[4], o[0] * i[2] + o[1] * i[5] + o[2],
        o[3] * i[0] + o[4] * i[3], o[3] * i[1] + o[4] * i[4], o[3] * i[2] + o[4] * i[5] + o[5],
    ]  # fmt: skip
    zeros = tf.zeros([n])
    return tf.stack([*rows, zeros, zeros], axis=1)


def build_augmenter(augment: Augmentation | None, seed: int | None) -> RandomAffine | None:
    """One RandomAffine layer for `augment`, or None when it moves no pixel (mixup and cutmix are BatchMixing's)."""
    if augment is None or not augment.moves_pixels:
        return None
    return RandomAffine(augment, seed=seed, name="augmentation")
