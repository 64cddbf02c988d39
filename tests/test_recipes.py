"""Recipes that make distillation pay (issue 21), each against a reference computed here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import SIZE, teacher_as_run, tiny_model
from scipy import stats

import pykd
from pykd._tf import keras, tf
from pykd.core.errors import DataError
from pykd.data.augmentation import keyed_uniform
from pykd.data.images import ImageSpec, decode
from pykd.data.mixing import BatchCutMix, BatchMixup, beta_quantile, build_batch_mixing


def test_beta_quantile_matches_scipy():
    p = np.linspace(0.001, 0.999, 25)
    for a in (0.1, 0.4, 2.0):
        np.testing.assert_allclose(beta_quantile(tf.constant(p), a).numpy(), stats.beta.ppf(p, a, a), atol=1e-9)


def test_mixup_pairs_rows_by_their_keys_whatever_the_batch_order():
    mixup = BatchMixup(0.4, seed=3)
    rows = tf.constant([5, 9, 2, 7, 11], tf.int32)
    images = tf.reshape(tf.range(5 * 2 * 2 * 1, dtype=tf.float32), (5, 2, 2, 1))
    mixed, partner, weight = mixup(images, rows, tf.constant(1, tf.int64))
    order = [3, 0, 4, 1, 2]
    mixed2, partner2, weight2 = mixup(tf.gather(images, order), tf.gather(rows, order), tf.constant(1, tf.int64))
    np.testing.assert_allclose(tf.gather(mixed, order).numpy(), mixed2.numpy(), rtol=1e-6)
    np.testing.assert_allclose(tf.gather(weight, order).numpy(), weight2.numpy())
    # Every row is the partner of exactly one other row: a ring, no image mixed with itself.
    assert sorted(partner.numpy().tolist()) == list(range(5))
    assert all(partner.numpy() != np.arange(5))
    # Another draw of the same rows mixes differently.
    _, _, other = mixup(images, rows, tf.constant(2, tf.int64))
    assert not np.allclose(weight.numpy(), other.numpy())


def test_cutmix_pairs_rows_by_their_keys_whatever_the_batch_order():
    cutmix = BatchCutMix(1.0, seed=3)
    rows = tf.constant([5, 9, 2, 7, 11], tf.int32)
    images = tf.reshape(tf.range(5 * 8 * 6 * 1, dtype=tf.float32), (5, 8, 6, 1))
    mixed, partner, weight = cutmix(images, rows, tf.constant(1, tf.int64))
    order = [3, 0, 4, 1, 2]
    mixed2, partner2, weight2 = cutmix(tf.gather(images, order), tf.gather(rows, order), tf.constant(1, tf.int64))
    np.testing.assert_array_equal(tf.gather(mixed, order).numpy(), mixed2.numpy())
    np.testing.assert_array_equal(tf.gather(weight, order).numpy(), weight2.numpy())
    # The same partners, as rows: row order[i]'s partner is the row of order[partner2[i]].
    np.testing.assert_array_equal(tf.gather(rows, tf.gather(partner, order)).numpy(),
                                  tf.gather(tf.gather(rows, order), partner2).numpy())
    assert sorted(partner.numpy().tolist()) == list(range(5)) and all(partner.numpy() != np.arange(5))
    assert (weight.numpy() < 1).any()  # some box pasted
    _, _, other = cutmix(images, rows, tf.constant(2, tf.int64))
    assert not np.array_equal(weight.numpy(), other.numpy())


def _ring_partners(keys):
    """Each row's partner: the row whose key comes next, the rows ordered by key in a ring."""
    order = np.argsort(keys)
    partner = np.empty_like(order)
    partner[order] = np.roll(order, -1)
    return partner


