"""Command line: `python -m pykd demo | distill | train-scratch | evaluate | predict | export | compare`.

The flags of the options come from their declaration (pykd.run.options): every option a
command's function takes, whose kind has a command-line form, is a flag of that command
(`--batch-size 64`, `--cache-teacher false`). The flags below are the command line's own:
the models and tables to read, where to write, and shorthands for augmentation and early
stopping.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from .core.errors import DataError
from .run import options
from .run.kinds import flag_name

# A command's function, whose declared options become its flags.
ENTRY = {"distill": "distill", "train-scratch": "train_scratch", "evaluate": "evaluate", "predict": "predict",
         "compare": "compare", "export": "export"}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except DataError as err:
        print(f"error: {err.message('cli')}", file=sys.stderr)  # settings written as flags
        return 2
    except KeyboardInterrupt:  # (a training command handles its own, writing the finished epochs)
        print("Interrupted.", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .demo import add_parser as add_demo

    parser = argparse.ArgumentParser(prog="python -m pykd", description="Knowledge distillation for image classifiers.")
    parser.add_argument("--version", action="version", version=f"pykd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    add_demo(sub)
    _training_parser(sub, "distill", "distill your own teacher into your own student")
    _training_parser(sub, "train-scratch", "train a student on the labels alone (the baseline)")
    evaluate = _command(sub, "evaluate", "loss and accuracy of a model on a labeled table", run_evaluate)
    evaluate.add_argument("--model", required=True, help=".keras/.h5 model")
    evaluate.add_argument("--data", required=True, help="CSV with image ids and labels")
    predict = _command(sub, "predict", "labels and class probabilities for new images (a Kaggle submission)", run_predict)
    predict.add_argument("--model", required=True, help=".keras/.h5 model or exported .tflite file")
    predict.add_argument("--data", help="CSV of image ids; by default every image file in --directory")
    predict.add_argument("--submission", action="store_true", help="write only the id and label columns")
    predict.add_argument("--out", default="predictions.csv", help="CSV to write (a path or URL)")
    export = _command(sub, "export", "write a model for deployment: .tflite, or a SavedModel folder", run_export)
    export.add_argument("--model", required=True, help=".keras/.h5 model")
    export.add_argument("--out", required=True, help="a .tflite file, or a folder for a SavedModel")
    export.add_argument("--quantize", choices=["dynamic", "float16", "int8"], help="a smaller .tflite file")
    export.add_argument("--representative", help="for --quantize int8: a CSV of image ids (with --directory) or a "
                                                 "folder of class subfolders, the images it is calibrated on")
    compare = _command(sub, "compare", "parameters, size, speed and accuracy of models side by side", run_compare)
    compare.add_argument("--model", required=True, action="append", help="NAME=PATH (or PATH); give several")
    compare.add_argument("--data", required=True, help="CSV with image ids and labels")
    return parser


def _command(sub, name: str, help: str, run) -> argparse.ArgumentParser:
    """A command whose function's declared options are its flags."""
    parser = sub.add_parser(name, help=help)
    for option in options.declared(ENTRY[name]):
        flag = option.kind.cli()
        if flag is not None and option.cli:
            parser.add_argument(flag_name(option.name), dest=option.name, default=option.default,
                                help=_first_sentence(option.doc), **flag)
    parser.set_defaults(run=run)
    return parser


def _first_sentence(doc: str) -> str:
    return re.split(r"(?<=\.)\s+(?=[A-Z])", doc)[0].rstrip(".").replace("%", "%%")  # % is argparse's


def _given(args: argparse.Namespace) -> dict:
    """The declared options of the command's function, as its flags gave them."""
    return {o.name: getattr(args, o.name) for o in options.declared(ENTRY[args.command]) if hasattr(args, o.name)}


def _training_parser(sub, name: str, help: str) -> None:
    run = _command(sub, name, help, run_train)
    if name == "distill":
        run.add_argument("--teacher", required=True, action="append",
                         help=".keras/.h5 teacher model, or a CSV of logits; give several for an ensemble")
    run.add_argument("--student", required=True, help=".keras/.h5 student model")
    run.add_argument("--train", required=True,
                     help="CSV with image ids and labels, or a folder of class subfolders (train/cat/1.jpg)")
    run.add_argument("--augment", action="store_true", help="the R tutorial's augmentation")
    for flag in ("--rotation-range", "--width-shift-range", "--height-shift-range", "--zoom-range"):
        run.add_argument(flag, type=float, default=0.0)
    run.add_argument("--horizontal-flip", action="store_true")
    run.add_argument("--early-stopping", type=int, metavar="PATIENCE",
                     help="stop after PATIENCE epochs without improvement (val_accuracy, else loss); keep the best weights")
    run.add_argument("--save-student", help="where to save the trained student (.keras); default OUT/student.keras")
    run.add_argument("--out", default="pykd-output",
                     help="folder (or a URL such as gs://bucket/run) for student.keras, history.csv and history.png")
    run.add_argument("--overwrite", action="store_true", help="replace a student file that exists (else refused)")


