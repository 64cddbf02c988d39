"""Both on-disk caches (decoded images, teacher logits): keyed by file content, verified, shared safely.

Real JPEGs, real tiny models, real concurrent processes: a cache must never
change what a run trains on, whatever happened to the files, the cache files
or the other runs sharing its cache_dir.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_model, write_images
from PIL import Image

import pykd
import pykd.data.image_cache
import pykd.kd.teacher
from pykd.core.content import file_digests

TESTS = Path(__file__).resolve().parent
N = 48  # three batches of 16


def labelled(directory, names=None) -> pd.DataFrame:
    names = sorted(os.listdir(directory)) if names is None else names
    return pd.DataFrame({"image_id": names, "label": np.arange(len(names)) % 10})


def distill(directory, table, cache_dir=None, **kwargs) -> pd.DataFrame:
    options = dict(directory=str(directory), epochs=2, batch_size=16, seed=3, verbose=0, cache_dir=cache_dir)
    options.update(kwargs)
    return pykd.distill(tiny_model(seed=1), tiny_model(seed=2), table, **options).to_frame()


def same_size_jpeg(path: Path, seed: int) -> None:
    """Overwrite `path` in place with other pixels in exactly as many bytes, then restore its times, as `cp -p` does."""
    before = os.stat(path)
    with Image.open(path) as image:
        width, height = image.size
    rng = np.random.default_rng(seed)
    for quality in (75, 60, 45, 30, 15):
        out = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(out, "JPEG", quality=quality)
        data = out.getvalue()
        if len(data) + 4 <= before.st_size:
            break
    pad = before.st_size - len(data) - 4  # a comment segment after the start marker fills the difference
    data = data[:2] + b"\xff\xfe" + (pad + 2).to_bytes(2, "big") + b"\0" * pad + data[2:]
    with open(path, "r+b") as f:
        f.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)


def cache_files(cache_dir: Path) -> list[str]:
    return sorted(p.name for p in cache_dir.iterdir())


def assert_no_partial_files(cache_dir: Path) -> None:
    assert not [n for n in cache_dir.iterdir() if n.name.endswith((".partial", ".tmp", ".tmp.npz"))]


@pytest.mark.parametrize("cache_images, cache_teacher", [("auto", "auto"), (False, "auto"), ("auto", False)],
                         ids=["both caches", "teacher cache", "image cache"])
def test_replaced_bytes_with_restored_times_are_never_served(tmp_path, cache_images, cache_teacher):
    directory = tmp_path / "images"
    table = labelled(directory, write_images(directory, N, size=16))
    cache = tmp_path / "cache"
    options = dict(cache_images=cache_images, cache_teacher=cache_teacher)
    before = distill(directory, table, cache, **options)
    for i in (0, 7, 20, 33, 47):  # same size, same mtime, same inode: only the bytes differ
        same_size_jpeg(directory / table["image_id"][i], seed=100 + i)
    after = distill(directory, table, cache, **options)
    fresh = distill(directory, table, **options)  # no cache at all
    pd.testing.assert_frame_equal(after, fresh, rtol=1e-5)
    assert not np.allclose(after["loss"], before["loss"], rtol=1e-5, atol=0)  # beyond the tolerance just used


def test_another_folder_with_the_same_names_is_not_served_the_first_ones_cache(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    table = labelled(first, write_images(first, N, size=16, seed=0))
    write_images(second, N, size=16, seed=1)  # the same file names, other pixels
    cache = tmp_path / "cache"
    distill(first, table, cache)
    pd.testing.assert_frame_equal(distill(second, table, cache), distill(second, table), rtol=1e-5)


def test_a_copied_folder_reuses_both_caches(tmp_path, monkeypatch):
    """Keys are contents, not paths: the same images elsewhere (or renamed) are served from the cache."""
    first = tmp_path / "a"
    table = labelled(first, write_images(first, N, size=16))
    cache = tmp_path / "cache"
    original = distill(first, table, cache)
    stamps = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    second = tmp_path / "b"
    second.mkdir()
    renamed = table.assign(image_id=[f"copy_{n}" for n in table["image_id"]])
    for old, new in zip(table["image_id"], renamed["image_id"]):
        (second / new).write_bytes((first / old).read_bytes())
    monkeypatch.setattr(pykd.kd.logit_cache, "compute_logits", _no_teacher_pass)
    pd.testing.assert_frame_equal(distill(second, renamed, cache), original)
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == stamps  # nothing rewritten


def _no_teacher_pass(*args, **kwargs):
    raise AssertionError("the teacher ran although every row is cached")


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "append"])
def test_a_damaged_decoded_cache_is_reported_rebuilt_and_never_trained_on(tmp_path, damage):
    directory = tmp_path / "images"
    table = labelled(directory, write_images(directory, N, size=16))
    cache = tmp_path / "cache"
    fresh = distill(directory, table, cache_teacher=False)
    distill(directory, table, cache, cache_teacher=False)
    (copy,) = cache.glob("images-*.u8")
    data = bytearray(copy.read_bytes())
    if damage == "flip a byte":
        data[len(data) // 3] ^= 0x10
    elif damage == "truncate":
        data = data[:-100]
    else:
        data += b"\0" * 16
    copy.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match=re.escape(str(copy))):
        rebuilt = distill(directory, table, cache, cache_teacher=False)
    pd.testing.assert_frame_equal(rebuilt, fresh, check_exact=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # rebuilt and valid: reused without a word
        pd.testing.assert_frame_equal(distill(directory, table, cache, cache_teacher=False), fresh, check_exact=True)


@pytest.mark.parametrize("damage", ["garbage", "truncate", "changed logit", "old format", "empty"])
def test_a_corrupt_teacher_cache_is_reported_and_rebuilt(tmp_path, damage):
    directory = tmp_path / "images"
    table = labelled(directory, write_images(directory, N, size=16))
    cache = tmp_path / "cache"
    first = distill(directory, table, cache, cache_images=False)
    (path,) = cache.glob("teacher-*.npz")
    if damage == "garbage":
        path.write_bytes(os.urandom(3000))
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:-500])
    elif damage == "changed logit":
        with np.load(path) as saved:
            arrays = dict(saved)
        arrays["logits"][5, 2] += 1.0
        np.savez(path, **arrays)
    elif damage == "old format":
        np.savez(path, ids=table["image_id"].to_numpy(), logits=np.zeros((N, 10), np.float32))
    else:
        path.write_bytes(b"")
    with pytest.warns(UserWarning, match=re.escape(str(path))):
        rebuilt = distill(directory, table, cache, cache_images=False)
    pd.testing.assert_frame_equal(rebuilt, first, check_exact=True)
    with np.load(path) as saved:  # whole again: every image's digest, with a valid checksum
        assert set(saved["digests"].tolist()) == set(file_digests([str(directory / n) for n in table["image_id"]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        pd.testing.assert_frame_equal(distill(directory, table, cache, cache_images=False), first, check_exact=True)


@pytest.mark.parametrize("cache", ["decoded images", "teacher logits"])
def test_a_file_rewritten_while_the_caches_are_made_is_not_cached(tmp_path, monkeypatch, cache):
    """The bytes decoded or read by the teacher must be the ones hashed: a cache named by other bytes is never kept."""
    directory = tmp_path / "images"
    table = labelled(directory, write_images(directory, N, size=16))
    victim = directory / table["image_id"][9]
    if cache == "decoded images":
        class Rewritten(pykd.data.images.FileImages):
            def batches(self, batches):
                same_size_jpeg(victim, seed=5)  # same size, mtime restored: only the kernel's ctime tells
                return super().batches(batches)

        monkeypatch.setattr(pykd.data.image_cache, "FileImages", Rewritten)
        options = dict(cache_teacher=False)
    else:
        real = pykd.kd.logit_cache.compute_logits

        def rewriting(*args, **kwargs):
            same_size_jpeg(victim, seed=5)
            return real(*args, **kwargs)

        monkeypatch.setattr(pykd.kd.logit_cache, "compute_logits", rewriting)
        options = dict(cache_images=False)
    with pytest.raises(pykd.DataError, match=r"1 image files changed while the run made .*'img_00009.jpg'"):
        distill(directory, table, tmp_path / "cache", **options)
    assert [p.name for p in (tmp_path / "cache").glob("*") if not p.name.endswith(".lock")] == []


def nan_teacher(dark_below: float = 0.3):
    """A real tiny teacher whose logits are NaN for dark images (log of a negative mean)."""
    import keras

    keras.utils.set_random_seed(1)
    return keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Lambda(lambda x: keras.ops.log(keras.ops.mean(x, axis=(1, 2)) - dark_below)),
        keras.layers.Dense(64),  # more parameters than the student, so no "wrong order?" warning
        keras.layers.Dense(10),
    ], name="nan_teacher")


@pytest.mark.parametrize("cached", [True, False], ids=["cache_dir", "no cache_dir"])
def test_nan_teacher_logits_stop_the_run_naming_the_images_and_are_never_cached(tmp_path, cached):
    directory = tmp_path / "images"
    table = labelled(directory, write_images(directory, 20, size=16))
    dark = {3: 20, 11: 10, 12: 10}  # rows 11 and 12: one file's content twice
    for i, level in dark.items():
        Image.fromarray(np.full((16, 16, 3), level, np.uint8)).save(directory / table["image_id"][i])
    cache = tmp_path / "cache" if cached else None
    student = tiny_model(seed=2)
    start = student.get_weights()
    with pytest.raises(pykd.DataError) as caught:
        pykd.distill(nan_teacher(), student, table, directory=str(directory), batch_size=8, epochs=1, verbose=0,
                     cache_dir=cache, teacher_precision="float32")
    message = str(caught.value)
    assert "'nan_teacher'" in message and "3 of 20 images" in message
    assert all(repr(table["image_id"][i]) in message for i in dark)
    assert "rescale=None" in caught.value.render("python")["fix"]
    assert 'rescale = NULL' in caught.value.render("r")["fix"]
    assert all(np.array_equal(a, b) for a, b in zip(start, student.get_weights()))  # no step was taken
    if cached:
        assert not list((tmp_path / "cache").glob("teacher-*"))  # nothing cached, not even a partial file


# ---------------------------------------------------------------- runs sharing one cache_dir at the same time

CHILD = textwrap.dedent("""
    import json, os, sys, time, warnings
    args = json.loads(sys.argv[1])
    sys.path.insert(0, args["tests"])
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import pandas as pd
    import pykd
    from conftest import tiny_model
    teacher, student = tiny_model(seed=1), tiny_model(seed=2)
    table = pd.read_csv(args["table"])
    open(os.path.join(args["ready"], str(args["index"])), "w").close()
    deadline = time.time() + 240
    while len(os.listdir(args["ready"])) < args["n"]:  # every run starts at the same instant
        if time.time() > deadline:
            sys.exit("the other runs never became ready")
        time.sleep(0.005)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        history = pykd.distill(teacher, student, table, directory=args["directory"], epochs=2, batch_size=16, seed=3,
                               verbose=0, cache_dir=args["cache"], **args.get("options", {}))
    history.to_frame().to_pickle(args["out"])
    with open(args["out"] + ".warnings", "w") as f:
        json.dump([str(w.message) for w in seen if "cache" in str(w.message)], f)
