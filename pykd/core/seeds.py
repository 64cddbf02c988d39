"""Seeds for what the user left unseeded (seed=None)."""

from __future__ import annotations

import numpy as np


def fresh_seed() -> int:
    """A new seed each time, drawn from NumPy's global generator, which keras.utils.set_random_seed()
    seeds: so that calling it before an unseeded run repeats the run, as it repeats a Keras fit()."""
    return int(np.random.randint(0, 2**31 - 1))
