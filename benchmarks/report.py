"""Turning a benchmark run into ratios, a table, and the README's last-run section."""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
from pathlib import Path
from typing import Any

from common import TASKS

README_START, README_END = "<!-- last-run:start -->", "<!-- last-run:end -->"
TASKS_README_START, TASKS_README_END = "<!-- tasks-run:start -->", "<!-- tasks-run:end -->"
TARGETS = {
    "full_speedup_vs_hf": 1.5,  # ftstudio samples/s over the stock Trainer's, full fine-tuning
    "head3_wall_speedup_vs_hf": 2.5,  # stock wall time to the end of training over ftstudio's, head-only 3 epochs
    "gui_vs_engine": 0.95,  # window's worker path samples/s over the headless engine's
    "ui_block_ms": 50.0,  # worst event-loop lateness while training
    "accuracy_points": 1.0,  # |ftstudio - stock| validation accuracy, in points
    "task_speedup_vs_hf": 1.5,  # task benchmark: ftstudio samples/s over the stock recipe's for that task
    "task_quality_points": 1.0,  # task benchmark: the task's headline metric at most this far below stock
    "task_correlation": 0.01,  # ... in correlation for regression (Pearson)
    "launch_seconds": 2.0,
    "tester_ms": 50.0,
}


def machine_description() -> str:
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        model = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "")
    except (OSError, subprocess.SubprocessError):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = _gpu_name()
    return f"{model or platform.processor() or platform.machine()}, {cores} cores" + (f", {gpu}" if gpu else ", no GPU")


def _gpu_name() -> str:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else ""
    except (OSError, subprocess.SubprocessError, IndexError):
        return ""


