"""Images: decoding files with tf.data, checking them up front, and augmenting batches.

Augmentation speaks the vocabulary of Keras 2's `ImageDataGenerator` (what R's
`image_data_generator()` exposed) but is built from Keras 3 preprocessing layers
and runs inside the compiled train step, so teacher and student see one view.
"""

from __future__ import annotations

import io
import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace

import numpy as np
from PIL import Image

from . import storage
from ._tf import keras, tf
from .errors import DataError, Setting, Text, Words, every, few, kind, literal, plural, shown

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
        self.seed = int(np.random.default_rng().integers(2**31 - 1)) if seed is None else int(seed)

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
_MIX = (0xBF58476D1CE4E5B9, 0x94D049BB133111EB)


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


class BatchMixing:
    """Mixing between the images of a batch, keyed like RandomAffine: a row's partner and weight
    are a pure function of (seed, the set of rows in its batch, draw), whatever their order,
    so a resumed run mixes alike.

    Called with (images, rows, draw), returns the mixed images, each row's partner (a
    position in the batch) and the weight of the row's own image in its mixture, by which
    the train step mixes the two labels.
    """

    STREAM: int  # offsets the keys, so that a subclass's draws are not the affine's for the same row

    def __init__(self, concentration: float, seed: int):
        self.concentration = float(concentration)
        self.seed = int(seed) + self.STREAM

    def _unit(self, rows, draw, k: int) -> tf.Tensor:
        """(len(rows), k) keyed uniforms in [0, 1)."""
        return (keyed_uniform(self.seed, rows, draw, k) + 1.0) / 2.0


def ring_partners(keys) -> tf.Tensor:
    """Each row's partner: the row whose key comes next, the rows ordered by their keys in a ring.

    Every row is some row's partner once, and no row its own unless it is alone.
    """
    order = tf.argsort(keys)
    rank = tf.math.invert_permutation(order)
    return tf.gather(order, (rank + 1) % tf.shape(order)[0])


class BatchMixup(BatchMixing):
    """Mixup (Zhang et al., 2018): each image blended with its partner, its own weight drawn
    from Beta(concentration, concentration)."""

    STREAM = 0x5EED

    def __call__(self, images, rows, draw):
        u = self._unit(rows, draw, 2)
        partner = ring_partners(u[:, 1])
        weight = tf.cast(beta_quantile(u[:, 0], self.concentration), images.dtype)
        w = weight[:, None, None, None]
        return w * images + (1.0 - w) * tf.gather(images, partner), partner, weight


class BatchCutMix(BatchMixing):
    """CutMix (Yun et al., 2019): a box of each image replaced by the same box of its partner.

    lam ~ Beta(concentration, concentration) makes the box floor(height * sqrt(1 - lam)) by
    floor(width * sqrt(1 - lam)) pixels; it is centred at a keyed pixel and clipped to the
    image, as the paper's code does. Clipping shrinks the box, so the weight is what the
    image still shows of its own, 1 - box area / image area, rather than lam.
    """

    STREAM = 0xC07  # "cut"

    def __call__(self, images, rows, draw):
        u = self._unit(rows, draw, 4)  # lam, the ring key, the centre's row and column
        partner = ring_partners(u[:, 1])
        height, width = tf.shape(images)[1], tf.shape(images)[2]
        fraction = tf.sqrt(1.0 - beta_quantile(u[:, 0], self.concentration))  # of each side: the box covers 1 - lam of the area
        top, bottom = _box_span(u[:, 2], fraction, height)
        left, right = _box_span(u[:, 3], fraction, width)
        inside = _within(top, bottom, height)[:, :, None] & _within(left, right, width)[:, None, :]
        mixed = tf.where(inside[..., None], tf.gather(images, partner), images)
        area = tf.cast((bottom - top) * (right - left), tf.float64) / tf.cast(height * width, tf.float64)
        return mixed, partner, tf.cast(1.0 - area, images.dtype)


