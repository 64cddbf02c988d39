"""MultiWorkerMirroredStrategy for real: two worker processes on localhost (loopback ports, time limits).

Every worker builds its own student with its own seed, as machines that build models
apart do; they share one checkpoint_dir, as workers on shared storage do. The table
has 85 rows in batches of 21, so each pass ends with a batch of one row: fewer rows
than replicas.

A cluster's two processes run a list of jobs, one distill() call after another, so that
the suite starts few processes: one cluster for the first runs, killed mid-run in its last,
and one cluster for the resumes; the one-process references run in the test's own process.
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
from conftest import tiny_model

import pykd
from pykd.run.workers import loopback_ports

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="worker processes on localhost")

WORKER = textwrap.dedent(
    """
    import json, os, sys
    index, ports, jobs = int(sys.argv[1]), sys.argv[2].split(","), json.loads(sys.argv[3])
    os.environ["TF_CONFIG"] = json.dumps({{"cluster": {{"worker": [f"127.0.0.1:{{p}}" for p in ports]}},
                                          "task": {{"type": "worker", "index": index}}}})
    import tensorflow as tf
    sys.path.insert(0, {tests!r})
    from test_workers import run_jobs
    run_jobs(jobs, index, tf.distribute.MultiWorkerMirroredStrategy(), {train!r}, {directory!r}, {classes!r})
    """
)


def run_jobs(jobs: list[dict], index: int, strategy, train: str, directory: str, classes: list) -> None:
    """Worker `index`'s share of each job, one distill() call after another; each result goes to its file."""
    for job in jobs:
        settings = {**job["settings"], **job.get("per_worker", {}).get(str(index), {})}
        teacher, student = tiny_model(seed=1), tiny_model(seed=settings.pop("student_seed") + index)
        np.random.seed()  # an unseeded job draws its own seed, as a new session would (tiny_model() seeded NumPy)
        after = settings.pop("hold_after", None)
        callbacks = [] if after is None else [pykd.FunctionCallback(on_epoch_end=lambda e, logs, after=after: _hold(e, after))]
        augment = pykd.Augmentation(rotation_range=15, width_shift_range=0.1, horizontal_flip=True) \
            if settings.pop("augment", True) else None
        out = job["out"].format(index=index)
        try:
            history = pykd.distill(teacher, student, train, directory=directory, classes=classes, batch_size=21,
                                   verbose=0, strategy=strategy, augment=augment, callbacks=callbacks, **settings)
        except pykd.DataError as err:
            json.dump({"error": str(err)}, open(out, "w"))
            continue
        json.dump({"history": history.to_dict(), "weights": [w.tolist() for w in student.get_weights()],
                   "rows_read": history.params["rows_read"]}, open(out, "w"))


def _hold(epoch, after):  # epoch counts from 1
    while epoch >= after:  # held here, its checkpoint written, until the test kills the process
        time.sleep(1)


# The jobs' settings, by name.
SEEDED = dict(epochs=3, seed=4, student_seed=10)  # augmented: the worker script's default
TEACHER_ONCE = dict(epochs=2, seed=5, student_seed=50, augment=False, cache_images=False)
UNSEEDED = dict(seed=None, student_seed=60)


