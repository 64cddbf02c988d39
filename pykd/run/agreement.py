"""Before the first step: does the teacher agree with the labels?

A teacher trained with its classes in another order (a class folder's sorted names against
a CSV's order, say) still tells the classes apart, but under other names: it agrees with
the labels on about chance's share of the rows, and on most of them once its outputs are
renamed. Distilling it would teach the student the wrong names, so the run says so before
training, with what it measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from .._tf import tf
from ..core.errors import Setting, literal, warn
from ..kd.teacher import ModelTeacher
from ..models.classes import classes_of
from .inputs import sample_inputs

AGREEMENT_ROWS = 64  # labeled rows the teacher reads (the first ones of the table)
MIN_ROWS_PER_CLASS = 3
MIN_ROWS = 30
# A renaming of the teacher's outputs must lift agreement this much, to at least RENAMED_AT_LEAST, and close
# this share of the gap between always answering the commonest label and always being right: a constant or
# untrained teacher never does.
LIFT = 0.3
RENAMED_AT_LEAST = 0.5
GAP_CLOSED = 0.5


@dataclass(frozen=True)
class Agreement:
    """The teacher's top class against the labels, on `n` labeled rows."""

    n: int
    as_named: float  # the share of rows whose label is the teacher's top class
    renamed: float  # the same share under the renaming of the teacher's outputs that agrees most
    majority: float  # the share of the commonest label
    renaming: dict  # label id -> teacher output id, for the classes the best renaming moves

    @property
    def looks_reordered(self) -> bool:
        return (self.renamed - self.as_named >= LIFT and self.renamed >= RENAMED_AT_LEAST
                and self.renamed - self.majority >= GAP_CLOSED * (1 - self.majority))


def measure(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> Agreement:
    """How often `predicted` (the teacher's top classes) names `labels`, as named and as best renamed."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)  # label x teacher's top class
    np.add.at(counts, (labels, predicted), 1)
    # Ties (classes no row was read of) broken towards the names as they are, so no move is made up.
    rows, cols = linear_sum_assignment(counts + 0.5 * np.eye(n_classes), maximize=True)
    n = len(labels)
    return Agreement(n=n, as_named=float(np.trace(counts)) / n, renamed=float(counts[rows, cols].sum()) / n,
                     majority=float(np.bincount(labels, minlength=n_classes).max()) / n,
                     renaming={int(r): int(c) for r, c in zip(rows, cols) if r != c})


def teacher_agreement(plan) -> Agreement | None:
    """The teacher's agreement with the first labeled training rows; None without enough of them or a live teacher."""
    if not plan.distilling or not isinstance(plan.teacher, ModelTeacher):
        return None
    labeled = np.flatnonzero(plan.train.labels >= 0)[:AGREEMENT_ROWS]
    if len(labeled) < max(MIN_ROWS, MIN_ROWS_PER_CLASS * plan.n_classes):
        return None
    table = plan.train.subset(labeled)
    x = sample_inputs(table, plan.teacher_spec or plan.spec, len(table))
    step = plan.settings.batch_size  # as large a batch as the run's own, for a large teacher's memory
    predicted = np.concatenate([tf.argmax(plan.teacher.logits(tf.constant(x[i:i + step], tf.float32)), axis=-1).numpy()
                                for i in range(0, len(x), step)])
    return measure(table.labels, predicted, plan.n_classes)


def warn_if_reordered(plan) -> None:
    """Warn when the teacher reads the classes under other names: a class-order mistake, most likely."""
    found = teacher_agreement(plan)
    if found is None or not found.looks_reordered:
        return
    names = list(plan.train.classes) if plan.train.classes else None
    shown = names or [str(i) for i in range(plan.n_classes)]
    moved = ", ".join(f"{shown[label]} as output {output}" for label, output in sorted(found.renaming.items())[:6])
    said = (f"The teacher agrees with the labels on {found.as_named:.0%} of the first {found.n} labeled rows "
            f"(chance: {1 / plan.n_classes:.0%}), but on {found.renamed:.0%} if its outputs are renamed ({moved}): "
            "the teacher and the labels most likely name the classes in different orders. ")
    warn(said + _fix(plan, names, found, "python"), r=said + _fix(plan, names, found, "r"))


def _fix(plan, names, found: Agreement, language: str) -> str:
    """What to do, by what names the run has: the teacher's own, the table's, or none."""
    teacher_names = [classes_of(m) for m in plan.teacher.models]
    if names is not None and all(known is not None for known in teacher_names):
        # The table was matched to the teacher's names by the classes given for its ids (`given`, position i
        # naming id i): the class each id must name is the one the teacher sees in its rows.
        given = [str(c) for c in plan.settings.classes or names]
        if not set(given) <= set(names):
            return "Check that the labels and the classes name the classes as the teacher does."
        position = [names.index(name) for name in given]
        meant = [names[found.renaming.get(p, p)] for p in position]
        return (f"If the labels are class ids, say which class each is: "
                f"{literal(Setting('classes', meant), language)} (in the order of the ids).")
    if names is not None:
        order = list(names)
        for label, output in found.renaming.items():
            order[output] = names[label]
        call = f"rkd_set_classes(teacher, {literal(order, 'r')})" if language == "r" else \
            f"pykd.models.set_classes(teacher, {order!r})"
        return f"Name the teacher's outputs so that they are matched by name: {call}."
    return "Give the labels in the teacher's order, or name the classes of both."
