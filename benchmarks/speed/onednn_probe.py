"""The oneDNN micro-benchmark, run in a fresh process per TF_ENABLE_ONEDNN_OPTS setting; prints img/s as JSON.

    TF_ENABLE_ONEDNN_OPTS=0 python benchmarks/speed/onednn_probe.py STEPS

TensorFlow reads TF_ENABLE_ONEDNN_OPTS once, when it loads, so each setting needs
its own process; probes.onednn starts this script alternately with =0 and =1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for common


def cases() -> tuple[dict, object]:
    """The timed functions (one batch of 64 in, compiled with tf.function) and their input batch."""
    import bench_models as bm
    import common

    import pykd
    from pykd._tf import keras, tf
    from pykd.data.augmentation import build_augmenter
    from pykd.kd.teacher import ModelTeacher

    t32 = bm.teacher()
    t16 = ModelTeacher([t32], precision="bfloat16")  # the same model, computing in bfloat16
    s32 = bm.student()
    aug = build_augmenter(pykd.Augmentation(**common.AUGMENT), 0)
    opt = keras.optimizers.Adam(1e-3)
    x = tf.random.uniform((bm.BATCH_SIZE,) + bm.IMAGE_SHAPE, 0, 255, seed=0)
    y = tf.zeros((bm.BATCH_SIZE,), tf.int32)
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def student_step(x):
        with tf.GradientTape() as tape:
            loss = ce(y, s32(x, training=True))
        g = tape.gradient(loss, s32.trainable_variables)
        opt.apply_gradients(zip(g, s32.trainable_variables))
        return loss

    def f32(x):
        return t32(x, training=False)

    def f16(x):
        return t16.logits(x)

    def fa(x):
        return aug(x, training=True)

    return {
        "teacher forward fp32": tf.function(f32),
        "teacher forward fp32 + XLA": tf.function(f32, jit_compile=True),
        "teacher forward bf16": tf.function(f16),
        "student train step fp32": tf.function(student_step),
        "augmenter (pykd.data.augmentation.build_augmenter)": tf.function(fa),
    }, x


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("steps", type=int, help="timed calls per case")
    args = parser.parse_args()
    import bench_models as bm
    import numpy as np

    fns, x = cases()
    for fn in fns.values():
        np.asarray(fn(x))
        np.asarray(fn(x))
    out = {}
    for name, fn in fns.items():
        t0 = time.perf_counter()
        for _ in range(args.steps):
            r = fn(x)
        np.asarray(r)
        out[name] = args.steps * bm.BATCH_SIZE / (time.perf_counter() - t0)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
