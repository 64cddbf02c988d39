"""The R tutorial's own run (issue 35): `.venv/bin/python benchmarks/frozen/tutorial.py`.

The student is built by hand as the R tutorial builds it: keras.applications.EfficientNetB0
(include_top=False, weights=None, 128x128x3), frozen with pykd.models.set_trainable(base, False)
(R: rkd_freeze()), then GlobalMaxPooling2D, BatchNormalization, Dropout(0.5) and Dense(5, softmax).
The teacher is an EfficientNet-B0 classifier, everything trains. Batch 32, Adam(1e-3), T = 3,
alpha = 0.1, on frozen.py's JPEG table (common.write_images: tinted digits at 128x128, 5 classes).

Six methods, each a fresh clone of the same starting weights, --epochs epochs per round:

  pykd            pykd.distill, defaults (teacher logits and frozen-prefix features computed once)
  distiller       keras.distillation.Distiller.fit (common.builtin_distiller)
  fit             the student's own fit() on the hard labels
  pykd_aug        pykd.distill(augment=the tutorial's augmentation): the frozen prefix runs every step
                  outside the gradient tape (history.params["frozen_prefix"])
  distiller_aug   Distiller.fit with the same augmentation as Keras Random* layers in tf.data
  fit_aug         the student's own fit() with those layers in tf.data

Figures: images/s after the first epoch (median of epochs 2..E), methods alternating (each round
runs them in another order), ratios the median of per-round ratios. Then a per-step profile of
pykd's augmented step (tutorial_profile.py). Writes bench-output/tutorial.json and tutorial.md and
prints PASS/FAIL for the issue's targets. Random weights: speeds only.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for common
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/frozen/, for tutorial_profile

import common  # noqa: E402  (puts this checkout's pykd first on sys.path)
import numpy as np  # noqa: E402
from common import fmt, log  # noqa: E402

import pykd  # noqa: E402  (sets TensorFlow's environment before TensorFlow loads)
import pykd.models  # noqa: E402
from pykd._tf import keras, tf  # noqa: E402

tf.get_logger().setLevel("ERROR")  # every method traces its own steps once: not a retracing problem

SHAPE = (128, 128, 3)
N_CLASSES = 5
BATCH_SIZE = 32
# The R tutorial's image_data_generator(rotation_range = 40, width_shift_range = 0.2,
# height_shift_range = 0.2, horizontal_flip = TRUE); fill "reflect", as Keras' Random* layers.
AUGMENT = dict(rotation_range=40.0, width_shift_range=0.2, height_shift_range=0.2, horizontal_flip=True)
METHODS = {
    "pykd": "pykd.distill, defaults",
    "distiller": "keras.distillation.Distiller.fit",
    "fit": "the student's own fit(), hard labels",
    "pykd_aug": "pykd.distill(augment=...)",
    "distiller_aug": "Distiller.fit, Keras Random* layers in tf.data",
    "fit_aug": "the student's own fit(), Random* layers in tf.data",
}
# What each method computes per step of an epoch after the first (the table's last column).
PAYS = {
    "pykd": "the head alone (BN, dropout, dense: forward, backward, update) on features computed once; once per "
            "run: decoding, the teacher and the frozen prefix, each image once",
    "distiller": "decoding (tf.data), the teacher's forward, the whole student's forward inside the tape, the "
                 "head's backward and update",
    "fit": "decoding (tf.data), the whole student's forward inside the tape, the head's backward and update; no "
           "teacher",
    "pykd_aug": "reading the decoded-image cache, the fused augmentation, the teacher's forward, the frozen prefix "
                "outside the tape, the head's forward, backward and update",
    "distiller_aug": "decoding and the Random* layers (tf.data, beside the step on the same cores), the teacher's "
                     "forward, the whole student's forward inside the tape, the head's backward and update",
    "fit_aug": "decoding and the Random* layers (tf.data), the whole student's forward inside the tape, the head's "
               "backward and update; no teacher",
}
# The "Done when": (key, what, numerator, denominator, threshold).
TARGETS = [
    ("plain_vs_distiller", "no augmentation: pykd.distill / Distiller.fit", "pykd", "distiller", 10.0),
    ("plain_vs_fit", "no augmentation: pykd.distill / the student's own fit()", "pykd", "fit", 5.0),
    ("aug_vs_distiller", "augmented: pykd.distill / Distiller.fit", "pykd_aug", "distiller_aug", 2.7),
    ("aug_vs_fit", "augmented: pykd.distill / the student's own fit()", "pykd_aug", "fit_aug", 0.9),
]
PARAMS = ("feature_cache", "teacher_cache", "image_cache", "teacher_precision", "frozen_prefix", "seconds_images",
          "seconds_teacher", "seconds_features", "steps_per_epoch")  # fmt: skip


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=320, help="training images (default 320 = 10 batches of 32)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per method and round, the first not counted (3)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, each running every method (default 2)")
    parser.add_argument("--profile-reps", type=int, default=5, help="timed calls per part in the profile (5; 0: none)")
    parser.add_argument("--out", default=str(common.OUT))
    return parser.parse_args(argv)


# ------------------------------------------------------------------ models and data
def teacher_model() -> keras.Model:
    return pykd.models.classifier("efficientnet_b0", N_CLASSES, SHAPE, freeze_backbone=False)


def student_model() -> keras.Model:
    """The R tutorial's student, built by hand and frozen with set_trainable (R: rkd_freeze())."""
    base = keras.applications.EfficientNetB0(include_top=False, weights=None, input_shape=SHAPE)
    pykd.models.set_trainable(base, False)
    return keras.Sequential([
        keras.Input(SHAPE), base, keras.layers.GlobalMaxPooling2D(), keras.layers.BatchNormalization(),
        keras.layers.Dropout(0.5), keras.layers.Dense(N_CLASSES, activation="softmax", name="predictions"),
    ], name="tutorial_student")  # fmt: skip


