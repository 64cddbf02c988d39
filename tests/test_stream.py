"""The batch stream: never runs out, every row once per pass, resumable."""

import math

import numpy as np
import pytest

from pykd import DataError
from pykd.data.stream import BatchStream


def test_seed_scenario_validation_stream_never_runs_out():
    # The R tutorial crashed at epoch 7: 2141 rows / 8 = 267 full batches + one of 5.
    stream = BatchStream(2141, 8, shuffle=False)
    seen = []
    for _ in range(12):
        batches = stream.take(40)
        assert len(batches) == 40
        seen.extend(batches)
    sizes = [len(b) for b in seen]
    assert sizes[267] == 5 and all(s == 8 for i, s in enumerate(sizes) if i != 267)
    first_pass = np.concatenate(seen[:268])
    assert np.array_equal(np.sort(first_pass), np.arange(2141))
    assert np.array_equal(seen[268], np.arange(8))  # the second pass starts over


@pytest.mark.parametrize("last_batch", ["keep", "drop"])
def test_every_row_once_per_pass_when_steps_do_not_divide_the_pass(last_batch):
    n, batch, steps = 103, 10, 7  # a pass is 11 (keep) or 10 (drop) batches
    stream = BatchStream(n, batch, shuffle=True, seed=3, last_batch=last_batch)
    batches = [b for _ in range(9) for b in stream.take(steps)]
    per_pass = stream.steps_per_pass
    assert per_pass == (11 if last_batch == "keep" else 10)
    passes = [batches[i:i + per_pass] for i in range(0, len(batches) - per_pass + 1, per_pass)]
    orders = []
    for p in passes:
        rows = np.concatenate(p)
        assert len(rows) == len(set(rows.tolist()))
        if last_batch == "keep":
            assert sorted(rows.tolist()) == list(range(n))
        else:
            assert len(rows) == 100 and all(len(b) == batch for b in p)
        orders.append(rows)
    assert not np.array_equal(orders[0], orders[1])  # reshuffled between passes


def test_state_resumes_exactly():
    a = BatchStream(50, 8, shuffle=True, seed=11)
    a.take(5)
    saved = a.get_state()
    expected = a.take(13)
    b = BatchStream(50, 8, shuffle=True, seed=999)
    b.set_state(saved)
    assert all(np.array_equal(x, y) for x, y in zip(expected, b.take(13)))


def test_same_seed_same_order_and_steps_per_pass():
    a = BatchStream(30, 4, shuffle=True, seed=5).take(20)
    b = BatchStream(30, 4, shuffle=True, seed=5).take(20)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert BatchStream(30, 4, shuffle=False).steps_per_pass == math.ceil(30 / 4)


def test_drop_needs_one_full_batch():
    with pytest.raises(DataError, match="leaves no batch"):
        BatchStream(5, 8, shuffle=False, last_batch="drop")
    with pytest.raises(DataError, match="last_batch"):
        BatchStream(5, 2, shuffle=False, last_batch="pad")


def test_a_run_makes_its_batches_in_chunks_across_epochs_and_keeps_each_epochs_end():
    from pykd.run.feed import CHUNK_STEPS, BatchSource, Feed

    whole = BatchStream(50, 7, shuffle=True, seed=3)
    lazy = BatchStream(50, 7, shuffle=True, seed=3)
    steps, epochs = CHUNK_STEPS // 2 + 3, 5  # chunks that end inside epochs
    feed = Feed(None, BatchSource(None, lazy, steps), epochs)
    parts = []
    while feed.left:
        parts.append(feed._take(min(CHUNK_STEPS, feed.left)))
    assert [len(p) for p in parts] == [CHUNK_STEPS, CHUNK_STEPS, steps * epochs - 2 * CHUNK_STEPS]
    drawn = [d for p in parts for d in p]
    ends = []
    for _ in range(epochs):
        expected = whole.take_drawn(steps)
        ends.append(whole.get_state())
        got, drawn = drawn[:steps], drawn[steps:]
        assert all(np.array_equal(a, b) and i == j for (a, i), (b, j) in zip(expected, got))
    assert feed.end_states == ends  # what each epoch's checkpoint records
