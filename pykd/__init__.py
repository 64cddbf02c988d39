"""pykd: knowledge distillation for image classifiers from a table of image files.

    from pykd import distill
    history = distill(teacher, student, "train.csv", directory="images/")
"""

import sys

from . import (
    _tf,  # noqa: F401  (quiets TensorFlow before anything imports it)
    models,
)
from .api import distill, train_scratch
from .core.errors import DataError, NonFiniteLossError
from .data import datasets, sources
from .data.augmentation import Augmentation
from .kd.hint import Hint
from .kd.keras_loss import LogitsDistillation
from .kd.losses import distillation_loss
from .recipes.noisy import noisy_student
from .recipes.precompute import out_of_fold_logits, teacher_logits
from .recipes.sweep import sweep
from .run import workers
from .run.callbacks import FunctionCallback
from .run.distiller import Distiller
from .run.history import History
from .serve.compare import compare
from .serve.evaluate import evaluate
from .serve.export import export
from .serve.predict import predict

__version__ = "0.1.0"

# Documented module paths of the flat layout that came before the subpackages.
for _module in (datasets, sources, workers):
    sys.modules.setdefault(f"{__name__}.{_module.__name__.rsplit('.', 1)[1]}", _module)

__all__ = [
    "distill",
    "train_scratch",
    "evaluate",
    "predict",
    "export",
    "compare",
    "distillation_loss",
    "Distiller",
    "LogitsDistillation",
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
    "workers",
]