def clone(builder, weights) -> keras.Model:
    """A fresh model with `weights`, built under the same global seed (so the head's dropout draws alike)."""
    keras.utils.set_random_seed(0)
    model = builder()
    model.set_weights(weights)
    return model


def as_logits(model: keras.Model) -> keras.Model:
    """The softmax taken off (Keras' Distiller and losses take logits; pykd reads the softmax itself)."""
    model.get_layer("predictions").activation = keras.activations.linear
    return model


def keras_augmenter(seed: int) -> keras.Sequential:
    """AUGMENT as Keras 3's own layers, for the Keras methods' tf.data pipeline."""
    layers = keras.layers
    return keras.Sequential([
        layers.RandomRotation(AUGMENT["rotation_range"] / 360.0, fill_mode="reflect", seed=seed),
        layers.RandomTranslation(AUGMENT["height_shift_range"], AUGMENT["width_shift_range"], fill_mode="reflect",
                                 seed=seed + 1),
        layers.RandomFlip("horizontal", seed=seed + 2),
    ], name="keras_augmentation")  # fmt: skip


def prepare(work: Path, n_images: int) -> dict:
    image_dir = work / "images"
    table = common.write_images(image_dir, n_images, shape=SHAPE, n_classes=N_CLASSES, seed=0)
    keras.utils.set_random_seed(0)
    teacher0, student0 = teacher_model(), student_model()
    trainable = sum(int(np.prod(v.shape)) for v in student0.trainable_variables)
    log(f"  wrote {len(table)} JPEGs; teacher {teacher0.count_params():,} params, student "
        f"{student0.count_params():,} ({trainable:,} trainable)")  # fmt: skip
    return {"work": work, "n": len(table), "table": table, "image_dir": image_dir,
            "paths": [str(image_dir / i) for i in table["image_id"]],
            "teacher_weights": teacher0.get_weights(), "student_weights": student0.get_weights(),
            "teacher_params": int(teacher0.count_params()), "student_params": int(student0.count_params()),
            "student_trainable": trainable}  # fmt: skip