def _cutmix_reference(images, seed, rows, draw, a):
    """CutMix in NumPy from the same keyed draws: the mixed images, partners, weights and (clipped) boxes."""
    u = (keyed_uniform(seed + BatchCutMix.STREAM, rows, draw, 4).numpy() + np.float32(1)) / np.float32(2)
    partner = _ring_partners(u[:, 1])
    n, height, width = images.shape[:3]
    side = np.sqrt(1 - stats.beta.ppf(u[:, 0].astype(np.float64), a, a))
    mixed, weight, boxes = images.copy(), np.empty(n, np.float32), []
    for i in range(n):
        h, w = int(np.floor(height * side[i])), int(np.floor(width * side[i]))
        cy, cx = min(int(float(u[i, 2]) * height), height - 1), min(int(float(u[i, 3]) * width), width - 1)
        y1, y2 = np.clip([cy - h // 2, cy + h // 2], 0, height)
        x1, x2 = np.clip([cx - w // 2, cx + w // 2], 0, width)
        mixed[i, y1:y2, x1:x2] = images[partner[i], y1:y2, x1:x2]
        weight[i] = 1 - (y2 - y1) * (x2 - x1) / (height * width)
        boxes.append((y1, y2, x1, x2))
    return mixed, partner, weight, boxes


def test_cutmix_pastes_the_partners_box_against_a_numpy_reference():
    images = np.random.default_rng(0).uniform(0, 255, (8, 12, 10, 3)).astype(np.float32)
    rows, seed, draw, a = np.array([4, 17, 0, 9, 23, 2, 31, 8]), 11, 3, 1.0
    mixed, partner, weight = BatchCutMix(a, seed)(tf.constant(images), tf.constant(rows, tf.int32),
                                                  tf.constant(draw, tf.int64))
    expected, expected_partner, expected_weight, boxes = _cutmix_reference(images, seed, rows, draw, a)
    np.testing.assert_array_equal(partner.numpy(), expected_partner)
    np.testing.assert_array_equal(weight.numpy(), expected_weight)
    np.testing.assert_array_equal(mixed.numpy(), expected)
    mixed, partner, weight = mixed.numpy(), partner.numpy(), weight.numpy()
    for i, (y1, y2, x1, x2) in enumerate(boxes):
        box = np.zeros((12, 10), bool)
        box[y1:y2, x1:x2] = True
        own = (mixed[i] == images[i]).all(axis=-1)
        np.testing.assert_array_equal(own, ~box)  # outside the box, the row's own pixels
        assert (mixed[i][box] == images[partner[i]][box]).all()  # inside, its partner's
        assert weight[i] == pytest.approx(1 - box.mean(), abs=1e-7)  # the share of the image still its own
    assert 0 < weight.min() and weight.max() < 1
    # Some box reaches past an edge: clipped, so its share of the area is less than 1 - lam.
    assert any(y1 == 0 or x1 == 0 or y2 == 12 or x2 == 10 for y1, y2, x1, x2 in boxes)


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _reference_loss(teacher, student, x, labels, temperature, alpha, history):
    """DESIGN.md's loss in NumPy (float64), with each mixed image answering to its two labels; the
    teacher's logits in the precision the run `history` took."""
    s = student(x, training=True).numpy().astype(np.float64)
    t = teacher_as_run(teacher, x, history)
    log_q = np.log(_softmax(s))
    hard = np.zeros(len(x))
    for own, weight in labels:
        known = own >= 0
        hard[known] += weight[known] * -log_q[known, own[known]]
    p, q = _softmax(t / temperature), _softmax(s / temperature)
    soft = temperature**2 * np.sum(p * (np.log(p) - np.log(q)), axis=1)
    return float(np.mean(alpha * hard + (1 - alpha) * soft))


def _mixup_reference(images, seed, rows, draw, a):
    """Mixup in NumPy from the same keyed draws: the mixed images, partners and weights."""
    u = (keyed_uniform(seed + BatchMixup.STREAM, rows, draw, 2).numpy().astype(np.float64) + 1) / 2
    weight = stats.beta.ppf(u[:, 0], a, a).astype(np.float32)
    partner = _ring_partners(u[:, 1])
    w = weight[:, None, None, None]
    return w * images + (1 - w) * images[partner], partner, weight


def _assert_one_batch_loss_matches(digits, augment, reference):
    """One epoch of one batch holding every row, distilled under `augment`: its loss is DESIGN.md's on
    the images `reference(x, seed, rows, draw)` mixes, each answering to its two labels by weight."""
    table = pd.read_csv(digits["train_csv"]).head(24)
    assert table["label"].isna().any() and table["label"].notna().any()  # labeled and unlabeled rows mixed
    teacher, student = tiny_model(seed=1), tiny_model(seed=2)
    initial = student.get_weights()
    seed, temperature, alpha = 7, 3.0, 0.3
    history = pykd.distill(teacher, student, table, directory=digits["directory"], classes=digits["classes"],
                           batch_size=len(table), epochs=1, temperature=temperature, alpha=alpha,
                           augment=augment, seed=seed, verbose=0)
    student.set_weights(initial)  # the epoch's loss was computed before its one update

    spec = ImageSpec(SIZE, SIZE, 3, None)
    x = np.stack([decode(tf.constant(f"{digits['directory']}/{i}"), spec).numpy() for i in table["image_id"]])
    mixed, partner, weight = reference(x, seed, np.arange(len(table)), 0)  # every row, drawn for the first time
    labels = table["label"].fillna(-1).astype(int).to_numpy()
    expected = _reference_loss(teacher, student, mixed, [(labels, weight), (labels[partner], 1 - weight)],
                               temperature, alpha, history)
    assert history.last()["loss"] == pytest.approx(expected, rel=1e-4)
    unmixed = _reference_loss(teacher, student, x, [(labels, np.ones(len(x)))], temperature, alpha, history)
    assert abs(unmixed - expected) > 1e-3  # the reference tells mixing from not mixing


@pytest.mark.both_precisions
def test_mixup_distills_the_mixture_the_teacher_sees_against_a_reference(digits):
    _assert_one_batch_loss_matches(digits, {"mixup": 0.4},
                                   lambda x, seed, rows, draw: _mixup_reference(x, seed, rows, draw, 0.4))


def test_cutmix_distills_the_image_the_teacher_sees_against_a_reference(digits):
    _assert_one_batch_loss_matches(digits, {"cutmix": 1.0},
                                   lambda x, seed, rows, draw: _cutmix_reference(x, seed, rows, draw, 1.0)[:3])


def test_a_changed_cutmix_concentration_is_refused_on_resume(digits, tmp_path):
    # That a cutmix run resumes exactly is tests/test_resume.py's.
    table = pd.read_csv(digits["train_csv"]).head(24)

    def run(epochs, cutmix=1.0, **more):
        return pykd.distill(tiny_model(seed=1), tiny_model(seed=2), table, directory=digits["directory"],
                            classes=digits["classes"], batch_size=8, epochs=epochs, augment={"cutmix": cutmix},
                            seed=4, verbose=0, **more)

    run(1, checkpoint_dir=tmp_path / "ck")
    with pytest.raises(DataError, match="comes from a different run: .*augment"):
        run(2, cutmix=0.5, checkpoint_dir=tmp_path / "ck", resume=True)


def test_cutmix_is_refused_where_mixup_is_and_never_with_it(digits):
    common = dict(directory=digits["directory"], classes=digits["classes"], epochs=1, verbose=0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with pytest.raises(DataError, match="^cutmix does not work under a tf.distribute strategy.*Leave cutmix at 0"):
        pykd.distill(tiny_model(seed=1), tiny_model(seed=2), digits["train_csv"], augment={"cutmix": 1.0},
                     strategy=strategy, **common)
    with pytest.raises(DataError, match="a mixed image has no original. Leave cutmix at 0 with teacher_view='clean'"):
        pykd.distill(tiny_model(seed=1), tiny_model(seed=2), digits["train_csv"], augment={"cutmix": 1.0},
                     teacher_view="clean", **common)
    with pytest.raises(DataError, match="A noised student cannot use cutmix.*Set cutmix to 0"):
        pykd.noisy_student(tiny_model(seed=1), tiny_model(seed=2), digits["train_csv"], directory=digits["directory"],
                           augment={"cutmix": 1.0})
    with pytest.raises(DataError, match="mixup and cutmix cannot both be on.*set mixup=0 or cutmix=0"):
        pykd.Augmentation(mixup=0.2, cutmix=1.0)
    with pytest.raises(DataError, match=r"cutmix must be a number >= 0, not -1.*Beta\(cutmix, cutmix\), such as 1.0"):
        pykd.Augmentation(cutmix=-1)
    cutmix = pykd.Augmentation(horizontal_flip=True, cutmix=1)
    assert cutmix.cutmix == 1.0 and cutmix.moves_pixels and not pykd.Augmentation(cutmix=1.0).moves_pixels
    assert isinstance(build_batch_mixing(cutmix, 0), BatchCutMix)
    assert isinstance(build_batch_mixing(pykd.Augmentation(mixup=0.2), 0), BatchMixup)
    assert build_batch_mixing(pykd.Augmentation(horizontal_flip=True), 0) is None


def test_mixup_is_refused_under_a_strategy_and_checked_as_a_number(digits):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with pytest.raises(DataError, match="mixup does not work under a tf.distribute strategy"):
        pykd.distill(tiny_model(seed=1), tiny_model(seed=2), digits["train_csv"], directory=digits["directory"],
                     classes=digits["classes"], epochs=1, augment={"mixup": 0.2}, strategy=strategy, verbose=0)
    with pytest.raises(DataError, match="mixup must be a number >= 0"):
        pykd.Augmentation(mixup=-0.5)


AUGMENT = {"horizontal_flip": True, "width_shift_range": 0.2, "rotation_range": 20}


@pytest.mark.both_precisions
def test_a_clean_teacher_view_teaches_the_augmented_student_the_original_images_logits(digits):
    table = pd.read_csv(digits["train_csv"]).head(24)
    keras.utils.set_random_seed(1)  # a teacher that sees where pixels are (pooling would not mind a flip)
    teacher = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(),
                                keras.layers.Dense(10)])
    seed, temperature, alpha = 4, 2.0, 0.2

    def run(**options):
        student = tiny_model(seed=2)
        initial = student.get_weights()
        history = pykd.distill(teacher, student, table, directory=digits["directory"], classes=digits["classes"],
                               batch_size=len(table), epochs=2, temperature=temperature, alpha=alpha,
                               augment=AUGMENT, seed=seed, verbose=0, **options)
        student.set_weights(initial)
        return history, student

    cached, student = run(teacher_view="clean")
    live, _ = run(teacher_view="clean", cache_teacher=False)
    same, _ = run()
    assert cached.params["teacher_cache"] and not live.params["teacher_cache"] and not same.params["teacher_cache"]
    assert cached.params["teacher_view"] == "clean"
    np.testing.assert_allclose(cached.to_frame()["loss"], live.to_frame()["loss"], rtol=1e-5)

    spec = ImageSpec(SIZE, SIZE, 3, None)
    x = np.stack([decode(tf.constant(f"{digits['directory']}/{i}"), spec).numpy() for i in table["image_id"]])
    rows = tf.constant(np.arange(len(table)), tf.int32)
    view = pykd.data.augmentation.RandomAffine(pykd.Augmentation(**AUGMENT), seed=seed)(x, training=True,
                                                                           keys=(rows, tf.constant(0, tf.int64)))
    labels = table["label"].fillna(-1).astype(int).to_numpy()
    s = student(view.numpy(), training=True).numpy().astype(np.float64)
    t = teacher_as_run(teacher, x, cached)  # the original images, in the run's precision
    p, q = _softmax(t / temperature), _softmax(s / temperature)
    soft = temperature**2 * np.sum(p * (np.log(p) - np.log(q)), axis=1)
    known = labels >= 0
    hard = np.where(known, -np.log(_softmax(s))[np.arange(len(s)), np.maximum(labels, 0)], 0.0)
    expected = float(np.mean(alpha * hard + (1 - alpha) * soft))
    assert cached.to_frame()["loss"].iloc[0] == pytest.approx(expected, rel=1e-4)
    assert same.to_frame()["loss"].iloc[0] != pytest.approx(expected, rel=1e-3)  # the same view: another target


def test_a_clean_teacher_view_refuses_mixup_and_takes_precomputed_logits(digits):
    with pytest.raises(DataError, match="a mixed image has no original"):
        pykd.distill(tiny_model(seed=1), tiny_model(seed=2), digits["train_csv"], directory=digits["directory"],
                     classes=digits["classes"], epochs=1, augment={"mixup": 0.2}, teacher_view="clean", verbose=0)
    with pytest.raises(DataError, match="teacher_view must be"):
        pykd.distill(tiny_model(seed=1), tiny_model(seed=2), digits["train_csv"], directory=digits["directory"],
                     classes=digits["classes"], epochs=1, teacher_view="original", verbose=0)
    logits = pykd.teacher_logits(tiny_model(seed=1), digits["train_csv"], directory=digits["directory"])
    history = pykd.distill(logits, tiny_model(seed=2), digits["train_csv"], directory=digits["directory"],
                           classes=digits["classes"], epochs=1, steps_per_epoch=2, augment=AUGMENT,
                           teacher_view="clean", verbose=0)
    assert history.params["augmented"] and np.isfinite(history.last()["loss"])


def test_noisy_student_rounds_are_distillations_from_the_last_rounds_student(digits):
    table = pd.read_csv(digits["train_csv"]).head(64)
    options = dict(directory=digits["directory"], classes=digits["classes"], batch_size=16, epochs=2, seed=8,
                   augment=AUGMENT, verbose=0)
    student = tiny_model(seed=2)
    initial = student.get_weights()
    histories = pykd.noisy_student(tiny_model(seed=1), student, table, rounds=2, **options)
    assert len(histories) == 2 and all(h.params["teacher_view"] == "clean" and h.params["teacher_cache"]
                                       for h in histories)

    by_hand = tiny_model(seed=2)
    first = pykd.distill(tiny_model(seed=1), by_hand, table, teacher_view="clean", **options)
    teacher = pykd.models.clone_model(by_hand)
    by_hand.set_weights(initial)
    second = pykd.distill(teacher, by_hand, table, teacher_view="clean", **options)
    for got, expected in zip(histories, (first, second)):
        pd.testing.assert_frame_equal(got.to_frame(), expected.to_frame())
    for a, b in zip(student.get_weights(), by_hand.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(DataError, match="needs noise"):
        pykd.noisy_student(tiny_model(seed=1), student, table, **{**options, "augment": None})


def _hint_models(student_channels=4):
    keras.utils.set_random_seed(0)
    teacher = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Rescaling(1 / 255),
                                keras.layers.Conv2D(12, 3, padding="same", activation="relu", name="t_conv"),
                                keras.layers.GlobalAveragePooling2D(name="t_pool"), keras.layers.Dense(10)])
    student = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Rescaling(1 / 255),
                                keras.layers.Conv2D(student_channels, 3, padding="same", activation="relu", name="s_conv"),
                                keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)])
    return teacher, student


