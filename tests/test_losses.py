"""The distillation loss against an independent NumPy formula (DESIGN.md)."""

import decimal
from decimal import Decimal

import numpy as np
import pytest

import pykd
from pykd import distillation_loss
from pykd._tf import tf
from pykd.kd.losses import soft_term


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def reference(labels, s, t, T, alpha):
    """Per DESIGN.md, in float64: labels are class ids, -1 for an unlabeled row."""
    p, q = softmax(t / T), softmax(s / T)
    soft = T**2 * np.sum(p * (np.log(p) - np.log(q)), axis=1)
    m = (labels >= 0).astype(float)
    hard = -np.log(softmax(s)[np.arange(len(s)), np.maximum(labels, 0)]) * m
    return np.mean(alpha * hard + (1 - alpha) * soft)


@pytest.fixture
def batch():
    rng = np.random.default_rng(7)
    s = rng.normal(size=(6, 5)) * 2
    t = rng.normal(size=(6, 5)) * 3
    labels = np.array([0, 4, 2, -1, 1, -1])
    return labels, s, t


@pytest.mark.parametrize("T,alpha", [(1.0, 0.5), (3.0, 0.1), (7.5, 0.0), (2.0, 1.0)])
def test_integer_labels_with_unlabeled_rows(batch, T, alpha):
    labels, s, t = batch
    got = float(distillation_loss(labels, s.astype("float32"), t.astype("float32"), temperature=T, alpha=alpha))
    assert got == pytest.approx(reference(labels, s, t, T, alpha), rel=1e-5)


def test_one_hot_labels_match_integer_labels(batch):
    labels, s, t = batch
    one_hot = np.zeros((6, 5))
    one_hot[labels >= 0, labels[labels >= 0]] = 1  # all-zero rows are unlabeled
    a = float(distillation_loss(one_hot, s, t, temperature=3.0, alpha=0.3))
    b = float(distillation_loss(labels, s, t, temperature=3.0, alpha=0.3))
    assert a == pytest.approx(b, rel=1e-6)
    assert a == pytest.approx(reference(labels, s, t, 3.0, 0.3), rel=1e-5)


def test_nan_labels_are_unlabeled(batch):
    labels, s, t = batch
    as_float = np.where(labels >= 0, labels, np.nan)
    got = float(distillation_loss(as_float, s, t, temperature=2.0, alpha=0.5))
    assert got == pytest.approx(reference(labels, s, t, 2.0, 0.5), rel=1e-5)


def test_probability_outputs_become_logits_not_softmaxed_twice(batch):
    labels, s, t = batch
    got = float(
        distillation_loss(labels, softmax(s), softmax(t), temperature=4.0, alpha=0.2,
                          teacher_outputs="probabilities", student_outputs="probabilities")
    )
    assert got == pytest.approx(reference(labels, s, t, 4.0, 0.2), rel=1e-4)
    # Treating probabilities as logits (a known bug) gives a different, wrong value.
    wrong = float(distillation_loss(labels, s, softmax(t), temperature=4.0, alpha=0.2))
    assert abs(wrong - reference(labels, s, t, 4.0, 0.2)) > 1e-2


def test_soft_term_is_summed_over_classes_and_scaled_by_t_squared(batch):
    _, s, t = batch
    unlabeled = -np.ones(6, dtype=int)
    for T in (1.0, 4.0):
        got = float(distillation_loss(unlabeled, s, t, temperature=T, alpha=0.0))
        p, q = softmax(t / T), softmax(s / T)
        kl = np.sum(p * np.log(p / q), axis=1)
        assert got == pytest.approx(T**2 * kl.mean(), rel=1e-5)


def test_softmax_runs_over_classes_not_the_batch():
    # The R tutorial's softmax(axis=0) made the loss depend on the other rows.
    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    labels = np.array([0, 1, 2, 0])
    alone = float(distillation_loss(labels[:1], s[:1], t[:1], temperature=3.0, alpha=0.5))
    in_batch = [float(distillation_loss(labels[i:i + 1], s[i:i + 1], t[i:i + 1], temperature=3.0, alpha=0.5)) for i in range(4)]
    assert alone == pytest.approx(in_batch[0])
    full = float(distillation_loss(labels, s, t, temperature=3.0, alpha=0.5))
    assert full == pytest.approx(np.mean(in_batch), rel=1e-6)