# ------------------------------------------------------------------ one measured run
class RunObserver(common.EpochTimer):
    """Times distill()'s epochs; with `at_end`, calls it with the run pykd hands callbacks (set_run) when
    training ends, before the run closes, and keeps the seconds it took apart."""

    def __init__(self, at_end=None):
        super().__init__()
        self.run, self.at_end, self.result, self.end_seconds = None, at_end, None, 0.0

    def set_run(self, run) -> None:
        self.run = run

    def on_train_end(self, logs=None):
        if self.at_end is not None:
            t0 = time.perf_counter()
            self.result = self.at_end(self.run, list(self.seconds))
            self.end_seconds = time.perf_counter() - t0


def run_pykd(ctx, key: str, round_index: int) -> dict:
    """One distill() call; the last round's augmented one is profiled (tutorial_profile) before it ends."""
    augmented = key == "pykd_aug"
    teacher = clone(teacher_model, ctx["teacher_weights"])
    student = clone(student_model, ctx["student_weights"])
    at_end = None
    if augmented and round_index == ctx["rounds"] - 1 and ctx["profile_reps"] > 0:
        import tutorial_profile

        def at_end(run, seconds):
            return tutorial_profile.profile(run, seconds, keras_augmenter(seed=99), ctx["paths"], ctx["profile_reps"])

    observer = RunObserver(at_end)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = pykd.distill(
            teacher, student, ctx["table"], directory=str(ctx["image_dir"]), batch_size=BATCH_SIZE,
            epochs=ctx["epochs"], temperature=common.TEMPERATURE, alpha=common.ALPHA, learning_rate=1e-3,
            augment=AUGMENT if augmented else None, seed=0, verbose=0, callbacks=[observer], larger_student=True,
        )  # fmt: skip
    whole = time.perf_counter() - t0 - observer.end_seconds
    if observer.result is not None:
        ctx["profile"] = observer.result
    return {"epoch_seconds": list(observer.seconds), "whole_seconds": whole,
            "params": {k: history.params.get(k) for k in PARAMS},
            "warnings": sorted({str(w.message).splitlines()[0][:300] for w in caught})}  # fmt: skip


def run_keras(ctx, key: str, round_index: int) -> dict:
    augmenter = keras_augmenter(seed=10 + round_index) if key.endswith("_aug") else None
    student = as_logits(clone(student_model, ctx["student_weights"]))
    if key.startswith("distiller"):
        teacher = as_logits(clone(teacher_model, ctx["teacher_weights"]))
        model = common.builtin_distiller(teacher, student)
    else:
        model = common.plain_student(student)
    labels = ctx["table"]["label"].astype(int).tolist()
    data = common.file_dataset(ctx["paths"], labels, seed=round_index, batch_size=BATCH_SIZE, shape=SHAPE,
                               augmenter=augmenter)  # fmt: skip
    timer = common.EpochTimer()
    t0 = time.perf_counter()
    model.fit(data, epochs=ctx["epochs"], verbose=0, shuffle=False, callbacks=[timer])
    return {"epoch_seconds": list(timer.seconds), "whole_seconds": time.perf_counter() - t0,
            "params": {"jit_compile": bool(model.jit_compile)}}  # fmt: skip


def after_first(n: int, epoch_seconds: list[float]) -> float | None:
    """Images/s after the first epoch: the median over epochs 2.. of rows / seconds."""
    return common.median([n / s for s in epoch_seconds[1:]])


def measure(ctx, rounds: int) -> dict[str, list[dict]]:
    """Every method once per round; round r runs them in order if r is even, else in reverse."""
    runs: dict[str, list[dict]] = {k: [] for k in METHODS}
    for r in range(rounds):
        order = list(METHODS) if r % 2 == 0 else list(reversed(METHODS))
        log(f"round {r + 1}/{rounds}: {', '.join(order)}")
        for key in order:
            run = (run_pykd if key.startswith("pykd") else run_keras)(ctx, key, r)
            run["images_per_s"] = after_first(ctx["n"], run["epoch_seconds"])
            run["round"], run["load_after"] = r, os.getloadavg()[0]
            runs[key].append(run)
            log(f"  {key:14} epochs {', '.join(f'{s:.2f}' for s in run['epoch_seconds'])} s -> "
                f"{fmt(run['images_per_s'])} img/s after the first, whole {run['whole_seconds']:.1f} s  "
                f"[load {os.getloadavg()[0]:.1f}]")  # fmt: skip
    return runs