class Cluster:
    """Starts worker processes that run lists of jobs; each job's result is read from its file."""

    def __init__(self, root, script, data: dict):
        self.root, self.script, self.count, self.data = root, script, 0, data

    def start(self, jobs: dict[str, dict], n_workers: int = 2) -> tuple[list, dict]:
        """jobs: {name: {"settings": ..., "per_worker": {index: ...}}}; returns (processes, {name: [out files]})."""
        self.count += 1
        folder = self.root / f"cluster{self.count}"
        folder.mkdir()
        ports = loopback_ports(n_workers)
        listed = [{**job, "out": str(folder / f"{name}-{{index}}.json")} for name, job in jobs.items()]
        procs = [subprocess.Popen([sys.executable, str(self.script), str(i), ",".join(map(str, ports)), json.dumps(listed)],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1"))
                 for i in range(n_workers)]
        outs = {name: [folder / f"{name}-{i}.json" for i in range(n_workers)] for name in jobs}
        return procs, outs

    def run_here(self, jobs: dict[str, dict]) -> dict[str, dict]:
        """The jobs in this process, without a strategy: {name: result}."""
        self.count += 1
        folder = self.root / f"here{self.count}"
        folder.mkdir()
        run_jobs([{**job, "out": str(folder / f"{name}.json")} for name, job in jobs.items()], 0, None, **self.data)
        return {name: json.loads((folder / f"{name}.json").read_text()) for name in jobs}

    def run(self, jobs: dict[str, dict], n_workers: int = 2) -> dict[str, list[dict]]:
        procs, outs = self.start(jobs, n_workers)
        logs = [_finish(p) for p in procs]
        results = {}
        for name, files in outs.items():
            for file, log, proc in zip(files, logs, procs):
                assert file.is_file(), f"worker exited {proc.returncode} without a result for {name}:\n{log[-3000:]}"
            results[name] = [json.loads(f.read_text()) for f in files]
        return results


def _finish(proc: subprocess.Popen, timeout: float = 600) -> str:
    try:
        log, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        log, _ = proc.communicate()
        raise AssertionError(f"a worker ran past {timeout} s:\n{log[-3000:]}") from None
    return log


@pytest.fixture(scope="module")
def cluster(digits, tmp_path_factory) -> Cluster:
    root = tmp_path_factory.mktemp("workers")
    train = root / "train.csv"
    pd.read_csv(digits["train_csv"]).head(85).to_csv(train, index=False)
    script = root / "worker.py"
    data = dict(train=str(train), directory=digits["directory"], classes=digits["classes"])
    script.write_text(WORKER.format(tests=os.path.dirname(__file__), **data))
    return Cluster(root, script, data)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return tmp_path_factory.mktemp("checkpoints")


@pytest.fixture(scope="module")
def first_cluster(cluster, folders):
    """One cluster: a seeded augmented run, a run whose teacher pass is shared and an unseeded run; then the
    seeded run again, held after its second epoch and killed with the whole cluster, as when a machine fails.
    Returns ({name: [each worker's result]}, (the killed run's checkpoint_dir, how many epochs it held))."""
    shared = folders / "killed"
    finished = ("seeded", "teacher_once", "unseeded")
    procs, outs = cluster.start({
        "seeded": {"settings": {**SEEDED, "checkpoint_dir": str(folders / "seeded")}},
        "teacher_once": {"settings": TEACHER_ONCE},
        "unseeded": {"settings": {**UNSEEDED, "epochs": 2, "checkpoint_dir": str(folders / "unseeded")}},
        "killed": {"settings": {**SEEDED, "checkpoint_dir": str(shared), "hold_after": 2}},
    })

    def held() -> bool:  # the first runs written, and the last one's second epoch checkpointed
        meta = pykd.run.checkpoint.read_meta(shared) if shared.is_dir() else None
        return meta is not None and len(meta["records"]) >= 2 and all(f.is_file() for n in finished for f in outs[n])

    deadline = time.time() + 400
    while time.time() < deadline and all(p.poll() is None for p in procs) and not held():
        time.sleep(0.1)
    for p in procs:  # the whole cluster goes down, and the job is restarted
        p.send_signal(signal.SIGKILL)
    logs = [p.communicate(timeout=60)[0] for p in procs]
    assert held(), "the cluster ended before its last run was held:\n" + "\n".join(log[-3000:] for log in logs)
    results = {name: [json.loads(f.read_text()) for f in outs[name]] for name in finished}
    return results, (shared, len(pykd.run.checkpoint.read_meta(shared)["records"]))


@pytest.fixture(scope="module")
def first_runs(first_cluster):
    return first_cluster[0]


@pytest.fixture(scope="module")
def alone(cluster, folders):
    """The same runs in this process, without a strategy: the references."""
    return cluster.run_here({"seeded": {"settings": {**SEEDED, "checkpoint_dir": str(folders / "alone")}},
                             "teacher_once": {"settings": TEACHER_ONCE}})


@pytest.fixture(scope="module")
def killed(first_cluster):
    return first_cluster[1]


@pytest.fixture(scope="module")
def resumes(cluster, folders, first_runs, killed):
    """One cluster resuming: the killed run; the unseeded run's checkpoint and a copy of it; and workers given
    checkpoint_dirs that differ."""
    shutil.copytree(folders / "unseeded", folders / "unseeded-copy")
    return cluster.run({
        "killed": {"settings": {**SEEDED, "checkpoint_dir": str(killed[0]), "resume": True}},
        "unseeded": {"settings": {**UNSEEDED, "epochs": 3, "checkpoint_dir": str(folders / "unseeded"), "resume": True}},
        "unseeded_copy": {"settings": {**UNSEEDED, "epochs": 3, "checkpoint_dir": str(folders / "unseeded-copy"),
                                       "resume": True}},
        # The second worker is given a checkpoint_dir of its own, which holds nothing.
        "apart": {"settings": {**UNSEEDED, "epochs": 3, "resume": True},
                  "per_worker": {"0": {"checkpoint_dir": str(folders / "unseeded-copy")},
                                 "1": {"checkpoint_dir": str(folders / "empty")}}},
    })


def assert_same_run(a: dict, b: dict, atol: float) -> None:
    for column, values in a["history"].items():
        np.testing.assert_allclose(values, b["history"][column], rtol=0, atol=atol, err_msg=column)
    for x, y in zip(a["weights"], b["weights"]):
        np.testing.assert_allclose(x, y, rtol=0, atol=atol)


def test_two_workers_sharing_a_checkpoint_dir_agree_and_match_one_process(first_runs, alone, folders):
    workers, one = first_runs["seeded"], alone["seeded"]
    # Students built with seeds 10 and 11 both trained from the chief's (seed 10).
    assert_same_run(workers[0], workers[1], atol=1e-6)
    assert_same_run(workers[0], one, atol=1e-4)  # augmentation and the one-row batch included
    # Each worker read only its replica's part of every batch. An epoch is 4 batches of
    # 21 rows (11 + 10) and one of 1 (1 + 0): 45 + 40 of its 85 rows.
    assert one["rows_read"] == 3 * 85
    assert [w["rows_read"] for w in workers] == [3 * 45, 3 * 40]
    # The chief alone wrote the checkpoint; nothing half-written is left.
    shared = folders / "seeded"
    assert sorted(p.name for p in shared.iterdir() if p.name.startswith("pykd-checkpoint")) == ["pykd-checkpoint.npz"]
    assert not [p for p in shared.iterdir() if p.name.endswith((".tmp", ".partial"))]


def test_the_teachers_logits_are_computed_once_across_workers(first_runs, alone):
    # Without augmentation the teacher runs once per image before training: each worker on its half.
    workers, one = first_runs["teacher_once"], alone["teacher_once"]
    assert_same_run(workers[0], workers[1], atol=1e-6)
    assert_same_run(workers[0], one, atol=1e-4)
    assert one["rows_read"] == 85 + 2 * 85  # the teacher's pass, then two epochs
    assert [w["rows_read"] for w in workers] == [43 + 2 * 45, 42 + 2 * 40]


def test_workers_killed_mid_run_resume_as_an_uninterrupted_run(killed, first_runs, resumes):
    assert killed[1] == 2  # the workers were held after epoch 2 of 3 until killed
    resumed = resumes["killed"]
    assert_same_run(resumed[0], resumed[1], atol=1e-6)
    assert_same_run(resumed[0], first_runs["seeded"][0], atol=1e-6)
    assert [r["epoch"] for r in pd.DataFrame(resumed[0]["history"]).to_dict("records")] == [1, 2, 3]


def test_an_unseeded_run_resumed_by_workers_keys_its_views_by_the_seed_its_checkpoint_recorded(resumes):
    # One checkpoint resumed twice: each time the chief draws a new seed, but the third
    # epoch's views are keyed by the one the checkpoint recorded, so the two runs agree.
    once, twice = resumes["unseeded"][0], resumes["unseeded_copy"][0]
    assert_same_run(once, twice, atol=1e-6)


def test_without_a_seed_workers_share_the_chiefs_and_stop_if_they_would_resume_apart(first_runs, resumes):
    workers = first_runs["unseeded"]
    assert_same_run(workers[0], workers[1], atol=1e-6)  # one seed, the chief's
    for result in resumes["apart"]:
        assert "The workers would resume from different epochs" in result["error"]
        assert "same checkpoint_dir on shared storage" in result["error"]
