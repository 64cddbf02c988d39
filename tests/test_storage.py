"""Data beyond one disk: tables, images, caches and checkpoints on tf.io.gfile URLs.

Offline, with TensorFlow's in-memory ram:// filesystem (process-local: every
test gets a folder of its own). Real images, real training runs: a run on URLs
must train exactly as the same run on local disk, reuse its caches and resume.
"""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from conftest import tiny_model

import pykd
import pykd.image_cache
import pykd.teacher
from pykd import storage
from pykd.errors import DataError

gfile = tf.io.gfile


def ram_folder() -> str:
    return f"ram://pykd-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=["local", "ram"])
def folder(request, tmp_path) -> str:
    return str(tmp_path / "here") if request.param == "local" else ram_folder()


def test_atomic_write_replaces_whole_files_and_leaves_no_partial_file(folder):
    target = storage.join(folder, "sub", "data.bin")
    storage.makedirs(storage.parent(target))
    storage.write_bytes_atomic(target, b"first")
    storage.write_bytes_atomic(target, b"second, longer")
    assert storage.read_bytes(target) == b"second, longer" and storage.size(target) == 14
    with pytest.raises(RuntimeError), storage.atomic_file(target) as out:
        out.write(b"half")
        raise RuntimeError("disk gone")
    assert storage.read_bytes(target) == b"second, longer"  # the old file, whole
    assert storage.listdir(storage.parent(target)) == ["data.bin"]  # no partial file left
    with storage.atomic_file(storage.join(folder, "sub", "zipped.npz"), seekable=True) as out:
        np.savez(out, a=np.arange(3))  # zip files tell and seek
    with np.load(storage.loadable(storage.join(folder, "sub", "zipped.npz"))) as saved:
        assert saved["a"].tolist() == [0, 1, 2]


def test_listing_reading_ranges_and_removing(folder):
    storage.makedirs(folder)
    for name in ("b.u8", "a.u8", "c.txt"):
        storage.write_bytes_atomic(storage.join(folder, name), bytes(range(10)))
    assert sorted(storage.listdir(folder)) == ["a.u8", "b.u8", "c.txt"]
    assert storage.glob(storage.join(folder, "*.u8")) == [storage.join(folder, "a.u8"), storage.join(folder, "b.u8")]
    assert storage.isdir(folder) and storage.isfile(storage.join(folder, "a.u8")) and not storage.isfile(folder)
    ranges = storage.RangeReader(storage.join(folder, "a.u8"))
    buffer = np.zeros(4, np.uint8)
    assert ranges.read_into(buffer, 3) == 4 and buffer.tolist() == [3, 4, 5, 6]
    assert ranges.read_into(buffer, 8) == 2  # short at the end
    ranges.close()
    storage.remove(storage.join(folder, "a.u8"))
    storage.remove(storage.join(folder, "a.u8"))  # already gone: nothing to do
    assert not storage.exists(storage.join(folder, "a.u8"))
    with pytest.raises(FileNotFoundError):
        storage.read_bytes(storage.join(folder, "missing.bin"))


def test_urls_keep_their_double_slash():
    assert storage.join("gs://bucket/data/", "images", "a.jpg") == "gs://bucket/data/images/a.jpg"
    assert storage.parent("ram://x/y/z.u8") == "ram://x/y" and storage.basename("ram://x/y/z.u8") == "z.u8"
    assert storage.is_url("s3://b/k") and not storage.is_url("/tmp/a") and not storage.is_url("C:/data")
    assert storage.tidy("gs://b//x") == "gs://b//x"


