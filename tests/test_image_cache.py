"""The decoded-image cache: exact when files have the model's size, temporary unless cache_dir, reused by key."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_model, write_images

import pykd
from pykd.core.content import file_digests
from pykd.data.image_cache import DecodedImages, cache_name, image_source
from pykd.data.images import FileImages, ImageSpec


@pytest.fixture
def run(digits):
    def go(**kwargs):
        options = dict(directory=digits["directory"], classes=digits["classes"], epochs=2, batch_size=32,
                       validation=digits["validation_csv"], seed=5, verbose=0)
        options.update(kwargs)
        return pykd.distill(tiny_model(seed=1), tiny_model(seed=2), digits["train_csv"], **options)

    return go


def temporary_caches() -> set[str]:
    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("pykd-images-")}


@pytest.fixture
def own_tmp(tmp_path, monkeypatch):
    """A temporary folder of the test's own: other runs on the machine make their copies in the shared one."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def test_decoded_batches_equal_decoded_files(digits):
    table = pd.read_csv(digits["train_csv"])
    paths = [os.path.join(digits["directory"], name) for name in table["image_id"]]
    spec = ImageSpec(16, 16, 3, rescale=0.5)
    source = image_source(True, paths, spec, cache_dir=None, passes=0, batch_size=50)
    assert isinstance(source, DecodedImages)
    batches = [np.array([5, 0, 17, 3]), np.arange(40, 100), np.array([len(paths) - 1])]
    try:
        for read in (source.batches, source.dataset):  # the loop's reader and the strategies' dataset
            pairs = zip(read(batches), FileImages(paths, spec).batches(batches), strict=True)
            for (rows_a, a), (rows_b, b) in pairs:
                assert a.dtype == "uint8"  # a quarter of float32's bytes in flight
                np.testing.assert_array_equal(rows_a.numpy(), rows_b.numpy())
                np.testing.assert_array_equal(spec.to_inputs(a).numpy(), spec.to_inputs(b).numpy())
    finally:
        source.close()
    assert not source.path.exists()


def test_auto_caches_and_trains_exactly_as_from_files(run, own_tmp):
    before = temporary_caches()
    cached = run()
    assert cached.params["image_cache"] is True  # 16x16 files for a 16x16 model: exact
    from_files = run(cache_images=False)
    assert from_files.params["image_cache"] is False
    pd.testing.assert_frame_equal(cached.to_frame(), from_files.to_frame(), check_exact=True)
    assert temporary_caches() == before  # the run's temporary copy is gone


def test_auto_declines_when_files_need_resizing(tmp_path, random_images):
    directory, table = random_images(48, k=10, size=20)  # 20x20 files for a 16x16 model
    options = dict(directory=directory, epochs=2, batch_size=16, seed=0, verbose=0)
    auto = pykd.distill(tiny_model(seed=1), tiny_model(seed=2), table, **options)
    assert auto.params["image_cache"] is False
    forced = pykd.distill(tiny_model(seed=1), tiny_model(seed=2), table, cache_images=True, **options)
    assert forced.params["image_cache"] is True  # pixels rounded to whole grey levels: close, not equal
    np.testing.assert_allclose(forced.to_frame()["loss"], auto.to_frame()["loss"], rtol=1e-3)


def test_auto_counts_every_pass_over_the_images(digits, run):
    assert run(epochs=1, validation=None).params["image_cache"] is True  # the teacher's pass, then the epoch
    scratch = pykd.train_scratch(tiny_model(seed=2), digits["train_csv"], directory=digits["directory"],
                                 classes=digits["classes"], epochs=1, batch_size=32, verbose=0)
    assert scratch.params["image_cache"] is False  # one pass: decoding once is all it would do


def test_cache_dir_keeps_the_copy_and_rebuilds_when_a_file_changes(tmp_path):
    directory = tmp_path / "images"
    write_images(directory, 40, size=16)
    table = pd.DataFrame({"image_id": sorted(os.listdir(directory)), "label": np.arange(40) % 10})
    options = dict(directory=str(directory), cache_dir=tmp_path / "cache")
    pykd.distill(tiny_model(seed=1), tiny_model(seed=2), table, epochs=2, batch_size=16, verbose=0, **options)
    (copy,) = (tmp_path / "cache").glob("images-*.u8")
    stamp = copy.stat().st_mtime_ns
    pykd.distill(tiny_model(seed=1), tiny_model(seed=2), table, epochs=2, batch_size=16, verbose=0, **options)
    assert copy.stat().st_mtime_ns == stamp  # reused, not rewritten
    write_images(directory, 1, size=16, seed=9)  # overwrites img_00000.jpg with other pixels
    pykd.distill(tiny_model(seed=1), tiny_model(seed=2), table, epochs=2, batch_size=16, verbose=0, **options)
    assert len(list((tmp_path / "cache").glob("images-*.u8"))) == 2


def test_kept_copy_is_named_by_content_and_checked_before_reuse(tmp_path):
    directory = tmp_path / "images"
    names = write_images(directory, 20, size=16)
    paths = [str(directory / n) for n in names]
    spec = ImageSpec(16, 16, 3)
    source = image_source(True, paths, spec, cache_dir=tmp_path / "cache", passes=2, batch_size=8)
    assert source.path.name == cache_name(file_digests(paths), spec) and source.exact is True
    assert source.path.stat().st_size == 20 * 16 * 16 * 3 + 40  # the rows, then a marker and their checksum
    assert image_source(True, paths, ImageSpec(16, 16, 3, rescale=0.5), cache_dir=tmp_path / "cache", passes=2,
                        batch_size=8).path != source.path  # another image preparation: another copy
    reordered = image_source(True, paths[::-1], spec, cache_dir=tmp_path / "cache", passes=2, batch_size=8)
    assert reordered.path != source.path  # rows in another order: another copy
    with open(source.path, "r+b") as f:
        f.seek(5)
        f.write(b"\xff\x00")
    with pytest.warns(UserWarning, match="does not match its checksum"):
        again = image_source(True, paths, spec, cache_dir=tmp_path / "cache", passes=2, batch_size=8)
    ((_, rebuilt),), ((_, decoded),) = list(again.batches([np.arange(20)])), list(FileImages(paths, spec).batches([np.arange(20)]))
    np.testing.assert_array_equal(rebuilt.numpy(), decoded.numpy())


def test_bad_setting_is_rejected_before_anything_runs(run):
    with pytest.raises(pykd.DataError, match="cache_images must be one of"):
        run(cache_images="yes")
