"""tf.distribute: MirroredStrategy on two logical CPUs matches one device."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, {tests!r})
    from conftest import tiny_model
    import pykd
    data = pykd.datasets.write_digits({data!r}, size=16)
    out = {{}}
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    for name, strategy in (("one", None), ("two", mirrored)):
        for cache in (True, False):
            student = tiny_model(seed=2)
            history = pykd.distill(
                tiny_model(seed=1), student, data["train_csv"], directory=data["directory"],
                validation=data["validation_csv"], classes=data["classes"], batch_size=20, epochs=2,
                steps_per_epoch=6, validation_steps=5, seed=4, verbose=0, strategy=strategy, cache_teacher=cache,
            )
            out[f"{{name}}-{{cache}}"] = {{"history": history.to_dict(), "replicas": history.params["replicas"],
                                          "image_cache": history.params["image_cache"],
                                          "weights": [w.tolist() for w in student.get_weights()]}}
    # A NaN under the strategy stops at the step where it happened, the update not applied.
    keras = pykd._tf.keras
    linear = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(),
                               keras.layers.Dense(10, kernel_initializer=keras.initializers.GlorotUniform(seed=3))])
    try:
        pykd.train_scratch(linear, data["train_csv"], directory=data["directory"], classes=data["classes"],
                           batch_size=20, epochs=2, steps_per_epoch=6, optimizer="sgd", learning_rate=1e38, seed=4,
                           verbose=0, strategy=mirrored)
    except pykd.NonFiniteLossError as err:
        out["nan"] = {{"epoch": err.epoch, "step": err.step,
                      "finite": all(bool(np.isfinite(w).all()) for w in linear.get_weights())}}
    json.dump(out, open(sys.argv[1], "w"))
    """
)


def test_mirrored_strategy_on_two_cpus_matches_one_device(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(tests=os.path.dirname(__file__), data=str(tmp_path / "digits")))
    out = tmp_path / "out.json"
    proc = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = json.loads(out.read_text())
    assert runs["nan"] == {"epoch": 1, "step": 2, "finite": True}
    # The teacher-cache pass makes a second pass over the images, so those runs read decoded copies.
    assert [runs[f"two-{cache}"]["image_cache"] for cache in ("True", "False")] == [True, False]
    for cache in ("True", "False"):
        one, two = runs[f"one-{cache}"], runs[f"two-{cache}"]
        assert (one["replicas"], two["replicas"]) == (1, 2)
        for column, values in one["history"].items():
            np.testing.assert_allclose(values, two["history"][column], rtol=0, atol=1e-5, err_msg=column)
        for a, b in zip(one["weights"], two["weights"]):  # the user's student was trained in place
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
