"""Decoded images on disk: every image decoded once into one flat uint8 file.

Decoding a JPEG costs more CPU than a small student's whole training step, so
with a cached teacher, decoding files every epoch would take about a third of
each epoch on two cores. Here each image is decoded (and resized) once; epochs
then read their batches' rows back with `os.preadv`. Nothing is memory-mapped:
the file's pages stay in the operating system's page cache, not in the
process's resident memory, which holds only the batches in flight.

The file stores what `pykd.images.decode` produces, as uint8.
That is exact when every file already has the model's image size (resizing is
then the identity), which is when cache_images="auto" uses it; with resizing
(cache_images=True) pixels round to whole grey levels.
"""

from __future__ import annotations

import hashlib
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ._tf import tf
from .errors import DataError
from .images import FileImages, ImageSpec, image_sizes

# "auto" leaves at least this share of the disk's free space untouched.
_FREE_SPACE_SHARE = 0.5


class DecodedImages:
    """An image source reading decoded rows from one uint8 file (same batches as FileImages)."""

    def __init__(self, path: Path, n_rows: int, spec: ImageSpec, *, temporary: bool):
        self.path = Path(path)
        self.n_rows = n_rows
        self.spec = spec
        self.temporary = temporary
        self.shape = (spec.height, spec.width, spec.channels)
        self.row_bytes = int(np.prod(self.shape))

    def _read(self, batches: Sequence[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(rows, uint8 pixels) per batch, in order, each row read with one preadv call."""
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for rows in batches:
                rows = np.asarray(rows, np.int32)
                pixels = np.empty((len(rows), self.row_bytes), np.uint8)
                for i, row in enumerate(rows):
                    if os.preadv(fd, [pixels[i]], int(row) * self.row_bytes) != self.row_bytes:
                        raise OSError(f"{self.path} is shorter than its {self.n_rows} rows: delete it to rebuild it.")
                yield rows, pixels.reshape((len(rows), *self.shape))
        finally:
            os.close(fd)

    def batches(self, batches: Sequence[np.ndarray], ahead: int = 2) -> Iterator[tuple[tf.Tensor, tf.Tensor]]:
        """(rows, uint8 pixels) tensors per batch, read `ahead` batches in advance by a thread.

        The pixels stay uint8 (a quarter of float32's bytes); the compiled step converts them.

        A plain thread rather than tf.data.Dataset.from_generator: that calls back into
        Python through a py_function per batch, which cost the loop several times more.
        """
        ready: queue.Queue = queue.Queue(maxsize=ahead)
        stop = threading.Event()

        def hand_over(item) -> bool:
            while not stop.is_set():
                try:
                    ready.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def produce():
            try:
                for rows, pixels in self._read(batches):
                    if not hand_over((tf.convert_to_tensor(rows), tf.convert_to_tensor(pixels))):
                        return
            except BaseException as err:  # raised again in the consumer
                hand_over(err)
                return
            hand_over(None)

        reader = threading.Thread(target=produce, name="pykd-image-reader", daemon=True)
        reader.start()
        try:
            while (item := ready.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            reader.join()

    def dataset(self, batches: Sequence[np.ndarray]) -> tf.data.Dataset:
        """The same batches as a tf.data.Dataset, for tf.distribute strategies to split."""
        batches = [np.asarray(b, np.int32) for b in batches]
        signature = (tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, *self.shape], tf.uint8))
        dataset = tf.data.Dataset.from_generator(lambda: self._read(batches), output_signature=signature)
        options = tf.data.Options()
        options.autotune.enabled = False  # as in batches_dataset: per-epoch pipelines end promptly
        return dataset.with_options(options).prefetch(2)

    def close(self) -> None:
        """Delete the file if this run made it for itself."""
        if self.temporary:
            shutil.rmtree(self.path.parent, ignore_errors=True)


def _fingerprint(paths: Sequence[str], spec: ImageSpec) -> str:
    """Changes when any file is replaced or touched, or the image preparation changes."""
    digest = hashlib.sha1(spec.key().encode())
    for p in paths:
        stat = os.stat(p)
        digest.update(f"\n{p}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def _write(paths: Sequence[str], spec: ImageSpec, target: Path, batch_size: int, progress) -> None:
    """Decode every file in row order into `target`, atomically (a crash leaves no half file)."""
    rows = np.arange(len(paths))
    batches = [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)]
    partial = target.with_name(target.name + ".partial")
    with open(partial, "wb") as out:
        for step, (_, images) in enumerate(FileImages(paths, spec).batches(batches)):
            out.write(np.clip(np.rint(images.numpy()), 0, 255).astype(np.uint8).tobytes())
            if progress is not None:
                progress(step + 1, len(batches))
    os.replace(partial, target)


def image_source(
    setting,
    paths: Sequence[str],
    spec: ImageSpec,
    *,
    cache_dir: str | os.PathLike | None,
    passes: float,
    batch_size: int,
    progress=None,
) -> FileImages | DecodedImages:
    """The image source for one table: its files, or a decoded copy (built or reused).

    setting: "auto" decodes once when that is exact (every file already has the
    model's size), the run reads the table more than once (`passes`), and the
    copy takes under half the free disk space; True always; False never.
    Without cache_dir the copy is temporary (call close()); with it the copy is
    kept, named by a fingerprint of the files, and reused by later runs.
    """
    files = FileImages(paths, spec)
    if setting is False:
        return files
    needed = len(paths) * spec.height * spec.width * spec.channels
    kept = None if cache_dir is None else Path(cache_dir) / f"images-{_fingerprint(paths, spec)}.u8"
    reusable = kept is not None and kept.is_file() and kept.stat().st_size == needed
    if setting == "auto":
        if passes <= 1 or not all(size == spec.size for size in image_sizes(paths)):
            return files
        if not reusable and needed > _free_bytes(kept.parent if kept else Path(tempfile.gettempdir())) * _FREE_SPACE_SHARE:
            return files
    path = kept if kept is not None else Path(tempfile.mkdtemp(prefix="pykd-images-")) / "images.u8"
    if not reusable:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _write(paths, spec, path, batch_size, progress)
        except OSError as err:
            if cache_dir is None:
                shutil.rmtree(path.parent, ignore_errors=True)
            raise DataError(f"Could not write decoded images to {str(path)!r}: {err}. "
                            "Free some disk space, pass another cache_dir, or cache_images=False.") from err
    return DecodedImages(path, len(paths), spec, temporary=cache_dir is None)


def _free_bytes(directory: Path) -> int:
    """Free space on the disk that holds `directory` (or would hold it, once created)."""
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    return shutil.disk_usage(directory).free
