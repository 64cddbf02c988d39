"""Images that cannot be read: found by decoding every file once before training,
then refused with their names or skipped with one warning.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
from PIL import Image

from ..core import storage
from ..core.errors import DataError, Setting, Text, few, literal, plural, warn
from ..core.validation import one_of
from .frames import Table


def drop_bad_images(tables: list[Table | None], policy: str) -> list[Table | None]:
    one_of(policy, "on_bad_image", ("error", "skip"))
    paths = sorted({p for t in tables if t is not None for p in t.paths})
    bad_rows = find_bad_images(paths)
    bad_paths = {paths[i]: reason for i, reason in bad_rows.items()}
    report_bad_images({os.path.basename(p): r for p, r in bad_paths.items()}, policy)
    if not bad_paths:
        return tables
    kept = []
    for table in tables:
        if table is None:
            kept.append(None)
            continue
        good = np.array([p not in bad_paths for p in table.paths])
        if not good.any():
            raise DataError(f"Every image of the {table.name} table is unreadable.", "Check the image files.")
        kept.append(table.subset(np.flatnonzero(good)))
    return kept


# What tf.io.decode_image (the pipeline's decoder) reads as the colours PIL sees.
_DECODED_BY_TENSORFLOW = {"JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP"}


def _opened(path: str):
    """PIL's image of `path`; a URL's bytes read first (PIL cannot open URLs; images are small)."""
    return Image.open(io.BytesIO(storage.read_bytes(path))) if storage.is_url(path) else Image.open(path)


class _Look(NamedTuple):
    """What one look at a file found: why it cannot be read (None: it can), and its (height, width)."""

    reason: str | None
    size: tuple[int, int] | None


def _look(path: str, decode: bool = True) -> _Look:
    size = None
    try:
        with _opened(path) as image:
            size = (image.height, image.width)  # from the header
            if not decode:
                return _Look(None, size)
            image.load()  # a full decode: catches truncated files that verify() lets through
            return _Look(_not_for_tensorflow(image), size)
    except Image.DecompressionBombError as err:  # a genuine huge image, or a bomb: say how to let it through
        return _Look(f"{str(err).rstrip('.')}; if it is genuine, raise PIL.Image.MAX_IMAGE_PIXELS (None lifts the "
                     "limit) to read it", None)
    except Exception as err:  # PIL raises many types for bad files
        return _Look(f"{type(err).__name__}: {err}", None if decode else size)


def _not_for_tensorflow(image) -> str | None:
    """Why PIL can read this file but the pipeline could not, or would read wrong colours."""
    if image.format not in _DECODED_BY_TENSORFLOW:
        return f"{image.format or 'this'} format is not read by TensorFlow; save it as PNG or JPEG"
    if image.format == "BMP" and image.mode in ("P", "1"):
        return "a palette or 1-bit BMP would be read as palette indices, not colours; save it as PNG"
    return None


# Each local file's last full look, kept while its device, inode, size, modification and change
# times stay the same: later runs in the session (a sweep's settings, the noised student's rounds,
# a rerun) do not decode unchanged files again. Writing a file changes its change time, which no
# tool can set back, so a file replaced under the same name and times is looked at again. A file
# changed less than _SETTLED_NS before the look is not remembered (git's "racy" rule): on a
# filesystem with coarse times, a second write in the same tick would keep its change time.
_LOOKED: dict[str, tuple[tuple, _Look]] = {}
_REMEMBERED = 1_000_000  # files, then the memory starts again
_SETTLED_NS = 2_000_000_000  # FAT's times are 2 s apart; most filesystems' are much finer


def _signature(path: str) -> tuple | None:
    if storage.is_url(path):
        return None  # object stores have no change time to trust
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns  # change time last


def _looked(path: str) -> _Look:
    now, signature = time.time_ns(), _signature(path)
    seen = _LOOKED.get(path)
    if signature is not None and seen is not None and seen[0] == signature:
        return seen[1]
    look = _look(path)
    if signature is not None and now - signature[-1] > _SETTLED_NS:
        if len(_LOOKED) >= _REMEMBERED:
            _LOOKED.clear()
        _LOOKED[path] = (signature, look)
    return look


def find_bad_images(paths: Sequence[str], workers: int = 4) -> dict[int, str]:
    """Decode every file once (unless unchanged since this process last did); {row: reason} for those
    that cannot be read."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        looks = list(pool.map(_looked, paths, chunksize=64))
    return {i: look.reason for i, look in enumerate(looks) if look.reason is not None}


def image_sizes(paths: Sequence[str], workers: int = 4) -> list[tuple[int, int] | None]:
    """(height, width) of every file, from its last look or its header, without decoding the pixels."""

    def size(path: str):
        signature, seen = _signature(path), _LOOKED.get(path)
        if signature is not None and seen is not None and seen[0] == signature:
            return seen[1].size
        return _look(path, decode=False).size

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(size, paths, chunksize=64))


def report_bad_images(bad: Mapping[str, str], policy: str) -> None:
    """Fail with the list (policy "error") or warn once with the count ("skip")."""
    if not bad:
        return
    names = list(bad)
    if policy == "error":
        raise DataError(
            f"{len(names)} image {plural(len(names), 'file is', 'files are')} unreadable: {{files}}.",
            f"Remove or replace {plural(len(names), 'it', 'them')}, or pass {{skip}} to train without "
            f"{plural(len(names), 'it', 'them')}.",
            files=few([Text(f"{n} ({bad[n]})") for n in names]), skip=Setting("on_bad_image", "skip"),
        )
    warn(f"Skipped {len(names)} unreadable image {plural(len(names), 'file', 'files')}: "
         f"{literal(few([Text(n) for n in names]))}.")
