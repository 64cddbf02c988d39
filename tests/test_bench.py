"""`make bench`: its report module on saved results (fast), and a one-round miniature of the whole run.

The miniature is marked `bench` and takes minutes, so plain `pytest tests` skips it;
`pytest tests -m bench` (scripts/test.sh's bench stage, which `make test` runs) runs it.
Its figures mean nothing at that size; what it checks is that each method ran, the
report names every target of issue 4, and the three distillers agree on the loss.
"""

import copy
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SPEED = BENCHMARKS / "speed"
BENCH = SPEED / "bench.py"
SAVED = Path(__file__).resolve().parent / "data" / "bench_results.json"
# The report module and the common module it imports, as bench.py finds them.
REPORT_PATH = [str(SPEED), str(BENCHMARKS)]


def _report():
    sys.path[:0] = REPORT_PATH
    try:
        import report
    finally:
        for folder in REPORT_PATH:
            sys.path.remove(folder)
    return report


# ---------------------------------------------------------------- the report, pure
def test_report_needs_no_tensorflow():
    code = f"import sys; sys.path[:0] = {REPORT_PATH!r}; import report; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


SCRIPTS = ["speed/bench.py", "speed/memory_probe.py", "speed/onednn_probe.py", "frozen/frozen.py", "frozen/tutorial.py",
           "frozen/prefix_precision.py", "quality/quality.py", "quality/defaults.py", "workers/workers.py"]  # fmt: skip


