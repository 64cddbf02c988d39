"""The tutorial's frozen-base student (issue 20): `.venv/bin/python benchmarks/frozen/frozen.py`.

The R tutorial's student is an EfficientNet-B0 whose base is frozen under a small
trainable head (pykd.models.classifier). In one process, on the same 128x128 JPEG
files (a Cassava-style image_id,label table, 5 classes), with clones of the same
random-weight EfficientNet-B0 teacher and student, batch 32, Adam(1e-3), T = 3,
alpha = 0.1 and no augmentation, each method trains for --epochs epochs:

  (i)   pykd.distill with its defaults: teacher logits and, with cache_features="auto",
        the frozen prefix's output computed once per image
  (ii)  pykd.distill(cache_features=False): the teacher cache only, for reference
  (iii) Keras 3's keras.distillation.Distiller under fit() (common.builtin_distiller)
  (iv)  the student's own fit() on the hard labels (common.plain_student)

Keras methods read the same files through the tf.data pipeline of common.file_dataset.
Every epoch is timed by a callback (on_epoch_begin to on_epoch_end; pykd runs Keras
callbacks too) and every method's whole call (one-off passes and tracing included).

Augmentation (issue part 4): the feature cache cannot apply under augmentation, so the
alternative of K fixed augmented views per image is measured: K augmented copies of
every image written as files by pykd's own augmenter, then distill() on the K*N rows
without augmentation (teacher logits and prefix features cached per view), against
distill(augment=...) on the N originals for the same number of student steps.

Writes bench-output/frozen.json and bench-output/frozen.md and prints PASS/FAIL for
the issue's targets. Random weights: the figures are speeds; accuracy means nothing here.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for common

import common  # noqa: E402  (puts this checkout's pykd first on sys.path)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from common import fmt, log, ratio  # noqa: E402
from PIL import Image  # noqa: E402

import pykd  # noqa: E402  (sets TensorFlow's environment before TensorFlow loads)
import pykd.models  # noqa: E402
from pykd._tf import keras, tf  # noqa: E402
from pykd.data.augmentation import build_augmenter  # noqa: E402

tf.get_logger().setLevel("ERROR")  # every method traces its own steps once: not a retracing problem

SHAPE = (128, 128, 3)
N_CLASSES = 5
BATCH_SIZE = 32
VIEWS = 4  # precomputed augmented views per image (issue part 4)
# The "Done when" targets: (key, what, comparison, threshold).
TARGETS = [
    ("after_first_vs_distiller", "pykd.distill vs Distiller.fit, images/s after the first epoch", ">=", 10.0),
    ("after_first_vs_student_fit", "pykd.distill vs the student's own fit(), images/s after the first epoch", ">=", 5.0),
    ("whole_run_vs_distiller", "whole run: pykd.distill seconds / Distiller.fit seconds", "<=", 0.25),
]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=160, help="training images (default 160 = 5 batches of 32)")
    parser.add_argument("--epochs", type=int, default=12, help="epochs of every method (default 12)")
    parser.add_argument("--views", type=int, default=VIEWS, help=f"augmented views per image (default {VIEWS})")
    parser.add_argument("--out", default=str(common.OUT))
    return parser.parse_args(argv)


def has_feature_cache() -> bool:
    """Whether this pykd has the frozen-prefix feature cache (the cache_features option)."""
    return "cache_features" in inspect.signature(pykd.distill).parameters


# ------------------------------------------------------------------ models and data
def teacher_model() -> keras.Model:
    return pykd.models.classifier("efficientnet_b0", N_CLASSES, SHAPE, freeze_backbone=False)


def student_model() -> keras.Model:
    return pykd.models.classifier("efficientnet_b0", N_CLASSES, SHAPE)  # the base frozen, as in the tutorial


def clone(builder, weights) -> keras.Model:
    """A fresh model with `weights`, built under the same global seed every time.

    A layer's random state (the head's Dropout SeedGenerator) is drawn when it is built and
    set_weights() does not carry it, so without this two clones drop different units.
    """
    keras.utils.set_random_seed(0)
    model = builder()
    model.set_weights(weights)
    return model


def as_logits(model: keras.Model) -> keras.Model:
    """The classifier with its softmax taken off: Keras' Distiller and losses take logits.

    pykd reads the softmax itself (student_outputs="auto") and works in logits, so both
    sides optimize the same loss; the softmax's cost is negligible either way.
    """
    model.get_layer("predictions").activation = keras.activations.linear
    return model


def prepare(work: Path, n_images: int) -> dict:
    """The JPEG files (common.write_images' tinted digits at 128x128, 5 classes) and the starting weights."""
    image_dir = work / "images"
    table = common.write_images(image_dir, n_images, shape=SHAPE, n_classes=N_CLASSES, seed=0)
    keras.utils.set_random_seed(0)
    teacher0, student0 = teacher_model(), student_model()
    trainable = sum(int(np.prod(v.shape)) for v in student0.trainable_variables)
    log(f"  wrote {len(table)} JPEGs {SHAPE[0]}x{SHAPE[1]}; teacher {teacher0.count_params():,} params, "
        f"student {student0.count_params():,} ({trainable:,} trainable)")  # fmt: skip
    return {
        "work": work, "n": len(table), "table": table, "image_dir": image_dir,
        "teacher_weights": teacher0.get_weights(), "student_weights": student0.get_weights(),
        "teacher_params": int(teacher0.count_params()), "student_params": int(student0.count_params()),
        "student_trainable": trainable,
    }  # fmt: skip


def dataset(table: pd.DataFrame, directory: Path, seed: int) -> tf.data.Dataset:
    """The Keras methods' pipeline (common.file_dataset) at batch 32 and 128x128."""
    paths = [str(directory / i) for i in table["image_id"]]
    return common.file_dataset(paths, table["label"].astype(int).tolist(), seed=seed, batch_size=BATCH_SIZE, shape=SHAPE)


def images_of(ctx, image_ids) -> tf.Tensor:
    """The pixels of these training images, as the Keras methods' pipeline decodes them."""
    return common.decode_all([ctx["image_dir"] / i for i in image_ids], SHAPE)


# ------------------------------------------------------------------ measured runs
@dataclass
class Measured:
    key: str
    label: str
    rows: int
    epoch_seconds: list[float]
    whole_seconds: float
    one_off_seconds: float = 0.0  # pykd's passes before epoch 1: decoding, teacher logits, prefix features
    params: dict = field(default_factory=dict)
    model: keras.Model | None = field(default=None, repr=False)

    @property
    def epochs(self) -> int:
        return len(self.epoch_seconds)

    def after_first(self) -> float | None:
        """Images/s, the median over epochs 2.. (None with a single epoch)."""
        return common.median([self.rows / s for s in self.epoch_seconds[1:]])

    def summary(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k != "model"}
        out.update(
            epochs=self.epochs,
            student_images=self.rows * self.epochs,
            images_per_s_after_first=self.after_first(),
            first_epoch_seconds=self.epoch_seconds[0],
            whole_images_per_s=self.rows * self.epochs / self.whole_seconds,
        )
        return out  # fmt: skip


PARAMS = ("feature_cache", "teacher_cache", "image_cache", "teacher_precision", "seconds_images", "seconds_teacher",
          "seconds_features", "seconds", "steps_per_epoch")  # fmt: skip


def run_distill(ctx, key, label, table, directory, epochs, **options) -> Measured:
    """One pykd.distill() call with the benchmark's settings, its epochs timed by a callback."""
    teacher = clone(teacher_model, ctx["teacher_weights"])
    student = clone(student_model, ctx["student_weights"])
    timer = common.EpochTimer()
    t0 = time.perf_counter()
    history = pykd.distill(
        teacher, student, table, directory=str(directory), batch_size=BATCH_SIZE, epochs=epochs,
        temperature=common.TEMPERATURE, alpha=common.ALPHA, learning_rate=1e-3,  # Adam, pykd's default optimizer
        seed=0, verbose=0, callbacks=[timer], **options,
    )  # fmt: skip
    whole = time.perf_counter() - t0
    params = {k: history.params.get(k) for k in PARAMS}
    params["loss"] = [r["loss"] for r in history.records]
    one_off = sum(params[k] or 0.0 for k in ("seconds_images", "seconds_teacher", "seconds_features"))
    result = Measured(key, label, len(table), list(timer.seconds), whole, one_off, params, student)
    log(f"  {label}: {_line(result)}")
    return result


def run_keras(ctx, key, label, build) -> Measured:
    """fit() for --epochs on the files; `build()` makes the compiled model and its dataset (timed)."""
    timer = common.EpochTimer()
    t0 = time.perf_counter()
    model, data = build()
    model.fit(data, epochs=ctx["epochs"], verbose=0, shuffle=False, callbacks=[timer])  # the dataset shuffles itself
    result = Measured(key, label, ctx["n"], list(timer.seconds), time.perf_counter() - t0,
                      params={"jit_compile": bool(model.jit_compile)})  # fmt: skip
    log(f"  {label}: {_line(result)}")
    return result


def _line(m: Measured) -> str:
    later = m.after_first()
    return (f"{m.rows} rows x {m.epochs} epochs, first epoch {m.epoch_seconds[0]:.1f} s, "
            f"{later or 0:.0f} img/s after it, whole {m.whole_seconds:.1f} s (one-off {m.one_off_seconds:.1f} s)")  # fmt: skip


def distiller(ctx) -> Measured:
    teacher = as_logits(clone(teacher_model, ctx["teacher_weights"]))
    student = as_logits(clone(student_model, ctx["student_weights"]))
    return run_keras(
        ctx,
        "distiller",
        "(iii) keras.distillation.Distiller.fit",
        lambda: (common.builtin_distiller(teacher, student), dataset(ctx["table"], ctx["image_dir"], 1)),
    )


def student_fit(ctx) -> Measured:
    student = as_logits(clone(student_model, ctx["student_weights"]))
    return run_keras(
        ctx,
        "student_fit",
        "(iv) student's own fit(), hard labels",
        lambda: (common.plain_student(student), dataset(ctx["table"], ctx["image_dir"], 3)),
    )


def pykd_runs(ctx) -> list[Measured]:
    """(ii) then (i); without the feature cache in this pykd, (ii) is distill() with its existing options."""
    off = {"cache_features": False} if ctx["feature_cache_api"] else {}
    ref = run_distill(
        ctx, "pykd_no_features", "(ii) pykd.distill(cache_features=False)", ctx["table"], ctx["image_dir"], ctx["epochs"], **off
    )
    main = run_distill(ctx, "pykd", "(i) pykd.distill, defaults", ctx["table"], ctx["image_dir"], ctx["epochs"])
    if ctx["feature_cache_api"] and main.params["feature_cache"] is None:
        log("  WARNING: distill() with defaults did not cache the frozen prefix's features")
    return [main, ref]


# ------------------------------------------------------------------ augmentation: K views
def write_views(ctx, k: int) -> tuple[pd.DataFrame, Path, float]:
    """K augmented copies of every image as JPEG files, made by pykd's own augmenter; (table, folder, seconds)."""
    t0 = time.perf_counter()
    table, folder = ctx["table"], ctx["work"] / "views"
    folder.mkdir(parents=True, exist_ok=True)
    augmenter = build_augmenter(pykd.Augmentation(**common.AUGMENT), seed=0)
    pixels = images_of(ctx, table["image_id"])
    ids, labels = [], []
    for view in range(k):  # each call of the augmenter draws new transforms
        batches = [augmenter(pixels[i : i + BATCH_SIZE], training=True) for i in range(0, len(table), BATCH_SIZE)]
        views = np.clip(np.rint(tf.concat(batches, 0).numpy()), 0, 255).astype(np.uint8)
        for image_id, label, image in zip(table["image_id"], table["label"], views):
            ids.append(f"view{view}_{image_id}")
            labels.append(int(label))
            Image.fromarray(image).save(folder / ids[-1], quality=95)
    return pd.DataFrame({"image_id": ids, "label": labels}), folder, time.perf_counter() - t0


def augmentation_runs(ctx) -> tuple[list[Measured], float]:
    """K fixed views, cached, against augmenting in every step, for the same number of student steps."""
    k = ctx["views"]
    views, folder, seconds = write_views(ctx, k)
    log(f"  wrote {len(views)} augmented views ({k} per image) in {seconds:.1f} s")
    view_epochs = max(1, ctx["epochs"] // k)  # K*N rows per epoch: epochs/K epochs = the originals' steps
    fixed = run_distill(
        ctx, "views", f"(v) pykd.distill on {k} fixed views per image, no augmentation", views, folder, view_epochs
    )
    live = run_distill(
        ctx,
        "augmented",
        "(vi) pykd.distill(augment=...) on the originals",
        ctx["table"],
        ctx["image_dir"],
        ctx["epochs"],
        augment=common.AUGMENT,
    )
    return [fixed, live], seconds


# ------------------------------------------------------------------ one-off passes
def forward_probe(ctx, batches: int = 3) -> dict:
    """The student's forward pass (batch 32, training=False) under tf.function: a yardstick for the one-off passes."""
    student = clone(student_model, ctx["student_weights"])
    x = images_of(ctx, ctx["table"]["image_id"][:BATCH_SIZE])
    forward = tf.function(lambda images: student(images, training=False))
    t0 = time.perf_counter()
    forward(x).numpy()  # the trace and the first batch
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(batches):
        forward(x).numpy()
    out = {"first_call_seconds": first, "images_per_s": batches * BATCH_SIZE / (time.perf_counter() - t0)}
    log(f"  student forward under tf.function, batch {BATCH_SIZE}: first call {first:.1f} s, "
        f"then {out['images_per_s']:.0f} img/s")  # fmt: skip
    return out


def pass_speeds(m: Measured) -> dict:
    """Images/s of pykd's one-off passes (teacher logits, prefix features), each including its trace."""
    return {k: (m.rows / m.params[f"seconds_{k}"] if m.params.get(f"seconds_{k}") else None) for k in ("teacher", "features")}


# ------------------------------------------------------------------ figures, verdicts, tables
def ratios(m: dict[str, Measured], seconds_views: float = 0.0) -> dict:
    """The issue's ratios (and the reference ones), from the measured runs by key; (v)'s whole run with writing its views."""
    pykd_, ref, dist, fit = m["pykd"], m["pykd_no_features"], m["distiller"], m["student_fit"]
    out = {
        "after_first_vs_distiller": ratio(pykd_.after_first(), dist.after_first()),
        "after_first_vs_student_fit": ratio(pykd_.after_first(), fit.after_first()),
        "whole_run_vs_distiller": ratio(pykd_.whole_seconds, dist.whole_seconds),
        "after_first_feature_cache_vs_off": ratio(pykd_.after_first(), ref.after_first()),
        "whole_run_feature_cache_vs_off": ratio(pykd_.whole_seconds, ref.whole_seconds),
        "after_first_no_features_vs_distiller": ratio(ref.after_first(), dist.after_first()),
    }
    if "views" in m:
        out["after_first_views_vs_augmented"] = ratio(m["views"].after_first(), m["augmented"].after_first())
        out["whole_run_views_vs_augmented"] = ratio(m["views"].whole_seconds + seconds_views, m["augmented"].whole_seconds)
    return out


def targets(figures: dict) -> list[dict]:
    verdicts = []
    for key, what, op, threshold in TARGETS:
        value = figures.get(key)
        passed = common.meets(value, threshold, higher_is_better=op == ">=")
        verdicts.append({"key": key, "what": what, "value": value, "target": f"{op} {threshold:g}", "pass": passed})
    return verdicts


def agreement(m: dict[str, Measured], x: tf.Tensor) -> dict:
    """(i) against (ii): the same seed and starting weights, so the histories and trained students should agree."""
    a, b = m["pykd"], m["pykd_no_features"]
    losses = [abs(p - q) for p, q in zip(a.params["loss"], b.params["loss"])]
    pred = np.abs(a.model.predict(x, verbose=0) - b.model.predict(x, verbose=0))
    return {"max_abs_loss_difference": max(losses) if losses else None, "loss_difference_per_epoch": losses,
            "max_abs_prediction_difference": float(pred.max())}  # fmt: skip


def method_table(runs: list[Measured], extra_seconds: dict | None = None) -> str:
    extra_seconds = extra_seconds or {}
    lines = ["| method | rows x epochs | first epoch (s) | images/s after the first epoch (median) "
             "| whole run (s) | of which one-off passes (s) |", "|---|--:|--:|--:|--:|--:|"]  # fmt: skip
    for r in runs:
        whole = r.whole_seconds + extra_seconds.get(r.key, 0.0)
        lines.append(f"| {r.label} | {r.rows} x {r.epochs} | {r.epoch_seconds[0]:.1f} | {fmt(r.after_first())} "
                     f"| {whole:.1f} | {r.one_off_seconds + extra_seconds.get(r.key, 0.0):.1f} |")  # fmt: skip
    return "\n".join(lines)


def target_table(verdicts: list[dict]) -> str:
    lines = ["| target | measured | wanted | verdict |", "|---|--:|--:|---|"]
    for v in verdicts:
        lines.append(f"| {v['what']} | {fmt(v['value'], 2)} | {v['target']} | {common.verdict(v['pass'])} |")
    return "\n".join(lines)


def _feature_notes(results: dict, runs: dict[str, Measured]) -> str:
    c, f, fc, agree = results["config"], results["ratios"], runs["pykd"].params.get("feature_cache"), results["agreement"]
    cache = ("none (this pykd has no cache_features option)" if not c["feature_cache_api"] else
             "none: distill() did not cache it" if fc is None else
             f"ends at `{fc['ends_at']}`, shape {fc['shape']}, {fc['bytes']:,} bytes, computed in "
             f"{runs['pykd'].params['seconds_features']:.1f} s")  # fmt: skip
    speeds = pass_speeds(runs["pykd"])
    return (f"Feature cache of (i): {cache}. (i)'s one-off passes (each with its trace): teacher logits "
            f"{fmt(speeds['teacher'])} img/s, prefix features {fmt(speeds['features'])} img/s. (i) vs (ii): "
            f"{fmt(f['after_first_feature_cache_vs_off'], 1)}x the images/s after the first epoch, "
            f"{fmt(f['whole_run_feature_cache_vs_off'], 2)}x the whole-run time. Same seed, weights and random "
            f"state: largest per-epoch loss difference {fmt(agree['max_abs_loss_difference'], 7)}, largest "
            f"difference of the trained students' predictions {fmt(agree['max_abs_prediction_difference'], 7)}.")  # fmt: skip


def _views_section(results: dict, runs: dict[str, Measured]) -> list[str]:
    c, f, views, live = results["config"], results["ratios"], runs["views"], runs["augmented"]
    return ["", f"### Under augmentation: {c['views']} fixed views per image vs augmenting every step", "",
            method_table([views, live], {"views": results["seconds_writing_views"]}), "",
            f"(v)'s whole run and one-off passes include writing the views ({results['seconds_writing_views']:.1f} s). "
            f"Student images trained on: (v) {views.rows * views.epochs}, (vi) {live.rows * live.epochs}. "
            f"(v)/(vi): {fmt(f['after_first_views_vs_augmented'], 1)}x the images/s after the first epoch, "
            f"{fmt(f['whole_run_views_vs_augmented'], 2)}x the whole-run time (writing the views included). "
            "Speed only: with random weights accuracy means nothing, and K fixed views are not the same "
            "regularizer as a new view every step."]  # fmt: skip


def markdown(results: dict, runs: dict[str, Measured]) -> str:
    c, probe = results["config"], results.get("forward_probe")
    parts = [
        f"{c['images']} JPEGs of {c['image_shape'][0]}x{c['image_shape'][1]} (5 classes), EfficientNet-B0 teacher "
        f"({c['teacher_params']:,} params) and frozen-base EfficientNet-B0 student ({c['student_trainable']:,} of "
        f"{c['student_params']:,} params trainable), random weights, batch {c['batch_size']}, {c['epochs']} epochs, "
        f"Adam(1e-3), T = {c['temperature']:g}, alpha = {c['alpha']:g}, {c['cpus']} CPUs, TF {c['tensorflow']}, "
        f"Keras {c['keras']}. One run of {c['seconds']:.0f} s.",
        "", method_table([runs[k] for k in ("pykd", "pykd_no_features", "distiller", "student_fit")]), "",
        target_table(results["targets"]), "", _feature_notes(results, runs),
    ]  # fmt: skip
    if "views" in runs:
        parts += _views_section(results, runs)
    if probe:
        parts += ["", f"Yardstick for the one-off passes: the student's forward pass under tf.function, batch "
                      f"{c['batch_size']}, first call (trace) {probe['first_call_seconds']:.1f} s, then "
                      f"{probe['images_per_s']:.0f} img/s."]  # fmt: skip
    return "\n".join(parts) + "\n"


# ------------------------------------------------------------------ driver
def config(args, ctx) -> dict:
    return {
        "images": ctx["n"], "image_shape": list(SHAPE), "classes": N_CLASSES, "batch_size": BATCH_SIZE,
        "epochs": args.epochs, "views": args.views, "temperature": common.TEMPERATURE, "alpha": common.ALPHA,
        "augmentation": common.AUGMENT, "teacher_params": ctx["teacher_params"], "student_params": ctx["student_params"],
        "student_trainable": ctx["student_trainable"], "feature_cache_api": ctx["feature_cache_api"],
        **common.machine(),
    }  # fmt: skip


def measure(ctx) -> tuple[dict[str, Measured], float, dict]:
    """Every run in a fixed order: the Keras baselines, pykd, the augmentation pair, the forward probe."""
    runs = [student_fit(ctx), distiller(ctx), *pykd_runs(ctx)]
    aug, seconds_views = augmentation_runs(ctx)
    probe = forward_probe(ctx)
    return {r.key: r for r in runs + aug}, seconds_views, probe


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    out_dir = common.output_dir(args.out)
    log(f"frozen-base benchmark: {args.images} JPEGs {SHAPE[0]}x{SHAPE[1]}, batch {BATCH_SIZE}, {args.epochs} epochs, "
        f"{common.machine()['cpus']} CPUs, feature cache in pykd: {has_feature_cache()}")  # fmt: skip
    with common.scratch_dir("pykd-frozen-") as work:  # distill()'s temporary image and feature files go here too
        ctx = prepare(work, args.images)
        ctx.update(epochs=args.epochs, views=args.views, feature_cache_api=has_feature_cache())
        runs, seconds_views, probe = measure(ctx)
        x = images_of(ctx, ctx["table"]["image_id"][:64])
        results = {
            "config": config(args, ctx),
            "methods": {k: r.summary() for k, r in runs.items()},
            "seconds_writing_views": seconds_views,
            "forward_probe": probe,
            "agreement": agreement(runs, x),
            "pass_images_per_s": {k: pass_speeds(r) for k, r in runs.items() if k in ("pykd", "views")},
        }
    results["ratios"] = ratios(runs, seconds_views)
    results["targets"] = targets(results["ratios"])
    results["config"]["seconds"] = round(time.perf_counter() - started, 1)
    write_outputs(out_dir, results, runs)
    return 0


def write_outputs(out_dir: Path, results: dict, runs: dict[str, Measured]) -> None:
    md = "## The tutorial's frozen-base student (issue 20)\n\n" + markdown(results, runs)
    common.write_results(out_dir, "frozen", results, md)
    for v in results["targets"]:
        log(f"{common.verdict(v['pass']):4} {v['what']}: "
            f"{fmt(v['value'], 2)} (target {v['target']})")  # fmt: skip
    log(f"wrote {out_dir / 'frozen.json'} and {out_dir / 'frozen.md'} in {results['config']['seconds']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