@pytest.mark.parametrize("teacher_layer", ["t_conv", "t_pool"])
def test_the_hint_term_is_the_projected_mean_squared_difference(teacher_layer):
    from pykd.kd.hint import Hint, HintTerm

    teacher, student = _hint_models()
    term = HintTerm(Hint(teacher_layer, "s_conv", weight=0.5), teacher, student)
    x = np.random.default_rng(0).uniform(0, 255, (5, SIZE, SIZE, 3)).astype(np.float32)
    s_feature, _ = term.student(x)
    t_feature, _ = term.teacher_outputs(x)
    got = term.per_row(s_feature, t_feature).numpy()
    s, t = s_feature.numpy().astype(np.float64), t_feature.numpy().astype(np.float64)
    kernel, bias = (w.astype(np.float64) for w in term.projection.get_weights())
    if teacher_layer == "t_pool":  # a map against a vector: pooled flat, then a dense projection
        projected = s.mean(axis=(1, 2)) @ kernel + bias
    else:  # maps of one size: a 1x1 convolution
        projected = s @ kernel.reshape(kernel.shape[-2:]) + bias
    expected = 0.5 * ((projected - t) ** 2).reshape(len(x), -1).mean(axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_at_an_identity_projection_the_hint_is_keras_feature_distillation():
    """Keras 3's FeatureDistillation(loss="mse") compares two layers of one shape directly; a hint
    is that loss through a learned projection (so the shapes may differ), the same at identity."""
    from keras.distillation import FeatureDistillation

    from pykd.kd.hint import Hint, HintTerm

    teacher, student = _hint_models(student_channels=12)
    term = HintTerm(Hint("t_conv", "s_conv"), teacher, student)
    term.projection.set_weights([np.eye(12, dtype=np.float32)[None, None], np.zeros(12, np.float32)])
    x = np.random.default_rng(1).uniform(0, 255, (6, SIZE, SIZE, 3)).astype(np.float32)
    s_feature, _ = term.student(x)
    t_feature, _ = term.teacher_outputs(x)
    ours = float(tf.reduce_mean(term.per_row(s_feature, t_feature)))
    reference = FeatureDistillation(loss="mse", teacher_layer_name="t_conv", student_layer_name="s_conv")
    reference.validate_model_compatibility(teacher, student)
    assert ours == pytest.approx(float(reference.compute_loss(t_feature, s_feature)), rel=1e-6)
    assert ours > 0


def test_a_hint_adds_its_weighted_term_to_the_loss(digits):
    table = pd.read_csv(digits["train_csv"]).head(32)
    options = dict(directory=digits["directory"], classes=digits["classes"], batch_size=len(table), seed=6,
                   alpha=0.5, learning_rate=1e-2, verbose=0)

    def run(weight, epochs=3, history=False, **more):
        teacher, student = _hint_models()
        hint = {"teacher_layer": "t_conv", "student_layer": "s_conv", "weight": weight}
        out = pykd.distill(teacher, student, table, epochs=epochs, hint=hint, **options, **more)
        return out if history else out.to_frame()

    once, twice = run(1.0), run(2.0)
    assert list(once) == list(pd.DataFrame(run(1.0, epochs=1, history=True).records))  # one column order
    assert twice["hint_loss"].iloc[0] == pytest.approx(2 * once["hint_loss"].iloc[0], rel=1e-6)
    labeled = table["label"].notna().mean()
    for frame in (once, twice):  # loss = alpha * hard (over labeled rows) + (1 - alpha) * soft + hint, per row
        np.testing.assert_allclose(frame["loss"], 0.5 * frame["student_loss"] * labeled
                                   + 0.5 * frame["distillation_loss"] + frame["hint_loss"], rtol=1e-5)
    assert once["hint_loss"].iloc[-1] < once["hint_loss"].iloc[0]  # the projection and student learn the hint
    # That a run with a hint resumes exactly is tests/test_resume.py's.


def test_a_hint_names_missing_layers_and_needs_a_teacher_model(digits):
    teacher, student = _hint_models()
    common = dict(directory=digits["directory"], classes=digits["classes"], epochs=1, verbose=0)
    with pytest.raises(DataError, match="The student has no layer 'conv'; the closest names are 's_conv'"):
        pykd.distill(teacher, student, digits["train_csv"], hint={"teacher_layer": "t_conv", "student_layer": "conv"},
                     **common)
    with pytest.raises(DataError, match="Unknown hint settings: 'layer'"):
        pykd.distill(teacher, student, digits["train_csv"], hint={"layer": "t_conv"}, **common)
    logits = pykd.teacher_logits(teacher, digits["train_csv"], directory=digits["directory"])
    with pytest.raises(DataError, match="the teacher is precomputed logits"):
        pykd.distill(logits, student, digits["train_csv"], hint={"teacher_layer": "t_conv", "student_layer": "s_conv"},
                     **common)


def test_mixup_accuracy_credits_each_label_by_its_weight():
    from pykd.run.steps import _correct, _mixed

    # An ideal predictor of each mixture's larger part: right by the larger weight, not 0 or 1.
    labels = tf.constant([0, 1, 2, 3], tf.int32)
    mask = tf.constant([1.0, 1.0, 1.0, 0.0])
    partner = tf.constant([1, 2, 3, 0], tf.int32)
    weight = tf.constant([0.9, 0.2, 0.6, 0.5])
    logits = tf.one_hot([0, 2, 2, 0], 4) * 5.0  # row 1's larger part is its partner's (class 2)
    hard = tf.zeros(4)
    _, correct = _mixed(hard, _correct(logits, labels, mask), logits, labels, mask, partner, weight)
    np.testing.assert_allclose(correct.numpy(), [0.9, 0.8, 0.6, 0.5])  # row 3: unlabeled, its partner's half


def test_noisy_student_rounds_keep_their_own_checkpoints_and_hint_the_students_layer(digits, tmp_path):
    table = pd.read_csv(digits["train_csv"]).head(48)
    teacher, student = _hint_models()
    histories = pykd.noisy_student(teacher, student, table, rounds=2, directory=digits["directory"],
                                   classes=digits["classes"], batch_size=16, epochs=1, seed=2, verbose=0,
                                   augment=AUGMENT, checkpoint_dir=tmp_path / "ck",
                                   hint={"teacher_layer": "t_conv", "student_layer": "s_conv"})
    assert [h.params["hint"]["teacher_layer"] for h in histories] == ["t_conv", "s_conv"]
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["round-1", "round-2"]
    with pytest.raises(DataError, match="A noised student cannot use mixup"):
        pykd.noisy_student(teacher, student, table, directory=digits["directory"], augment={"mixup": 0.2})


def _nested_hint_models():
    """A teacher around a nested Sequential (t_base) and a student around a functional backbone holding
    a functional block (two deep, called with training=False as classifier() calls its backbone)."""
    keras.utils.set_random_seed(0)
    base = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Rescaling(1 / 255),
                             keras.layers.Conv2D(12, 3, padding="same", activation="relu", name="t_conv")],
                            name="t_base")
    teacher = keras.Sequential([keras.Input((SIZE, SIZE, 3)), base, keras.layers.GlobalAveragePooling2D(),
                                keras.layers.Dense(10)])
    x = keras.Input((SIZE, SIZE, 3))
    block = keras.Model(x, keras.layers.Conv2D(6, 1, activation="relu")(
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="s_conv")(keras.layers.Rescaling(1 / 255)(x))),
        name="block")
    x = keras.Input((SIZE, SIZE, 3))
    backbone = keras.Model(x, keras.layers.MaxPooling2D()(block(x)), name="backbone")
    x = keras.Input((SIZE, SIZE, 3))
    student = keras.Model(x, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(backbone(x, training=False))))
    return teacher, student


