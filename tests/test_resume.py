"""A run stopped after an epoch and resumed from its checkpoint ends as the same run uninterrupted:
the same history, to the last digit, whatever the run holds (augmentation, mixing, an unseeded
draw, a hint, cached features, a checkpoint on a URL).

Each case runs once uninterrupted, its checkpoint copied as it stood after epoch 2 (the checkpoint
is written before the callbacks run), then resumes that copy to the end. A kill mid-epoch is
tests/test_reliability.py's SIGKILL test; several workers are tests/test_workers.py's.
"""

from __future__ import annotations

import shutil

import keras
import numpy as np
import pandas as pd
import pytest
from conftest import tiny_model
from test_features import images, small_frozen_student, small_student, teacher  # noqa: F401  (module fixtures)
from test_recipes import _nested_hint_models
from test_storage import copy_to, ram_folder

import pykd
from pykd._tf import tf
from pykd.core import storage

EPOCHS, STOP_AFTER = 3, 2


def _copy(folder: str, to: str) -> None:
    """A checkpoint folder copied, on local disk or under a URL."""
    if not storage.is_url(folder):
        shutil.copytree(folder, to)
        return
    storage.makedirs(to)
    for name in storage.listdir(folder):
        tf.io.gfile.copy(storage.join(folder, name), storage.join(to, name))


def _distill(table, directory, classes, **options):
    models = tiny_model(seed=1), tiny_model(seed=2)
    if options.get("seed", 0) is None:
        np.random.seed()  # an unseeded run draws its own seed, as in a new session (tiny_model() seeded NumPy)
    return pykd.distill(*models, table, directory=directory, classes=classes, batch_size=8, verbose=0,
                        **options)


def _cases(digits, images, teacher, random_images):  # noqa: F811
    """{case: run(epochs, checkpoint_dir, resumed, **more) -> History}."""
    table = pd.read_csv(digits["train_csv"]).head(24)
    common = (table, digits["directory"], digits["classes"])

    def augmented(epochs, checkpoint_dir, resumed, **more):
        return _distill(*common, epochs=epochs, checkpoint_dir=checkpoint_dir, seed=4,
                        validation=digits["validation_csv"], augment={"rotation_range": 10, "horizontal_flip": True},
                        **more)

    def cutmix(epochs, checkpoint_dir, resumed, **more):
        return _distill(*common, epochs=epochs, checkpoint_dir=checkpoint_dir, seed=4, augment={"cutmix": 1.0}, **more)

    def unseeded(epochs, checkpoint_dir, resumed, **more):
        # seed=None: the seed keying the shifts and the mixup is drawn once and kept in the checkpoint.
        return _distill(*common, epochs=epochs, checkpoint_dir=checkpoint_dir, seed=None,
                        augment={"width_shift_range": 0.3, "horizontal_flip": True, "mixup": 0.4}, **more)

    def hint(epochs, checkpoint_dir, resumed, **more):
        # Layers inside nested models, by path: the cut models share the student's weights.
        teacher, student = _nested_hint_models()
        return pykd.distill(teacher, student, table.head(16), directory=digits["directory"], classes=digits["classes"],
                            batch_size=16, seed=6, alpha=0.5, learning_rate=1e-2, verbose=0, epochs=epochs,
                            hint={"teacher_layer": "t_base/t_conv", "student_layer": "backbone/block/s_conv"},
                            checkpoint_dir=checkpoint_dir, **more)

    def cached_features(epochs, checkpoint_dir, resumed, **more):
        return pykd.distill(teacher, small_frozen_student(), images["train"], directory=images["directory"],
                            classes=images["classes"], batch_size=16, seed=0, verbose=0, epochs=epochs,
                            checkpoint_dir=checkpoint_dir, **more)

    directory8, table8 = random_images(32, size=8)

    def features_from_the_checkpoint(epochs, checkpoint_dir, resumed, **more):
        # Resumed with a student rebuilt with other frozen weights: the checkpoint's are the ones to use.
        return pykd.train_scratch(small_student(2 if resumed else 1), table8, directory=directory8, validation=table8,
                                  batch_size=8, seed=0, verbose=0, epochs=epochs, checkpoint_dir=checkpoint_dir, **more)

    url = copy_to(ram_folder(), digits, n_train=24, n_val=8)

    def on_a_url(epochs, checkpoint_dir, resumed, **more):
        return pykd.distill(tiny_model(seed=1), tiny_model(seed=2), url["train_csv"], directory=url["directory"],
                            validation=url["validation_csv"], classes=digits["classes"], batch_size=8, seed=3,
                            verbose=0, epochs=epochs, checkpoint_dir=checkpoint_dir, **more)

    return {f.__name__: f for f in (augmented, cutmix, unseeded, hint, cached_features, features_from_the_checkpoint,
                                    on_a_url)}


CASES = ["augmented", "cutmix", "unseeded", "hint", "cached_features", "features_from_the_checkpoint", "on_a_url"]


@pytest.mark.parametrize("case", CASES)
def test_a_resumed_run_ends_as_the_uninterrupted_run(case, digits, images, teacher, random_images, tmp_path):  # noqa: F811
    run = _cases(digits, images, teacher, random_images)[case]
    root = ram_folder() if case == "on_a_url" else str(tmp_path)
    whole_dir, copy_dir = storage.join(root, "whole"), storage.join(root, "after-epoch-2")

    class KeepTheCheckpoint(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == STOP_AFTER - 1:
                _copy(whole_dir, copy_dir)

    whole = run(EPOCHS, whole_dir, False, callbacks=[KeepTheCheckpoint()])
    resumed = run(EPOCHS, copy_dir, True, resume=True)
    assert resumed.params["resumed_after_epoch"] == STOP_AFTER
    if "features" in case:
        assert resumed.params["feature_cache"] is not None
    pd.testing.assert_frame_equal(resumed.to_frame(), whole.to_frame(), check_exact=False, rtol=1e-6)
    if case == "unseeded":  # which means something only if another unseeded run draws other views
        other = run(1, storage.join(root, "other"), False).to_frame()
        assert other["loss"].iloc[0] != whole.to_frame()["loss"].iloc[0]


@pytest.mark.parametrize("case", ["cutmix", "on_a_url"])
def test_a_run_resumed_with_more_epochs_ends_as_the_longer_run(case, digits, images, teacher, random_images,  # noqa: F811
                                                               tmp_path):
    """Only epochs may grow: at a fixed rate, a run of 2 epochs resumed with epochs=3 is the run of 3.

    (The default rate's schedule spans the steps of its call, so a longer call goes on along its own,
    longer schedule: the optimizer object keeps the rate fixed here.)
    """
    run = _cases(digits, images, teacher, random_images)[case]
    root = ram_folder() if case == "on_a_url" else str(tmp_path)
    whole = run(EPOCHS, storage.join(root, "whole"), False, optimizer=keras.optimizers.Adam(1e-3))
    run(STOP_AFTER, storage.join(root, "shorter"), False, optimizer=keras.optimizers.Adam(1e-3))
    longer = run(EPOCHS, storage.join(root, "shorter"), True, resume=True, optimizer=keras.optimizers.Adam(1e-3))
    assert longer.params["resumed_after_epoch"] == STOP_AFTER
    pd.testing.assert_frame_equal(longer.to_frame(), whole.to_frame(), check_exact=False, rtol=1e-6)