def _box_span(u, fraction, size):
    """[start, end) of a box along an axis of `size` pixels: floor(size * fraction) long,
    centred at pixel floor(u * size), clipped to the axis."""
    size64 = tf.cast(size, tf.float64)
    length = tf.cast(tf.floor(size64 * fraction), tf.int32)
    centre = tf.minimum(tf.cast(tf.floor(tf.cast(u, tf.float64) * size64), tf.int32), size - 1)
    return tf.clip_by_value(centre - length // 2, 0, size), tf.clip_by_value(centre + length // 2, 0, size)


def _within(start, end, size) -> tf.Tensor:
    """(rows, size) bools: whether each position along the axis lies in the row's [start, end)."""
    positions = tf.range(size)[None, :]
    return (positions >= start[:, None]) & (positions < end[:, None])


def beta_quantile(p, a: float, iterations: int = 40) -> tf.Tensor:
    """The p-quantile of Beta(a, a), by bisection on its CDF (float64; 40 halvings: ~1e-12)."""
    p = tf.cast(p, tf.float64)
    low, high = tf.zeros_like(p), tf.ones_like(p)
    for _ in range(iterations):
        middle = (low + high) / 2.0
        below = tf.math.betainc(tf.constant(a, tf.float64), tf.constant(a, tf.float64), middle) < p
        low, high = tf.where(below, middle, low), tf.where(below, high, middle)
    return (low + high) / 2.0


def build_batch_mixing(augment: Augmentation | None, seed: int | None) -> BatchMixing | None:
    """The BatchMixup or BatchCutMix that `augment` asks for, or None."""
    mixing = None if augment is None else augment.batch_mixing
    if mixing is None:
        return None
    mixer = {"mixup": BatchMixup, "cutmix": BatchCutMix}[mixing]
    return mixer(getattr(augment, mixing), int(np.random.default_rng().integers(2**31 - 1)) if seed is None else seed)


@dataclass(frozen=True)
class ImageSpec:
    """How files become model inputs: size (height, width), channels and pixel scale."""

    height: int
    width: int
    channels: int = 3
    rescale: float | None = None

    @property
    def size(self) -> tuple[int, int]:
        return (self.height, self.width)

    def key(self) -> str:
        return f"{self.height}x{self.width}x{self.channels}*{self.rescale}"

    def to_inputs(self, pixels: tf.Tensor) -> tf.Tensor:
        """Model inputs from a batch of pixel values (uint8 or float32, 0..255): float32, rescaled."""
        images = tf.cast(pixels, tf.float32)
        return images if self.rescale is None else images * self.rescale


def decode(path: tf.Tensor, spec: ImageSpec) -> tf.Tensor:
    """Read one file into a float32 (height, width, channels) tensor of pixel values, 0..255.

    Grayscale, RGBA and differently sized images are converted, not rejected.
    Rescaling is left to the step (ImageSpec.to_inputs), whatever the image source.
    """
    raw = tf.io.read_file(path)
    image = tf.io.decode_image(raw, channels=spec.channels, expand_animations=False)
    image = tf.image.resize(tf.cast(image, tf.float32), spec.size)
    image.set_shape((spec.height, spec.width, spec.channels))
    return image


def batches_dataset(paths: Sequence[str], batches: Sequence[np.ndarray], spec: ImageSpec) -> tf.data.Dataset:
    """A dataset yielding (rows, pixels) for each batch of row indices, in order.

    Each run of batches of one size (full batches; under a strategy, one replica's
    pieces of them) is decoded element-wise in parallel and batched; an empty piece
    (a replica with no row of a short batch) is an empty batch.
    """
    path_table = tf.constant(list(paths))
    runs: list[list[np.ndarray]] = []
    for batch in batches:
        if runs and len(runs[-1][0]) == len(batch):
            runs[-1].append(batch)
        else:
            runs.append([batch])

    def load(row):
        return row, decode(tf.gather(path_table, row), spec)

    if len(runs) > 8 and len(runs) > len(batches) // 4:  # sizes that alternate: one map call per batch
        return _tuned(_per_batch(path_table, batches, spec))
    dataset = None
    for run in runs:
        if len(run[0]) == 0:
            empty = (tf.zeros([0], tf.int32), tf.zeros([0, spec.height, spec.width, spec.channels], tf.float32))
            part = tf.data.Dataset.from_tensors(empty).repeat(len(run))
        else:
            part = (
                tf.data.Dataset.from_tensor_slices(np.concatenate(run).astype(np.int32))
                .map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
                .batch(len(run[0]))
            )
        dataset = part if dataset is None else dataset.concatenate(part)
    if dataset is None:
        raise ValueError("no batches to load")
    return _tuned(dataset)


def _per_batch(path_table: tf.Tensor, batches: Sequence[np.ndarray], spec: ImageSpec) -> tf.data.Dataset:
    """(rows, pixels) per batch whatever the sizes: batches decoded in parallel, the images of each in turn."""
    rows = tf.RaggedTensor.from_row_lengths(
        np.concatenate([np.asarray(b, np.int32) for b in batches]), [len(b) for b in batches])
    image = tf.TensorSpec((spec.height, spec.width, spec.channels), tf.float32)

    def load(batch):
        return batch, tf.map_fn(lambda row: decode(tf.gather(path_table, row), spec), batch,
                                fn_output_signature=image)

    return tf.data.Dataset.from_tensor_slices(rows).map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _tuned(dataset: tf.data.Dataset) -> tf.data.Dataset:
    options = tf.data.Options()
    options.experimental_optimization.map_parallelization = True
    # A pipeline lives for one epoch. With autotuning on, a finished pipeline is torn
    # down only when the autotune thread next wakes (its sleeps double from the start),
    # which stalled each epoch's end; the untuned defaults (one call per core, a small
    # prefetch buffer) keep decoding ahead of training.
    options.autotune.enabled = False
    return dataset.with_options(options).prefetch(2)


class FileImages:
    """A table's images read from their files on every pass (decode, resize): (rows, float32 pixels) batches."""

    def __init__(self, paths: Sequence[str], spec: ImageSpec):
        self.paths = tuple(paths)
        self.spec = spec
        self.rows_read = 0  # images this process was asked to decode (under several workers, its share)

    def dataset(self, batches: Sequence[np.ndarray]) -> tf.data.Dataset:
        self.rows_read += sum(len(b) for b in batches)
        return batches_dataset(self.paths, batches, self.spec)

    batches = dataset  # what the loop iterates without a strategy: the same pipeline

    def close(self) -> None:
        """Nothing to release: the files are the user's."""


# What tf.io.decode_image (the pipeline's decoder) reads as the colours PIL sees.
_DECODED_BY_TENSORFLOW = {"JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP"}


def _opened(path: str):
    """PIL's image of `path`; a URL's bytes read first (PIL cannot open URLs; images are small)."""
    return Image.open(io.BytesIO(storage.read_bytes(path))) if storage.is_url(path) else Image.open(path)


def _check_one(path: str) -> str | None:
    try:
        with _opened(path) as image:
            image.load()  # a full decode: catches truncated files that verify() lets through
            return _not_for_tensorflow(image)
    except Exception as err:  # PIL raises many types for bad files
        return f"{type(err).__name__}: {err}"


def _not_for_tensorflow(image) -> str | None:
    """Why PIL can read this file but the pipeline could not, or would read wrong colours."""
    if image.format not in _DECODED_BY_TENSORFLOW:
        return f"{image.format or 'this'} format is not read by TensorFlow; save it as PNG or JPEG"
    if image.format == "BMP" and image.mode in ("P", "1"):
        return "a palette or 1-bit BMP would be read as palette indices, not colours; save it as PNG"
    return None


def find_bad_images(paths: Sequence[str], workers: int = 4) -> dict[int, str]:
    """Decode every file once; return {row: reason} for those that cannot be read."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        reasons = list(pool.map(_check_one, paths, chunksize=64))
    return {i: r for i, r in enumerate(reasons) if r is not None}


def _size_of(path: str) -> tuple[int, int] | None:
    try:
        with _opened(path) as image:  # reads the header only
            return image.height, image.width
    except Exception:  # unreadable files are find_bad_images' business
        return None


def image_sizes(paths: Sequence[str], workers: int = 4) -> list[tuple[int, int] | None]:
    """(height, width) of every file from its header, without decoding the pixels."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_size_of, paths, chunksize=64))


def report_bad_images(bad: Mapping[str, str], policy: str) -> None:
    """Fail with the list (policy "error") or warn once with the count ("skip")."""
    if not bad:
        return
    names = list(bad)
    if policy == "error":
        raise DataError(
            f"{len(names)} image {plural(len(names), 'file is', 'files are')} unreadable: {{files}}.",
            f"Remove or replace {plural(len(names), 'it', 'them')}, or pass {{skip}} to train without "
            f"{plural(len(names), 'it', 'them')}.",
            files=few([Text(f"{n} ({bad[n]})") for n in names]), skip=Setting("on_bad_image", "skip"),
        )
    warnings.warn(f"Skipped {len(names)} unreadable image {plural(len(names), 'file', 'files')}: "
                  f"{literal(few([Text(n) for n in names]))}.", stacklevel=3)