def test_a_hint_cut_inside_nested_models_shares_their_weights():
    from pykd.kd.hint import Hint, HintTerm

    teacher, student = _nested_hint_models()
    block = student.get_layer("backbone").get_layer("block")
    # A path, any depth, in a Sequential or a functional model; a bare name found in one nested model only.
    for student_layer in ("backbone/block/s_conv", "s_conv"):
        term = HintTerm(Hint("t_base/t_conv", student_layer), teacher, student)
        x = np.random.default_rng(2).uniform(0, 255, (3, SIZE, SIZE, 3)).astype(np.float32)
        with tf.GradientTape() as tape:
            s_feature, outputs = term.student(x, training=True)
            hint = tf.reduce_mean(term.per_row(s_feature, term.teacher_outputs(x)[0]))
        inner = keras.Model(block.inputs[0], block.get_layer("s_conv").output)
        np.testing.assert_allclose(s_feature.numpy(), inner(x).numpy(), rtol=1e-6)
        np.testing.assert_allclose(outputs.numpy(), student(x).numpy(), rtol=1e-6)
        assert {id(v) for v in term.student.trainable_variables} == {id(v) for v in student.trainable_variables}
        kernel = block.get_layer("s_conv").kernel  # the student's own variable, reached through the hint
        assert float(tf.reduce_max(tf.abs(tape.gradient(hint, kernel)))) > 0
    term = HintTerm(Hint("t_base", "backbone"), teacher, student)  # a nested model's own output
    assert term.teacher.outputs[0].shape[1:] == (SIZE, SIZE, 12) and term.student.outputs[0].shape[1:] == (8, 8, 6)


