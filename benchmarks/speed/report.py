"""The benchmark's report: pure functions from measurements to figures, verdicts and Markdown.

Nothing here imports TensorFlow or pykd (nor does common, whose medians, ratios
and verdicts it uses), so a saved bench.json can be re-judged and re-rendered
anywhere, with benchmarks/ and benchmarks/speed/ on sys.path:

    import json, report
    results = json.load(open("bench-output/bench.json"))
    report.targets(results)   # the issue's targets with PASS / FAIL / n/a
    report.markdown(results)  # bench.md

`summarize` turns the raw measurements (per-round images/s of every method, as
plain dicts) into the results dict that bench.py writes as bench.json.
"""

from __future__ import annotations

from common import fmt, median, meets, ratio, ratio_per_round, verdict

COMMAND = "make bench  (= .venv/bin/python benchmarks/speed/bench.py)"

TARGETS_TEXT = {
    "a_vs_best_keras": "(a) >= 1.1x the faster of (c) and (d)",
    "a_vs_eager": "(a) >= 2x (e)",
    "b_vs_builtin": "(b) >= 3x (c0), i.e. (c) without augmentation like (b)",
    "b_vs_student_fit": "(b) >= 0.8x (f)",
    "file_cost": "reading images costs <= 10% vs the same compiled step fed in-memory tensors (worse of the (a) and (b) loops)",
    "memory": "peak RSS of distill() grows < 20% when the table grows 8x",
}

# key: (threshold, higher is better, unit)
THRESHOLDS = {
    "a_vs_best_keras": (1.1, True, "x"),
    "a_vs_eager": (2.0, True, "x"),
    "b_vs_builtin": (3.0, True, "x"),
    "b_vs_student_fit": (0.8, True, "x"),
    "file_cost": (0.10, False, "%"),
    "memory": (0.20, False, "%"),
}

KERAS_FIT_KEYS = ("c", "d", "f", "c0", "d0")


# ---------------------------------------------------------------- statistics
def files_costs(per_round, memory) -> list[float]:
    """Per round: epoch time reading the images / epoch time from in-memory tensors - 1."""
    return [mem / f - 1 for f, mem in zip(per_round, memory) if f and mem]


def on_autotune_wakeup(seconds: float) -> bool:
    """True when an epoch ended 5-45 ms after a wake-up of tf.data's autotune thread.

    That thread sleeps 10 ms, 20 ms, 40 ms, ... (doubling) from the pipeline's
    start, so it wakes at 10 ms x (2^k - 1): 0.31, 0.63, 1.27, 2.55, 5.11, 10.23 s.
    """
    return any(0.005 <= seconds - 0.01 * (2**k - 1) <= 0.045 for k in range(5, 13))


def autotune_wakeups(m: dict) -> list[int] | None:
    """[epochs that ended on an autotune wake-up, epochs], or None when no tf.data pipeline fed them.

    With the decoded-image cache, distill() reads batches without tf.data, and an
    epoch of ~0.3 s would match the 0.31 s wake-up by chance alone.
    """
    if not m.get("fed_by_files"):
        return None
    seconds = m["extra"].get("epoch_seconds", [])
    return [sum(map(on_autotune_wakeup, seconds)), len(seconds)]


# ---------------------------------------------------------------- results
def summarize(config: dict, measured: dict[str, dict], micro=None, memory=None, onednn=None) -> dict:
    """The results dict (bench.json without loss_agreement) from raw measurements.

    measured: key -> {"label", "what", "augmented", "kind" ("method" or "variant"),
    "per_round" (img/s per round), "extra" (lists per name), "fed_by_files"}; variants
    also "base" ("a" or "b"), "error", "with_memory" and "memory" (in-memory img/s per round).
    """
    config = dict(config)
    config["keras_jit_compile"] = {k: measured[k]["extra"].get("jit_compile", [None])[0] for k in KERAS_FIT_KEYS}
    results = {
        "command": COMMAND,
        "config": config,
        "methods": {
            key: {"label": m["label"], "what": m["what"], "augmented": m["augmented"], "kind": m["kind"],
                  "images_per_s": median(m["per_round"]), "per_round": m["per_round"], "extra": m["extra"]}
            for key, m in measured.items()
        },  # fmt: skip
        "ratios": ratios(measured),
        "distill_epochs_on_an_autotune_wakeup": {key: autotune_wakeups(measured[key]) for key in ("a", "b")},
        "variants": variants(measured),
        "files_vs_memory": files_vs_memory(measured),
        "micro": micro,
        "onednn": onednn,
        "memory": memory,
    }
    results["targets"] = targets(results)
    return results


