"""pykd's defaults across set-ups no one tuned for (issue 34): the second half of `make bench-quality`.

Plain `distill(teacher, student, (x, y))` with its defaults, against what a user would run
instead, on Fashion-MNIST PROBE draws: the training rows and the test rows both come from
Fashion-MNIST's training file (--draw picks them), so the published test images
(bench-quality's, from the t10k file) choose and judge nothing here.

For every (regime, seed) one teacher (bench-quality's 421,642-parameter CNN, trained once and
kept in --cache) teaches students of four kinds, each from one initial build per seed:

  mlp             Flatten, Dense(32), Dense(10)                               25,450 parameters
  small_cnn       two convolutions (8, 16 filters) each followed by pooling    9,098
  strided_cnn     bench-quality's student: two strided convolutions           20,490
  mobilenet_like  a strided stem, two depthwise-separable blocks, batch norm   4,426

Every method trains a student for the same optimizer steps (--epochs passes over the
12,000 training rows at batch 64; the labeled-only methods repeat their rows to match):

  scratch          pykd.train_scratch with its defaults, on the labeled rows
  keras_distiller  keras.distillation.Distiller compiled as a Keras user does (Adam, 1e-3 fixed),
                   T and alpha as pykd's; every row labeled only (it cannot use a pool)
  pykd_distiller   pykd.Distiller on the Distiller's very batches and optimizer: pykd's step in
                   Keras' data order, which parts any gap between the two above
  before           pykd.distill as it was before issue 34: Adam at a fixed 1e-3
  defaults         pykd.distill with its defaults (the pool included)
  peak_1e-2        pykd.distill with learning_rate=1e-2: the peak that scored higher on these students
                   but left a plain 94k-parameter CNN (the demo's teacher) at chance

Accuracy is on the probe test rows after the last step. --probe runs the candidates that
were weighed on seed 0 instead (PROBES); --held-out swaps in students and user learning
rates that chose nothing (HELD_OUT_STUDENTS, HELD_OUT_LEARNING_RATES). Writes
bench-output/defaults[-probe][-held-out].json and .md: each method's mean over seeds, the
defaults minus it with its paired standard error, and the issue's goals.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for common

import common  # noqa: E402  (puts this checkout's pykd first on sys.path)
import numpy as np  # noqa: E402
from common import log  # noqa: E402

import pykd  # noqa: E402  (sets TensorFlow's environment before TensorFlow loads)

BATCH_SIZE = 64
REGIMES = {"all labeled": 1.0, "10% labeled": 0.1}
SIZES = {
    "full": dict(n_train=12_000, n_test=2_000, seeds=[0, 1, 2], epochs=10, teacher_steps=1_500),
    # One student, each method once: that every cell fills, not what it holds.
    "quick": dict(n_train=256, n_test=128, seeds=[0], epochs=1, teacher_steps=8, students=["mlp"]),
}
TEACHER_LR = 3e-3
TEACHER_AUGMENT = {"all labeled": None, "10% labeled": dict(width_shift_range=0.1, height_shift_range=0.1,
                                                            horizontal_flip=True)}


# ---------------------------------------------------------------- students
def mlp():
    from pykd._tf import keras

    L = keras.layers
    return keras.Sequential([keras.Input((28, 28, 1)), L.Rescaling(1 / 255), L.Flatten(), L.Dense(32, activation="relu"),
                             L.Dense(10)], name="mlp")  # fmt: skip


def small_cnn():
    """Two convolutions each followed by pooling: 9,098 parameters, the issue's "9k-parameter conv student"."""
    from pykd._tf import keras

    L = keras.layers
    return keras.Sequential([
        keras.Input((28, 28, 1)), L.Rescaling(1 / 255), L.Conv2D(8, 3, activation="relu", padding="same"),
        L.MaxPooling2D(), L.Conv2D(16, 3, activation="relu", padding="same"), L.MaxPooling2D(), L.Flatten(), L.Dense(10),
    ], name="small_cnn")  # fmt: skip


