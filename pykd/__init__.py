"""pykd: knowledge distillation for image classifiers from a table of image files.

    from pykd import distill
    history = distill(teacher, student, "train.csv", directory="images/")
"""

from . import (
    _tf,  # noqa: F401  (quiet TensorFlow before anything imports it)
    datasets,
    models,
    sources,
)
from .api import distill, evaluate, train_scratch
from .callbacks import FunctionCallback
from .deploy import compare, export
from .errors import DataError, NonFiniteLossError
from .hint import Hint
from .history import History
from .images import Augmentation
from .losses import distillation_loss
from .noisy import noisy_student
from .precompute import out_of_fold_logits, teacher_logits
from .predict import predict
from .sweep import sweep

__version__ = "0.1.0"

__all__ = [
    "distill",
    "train_scratch",
    "evaluate",
    "predict",
    "export",
    "compare",
    "distillation_loss",
    "teacher_logits",
    "out_of_fold_logits",
    "sweep",
    "noisy_student",
    "Augmentation",
    "Hint",
    "History",
    "FunctionCallback",
    "DataError",
    "NonFiniteLossError",
    "datasets",
    "models",
    "sources",
]