def _best_keras(measured) -> list[float]:
    return [max(c, d) for c, d in zip(measured["c"]["per_round"], measured["d"]["per_round"])]


def ratios(measured: dict[str, dict]) -> dict:
    def r(key):
        return measured[key]["per_round"]

    return {
        "a / max(c, d)": ratio_per_round(r("a"), _best_keras(measured)),
        "a / c": ratio_per_round(r("a"), r("c")),
        "a / d": ratio_per_round(r("a"), r("d")),
        "a / e": ratio_per_round(r("a"), r("e")),
        "b / c0": ratio_per_round(r("b"), r("c0")),
        "b / d0": ratio_per_round(r("b"), r("d0")),
        "b / c": ratio_per_round(r("b"), r("c")),
        "b / f": ratio_per_round(r("b"), r("f")),
        "b incl. cache pass / c0": ratio_per_round(measured["b"]["extra"]["with_cache_pass_images_per_s"], r("c0")),
        "c / c0 (cost of augmentation)": ratio_per_round(r("c"), r("c0")),
        "c / e": ratio_per_round(r("c"), r("e")),
        "f / c0": ratio_per_round(r("f"), r("c0")),
    }


def variants(measured: dict[str, dict]) -> dict:
    """Every replayed variant against its control, and the target ratios with it."""
    out = {}
    for key, m in measured.items():
        if m["kind"] != "variant":
            continue
        control = m["base"] if key.endswith("_replay") else f"{m['base']}_replay"
        v = {"vs unpatched": ratio_per_round(m["per_round"], measured[control]["per_round"]), "unpatched": control}
        v["error"] = m["error"]
        v["epochs on an autotune wake-up"] = autotune_wakeups(m)
        if m["base"] == "a":
            v["vs max(c, d)"] = ratio_per_round(m["per_round"], _best_keras(measured))
            v["vs e"] = ratio_per_round(m["per_round"], measured["e"]["per_round"])
        else:
            v["vs c0"] = ratio_per_round(m["per_round"], measured["c0"]["per_round"])
            v["vs f"] = ratio_per_round(m["per_round"], measured["f"]["per_round"])
        if m["with_memory"]:  # its cost of files, against its own Steps fed in-memory tensors
            v["files cost"] = median(files_costs(m["per_round"], m["memory"]))
        out[key] = v
    return out


def files_vs_memory(measured: dict[str, dict]) -> dict:
    """The controls (a)/(b) replayed: epochs from the image source against the same epochs in memory."""
    io = {}
    for key in ("b", "a"):
        m = measured[f"{key}_replay"]
        costs = files_costs(m["per_round"], m["memory"])
        io[key] = {
            "files_images_per_s": median(m["per_round"]), "memory_images_per_s": median(m["memory"]),
            "cost": median(costs), "cost_per_round": costs,
        }  # fmt: skip
    return io


def target_values(results: dict) -> dict:
    """The measured value behind each target (None when not measured)."""
    ratios, io, memory = results["ratios"], results["files_vs_memory"], results.get("memory")
    costs = [c for c in (io["b"]["cost"], io["a"]["cost"]) if c is not None]
    return {
        "a_vs_best_keras": ratios["a / max(c, d)"],
        "a_vs_eager": ratios["a / e"],
        "b_vs_builtin": ratios["b / c0"],
        "b_vs_student_fit": ratios["b / f"],
        "file_cost": max(costs) if len(costs) == 2 else None,
        "memory": None if memory is None else memory["ratio"] - 1,
    }


def targets(results: dict) -> list[dict]:
    """The issue's targets, each with its value, threshold and PASS / FAIL (n/a when not measured)."""
    out = []
    for key, value in target_values(results).items():
        threshold, higher, unit = THRESHOLDS[key]
        out.append({"target": key, "text": TARGETS_TEXT[key], "value": value, "threshold": threshold, "unit": unit,
                    "result": verdict(meets(value, threshold, higher))})  # fmt: skip
    return out