""")


def run_at_once(tmp_path: Path, directory: Path, tables: list[pd.DataFrame], cache: Path, limit: float = 300,
                **options) -> list[pd.DataFrame]:
    """Start one process per table, all released at the same instant on one cache_dir; their histories."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    ready = tmp_path / f"ready-{time.monotonic_ns()}"
    ready.mkdir()
    procs, outs = [], []
    for i, table in enumerate(tables):
        csv = tmp_path / f"table-{i}.csv"
        table.to_csv(csv, index=False)
        outs.append(str(tmp_path / f"history-{i}-{ready.name}.pkl"))
        args = dict(tests=str(TESTS), table=str(csv), ready=str(ready), index=i, n=len(tables), out=outs[-1],
                    directory=str(directory), cache=str(cache), options=options)
        procs.append(subprocess.Popen([sys.executable, str(script), json.dumps(args)], stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    deadline = time.monotonic() + limit
    for proc in procs:
        try:
            output, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            pytest.fail(f"a run sharing the cache_dir did not finish within {limit} s")
        assert proc.returncode == 0, output[-3000:]
    for out in outs:
        assert json.loads(Path(out + ".warnings").read_text()) == []  # no run saw a half-written cache
    return [pd.read_pickle(out) for out in outs]


def test_runs_started_at_once_on_one_cache_dir_each_get_their_solo_answer(tmp_path, monkeypatch):
    # Two runs at once on overlapping tables: the middle rows both at once, and rows each reads alone
    # (both runs' updates must be merged).
    directory = tmp_path / "images"
    full = labelled(directory, write_images(directory, N, size=16))
    chosen = [full.iloc[: 2 * N // 3].reset_index(drop=True), full.iloc[N // 3:].reset_index(drop=True)]
    cache = tmp_path / "cache"
    histories = run_at_once(tmp_path, directory, chosen, cache)
    solo = [distill(directory, table) for table in chosen]  # alone, without any cache
    for history, alone in zip(histories, solo):
        pd.testing.assert_frame_equal(history, alone, rtol=1e-5)
    assert_no_partial_files(cache)
    with np.load(next(cache.glob("teacher-*.npz"))) as saved:  # every run's rows were kept: no lost update
        assert set(saved["digests"].tolist()) == set(file_digests([str(directory / n) for n in full["image_id"]]))
    alone = distill(directory, full)
    monkeypatch.setattr(pykd.kd.logit_cache, "compute_logits", _no_teacher_pass)  # a later run finds every row cached
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        later = distill(directory, full, cache)
    pd.testing.assert_frame_equal(later, alone, rtol=1e-5)


def _teacher_on(directory: Path, frame: pd.DataFrame):
    """cached_logits for `frame` with a fixed real teacher: (table, compute(cache_dir))."""
    from pykd.data.frames import resolve_table
    from pykd.data.images import FileImages, ImageSpec
    from pykd.kd.logit_cache import cached_logits
    from pykd.kd.teacher import ModelTeacher

    table = resolve_table(frame, directory=str(directory), x_col="image_id", y_col="label", classes=None, name="train")
    teacher = ModelTeacher([tiny_model(seed=1)], precision="float32")
    return table, lambda cache: cached_logits(teacher, table, FileImages(table.paths, ImageSpec(16, 16, 3)), 16, cache)


def _cached_digests(cache: Path) -> set[str]:
    with np.load(next(cache.glob("teacher-*.npz"))) as saved:
        return set(saved["digests"].tolist())


def test_rows_another_run_adds_meanwhile_are_kept(tmp_path, monkeypatch):
    """The update is read-merge-write under the lock: what landed since this run first read the file survives."""
    directory = tmp_path / "images"
    full = labelled(directory, write_images(directory, N, size=16))
    parts = [_teacher_on(directory, full.iloc[i::3].reset_index(drop=True)) for i in range(3)]
    cache = tmp_path / "cache"
    parts[0][1](cache)
    real = pykd.kd.logit_cache.compute_logits
    calls = []

    def meanwhile(*args, **kwargs):  # while this run computes its rows, another run stores the third part
        calls.append(1)
        if len(calls) == 1:
            parts[2][1](cache)
        return real(*args, **kwargs)

    monkeypatch.setattr(pykd.kd.logit_cache, "compute_logits", meanwhile)
    values = parts[1][1](cache)
    assert _cached_digests(cache) == set(file_digests([str(directory / n) for n in full["image_id"]]))
    monkeypatch.setattr(pykd.kd.logit_cache, "compute_logits", real)
    np.testing.assert_allclose(values, parts[1][1](None), rtol=1e-5, atol=1e-6)


def test_an_update_waits_for_the_lock(tmp_path):
    import threading

    from pykd.core.storage import locked

    directory = tmp_path / "images"
    full = labelled(directory, write_images(directory, 32, size=16))
    (first, compute_first), (second, compute_second) = (_teacher_on(directory, full.iloc[i::2].reset_index(drop=True))
                                                        for i in range(2))
    cache = tmp_path / "cache"
    compute_first(cache)
    (path,) = cache.glob("teacher-*.npz")
    with locked(path.with_name(path.name + ".lock")):
        waiting = threading.Thread(target=compute_second, args=(cache,))
        waiting.start()
        waiting.join(timeout=3)
        assert waiting.is_alive()  # computed its rows, now blocked on the lock: nothing written meanwhile
        assert _cached_digests(cache) == set(file_digests(list(first.paths)))
    waiting.join(timeout=60)
    assert not waiting.is_alive()
    assert _cached_digests(cache) == set(file_digests(list(first.paths) + list(second.paths)))


CHILD_FULL_DISK = textwrap.dedent("""
    import json, os, resource, signal, sys
    args = json.loads(sys.argv[1])
    sys.path.insert(0, args["tests"])
    import pandas as pd
    import pykd
    from conftest import tiny_model
    table = pd.read_csv(args["table"])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG, as on a full disk
    errors = []
    for case in args["cases"]:  # each with its own file size limit and cache_dir
        resource.setrlimit(resource.RLIMIT_FSIZE, (case["limit"], resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        try:
            pykd.distill(tiny_model(seed=1), tiny_model(seed=2), table, directory=args["directory"], epochs=2,
                         batch_size=16, verbose=0, cache_dir=case["cache"], **case["options"])
            errors.append(None)
        except pykd.DataError as err:
            errors.append({**err.render("python"), "path": err.values.get("path")})
    print(json.dumps(errors))
""")

# (the cache file's name starts, the options that leave it the only one written, the file size limit)
FULL_DISK = {
    "decoded images": ("images-", {"cache_teacher": False}, 20_000),  # the decoded copy (36 KB) does not fit
    "teacher logits": ("teacher-", {"cache_images": False}, 4_000),  # the teacher's logits (about 9 KB) do not fit
}


def test_a_failed_write_leaves_no_partial_file_and_names_the_path(tmp_path):
    # One process, both caches in turn: the soft file size limit may be set again, up to the hard one.
    directory = tmp_path / "images"
    table = labelled(directory, write_images(directory, N, size=16))
    table.to_csv(tmp_path / "table.csv", index=False)
    script = tmp_path / "child.py"
    script.write_text(CHILD_FULL_DISK)
    cases = [dict(cache=str(tmp_path / f"cache-{i}"), options=options, limit=limit)
             for i, (_, options, limit) in enumerate(FULL_DISK.values())]
    args = dict(tests=str(TESTS), table=str(tmp_path / "table.csv"), directory=str(directory), cases=cases)
    proc = subprocess.run([sys.executable, str(script), json.dumps(args)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    errors = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(errors) == len(cases)
    for (which, (prefix, _, _)), case, error in zip(FULL_DISK.items(), cases, errors):
        assert error is not None, f"the run did not fail when the {which} did not fit"
        assert "Could not write" in error["problem"] and "File too large" in error["problem"], which
        named = error["path"]
        assert repr(named) in error["problem"] and Path(named).parent == Path(case["cache"]), which
        assert Path(named).name.startswith(prefix), which
        assert [p.name for p in Path(case["cache"]).iterdir() if not p.name.endswith(".lock")] == [], which


def test_partial_files_of_killed_runs_are_cleared_but_not_those_being_written(tmp_path):
    from pykd.core.storage import atomic_file, remove_abandoned

    target = tmp_path / "images-abc.u8"
    old, live, other = (tmp_path / name for name in (".images-abc.u8.host.1.ab.partial", ".images-abc.u8.host.2.cd.partial",
                                                    ".images-xyz.u8.host.1.ab.partial"))
    for path in (old, live, other):
        path.write_bytes(b"half")
    hours_ago = time.time() - 7200
    os.utime(old, (hours_ago, hours_ago))
    os.utime(other, (hours_ago, hours_ago))
    remove_abandoned(target)
    assert not old.exists() and live.exists() and other.exists()  # only this target's, only idle ones
    with pytest.raises(RuntimeError), atomic_file(target) as out:
        out.write(b"x")
        raise RuntimeError("disk gone")
    assert not target.exists() and sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name])


GAIN = 1.0  # a module global the Lambda teacher below reads


def lambda_teacher(shift: float = 0.0, reads=None):
    """A real teacher whose Lambda reads the global GAIN, the closure value `shift` and, optionally, an object."""
    import keras

    keras.utils.set_random_seed(1)
    extra = (lambda x: x) if reads is None else (lambda x: x * reads.scale)
    return keras.Sequential([
        keras.Input((16, 16, 3)), keras.layers.Rescaling(1 / 255), keras.layers.Conv2D(8, 3, strides=2),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Lambda(lambda x: extra(x * GAIN + shift)), keras.layers.Dense(10),
    ], name="lambda_teacher")


def test_a_lambda_is_cached_by_the_values_it_reads(tmp_path, monkeypatch):
    directory = tmp_path / "images"
    table = labelled(directory, write_images(directory, 16, size=16))
    cache = tmp_path / "cache"

    def run(teacher, cache_dir):
        return pykd.distill(teacher, tiny_model(seed=2), table, directory=str(directory), epochs=1, batch_size=16,
                            seed=3, verbose=0, cache_dir=cache_dir, larger_student=True).to_frame()

    run(lambda_teacher(), cache)
    monkeypatch.setattr(sys.modules[__name__], "GAIN", 5.0)  # the global changed: the cached logits are stale
    pd.testing.assert_frame_equal(run(lambda_teacher(), cache), run(lambda_teacher(), None))
    pd.testing.assert_frame_equal(run(lambda_teacher(shift=2.0), cache), run(lambda_teacher(shift=2.0), None))
    assert len(list(cache.glob("teacher-*.npz"))) == 3  # one per (GAIN, shift): none served another's logits

    class Scale:  # an object pykd cannot look into: its logits are not kept, and the run says so
        scale = 3.0

    with pytest.warns(UserWarning, match=r"not kept in cache_dir: the Lambda layer 'lambda\w*' reads a "
                                         r".*Scale object, whose content pykd cannot fingerprint"):
        kept = run(lambda_teacher(reads=Scale()), cache)
    pd.testing.assert_frame_equal(kept, run(lambda_teacher(reads=Scale()), None))
    assert len(list(cache.glob("teacher-*.npz"))) == 3
