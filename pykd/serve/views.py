"""Test-time augmentation, run: the mean probabilities of each image over its views
(the views are a setting: pykd.data.tta.TtaViews).

Random views are a pure function of the image's content and the view's number
(pykd.data.augmentation's keyed draws): an image gets the same views whatever its
batch, its table or its file name.
"""

from __future__ import annotations

import numpy as np

from .._tf import tf
from ..core.content import file_digests
from ..data.augmentation import build_augmenter
from ..data.tta import SEED, TtaViews


class _KeyedView:
    """One keyed random view of a batch (a callable object for tf.function, as models.Forward)."""

    def __init__(self, augmenter):
        self.augmenter = augmenter

    def __call__(self, x, keys, view):
        return self.augmenter(x, training=True, keys=(keys, view))


class Averaged:
    """The mean probabilities of each batch over its views, for the images of one table."""

    def __init__(self, run, views: TtaViews, paths):
        self.run, self.views = run, views
        if views.random:
            # One int64 per image from its content digest: a view follows the image, not its row or name.
            self.keys = np.array([int(d[:15], 16) for d in file_digests(list(paths))], dtype=np.int64)
            self.view = tf.function(_KeyedView(build_augmenter(views.augment, SEED)), reduce_retracing=True)

    def __call__(self, rows: np.ndarray, x) -> np.ndarray:
        """The batch `x` holds the images of the table's `rows`."""
        probs = [self.run.probabilities(x)]
        if self.views.flip:
            probs.append(self.run.probabilities(tf.reverse(x, axis=[2])))
        if self.views.random:
            keys = tf.constant(self.keys[rows])
            probs += [self.run.probabilities(self.view(x, keys, tf.constant(v, tf.int64)))
                      for v in range(self.views.random)]
        return np.mean(probs, axis=0, dtype=np.float32)
