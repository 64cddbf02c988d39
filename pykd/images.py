"""Images: decoding files with tf.data, checking them up front, and augmenting batches.

Augmentation speaks the vocabulary of Keras 2's `ImageDataGenerator` (what R's
`image_data_generator()` exposed) but is built from Keras 3 preprocessing layers
and runs inside the compiled train step, so teacher and student see one view.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from ._tf import keras, tf
from .errors import DataError

FILL_MODES = ("reflect", "wrap", "constant", "nearest")


@dataclass(frozen=True)
class Augmentation:
    """Random training-time transforms, in `ImageDataGenerator` terms.

    rotation_range: degrees, rotate by up to +/- this much.
    width_shift_range, height_shift_range: fraction of the size, shift up to +/-.
    shear_range: shear angle in degrees, +/- (as Keras 2 defined it).
    zoom_range: zoom in or out by up to this fraction.
    horizontal_flip: flip left-right half of the time.
    fill_mode: how to fill pixels moved in from outside the image.
    """

    rotation_range: float = 0.0
    width_shift_range: float = 0.0
    height_shift_range: float = 0.0
    shear_range: float = 0.0
    zoom_range: float = 0.0
    horizontal_flip: bool = False
    fill_mode: str = "reflect"

    def __post_init__(self):
        for field in ("rotation_range", "width_shift_range", "height_shift_range", "shear_range", "zoom_range"):
            value = getattr(self, field)
            if not isinstance(value, (int, float)) or value < 0 or not math.isfinite(value):
                raise DataError(f"Augmentation {field} must be a number >= 0, not {value!r}.")
        if self.fill_mode not in FILL_MODES:
            raise DataError(f"Augmentation fill_mode must be one of {FILL_MODES}, not {self.fill_mode!r}.")

    @classmethod
    def coerce(cls, value) -> Augmentation | None:
        """Accept None, an Augmentation or a dict of its fields (as R sends it)."""
        if value is None or isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - set(cls.__dataclass_fields__)
            if unknown:
                raise DataError(f"Unknown augmentation settings: {sorted(unknown)}.")
            return cls(**dict(value))
        raise DataError(f"augment must be None, a pykd.Augmentation or a dict, not {type(value).__name__}.")

    @property
    def is_identity(self) -> bool:
        return self == Augmentation(fill_mode=self.fill_mode)

    def to_dict(self) -> dict:
        return asdict(self)


def build_augmenter(augment: Augmentation | None, seed: int | None) -> keras.Sequential | None:
    """Keras preprocessing layers for `augment`, or None when it changes nothing."""
    if augment is None or augment.is_identity:
        return None
    fill = augment.fill_mode
    rng = np.random.default_rng(seed)

    def layer_seed() -> int:
        return int(rng.integers(2**31 - 1))

    layers: list[keras.layers.Layer] = []
    if augment.rotation_range:
        layers.append(keras.layers.RandomRotation(augment.rotation_range / 360.0, fill_mode=fill, seed=layer_seed()))
    if augment.width_shift_range or augment.height_shift_range:
        layers.append(
            keras.layers.RandomTranslation(
                augment.height_shift_range, augment.width_shift_range, fill_mode=fill, seed=layer_seed()
            )
        )
    if augment.shear_range:
        # Keras 2 took degrees; Keras 3 takes the shift as a fraction: tan(angle).
        factor = math.tan(math.radians(min(augment.shear_range, 89.0)))
        layers.append(keras.layers.RandomShear(x_factor=factor, y_factor=factor, fill_mode=fill, seed=layer_seed()))
    if augment.zoom_range:
        layers.append(keras.layers.RandomZoom(augment.zoom_range, fill_mode=fill, seed=layer_seed()))
    if augment.horizontal_flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=layer_seed()))
    return keras.Sequential(layers, name="augmentation")


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


def decode(path: tf.Tensor, spec: ImageSpec) -> tf.Tensor:
    """Read one file into a float32 (height, width, channels) tensor.

    Grayscale, RGBA and differently sized images are converted, not rejected.
    """
    raw = tf.io.read_file(path)
    image = tf.io.decode_image(raw, channels=spec.channels, expand_animations=False)
    image = tf.image.resize(tf.cast(image, tf.float32), spec.size)
    image.set_shape((spec.height, spec.width, spec.channels))
    if spec.rescale is not None:
        image = image * spec.rescale
    return image


def batches_dataset(paths: Sequence[str], batches: Sequence[np.ndarray], spec: ImageSpec) -> tf.data.Dataset:
    """A dataset yielding (rows, images) for each batch of row indices, in order.

    Batches are full except where a pass of the table ended; each run of full
    batches closed by a short one is decoded element-wise in parallel and batched.
    """
    path_table = tf.constant(list(paths))
    segments: list[list[np.ndarray]] = [[]]
    full = max(len(b) for b in batches) if batches else 0
    for batch in batches:
        segments[-1].append(batch)
        if len(batch) < full:
            segments.append([])

    def load(row):
        return row, decode(tf.gather(path_table, row), spec)

    dataset = None
    for segment in segments:
        if not segment:
            continue
        rows = np.concatenate(segment).astype(np.int32)
        part = (
            tf.data.Dataset.from_tensor_slices(rows)
            .map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .batch(len(segment[0]))
        )
        dataset = part if dataset is None else dataset.concatenate(part)
    if dataset is None:
        raise ValueError("no batches to load")
    options = tf.data.Options()
    options.experimental_optimization.map_parallelization = True
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def _check_one(path: str) -> str | None:
    try:
        with Image.open(path) as image:
            image.load()  # a full decode: catches truncated files that verify() lets through
        return None
    except Exception as err:  # PIL raises many types for bad files
        return f"{type(err).__name__}: {err}"


def find_bad_images(paths: Sequence[str], workers: int = 4) -> dict[int, str]:
    """Decode every file once; return {row: reason} for those that cannot be read."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        reasons = list(pool.map(_check_one, paths, chunksize=64))
    return {i: r for i, r in enumerate(reasons) if r is not None}


def report_bad_images(bad: Mapping[str, str], policy: str) -> None:
    """Fail with the list (policy "error") or warn once with the count ("skip")."""
    if not bad:
        return
    names = list(bad)
    shown = "; ".join(f"{n} ({bad[n]})" for n in names[:5])
    more = f"; and {len(names) - 5} more" if len(names) > 5 else ""
    if policy == "error":
        raise DataError(
            f"{len(names)} image {'files are' if len(names) > 1 else 'file is'} unreadable: {shown}{more}. "
            "Remove or replace them, or pass on_bad_image='skip' to train without them."
        )
    warnings.warn(f"Skipped {len(names)} unreadable image file(s): {', '.join(names[:5])}{more}.", stacklevel=3)
