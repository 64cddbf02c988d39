"""`python -m pykd demo`: a teacher, a distilled student and the same student from scratch
on bundled digits (offline), compared on validation accuracy, size and speed; then the
distilled student exported as float32 and int8 .tflite files, weighed by compare()."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import datasets, models
from ._tf import tf
from .api import distill, train_scratch
from .data.augmentation import Augmentation
from .serve.compare import compare
from .serve.evaluate import evaluate
from .serve.export import export
from .serve.predict import predict


def add_parser(sub) -> None:
    demo = sub.add_parser("demo", help="teacher vs distilled vs scratch student on bundled digits (offline)")
    demo.add_argument("--out", default="demo-output", help="folder for data, history CSV and plots")
    demo.add_argument("--size", type=int, default=32, help="image size in pixels")
    demo.add_argument("--labeled-fraction", type=float, default=0.25)
    demo.add_argument("--teacher-epochs", type=int, default=30)
    demo.add_argument("--teacher-steps", type=int, default=20, help="teacher steps per epoch (the labeled set is small)")
    demo.add_argument("--student-epochs", type=int, default=20)
    demo.add_argument("--batch-size", type=int, default=32)
    demo.add_argument("--temperature", type=float, default=3.0)
    demo.add_argument("--alpha", type=float, default=0.1)
    demo.add_argument("--learning-rate", type=float, default=None,
                      help="the students' peak learning rate (default: pykd's, 3e-3)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    demo.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = datasets.write_digits(out / "data", size=args.size, labeled_fraction=args.labeled_fraction, seed=args.seed)
    print(f"Data: {data['n_train']} training images ({data['n_labeled']} labeled, "
          f"{data['n_train'] - data['n_labeled']} unlabeled), {data['n_validation']} validation images in "
          f"{data['directory']}")
    trained, histories = _train_three(data, args)
    results = _scores(trained, data, args.size)
    results["tflite"] = _tflite(trained["student (distilled)"], data, out)
    frames = [h.to_frame().assign(model=name) for name, h in histories.items()]
    pd.concat(frames).to_csv(out / "history.csv", index=False)
    histories["distilled"].plot(out / "distilled_history.png")
    _plot_comparison(histories["scratch"], histories["distilled"], out / "students.png")
    (out / "results.json").write_text(json.dumps(results, indent=2))
    gain = results["student (distilled)"]["accuracy"] - results["student (scratch)"]["accuracy"]
    ratio = results["teacher"]["params"] / results["student (distilled)"]["params"]
    print(f"\nThe distilled student is {ratio:.0f}x smaller than the teacher and "
          f"{'beats' if gain > 0 else 'does NOT beat'} the scratch student by {gain * 100:+.1f} points.")
    print(f"Wrote {out / 'history.csv'}, {out / 'distilled_history.png'}, {out / 'students.png'}, "
          f"{out / 'student.tflite'}, {out / 'student_int8.tflite'} and {out / 'results.json'} "
          f"in {time.perf_counter() - started:.0f} s.")
    return 0


def _train_three(data: dict, args: argparse.Namespace) -> tuple[dict, dict]:
    """The teacher on the labeled images, then one student distilled on all and one from scratch."""
    shape = (args.size, args.size, 3)
    common = dict(directory=data["directory"], validation=data["validation_csv"], classes=data["classes"],
                  batch_size=args.batch_size, seed=args.seed, verbose=args.verbose)
    # The teacher learns shift invariance from augmentation; the students train on the
    # plain images with the same settings, so they differ by the loss alone.
    augment = Augmentation(rotation_range=10, width_shift_range=0.1, height_shift_range=0.1, zoom_range=0.1)
    print(f"\n1/3 Training the teacher on the {data['n_labeled']} labeled images ...")
    teacher = models.example_teacher(shape, seed=args.seed)
    teacher_history = train_scratch(teacher, data["train_csv"], epochs=args.teacher_epochs,
                                    steps_per_epoch=args.teacher_steps, augment=augment, **common)
    print(f"\n2/3 Distilling into a {models.example_student(shape).count_params():,}-parameter student "
          f"on all {data['n_train']} images ...")
    distilled = models.example_student(shape, seed=args.seed + 1)
    distill_history = distill(teacher, distilled, data["train_csv"], epochs=args.student_epochs,
                              temperature=args.temperature, alpha=args.alpha, learning_rate=args.learning_rate, **common)
    steps = distill_history.params["steps_per_epoch"]
    print(f"\n3/3 Training the same student from scratch with the same budget ({args.student_epochs} x {steps} steps) ...")
    scratch = models.example_student(shape, seed=args.seed + 1)
    scratch_history = train_scratch(scratch, data["train_csv"], epochs=args.student_epochs, steps_per_epoch=steps,
                                    learning_rate=args.learning_rate, **common)
    trained = {"teacher": teacher, "student (scratch)": scratch, "student (distilled)": distilled}
    return trained, {"teacher": teacher_history, "scratch": scratch_history, "distilled": distill_history}


def _scores(trained: dict, data: dict, size: int) -> dict:
    """Each model's validation accuracy, parameters and speed, printed as a table."""
    rows = [["model", "val accuracy", "parameters", "ms / image"]]
    results = {}
    for name, model in trained.items():
        score = evaluate(model, data["validation_csv"], directory=data["directory"], classes=data["classes"])
        ms = _inference_ms_per_image(model, (size, size))
        results[name] = {"accuracy": score["accuracy"], "params": model.count_params(), "ms_per_image": ms}
        rows.append([name, f"{score['accuracy']:.3f}", f"{model.count_params():,}", f"{ms:.3f}"])
    print("\n" + _table(rows))
    return results


