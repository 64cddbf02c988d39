"""Test-time augmentation as a setting: which views of each image predict() averages
(pykd.serve.views runs them).

The image itself is always the first view, so averaging can only add what the other
views agree on. True adds its left-right mirror image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import DataError, Setting, kind
from .augmentation import Augmentation

# The random views of tta=k: a flip half of the time and shifts of up to 10%.
RANDOM_VIEWS = Augmentation(width_shift_range=0.1, height_shift_range=0.1, horizontal_flip=True)
VIEWS_OF_AN_AUGMENTATION = 5  # tta=Augmentation(...): the image and four views of it
SEED = 0  # the same views on every call


@dataclass(frozen=True)
class TtaViews:
    """The image, its mirror image when `flip`, and `random` keyed views of `augment`."""

    flip: bool
    random: int
    augment: Augmentation | None = None

    @classmethod
    def coerce(cls, value) -> TtaViews | None:
        """None for no test-time augmentation; see the `tta` option."""
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):  # the command line's --tta true
            value = value.strip().lower() == "true"
        elif isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, (float, np.floating)) and float(value).is_integer():  # 3.0: R's numbers
            value = int(value)
        if value is None or value is False or (isinstance(value, (int, np.integer)) and not isinstance(value, bool)
                                               and value in (0, 1)):
            return None
        if value is True:
            return cls(flip=True, random=0)
        if isinstance(value, (int, np.integer)) and value > 1:
            return cls(flip=False, random=int(value) - 1, augment=RANDOM_VIEWS)
        if isinstance(value, (Augmentation, dict)):
            augment = Augmentation.coerce(value)
            if augment is not None and augment.batch_mixing is not None:
                raise DataError("tta takes views of one image; {mixing} mixes images of a batch.",
                                "Leave mixup and cutmix out of the test-time augmentation.",
                                mixing=Setting(augment.batch_mixing, getattr(augment, augment.batch_mixing)))
            if augment is None or not augment.moves_pixels:
                return None
            if augment == Augmentation(horizontal_flip=True, fill_mode=augment.fill_mode):
                return cls(flip=True, random=0)  # the one other view a flip has: the mirror image, as True
            return cls(flip=False, random=VIEWS_OF_AN_AUGMENTATION - 1, augment=augment)
        raise DataError("tta must be {true} (the image and its mirror image), a number of views or an augmentation, "
                        "not {value}.", "For example {example}.", true=True, value=kind(value),
                        example=Setting("tta", True))