def copy_to(url: str, digits: dict, n_train: int = 48, n_val: int = 16) -> dict:
    """A small part of the digits (table, validation table and their images) copied under `url`."""
    train = pd.read_csv(digits["train_csv"]).iloc[:n_train]
    validation = pd.read_csv(digits["validation_csv"]).iloc[:n_val]
    gfile.makedirs(f"{url}/images")
    for image_id in [*train["image_id"], *validation["image_id"]]:
        gfile.copy(f"{digits['directory']}/{image_id}", f"{url}/images/{image_id}")
    for name, frame in (("train.csv", train), ("validation.csv", validation)):
        with gfile.GFile(f"{url}/{name}", "w") as out:
            out.write(frame.to_csv(index=False))
    return {"directory": f"{url}/images", "train_csv": f"{url}/train.csv", "validation_csv": f"{url}/validation.csv"}


def run(data: dict, **options):
    settings = dict(directory=data["directory"], validation=data["validation_csv"], epochs=2, batch_size=16, seed=3,
                    verbose=0, cache_images="auto", classes=list(pykd.datasets.CLASSES))
    settings.update(options)
    return pykd.distill(tiny_model(seed=1), tiny_model(seed=2), data["train_csv"], **settings)


def test_a_run_on_urls_trains_as_on_local_disk_and_a_second_run_reuses_its_caches(digits, tmp_path, monkeypatch):
    local = copy_to(str(tmp_path / "local"), digits)
    on_ram = copy_to(url := ram_folder(), digits)
    expected = run(local, cache_dir=str(tmp_path / "cache")).to_frame()
    first = run(on_ram, cache_dir=f"{url}/cache")
    pd.testing.assert_frame_equal(first.to_frame(), expected)
    assert first.params["teacher_cache"] is True and first.params["image_cache"] is True
    cached = gfile.glob(f"{url}/cache/*")
    assert {p.rsplit("/", 1)[1].split("-")[0] for p in cached} >= {"images", "teacher"}
    assert not [p for p in cached if p.endswith(".partial")]

    def no_second_pass(*args, **kwargs):
        raise AssertionError("the cache was computed again although it is kept under ram://")

    monkeypatch.setattr(pykd.teacher, "compute_logits", no_second_pass)
    monkeypatch.setattr(pykd.image_cache, "_write", no_second_pass)
    second = run(on_ram, cache_dir=f"{url}/cache")
    pd.testing.assert_frame_equal(second.to_frame(), expected)
    assert second.params["teacher_cache"] is True and second.params["image_cache"] is True
    assert gfile.glob(f"{url}/cache/*") == cached


def test_an_interrupted_run_resumes_from_a_checkpoint_on_a_url(digits):
    data = copy_to(url := ram_folder(), digits)
    whole = run(data, epochs=4, checkpoint_dir=f"{url}/whole")
    run(data, epochs=2, checkpoint_dir=f"{url}/ckpt")
    assert gfile.exists(f"{url}/ckpt/pykd-checkpoint.npz")
    resumed = run(data, epochs=4, checkpoint_dir=f"{url}/ckpt", resume=True)
    assert resumed.params["resumed_after_epoch"] == 2
    pd.testing.assert_frame_equal(resumed.to_frame(), whole.to_frame())
    assert sorted(p.rsplit("/", 1)[1] for p in gfile.glob(f"{url}/ckpt/*")) == sorted(
        p.rsplit("/", 1)[1] for p in gfile.glob(f"{url}/whole/*"))  # the caches went beside the checkpoint
    with pytest.raises(DataError, match=r"'ram://.*/ckpt' already holds a checkpoint"):
        run(data, epochs=4, checkpoint_dir=f"{url}/ckpt")


def test_errors_name_urls_as_given(digits):
    data = copy_to(url := ram_folder(), digits, n_train=4, n_val=2)
    with pytest.raises(DataError, match=f"The train table '{url}/nope.csv' does not exist"):
        run({**data, "train_csv": f"{url}/nope.csv"})
    with pytest.raises(DataError, match=f"The image directory '{url}/elsewhere' does not exist"):
        run({**data, "directory": f"{url}/elsewhere"})
    gfile.remove(f"{url}/images/" + pd.read_csv(digits["train_csv"])["image_id"][0])
    with pytest.raises(DataError, match=f"1 of 4 image files in the train table is missing from '{url}/images'"):
        run(data)
