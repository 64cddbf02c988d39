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
import pykd.data.image_cache
import pykd.kd.teacher
from pykd.core import storage
from pykd.core.errors import DataError

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

    monkeypatch.setattr(pykd.kd.logit_cache, "compute_logits", no_second_pass)
    monkeypatch.setattr(pykd.data.image_cache, "_write", no_second_pass)
    second = run(on_ram, cache_dir=f"{url}/cache")
    pd.testing.assert_frame_equal(second.to_frame(), expected)
    assert second.params["teacher_cache"] is True and second.params["image_cache"] is True
    assert gfile.glob(f"{url}/cache/*") == cached


def test_a_checkpoint_on_a_url_keeps_the_caches_beside_it_and_is_never_overwritten(digits):
    # That a run resumes from a checkpoint on a URL as it would uninterrupted is tests/test_resume.py's.
    data = copy_to(url := ram_folder(), digits)
    run(data, epochs=1, checkpoint_dir=f"{url}/ckpt", cache_images=True)
    names = {p.rsplit("/", 1)[1].split("-")[0] for p in gfile.glob(f"{url}/ckpt/*")}
    assert {"pykd", "teacher", "images"} <= names  # the checkpoint, and the caches beside it
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


def test_models_saved_loaded_exported_and_predicted_on_urls(digits, tmp_path):
    data = copy_to(url := ram_folder(), digits, n_train=8, n_val=2)
    model = tiny_model(seed=4)
    assert pykd.models.save_model(model, f"{url}/models/student.keras") == f"{url}/models/student.keras"
    loaded = pykd.models.load_model(f"{url}/models/student.keras")
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), loaded.get_weights()))
    on_ram = pykd.predict(f"{url}/models/student.keras", data["train_csv"], directory=data["directory"])
    local = pykd.predict(model, pd.read_csv(digits["train_csv"]).iloc[:8], directory=digits["directory"])
    pd.testing.assert_frame_equal(on_ram, local)
    every = pykd.predict(model, directory=data["directory"])  # every image of the folder, sorted by name
    assert every["image_id"].tolist() == sorted(gfile.listdir(data["directory"]))
    assert pykd.export(model, f"{url}/models/student.tflite") == f"{url}/models/student.tflite"
    tflite = pykd.predict(f"{url}/models/student.tflite", data["train_csv"], directory=data["directory"])
    pd.testing.assert_frame_equal(tflite, local, atol=1e-5, check_dtype=False)
    assert pykd.serve.compare.size_mb(f"{url}/models/student.tflite") > 0
    with pytest.raises(DataError, match=f"The model file '{url}/models/none.keras' does not exist"):
        pykd.models.load_model(f"{url}/models/none.keras")
    # Weights files too, the URL kept as written (not "ram:/...") and the classes kept with them.
    pykd.models.set_classes(model, list("abcdefghij"))
    weights = f"{url}/models/student.weights.h5"
    assert pykd.models.save_weights(model, weights) == weights and gfile.exists(weights)
    rebuilt = pykd.models.load_weights(tiny_model(seed=5), weights)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), rebuilt.get_weights()))
    assert pykd.models.classes_of(rebuilt) == tuple("abcdefghij")
    with pytest.raises(DataError, match=f"The weights file '{url}/models/none.weights.h5' does not exist"):
        pykd.models.load_weights(model, f"{url}/models/none.weights.h5")


def test_a_folder_of_class_subfolders_and_arrays_with_a_url_cache_dir(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (24, 16, 16, 3), dtype=np.uint8)
    y = np.arange(24) % 3
    options = dict(epochs=1, batch_size=8, seed=0, verbose=0)
    url = ram_folder()
    from_arrays = pykd.train_scratch(tiny_model(n_classes=3, seed=1), (x, y), cache_dir=f"{url}/cache", **options)
    written = gfile.glob(f"{url}/cache/pykd-arrays-*/*.png")
    assert len(written) == 24
    folder = written[0].rsplit("/", 1)[0]
    for label in range(3):  # the same images as class subfolders under ram://
        gfile.makedirs(f"{url}/classes/c{label}")  # ram:// lists only folders made as such
        for i in np.flatnonzero(y == label):
            gfile.copy(f"{folder}/{i:06d}.png", f"{url}/classes/c{label}/{i:06d}.png")
    from_folder = pykd.train_scratch(tiny_model(n_classes=3, seed=1), f"{url}/classes", **options)
    assert from_folder.params["classes"] == ["c0", "c1", "c2"] and from_folder.params["n_train"] == 24
    assert np.isfinite(from_folder.to_frame()["loss"]).all() and np.isfinite(from_arrays.to_frame()["loss"]).all()