class _Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = keras.layers.Conv2D(4, 3, name="sub_conv")

    def call(self, x):
        return self.conv(x)


def test_a_hint_refuses_unknown_ambiguous_or_unreachable_paths_naming_the_closest():
    from pykd.kd.hint import Hint, HintTerm

    teacher, student = _nested_hint_models()
    with pytest.raises(DataError, match="no layer 'backbone/blok/s_conv'; the closest names are "
                                        "'backbone/block/s_conv'.* such as 'backbone/") as caught:
        HintTerm(Hint("t_base/t_conv", "backbone/blok/s_conv"), teacher, student)
    assert 'the closest names are "backbone/block/s_conv"' in caught.value.render("r")["problem"]
    x = keras.Input((SIZE, SIZE, 3))
    twins = keras.Model(x, keras.layers.Add()([keras.Sequential([keras.layers.Conv2D(2, 1, name="c")], name=n)(x)
                                               for n in ("left", "right")]))
    with pytest.raises(DataError, match="nested models each have a layer 'c': 'left/c', 'right/c'"):
        HintTerm(Hint("t_base/t_conv", "c"), teacher, twins)
    x = keras.Input((SIZE, SIZE, 3))
    holder = keras.Model(x, keras.layers.Flatten()(_Subclassed(name="sub")(x)))
    holder(np.zeros((1, SIZE, SIZE, 3), np.float32))
    with pytest.raises(DataError, match="'sub/sub_conv' is inside 'sub', a subclassed model"):
        HintTerm(Hint("t_base/t_conv", "sub/sub_conv"), teacher, holder)
    assert HintTerm(Hint("t_base/t_conv", "sub"), teacher, holder).student.outputs[0].shape[-1] == 4