# ---------------------------------------------------------------- Markdown
def percent(value, digits=1) -> str:
    return "n/a" if value is None else f"{100 * value:+.{digits}f}%"


def markdown(res: dict) -> str:
    """bench.md: the tables to paste into the README, from a results dict (a loaded bench.json will do)."""
    lines = _methods(res) + _targets(res) + _ratios(res) + _files_vs_memory(res)
    lines += _variants(res) + _micro(res) + _onednn(res) + _memory(res)
    return "\n".join(lines) + "\n"


def _methods(res) -> list[str]:
    cfg, methods = res["config"], res["methods"]
    c0, f = methods["c0"]["images_per_s"], methods["f"]["images_per_s"]
    lines = [
        f"`make bench` (`.venv/bin/python benchmarks/speed/bench.py`): {cfg['images']} JPEGs {cfg['image_shape'][0]}x"
        f"{cfg['image_shape'][1]}x3, batch {cfg['batch_size']}, teacher {cfg['teacher_params']:,} params, student "
        f"{cfg['student_params']:,}, {cfg['cpus']} CPUs, TensorFlow {cfg['tensorflow']}, Keras {cfg['keras']}, "
        f"TF_ENABLE_ONEDNN_OPTS={cfg['TF_ENABLE_ONEDNN_OPTS']}. Images/s are medians over {cfg['rounds']} alternating "
        "rounds of steady-state epochs; ratios are medians of per-round ratios.",
        "",
        "| method | augmented | images/s | vs (c0) | vs (f) |",
        "|---|:-:|--:|--:|--:|",
    ]
    for m in methods.values():
        if m["kind"] == "method":
            v = m["images_per_s"]
            aug = "yes" if m["augmented"] else "no"
            lines.append(f"| {m['label']} | {aug} | {fmt(v)} | {fmt(ratio(v, c0), 2, 'x')} | {fmt(ratio(v, f), 2, 'x')} |")
    bx = methods["b"]["extra"]
    amort = median(bx["with_cache_pass_images_per_s"])
    return lines + [
        f"| (b) with its one-off cache pass, over the run's {bx['run_epochs'][0]} epochs | no | {fmt(amort)} | "
        f"{fmt(ratio(amort, c0), 2, 'x')} | {fmt(ratio(amort, f), 2, 'x')} |",
        "",
        f"The teacher-cache pass took {fmt(median(bx['cache_pass_seconds']), 2)} s for {cfg['images']} images "
        f"({fmt(median(bx['cache_pass_images_per_s']))} img/s). Keras resolves jit_compile to "
        f"{cfg['keras_jit_compile']['c']} for the Keras methods on a CPU-only machine.",
    ]


def _targets(res) -> list[str]:
    lines = ["", "| target | measured | threshold | result |", "|---|--:|--:|:-:|"]
    for t in res["targets"]:
        if t["unit"] == "x":
            value, thr = fmt(t["value"], 2, "x"), f"{t['threshold']}x"
        else:
            value, thr = percent(t["value"]), f"{100 * t['threshold']:.0f}%"
        lines.append(f"| {t['text']} | {value} | {thr} | **{t['result']}** |")
    return lines


def _ratios(res) -> list[str]:
    lines = ["", "| ratio (median of per-round ratios) | value |", "|---|--:|"]
    lines += [f"| {k} | {fmt(v, 2, 'x')} |" for k, v in res["ratios"].items()]
    w = {k: "no tf.data pipeline" if v is None else f"{v[0]} of {v[1]}"
         for k, v in res["distill_epochs_on_an_autotune_wakeup"].items()}  # fmt: skip
    return lines + [
        "",
        f"Steady distill() epochs that ended 5-45 ms after a wake-up of tf.data's autotune thread "
        f"(10 ms x (2^k - 1) after the epoch's pipeline started: 0.31, 0.63, 1.27, 2.55, 5.11 s): "
        f"(a) {w['a']}, (b) {w['b']}.",
    ]


