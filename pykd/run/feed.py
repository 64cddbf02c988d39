"""The batches of many epochs through few input pipelines, the stream's state kept
at each epoch's end for its checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.images import FileImages
from ..data.stream import BatchStream
from .steps import StepFunctions

# Batches of row indices made at a time: an epoch of 10 million steps never holds them all.
CHUNK_STEPS = 4096


@dataclass
class BatchSource:
    """Where an epoch's batches come from: the images, the stream of row batches and the steps per epoch."""

    images: FileImages  # or image_cache.DecodedImages, or run.features.Features: .batches() and .dataset()
    stream: BatchStream
    steps: int


class Feed:
    """The batches of many epochs through few input pipelines: one per CHUNK_STEPS batches,
    across epoch ends, so that no epoch waits for its pipeline to be built (0.2-0.3 s each,
    measured under a strategy) and reading runs ahead into the next epoch.

    The stream is taken ahead of training, so the state it had at the end of each epoch is
    kept (end_states) for the checkpoint of that epoch.
    """

    def __init__(self, functions: StepFunctions, source: BatchSource, epochs: int):
        self.functions, self.source = functions, source
        self.left = epochs * source.steps  # batches still to take from the stream
        self.taken = 0
        self.end_states: list[dict] = []  # the stream's state after each epoch's last batch, in order
        self.unread_rows = 0  # rows handed to a pipeline that no step has taken yet (a run may stop early)
        self._batches = self._all()

    def epoch(self):
        """(rows, x, batch, draw) for each step of the next epoch."""
        for _ in range(self.source.steps):
            yield next(self._batches)

    def _all(self):
        while self.left > 0:
            drawn = self._take(min(CHUNK_STEPS, self.left))
            self.unread_rows += sum(self.functions.local_rows(batch) for batch, _ in drawn)
            for (rows, x), (batch, draw) in zip(self.functions.feed(self.source.images, [b for b, _ in drawn]), drawn):
                self.unread_rows -= self.functions.local_rows(batch)
                yield rows, x, batch, draw

    def _take(self, n: int) -> list[tuple[np.ndarray, int]]:
        drawn: list[tuple[np.ndarray, int]] = []
        steps = self.source.steps
        while len(drawn) < n:
            k = min(steps - self.taken % steps, n - len(drawn))  # up to the epoch's end
            drawn += self.source.stream.take_drawn(k)
            self.taken += k
            if self.taken % steps == 0:
                self.end_states.append(self.source.stream.get_state())
        self.left -= n
        return drawn
