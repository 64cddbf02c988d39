"""Measurements in fresh subprocesses: distill()'s peak memory (memory_probe.py) and oneDNN (onednn_probe.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import bench_models as bm
from common import log, median

HERE = Path(__file__).resolve().parent


def _run_json(args: list[str], env: dict, what: str) -> dict:
    """Run a probe script; its last stdout line is its JSON result."""
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory(ctx, rows: int, workdir: Path) -> dict:
    """distill()'s peak RSS in a fresh process at `rows` and 8 x `rows` rows (distinct files, repeated content)."""
    runs = {}
    for size in (rows, 8 * rows):
        directory = workdir / f"mem_{size}"
        table = bm.replicate(ctx["table"], Path(ctx["image_dir"]), directory, size)
        csv = workdir / f"mem_{size}.csv"
        table.to_csv(csv, index=False)
        runs[size] = r = _run_json([str(HERE / "memory_probe.py"), str(csv), str(directory)], dict(os.environ),
                                   f"memory probe ({size} rows)")  # fmt: skip
        log(f"  memory: {size} rows -> peak RSS {r['peak_rss_mb']:.0f} MB "
            f"(before distill {r['peak_rss_before_distill_mb']:.0f} MB, "
            f"ru_maxrss {r['ru_maxrss_mb']:.0f} MB, {r['seconds']} s)")  # fmt: skip
    small, big = runs[rows], runs[8 * rows]
    grow_small = small["peak_rss_mb"] - small["peak_rss_before_distill_mb"]
    grow_big = big["peak_rss_mb"] - big["peak_rss_before_distill_mb"]
    return {
        "rows": [rows, 8 * rows],
        "runs": [small, big],
        "ratio": big["peak_rss_mb"] / small["peak_rss_mb"],
        "growth_mb": big["peak_rss_mb"] - small["peak_rss_mb"],
        "distill_own_mb": [grow_small, grow_big],
    }


def onednn(pairs: int, steps: int) -> dict:
    """The same micro-benchmark in fresh processes with TF_ENABLE_ONEDNN_OPTS=0 and =1, alternated."""
    results: dict[str, list[dict]] = {"0": [], "1": []}
    for _ in range(pairs):
        for flag in ("0", "1"):
            env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=flag, TF_CPP_MIN_LOG_LEVEL="2")
            results[flag].append(_run_json([str(HERE / "onednn_probe.py"), str(steps)], env, "oneDNN probe"))
    table = {}
    for name in results["0"][0]:
        off = median([r[name] for r in results["0"]])
        on = median([r[name] for r in results["1"]])
        table[name] = {"onednn_off": off, "onednn_on": on, "on_over_off": on / off}
    return table
