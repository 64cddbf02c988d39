"""File operations for local paths and for `tf.io.gfile` URLs (gs://, hdfs://, s3://, ram://).

Workers on several machines usually share object storage, so the image folder,
the tables, cache_dir and checkpoint_dir may be URLs. A path is a URL when it
starts with a scheme (`gs://bucket/x`); URLs are kept as strings and joined with
"/", never passed through pathlib (which collapses "//" and breaks them).

Local paths keep the fast mechanisms the caches rely on (os.preadv, O_EXCL
creation, flock); URLs go through tf.io.gfile, and its errors are raised as
OSError (FileNotFoundError when missing) so callers handle both alike.

Locking: object stores have no flock. Under several workers only the chief
writes, and every write is to a unique temporary name renamed into place, so
readers never see half a file. What is not locked for URLs: two independent
runs updating the same teacher-logit cache at once may each replace the file
with their own rows (a run's rows may be lost and computed again; none is wrong).
"""

from __future__ import annotations

import errno
import fcntl
import io
import os
import posixpath
import re
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from glob import glob as _local_glob
from pathlib import Path

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(path) -> bool:
    """Whether `path` names a tf.io.gfile filesystem (scheme://...) rather than a local file."""
    return isinstance(path, str) and bool(_URL.match(path))


def _gfile():
    from .._tf import tf

    return tf.io.gfile


@contextmanager
def _as_oserror(path: str) -> Iterator[None]:
    """tf.errors from gfile as OSError naming `path`, so callers' `except OSError` covers URLs too."""
    from .._tf import tf

    try:
        yield
    except tf.errors.NotFoundError as err:
        raise FileNotFoundError(errno.ENOENT, err.message, path) from err
    except tf.errors.PermissionDeniedError as err:
        raise PermissionError(errno.EACCES, err.message, path) from err
    except tf.errors.OpError as err:
        raise OSError(errno.EIO, err.message, path) from err


def name(path) -> str:
    """The text of `path`, unchanged (URLs and error messages show what the user gave)."""
    return os.fspath(path)


def tidy(path) -> str:
    """A local path as pathlib writes it ("a//b/" is "a/b"); a URL unchanged."""
    path = name(path)
    return path if is_url(path) else str(Path(path))


def join(base, *parts: str) -> str:
    """`base`/`parts`: "/"-joined for URLs ("a/../b" resolved: object stores take keys literally);
    for local paths what pathlib makes (as before)."""
    base = name(base)
    if not is_url(base):
        return str(Path(base, *parts))
    joined = "/".join([base.rstrip("/"), *(str(p).strip("/") for p in parts)])
    if "/../" not in joined and "/./" not in joined:
        return joined
    scheme, _, rest = joined.partition("://")
    return f"{scheme}://{posixpath.normpath(rest)}"


def relative(path, start) -> str:
    """`path` relative to the folder `start` (URLs: on the same filesystem, "/"-separated)."""
    path, start = name(path), name(start)
    if not (is_url(path) or is_url(start)):
        return os.path.relpath(path, start)
    (scheme, _, rest), (start_scheme, _, start_rest) = path.partition("://"), start.partition("://")
    if scheme != start_scheme:
        raise ValueError(f"{path} and {start} are on different filesystems")
    return posixpath.relpath(rest, start_rest)


def parent(path) -> str:
    """The folder that holds `path`."""
    path = name(path)
    if is_url(path):
        head, _, _ = path.rstrip("/").rpartition("/")
        return head if not head.endswith(":/") else path  # "ram://x": the root of the filesystem
    return str(Path(path).parent)


def basename(path) -> str:
    return name(path).rstrip("/").rpartition("/")[2] if is_url(name(path)) else Path(path).name


def exists(path) -> bool:
    path = name(path)
    return _gfile().exists(path) if is_url(path) else os.path.exists(path)


def isdir(path) -> bool:
    path = name(path)
    return _gfile().isdir(path) if is_url(path) else os.path.isdir(path)


def isfile(path) -> bool:
    path = name(path)
    if is_url(path):
        gfile = _gfile()
        return gfile.exists(path) and not gfile.isdir(path)
    return os.path.isfile(path)