def test_every_benchmark_script_starts():
    """Each script finds the common module and this pykd from another working folder, and its --help exits 0.

    One process runs them all as `python SCRIPT --help` would (its folder first on sys.path), so
    TensorFlow loads once.
    """
    code = textwrap.dedent(f"""
        import os, runpy, sys
        for script in {[str(BENCHMARKS / s) for s in SCRIPTS]!r}:
            sys.argv, saved = [script, "--help"], list(sys.path)
            sys.path.insert(0, os.path.dirname(script))
            try:
                runpy.run_path(script, run_name="__main__")
            except SystemExit as end:
                assert end.code in (0, None), (script, end.code)
            else:
                raise AssertionError(script + ": --help did not exit")
            sys.path[:] = saved
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd="/",
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for script in SCRIPTS:
        assert f"usage: {Path(script).name}" in proc.stdout, script


def test_tutorial_targets_are_per_round_ratios_judged_at_the_issues_thresholds():
    """benchmarks/frozen/tutorial.py (the R tutorial's run, issue 35): its ratios are medians of per-round
    ratios, each target PASSes at its threshold and FAILs just below, n/a when a method has no figure."""
    sys.path[:0] = [str(BENCHMARKS / "frozen"), str(BENCHMARKS)]
    try:
        import tutorial
    finally:
        del sys.path[:2]
    speeds = {"pykd": [1000.0, 2000.0], "distiller": [100.0, 100.0], "fit": [200.0, 150.0],
              "pykd_aug": [270.0, 27.0], "distiller_aug": [100.0, 10.0], "fit_aug": [300.0, 30.0]}
    runs = {k: [{"images_per_s": v} for v in vs] for k, vs in speeds.items()}
    _, ratios, targets = tutorial.summarize(runs)
    assert ratios["plain_vs_distiller_per_round"] == [10.0, 20.0] and ratios["plain_vs_distiller"] == 15.0
    assert {t["key"]: tutorial.common.verdict(t["pass"]) for t in targets} == {
        "plain_vs_distiller": "PASS", "plain_vs_fit": "PASS", "aug_vs_distiller": "PASS", "aug_vs_fit": "PASS"}
    runs["pykd_aug"] = [{"images_per_s": 269.0}, {"images_per_s": 26.9}]
    runs["fit"] = [{"images_per_s": None}, {"images_per_s": None}]
    verdicts = {t["key"]: tutorial.common.verdict(t["pass"]) for t in tutorial.summarize(runs)[2]}
    assert verdicts == {"plain_vs_distiller": "PASS", "plain_vs_fit": "n/a", "aug_vs_distiller": "FAIL",
                        "aug_vs_fit": "FAIL"}


def test_report_reproduces_the_saved_targets_and_names_every_one():
    report = _report()
    saved = json.loads(SAVED.read_text())
    assert report.targets(saved) == saved["targets"]
    md = report.markdown(saved)
    assert {t["target"] for t in saved["targets"]} == set(report.TARGETS_TEXT)
    for text in report.TARGETS_TEXT.values():
        assert f"| {text} |" in md
    for m in saved["methods"].values():
        assert m["label"] in md
    assert "Candidate pykd changes" in md and "Micro-benchmarks" in md and "oneDNN" in md and "Memory, distill()" in md


def _with(saved, *, ratios=None, costs=None, memory_ratio=None):
    results = copy.deepcopy(saved)
    results["ratios"].update(ratios or {})
    for key, cost in (costs or {}).items():
        results["files_vs_memory"][key]["cost"] = cost
    if memory_ratio is not None:
        results["memory"]["ratio"] = memory_ratio
    return {t["target"]: t for t in _report().targets(results)}


@pytest.mark.parametrize(
    "ratio_key, target, threshold",
    [("a / max(c, d)", "a_vs_best_keras", 1.1), ("a / e", "a_vs_eager", 2.0),
     ("b / c0", "b_vs_builtin", 3.0), ("b / f", "b_vs_student_fit", 0.8)],
)  # fmt: skip
def test_ratio_targets_pass_at_their_threshold_and_fail_below(ratio_key, target, threshold):
    saved = json.loads(SAVED.read_text())
    assert _with(saved, ratios={ratio_key: threshold})[target]["result"] == "PASS"
    assert _with(saved, ratios={ratio_key: threshold * 1.5})[target]["result"] == "PASS"
    assert _with(saved, ratios={ratio_key: threshold * 0.999})[target]["result"] == "FAIL"
    assert _with(saved, ratios={ratio_key: None})[target]["result"] == "n/a"


def test_file_cost_takes_the_worse_loop_and_memory_its_growth():
    saved = json.loads(SAVED.read_text())
    at = _with(saved, costs={"a": 0.02, "b": 0.10}, memory_ratio=1.20)
    assert at["file_cost"]["value"] == 0.10 and at["file_cost"]["result"] == "PASS"
    assert at["memory"]["value"] == pytest.approx(0.20) and at["memory"]["result"] == "PASS"
    over = _with(saved, costs={"a": 0.101, "b": -0.05}, memory_ratio=1.21)
    assert over["file_cost"]["value"] == 0.101 and over["file_cost"]["result"] == "FAIL"
    assert over["memory"]["result"] == "FAIL"
    assert _with(saved, costs={"a": None, "b": 0.0})["file_cost"]["result"] == "n/a"  # one loop unmeasured
    no_memory = copy.deepcopy(saved)
    no_memory["memory"] = None
    t = {t["target"]: t for t in _report().targets(no_memory)}
    assert t["memory"]["result"] == "n/a"
    md = _report().markdown({**no_memory, "targets": list(t.values())})
    assert f"| {t['memory']['text']} | n/a | 20% | **n/a** |" in md and "Memory, distill()" not in md


def test_summarize_judges_raw_measurements():
    report = _report()

    def method(per_round, kind="method", **more):
        return {"label": "x", "what": "", "augmented": False, "kind": kind, "per_round": per_round, "extra": {},
                "fed_by_files": None, **more}  # fmt: skip

    measured = {key: method([100.0, 100.0]) for key in ("c", "d", "e", "f", "c0", "d0")}
    measured["a"] = method([220.0, 110.0])  # per round 2.2x and 1.1x the Keras distillers: median 1.65x
    measured["b"] = method([300.0, 299.0], extra={"with_cache_pass_images_per_s": [250.0], "run_epochs": [3]})
    for key in ("a", "b"):
        measured[f"{key}_replay"] = method([100.0, 100.0], kind="variant", base=key, error=None, with_memory=True,
                                           memory=[110.0, 105.0])  # fmt: skip
    results = report.summarize({}, measured)
    t = {t["target"]: t for t in results["targets"]}
    assert t["a_vs_best_keras"]["value"] == pytest.approx(1.65) and t["a_vs_best_keras"]["result"] == "PASS"
    assert t["b_vs_builtin"]["value"] == pytest.approx(2.995) and t["b_vs_builtin"]["result"] == "FAIL"
    assert t["file_cost"]["value"] == pytest.approx(0.075) and t["file_cost"]["result"] == "PASS"
    assert t["memory"]["result"] == "n/a"
    replay = results["variants"]["a_replay"]  # a control: against distill()'s own epochs of (a)
    assert replay["unpatched"] == "a" and replay["vs unpatched"] == pytest.approx((100 / 220 + 100 / 110) / 2)
    assert results["distill_epochs_on_an_autotune_wakeup"] == {"a": None, "b": None}


# ---------------------------------------------------------------- the whole run, in miniature
def _bench_selected(config) -> bool:
    expression = config.getoption("markexpr") or ""
    return "bench" in expression and "not bench" not in expression


@pytest.mark.bench
def test_a_one_round_benchmark_measures_every_method_and_target(tmp_path, request):
    if not _bench_selected(request.config):
        pytest.skip("a few minutes: run with `pytest tests -m bench` (scripts/test.sh bench)")
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


# ---------------------------------------------------------------- make bench-quality, in miniature
QUALITY = BENCHMARKS / "quality" / "quality.py"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.bench
def test_a_quick_quality_benchmark_fills_every_cell(tmp_path, request):
    if not _bench_selected(request.config):
        pytest.skip("about a minute: run with `pytest tests -m bench` (scripts/test.sh bench)")
    if not (FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("needs Debian's dataset-fashion-mnist package")
    out = tmp_path / "quality"
    proc = subprocess.run([sys.executable, str(QUALITY), "--quick", "--out", str(out)], capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((out / "quality.json").read_text())

    methods = ("teacher", "scratch", "keras_distiller", "pykd_default", "pykd_consistent", "pykd_noisy", "pykd_hint",
               "pykd_sweep")
    assert set(results["accuracy"]) == {"all labeled", "10% labeled"}
    for regime, cells in results["accuracy"].items():
        for method in methods:
            assert 0 <= cells[method]["mean"] <= 100, (regime, method)
            run = results["runs"][regime]["seeds"]["0"][method]
            if method == "pykd_sweep":  # judged on held-out labeled rows: no test curve, a chosen setting
                assert run["curve"] is None and run["chosen"] in [{"temperature": s["temperature"], "alpha": s["alpha"]}
                                                                  for s in run["settings"]], run
                assert len(run["settings"]) == 4 and run["held_out_rows"] > 0
            else:
                assert run["curve"] and all(0 <= v <= 1 for v in run["curve"]), (regime, method)
        students = {cells[m]["steps"][0] for m in methods[1:]}
        assert len(students) == 1, f"every student gets the same steps: {students}"
    assert results["runs"]["10% labeled"]["seeds"]["0"]["loss_check"]["max_relative_difference"] < 1e-3
    assert {g["result"] for g in results["goals"]} <= {"PASS", "MISS"} and len(results["goals"]) == 5 * 4 + 1
    assert (out / "quality.png").stat().st_size > 10_000  # the curves, one panel per regime
    report = (out / "quality.md").read_text()
    cells = re.findall(r"\| \d+\.\d\d ± \d+\.\d\d ", report)
    assert len(cells) == 2 * len(methods) and "n/a" not in report


@pytest.mark.bench
def test_a_quick_defaults_benchmark_fills_every_cell(tmp_path, request):
    """benchmarks/quality/defaults.py --quick: every method of the robustness table ran, paired with the defaults."""
    if not _bench_selected(request.config):
        pytest.skip("about half a minute: run with `pytest tests -m bench` (scripts/test.sh bench)")
    if not (FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("needs Debian's dataset-fashion-mnist package")
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "quality" / "defaults.py"), "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((tmp_path / "defaults.json").read_text())
    methods = {"teacher", "scratch", "before", "defaults", "peak_1e-2"}
    for regime, students in results["table"].items():
        assert set(students) == {"mlp"}
        for student, rows in students.items():
            expected = methods | ({"keras_distiller", "pykd_distiller"} if regime == "all labeled" else set())
            assert set(rows) == expected, (regime, student)
            assert all(0 <= rows[m]["mean"] <= 100 for m in rows) and rows["defaults"]["defaults_minus"][0] == 0
    assert len(results["goals"]) == 4 and {g["met"] for g in results["goals"]} <= {True, False}
    assert "| mlp |" in (tmp_path / "defaults.md").read_text() and (tmp_path / "defaults-runs.json").is_file()
