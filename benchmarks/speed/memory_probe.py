"""One distill() run in a fresh process; prints its peak resident memory as JSON.

    python benchmarks/speed/memory_probe.py TABLE.csv IMAGE_DIR [--epochs 1] [--augment]

bench.py runs this once per table size, so each figure is a fresh process's
own peak (VmHWM covers the whole life of the process image: imports, models, the
teacher-cache pass and every step).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for common


def peak_mb() -> float:
    """This process image's own peak RSS (VmHWM), in MB.

    ru_maxrss is not used for the figure: when a big parent (bench.py) starts
    this process, Linux carries the parent's peak over into the child's
    ru_maxrss at exec, so every child would report at least the parent's peak.
    VmHWM belongs to the new process image only. Both are printed.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return ru_maxrss_mb()


def ru_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("table")
    parser.add_argument("directory")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--augment", action="store_true")
    args = parser.parse_args()

    import bench_models as bm
    import common
    import pandas as pd

    import pykd

    table = pd.read_csv(args.table)
    teacher = bm.teacher()
    student = bm.student()
    before = peak_mb()
    started = time.perf_counter()
    history = pykd.distill(
        teacher, student, table, directory=args.directory,
        batch_size=bm.BATCH_SIZE, epochs=args.epochs, temperature=common.TEMPERATURE, alpha=common.ALPHA,
        augment=common.AUGMENT if args.augment else None, cache_teacher="auto", seed=0, verbose=0,
    )  # fmt: skip
    print(json.dumps({
        "rows": len(table),
        "peak_rss_mb": round(peak_mb(), 1),
        "peak_rss_before_distill_mb": round(before, 1),
        "ru_maxrss_mb": round(ru_maxrss_mb(), 1),
        "seconds": round(time.perf_counter() - started, 2),
        "teacher_cache": bool(history.params.get("teacher_cache")),
        "augmented": bool(history.params.get("augmented")),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