def _files_vs_memory(res) -> list[str]:
    lines = [
        "",
        "| pykd's train_epoch replayed on distill()'s Steps, epochs alternating files, memory, memory, files "
        "| from its image source img/s | in-memory img/s | cost of reading |",
        "|---|--:|--:|--:|",
    ]
    for key, name in (("b", "(b) cached teacher"), ("a", "(a) augmented, teacher every step")):
        r = res["files_vs_memory"][key]
        lines.append(f"| {name} | {fmt(r['files_images_per_s'])} | {fmt(r['memory_images_per_s'])} | {percent(r['cost'])} |")
    return lines


def _variants(res) -> list[str]:
    if not res["variants"]:
        return []
    lines = [
        "",
        "Candidate pykd changes (benchmarks/speed/candidates.py, applied through pykd's set_run hook; not in pykd):",
        "",
        "| variant | images/s | vs unpatched | target ratios with it |",
        "|---|--:|--:|---|",
    ]
    for key, v in res["variants"].items():
        m = res["methods"][key]
        if v["error"]:
            lines.append(f"| {m['label']} | n/a | n/a | unavailable: {v['error']} |")
            continue
        base = "distill() epochs" if v["unpatched"] in ("a", "b") else f"({v['unpatched'][0]}) replayed"
        lines.append(f"| {m['label']} | {fmt(m['images_per_s'])} | {fmt(v['vs unpatched'], 2, 'x')} vs {base} | "
                     f"{_variant_targets(key, v)} |")  # fmt: skip
    return lines


def _variant_targets(key: str, v: dict) -> str:
    if key.startswith("a"):
        text = f"vs max(c, d) {fmt(v['vs max(c, d)'], 2, 'x')}, vs (e) {fmt(v['vs e'], 2, 'x')}"
    else:
        text = f"vs (c0) {fmt(v['vs c0'], 2, 'x')}, vs (f) {fmt(v['vs f'], 2, 'x')}"
    if "files cost" in v:
        cost = None if v["files cost"] is None else 100 * v["files cost"]
        text += f"; files cost vs the same Steps in memory {fmt(cost, 1, '%')}"
    if v["epochs on an autotune wake-up"] is not None:  # only where tf.data fed the epochs
        hits, n = v["epochs on an autotune wake-up"]
        text += f"; epochs ending on an autotune wake-up: {hits}/{n}"
    return text


def _micro(res) -> list[str]:
    micro = res.get("micro")
    if not micro:
        return []
    lines = ["", "Micro-benchmarks (in-memory batches of 64; the input rows read one epoch of images without training):", "",
             "| case | value |", "|---|--:|"]  # fmt: skip
    for k, v in micro["images_per_s"].items():
        lines.append(f"| {k} | {fmt(v, 1) if ' ms ' in k else fmt(v) + ' img/s'} |")
    lines += [f"| {k} | {fmt(v, 2, 'x')} |" for k, v in micro["ratios"].items()]
    return lines + [f"| {k} | failed: {v} |" for k, v in micro["errors"].items()]


def _onednn(res) -> list[str]:
    if not res.get("onednn"):
        return []
    lines = ["", "TensorFlow's oneDNN switch (fresh processes, in-memory batches, img/s):", "",
             "| case | TF_ENABLE_ONEDNN_OPTS=0 | =1 | on / off |", "|---|--:|--:|--:|"]  # fmt: skip
    for k, v in res["onednn"].items():
        lines.append(f"| {k} | {fmt(v['onednn_off'])} | {fmt(v['onednn_on'])} | {fmt(v['on_over_off'], 2, 'x')} |")
    return lines


def _memory(res) -> list[str]:
    mem = res.get("memory")
    if not mem:
        return []
    s, big = mem["runs"]
    return [
        "",
        f"Memory, distill() in a fresh process each (peak RSS = VmHWM): {mem['rows'][0]} rows -> {s['peak_rss_mb']:.0f} MB, "
        f"{mem['rows'][1]} rows -> {big['peak_rss_mb']:.0f} MB (x{mem['ratio']:.3f}, {mem['growth_mb']:+.0f} MB). "
        f"Of that, before distill() (imports, models): {s['peak_rss_before_distill_mb']:.0f} / "
        f"{big['peak_rss_before_distill_mb']:.0f} MB; added by distill(): {mem['distill_own_mb'][0]:.0f} / "
        f"{mem['distill_own_mb'][1]:.0f} MB.",
    ]
