"""Shared fixtures: real JPEGs on disk and tiny real Keras models.

Every test runs as on a machine whose hardware computes bfloat16 (PYKD_BFLOAT16=1), as recent
CPUs and GPUs do, so teacher_precision="auto" takes the bfloat16 path whatever CPU runs the
suite; tests marked both_precisions also run as on a machine without it (PYKD_BFLOAT16=0).
Subprocesses (workers, the CLI, R) inherit the setting.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["PYKD_BFLOAT16"] = "1"

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import pykd
from pykd._tf import tf

SIZE = 16  # small images keep every training step in the tests fast


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("both_precisions"):
        metafunc.parametrize("bf16_hardware", [True, False], ids=["bf16", "no-bf16"], indirect=True)


@pytest.fixture(autouse=True)
def bf16_hardware(request, monkeypatch) -> bool:
    """Whether the test runs as on hardware that computes bfloat16 natively (PYKD_BFLOAT16)."""
    native = getattr(request, "param", True)
    monkeypatch.setenv("PYKD_BFLOAT16", "1" if native else "0")
    return native


def teacher_as_run(teacher, x, history) -> np.ndarray:
    """The teacher's logits of `x` in the precision the run `history` took (float64, for references)."""
    from pykd.kd.teacher import ModelTeacher

    source = ModelTeacher([teacher], precision=history.params["teacher_precision"])
    return source.logits(tf.constant(x, tf.float32)).numpy().astype(np.float64)


@pytest.fixture(scope="session")
def digits(tmp_path_factory) -> dict:
    """scikit-learn digits written as 16x16 JPEGs in the Cassava layout."""
    return pykd.datasets.write_digits(tmp_path_factory.mktemp("digits"), size=SIZE)


@pytest.fixture(scope="session")
def trained(digits):
    """The example student (logit outputs) trained for a few steps on the labeled digits (shared: do not train it)."""
    model = pykd.models.example_student(input_shape=(SIZE, SIZE, 3), seed=0)
    pykd.train_scratch(model, digits["train_csv"], directory=digits["directory"], classes=digits["classes"],
                       epochs=2, steps_per_epoch=20, learning_rate=3e-3, seed=0, verbose=0)
    return model


def write_images(directory, n: int, size: int = 8, seed: int = 0, prefix: str = "img") -> list[str]:
    """n small random RGB JPEGs; returns their file names."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    names = []
    for i in range(n):
        name = f"{prefix}_{i:05d}.jpg"
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(os.path.join(directory, name))
        names.append(name)
    return names


@pytest.fixture
def random_images(tmp_path):
    """A factory: (directory, table) for n random images with labels 0..k-1."""

    def make(n: int, k: int = 3, size: int = 8, seed: int = 0):
        directory = tmp_path / f"images_{n}_{seed}"
        names = write_images(directory, n, size=size, seed=seed)
        labels = np.random.default_rng(seed).integers(0, k, n)
        return str(directory), pd.DataFrame({"image_id": names, "label": labels})

    return make


def tiny_model(size: int = SIZE, n_classes: int = 10, seed: int = 0, softmax: bool = False, name: str = "tiny"):
    """A real, very small conv net: trains in milliseconds per step."""
    import keras
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((size, size, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(4, 3, strides=2, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(n_classes, activation="softmax" if softmax else None),
        ],
        name=name,
    )


def pytest_sessionfinish(session, exitstatus):
    session.config.pykd_exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """End the process as soon as pytest has reported: tearing down a whole suite's TensorFlow state (models,
    tf.data threads, an embedded R) at interpreter exit took about half a minute, and nothing is left to write."""
    status = getattr(config, "pykd_exit_status", None)
    if status is not None and os.environ.get("PYKD_FAST_EXIT", "1") == "1":
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
