"""MultiWorkerMirroredStrategy for real: two worker processes on localhost (loopback ports, time limits).

Every worker builds its own student with its own seed, as machines that build models
apart do; they share one checkpoint_dir, as workers on shared storage do. The table
has 85 rows in batches of 21, so each pass ends with a batch of one row: fewer rows
than replicas.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

import pykd
from pykd.workers import loopback_ports

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="worker processes on localhost")

WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    index, ports, out, settings = int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3], json.loads(sys.argv[4])
    if ports != ["none"]:
        os.environ["TF_CONFIG"] = json.dumps({{"cluster": {{"worker": [f"127.0.0.1:{{p}}" for p in ports]}},
                                              "task": {{"type": "worker", "index": index}}}})
    import tensorflow as tf
    sys.path.insert(0, {tests!r})
    from conftest import tiny_model
    import pykd
    strategy = tf.distribute.MultiWorkerMirroredStrategy() if ports != ["none"] else None
    student = tiny_model(seed=settings.pop("student_seed") + index)
    slow = settings.pop("slow", 0)
    callbacks = [pykd.FunctionCallback(on_epoch_end=lambda epoch, logs: time.sleep(slow))] if slow else []
    augment = pykd.Augmentation(rotation_range=15, width_shift_range=0.1, horizontal_flip=True) \
        if settings.pop("augment", True) else None
    try:
        history = pykd.distill(tiny_model(seed=1), student, {train!r}, directory={directory!r},
                               classes={classes!r}, batch_size=21, verbose=0, strategy=strategy,
                               augment=augment, callbacks=callbacks, **settings)
    except pykd.DataError as err:
        json.dump({{"error": str(err)}}, open(out, "w"))
        sys.exit(3)
    json.dump({{"history": history.to_dict(), "weights": [w.tolist() for w in student.get_weights()],
               "rows_read": history.params["rows_read"]}}, open(out, "w"))
    """
)


@pytest.fixture(scope="module")
def cluster(digits, tmp_path_factory):
    """run(settings, n_workers, per_worker=None) -> the processes' results; ports are fresh each time."""
    root = tmp_path_factory.mktemp("workers")
    train = root / "train.csv"
    pd.read_csv(digits["train_csv"]).head(85).to_csv(train, index=False)
    script = root / "worker.py"
    script.write_text(WORKER.format(tests=os.path.dirname(__file__), train=str(train),
                                    directory=digits["directory"], classes=digits["classes"]))
    counter = iter(range(1000))

    def start(settings: dict, n_workers: int = 2, per_worker=None) -> tuple[list, list]:
        ports = loopback_ports(n_workers) if n_workers > 1 else ["none"]
        run = root / f"run{next(counter)}"
        run.mkdir()
        procs, outs = [], []
        for index in range(n_workers):
            mine = {**settings, **(per_worker(index) if per_worker else {})}
            outs.append(run / f"out{index}.json")
            procs.append(subprocess.Popen(
                [sys.executable, str(script), str(index), ",".join(map(str, ports)), str(outs[-1]), json.dumps(mine)],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1"),
            ))
        return procs, outs

    def run(settings: dict, n_workers: int = 2, per_worker=None) -> list[dict]:
        procs, outs = start(settings, n_workers, per_worker)
        logs = [_finish(p) for p in procs]
        results = []
        for out, log, proc in zip(outs, logs, procs):
            assert out.is_file(), f"worker exited {proc.returncode} without a result:\n{log[-3000:]}"
            results.append(json.loads(out.read_text()))
        return results

    run.start = start
    return run


def _finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    try:
        log, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        log, _ = proc.communicate()
        raise AssertionError(f"a worker ran past {timeout} s:\n{log[-3000:]}") from None
    return log


def assert_same_run(a: dict, b: dict, atol: float) -> None:
    for column, values in a["history"].items():
        np.testing.assert_allclose(values, b["history"][column], rtol=0, atol=atol, err_msg=column)
    for x, y in zip(a["weights"], b["weights"]):
        np.testing.assert_allclose(x, y, rtol=0, atol=atol)


