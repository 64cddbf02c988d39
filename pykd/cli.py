"""Command line: `python -m pykd demo` and `python -m pykd distill ...`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .errors import DataError


def _inference_ms_per_image(model, image_size, batch_size: int = 64, repeats: int = 20) -> float:
    """Median wall time of a compiled forward pass, per image."""
    import numpy as np

    from ._tf import tf

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


def run_demo(args: argparse.Namespace) -> int:
    import pandas as pd

    from . import datasets, models
    from .api import distill, evaluate, train_scratch
    from .images import Augmentation

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = datasets.write_digits(out / "data", size=args.size, labeled_fraction=args.labeled_fraction, seed=args.seed)
    print(
        f"Data: {data['n_train']} training images ({data['n_labeled']} labeled, "
        f"{data['n_train'] - data['n_labeled']} unlabeled), {data['n_validation']} validation images in {data['directory']}"
    )
    shape = (args.size, args.size, 3)
    common = dict(directory=data["directory"], validation=data["validation_csv"], classes=data["classes"],
                  batch_size=args.batch_size, seed=args.seed, verbose=args.verbose)

    # The teacher learns shift invariance from augmentation; the students train on the
    # plain images with the same settings, so they differ by the loss alone.
    augment = Augmentation(rotation_range=10, width_shift_range=0.1, height_shift_range=0.1, zoom_range=0.1)
    print(f"\n1/3 Training the teacher on the {data['n_labeled']} labeled images ...")
    teacher = models.example_teacher(shape, seed=args.seed)
    teacher_history = train_scratch(
        teacher, data["train_csv"], epochs=args.teacher_epochs, steps_per_epoch=args.teacher_steps, learning_rate=1e-3,
        augment=augment, **common,
    )

    print(f"\n2/3 Distilling into a {models.example_student(shape).count_params():,}-parameter student "
          f"on all {data['n_train']} images ...")
    distilled = models.example_student(shape, seed=args.seed + 1)
    distill_history = distill(
        teacher, distilled, data["train_csv"], epochs=args.student_epochs, temperature=args.temperature,
        alpha=args.alpha, learning_rate=args.learning_rate, **common,
    )
    steps = distill_history.params["steps_per_epoch"]

    print(f"\n3/3 Training the same student from scratch with the same budget ({args.student_epochs} x {steps} steps) ...")
    scratch = models.example_student(shape, seed=args.seed + 1)
    scratch_history = train_scratch(
        scratch, data["train_csv"], epochs=args.student_epochs, steps_per_epoch=steps,
        learning_rate=args.learning_rate, **common,
    )

    rows = [["model", "val accuracy", "parameters", "ms / image"]]
    results = {}
    for name, model in (("teacher", teacher), ("student (scratch)", scratch), ("student (distilled)", distilled)):
        score = evaluate(model, data["validation_csv"], directory=data["directory"], classes=data["classes"])
        ms = _inference_ms_per_image(model, (args.size, args.size))
        results[name] = {"accuracy": score["accuracy"], "params": model.count_params(), "ms_per_image": ms}
        rows.append([name, f"{score['accuracy']:.3f}", f"{model.count_params():,}", f"{ms:.3f}"])
    print("\n" + _table(rows))

    frames = []
    for name, h in (("teacher", teacher_history), ("scratch", scratch_history), ("distilled", distill_history)):
        frames.append(h.to_frame().assign(model=name))
    pd.concat(frames).to_csv(out / "history.csv", index=False)
    distill_history.plot(out / "distilled_history.png")
    _plot_comparison(scratch_history, distill_history, out / "students.png")
    (out / "results.json").write_text(json.dumps(results, indent=2))
    gain = results["student (distilled)"]["accuracy"] - results["student (scratch)"]["accuracy"]
    ratio = results["teacher"]["params"] / results["student (distilled)"]["params"]
    print(
        f"\nThe distilled student is {ratio:.0f}x smaller than the teacher and "
        f"{'beats' if gain > 0 else 'does NOT beat'} the scratch student by {gain * 100:+.1f} points."
    )
    print(f"Wrote {out / 'history.csv'}, {out / 'distilled_history.png'}, {out / 'students.png'} "
          f"and {out / 'results.json'} in {time.perf_counter() - started:.0f} s.")
    return 0


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


def run_distill(args: argparse.Namespace) -> int:
    from .api import distill
    from .images import Augmentation
    from .models import load_model, save_model

    y_col = args.y_col.split(",") if "," in args.y_col else args.y_col
    augment = None
    if args.augment:
        augment = Augmentation(rotation_range=40, width_shift_range=0.2, height_shift_range=0.2, shear_range=0.2,
                               zoom_range=0.5, horizontal_flip=True, fill_mode="reflect")
    student = load_model(args.student, role="student")
    history = distill(
        args.teacher, student, args.train, directory=args.directory, validation=args.validation,
        x_col=args.x_col, y_col=y_col, image_size=args.image_size, rescale=args.rescale,
        batch_size=args.batch_size, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
        validation_steps=args.validation_steps, temperature=args.temperature, alpha=args.alpha,
        learning_rate=args.learning_rate, augment=augment, seed=args.seed, verbose=args.verbose,
        checkpoint_dir=args.checkpoint_dir, resume=args.resume, on_bad_image=args.on_bad_image,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    history.to_frame().to_csv(out / "history.csv", index=False)
    history.plot(out / "history.png")
    print(f"Wrote {out / 'history.csv'} and {out / 'history.png'}")
    if args.save_student:
        print(f"Saved the student to {save_model(student, args.save_student)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pykd", description="Knowledge distillation for image classifiers.")
    sub = parser.add_subparsers(dest="command", required=True)

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
    demo.add_argument("--learning-rate", type=float, default=3e-3)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    demo.set_defaults(run=run_demo)

    run = sub.add_parser("distill", help="distill your own teacher into your own student")
    run.add_argument("--teacher", required=True, help=".keras/.h5 teacher model")
    run.add_argument("--student", required=True, help=".keras/.h5 student model")
    run.add_argument("--train", required=True, help="CSV with image ids and labels")
    run.add_argument("--directory", required=True, help="folder holding the images")
    run.add_argument("--validation", help="validation CSV")
    run.add_argument("--x-col", default="image_id")
    run.add_argument("--y-col", default="label", help="label column, or comma-separated one-hot columns")
    run.add_argument("--image-size", type=int, nargs=2)
    run.add_argument("--rescale", type=float)
    run.add_argument("--batch-size", type=int, default=32)
    run.add_argument("--epochs", type=int, default=10)
    run.add_argument("--steps-per-epoch", type=int)
    run.add_argument("--validation-steps", type=int)
    run.add_argument("--temperature", type=float, default=3.0)
    run.add_argument("--alpha", type=float, default=0.1)
    run.add_argument("--learning-rate", type=float, default=1e-3)
    run.add_argument("--augment", action="store_true", help="the R tutorial's augmentation")
    run.add_argument("--seed", type=int)
    run.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    run.add_argument("--checkpoint-dir")
    run.add_argument("--resume", action="store_true")
    run.add_argument("--on-bad-image", default="error", choices=("error", "skip"))
    run.add_argument("--save-student", help="where to save the trained student (.keras)")
    run.add_argument("--out", default="pykd-output", help="folder for history.csv and history.png")
    run.set_defaults(run=run_distill)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
