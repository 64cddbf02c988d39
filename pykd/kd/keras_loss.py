"""pykd's soft term for Keras' own `keras.distillation.Distiller`.

    distiller = keras.distillation.Distiller(teacher, student, student_loss_weight=0.1,
                                             distillation_losses=pykd.LogitsDistillation(temperature=3.0))

It computes T^2 * KL(softmax(t/T) || softmax(s/T)) per row, averaged over the batch, exactly
as distill() does at any temperature (pykd.kd.losses.soft_term). Keras 3.15's own
`LogitsDistillation(loss="kl_divergence")` compares the scaled logits themselves, without a
softmax, so its KL term can be negative.
"""

from __future__ import annotations

from .._tf import keras, tf
from ..core.validation import temperature_setting
from .losses import as_logits, soft_term


@keras.saving.register_keras_serializable(package="pykd")  # a saved Distiller using it loads again
class LogitsDistillation(keras.distillation.DistillationLoss):
    """The soft term of Hinton et al. (2015), as pykd computes it, for keras.distillation.Distiller.

    temperature: T > 0. teacher_outputs / student_outputs: "logits" (the default) or "probabilities"
    for a model ending in softmax (its log is taken, never a second softmax).
    """

    def __init__(self, temperature: float = 3.0, teacher_outputs: str = "logits", student_outputs: str = "logits"):
        self.temperature = temperature_setting(temperature)
        for name, kind in (("teacher_outputs", teacher_outputs), ("student_outputs", student_outputs)):
            if kind not in ("logits", "probabilities"):
                raise ValueError(f"{name} must be 'logits' or 'probabilities', not {kind!r}.")
        self.teacher_outputs, self.student_outputs = teacher_outputs, student_outputs

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        teacher = as_logits(teacher_outputs, self.teacher_outputs == "probabilities")
        student = as_logits(student_outputs, self.student_outputs == "probabilities")
        return tf.cast(tf.reduce_mean(soft_term(teacher, student, self.temperature)), tf.float32)

    def get_config(self) -> dict:
        return {"temperature": self.temperature, "teacher_outputs": self.teacher_outputs,
                "student_outputs": self.student_outputs}

    @classmethod
    def from_config(cls, config: dict) -> LogitsDistillation:
        return cls(**config)
