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
    rows, cols = linear_sum_assignment(counts, maximize=True)
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
    predicted = tf.argmax(plan.teacher.logits(tf.constant(x, tf.float32)), axis=-1).numpy()  # one batch
    return measure(table.labels, predicted, plan.n_classes)


def warn_if_reordered(plan) -> None:
    """Warn when the teacher reads the classes under other names: a class-order mistake, most likely."""
    found = teacher_agreement(plan)
    if found is None or not found.looks_reordered:
        return
    names = plan.train.classes or [str(i) for i in range(plan.n_classes)]
    moved = ", ".join(f"{names[label]} as output {output}" for label, output in sorted(found.renaming.items())[:6])
    fix = ("pass the classes in the teacher's order" if plan.train.classes else "give the labels in the teacher's order")
    warn(f"The teacher agrees with the labels on {found.as_named:.0%} of the first {found.n} labeled rows "
         f"(chance: {1 / plan.n_classes:.0%}), but on {found.renamed:.0%} if its outputs are renamed ({moved}): "
         f"it was most likely trained with the classes in another order. To distill what it knows, {fix}"
         + (f" ({literal(Setting('classes', _teacher_order(names, found.renaming)))})." if plan.train.classes else "."))


def _teacher_order(names, renaming: dict) -> list[str]:
    """The class names in the order of the teacher's outputs, under the renaming measured."""
    order = list(names)
    for label, output in renaming.items():
        order[output] = names[label]
    return order
