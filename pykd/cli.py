"""Command line: `python -m pykd demo | distill | train-scratch | evaluate | predict | export | compare`."""

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


def _augmentation(args: argparse.Namespace):
    from .images import Augmentation

    if args.augment:  # the R tutorial's settings
        return Augmentation(rotation_range=40, width_shift_range=0.2, height_shift_range=0.2, shear_range=0.2,
                            zoom_range=0.5, horizontal_flip=True, fill_mode="reflect")
    ranges = {k: getattr(args, k) for k in ("rotation_range", "width_shift_range", "height_shift_range", "zoom_range")}
    if not any(ranges.values()) and not args.horizontal_flip:
        return None
    return Augmentation(**ranges, horizontal_flip=args.horizontal_flip)


def _outputs(args: argparse.Namespace) -> tuple[Path, Path]:
    """The output folder and the trained student's path, both checked before any training."""
    from .resume import probe_writable

    out = Path(args.out)
    student = Path(args.save_student) if args.save_student else out / "student.keras"
    if student.suffix not in (".keras", ".h5"):
        raise DataError("Save models to a .keras (or .h5) file, not {path}.", "End the file name in .keras.",
                        path=str(student))
    probe_writable(out, "out")
    probe_writable(student.parent, "save_student")
    return out, student


def run_train(args: argparse.Namespace) -> int:
    """distill and train-scratch: train, then always write the student, history.csv and history.png."""
    from . import api
    from ._tf import keras
    from .models import load_model, save_model

    out, saved = _outputs(args)
    callbacks = []
    if args.early_stopping:
        monitor = "val_accuracy" if args.validation else "loss"
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=args.early_stopping,
                                                       restore_best_weights=True))
    options = dict(
        directory=args.directory, validation=args.validation, x_col=args.x_col,
        y_col=args.y_col.split(",") if "," in args.y_col else args.y_col,
        classes=args.classes.split(",") if args.classes else None, image_size=args.image_size, rescale=args.rescale,
        batch_size=args.batch_size, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
        validation_steps=args.validation_steps, optimizer=args.optimizer, learning_rate=args.learning_rate,
        augment=_augmentation(args), seed=args.seed, verbose=args.verbose, checkpoint_dir=args.checkpoint_dir,
        resume=args.resume, on_bad_image=args.on_bad_image, callbacks=callbacks,
    )  # fmt: skip
    student = load_model(args.student, role="student")
    if args.command == "distill":
        teacher = args.teacher[0] if len(args.teacher) == 1 else args.teacher
        history = api.distill(teacher, student, args.train, temperature=args.temperature, alpha=args.alpha,
                              teacher_outputs=args.teacher_outputs, cache_dir=args.cache_dir, **options)
    else:
        history = api.train_scratch(student, args.train, **options)
    out.mkdir(parents=True, exist_ok=True)
    history.to_frame().to_csv(out / "history.csv", index=False)
    history.plot(out / "history.png")
    print(f"Saved the trained student to {save_model(student, saved)}; wrote {out / 'history.csv'} and {out / 'history.png'}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from . import api

    y_col = args.y_col.split(",") if "," in args.y_col else args.y_col
    result = api.evaluate(args.model, args.data, directory=args.directory, x_col=args.x_col, y_col=y_col,
                          classes=args.classes.split(",") if args.classes else None, image_size=args.image_size,
                          rescale=args.rescale, batch_size=args.batch_size, on_bad_image=args.on_bad_image)
    print(json.dumps(result))
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from .predict import predict

    frame = predict(args.model, args.data, directory=args.directory, x_col=args.x_col,
                    classes=args.classes.split(",") if args.classes else None, image_size=args.image_size,
                    rescale=args.rescale, batch_size=args.batch_size, tta=args.tta, on_bad_image=args.on_bad_image)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    (frame[[args.x_col, "label"]] if args.submission else frame).to_csv(out, index=False)
    print(f"Wrote {len(frame)} predictions to {out}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from .deploy import export

    print(f"Exported {args.model} to {export(args.model, args.out)}")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from .deploy import compare

    models = dict(m.split("=", 1) if "=" in m else (Path(m).stem, m) for m in args.model)
    y_col = args.y_col.split(",") if "," in args.y_col else args.y_col
    frame = compare(models, args.data, directory=args.directory, x_col=args.x_col, y_col=y_col,
                    classes=args.classes.split(",") if args.classes else None, image_size=args.image_size,
                    rescale=args.rescale, batch_size=args.batch_size)
    print(frame.to_string(index=False))
    return 0


def _table_arguments(parser: argparse.ArgumentParser, folders: bool = False) -> None:
    """folders: --train and --validation may be folders of class subfolders, which need no --directory."""
    parser.add_argument("--directory", required=not folders,
                        help="folder holding the images" + (" (not with a --train folder)" if folders else ""))
    parser.add_argument("--x-col", default="image_id", help="column of image file names")
    parser.add_argument("--y-col", default="label", help="label column, or comma-separated one-hot columns")
    parser.add_argument("--classes", help="comma-separated class names in class-id order")
    parser.add_argument("--image-size", type=int, nargs=2, metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--rescale", type=float, help="factor pixel values are multiplied by, e.g. 0.00392")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--on-bad-image", default="error", choices=("error", "skip"))


def _training_parser(sub, name: str, help: str, teacher: bool) -> None:
    run = sub.add_parser(name, help=help)
    if teacher:
        run.add_argument("--teacher", required=True, action="append",
                         help=".keras/.h5 teacher model, or a CSV of logits; give several for an ensemble")
        run.add_argument("--teacher-outputs", default="auto", choices=("auto", "logits", "probabilities"))
        run.add_argument("--temperature", type=float, default=3.0)
        run.add_argument("--alpha", type=float, default=0.1, help="weight of the hard-label loss")
        run.add_argument("--cache-dir", help="folder where teacher logits and decoded images are kept for later runs")
    run.add_argument("--student", required=True, help=".keras/.h5 student model")
    run.add_argument("--train", required=True,
                     help="CSV with image ids and labels, or a folder of class subfolders (train/cat/1.jpg)")
    run.add_argument("--validation", help="validation CSV, or a folder of class subfolders")
    _table_arguments(run, folders=True)
    run.add_argument("--epochs", type=int, default=10)
    run.add_argument("--steps-per-epoch", type=int)
    run.add_argument("--validation-steps", type=int)
    run.add_argument("--optimizer", default="adam", help="a Keras optimizer name (adam, sgd, rmsprop, ...)")
    run.add_argument("--learning-rate", type=float)
    run.add_argument("--augment", action="store_true", help="the R tutorial's augmentation")
    for flag in ("--rotation-range", "--width-shift-range", "--height-shift-range", "--zoom-range"):
        run.add_argument(flag, type=float, default=0.0)
    run.add_argument("--horizontal-flip", action="store_true")
    run.add_argument("--early-stopping", type=int, metavar="PATIENCE",
                     help="stop after PATIENCE epochs without improvement (val_accuracy, else loss); keep the best weights")
    run.add_argument("--seed", type=int)
    run.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    run.add_argument("--checkpoint-dir")
    run.add_argument("--resume", action="store_true")
    run.add_argument("--save-student", help="where to save the trained student (.keras); default OUT/student.keras")
    run.add_argument("--out", default="pykd-output", help="folder for student.keras, history.csv and history.png")
    run.set_defaults(run=run_train)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="python -m pykd", description="Knowledge distillation for image classifiers.")
    parser.add_argument("--version", action="version", version=f"pykd {__version__}")
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

    _training_parser(sub, "distill", "distill your own teacher into your own student", teacher=True)
    _training_parser(sub, "train-scratch", "train a student on the labels alone (the baseline)", teacher=False)
    evaluate = sub.add_parser("evaluate", help="loss and accuracy of a model on a labeled table")
    evaluate.add_argument("--model", required=True, help=".keras/.h5 model")
    evaluate.add_argument("--data", required=True, help="CSV with image ids and labels")
    _table_arguments(evaluate)
    evaluate.set_defaults(run=run_evaluate)
    _deployment_parsers(sub)
    return parser


def _deployment_parsers(sub) -> None:
    predict = sub.add_parser("predict", help="labels and class probabilities for new images (a Kaggle submission)")
    predict.add_argument("--model", required=True, help=".keras/.h5 model or exported .tflite file")
    predict.add_argument("--data", help="CSV of image ids; by default every image file in --directory")
    _table_arguments(predict)
    predict.add_argument("--tta", type=int, default=0, help="average over this many random flips and shifts")
    predict.add_argument("--submission", action="store_true", help="write only the id and label columns")
    predict.add_argument("--out", default="predictions.csv", help="CSV to write")
    predict.set_defaults(run=run_predict)
    export = sub.add_parser("export", help="write a model for deployment: .tflite, or a SavedModel folder")
    export.add_argument("--model", required=True, help=".keras/.h5 model")
    export.add_argument("--out", required=True, help="a .tflite file, or a folder for a SavedModel")
    export.set_defaults(run=run_export)
    compare = sub.add_parser("compare", help="parameters, size, speed and accuracy of models side by side")
    compare.add_argument("--model", required=True, action="append", help="NAME=PATH (or PATH); give several")
    compare.add_argument("--data", required=True, help="CSV with image ids and labels")
    _table_arguments(compare)
    compare.set_defaults(run=run_compare)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except DataError as err:
        print(f"error: {err.message('cli')}", file=sys.stderr)  # settings written as flags
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