def strided_cnn():
    import quality

    return quality.student_model()


def _separable(L, x, filters: int, strides: int):
    x = L.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False)(x)
    x = L.ReLU()(L.BatchNormalization()(x))
    x = L.Conv2D(filters, 1, use_bias=False)(x)
    return L.ReLU()(L.BatchNormalization()(x))


def mobilenet_like(width: int = 16):
    from pykd._tf import keras

    L = keras.layers
    inputs = keras.Input((28, 28, 1))
    x = L.Conv2D(width, 3, strides=2, padding="same", use_bias=False)(L.Rescaling(1 / 255)(inputs))
    x = L.ReLU()(L.BatchNormalization()(x))
    x = _separable(L, x, 2 * width, 1)
    x = _separable(L, x, 4 * width, 2)
    outputs = L.Dense(10)(L.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, outputs, name=f"mobilenet_like_{width}")


def wide_mlp():
    from pykd._tf import keras

    L = keras.layers
    return keras.Sequential([keras.Input((28, 28, 1)), L.Rescaling(1 / 255), L.Flatten(),
                             L.Dense(128, activation="relu"), L.Dense(64, activation="relu"), L.Dense(10)],
                            name="wide_mlp")  # fmt: skip


def strided_gap():
    """Three strided convolutions and global average pooling: 23,946 parameters."""
    from pykd._tf import keras

    L = keras.layers
    return keras.Sequential([
        keras.Input((28, 28, 1)), L.Rescaling(1 / 255), L.Conv2D(16, 3, strides=2, activation="relu", padding="same"),
        L.Conv2D(32, 3, strides=2, activation="relu", padding="same"),
        L.Conv2D(64, 3, strides=2, activation="relu", padding="same"), L.GlobalAveragePooling2D(), L.Dense(10),
    ], name="strided_gap")  # fmt: skip


STUDENTS = {"mlp": mlp, "small_cnn": small_cnn, "strided_cnn": strided_cnn, "mobilenet_like": mobilenet_like}
# Never used to choose a default: the check that the defaults carry over, also at rates a user gives.
HELD_OUT_STUDENTS = {"wide_mlp": wide_mlp, "strided_gap": strided_gap}
HELD_OUT_LEARNING_RATES = (None, 1e-3, 3e-2)


# ---------------------------------------------------------------- methods
def warmup_cosine(peak: float, steps: int, warmup: float = 0.05):
    """A linear warm-up over `warmup` of the steps to `peak`, then a cosine decay to 0."""
    from pykd._tf import keras

    warm = max(1, int(round(warmup * steps)))
    return keras.optimizers.schedules.CosineDecay(0.0, max(1, steps - warm), warmup_target=peak, warmup_steps=warm)


def fixed_adam(rate: float | None = None):
    """Adam at a fixed rate: by default 1e-3, what pykd did before issue 34 and what compile(optimizer="adam") gives."""
    from pykd._tf import keras

    return keras.optimizers.Adam(1e-3 if rate is None else rate)