# ------------------------------------------------------------------ figures, verdicts, tables
def summarize(runs: dict[str, list[dict]]) -> tuple[dict, dict, list[dict]]:
    """(per-method medians, ratios, targets) from the rounds."""
    speeds = {k: [r["images_per_s"] for r in rs] for k, rs in runs.items()}
    methods = {k: {"label": METHODS[k], "images_per_s": common.median(v), "per_round": v} for k, v in speeds.items()}
    ratios, targets = {}, []
    for key, what, a, b, threshold in TARGETS:
        ratios[key] = common.ratio_per_round(speeds[a], speeds[b])
        ratios[f"{key}_per_round"] = [x / y if x and y else None for x, y in zip(speeds[a], speeds[b])]
        met = common.meets(ratios[key], threshold)
        targets.append({"key": key, "what": what, "value": ratios[key], "target": f">= {threshold:g}", "pass": met})
    ratios["aug_vs_plain_pykd"] = common.ratio_per_round(speeds["pykd_aug"], speeds["pykd"])
    return methods, ratios, targets


def method_table(results: dict) -> str:
    n_rounds = results["config"]["rounds"]
    head = " | ".join(f"round {r + 1}" for r in range(n_rounds))
    lines = [f"| method | images/s after the first epoch (median) | {head} | whole call, round 1 (s) | pays for, "
             "per step |", "|---|--:|" + "--:|" * n_rounds + "--:|---|"]  # fmt: skip
    for key, m in results["methods"].items():
        rounds = " | ".join(fmt(v) for v in m["per_round"])
        lines.append(f"| {key}: {m['label']} | {fmt(m['images_per_s'])} | {rounds} "
                     f"| {results['runs'][key][0]['whole_seconds']:.1f} | {PAYS[key]} |")  # fmt: skip
    return "\n".join(lines)


def target_table(results: dict) -> str:
    lines = ["| target | measured (median of rounds) | per round | wanted | verdict |", "|---|--:|---|--:|---|"]
    for t in results["targets"]:
        per_round = ", ".join(fmt(v, 2) for v in results["ratios"][f"{t['key']}_per_round"])
        lines.append(f"| {t['what']} | {fmt(t['value'], 2)} | {per_round} | {t['target']} "
                     f"| {common.verdict(t['pass'])} |")  # fmt: skip
    return "\n".join(lines)


def notes(results: dict) -> str:
    c, plain, aug = results["config"], results["runs"]["pykd"][0], results["runs"]["pykd_aug"][0]
    fc, fp = plain["params"]["feature_cache"], aug["params"]["frozen_prefix"]
    cache = f"ends at `{fc['ends_at']}` ({fc['bytes']:,} bytes)" if fc else "none"
    prefix = f"ends at `{fp['ends_at']}`, computed in {fp['precision']}" if fp else "none"
    said = sorted({w for k in ("pykd", "pykd_aug") for r in results["runs"][k] for w in r["warnings"]})
    return (f"pykd without augmentation: feature cache {cache}; teacher precision "
            f"{plain['params']['teacher_precision']}. With augmentation: frozen prefix run outside the tape {prefix}. "
            f"This CPU has no native bfloat16 (no avx512_bf16 / amx_bf16 in /proc/cpuinfo), so "
            f"frozen_precision=\"auto\" is float32 here and a float32 run would time the same step: it was not run "
            f"twice, and the bfloat16 prefix's speed is not measured here (PYKD_BFLOAT16="
            f"{c['pykd_bfloat16_env'] or 'unset'}). Warnings from distill(): "
            + ("; ".join(f"\"{w}\"" for w in said) if said else "none") + ".")  # fmt: skip