def _augmentation(args: argparse.Namespace):
    from .data.augmentation import Augmentation

    if args.augment:  # the R tutorial's settings
        return Augmentation(rotation_range=40, width_shift_range=0.2, height_shift_range=0.2, shear_range=0.2,
                            zoom_range=0.5, horizontal_flip=True, fill_mode="reflect")
    ranges = {k: getattr(args, k) for k in ("rotation_range", "width_shift_range", "height_shift_range", "zoom_range")}
    if not any(ranges.values()) and not args.horizontal_flip:
        return None
    return Augmentation(**ranges, horizontal_flip=args.horizontal_flip)


def _callbacks(args: argparse.Namespace) -> list:
    if not args.early_stopping:
        return []
    from ._tf import keras

    monitor = "val_accuracy" if args.validation else "loss"
    return [keras.callbacks.EarlyStopping(monitor=monitor, patience=args.early_stopping, restore_best_weights=True)]


def _outputs(args: argparse.Namespace) -> tuple[str, str]:
    """The output folder and the trained student's path (local paths or URLs), both checked before any training."""
    from .core import storage
    from .run.resume import probe_writable

    out = storage.tidy(args.out)
    student = storage.tidy(args.save_student) if args.save_student else storage.join(out, "student.keras")
    if not student.endswith((".keras", ".h5")):
        raise DataError("Save models to a .keras (or .h5) file, not {path}.", "End the file name in .keras.",
                        path=student)
    if storage.exists(student) and not (args.overwrite or getattr(args, "resume", False)):  # a resume continues it
        raise DataError("{path} already holds a student: a new run would replace it.",
                        "Pass --overwrite to replace it, or another --out or --save-student.", path=student)
    probe_writable(out, "out")
    probe_writable(storage.parent(student), "save_student")
    return out, student


def run_train(args: argparse.Namespace) -> int:
    """distill and train-scratch: train, then always write the student, history.csv and history.png;
    on Ctrl-C, those of the finished epochs, then exit 130."""
    from . import api
    from .models import load_model

    out, saved = _outputs(args)
    # augment and callbacks have no flags of their own: the shorthands below make them.
    given = {**_given(args), "augment": _augmentation(args), "callbacks": _callbacks(args)}
    student = load_model(args.student, role="student")
    try:
        if args.command == "distill":
            teacher = args.teacher[0] if len(args.teacher) == 1 else args.teacher
            history = api.distill(teacher, student, args.train, **given)
        else:
            history = api.train_scratch(student, args.train, **given)
    except KeyboardInterrupt as err:
        history = getattr(err, "history", None)
        if not history:
            print("Interrupted before the first epoch ended: nothing written.", file=sys.stderr)
            return 130
        wrote = _write_outputs(student, history, out, saved)
        resume = ("Run the same command with --resume to continue." if given.get("checkpoint_dir")
                  else "Pass --checkpoint-dir to be able to continue an interrupted run.")
        print(f"Interrupted after epoch {len(history)} of {history.params['epochs']}: {wrote}. {resume}", file=sys.stderr)
        return 130
    print(_write_outputs(student, history, out, saved))
    return 0


def _write_outputs(student, history, out: str, saved: str) -> str:
    """Write the student, history.csv and history.png; says where."""
    from .core import storage
    from .models import save_model

    storage.makedirs(out)
    table, plot = storage.join(out, "history.csv"), storage.join(out, "history.png")
    storage.write_bytes_atomic(table, history.to_frame().to_csv(index=False).encode())
    history.plot(plot)
    return f"Saved the trained student to {save_model(student, saved)}; wrote {table} and {plot}"


def run_evaluate(args: argparse.Namespace) -> int:
    from .serve.evaluate import evaluate

    print(json.dumps(evaluate(args.model, args.data, **_given(args))))
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from .core import storage
    from .serve.predict import predict

    frame = predict(args.model, args.data, **_given(args))
    out = storage.tidy(args.out)
    storage.makedirs(storage.parent(out))
    table = frame[[args.x_col, "label"]] if args.submission else frame
    storage.write_bytes_atomic(out, table.to_csv(index=False).encode())
    print(f"Wrote {len(frame)} predictions to {out}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from .serve.export import export

    written = export(args.model, args.out, quantize=args.quantize, representative=args.representative, **_given(args))
    print(f"Exported {args.model} to {written}")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from .serve.compare import compare

    models = dict(m.split("=", 1) if "=" in m else (Path(m).stem, m) for m in args.model)
    print(compare(models, args.data, **_given(args)).to_string(index=False))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
