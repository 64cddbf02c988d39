"""Per-epoch training records, as a DataFrame, a plain dict (for R) or a plot."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pandas as pd

from ..core import storage

TRAIN_COLUMNS = ("epoch", "loss", "student_loss", "distillation_loss", "accuracy")
VALIDATION_COLUMNS = ("val_loss", "val_accuracy")


@dataclass
class History:
    """One record per epoch, plus what was trained (`params`, plain values only).

    loss is the mean total loss over the epoch's rows; student_loss and accuracy
    are over its labeled rows; distillation_loss is the mean T^2-scaled KL term
    (a scratch run has none); hint_loss, with a hint, is the mean weighted feature
    term (pykd.kd.hint). val_loss and val_accuracy are the student's
    hard-label loss and accuracy; learning_rate is the optimizer's rate as the epoch ends
    (as Keras' learning-rate callbacks log it). As in Keras, `history` maps each metric to its
    values per epoch, `epoch` lists the epochs (from 0) and `model` is the student.
    """

    records: list[dict] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    model: object = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def columns(self) -> list[str]:
        scratch = self.params.get("mode") == "scratch"
        train = [c for c in TRAIN_COLUMNS if not (scratch and c == "distillation_loss")]
        if self.params.get("hint") is not None:
            train.insert(train.index("accuracy"), "hint_loss")
        validated = any("val_loss" in r for r in self.records)
        rated = any("learning_rate" in r for r in self.records)  # (not in checkpoints written before it was)
        return train + (list(VALIDATION_COLUMNS) if validated else []) + (["learning_rate"] if rated else [])

    @property
    def history(self) -> dict[str, list[float]]:
        """{metric: [value per epoch]}, as keras.callbacks.History.history."""
        return {c: [r.get(c) for r in self.records] for c in self.columns if c != "epoch"}

    @property
    def epoch(self) -> list[int]:
        """The epochs trained, counted from 0 as Keras does."""
        return [int(r["epoch"]) - 1 for r in self.records]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{c: r.get(c) for c in self.columns} for r in self.records], columns=self.columns)

    def to_dict(self) -> dict[str, list]:
        """Columns as plain lists of ints and floats: safe to cross into R."""
        out: dict[str, list] = {}
        for c in self.columns:
            values = [r.get(c) for r in self.records]
            out[c] = [int(v) for v in values] if c == "epoch" else [None if v is None else float(v) for v in values]
        return out

    def last(self) -> dict:
        return dict(self.records[-1]) if self.records else {}

    def __repr__(self) -> str:
        mode = self.params.get("mode", "distill")
        if not self.records:
            return f"<pykd.History ({mode}): no epochs>"
        last = self.last()
        shown = ", ".join(f"{k}={last[k]:.4f}" for k in self.columns[1:] if last.get(k) is not None)
        return f"<pykd.History ({mode}): {len(self)} epochs; last: {shown}>"

    def plot(self, path=None):
        """Loss and accuracy curves (matplotlib Figure); saved to `path` (a file or URL) when given."""
        import matplotlib

        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        frame = self.to_frame()
        fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
        for col in ("loss", "student_loss", "distillation_loss", "hint_loss", "val_loss"):
            if col in frame and frame[col].notna().any():
                ax_loss.plot(frame["epoch"], frame[col], marker="o", label=col)
        for col in ("accuracy", "val_accuracy"):
            if col in frame and frame[col].notna().any():
                ax_acc.plot(frame["epoch"], frame[col], marker="o", label=col)
        ax_loss.set(title="Losses", xlabel="epoch", ylabel="loss")
        ax_acc.set(title="Accuracy", xlabel="epoch", ylabel="accuracy", ylim=(0, 1))
        for ax in (ax_loss, ax_acc):
            ax.legend()
            ax.grid(alpha=0.3)
        fig.tight_layout()
        if path is not None:
            if storage.is_url(path):  # matplotlib writes local files: the PNG goes through storage
                image = io.BytesIO()
                fig.savefig(image, format="png", dpi=100)
                storage.write_bytes_atomic(path, image.getvalue())
            else:
                fig.savefig(path, dpi=100)
            plt.close(fig)
        return fig
