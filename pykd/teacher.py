"""Teachers: a model, an ensemble of models, or a table of precomputed logits.

Whatever the source, the loop sees one thing: teacher logits for a batch.
Softmax outputs are turned into logits with log(p) (never softmaxed twice).
When training images are not augmented, a model teacher's logits are the same
every epoch, so they are computed once per image (never keyed by batch position),
optionally kept on disk, keyed by the content of each image file, and reused.
"""

from __future__ import annotations

import functools
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from . import storage
from ._tf import keras, tf
from .content import file_digests, hasher, unchanged
from .errors import DataError, Setting, Text, few
from .frames import Table, read_table
from .image_cache import DecodedImages
from .images import FileImages, ImageSpec
from .losses import as_logits
from .models import compiled, load_model, output_width, outputs_are_probabilities, update_digest


class ModelTeacher:
    """One model or an ensemble; `logits(x)` runs in inference mode (training=False)."""

    def __init__(
        self, models: Sequence[keras.Model], *, outputs: str = "auto", combine: str = "logits", precision: str = "auto"
    ):
        if combine not in ("logits", "probabilities"):
            raise DataError("teacher_combine must be 'logits' or 'probabilities', not {value}.", value=combine)
        if precision not in ("auto", "float32", "bfloat16"):
            raise DataError("teacher_precision must be one of {allowed}, not {value}.",
                            allowed=few(["auto", "float32", "bfloat16"]), value=precision)
        if precision == "auto":
            precision = "bfloat16" if native_bfloat16() else "float32"
        self.probabilities = [outputs_are_probabilities(m, outputs, "teacher") for m in models]
        self.models = [m if precision == "float32" else _bfloat16_twin(m) for m in models]
        self.combine = combine
        self.precision = precision

    @property
    def n_outputs(self) -> list[int]:
        return [output_width(m) for m in self.models]

    @property
    def params(self) -> int:
        return int(sum(m.count_params() for m in self.models))

    def logits(self, x: tf.Tensor) -> tf.Tensor:
        each = [as_logits(m(x, training=False), p) for m, p in zip(self.models, self.probabilities)]
        if len(each) == 1:
            return each[0]
        if self.combine == "probabilities":
            mean_p = tf.add_n([tf.nn.softmax(z, axis=-1) for z in each]) / len(each)
            return as_logits(mean_p, True)
        return tf.add_n(each) / len(each)

    def fingerprint(self, spec: ImageSpec, *, rounded: bool = False) -> str:
        """Changes whenever the weights, the layers, the output handling or the inputs' preparation change.

        rounded: the inputs come from a decoded copy whose resized pixels were
        rounded to whole grey levels (their logits differ slightly from the files').
        """
        digest = hasher()
        digest.update(f"{_CACHE_FORMAT}|{spec.key()}|{rounded}|{self.probabilities}|{self.combine}|{self.precision}".encode())
        for model in self.models:
            update_digest(digest, model)
        return digest.hexdigest()[:32]


_CACHE_FORMAT = "teacher-logits-2"  # rows keyed by content digest, with a checksum


@functools.cache
def native_bfloat16() -> bool:
    """Whether this machine computes bfloat16 in hardware, where a bf16 teacher is faster.

    GPUs: compute capability 8.0 or newer (Ampere on). CPUs: the avx512_bf16 or
    amx_bf16 instructions (read from /proc/cpuinfo on Linux). Elsewhere bfloat16
    is emulated and slower than float32, so "auto" keeps float32.
    """
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = [tf.config.experimental.get_device_details(g) for g in gpus]
        return all(tuple(d.get("compute_capability", (0, 0))) >= (8, 0) for d in details)
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", cpuinfo) is not None


def _bfloat16_twin(model: keras.Model) -> keras.Model:
    """An inference copy computing in bfloat16 (weights kept in float32).

    About 1.6x faster for the teacher's forward pass on CPUs with bf16 support
    (and on recent GPUs); logits are cast back to float32 by as_logits().
    """
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    for layer in twin._flatten_layers(include_self=False):
        layer.dtype_policy = "mixed_bfloat16"
    return twin