def _tflite(student, data: dict, out: Path) -> dict:
    """The distilled student as float32 and int8 .tflite files (the int8 one calibrated on the training
    images): compare()'s size, speed and accuracy, and how often each agrees with the Keras model."""
    print("\nExporting the distilled student as float32 and int8 .tflite files ...")
    files = {"float32": export(student, out / "student.tflite"),
             "int8": export(student, out / "student_int8.tflite", quantize="int8", representative=data["train_csv"],
                            directory=data["directory"])}
    common = dict(directory=data["directory"], classes=data["classes"])
    frame = compare(files, data["validation_csv"], **common).set_index("model")
    labels = predict(student, data["validation_csv"], **common)["label"]
    rows = [["file", "size (KiB)", "x float32", "ms / image", "ms / image, batch 1", "val accuracy",
             "agrees with Keras"]]
    results = {}
    for name, path in files.items():
        agreement = float((predict(path, data["validation_csv"], **common)["label"] == labels).mean())
        row = frame.loc[name]
        results[name] = {"path": str(path), "bytes": Path(path).stat().st_size, "params": int(row["params"]),
                         "ms_per_image": float(row["ms_per_image"]), "accuracy": float(row["accuracy"]),
                         "ms_per_image_batch1": float(row["ms_per_image_batch1"]), "agreement": agreement}
        results[name]["size_ratio"] = results[name]["bytes"] / Path(files["float32"]).stat().st_size
        rows.append([name, f"{results[name]['bytes'] / 1024:.1f}", f"{results[name]['size_ratio']:.2f}",
                     f"{row['ms_per_image']:.4f}", f"{row['ms_per_image_batch1']:.4f}", f"{row['accuracy']:.3f}",
                     f"{agreement:.3f}"])
    print(_table(rows))
    return results


def _inference_ms_per_image(model, image_size, batch_size: int = 64, repeats: int = 20) -> float:
    """Median wall time of a compiled forward pass, per image."""
    x = tf.random.uniform((batch_size, *image_size, 3), maxval=255.0)
    forward = tf.function(lambda t: model(t, training=False))
    forward(x)  # trace
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        forward(x).numpy()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1000 / batch_size


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _plot_comparison(scratch, distilled, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, h in (("scratch", scratch), ("distilled", distilled)):
        frame = h.to_frame()
        ax.plot(frame["epoch"], frame["val_accuracy"], marker="o", label=f"student ({name})")
    ax.set(title="Validation accuracy, same student, same budget", xlabel="epoch", ylabel="accuracy", ylim=(0, 1))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