def listdir(folder) -> list[str]:
    """The names (not paths) of the entries in `folder`."""
    folder = name(folder)
    if not is_url(folder):
        return os.listdir(folder)
    with _as_oserror(folder):
        return [n.rstrip("/") for n in _gfile().listdir(folder)]


def glob(pattern) -> list[str]:
    """The paths matching `pattern` (shell wildcards), sorted."""
    pattern = name(pattern)
    if not is_url(pattern):
        return sorted(_local_glob(pattern))
    with _as_oserror(pattern):
        return sorted(_gfile().glob(pattern))


def files_under(folder) -> list[str]:
    """The files under `folder` and its subfolders, as "/"-separated paths relative to it, sorted as pathlib sorts."""
    folder = name(folder)
    if not is_url(folder):
        found = [p.relative_to(folder).as_posix() for p in Path(folder).rglob("*") if p.is_file()]
        return sorted(found, key=_parts)
    found = []
    for entry in listdir(folder):  # listdir, not gfile.walk: walk misses subfolders on some filesystems (ram://)
        path = join(folder, entry)
        found.extend([f"{entry}/{inner}" for inner in files_under(path)] if isdir(path) else [entry])
    return sorted(found, key=_parts)


def _parts(relative_path: str) -> list[str]:
    return relative_path.split("/")  # "a/b" before "a-c", as pathlib compares paths


def makedirs(folder) -> None:
    folder = name(folder)
    if not is_url(folder):
        os.makedirs(folder, exist_ok=True)
        return
    with _as_oserror(folder):
        _gfile().makedirs(folder)


def size(path) -> int:
    path = name(path)
    if not is_url(path):
        return os.stat(path).st_size
    with _as_oserror(path):
        return int(_gfile().stat(path).length)


def stamp(path) -> tuple:
    """What changes whenever the file is rewritten; for URLs what the filesystem reports (size, mtime)."""
    path = name(path)
    if not is_url(path):
        return status_stamp(os.stat(path))
    with _as_oserror(path):
        status = _gfile().stat(path)
    return (int(status.length), int(status.mtime_nsec))


def status_stamp(status: os.stat_result) -> tuple:
    """A local file's stamp from its status."""
    # ctime is set by the kernel on every write or metadata change and cannot be restored.
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


def age_seconds(path) -> float | None:
    """Seconds since the file was last written, or None where the filesystem does not say (ram://)."""
    path = name(path)
    if not is_url(path):
        return time.time() - os.stat(path).st_mtime
    with _as_oserror(path):
        mtime = _gfile().stat(path).mtime_nsec
    return None if not mtime else time.time() - mtime / 1e9


def remove(path) -> None:
    """Delete the file `path` if it is there."""
    path = name(path)
    if not is_url(path):
        Path(path).unlink(missing_ok=True)
        return
    try:
        with _as_oserror(path):
            _gfile().remove(path)
    except FileNotFoundError:
        pass


@contextmanager
def reader(path) -> Iterator:
    """A binary file open for reading, with seek/tell/read (local: unbuffered, as the caches read big blocks)."""
    path = name(path)
    if not is_url(path):
        with open(path, "rb", buffering=0) as f:
            yield f
        return
    with _as_oserror(path), _gfile().GFile(path, "rb") as f:
        yield f


def read_bytes(path) -> bytes:
    with reader(path) as f, _as_oserror(name(path)):
        return f.read()


def read_text(path) -> str:
    return read_bytes(path).decode()


def loadable(path):
    """What numpy and pandas can open: a local path as it is, a URL's bytes in memory (they cannot read URLs)."""
    return io.BytesIO(read_bytes(path)) if is_url(path) else path


@contextmanager
def local_copy(path) -> Iterator[str]:
    """A local path holding `path`'s bytes, for readers of local files only (Keras, h5py): a URL is
    downloaded to a temporary file of the same name, deleted afterwards; a local path is itself."""
    path = name(path)
    if not is_url(path):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="pykd-copy-") as folder:
        local = os.path.join(folder, basename(path))
        with _as_oserror(path):
            _gfile().copy(path, local, overwrite=True)
        yield local


