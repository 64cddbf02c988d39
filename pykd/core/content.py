"""What the on-disk caches are keyed by and how they are written: file contents, atomically.

A cache entry is served only for the bytes it was computed from, so every key
starts from a hash of each image file's content, never from its name, size or
modification time (which `cp -p`, `tar` and `rsync -t` restore). Files are
hashed once per run, in a thread pool: hashlib and file reads release the GIL.

Caches are shared by any number of runs at once: each writes to a temporary
name of its own in the target folder and renames it into place (readers see the
old file or the new one, never half of one), and read-modify-write updates
happen under an exclusive lock on a file beside the cache (on local disks; for
URLs see pykd.core.storage).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from . import storage
from .errors import DataError, Text, few

# SHA-256 rather than blake2b: CPUs with SHA extensions (x86 since ~2017, ARMv8) hash
# 2.3x faster with it (1.46 against 0.64 GB/s measured here). Hex digests are cut to 128 bits.
HASH = "sha256"
_HEX = 32
_CHUNK = 1 << 22


def hasher():
    """A new hash object of the kind every cache key and checksum uses."""
    return hashlib.new(HASH)


def _read_digest(path: str | os.PathLike) -> tuple[str, tuple]:
    """(hex digest of the file's bytes, its status just before they were read)."""
    digest = hasher()
    if storage.is_url(path):
        stamp = storage.stamp(path)
        with storage.reader(path) as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
        return digest.hexdigest()[:_HEX], stamp
    fd = os.open(path, os.O_RDONLY)
    try:
        stamp = storage.status_stamp(os.fstat(fd))
        while chunk := os.read(fd, _CHUNK):
            digest.update(chunk)
    finally:
        os.close(fd)
    return digest.hexdigest()[:_HEX], stamp


def file_digest(path: str | os.PathLike) -> str:
    """The hex digest of one file's bytes."""
    return _read_digest(path)[0]


def _digest_all(paths: Sequence[str]) -> list[tuple[str, tuple]]:
    return [_read_digest(p) for p in paths]


class Digests(tuple):
    """The content digests of files, in order, remembering each file's status when it was read."""

    read: dict[str, tuple[str, tuple]]  # path: (digest, status when read)

    def changed(self) -> list[str]:
        """The files whose bytes differ from those hashed (a file only touched since is not counted).

        Checked before a cache is published: what was decoded or computed after
        the hashing may come from other bytes than the ones the cache is named by.
        """
        moved = []
        for path, (digest, stamp) in self.read.items():
            try:
                same = storage.stamp(path) == stamp or _read_digest(path)[0] == digest
            except OSError:
                same = False
            if not same:
                moved.append(path)
        return moved


def file_digests(paths: Sequence[str], workers: int | None = None) -> Digests:
    """The content digest of every file, in order (what both caches are keyed by).

    Threads take 64 files at a time: one task per file costs more than hashing a small JPEG.
    Several reads in flight pay off on cold disks and network file systems.
    """
    workers = workers or min(8, 2 * (os.cpu_count() or 1))
    unique = list(dict.fromkeys(paths))
    chunks = [unique[i:i + 64] for i in range(0, len(unique), 64)]
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            found = dict(zip(unique, (d for part in pool.map(_digest_all, chunks) for d in part)))
    except OSError as err:
        raise DataError("Could not read the image file {path} to check its content: {reason}.",
                        "Check that the images are not being moved or rewritten while the run starts.",
                        path=str(err.filename), reason=Text(err.strerror or str(err))) from err
    digests = Digests(found[p][0] for p in paths)
    digests.read = found
    return digests


def unchanged(digests: Digests, what: str) -> None:
    """Raise a DataError if an image file was rewritten after `digests` were taken (so `what` is not kept)."""
    moved = digests.changed()
    if moved:
        raise DataError(f"{{count}} image files changed while the run made {what}: {{files}}.",
                        "Run again once the images are no longer being written.",
                        count=len(moved), files=few([storage.basename(p) for p in moved]))


def digest_of(*parts: str | bytes) -> str:
    """One short hex digest of several strings or byte strings (for file names)."""
    digest = hasher()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little"))  # so ("ab", "c") and ("a", "bc") differ
        digest.update(data)
    return digest.hexdigest()[:_HEX]
