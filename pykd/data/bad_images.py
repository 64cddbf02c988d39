"""Images that cannot be read: found by decoding every file once before training,
then refused with their names or skipped with one warning.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from ..core import storage
from ..core.errors import DataError, Setting, Text, few, literal, plural
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


def _check_one(path: str) -> str | None:
    try:
        with _opened(path) as image:
            image.load()  # a full decode: catches truncated files that verify() lets through
            return _not_for_tensorflow(image)
    except Exception as err:  # PIL raises many types for bad files
        return f"{type(err).__name__}: {err}"


def _not_for_tensorflow(image) -> str | None:
    """Why PIL can read this file but the pipeline could not, or would read wrong colours."""
    if image.format not in _DECODED_BY_TENSORFLOW:
        return f"{image.format or 'this'} format is not read by TensorFlow; save it as PNG or JPEG"
    if image.format == "BMP" and image.mode in ("P", "1"):
        return "a palette or 1-bit BMP would be read as palette indices, not colours; save it as PNG"
    return None


def find_bad_images(paths: Sequence[str], workers: int = 4) -> dict[int, str]:
    """Decode every file once; return {row: reason} for those that cannot be read."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        reasons = list(pool.map(_check_one, paths, chunksize=64))
    return {i: r for i, r in enumerate(reasons) if r is not None}


def _size_of(path: str) -> tuple[int, int] | None:
    try:
        with _opened(path) as image:  # reads the header only
            return image.height, image.width
    except Exception:  # unreadable files are find_bad_images' business
        return None


def image_sizes(paths: Sequence[str], workers: int = 4) -> list[tuple[int, int] | None]:
    """(height, width) of every file from its header, without decoding the pixels."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_size_of, paths, chunksize=64))


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
    warnings.warn(f"Skipped {len(names)} unreadable image {plural(len(names), 'file', 'files')}: "
                  f"{literal(few([Text(n) for n in names]))}.", stacklevel=3)