def _median_rows(results: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """One row per (case, peer): the median of each figure over repeats."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        if "error" not in r:
            grouped.setdefault((r["case"], r["peer"]), []).append(r)
    rows = {}
    for key, runs in grouped.items():
        row = dict(runs[0])
        for field in ("train_samples_per_second", "train_runtime", "wall_to_end", "accuracy", "f1", "peak_rss_mb",
                      "flops_share", "micro_f1", "macro_f1", "pearson", "rmse"):
            values = [r[field] for r in runs if r.get(field) is not None]
            row[field] = statistics.median(values) if values else None
        lateness = [r["ui_lateness_training"]["max_ms"] for r in runs if "ui_lateness_training" in r]
        if lateness:
            row["ui_max_ms"] = max(lateness)
            row["ui_p99_ms"] = max(r["ui_lateness_training"]["p99_ms"] for r in runs)
            stalls = [s for r in runs for s in r["ui_lateness_training"].get("stalls", [])]
            row["ui_worst_stall"] = max(stalls, key=lambda s: s["late_ms"]) if stalls else None
        steal = [r["steal_share"] for r in runs if r.get("steal_share") is not None]
        if steal:
            row["steal_max"] = max(steal)
        row["repeats"] = len(runs)
        row["reruns"] = sum(len(r.get("discarded_for_steal", [])) for r in runs)
        rows[key] = row
    return rows


def ratios(report: dict[str, Any]) -> dict[str, Any]:
    """Per case: ftstudio against the stock recipe and the plain loop; the window against the engine."""
    rows = _median_rows(report["results"])
    out: dict[str, Any] = {"cases": {}}
    for case in sorted({c for c, _ in rows}):
        ft, hf, loop, gui = (rows.get((case, p)) for p in ("ftstudio", "hf_trainer", "torch_loop", "ftstudio_gui"))
        entry: dict[str, Any] = {}
        if ft and hf:
            entry["samples_per_second_vs_hf"] = round(ft["train_samples_per_second"] / hf["train_samples_per_second"], 3)
            entry["wall_speedup_vs_hf"] = round(hf["wall_to_end"] / ft["wall_to_end"], 3)
            entry["accuracy_points_vs_hf"] = round(100 * (ft["accuracy"] - hf["accuracy"]), 2)
            entry["f1_points_vs_hf"] = round(100 * (ft["f1"] - hf["f1"]), 2)
        if ft and loop:
            entry["samples_per_second_vs_torch_loop"] = round(
                ft["train_samples_per_second"] / loop["train_samples_per_second"], 3)
            entry["wall_speedup_vs_torch_loop"] = round(loop["wall_to_end"] / ft["wall_to_end"], 3)
        if ft and gui:
            entry["gui_vs_engine_samples_per_second"] = round(
                gui["train_samples_per_second"] / ft["train_samples_per_second"], 3)
            entry["ui_max_ms"], entry["ui_p99_ms"] = gui.get("ui_max_ms"), gui.get("ui_p99_ms")
        out["cases"][case] = entry
    app = report.get("app") or {}
    launch, tester = app.get("launch") or {}, app.get("tester") or {}
    out["launch_seconds_median"] = launch.get("launch_median")
    out["tester_ms_median"] = tester.get("predict_ms_median")
    out["targets"] = _targets(out)
    return out


def _targets(out: dict[str, Any]) -> list[dict[str, Any]]:
    checks = []
    for case, e in out["cases"].items():
        if "samples_per_second_vs_hf" in e:
            if case.startswith("full"):
                checks.append(_check(f"{case}: samples/s vs stock >= 1.5x", e["samples_per_second_vs_hf"],
                                     e["samples_per_second_vs_hf"] >= TARGETS["full_speedup_vs_hf"]))
            if case.startswith("head-3"):
                checks.append(_check(f"{case}: wall time vs stock >= 2.5x", e["wall_speedup_vs_hf"],
                                     e["wall_speedup_vs_hf"] >= TARGETS["head3_wall_speedup_vs_hf"]))
            checks.append(_check(f"{case}: accuracy >= stock - 1 point", e["accuracy_points_vs_hf"],
                                 abs(e["accuracy_points_vs_hf"]) <= TARGETS["accuracy_points"]
                                 or e["accuracy_points_vs_hf"] > 0))
        if "gui_vs_engine_samples_per_second" in e:
            checks.append(_check(f"{case}: window path vs engine >= 0.95x", e["gui_vs_engine_samples_per_second"],
                                 e["gui_vs_engine_samples_per_second"] >= TARGETS["gui_vs_engine"]))
            if e.get("ui_max_ms") is not None:
                checks.append(_check(f"{case}: UI blocked <= 50 ms (max lateness)", e["ui_max_ms"],
                                     e["ui_max_ms"] <= TARGETS["ui_block_ms"]))
    if out.get("launch_seconds_median") is not None:
        checks.append(_check("window shown <= 2 s after launch", out["launch_seconds_median"],
                             out["launch_seconds_median"] <= TARGETS["launch_seconds"]))
    if out.get("tester_ms_median") is not None:
        checks.append(_check("tester answers < 50 ms", out["tester_ms_median"],
                             out["tester_ms_median"] < TARGETS["tester_ms"]))
    return checks


def _check(name: str, value: Any, ok: bool) -> dict[str, Any]:
    return {"target": name, "value": value, "met": bool(ok)}


def _fmt(value: Any, digits: int = 1, scale: float = 1.0) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}"


def format_table(report: dict[str, Any]) -> str:
    """Markdown tables: every (case, peer), then the ratios and targets."""
    lines = [
        f"Run {report['date']} on {report['machine']}; torch {report['versions'].get('torch', '?')}, "
        f"transformers {report['versions'].get('transformers', '?')}; rows {report['data_rows']}; "
        f"matmul peak {report['matmul_peak_flops'] / 1e9:.0f} GFLOP/s; {report['duration_seconds'] / 60:.0f} min.",
        "",
        "| case | peer | samples/s | train s | wall s | val acc | macro F1 | peak RSS MB | FLOP/s share | notes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    rows = _median_rows(report["results"])
    for (case, peer), r in sorted(rows.items()):
        notes = []
        if r.get("feature_cache"):
            notes.append("encoder outputs cached")
        if "ui_max_ms" in r:
            notes.append(f"UI lateness max {r['ui_max_ms']:.0f} ms, p99 {r['ui_p99_ms']:.0f} ms")
            if r.get("ui_worst_stall"):
                stall = r["ui_worst_stall"]  # what the UI thread did meanwhile, and what the hypervisor took
                notes.append(f"that tick: UI thread ran {stall['ui_cpu_ms']:.0f} ms, steal {stall['steal_ms']:.0f} ms")
        if "padded_width" in r:
            notes.append(f"padded to {r['padded_width']}")
        if r.get("steal_max", 0) >= 0.05:  # another guest took 5% or more of this VM's CPU
            notes.append(f"steal up to {100 * r['steal_max']:.0f}%")
        if r.get("reruns"):
            notes.append(f"{r['reruns']} disturbed run(s) repeated")
        lines.append(
            f"| {case} | {peer} | {_fmt(r['train_samples_per_second'])} | {_fmt(r['train_runtime'])} | "
            f"{_fmt(r['wall_to_end'])} | {_fmt(r['accuracy'], 2, 100)} | {_fmt(r['f1'], 2, 100)} | "
            f"{_fmt(r['peak_rss_mb'], 0)} | {_fmt(r.get('flops_share'), 1, 100)}% | {'; '.join(notes)} |")
    for r in report["results"]:
        if "error" in r:
            lines.append(f"| {r['case']} | {r['peer']} | failed: {r['error']} | | | | | | | |")
    lines += ["", "| target | measured | met |", "|---|---:|---|"]
    for check in report["ratios"]["targets"]:
        lines.append(f"| {check['target']} | {check['value']} | {'yes' if check['met'] else 'NO'} |")
    app = report.get("app") or {}
    if app.get("launch") and "launch_seconds" in app["launch"]:
        lines.append(f"\nWindow shown after launch: {app['launch']['launch_seconds']} s (median "
                     f"{app['launch']['launch_median']} s).")
    if app.get("tester") and "predict_ms_median" in app["tester"]:
        t = app["tester"]
        lines.append(f"Tester, one sentence after loading ({t['load_seconds']} s): median {t['predict_ms_median']} ms, "
                     f"p95 {t['predict_ms_p95']} ms, max {t['predict_ms_max']} ms.")
    return "\n".join(lines)


# ------------------------------------------------------------------ task benchmark (tasks.py)
# Quality figures shown in points (x100); the others (correlation, error in the data's units) as they are.
_POINTS = {"accuracy", "f1", "micro_f1", "macro_f1", "entity_f1", "token_accuracy"}
_METRIC_TITLES = {"accuracy": "accuracy", "f1": "macro F1", "micro_f1": "micro F1", "macro_f1": "macro F1",
                  "pearson": "Pearson", "rmse": "RMSE", "entity_f1": "entity F1", "token_accuracy": "token accuracy"}


def _quality_delta(name: str, ours: float, stock: float) -> float:
    """ftstudio minus stock, in points for shares and as is for correlation and error."""
    return round(100 * (ours - stock), 2) if name in _POINTS else round(ours - stock, 4)


def quality_text(task: str, row: dict[str, Any]) -> str:
    parts = []
    for name in TASKS[task]["metrics"]:
        value = row.get(name)
        shown = "-" if value is None else f"{100 * value:.2f}" if name in _POINTS else f"{value:.4f}"
        parts.append(f"{_METRIC_TITLES[name]} {shown}")
    return ", ".join(parts)


def task_ratios(report: dict[str, Any]) -> dict[str, Any]:
    """Per task: ftstudio against the stock recipe (samples/s, wall time, each quality figure),
    and the targets: samples/s >= 1.5x, the headline figure (the task's first) at most 1 point
    (0.01 in correlation) below the stock recipe's."""
    rows = _median_rows(report["results"])
    out: dict[str, Any] = {"cases": {}, "targets": []}
    for task in sorted({c for c, _ in rows}):
        ft, hf = rows.get((task, "ftstudio")), rows.get((task, "hf_trainer"))
        if not (ft and hf):
            continue
        entry = {"samples_per_second_vs_hf": round(ft["train_samples_per_second"] / hf["train_samples_per_second"], 3),
                 "wall_speedup_vs_hf": round(hf["wall_to_end"] / ft["wall_to_end"], 3)}
        for name in TASKS[task]["metrics"]:
            if ft.get(name) is not None and hf.get(name) is not None:
                entry[f"{name}_vs_hf"] = _quality_delta(name, ft[name], hf[name])
        out["cases"][task] = entry
        speed = entry["samples_per_second_vs_hf"]
        out["targets"].append(_check(f"{task}: samples/s vs stock >= {TARGETS['task_speedup_vs_hf']}x", speed,
                                     speed >= TARGETS["task_speedup_vs_hf"]))
        headline = TASKS[task]["metrics"][0]
        delta = entry.get(f"{headline}_vs_hf")
        if delta is not None:
            allowed = TARGETS["task_quality_points"] if headline in _POINTS else TARGETS["task_correlation"]
            unit = ("point" if allowed == 1 else "points") if headline in _POINTS else "in correlation"
            out["targets"].append(_check(f"{task}: {_METRIC_TITLES[headline]} >= stock - {allowed:g} {unit}", delta,
                                         delta >= -allowed))
    return out


def format_task_table(report: dict[str, Any]) -> str:
    """Markdown tables for the task benchmark: every (task, peer), then ftstudio against stock."""
    settings = report["settings"]
    lines = [
        f"Run {report['date']} on {report['machine']}; torch {report['versions'].get('torch', '?')}, "
        f"transformers {report['versions'].get('transformers', '?')}; full fine-tuning, "
        f"{settings['epochs']} epoch{'s' if settings['epochs'] != 1 else ''}, "
        f"max length {settings['max_length']}, batch {settings['batch_size']}, learning rate "
        f"{settings['learning_rate']:g}, seeds {settings['seeds']}; {report['duration_seconds'] / 60:.0f} min.",
        "",
        "| task | peer | rows (train / validation) | samples/s | train s | wall s | quality (validation) | peak RSS MB | notes |",
        "|---|---|---|---:|---:|---:|---|---:|---|",
    ]
    for (task, peer), r in sorted(_median_rows(report["results"]).items()):
        rows = report["data_rows"].get(task, {})
        notes = [f"median of {r['repeats']}"]
        if r.get("steal_max", 0) >= 0.05:
            notes.append(f"steal up to {100 * r['steal_max']:.0f}%")
        if r.get("reruns"):
            notes.append(f"{r['reruns']} disturbed run(s) repeated")
        lines.append(
            f"| {task} | {peer} | {rows.get('train', '?')} / {rows.get('validation', '?')} | "
            f"{_fmt(r['train_samples_per_second'])} | {_fmt(r['train_runtime'])} | {_fmt(r['wall_to_end'])} | "
            f"{quality_text(task, r)} | {_fmt(r['peak_rss_mb'], 0)} | {'; '.join(notes)} |")
    for r in report["results"]:
        if "error" in r:
            lines.append(f"| {r['case']} | {r['peer']} | failed: {r['error']} | | | | | | |")
    lines += ["", "| task | samples/s vs stock | wall time vs stock | quality vs stock (ftstudio - stock) |",
              "|---|---:|---:|---|"]
    for task, e in report["ratios"]["cases"].items():
        deltas = ", ".join(
            f"{_METRIC_TITLES[n]} {e[f'{n}_vs_hf']:+.2f} points" if n in _POINTS else f"{_METRIC_TITLES[n]} {e[f'{n}_vs_hf']:+.4f}"
            for n in TASKS[task]["metrics"] if f"{n}_vs_hf" in e)
        lines.append(f"| {task} | {e['samples_per_second_vs_hf']:.2f}x | {e['wall_speedup_vs_hf']:.2f}x | {deltas} |")
    lines += ["", "| target | measured | met |", "|---|---:|---|"]
    for check in report["ratios"]["targets"]:
        lines.append(f"| {check['target']} | {check['value']} | {'yes' if check['met'] else 'NO'} |")
    return "\n".join(lines)


def publish_report(report: dict[str, Any], out: Path, table: str, readme: Path | None, start: str,
                   end: str) -> None:
    """The run's JSON to `out`, its table printed, and (`readme` given) the table between the
    markers of that README: how every benchmark script ends."""
    import json

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(table)
    print(f"JSON: {out}")
    if readme is not None:
        update_readme(readme, report, table, start, end)


def update_readme(path: Path, report: dict[str, Any], table: str, start: str = README_START,
                  end: str = README_END) -> None:
    """Replace the text between the markers (the last run's, or with `start`/`end` another
    section's) with this run's table."""
    text = path.read_text(encoding="utf-8") if path.is_file() else f"{start}\n{end}\n"
    body = f"{start}\nCommand: `{report['command']}`\n\n{table}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _m: body, text) if pattern.search(text) else text + "\n" + body + "\n"
    path.write_text(text, encoding="utf-8")
