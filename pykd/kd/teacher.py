"""Teachers: a model, an ensemble of models, or a table of precomputed logits.

Whatever the source, the loop sees one thing: teacher logits for a batch.
Softmax outputs are turned into logits with log(p) (never softmaxed twice).
When training images are not augmented, a model teacher's logits are the same
every epoch, so they are computed once per image (never keyed by batch position),
optionally kept on disk, keyed by the content of each image file, and reused.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .._tf import keras, tf
from ..core import storage
from ..core.content import hasher
from ..core.errors import DataError, Setting, Text, few, warn
from ..core.validation import one_of
from ..data.frames import Table, read_table
from ..data.images import ImageSpec
from ..models.fingerprint import update_digest
from ..models.introspection import output_width, outputs_are_probabilities
from ..models.loading import load_model
from ..models.precision import PRECISIONS, computing_in, resolved
from .losses import as_logits


class ModelTeacher:
    """One model or an ensemble; `logits(x)` runs in inference mode (training=False), in `precision`.

    precision: "auto" (bfloat16 where the hardware computes it natively, else float32),
    "float32" or "bfloat16". The models themselves run in it, never copies of them; the
    weights stay float32 and the logits are float32.
    """

    def __init__(
        self, models: Sequence[keras.Model], *, outputs: str = "auto", combine: str = "logits", precision: str = "auto"
    ):
        one_of(combine, "teacher_combine", ("logits", "probabilities"))
        one_of(precision, "teacher_precision", PRECISIONS)
        self.models = list(models)
        self.probabilities = [outputs_are_probabilities(m, outputs, "teacher") for m in self.models]
        self.combine = combine
        self.asked = precision
        self.precision = resolved(precision)

    @property
    def n_outputs(self) -> list[int]:
        return [output_width(m) for m in self.models]

    @property
    def params(self) -> int:
        return int(sum(m.count_params() for m in self.models))

    def computing(self):
        """The block in which the teacher's layers compute in its precision (see models.precision)."""
        return computing_in(self.models, "bfloat16" if self.precision == "bfloat16" else None)

    def logits(self, x: tf.Tensor) -> tf.Tensor:
        with self.computing():
            each = [as_logits(m(x, training=False), p) for m, p in zip(self.models, self.probabilities)]
        if len(each) == 1:
            return each[0]
        if self.combine == "probabilities":
            mean_p = tf.add_n([tf.nn.softmax(z, axis=-1) for z in each]) / len(each)
            return as_logits(mean_p, True)
        return tf.add_n(each) / len(each)

    def settle_precision(self, sample, role: str = "teacher", setting: str = "teacher_precision") -> None:
        """Run the teacher once on `sample` (model inputs) in its precision, before any training.

        A teacher that cannot compute in bfloat16 (a layer mixing in float32 constants, say)
        runs in float32 under "auto", with one warning naming the reason; asked for
        "bfloat16" explicitly, it is refused with that reason. role, setting: how messages name
        the model and its precision option (a student's frozen prefix runs as a teacher does).
        """
        if self.precision == "float32":
            return
        try:
            finite = bool(np.isfinite(self.logits(tf.convert_to_tensor(sample, tf.float32)).numpy()).all())
            reason = None if finite else "its bfloat16 logits are NaN or infinite on the first images"
        except Exception as err:  # whatever a layer raises for a dtype it was not written for
            reason = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"
        if reason is None:
            return
        if self.asked == "bfloat16":
            raise DataError(f"The {role} cannot compute in bfloat16 ({{reason}}).", "Pass {float32} or {auto}.",
                            reason=Text(reason), float32=Setting(setting, "float32"), auto=Setting(setting, "auto"))
        warn(f"The {role} runs in float32, not bfloat16 as this hardware allows: {reason}.")
        self.precision = "float32"

    def fingerprint(self, spec: ImageSpec, *, rounded: bool = False, strict: bool = True) -> str:
        """Changes whenever the weights, the layers, the output handling or the inputs' preparation change.

        rounded: the inputs come from a decoded copy whose resized pixels were
        rounded to whole grey levels (their logits differ slightly from the files').
        strict: raise models.fingerprint.Unfingerprintable for a Lambda reading a value that
        cannot be fingerprinted (False: its type stands in for it).
        """
        digest = hasher()
        digest.update(f"{_CACHE_FORMAT}|{spec.key()}|{rounded}|{self.probabilities}|{self.combine}|{self.precision}".encode())
        with self.computing():  # the layers' configs as they compute (the digests a bfloat16 copy once gave)
            for model in self.models:
                update_digest(digest, model, strict=strict)
        return digest.hexdigest()[:32]


_CACHE_FORMAT = "teacher-logits-2"  # rows keyed by content digest, with a checksum


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


