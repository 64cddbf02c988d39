"""Feature distillation (FitNets, Romero et al., 2015): a student layer's output, through a
learned projection, regressed on a teacher layer's output as well as the logits.

Keras' own FeatureDistillation needs the two layers to have the same shape; the
projection here (a 1x1 convolution, or a dense layer for flat features, after resizing
the student's map to the teacher's) lets a small student learn from a wide teacher.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass

from .._tf import keras, tf
from ..core.errors import DataError, Setting, Words, every, few, kind, shown
from ..models.nested import SEPARATOR, layer_paths, rebuilt
from .losses import as_logits


@dataclass(frozen=True)
class Hint:
    """Which layers to match and how much the match weighs.

    teacher_layer, student_layer: layer names, as model.summary() lists them; a layer inside a
        nested model (a keras.applications backbone in a pykd.models.classifier()) by its path,
        the nested model's name, a slash, the layer's name, to any depth:
        "efficientnetb0/block6a_project_bn". A bare name found in exactly one nested model
        is read as its path. Their outputs are images (batch, height, width, channels) or
        flat (batch, units). Nested Sequential and functional models are reached by
        rebuilding the outer graph with their layers in place (shared, so the student's own
        weights train); the layers inside a subclassed model are not reachable.
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


def hint_layer(model: keras.Model, name: str, role: str) -> str:
    """The path of the model's layer `name` (as given, or a bare name found in one nested model only),
    or a DataError naming the closest names there are."""
    paths = layer_paths(model)
    if name not in paths and SEPARATOR not in name:
        inside = [path for path in paths if path.rsplit(SEPARATOR, 1)[-1] == name]
        if len(inside) > 1:
            raise DataError(f"The {role}'s nested models each have a layer {{name}}: {{paths}}.",
                            "Name the one meant by its path, such as {first}.", name=name, paths=few(inside),
                            first=inside[0])
        name = inside[0] if inside else name
    if name not in paths:
        nested = [path for path in paths if SEPARATOR in path]
        close = _closest(name, list(paths))
        listed = "the closest names are {names}" if close else "its layers are {names}"
        raise DataError(f"The {role} has no layer {{name}}; {listed}.",
                        "Name a layer the model lists in its summary, or a layer inside a nested model by its path: "
                        "the nested model's name, /, the layer's name, such as {example}." if nested
                        else "Name a layer the model lists in its summary.",
                        name=name, names=few(close or [p for p in paths if SEPARATOR not in p], limit=20),
                        example=nested[-1] if nested else None)
    if paths[name] is not None:
        raise DataError(f"The {role}'s layer {{name}} is inside {{model}}, a subclassed model, whose layers' outputs "
                        "a hint cannot reach.", "Name {model} itself, or a layer outside it.", name=name,
                        model=paths[name])
    return name


def _closest(name: str, paths: list[str]) -> list[str]:
    """The (at most 5) paths most like `name`; a bare name is compared with the layers' own names."""
    def key(path):
        return path if SEPARATOR in name else path.rsplit(SEPARATOR, 1)[-1]

    scored = sorted((-difflib.SequenceMatcher(None, name, key(path)).ratio(), i) for i, path in enumerate(paths))
    return [paths[i] for score, i in scored[:5] if -score >= 0.6]


def cut(model: keras.Model, name: str, role: str) -> keras.Model:
    """The model with two outputs, (the hint layer's output, the model's output), sharing its layers and weights."""
    path = hint_layer(model, name, role)
    if SEPARATOR not in path and not isinstance(layer := model.get_layer(path), keras.Model):
        return keras.Model(model.inputs[0], [layer.output, model.outputs[0]])
    # Inside a nested model, or the nested model itself (whose .output belongs to its own graph):
    # the outer graph rebuilt with the nested layers in place.
    whole, feature = rebuilt(model, path)
    if whole is None:
        raise DataError(f"The {role} is a subclassed model (or takes several inputs), so a hint cannot reach "
                        "{name} inside its nested model.", "Build it as a functional or Sequential model, or "
                        "name a layer of its own.", name=path)
    if feature is None:
        raise DataError(f"The {role}'s layer {{name}} is not on the way from its input to its output.",
                        "Name a layer its predictions go through.", name=path)
    return keras.Model(whole.inputs[0], [feature, whole.outputs[0]])


class HintTerm:
    """The two models cut at the hint layers, the projection, and the per-row hint loss."""

    def __init__(self, hint: Hint, teacher: keras.Model, student: keras.Model):
        self.weight = hint.weight
        # Both share their models' layers and weights: the student's are trained in place.
        self.teacher = cut(teacher, hint.teacher_layer, "teacher")
        self.student = cut(student, hint.student_layer, "student")
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
