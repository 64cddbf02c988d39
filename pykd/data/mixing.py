"""Mixing the images of a batch: mixup and CutMix, keyed like the augmentation so
that a row's partner and weight depend on (seed, rows, draw) alone.
"""

from __future__ import annotations

from .._tf import tf
from ..core.seeds import fresh_seed
from .augmentation import Augmentation, keyed_uniform


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
    return mixer(getattr(augment, mixing), fresh_seed() if seed is None else seed)