def test_a_hint_into_nested_backbones_trains_the_students_own_layers(digits):
    teacher, student = _nested_hint_models()
    kernel = student.get_layer("backbone").get_layer("block").get_layer("s_conv").kernel
    before = kernel.numpy()
    frame = pykd.distill(teacher, student, pd.read_csv(digits["train_csv"]).head(32), directory=digits["directory"],
                         classes=digits["classes"], batch_size=32, epochs=3, seed=6, learning_rate=1e-2, verbose=0,
                         hint={"teacher_layer": "t_base/t_conv", "student_layer": "backbone/block/s_conv"}).to_frame()
    assert np.isfinite(frame["hint_loss"]).all() and frame["hint_loss"].iloc[-1] < frame["hint_loss"].iloc[0]
    assert not np.allclose(kernel.numpy(), before)


def test_sweeps_keep_the_teacher_model_for_a_hint(digits):
    teacher, student = _hint_models()
    common = dict(directory=digits["directory"], classes=digits["classes"], epochs=1, verbose=0)
    table = pykd.sweep(teacher, student, pd.read_csv(digits["train_csv"]).head(32), temperatures=[2.0], alphas=[0.5],
                       hint={"teacher_layer": "t_conv", "student_layer": "s_conv"}, **common)
    assert len(table) == 1 and np.isfinite(table["hint_loss"].iloc[0])
