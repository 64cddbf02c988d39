"""Models: loading and saving, freezing, weights-only files, the tutorial's
transfer-learning classifier on keras.applications backbones, and small example nets.

    from pykd.models import classifier, load_weights
"""

from .backbones import BACKBONES, ImagenetPreprocessing, classifier
from .classes import classes_of, set_classes
from .examples import example_student, example_teacher
from .forward import clone_model
from .freezing import set_trainable
from .introspection import count_params, describe
from .loading import load_model, save_model
from .weights import load_weights, save_weights

__all__ = ["load_model", "save_model", "set_trainable", "count_params", "describe", "example_teacher", "example_student",
           "classifier", "save_weights", "load_weights", "clone_model", "classes_of", "set_classes",
           "BACKBONES", "ImagenetPreprocessing"]