def test_identical_logits_leave_only_the_hard_term():
    s = np.array([[2.0, -1.0, 0.5]])
    assert float(distillation_loss(-np.ones(1), s, s, alpha=0.0)) == pytest.approx(0.0, abs=1e-6)


def test_bad_output_kind_is_rejected():
    with pytest.raises(ValueError, match="teacher_outputs"):
        distillation_loss([0], [[1.0, 0.0]], [[1.0, 0.0]], teacher_outputs="softmax")


def exact_soft_terms(s, t, T):
    """T^2 * KL(p || q) per row and its gradient T * (q - p) in the student's logits, in 80-digit decimals."""
    decimal.getcontext().prec = 80
    terms, grads = [], []
    for student, teacher in zip(s, t):
        a = [Decimal(float(x)) / Decimal(T) for x in teacher]
        b = [Decimal(float(x)) / Decimal(T) for x in student]
        p = [x.exp() / sum(y.exp() for y in a) for x in a]
        q = [x.exp() / sum(y.exp() for y in b) for x in b]
        terms.append(float(Decimal(T) ** 2 * sum(pk * (pk.ln() - qk.ln()) for pk, qk in zip(p, q))))
        grads.append([float(Decimal(T) * (qk - pk)) for pk, qk in zip(p, q)])
    return np.array(terms), np.array(grads)


@pytest.mark.parametrize("T", [1.0, 1e2, 1e4, 1e7, 1e8, 1e12, 1e30])
def test_the_soft_term_is_exact_at_any_temperature(batch, T):
    # p and q are then nearly uniform: float32 lost their difference to cancellation from T = 1e4
    # (3.66 for 4.73), and the textbook sum of p * (log p - log q) in float64 from T = 1e7 (negative at 1e8).
    _, s, t = batch
    s, t = s.astype(np.float32), t.astype(np.float32)
    student = tf.Variable(s)
    with tf.GradientTape() as tape:
        got = soft_term(t, student, T)
        total = tf.reduce_sum(got)
    grad = tape.gradient(total, student).numpy()
    terms, grads = exact_soft_terms(s, t, T)
    np.testing.assert_allclose(got.numpy(), terms, rtol=1e-12)
    np.testing.assert_allclose(grad, grads, rtol=0, atol=1e-6 * np.abs(grads).max())


def test_the_soft_term_takes_logits_far_apart():
    t, s = np.array([[1000.0, 0.0, -1000.0]]), np.array([[-1000.0, 0.0, 1000.0]])
    np.testing.assert_allclose(soft_term(t, s, 1.0).numpy(), [2000.0])  # sum p (log p - log q): 1 * (0 - -2000)
    assert np.isfinite(distillation_loss([0], s, t, temperature=1.0, alpha=0.5))


def test_logits_distillation_gives_keras_distiller_pykds_loss():
    """pykd.LogitsDistillation in Keras' own Distiller: its total loss on a batch is pykd's distillation_loss."""
    import keras

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 8)).astype("float32"), rng.integers(0, 4, 16)
    keras.utils.set_random_seed(0)
    teacher = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
    student = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
    soft = pykd.LogitsDistillation(temperature=4.0)
    one_batch = soft.compute_loss(teacher(x), student(x))
    unlabeled = np.full(16, -1)  # alpha = 0 and no labels: distillation_loss is the soft term's mean
    np.testing.assert_allclose(float(one_batch), float(pykd.distillation_loss(unlabeled, student(x), teacher(x),
                                                                            temperature=4.0, alpha=0.0)), rtol=1e-6)
    distiller = keras.distillation.Distiller(teacher=teacher, student=student, distillation_losses=soft,
                                             student_loss_weight=0.1)
    distiller.compile(optimizer=keras.optimizers.SGD(0.0), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = distiller.fit(x, y, batch_size=16, epochs=1, verbose=0)
    expected = pykd.distillation_loss(y, student(x), teacher(x), temperature=4.0, alpha=0.1)
    np.testing.assert_allclose(history.history["loss"][0], float(expected), rtol=1e-5)
    assert pykd.LogitsDistillation.from_config(soft.get_config()).temperature == 4.0
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(soft))  # a saved Distiller's
    assert isinstance(restored, pykd.LogitsDistillation) and restored.temperature == 4.0
    with pytest.raises(pykd.DataError, match="temperature must be a number > 0"):
        pykd.LogitsDistillation(temperature=0)
