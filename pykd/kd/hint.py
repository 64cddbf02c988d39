"""Feature distillation (FitNets, Romero et al., 2015): a student layer's output, through a
learned projection, regressed on a teacher layer's output as well as the logits.

Keras' own FeatureDistillation needs the two layers to have the same shape; the
projection here (a 1x1 convolution, or a dense layer for flat features, after resizing
the student's map to the teacher's) lets a small student learn from a wide teacher.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass

from .._tf import keras, tf
from ..core.errors import DataError, Setting, Words, every, few, kind, shown
from .losses import as_logits


@dataclass(frozen=True)
class Hint:
    """Which layers to match and how much the match weighs.

    teacher_layer, student_layer: layer names (of the models' top level, as model.summary()
        lists them); their outputs are images (batch, height, width, channels) or flat
        (batch, units).
    weight: the hint term's weight: per row, weight * the mean squared difference between
        the projected student output and the teacher output, added to the loss.
    """

    teacher_layer: str
    student_layer: str
    weight: float = 1.0

    def __post_init__(self):
        for field in ("teacher_layer", "student_layer"):
            if not isinstance(getattr(self, field), str):
                raise DataError(f"hint {field} must be a layer name, not {{value}}.", value=shown(getattr(self, field)))
        if isinstance(self.weight, bool) or not isinstance(self.weight, numbers.Real) or not self.weight > 0:
            raise DataError("hint weight must be a number above 0, not {value}.", "For example {example}.",
                            value=shown(self.weight), example=Setting("weight", 1.0))
        object.__setattr__(self, "weight", float(self.weight))

    @classmethod
    def coerce(cls, value) -> Hint | None:
        """Accept None, a Hint or a dict of its fields (as R sends it)."""
        if value is None or isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            unknown = sorted(str(k) for k in value if k not in cls.__dataclass_fields__)
            if unknown:
                raise DataError("Unknown hint settings: {unknown}.", "The settings are {known}.",
                                unknown=few(unknown), known=every(cls.__dataclass_fields__))
            missing = [k for k in ("teacher_layer", "student_layer") if k not in value]
            if missing:
                raise DataError("hint needs {missing}.", "For example {example}.", missing=every(missing),
                                example=Setting("hint", {"teacher_layer": "conv2d_1", "student_layer": "conv2d"}))
            return cls(**dict(value))
        raise DataError("hint must be {none}, {forms}, not {value}.", "For example {example}.", none=None,
                        forms=Words("a pykd.Hint or a dict of its settings", "a named list of its settings"),
                        value=kind(value), example=Setting("hint", {"teacher_layer": "conv2d_1", "student_layer": "conv2d"}))


def layer_output(model: keras.Model, name: str, role: str):
    """The symbolic output of the model's layer `name`, or a DataError listing the names there are."""
    try:
        layer = model.get_layer(name)
    except (ValueError, AttributeError):
        names = [layer.name for layer in model.layers]
        raise DataError(f"The {role} has no layer {{name}}; its layers are {{names}}.",
                        "Name a layer the model lists in its summary (nested models' layers are not reachable).",
                        name=name, names=few(names, limit=20)) from None
    if isinstance(layer, keras.Model):  # its .output belongs to its own graph, not to the model's
        raise DataError(f"The {role}'s layer {{name}} is a nested model, whose output a hint cannot reach.",
                        "Name a layer of the model's own after it, such as its pooling or dense layer.", name=name)
    return layer.output


class HintTerm:
    """The two models cut at the hint layers, the projection, and the per-row hint loss."""

    def __init__(self, hint: Hint, teacher: keras.Model, student: keras.Model):
        self.weight = hint.weight
        # Both share their models' layers and weights: the student's are trained in place.
        self.teacher = keras.Model(teacher.inputs[0], [layer_output(teacher, hint.teacher_layer, "teacher"),
                                                       teacher.outputs[0]])
        self.student = keras.Model(student.inputs[0], [layer_output(student, hint.student_layer, "student"),
                                                       student.outputs[0]])
        t_shape, s_shape = self.teacher.outputs[0].shape, self.student.outputs[0].shape
        if len(t_shape) not in (2, 4) or len(s_shape) not in (2, 4):
            raise DataError("hint layers must give images (batch, height, width, channels) or flat rows (batch, "
                            "units); the teacher's gives {teacher} and the student's {student}.",
                            teacher=str(tuple(t_shape)), student=str(tuple(s_shape)))
        self.flat = len(t_shape) == 2 or len(s_shape) == 2  # a map against a vector: both pooled flat
        self.size = None if self.flat else tuple(t_shape[1:3])
        units = int(t_shape[-1])
        # float32 whatever the global policy (mixed_float16): the term is compared with float32 targets.
        self.projection = (keras.layers.Dense(units, name="hint_projection", dtype="float32") if self.flat
                           else keras.layers.Conv2D(units, 1, name="hint_projection", dtype="float32"))
        self.projection.build((None, int(s_shape[-1])) if self.flat else (None, *self.size, int(s_shape[-1])))
        self.teacher_probabilities = False  # set by the run: the teacher's outputs are softmax probabilities
        self.teacher_size = None  # set by the run when the teacher takes another input size
        self.teacher_scope = nullcontext  # set by the run: the block in which the teacher computes in its precision

    def teacher_outputs(self, x):
        """(the teacher's hint-layer output, its logits) for the student's inputs x, in inference mode."""
        if self.teacher_size is not None:
            x = tf.image.resize(x, self.teacher_size)
        with self.teacher_scope():
            feature, outputs = self.teacher(x, training=False)
        return feature, as_logits(outputs, self.teacher_probabilities)

    def _shaped(self, feature, student: bool):
        feature = tf.cast(feature, tf.float32)
        if self.flat and feature.shape.rank == 4:
            feature = tf.reduce_mean(feature, axis=[1, 2])
        elif student and not self.flat and tuple(feature.shape[1:3]) != self.size:
            feature = tf.image.resize(feature, self.size)
        return self.projection(feature) if student else feature

    def per_row(self, student_feature, teacher_feature) -> tf.Tensor:
        """weight * mean over each row's elements of (projection(student) - teacher)^2."""
        difference = self._shaped(student_feature, True) - self._shaped(teacher_feature, False)
        axes = list(range(1, difference.shape.rank))
        return self.weight * tf.reduce_mean(tf.square(difference), axis=axes)
