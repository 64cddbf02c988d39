"""The distillation loss of Hinton et al. (2015), exactly as DESIGN.md states it.

    soft_i = T^2 * sum_k p_k (log p_k - log q_k),  p = softmax(t/T), q = softmax(s/T)
    hard_i = cross-entropy(y_i, softmax(s))
    loss   = mean_i [ alpha * m_i * hard_i + (1 - alpha) * soft_i ]

m_i is 0 for an unlabeled row, which then learns from the teacher alone.
Softmax and the KL sum run over the class axis (-1), never the batch axis.
"""

from __future__ import annotations

from .._tf import tf

PROBABILITY_FLOOR = 1e-7  # log(p) of a probability output, clipped away from log(0)


def as_logits(outputs: tf.Tensor, probabilities: bool) -> tf.Tensor:
    """Logits from a model's outputs: log(p) for softmax outputs, else unchanged.

    log(p) differs from the true logits by a per-row constant, which softmax
    ignores, so every term below is unchanged by it.
    """
    outputs = tf.cast(outputs, tf.float32)
    if probabilities:
        return tf.math.log(tf.clip_by_value(outputs, PROBABILITY_FLOOR, 1.0))
    return outputs


def label_ids_and_mask(y_true) -> tuple[tf.Tensor, tf.Tensor]:
    """Class ids and a 0/1 'has a label' mask, from integer ids (-1/NaN = none) or one-hot rows."""
    y = tf.convert_to_tensor(y_true)
    if y.shape.rank == 2:
        y = tf.cast(y, tf.float32)
        mask = tf.cast(tf.reduce_sum(y, axis=-1) > 0, tf.float32)
        return tf.argmax(y, axis=-1, output_type=tf.int32), mask
    if y.dtype.is_floating:
        known = tf.math.is_finite(y) & (y >= 0)
        y = tf.where(known, y, -tf.ones_like(y))
    y = tf.cast(y, tf.int32)
    mask = tf.cast(y >= 0, tf.float32)
    return tf.maximum(y, 0), mask


def row_terms(labels, mask, student_logits, teacher_logits, temperature: float):
    """Per-row (hard, soft) terms; hard is 0 where mask is 0. Teacher may be None."""
    hard = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=student_logits) * mask
    if teacher_logits is None:
        return hard, tf.zeros_like(hard)
    # In float64: at high temperatures p and q are nearly uniform, and float32 loses
    # their small difference to cancellation before T^2 scales it up (T=1e4: 3.66 for 4.73).
    t = tf.cast(temperature, tf.float64)
    log_p = tf.nn.log_softmax(tf.cast(teacher_logits, tf.float64) / t, axis=-1)
    log_q = tf.nn.log_softmax(tf.cast(student_logits, tf.float64) / t, axis=-1)
    soft = t * t * tf.reduce_sum(tf.exp(log_p) * (log_p - log_q), axis=-1)
    return hard, tf.cast(soft, hard.dtype)


def combine(hard, soft, alpha: float):
    """Per-row total loss: alpha weights the hard-label term."""
    return alpha * hard + (1.0 - alpha) * soft


def distillation_loss(
    y_true,
    student_logits,
    teacher_logits,
    *,
    temperature: float = 3.0,
    alpha: float = 0.1,
    teacher_outputs: str = "logits",
    student_outputs: str = "logits",
) -> tf.Tensor:
    """The mean distillation loss of a batch (a scalar tensor).

    y_true: integer class ids (-1 or NaN for unlabeled rows) or one-hot rows
    (all zeros for unlabeled rows). student_logits, teacher_logits: (batch, classes)
    outputs of the two models; teacher_outputs / student_outputs say whether
    those tensors are "logits" or softmax "probabilities".
    temperature: T > 0. alpha: the weight of the hard-label term, in [0, 1].
    """
    for name, kind in (("teacher_outputs", teacher_outputs), ("student_outputs", student_outputs)):
        if kind not in ("logits", "probabilities"):
            raise ValueError(f"{name} must be 'logits' or 'probabilities', not {kind!r}.")
    labels, mask = label_ids_and_mask(y_true)
    s = as_logits(student_logits, student_outputs == "probabilities")
    t = as_logits(teacher_logits, teacher_outputs == "probabilities")
    hard, soft = row_terms(labels, mask, s, t, temperature)
    return tf.reduce_mean(combine(hard, soft, alpha))
