"""Running a model forward outside training: a twin with the same weights, and the
inference-mode call with float32 outputs, compiled once per input size.
"""

from __future__ import annotations

from .._tf import keras, tf
from .precision import computing_in


def clone_model(model: keras.Model) -> keras.Model:
    """A twin with the same weights (built under the caller's strategy scope, if any)."""
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    return twin


class Forward:
    """fn(x) in inference mode, as float32, for tf.function: `fn` a model or anything with its call.

    compute_dtype: for a model, the dtype its layers compute in ("float32" whatever its own
    policy), or None for its own.
    A callable object, not a lambda or a bound method: tf.function counts the traces of
    every lambda written in one place as one function's, and warns of retracing after a
    few runs or predict() calls that each trace their own model once.
    """

    def __init__(self, fn, compute_dtype: str | None = None):
        self.fn = fn
        self.compute_dtype = compute_dtype

    def __call__(self, x):
        if not isinstance(self.fn, keras.Model):
            return keras.ops.cast(self.fn(x), "float32")
        with computing_in([self.fn], self.compute_dtype):
            return keras.ops.cast(self.fn(x, training=False), "float32")


def compiled(fn, spec) -> tf.types.experimental.PolymorphicFunction:
    """Forward(fn) compiled for batches of `spec`'s images of any length (one trace per run's pass)."""
    batch = tf.TensorSpec([None, spec.height, spec.width, spec.channels], tf.float32)
    return tf.function(Forward(fn), input_signature=[batch])