def test_two_workers_sharing_a_checkpoint_dir_agree_and_match_one_process(cluster, tmp_path):
    shared = tmp_path / "checkpoints"
    settings = dict(epochs=3, seed=4, student_seed=10, checkpoint_dir=str(shared))
    workers = cluster(settings)
    # Students built with seeds 10 and 11 both trained from the chief's (seed 10).
    assert_same_run(workers[0], workers[1], atol=1e-6)
    (one,) = cluster({**settings, "checkpoint_dir": str(tmp_path / "alone")}, n_workers=1)
    assert_same_run(workers[0], one, atol=1e-4)  # augmentation and the one-row batch included
    # Each worker read only its replica's part of every batch. An epoch is 4 batches of
    # 21 rows (11 + 10) and one of 1 (1 + 0): 45 + 40 of its 85 rows.
    assert one["rows_read"] == 3 * 85
    assert [w["rows_read"] for w in workers] == [3 * 45, 3 * 40]
    # The chief alone wrote the checkpoint; nothing half-written is left.
    assert sorted(p.name for p in shared.iterdir() if p.name.startswith("pykd-checkpoint")) == ["pykd-checkpoint.npz"]
    assert not [p for p in shared.iterdir() if p.name.endswith((".tmp", ".partial"))]


def test_the_teachers_logits_are_computed_once_across_workers(cluster):
    # Without augmentation the teacher runs once per image before training: each worker on its half.
    settings = dict(epochs=2, seed=5, student_seed=50, augment=False, cache_images=False)
    workers = cluster(settings)
    assert_same_run(workers[0], workers[1], atol=1e-6)
    (one,) = cluster(settings, n_workers=1)
    assert_same_run(workers[0], one, atol=1e-4)
    assert one["rows_read"] == 85 + 2 * 85  # the teacher's pass, then two epochs
    assert [w["rows_read"] for w in workers] == [43 + 2 * 45, 42 + 2 * 40]


def test_workers_killed_mid_run_resume_as_an_uninterrupted_run(cluster, tmp_path):
    shared = tmp_path / "checkpoints"
    settings = dict(epochs=5, seed=6, student_seed=30, checkpoint_dir=str(shared))
    procs, _ = cluster.start({**settings, "slow": 1.0})
    deadline = time.time() + 240
    while time.time() < deadline and all(p.poll() is None for p in procs):
        meta = pykd.checkpoint.read_meta(shared) if shared.is_dir() else None
        if meta is not None and len(meta["records"]) >= 2:
            break
        time.sleep(0.1)
    for p in procs:  # the whole cluster goes down, as when a machine fails and the job is restarted
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=60)
    saved = len(pykd.checkpoint.read_meta(shared)["records"])
    assert 2 <= saved < 5, "the run was killed after its second epoch and before its last"
    resumed = cluster({**settings, "resume": True})
    assert_same_run(resumed[0], resumed[1], atol=1e-6)
    (uninterrupted,) = cluster({**settings, "checkpoint_dir": str(tmp_path / "alone")}, n_workers=1)
    assert_same_run(resumed[0], uninterrupted, atol=1e-4)


def test_an_unseeded_run_resumed_by_workers_keys_its_views_by_the_seed_its_checkpoint_recorded(cluster, tmp_path):
    first, copy = tmp_path / "first", tmp_path / "copy"
    settings = dict(seed=None, student_seed=60)  # augmented: the worker script's default
    cluster({**settings, "epochs": 2, "checkpoint_dir": str(first)})
    shutil.copytree(first, copy)
    # One checkpoint resumed twice: each time the chief draws a new seed, but the third
    # epoch's views are keyed by the one the checkpoint recorded, so the two runs agree.
    once, twice = (cluster({**settings, "epochs": 3, "checkpoint_dir": str(d), "resume": True})[0] for d in (first, copy))
    assert_same_run(once, twice, atol=1e-6)


def test_without_a_seed_workers_share_the_chiefs_and_stop_if_they_would_resume_apart(cluster, tmp_path):
    settings = dict(epochs=2, seed=None, student_seed=40)
    workers = cluster({**settings, "checkpoint_dir": str(tmp_path / "chief")})
    assert_same_run(workers[0], workers[1], atol=1e-6)  # one seed, the chief's
    # The second worker is given a checkpoint_dir of its own, which holds nothing.
    results = cluster({**settings, "epochs": 3, "resume": True},
                      per_worker=lambda i: {"checkpoint_dir": str(tmp_path / ("chief" if i == 0 else f"w{i}"))})
    for result in results:
        assert "The workers would resume from different epochs" in result["error"]
        assert "same checkpoint_dir on shared storage" in result["error"]