def _steps(cell: dict) -> dict:
    return {"epochs": cell["epochs"], "steps_per_epoch": -(-cell["n_train"] // BATCH_SIZE)}


def total_steps(cell: dict) -> int:
    s = _steps(cell)
    return s["epochs"] * s["steps_per_epoch"]


def accuracy(model, cell: dict) -> float:
    x, y = cell["test"]
    return float(np.mean(np.argmax(model.predict(x, batch_size=512, verbose=0), -1) == y))


def labeled(cell: dict):
    x, y = cell["train"]
    keep = y >= 0
    return x[keep], y[keep]


def run_scratch(teacher, student, cell, **options):
    pykd.train_scratch(student, labeled(cell), batch_size=BATCH_SIZE, seed=cell["seed"], verbose=0, **_steps(cell),
                       **options)
    return accuracy(student, cell)


def run_distill(teacher, student, cell, **options):
    pykd.distill(teacher, student, cell["train"], batch_size=BATCH_SIZE, seed=cell["seed"], verbose=0, **_steps(cell),
                 **options)
    return accuracy(student, cell)


def keras_batches(cell: dict):
    """The labeled rows as a Keras user feeds them: shuffled by the seed, repeated, in batches (no short one)."""
    from pykd._tf import keras, tf

    keras.utils.set_random_seed(cell["seed"])
    x, y = labeled(cell)
    return (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=cell["seed"]).repeat().batch(BATCH_SIZE)
            .prefetch(2))  # fmt: skip


def run_keras_distiller(teacher, student, cell, learning_rate=None):
    """keras.distillation.Distiller as a Keras user compiles it: optimizer="adam" (1e-3), or the rate given."""
    data = keras_batches(cell)
    distiller = common.builtin_distiller(teacher, student, optimizer=fixed_adam(learning_rate))
    distiller.fit(data, verbose=0, **_steps(cell))
    return accuracy(student, cell)


def run_pykd_distiller(teacher, student, cell):
    """pykd.Distiller under Keras' fit() on run_keras_distiller's very batches, at its rate: pykd's step in Keras'
    data order (all rows labeled), which parts the Distiller's lead, if any, into the step and the data order."""
    data = keras_batches(cell)
    distiller = pykd.Distiller(teacher, student, temperature=common.TEMPERATURE, alpha=common.ALPHA)
    distiller.compile(fixed_adam())
    distiller.fit(data, verbose=0, **_steps(cell))
    return accuracy(student, cell)


def methods(cell: dict, learning_rate: float | None) -> dict:
    """{name: (run, options)} for one student: the table's methods, or with --probe the candidates weighed.

    Options that hold an optimizer object are made per run (a callable), as an optimizer serves one model.
    Keras' Distiller only where every row is labeled (it cannot use a pool), at the rate pykd was given.
    The held-out check (--held-out) keeps to the methods its goals need, at every rate.
    """
    rate = {} if learning_rate is None else {"learning_rate": learning_rate}

    def fixed():
        return {"optimizer": fixed_adam(learning_rate)}

    probe, full = cell["probe"], not cell["probe"] and not cell["held_out"]
    out = {"scratch": (run_scratch, rate)}
    if probe:
        out["scratch_before"] = (run_scratch, fixed)
    elif cell["regime"] == "all labeled" and (full or learning_rate is None):
        out["keras_distiller"] = (run_keras_distiller, rate)
        if full:
            out["pykd_distiller"] = (run_pykd_distiller, {})
    out["before"] = (run_distill, fixed)
    out["defaults"] = (run_distill, rate)
    if probe:
        out.update({name: (run_distill, lambda _o=options: probe_options(_o, cell)) for name, options in PROBES.items()})
    elif full:
        out["peak_1e-2"] = (run_distill, {"learning_rate": 1e-2})  # the hotter peak, on every seed
    return out


# The candidates weighed for the defaults (--probe): a schedule's peak, T and alpha, weight decay.
PROBES = {  # run on seed 0 when the default peak was 3e-3: "defaults" then was cos_3e-3, scratch at 3e-3 too
    "cos_3e-3": dict(peak=3e-3),
    "cos_3e-3_T4": dict(peak=3e-3, temperature=4.0),
    "cos_3e-3_a0.5": dict(peak=3e-3, alpha=0.5),
    "cos_3e-3_adamw": dict(peak=3e-3, weight_decay=1e-4),
}


def probe_options(options: dict, cell: dict) -> dict:
    from pykd._tf import keras

    options = dict(options)
    schedule = warmup_cosine(options.pop("peak"), total_steps(cell))
    decay = options.pop("weight_decay", None)
    if decay is not None:
        options["optimizer"] = keras.optimizers.AdamW(schedule, weight_decay=decay)
    else:
        options["learning_rate"] = schedule
    return options


# ---------------------------------------------------------------- data and teachers
def draw(size: dict, draw_seed: int, fraction: float) -> dict:
    """Training and test rows, both from Fashion-MNIST's TRAINING file: a probe draw."""
    from pykd.data.datasets import FASHION_MNIST, _idx

    images = _idx(FASHION_MNIST / "train-images-idx3-ubyte.gz")
    labels = _idx(FASHION_MNIST / "train-labels-idx1-ubyte.gz").astype(np.int32)
    rows = np.random.default_rng(1000 + draw_seed).permutation(len(images))
    train, test = rows[:size["n_train"]], rows[size["n_train"]:size["n_train"] + size["n_test"]]
    y = labels[train].copy()
    hidden = np.random.default_rng(2000 + draw_seed).permutation(len(train))[int(round(fraction * len(train))):]
    y[hidden] = -1
    x = images[..., None]  # uint8: pykd reads arrays as 8-bit pixels
    return {"train": (x[train], y), "test": (x[test], labels[test])}


def teacher_for(cell: dict, cache: Path):
    """The regime and seed's teacher, trained once and kept in `cache`."""
    import quality

    from pykd._tf import keras

    path = cache / f"teacher-d{cell['draw']}-{cell['regime'].split()[0].replace('%', 'pct')}-s{cell['seed']}-" \
                   f"n{cell['n_train']}-{cell['teacher_steps']}.keras"
    if path.exists():
        return keras.models.load_model(path), None
    keras.utils.set_random_seed(cell["seed"])
    teacher = quality.teacher_model()
    steps = cell["teacher_steps"]
    epochs = min(10, steps)
    t0 = time.perf_counter()
    pykd.train_scratch(teacher, labeled(cell), batch_size=BATCH_SIZE, seed=cell["seed"], verbose=0, epochs=epochs,
                       steps_per_epoch=steps // epochs, augment=TEACHER_AUGMENT[cell["regime"]],
                       optimizer=keras.optimizers.Adam(warmup_cosine(TEACHER_LR, steps)))  # fmt: skip
    teacher.save(path)
    return teacher, time.perf_counter() - t0


# ---------------------------------------------------------------- cells (in worker processes)
def run_cell(regime: str, seed: int, job: dict, data: dict, started: float) -> dict:
    import quality

    from pykd._tf import keras

    cell = {**job, **data, "regime": regime, "seed": seed}
    teacher, seconds = teacher_for(cell, Path(job["cache"]))
    out = {"teacher": accuracy(teacher, cell)}
    log(f"  [{time.perf_counter() - started:6.0f} s] {regime}, seed {seed}: teacher {100 * out['teacher']:.1f}%"
        + ("" if seconds is None else f" ({seconds:.0f} s)"))
    students = HELD_OUT_STUDENTS if job["held_out"] else STUDENTS
    students = {k: v for k, v in students.items() if k in job.get("students", students)}
    for student_name, build in students.items():
        keras.utils.set_random_seed(seed)
        student0 = build()
        rates = job.get("rates") or HELD_OUT_LEARNING_RATES if job["held_out"] else (None,)
        for rate in rates:
            key = student_name if rate is None else f"{student_name}, learning_rate={rate:g}"
            row = out.setdefault(key, {"params": int(student0.count_params())})
            for name, (run, options) in methods(cell, rate).items():
                if job.get("only") and name not in job["only"]:
                    continue
                keras.utils.set_random_seed(seed)
                t0 = time.perf_counter()
                row[name] = run(teacher, quality.copy_of(student0), cell, **(options() if callable(options) else options))
                log(f"  [{time.perf_counter() - started:6.0f} s] {regime}, seed {seed}, {key}: {name} "
                    f"{100 * row[name]:.2f}% ({time.perf_counter() - t0:.0f} s)")
    return out


def worker(job_file: str) -> int:
    job = json.loads(Path(job_file).read_text())
    from pykd._tf import tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    started, out, data = time.perf_counter(), {}, {}
    for regime, seed in job["cells"]:
        if regime not in data:
            data[regime] = draw(job, job["draw"], REGIMES[regime])
        out.setdefault(regime, {})[str(seed)] = run_cell(regime, seed, job, data[regime], started)
    Path(job["result_file"]).write_text(json.dumps(out))
    return 0


def run_all(job: dict, work: Path) -> dict:
    regimes = list(REGIMES)
    order = [(regimes[(i + k) % 2], seed) for k, seed in enumerate(job["seeds"]) for i in range(2)]
    procs, files = [], []
    for i in range(2):
        files.append(work / f"result{i}.json")
        (work / f"job{i}.json").write_text(json.dumps({**job, "cells": order[i::2], "result_file": str(files[-1])}))
        procs.append(subprocess.Popen([sys.executable, __file__, "--worker", str(work / f"job{i}.json")]))
    codes = [p.wait() for p in procs]
    if any(codes):
        raise SystemExit(f"a worker failed (exit codes {codes})")
    merged = {regime: {} for regime in REGIMES}
    for f in files:
        for regime, seeds in json.loads(f.read_text()).items():
            merged[regime].update(seeds)
    return merged


# ---------------------------------------------------------------- report (no TensorFlow)
def paired(a: list[float], b: list[float]) -> tuple[float, float | None]:
    d = [x - y for x, y in zip(a, b)]
    return statistics.fmean(d), (statistics.stdev(d) / len(d) ** 0.5 if len(d) > 1 else None)


def table(runs: dict) -> dict:
    """{regime: {student: {method: {"per_seed", "mean", "vs_defaults": (diff, se)}}}} in accuracy points."""
    out = {}
    for regime, seeds in runs.items():
        out[regime] = {}
        first = next(iter(seeds.values()))
        for student in (k for k in first if k != "teacher"):
            rows = {"teacher": [100 * s["teacher"] for s in seeds.values()]}
            for method in (m for m in first[student] if m != "params"):
                rows[method] = [100 * s[student][method] for s in seeds.values()]
            out[regime][student] = {m: {"per_seed": v, "mean": statistics.fmean(v),
                                        "defaults_minus": paired(rows["defaults"], v)} for m, v in rows.items()}
    return out


GOALS = [  # (text, regime, baseline, the least defaults - baseline in points)
    ("10% labeled: defaults >= scratch + 3", "10% labeled", "scratch", 3.0),
    ("10% labeled: defaults >= teacher - 0.5", "10% labeled", "teacher", -0.5),
    ("all labeled: defaults >= scratch + 1", "all labeled", "scratch", 1.0),
    ("all labeled: defaults >= Keras Distiller", "all labeled", "keras_distiller", 0.0),
]


def _fmt(diff: float, se: float | None) -> str:
    return f"{diff:+.2f}" + ("" if se is None else f" ({se:.2f})")


def markdown(results: dict) -> str:
    tab, cfg = results["table"], results["config"]
    lines = [f"# pykd's defaults across set-ups ({cfg['command']})", "",
             f"Fashion-MNIST probe draw {cfg['draw']} (training and test rows from its training file): "
             f"{cfg['n_train']:,} training rows, {cfg['n_test']:,} test rows, seeds {cfg['seeds']}, {cfg['epochs']} "
             f"epochs of batch {BATCH_SIZE} for every student method (the same steps), {cfg['seconds']:.0f} s.", "",
             "Each cell: mean test accuracy in %, then defaults minus that method with its paired standard error "
             "(over seeds) in brackets.", ""]  # fmt: skip
    for regime, students in tab.items():
        methods_ = list(dict.fromkeys(m for rows in students.values() for m in rows if m != "defaults"))
        lines += [f"## {regime}", "", "| student | defaults | " + " | ".join(methods_) + " |",
                  "|---|--:|" + "--:|" * len(methods_)]
        for student, rows in students.items():
            cells_ = [f"{rows[m]['mean']:.2f} ({_fmt(*rows[m]['defaults_minus'])})" if m in rows else "-"
                      for m in methods_]
            lines.append(f"| {student} | {rows['defaults']['mean']:.2f} | " + " | ".join(cells_) + " |")
        lines.append("")
    lines += ["## Goals (defaults minus baseline, paired se)", "", "| goal | student | difference | verdict |",
              "|---|---|--:|---|"]
    for goal in results["goals"]:
        lines.append(f"| {goal['goal']} | {goal['student']} | {_fmt(goal['difference'], goal['se'])} | "
                     f"{'PASS' if goal['met'] else 'MISS'} |")
    return "\n".join(lines) + "\n"


def goals(tab: dict) -> list[dict]:
    out = []
    for text, regime, baseline, margin in GOALS:
        for student, rows in tab.get(regime, {}).items():
            if baseline not in rows:
                continue
            diff, se = rows[baseline]["defaults_minus"]
            # Accuracies are multiples of 0.05 points here: compare at that grain, not float noise.
            out.append({"goal": text, "student": student, "difference": diff, "se": se, "met": round(diff, 6) >= margin})
    return out


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a miniature (256 rows, 1 seed, 1 epoch, the MLP) for the test")
    parser.add_argument("--probe", action="store_true", help="also the candidate defaults that were weighed (PROBES)")
    parser.add_argument("--held-out", action="store_true", help="students and learning rates no default was tuned on")
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds (default 0 1 2)")
    parser.add_argument("--rates", nargs="+", type=lambda v: None if v == "default" else float(v),
                        help="with --held-out, these learning rates ('default' for none given)")
    parser.add_argument("--only", nargs="+", metavar="METHOD", help="run these methods alone (e.g. after a default moved)")
    parser.add_argument("--epochs", type=int, help="epochs of every student (default 10)")
    parser.add_argument("--draw", type=int, default=1, help="which probe draw of Fashion-MNIST's training file (default 1)")
    parser.add_argument("--cache", help="where teachers are kept between runs (default bench-output/teachers)")
    parser.add_argument("--out", help="the output folder (default bench-output)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker(args.worker)
    started = time.perf_counter()
    size = dict(SIZES["quick" if args.quick else "full"])
    size.update({k: getattr(args, k) for k in ("seeds", "epochs") if getattr(args, k) is not None})
    out_dir = common.output_dir(args.out or common.OUT)
    name = "defaults" + ("-probe" if args.probe else "") + ("-held-out" if args.held_out else "") + \
        ("-only-" + "-".join(args.only) if args.only else "") + ("-rates" if args.rates else "")
    cache = Path(args.cache or out_dir / "teachers")
    cache.mkdir(parents=True, exist_ok=True)
    job = {**size, "draw": args.draw, "probe": args.probe, "held_out": args.held_out, "cache": str(cache),
           "only": args.only, "rates": args.rates}
    log(f"pykd defaults benchmark: draw {args.draw}, {size['n_train']:,} rows, seeds {size['seeds']}, {size['epochs']} epochs")
    with common.scratch_dir("pykd-defaults-") as work:
        runs = run_all(job, work)
    (out_dir / f"{name}-runs.json").write_text(json.dumps(runs))  # an hour of runs: kept before any report
    cfg = {**size, "draw": args.draw, "seconds": time.perf_counter() - started,
           "command": "benchmarks/quality/defaults.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           **common.machine()}  # fmt: skip
    if args.only:  # part of a table: the runs alone, to merge with a whole run's
        common.write_results(out_dir, name, {"config": cfg, "runs": runs}, "")
        return 0
    tab = table(runs)
    results = {"config": cfg, "runs": runs, "table": tab, "goals": goals(tab)}
    common.write_results(out_dir, name, results, markdown(results))
    log(f"wrote {name}.json and {name}.md in {out_dir} in {cfg['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
