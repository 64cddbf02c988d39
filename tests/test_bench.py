"""`make bench` itself: a one-round miniature must run every method and write its report.

The figures of a run this small mean nothing; what is checked is that each method ran,
the report names every target of issue 4, and the three distillers agree on the loss.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"


def test_a_one_round_benchmark_measures_every_method_and_target(tmp_path):
    out = tmp_path / "bench"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--images", "128", "--rounds", "1", "--eager-batches", "1",
         "--skip-variants", "--skip-memory", "--onednn-pairs", "0", "--out", str(out)],
        capture_output=True, text=True, timeout=900, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((out / "bench.json").read_text())

    assert results["loss_agreement"]["max_relative_difference"] < 1e-3
    for key in ("a", "b", "c", "d", "e", "f", "c0", "a_replay", "b_replay"):
        assert results["methods"][key]["images_per_s"] > 0, key
    assert set(results["files_vs_memory"]) == {"a", "b"}
    targets = {t["target"]: t for t in results["targets"]}
    for key in ("a_vs_best_keras", "a_vs_eager", "b_vs_builtin", "b_vs_student_fit", "file_cost"):
        assert targets[key]["result"] in ("PASS", "FAIL"), targets[key]
    assert targets["memory"]["result"] == "n/a"  # --skip-memory
    report = (out / "bench.md").read_text()
    assert "(a) >= 2x (e)" in report and "(b) >= 0.8x (f)" in report
