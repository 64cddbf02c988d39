"""pykd's speed and memory benchmark: `make bench` (= .venv/bin/python benchmarks/speed/bench.py).

In one process, on the same JPEG files, with clones of the same teacher (~260k
parameters) and student (~24k), batch 64, 64x64x3 images, it measures images/s of

  (a)  pykd.distill with augmentation: the teacher runs every step
  (b)  pykd.distill without augmentation: cache_teacher="auto" computes the
       teacher's logits once and every epoch reuses them
  (c)  Keras 3's keras.distillation.Distiller under fit(), augmentation in tf.data
  (d)  the keras.io example's Distiller (custom train_step), augmentation in the step
  (e)  a seed-style eager loop (Python for-loop, GradientTape, no tf.function)
  (f)  the student's own plain fit() without augmentation (the bound for (b))
  (c0), (d0)  (c) and (d) without augmentation: (b)'s like-for-like partners

and, next to them, pykd's own options switched the other way (a float32
teacher; JPEG decoding every epoch instead of the decoded-image cache), candidate
changes (candidates.py, handed the run by pykd's set_run hook: XLA; with
--more-variants also XLA with augmentation, and a bfloat16 student), micro-benchmarks of XLA, bfloat16
and the input pipelines, the cost of reading images (distill()'s image source:
here the decoded-image cache of the JPEG files) against the same compiled step
fed in-memory tensors, measured on the replays in epochs alternating files,
memory, memory, files, and, in fresh subprocesses, distill()'s peak memory at N
and 8N rows and the effect of TensorFlow's oneDNN switch.

Methods run in rounds (all of them, then all again, each round in a rotated
order) so machine drift hits all alike; a figure is the median over rounds and
a ratio the median of per-round ratios. Thresholds are the issue's; every
PASS/FAIL is computed (report.py).

WARM: every measurement in a round follows an unmeasured epoch of the same
method in the same round. A graph that has just run another method's graphs
runs its first epoch up to ~20-40% slower (measured here), so without this the
method measured right after its own first epoch (distill()'s steady epochs)
would be favoured over one measured cold (a single-epoch fit()). So: the first
epoch of every distill() call (also tracing; the one-off decoding of the images
and, for (b), of the teacher's logits come before it), of every fit() call and
of every replayed variant is not counted; (b) is also reported with its cache
pass included.

This file is the driver: options, the order of the experiments, the outputs.
What each method runs is in methods.py, the replays and candidate changes in
replays.py, the micro-benchmarks in micro.py, the subprocess probes in probes.py,
and every figure, verdict and table of the report in report.py; what the
benchmarks share (medians, verdicts, the output files, the Keras methods' pipeline)
in ../common.py. Writes bench-output/bench.json and bench-output/bench.md (for the README).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for common

import bench_models as bm  # noqa: E402
import common  # noqa: E402  (puts this checkout's pykd first on sys.path)
import methods  # noqa: E402
import probes  # noqa: E402
import replays  # noqa: E402
import report  # noqa: E402
from common import log  # noqa: E402
from micro import Micro  # noqa: E402

import pykd  # noqa: E402  (sets TensorFlow's environment before TensorFlow loads)
from pykd._tf import keras, tf  # noqa: E402
from pykd.data.augmentation import build_augmenter  # noqa: E402

tf.get_logger().setLevel("ERROR")  # many Steps objects each trace once: not a retracing problem


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of every method (default 5)")
    parser.add_argument("--images", type=int, default=1792, help="training images (default 1792 = 28 batches of 64)")
    parser.add_argument("--eager-batches", type=int, default=14, help="batches of (e) per round (default 14, half an epoch)")
    parser.add_argument("--memory-rows", type=int, default=256, help="N for the memory probe: N and 8N rows")
    parser.add_argument("--onednn-pairs", type=int, default=1, help="oneDNN off/on subprocess pairs (0 = skip)")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-variants", action="store_true", help="no candidate-change rows, no micro-benchmarks")
    parser.add_argument("--more-variants", action="store_true",
                        help="also XLA with augmentation, a bfloat16 student")  # fmt: skip
    parser.add_argument("--out", default=str(common.OUT))
    return parser.parse_args(argv)


def onednn_setting() -> str:
    value = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    return "unset (TensorFlow's default: on)" if value is None else value


def prepare(work: Path, n_images: int) -> tuple[dict, keras.Model, keras.Model]:
    """The JPEG files, the starting weights and what every method shares (ctx)."""
    image_dir = work / "images"
    table = common.write_images(image_dir, n_images, shape=bm.IMAGE_SHAPE, n_classes=bm.N_CLASSES, seed=0)
    keras.utils.set_random_seed(0)
    teacher0, student0 = bm.teacher(), bm.student()
    paths = [str(image_dir / i) for i in table["image_id"]]
    ctx = {
        "n": len(table), "table": table, "image_dir": str(image_dir), "paths": paths, "work": str(work),
        "labels": table["label"].astype(int).tolist(),
        "teacher_weights": teacher0.get_weights(), "student_weights": student0.get_weights(),
        "augmenter": lambda: build_augmenter(pykd.Augmentation(**common.AUGMENT), 0),
    }  # fmt: skip
    ctx["all_images"] = common.decode_all(paths, bm.IMAGE_SHAPE)
    log(f"  wrote {len(table)} JPEGs; teacher {teacher0.count_params():,} params, student {student0.count_params():,}")
    return ctx, teacher0, student0


def check_losses(ctx, student0) -> dict:
    """On one batch, pykd's loss against the Keras distillers': the methods must optimize the same objective."""
    # A teacher whose soft targets are not near-uniform, so the KL terms are not ~0 when compared.
    sharp = bm.clone(bm.teacher, [w * 3.0 for w in ctx["teacher_weights"]])
    agreement = common.loss_agreement(sharp, student0, ctx["all_images"][:64], tf.constant(ctx["labels"][:64], tf.int32))
    worst = agreement["max_relative_difference"]
    log(f"  one batch's loss: pykd {agreement['pykd']:.6f}, "
        f"keras.distillation.Distiller {agreement['builtin_distiller']:.6f}, "
        f"keras.io-style {agreement['keras_io']:.6f} (max relative difference {worst:.1e})")  # fmt: skip
    if worst > 1e-3:
        log("  WARNING: the methods do not optimize the same loss; the comparison is not like for like")
    return agreement


def line_up(ctx, args) -> tuple[list[methods.Method], Micro | None]:
    """Every method in its place in the rotation, set up (traced, warmed); the micro-benchmarks unless skipped."""
    lineup = methods.main_methods(ctx, args.eager_batches) + replays.controls(ctx)
    if not args.skip_variants:  # the controls run anyway: the cost-of-reading target comes from them
        lineup += replays.variants(ctx, args.more_variants)
    t0 = time.perf_counter()
    for m in lineup:
        m.setup()
    micro = None
    if not args.skip_variants:
        b_replay = next(m for m in lineup if m.key == "b_replay")
        micro = Micro(ctx, b_replay.captured and b_replay.captured.source.images)  # its decoded-image cache
        micro.setup()
    log(f"  set-up, tracing and warm-up epochs: {time.perf_counter() - t0:.0f} s")
    return lineup, micro


def run_rounds(lineup, micro, rounds: int) -> None:
    for r in range(rounds):
        t_round = time.perf_counter()
        order = lineup[r % len(lineup):] + lineup[: r % len(lineup)]
        for m in order:
            m.per_round.append(m.run_round(r))
        if micro:
            micro.run_round(r)
        log(f"  round {r + 1}/{rounds} ({time.perf_counter() - t_round:.0f} s): "
            + ", ".join(f"{m.key} {m.per_round[-1] or 0:.0f}" for m in lineup) + " img/s")  # fmt: skip


def config(args, ctx, teacher0, student0) -> dict:
    return {
        "images": ctx["n"], "image_shape": list(bm.IMAGE_SHAPE), "batch_size": bm.BATCH_SIZE, "rounds": args.rounds,
        "teacher_params": int(teacher0.count_params()), "student_params": int(student0.count_params()),
        "temperature": common.TEMPERATURE, "alpha": common.ALPHA, "augmentation": common.AUGMENT,
        "eager_batches_per_round": args.eager_batches, **common.machine(),
        "TF_ENABLE_ONEDNN_OPTS": onednn_setting(),
    }  # fmt: skip


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    out_dir = common.output_dir(args.out)
    log(f"pykd benchmark: {args.images} JPEGs 64x64x3, batch {bm.BATCH_SIZE}, {args.rounds} rounds, {os.cpu_count()} CPUs, "
        f"TF {tf.__version__}, Keras {keras.__version__}, TF_ENABLE_ONEDNN_OPTS={onednn_setting()}")  # fmt: skip
    with common.scratch_dir("pykd-bench-") as work:  # distill()'s temporary decoded-image files go here too
        ctx, teacher0, student0 = prepare(work, args.images)
        agreement = check_losses(ctx, student0)
        lineup, micro = line_up(ctx, args)
        run_rounds(lineup, micro, args.rounds)
        memory = None if args.skip_memory else probes.memory(ctx, args.memory_rows, work)
        cfg = config(args, ctx, teacher0, student0)
    onednn = probes.onednn(args.onednn_pairs, 8) if args.onednn_pairs > 0 else None

    measured = {m.key: m.measured() for m in lineup}
    results = report.summarize(cfg, measured, None if micro is None else micro.summary(), memory, onednn)
    results["loss_agreement"] = agreement
    results["config"]["seconds"] = round(time.perf_counter() - started, 1)
    write_outputs(out_dir, results)
    return 0


def write_outputs(out_dir: Path, results: dict) -> None:
    common.write_results(out_dir, "bench", results, report.markdown(results))
    log(f"wrote {out_dir / 'bench.json'} and {out_dir / 'bench.md'} in {results['config']['seconds']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
