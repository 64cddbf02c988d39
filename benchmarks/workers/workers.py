"""Input throughput with 1 and 2 workers (MultiWorkerMirroredStrategy), each pinned to its own core.

`make bench` runs it after speed/bench.py: .venv/bin/python benchmarks/workers/workers.py.

The same JPEG files (128x128), decoded every epoch (cache_images=False), train a
small student from scratch, so reading and decoding the images is the bottleneck.
One worker runs alone on core 0; then two workers on localhost (loopback ports) run
on cores 0 and 1, each reading only its replica's part of every batch. A figure is
training images per second over the epochs after the first (the whole table per
epoch, whatever the number of workers). Writes bench-output/workers.json and
bench-output/workers.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for common

import common  # noqa: E402  (puts this checkout's pykd first on sys.path)
import numpy as np  # noqa: E402

from pykd.run.workers import loopback_ports  # noqa: E402

WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    index, ports, out, core, table, directory, epochs = sys.argv[1:8]
    os.sched_setaffinity(0, {int(core)})  # before TensorFlow starts its threads
    ports = ports.split(",")
    if len(ports) > 1:
        os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                                              "task": {"type": "worker", "index": int(index)}})
    import tensorflow as tf
    import keras
    import pykd
    strategy = tf.distribute.MultiWorkerMirroredStrategy() if len(ports) > 1 else None
    student = keras.Sequential([keras.Input((128, 128, 3)), keras.layers.Rescaling(1 / 255),
                                keras.layers.Conv2D(8, 3, strides=4, activation="relu"),
                                keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)])
    ends = []
    clock = pykd.FunctionCallback(on_epoch_end=lambda epoch, logs: ends.append(time.perf_counter()))
    history = pykd.train_scratch(student, table, directory=directory, batch_size=64, epochs=int(epochs), seed=0,
                                 verbose=0, cache_images=False, strategy=strategy, callbacks=[clock])
    seconds = [b - a for a, b in zip(ends, ends[1:])]
    json.dump({"epoch_seconds": seconds, "rows": history.params["n_train"],
               "rows_read": history.params["rows_read"]}, open(out, "w"))
    """
)


def write_images(folder: Path, n: int) -> Path:
    """n 128x128 JPEGs (smooth random pictures, photo-like file sizes) and their table."""
    from PIL import Image

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        small = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((128, 128), Image.BICUBIC)
        name = f"img_{i:05d}.jpg"
        image.save(folder / name, quality=90)
        rows.append(f"{name},{i % 10}")
    table = folder.parent / "train.csv"
    table.write_text("image_id,label\n" + "\n".join(rows) + "\n")
    return table


def run(workers: int, script: Path, table: Path, directory: Path, out: Path, epochs: int) -> list[dict]:
    ports = loopback_ports(workers) if workers > 1 else [0]
    procs, outs = [], []
    for index in range(workers):
        outs.append(out / f"w{workers}-{index}.json")
        procs.append(subprocess.Popen(
            [sys.executable, str(script), str(index), ",".join(map(str, ports)), str(outs[-1]), str(index),
             str(table), str(directory), str(epochs)],
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1"),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        ))
    for proc in procs:
        _, err = proc.communicate(timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"a worker failed:\n{err[-3000:]}")
    return [json.loads(o.read_text()) for o in outs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--out", default=str(common.OUT))
    args = parser.parse_args()
    if len(os.sched_getaffinity(0)) < 2:
        sys.exit("This benchmark needs two cores.")
    out = common.output_dir(args.out)
    with common.scratch_dir("pykd-workers-bench-") as tmp:
        table = write_images(tmp / "images", args.images)
        script = tmp / "worker.py"
        script.write_text(WORKER)
        results = {}
        for workers in (1, 2):
            runs = run(workers, script, table, tmp / "images", tmp, args.epochs)
            seconds = float(np.median(runs[0]["epoch_seconds"]))  # the workers step in lockstep
            results[workers] = {"images_per_s": runs[0]["rows"] / seconds, "epoch_seconds": seconds,
                                "rows_read_per_worker": [r["rows_read"] for r in runs]}
            common.log(f"{workers} worker(s): {results[workers]['images_per_s']:.0f} images/s")
    ratio = results[2]["images_per_s"] / results[1]["images_per_s"]
    report = {"images": args.images, "epochs": args.epochs, "image_size": [128, 128], "batch_size": 64,
              "workers": results, "ratio_2_over_1": ratio}
    table_md = (
        "| workers (one core each) | images/s | rows each worker read |\n|--:|--:|--:|\n"
        + "".join(f"| {w} | {r['images_per_s']:.0f} | {', '.join(map(str, r['rows_read_per_worker']))} |\n"
                  for w, r in results.items())
        + f"\n2 workers / 1 worker: {ratio:.2f}x ({args.images} JPEGs of 128x128, decoded every epoch, "
          f"batch 64, median of epochs 2-{args.epochs}).\n"
    )
    common.write_results(out, "workers", report, table_md)


if __name__ == "__main__":
    main()
