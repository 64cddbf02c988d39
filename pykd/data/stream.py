"""A restartable batch stream that never runs out.

Each epoch takes exactly `steps` batches, continuing where the last epoch
stopped. When a pass over the table ends, the next pass starts with a fresh
shuffle, so a stream can be asked for any number of steps. Batches never span
two passes: with last_batch="keep" the end of a pass gives one short batch,
with "drop" the rows that do not fill a batch sit that pass out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..core.errors import DataError, Setting
from ..core.seeds import fresh_seed


@dataclass
class StreamState:
    """Everything needed to resume a stream exactly: small and JSON-friendly."""

    seed: int
    pass_index: int = 0
    position: int = 0


def rows_per_pass(n_rows: int, batch_size: int, last_batch: str) -> int:
    """The rows one pass over a table trains on: all of them, or without the short last batch ("drop")."""
    return n_rows - n_rows % batch_size if last_batch == "drop" else n_rows


def steps_per_pass(n_rows: int, batch_size: int, last_batch: str) -> int:
    """The batches of one pass over a table."""
    return math.ceil(rows_per_pass(n_rows, batch_size, last_batch) / batch_size)


class BatchStream:
    def __init__(
        self,
        n_rows: int,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int | None = None,
        last_batch: str = "keep",
    ):
        if last_batch not in ("keep", "drop"):
            raise DataError("last_batch must be 'keep' or 'drop', not {value}.", value=last_batch)
        if last_batch == "drop" and n_rows < batch_size:
            raise DataError(
                f"{{drop}} with batch_size={batch_size} leaves no batch from a table of {n_rows} rows.",
                "Use a smaller batch_size, or keep the short batch with {keep}.",
                drop=Setting("last_batch", "drop"), keep=Setting("last_batch", "keep"),
            )
        self.n_rows = n_rows
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.last_batch = last_batch
        if seed is None:
            seed = fresh_seed()
        self.state = StreamState(seed=int(seed))
        self._order_pass = -1
        self._order = np.arange(n_rows)

    @property
    def rows_per_pass(self) -> int:
        return rows_per_pass(self.n_rows, self.batch_size, self.last_batch)

    @property
    def steps_per_pass(self) -> int:
        return steps_per_pass(self.n_rows, self.batch_size, self.last_batch)

    def _pass_order(self, pass_index: int) -> np.ndarray:
        if pass_index != self._order_pass:
            if self.shuffle:
                rng = np.random.default_rng([self.state.seed, pass_index])
                self._order = rng.permutation(self.n_rows)
            else:
                self._order = np.arange(self.n_rows)
            self._order_pass = pass_index
        return self._order

    def take(self, steps: int) -> list[np.ndarray]:
        """The next `steps` batches of row indices; advances the state."""
        return [batch for batch, _ in self.take_drawn(steps)]

    def take_drawn(self, steps: int) -> list[tuple[np.ndarray, int]]:
        """The next `steps` batches, each with its pass (how many times its rows were drawn before)."""
        batches = []
        state = self.state
        for _ in range(steps):
            order = self._pass_order(state.pass_index)
            end = min(state.position + self.batch_size, self.rows_per_pass)
            batches.append((order[state.position:end], state.pass_index))
            state.position = end
            if state.position >= self.rows_per_pass:
                state.pass_index += 1
                state.position = 0
        return batches

    def get_state(self) -> dict:
        return asdict(self.state)

    def set_state(self, state: dict) -> None:
        self.state = StreamState(**state)