def markdown(results: dict) -> str:
    c = results["config"]
    load = c["load_before"]
    parts = [
        "## The R tutorial's own run: hand-built frozen EfficientNet-B0 (issue 35)", "",
        f"{c['images']} JPEGs of 128x128 (5 classes), EfficientNet-B0 teacher ({c['teacher_params']:,} params) and "
        f"the tutorial's hand-built student ({c['student_trainable']:,} of {c['student_params']:,} params trainable), "
        f"random weights, batch {c['batch_size']}, Adam(1e-3), T = {c['temperature']:g}, alpha = {c['alpha']:g}; "
        f"augmentation rotation 40, shifts 0.2, horizontal flip. {c['epochs']} epochs per method and round, "
        f"{c['rounds']} rounds (methods alternating), {c['cpus']} CPUs, TF {c['tensorflow']}, Keras {c['keras']}. "
        f"Load average (1 min) {load[0]:.2f} before the run, {c['load_after'][0]:.2f} at its end (its own two "
        f"threads' worth included; more is other work on the cores). One run of {c['seconds']:.0f} s.",
        "", method_table(results), "", target_table(results), "", notes(results),
    ]  # fmt: skip
    if results.get("profile"):
        import tutorial_profile

        parts += ["", tutorial_profile.markdown(results["profile"]), "", floor(results)]
    return "\n".join(parts) + "\n"


def floor(results: dict) -> str:
    """What the profile says the augmented ratios can reach here: the teacher's and the frozen prefix's
    forward passes alone are the least an augmented distillation step computes."""
    p, m = results["profile"], results["methods"]
    least = p["ms_per_batch"]["teacher"] + p["ms_per_batch"]["prefix"]
    step = {k: 1000 * BATCH_SIZE / m[k]["images_per_s"] for k in ("distiller_aug", "fit_aug") if m[k]["images_per_s"]}
    said = [f"The teacher's and the frozen prefix's forward passes alone take {least:.0f} ms per batch of "
            f"{BATCH_SIZE} ({1000 * BATCH_SIZE / least:.0f} img/s): no augmented distillation step computes less "
            f"in {p['prefix_precision']}."]  # fmt: skip
    for key, name in (("distiller_aug", "Distiller.fit's"), ("fit_aug", "The student's own fit()'s")):
        if key in step:
            said.append(f"{name} augmented step took {step[key]:.0f} ms, so pykd can reach at most "
                        f"{step[key] / least:.2f}x it here.")  # fmt: skip
    return " ".join(said)


# ------------------------------------------------------------------ driver
def config(args, ctx) -> dict:
    return {"images": ctx["n"], "image_shape": list(SHAPE), "classes": N_CLASSES, "batch_size": BATCH_SIZE,
            "epochs": args.epochs, "rounds": args.rounds, "temperature": common.TEMPERATURE, "alpha": common.ALPHA,
            "augmentation": AUGMENT, "teacher_params": ctx["teacher_params"], "student_params": ctx["student_params"],
            "student_trainable": ctx["student_trainable"], "pykd_bfloat16_env": os.environ.get("PYKD_BFLOAT16"),
            **common.machine()}  # fmt: skip


def main(argv=None) -> int:
    args = parse_args(argv)
    started, load_before = time.perf_counter(), os.getloadavg()
    out_dir = common.output_dir(args.out)
    log(f"tutorial benchmark: {args.images} JPEGs 128x128, batch {BATCH_SIZE}, {args.epochs} epochs x "
        f"{args.rounds} rounds, load {load_before[0]:.2f}")  # fmt: skip
    with common.scratch_dir("pykd-tutorial-") as work:
        ctx = prepare(work, args.images)
        ctx.update(epochs=args.epochs, rounds=args.rounds, profile_reps=args.profile_reps)
        runs = measure(ctx, args.rounds)
    methods, ratios, targets = summarize(runs)
    results = {"config": config(args, ctx), "methods": methods, "ratios": ratios, "targets": targets, "runs": runs,
               "profile": ctx.get("profile")}  # fmt: skip
    results["config"].update(load_before=list(load_before), load_after=list(os.getloadavg()),
                             seconds=round(time.perf_counter() - started, 1))  # fmt: skip
    common.write_results(out_dir, "tutorial", results, markdown(results))
    for t in targets:
        log(f"{common.verdict(t['pass']):4} {t['what']}: {fmt(t['value'], 2)} (target {t['target']})")
    log(f"wrote {out_dir / 'tutorial.json'} and {out_dir / 'tutorial.md'} in {results['config']['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
