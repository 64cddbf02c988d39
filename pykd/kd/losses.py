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
    """Class ids and a 0/1 'has a label' mask, from integer ids (-1/NaN = none), as (batch,) or (batch, 1)
    (Keras pipelines' shape), or one-hot rows (two or more columns; all zeros = none)."""
    y = tf.convert_to_tensor(y_true)
    if y.shape.rank == 2 and y.shape[-1] == 1:
        y = tf.squeeze(y, axis=-1)
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
    return hard, tf.cast(soft_term(teacher_logits, student_logits, temperature), hard.dtype)


def soft_term(teacher_logits, student_logits, temperature: float) -> tf.Tensor:
    """T^2 * KL(p || q) per row, p = softmax(t/T), q = softmax(s/T), exact at any temperature.

    As T grows, p and q tend to uniform and KL to about d^2/2, for d = log p - log q of order
    1/T: the textbook sum of p * d cancels to nothing (float32 from T = 1e4, float64 from
    T = 1e7). So, in float64: d is taken from delta = (t - s)/T, centred so that its weighted
    mean is 0, and KL = sum p * (d + exp(-d) - 1), whose every term is >= 0 (no cancellation
    between classes) and is computed without cancelling within a term (_kl_terms). Within 1e-12
    of 80-digit arithmetic from T = 1 to 1e30, its gradient too (tests/test_losses.py).
    """
    t = tf.cast(temperature, tf.float64)
    teacher, student = tf.cast(teacher_logits, tf.float64), tf.cast(student_logits, tf.float64)
    log_q = tf.nn.log_softmax(student / t, axis=-1)
    q = tf.exp(log_q)
    delta = (teacher - student) / t  # = log p - log q, up to a constant per row
    delta = delta - tf.reduce_sum(q * delta, axis=-1, keepdims=True)
    # d = delta - log(sum_k q_k exp(delta_k)); that log is second order in a small delta.
    near = tf.reduce_all(tf.abs(delta) < 1.0, axis=-1, keepdims=True)
    small = tf.where(near, delta, tf.zeros_like(delta))
    shift = tf.where(near, tf.math.log1p(tf.reduce_sum(q * tf.math.expm1(small), axis=-1, keepdims=True)),
                     tf.reduce_logsumexp(log_q + delta, axis=-1, keepdims=True))
    d = delta - shift
    p = tf.exp(log_q + d)
    return t * t * tf.reduce_sum(_kl_terms(p, q, d), axis=-1)


def _kl_terms(p, q, d):
    """p * (d + exp(-d) - 1) per class, for d = log p - log q: >= 0, and accurate however small d is
    (its Taylor series below |d| = 0.01, where d + expm1(-d) would cancel; then expm1; then p*d + q - p)."""
    tiny, close = tf.abs(d) < 0.01, tf.abs(d) < 1.0
    d_tiny = tf.where(tiny, d, tf.zeros_like(d))  # each branch sees only values it computes finitely
    d_close = tf.where(close, d, tf.zeros_like(d))
    series = d_tiny * d_tiny * (1 / 2 - d_tiny * (1 / 6 - d_tiny * (1 / 24 - d_tiny * (1 / 120 - d_tiny / 720))))
    return tf.where(tiny, p * series, tf.where(close, p * (d_close + tf.math.expm1(-d_close)), p * d + q - p))


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
