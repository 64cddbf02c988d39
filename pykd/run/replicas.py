"""What replicas share of a step: each one's piece of a global batch, and one run's step on all of them."""

from __future__ import annotations

import numpy as np


def replica_pieces(batches, replicas: int, pipeline: int = 0, pipelines: int = 1) -> list[np.ndarray]:
    """The pieces of each global batch one input pipeline (worker) feeds its replicas, batch by batch.

    Replica r of `replicas` takes np.array_split(batch, replicas)[r]: a batch shorter than
    the number of replicas leaves some of them an empty piece, which counts for nothing.
    A worker's local replicas take its pipeline's pieces in turn.
    """
    local = replicas // pipelines
    first = pipeline * local
    return [piece for batch in batches for piece in np.array_split(np.asarray(batch), replicas)[first:first + local]]


class ReplicatedStep:
    """One step of one run: a callable object, so tf.function counts its traces apart from other runs'."""

    def __init__(self, step, strategy):
        self.step = step
        self.strategy = strategy

    def __call__(self, *args):
        if self.strategy is None:
            return self.step(*args)
        result = self.strategy.run(self.step, args=args)
        return None if result is None else self.strategy.experimental_local_results(result)[0]


