"""The accuracy effect of running a frozen backbone in bfloat16 (issue 35): `.venv/bin/python
benchmarks/frozen/prefix_precision.py`.

Under augmentation pykd runs the student's frozen prefix outside the gradient tape in
frozen_precision ("auto": bfloat16 where the hardware computes it natively). This measures what
bfloat16 costs in accuracy against float32, paired, on real images: Fashion-MNIST (pykd.datasets,
--n-train training and 2,000 test images, 28x28 grey), a CNN teacher trained on the training rows,
and a student made of the teacher's own convolutional base (frozen with set_trainable) under a new
head, distilled with flips and shifts; per seed the same start, once with frozen_precision="float32"
and once "bfloat16" (forced: bfloat16 is emulated where the CPU lacks it, slower but computing the
same numbers). Writes bench-output/prefix_precision.json and .md: the test accuracy per seed, the
mean paired difference and its standard error.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for common

import common  # noqa: E402  (puts this checkout's pykd first on sys.path)
from common import log  # noqa: E402

import pykd  # noqa: E402
from pykd._tf import keras  # noqa: E402

AUGMENT = dict(horizontal_flip=True, width_shift_range=0.1, height_shift_range=0.1)


def teacher_model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    base = keras.Sequential([keras.Input((28, 28, 3)), layers.Rescaling(1 / 255),
                             layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
                             layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
                             layers.Conv2D(64, 3, activation="relu"), layers.GlobalAveragePooling2D()], name="base")
    inputs = keras.Input((28, 28, 3))
    return keras.Model(inputs, layers.Dense(10)(layers.Dropout(0.3)(base(inputs))), name="teacher")


def student_model(teacher: keras.Model, seed: int) -> keras.Model:
    """The teacher's base, copied and frozen (a fixed extractor), under a new head."""
    keras.utils.set_random_seed(seed)
    base = keras.models.clone_model(teacher.get_layer("base"))
    base.set_weights(teacher.get_layer("base").get_weights())
    pykd.models.set_trainable(base, False)
    inputs = keras.Input((28, 28, 3))
    x = keras.layers.Dense(32, activation="relu")(base(inputs))
    return keras.Model(inputs, keras.layers.Dense(10)(x), name="student")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n-train", type=int, default=8000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", default=str(common.OUT))
    args = parser.parse_args()
    started = time.perf_counter()
    with common.scratch_dir("pykd-prefix-precision-") as work:
        data = pykd.datasets.fashion_mnist(work, n_train=args.n_train, n_test=2000)
        table = dict(directory=data["directory"], classes=data["classes"], verbose=0)
        teacher = teacher_model(0)
        pykd.train_scratch(teacher, data["train_csv"], epochs=8, learning_rate=2e-3, seed=0, **table)
        teacher_accuracy = pykd.evaluate(teacher, data["test_csv"], directory=data["directory"])["accuracy"]
        log(f"teacher: {teacher_accuracy:.4f}")
        rows = []
        for seed in range(args.seeds):
            row = {"seed": seed}
            for precision in ("float32", "bfloat16"):
                student = student_model(teacher, 100 + seed)
                history = pykd.distill(teacher, student, data["train_csv"], validation=data["test_csv"],
                                       epochs=args.epochs, seed=seed, augment=AUGMENT, learning_rate=2e-3,
                                       frozen_precision=precision, **table)
                row[precision] = history.records[-1]["val_accuracy"]
                row[f"{precision}_prefix"] = history.params["frozen_prefix"]
                log(f"seed {seed} {precision}: {row[precision]:.4f} ({history.params['seconds']:.0f} s)")
            rows.append(row)
    diffs = [r["bfloat16"] - r["float32"] for r in rows]
    mean = statistics.mean(diffs)
    se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
    result = {"teacher_accuracy": teacher_accuracy, "rows": rows, "mean_difference": mean, "paired_se": se,
              "n_train": args.n_train, "epochs": args.epochs, "seconds": round(time.perf_counter() - started, 1)}
    lines = ["# The frozen prefix in bfloat16 against float32 (test accuracy, %)", "",
             f"Fashion-MNIST, {args.n_train} training and 2,000 test images; teacher {100 * teacher_accuracy:.2f}; "
             f"the student is the teacher's frozen base under a new head, {args.epochs} epochs with flips and shifts.",
             "", "| seed | float32 | bfloat16 | difference |", "|--:|--:|--:|--:|",
             *[f"| {r['seed']} | {100 * r['float32']:.2f} | {100 * r['bfloat16']:.2f} | "
               f"{100 * (r['bfloat16'] - r['float32']):+.2f} |" for r in rows],
             "", f"Mean difference {100 * mean:+.2f} points, paired se {100 * se:.2f} ({result['seconds']:.0f} s)."]
    common.write_results(common.output_dir(args.out), "prefix_precision", result, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
