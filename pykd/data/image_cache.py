"""Decoded images on disk: every image decoded once into one flat uint8 file.

Decoding a JPEG costs more CPU than a small student's whole training step, so
with a cached teacher, decoding files every epoch would take about a third of
each epoch on two cores. Here each image is decoded (and resized) once; epochs
then read their batches' rows back with `os.preadv` (seek and read on URLs).
Nothing is memory-mapped: the file's pages stay in the operating system's page
cache, not in the process's resident memory, which holds only the batches in flight.

The file stores what `pykd.data.images.decode` produces, as uint8.
That is exact when every file already has the model's image size (resizing is
then the identity), which is when cache_images="auto" uses it; with resizing
(cache_images=True) pixels round to whole grey levels.

A copy kept in cache_dir is named by the content digests of its rows' files
(in row order) and the image preparation, never by file names or times, and
ends in a checksum of its rows: a reused copy is verified first, and one that
fails is reported and decoded again, never trained on.
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .._tf import tf
from ..core import storage
from ..core.content import Digests, digest_of, file_digests, hasher, unchanged
from ..core.errors import DataError, Setting, Text, warn
from ..core.storage import atomic_file, remove_abandoned
from .bad_images import image_sizes
from .images import FileImages, ImageSpec

# "auto" leaves at least this share of the disk's free space untouched.
_FREE_SPACE_SHARE = 0.5
# The file: every row's uint8 pixels, then this footer: a marker and the rows' checksum.
_FORMAT = "2"
_MAGIC = b"pykd-u8" + _FORMAT.encode()


class RowFile:
    """Rows of one shape and dtype in one flat file, read back by batches of row indices.

    Any source of batches (FileImages, DecodedImages, the student's prefix features)
    has .batches(), .dataset(), .rows_read and .close().
    """

    def __init__(self, path: str | Path, n_rows: int, shape: tuple, dtype, *, temporary: bool):
        self.path = storage.name(path) if storage.is_url(path) else Path(path)  # a URL stays a string
        self.n_rows = n_rows
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.temporary = temporary
        self.row_bytes = int(np.prod(self.shape)) * self.dtype.itemsize
        self.rows_read = 0  # rows this process was asked to read (under several workers, its share)

    def _read(self, batches: Sequence[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(rows, values) per batch, in order, each row read with one preadv call (locally)."""
        self.rows_read += sum(len(b) for b in batches)
        file = storage.RangeReader(self.path)
        try:
            for rows in batches:
                rows = np.asarray(rows, np.int32)
                values = np.empty((len(rows), *self.shape), self.dtype)
                flat = values.view(np.uint8).reshape(len(rows), self.row_bytes)
                for i, row in enumerate(rows):
                    if file.read_into(flat[i], int(row) * self.row_bytes) != self.row_bytes:
                        raise OSError(f"{self.path} is shorter than its {self.n_rows} rows: delete it to rebuild it.")
                yield rows, values
        finally:
            file.close()

    def batches(self, batches: Sequence[np.ndarray], ahead: int = 2) -> Iterator[tuple[tf.Tensor, tf.Tensor]]:
        """(rows, values) tensors per batch, read `ahead` batches in advance by a thread.

        Pixels stay uint8 (a quarter of float32's bytes); the compiled step converts them.

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
                for rows, values in self._read(batches):
                    if not hand_over((tf.convert_to_tensor(rows), tf.convert_to_tensor(values))):
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
        signature = (tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, *self.shape], tf.as_dtype(self.dtype)))
        dataset = tf.data.Dataset.from_generator(lambda: self._read(batches), output_signature=signature)
        options = tf.data.Options()
        options.autotune.enabled = False  # as in batches_dataset: per-epoch pipelines end promptly
        return dataset.with_options(options).prefetch(2)

    def close(self) -> None:
        """Delete the file if this run made it for itself (always in a local temporary folder)."""
        if self.temporary:
            shutil.rmtree(os.path.dirname(self.path), ignore_errors=True)


class DecodedImages(RowFile):
    """An image source reading decoded uint8 rows from one file (same batches as FileImages).

    digests: the content digests of the rows' files, when the copy is kept in a
    cache_dir (the teacher's cache reuses them instead of reading the files again).
    exact: whether the rows equal the decoded files (no resizing, so no rounding).
    """

    def __init__(self, path: str | Path, n_rows: int, spec: ImageSpec, *, temporary: bool,
                 digests: Digests | None = None, exact: bool | None = None):
        super().__init__(path, n_rows, (spec.height, spec.width, spec.channels), np.uint8, temporary=temporary)
        self.spec = spec
        self.digests = digests
        self.exact = exact


def cache_name(digests: Sequence[str], spec: ImageSpec) -> str:
    """The kept copy's file name: the content digests of its rows, in order, and the image preparation."""
    return f"images-{digest_of('pykd decoded images', _FORMAT, spec.key(), chr(10).join(digests))}.u8"


def _write(paths: Sequence[str], spec: ImageSpec, target: str, batch_size: int, progress, digests=None) -> None:
    """Decode every file in row order into `target`, then the footer; atomically (a failure leaves no file).

    With `digests`, the copy is kept only if no file changed since it was hashed (its name says which bytes).
    """
    rows = np.arange(len(paths))
    batches = [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)]

    def blocks():
        for step, (_, images) in enumerate(FileImages(paths, spec).batches(batches)):
            yield np.clip(np.rint(images.numpy()), 0, 255).astype(np.uint8)
            if progress is not None:
                progress(step + 1, len(batches))
        if digests is not None:
            unchanged(digests, "their decoded copy")

    write_rows(target, blocks(), _MAGIC)


def write_rows(target: str | Path, blocks, magic: bytes) -> None:
    """Write the arrays `blocks` yields, then a footer (`magic` and their checksum), atomically into `target`.

    A block raising stops the write and leaves no file; partial files that killed runs left are removed first.
    """
    checksum = hasher()
    remove_abandoned(target)
    with atomic_file(target) as out:
        for block in blocks:
            data = np.ascontiguousarray(block).tobytes()
            checksum.update(data)
            out.write(data)
        out.write(magic + checksum.digest())


def verified(path: str | Path, payload: int, magic: bytes, what: str, instead: str) -> bool:
    """Whether `path` holds `payload` bytes of rows whose checksum matches its footer.

    Anything else (short, long, flipped bytes, unreadable) is warned about, naming
    the file and `what` it is, and not used: the caller makes it again (`instead`).
    """
    if not storage.exists(path):
        return False
    footer_size = len(magic) + hasher().digest_size
    try:
        with storage.reader(path) as f:
            if storage.size(path) != payload + footer_size:
                problem = "has the wrong size"
            else:
                checksum = hasher()
                left = payload
                while left and (chunk := f.read(min(left, 1 << 22))):
                    checksum.update(chunk)
                    left -= len(chunk)
                footer = f.read(footer_size)
                problem = None if footer == magic + checksum.digest() else "does not match its checksum"
    except OSError as err:
        problem = f"cannot be read ({err.strerror or err})"
    if problem is None:
        return True
    warn(f"The {what} {str(path)!r} {problem}: not used; {instead}.")
    return False


def _write_or_fail(paths, spec: ImageSpec, path: str, batch_size: int, progress, digests=None) -> None:
    """_write, with a DataError naming the file when the disk is full or not writable."""
    try:
        storage.makedirs(storage.parent(path))
        _write(paths, spec, path, batch_size, progress, digests)
    except OSError as err:
        raise DataError("Could not write decoded images to {path}: {reason}.",
                        "Free some disk space, pass another cache_dir, or {off}.",
                        path=str(path), reason=Text(err.strerror or str(err)), off=Setting("cache_images", False)) from err


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
    kept, named by the content of the files, and reused by later runs once its
    checksum is verified.
    """
    files = FileImages(paths, spec)
    if setting is False:
        return files
    payload = len(paths) * spec.height * spec.width * spec.channels
    exact = setting == "auto"
    if exact and (passes <= 1 or not all(size == spec.size for size in image_sizes(paths))):
        return files
    if cache_dir is None:
        if exact and not fits_on_disk(None, payload):
            return files
        path = os.path.join(tempfile.mkdtemp(prefix="pykd-images-"), "images.u8")
        try:
            _write_or_fail(paths, spec, path, batch_size, progress)
        except BaseException:
            shutil.rmtree(os.path.dirname(path), ignore_errors=True)
            raise
        return DecodedImages(path, len(paths), spec, temporary=True)
    digests = file_digests(paths)
    if not exact:  # cache_images=True: rounded pixels unless every file has the model's size
        exact = all(size == spec.size for size in image_sizes(paths))
    path = storage.join(cache_dir, cache_name(digests, spec))
    if not verified(path, payload, _MAGIC, "decoded-image cache", "the images are decoded again"):
        if setting == "auto" and not fits_on_disk(storage.parent(path), payload):
            return files
        _write_or_fail(paths, spec, path, batch_size, progress, digests)
    return DecodedImages(path, len(paths), spec, temporary=False, digests=digests, exact=exact)


def fits_on_disk(directory, payload: int) -> bool:
    """Whether `payload` bytes take at most the share of free space "auto" caches may use, in `directory`
    (None: the temporary folder). Object stores (URLs) report no free space and are taken to have room."""
    if storage.is_url(directory):
        return True
    directory = Path(tempfile.gettempdir()) if directory is None else Path(directory)
    return payload <= storage.free_bytes(directory) * _FREE_SPACE_SHARE


