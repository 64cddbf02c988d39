"""Type hints for what the entry points take: models, teachers and tables, in every form accepted."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import pandas as pd

from .._tf import keras, tf

# A Keras model, or the path of a .keras/.h5 file (local or a URL); predict() and compare() also take a .tflite path.
ModelLike = keras.Model | str | os.PathLike
# A model, an ensemble of them, or a table of precomputed logits (a DataFrame or a CSV/.npy path).
TeacherLike = ModelLike | Sequence[ModelLike] | pd.DataFrame
# A DataFrame, a CSV path or a dict of columns; also a folder of class subfolders, (x, y) arrays, or a Keras
# pipeline: a tf.data.Dataset or keras.utils.PyDataset of (images, labels).
TableLike = pd.DataFrame | str | os.PathLike | Mapping | tuple | tf.data.Dataset | keras.utils.PyDataset
# A table alone (predict() and out_of_fold_logits() read their data as a table of image files).
TableOnly = pd.DataFrame | str | os.PathLike | Mapping
