"""The teacher's logits computed once per image: a file keyed by the teacher's
fingerprint, its rows keyed by each image file's content digest, shared and
extended by later runs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..core import storage
from ..core.content import file_digests, hasher, unchanged
from ..core.errors import DataError, Setting, Text, few, warn
from ..data.frames import Table
from ..data.image_cache import DecodedImages
from ..data.images import FileImages, ImageSpec
from ..models.fingerprint import Unfingerprintable
from ..models.forward import compiled
from .teacher import ModelTeacher


def compute_logits(teacher: ModelTeacher, images: FileImages, rows: np.ndarray, batch_size: int, progress=None) -> np.ndarray:
    """Teacher logits for `rows` of an image source, in that order, without augmentation."""
    batches = [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)]
    out = np.zeros((len(rows), teacher.n_outputs[0]), dtype=np.float32)
    done = 0
    logits_of = compiled(teacher.logits, images.spec)
    for step, (_, x) in enumerate(images.batches(batches)):
        logits = logits_of(images.spec.to_inputs(x)).numpy()
        out[done:done + len(logits)] = logits
        done += len(logits)
        if progress is not None:
            progress(step + 1, len(batches))
    return out


def cached_logits(
    teacher: ModelTeacher,
    table: Table,
    images: FileImages,
    batch_size: int,
    cache_dir: str | os.PathLike | None = None,
    progress=None,
) -> np.ndarray:
    """Logits for every row of `table` (whose images `images` holds), reusing and extending a file in `cache_dir`.

    The file is named by the teacher's fingerprint (weights, layers, image
    preparation) and its rows are keyed by the content digest of each image file,
    so a replaced file is never served another image's logits. Logits that are
    NaN or infinite stop the run here, before the first step, and are not stored.
    """
    if cache_dir is None:
        logits = compute_logits(teacher, images, np.arange(len(table)), batch_size, progress)
        bad_rows = np.flatnonzero(~np.isfinite(logits).all(axis=1))
        if len(bad_rows):
            raise not_finite(teacher, images.spec, table.ids, bad_rows)
        return logits
    rounded = isinstance(images, DecodedImages) and images.exact is not True
    try:
        fingerprint = teacher.fingerprint(images.spec, rounded=rounded)
    except Unfingerprintable as err:  # a kept answer could be stale: computed for this run only
        warn(f"The teacher's logits are not kept in cache_dir: {err}, whose content pykd cannot fingerprint, so a "
             "kept answer could be stale. They are computed for this run.")
        return cached_logits(teacher, table, images, batch_size, None, progress)
    digests = getattr(images, "digests", None) or file_digests(table.paths)  # a kept decoded copy has them
    path = storage.join(cache_dir, f"teacher-{fingerprint}.npz")
    width = teacher.n_outputs[0]
    known, problem = _read_cache(path, width)
    if problem is not None:
        warn(f"The teacher-logit cache {str(path)!r} {problem}: not used; the logits are computed again.")
    first_rows = {}
    for row, digest in enumerate(digests):
        if digest not in known:
            first_rows.setdefault(digest, row)
    if first_rows:
        rows = np.fromiter(first_rows.values(), np.int64, len(first_rows))
        mine = dict(zip(first_rows, compute_logits(teacher, images, rows, batch_size, progress)))
        bad = {digest for digest, logits in mine.items() if not np.isfinite(logits).all()}
        if bad:  # every row with such content, even where a copy of the file was computed once
            raise not_finite(teacher, images.spec, table.ids, [r for r, d in enumerate(digests) if d in bad])
        if not isinstance(images, DecodedImages):  # read from the files since they were hashed
            unchanged(digests, "the teacher's logits")
        _merge(path, mine, width, warned=problem is not None)
        known.update(mine)
    return np.stack([known[d] for d in digests]).astype(np.float32)


def not_finite(teacher: ModelTeacher, spec: ImageSpec, ids: Sequence[str], bad_rows) -> DataError:
    """The error naming the teacher and the images whose logits are NaN or infinite."""
    return DataError(
        "The teacher {teacher} gives NaN or infinite logits for {count} of {total} images: {ids}.",
        "Check the teacher's weights, and that its inputs are scaled as it was trained (this run has {rescale}).",
        teacher=few([m.name for m in teacher.models]), count=len(bad_rows), total=len(ids),
        ids=few([ids[i] for i in bad_rows]), rescale=Setting("rescale", spec.rescale),
    )


def _checksum(digests: np.ndarray, logits: np.ndarray) -> str:
    checksum = hasher()
    checksum.update(f"{digests.dtype}{digests.shape}{logits.dtype}{logits.shape}".encode())
    checksum.update(digests.tobytes())
    checksum.update(logits.tobytes())
    return checksum.hexdigest()


def _read_cache(path: str, width: int) -> tuple[dict[str, np.ndarray], str | None]:
    """({content digest: logits}, None), or ({}, what is wrong) for a file that cannot be trusted."""
    if not storage.exists(path):
        return {}, None
    try:
        with np.load(storage.loadable(path), allow_pickle=False) as saved:
            digests, logits, checksum = saved["digests"], saved["logits"], str(saved["checksum"])
    except Exception as err:  # BadZipFile, EOFError, KeyError, ValueError, OSError, ...: never trained on
        return {}, f"cannot be read ({type(err).__name__}: {err})"
    if logits.shape != (len(digests), width) or checksum != _checksum(digests, logits):
        return {}, "does not match its checksum"
    return dict(zip(digests.tolist(), logits)), None


def _merge(path: str, rows: dict[str, np.ndarray], width: int, *, warned: bool) -> None:
    """Add `rows` to the cache file under its lock, keeping what other runs added meanwhile."""
    try:
        storage.makedirs(storage.parent(path))
        with storage.locked(path + ".lock"):
            merged, problem = _read_cache(path, width)
            if problem is not None and not warned:
                warn(f"The teacher-logit cache {str(path)!r} {problem}: replaced.")
            for digest, logits in rows.items():
                merged.setdefault(digest, logits)
            digests = np.array(list(merged), dtype=f"<U{max(map(len, merged))}")
            logits = np.stack(list(merged.values())).astype(np.float32)
            storage.remove_abandoned(path)
            with storage.atomic_file(path, seekable=True) as out:
                np.savez(out, digests=digests, logits=logits, checksum=np.array(_checksum(digests, logits)))
    except OSError as err:
        raise DataError("Could not write the teacher's logits to {path}: {reason}.",
                        "Free some disk space, pass another cache_dir, or {off}.",
                        path=str(path), reason=Text(err.strerror or str(err)), off=Setting("cache_teacher", False)) from err