class TableTeacher:
    """Precomputed teacher logits keyed by image id; no model is loaded at all."""

    def __init__(self, ids: Sequence[str], logits: np.ndarray):
        self.index = {str(i): n for n, i in enumerate(ids)}
        self.values = np.asarray(logits, dtype=np.float32)
        if len(self.index) != len(ids):
            raise DataError("The teacher logits table has duplicate image ids.")

    @property
    def n_outputs(self) -> list[int]:
        return [int(self.values.shape[1])]

    params = None

    @classmethod
    def from_source(cls, source, *, x_col: str = "image_id") -> TableTeacher:
        if isinstance(source, (list, tuple)) and len(source) == 2 and str(source[0]).endswith(".npy"):
            values = np.load(storage.loadable(source[0]))
            ids = storage.read_text(source[1]).split()
            if len(ids) != len(values):
                raise DataError(f"{source[0]} holds {len(values)} rows of logits but {source[1]} lists {len(ids)} ids.")
            return cls(ids, values)
        frame = read_table(source, name="teacher logits")
        if x_col not in frame.columns:
            raise DataError("The teacher logits table has no column {x_col}; its columns are {columns}.",
                            "Give the logits table the same id column as the training table.",
                            x_col=x_col, columns=few(list(frame.columns)))
        value_cols = [c for c in frame.columns if c != x_col]
        block = frame[value_cols].apply(pd.to_numeric, errors="coerce")
        if not value_cols or block.isna().any().any():
            raise DataError("The teacher logits table must hold one numeric column per class next to the id column.")
        return cls(frame[x_col].astype(str).tolist(), block.to_numpy(np.float32))

    def lookup(self, table: Table) -> np.ndarray:
        missing = [i for i in table.ids if i not in self.index]
        if missing:
            raise DataError(f"The teacher logits table has no row for {len(missing)} images of the {table.name} table: "
                            "{missing}.",
                            "Compute logits for every image of the table (teacher_logits()).", missing=few(missing))
        return self.values[[self.index[i] for i in table.ids]]


def is_logits_table(teacher) -> bool:
    if isinstance(teacher, (pd.DataFrame, Mapping)):
        return True
    if isinstance(teacher, (str, os.PathLike)) and os.fspath(teacher).lower().endswith(".csv"):
        return True
    return isinstance(teacher, (list, tuple)) and len(teacher) == 2 and str(teacher[0]).endswith(".npy")


def resolve_teacher(
    teacher, *, outputs: str = "auto", combine: str = "logits", precision: str = "auto", x_col: str = "image_id"
):
    """A ModelTeacher or TableTeacher from what the user passed."""
    if is_logits_table(teacher):
        return TableTeacher.from_source(teacher, x_col=x_col)
    members = list(teacher) if isinstance(teacher, (list, tuple)) else [teacher]
    if not members:
        raise DataError("The teacher ensemble is empty.", "Give at least one teacher model.")
    models = [load_model(m, role="teacher") for m in members]
    return ModelTeacher(models, outputs=outputs, combine=combine, precision=precision)


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
    digests = getattr(images, "digests", None) or file_digests(table.paths)  # a kept decoded copy has them
    rounded = isinstance(images, DecodedImages) and images.exact is not True
    path = storage.join(cache_dir, f"teacher-{teacher.fingerprint(images.spec, rounded=rounded)}.npz")
    width = teacher.n_outputs[0]
    known, problem = _read_cache(path, width)
    if problem is not None:
        warnings.warn(f"The teacher-logit cache {str(path)!r} {problem}: not used; the logits are computed again.",
                      stacklevel=2)
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
                warnings.warn(f"The teacher-logit cache {str(path)!r} {problem}: replaced.", stacklevel=3)
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