def upload(local, target) -> None:
    """Put the local file `local` at `target` (a URL or a local path), atomically."""
    with open(local, "rb") as source, atomic_file(target) as out:
        while chunk := source.read(1 << 22):
            out.write(chunk)


class RangeReader:
    """Reads byte ranges of one file: os.preadv into the caller's buffer locally, seek + read on URLs."""

    def __init__(self, path):
        self.path = name(path)
        self._url = is_url(self.path)
        if self._url:
            with _as_oserror(self.path):
                self._file = _gfile().GFile(self.path, "rb")
        else:
            self._fd = os.open(self.path, os.O_RDONLY)

    def read_into(self, buffer, offset: int) -> int:
        """Fill `buffer` (a writable uint8 array) from `offset`; the number of bytes read."""
        if not self._url:
            return os.preadv(self._fd, [buffer], offset)
        with _as_oserror(self.path):
            self._file.seek(offset)
            data = self._file.read(len(buffer))
        buffer[:len(data)] = memoryview(data)
        return len(data)

    def close(self) -> None:
        if self._url:
            self._file.close()
        else:
            os.close(self._fd)


def partial_name(target) -> str:
    """A temporary name beside `target` that no other writer uses (host, process, random)."""
    return join(parent(target), f".{basename(target)}.{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(4)}.partial")


@contextmanager
def atomic_file(target, *, fsync: bool = False, seekable: bool = False) -> Iterator:
    """A binary file to write `target` through: renamed into place on success, deleted on any error.

    Readers see the old file or the new one, never half of one. Locally the
    temporary name is created with O_EXCL and the usual permissions (umask),
    unlike tempfile's private 0600 files, so other users may read the cache;
    on URLs it is a GFile renamed with overwrite (a copy on object stores).
    URL files only write; with `seekable` (zip files tell and seek) the bytes
    are gathered in memory and uploaded at the end. `fsync`: flushed to the
    local disk before the rename (object stores persist on close).
    """
    target = name(target)
    partial = partial_name(target)
    try:
        if is_url(target):
            with _as_oserror(partial):
                with _gfile().GFile(partial, "wb") as out:
                    if seekable:
                        buffer = io.BytesIO()
                        yield buffer
                        out.write(buffer.getvalue())
                    else:
                        yield out
                _gfile().rename(partial, target, overwrite=True)
        else:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with os.fdopen(fd, "wb") as out:
                yield out
                if fsync:
                    out.flush()
                    os.fsync(out.fileno())
            os.replace(partial, target)
    except BaseException:
        remove(partial)
        raise


def write_bytes_atomic(target, data: bytes, *, fsync: bool = False) -> None:
    """Write `data` as the whole of `target`, atomically."""
    with atomic_file(target, fsync=fsync) as out:
        out.write(data)


def remove_abandoned(target, idle_seconds: float = 3600) -> None:
    """Delete partial files of `target` that nobody has written to for an hour (left by killed runs).

    Age, not process ids: runs on other hosts or in other containers may share the folder,
    and a live writer touches its file at every batch. Where a filesystem reports no
    modification time (ram://) nothing is deleted.
    """
    prefix, folder = f".{basename(target)}.", parent(target)
    try:
        names = [n for n in listdir(folder) if n.startswith(prefix) and n.endswith(".partial")]
    except OSError:
        return
    for entry in names:
        path = join(folder, entry)
        try:
            age = age_seconds(path)
            if age is not None and age > idle_seconds:
                remove(path)
        except OSError:
            continue


@contextmanager
def locked(path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if needed; never deleted, so every run locks the same file).

    Local files only: object stores have no lock, and on URLs this holds none (see the module's note).
    """
    path = name(path)
    if is_url(path):
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # retried by Python when a signal interrupts the wait (PEP 475)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def free_bytes(directory) -> int:
    """Free space on the local disk that holds `directory` (or would hold it, once created)."""
    directory = Path(directory)
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    return shutil.disk_usage(directory).free
