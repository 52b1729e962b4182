"""Hyperparameter search: the same space and trial budget with the pruner on and off.

    .venv/bin/python benchmarks/search.py            # 2 arms x 3 seeds, 12 trials a study, MiniLM on 400 rows x 2 epochs
                                                    # (~35-45 min on 2 CPU cores, estimated)
    .venv/bin/python benchmarks/search.py --smoke    # the same end to end on a tiny random BERT, 60 rows, 4 trials, 1 seed
                                                    # (~25 s; its figures mean nothing)

Each study is one `python -m ftstudio search` process (the product's path: the CLI, the study
database, each trial an ordinary run reported to the pruner) on the same data files
(`common.write_task_data`: a stratified, seeded subset of the sample's training rows and a fixed
stratified share of the rows the engine holds out), model, fixed settings, space, sampler (TPE)
and trial budget. The two arms of a seed differ only in `--pruner` (none, or median); the seed is
the settings' seed, which is also the sampler's, so both arms start from the same random draws
(with pruning TPE then sees another history and picks other points). The arms are interleaved,
their order rotating between seeds, so drift of this shared machine's speed falls on both.

Every figure is read back from the study's database (`engine.search.results.read_study`): the
total trial time (the sum of the trials' durations: what the search spent training, model loading
and checkpoints included), the study's wall time (first trial's start to last trial's end), the
best value and how many trials were pruned; beside them the child process's wall time and the
hypervisor's steal share while it ran. Per seed: the pruner's saving and the best value's
difference; then the medians over seeds and the issue's target, a PASS/FAIL line: the pruner saves
at least 40% of the total trial time (median of the per-seed savings) at an equal best value within
noise (the median best value over seeds no lower than the no-pruner arm's minus the noise; noise:
the larger of 1 point and the spread, max - min, of the no-pruner arm's best values across seeds).

Prints tables, writes JSON (results/search_last_run.json; --smoke: the scratch folder), with
--readme rewrites the search table in benchmarks/README.md, and deletes its scratch folder unless
--keep-scratch (each study's trial folders, a checkpoint each, go as soon as its figures are read).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402 - first: it keeps the user's environment for the children (run.CLEAN_ENV)
from common import HERE, REPO, model_folder, write_task_data  # noqa: E402
from report import machine_description, publish_report  # noqa: E402

README_START, README_END = "<!-- search-run:start -->", "<!-- search-run:end -->"
TARGETS = {"time_saving": 0.40, "noise_points": 1.0}
# A wide learning-rate range: on 400 rows and 2 epochs, below ~1e-5 full fine-tuning barely
# leaves the majority class and near 1e-3 it often collapses, so many trials are hopeless, which
# is what a pruner is for. One dimension: 12 trials are enough for TPE to find its good region.
SPACE = {"learning_rate": {"low": 1e-6, "high": 1e-3, "log": True}}
DEFAULTS = {"trials": 12, "repeats": 3, "max_samples": 400, "validation_rows": 300, "epochs": 2, "max_length": 64,
            "batch_size": 16}
SMOKE = {"trials": 4, "repeats": 1, "max_samples": 60, "validation_rows": 30, "epochs": 1, "max_length": 32,
         "batch_size": 8}
FIGURES = ("total_trial_seconds", "study_seconds", "process_seconds", "best_value", "pruned", "complete")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true",
                        help="a tiny random BERT, 60 train and 30 validation rows, 1 epoch, 4 trials, 1 seed")
    parser.add_argument("--pruner", choices=("median", "hyperband"), default="median",
                        help="the pruner compared with none (default median, ftstudio search's default)")
    parser.add_argument("--trials", type=int, help=f"trials per study (default {DEFAULTS['trials']})")
    parser.add_argument("--repeats", type=int, help="seeds, each with both arms (42, 43, ...; default 3)")
    parser.add_argument("--space", help="a space file to search instead of the default (learning_rate 1e-6..1e-3, log)")
    parser.add_argument("--max-samples", type=int, help=f"training rows (stratified; default {DEFAULTS['max_samples']})")
    parser.add_argument("--validation-rows", type=int,
                        help=f"held-out rows (stratified share of the 1,440 the engine holds out; 0: all; default "
                             f"{DEFAULTS['validation_rows']})")
    parser.add_argument("--metric", default="loss",
                        help="the study's objective, metric_for_best (default loss: validation loss; f1 is macro F1, "
                             "which sits at the majority class for most of a 50-step trial)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--max-length", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--model", default=None, help="model folder (default: the embedded all-MiniLM-L6-v2; "
                                                      "--smoke: a tiny random BERT)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds allowed to one study")
    parser.add_argument("--out", help="JSON path (default results/search_last_run.json; --smoke: the scratch folder)")
    parser.add_argument("--readme", action="store_true", help="rewrite the search table in benchmarks/README.md")
    run.add_shared_options(parser, retries=0)
    args = parser.parse_args(argv)
    for key, value in (SMOKE if args.smoke else DEFAULTS).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.trials < 2 or args.repeats < 1:
        parser.error("--trials must be at least 2 and --repeats at least 1")
    return args


# ------------------------------------------------------------------ one study
def study_command(cfg: dict[str, Any], study_dir: Path, seed: int, pruner: str) -> list[str]:
    """`python -m ftstudio search ...` for one study: the fixed settings as flags, as a user types them."""
    command = [sys.executable, "-m", "ftstudio", "search", "--space", cfg["space_file"], "--trials", str(cfg["trials"]),
               "--sampler", "tpe", "--pruner", pruner, "--output", str(study_dir), "--quiet",
               "--model", cfg["model_dir"], "--data", cfg["data_dir"], "--epochs", str(cfg["epochs"]),
               "--max-length", str(cfg["max_length"]), "--batch-size", str(cfg["batch_size"]), "--eval-steps", "0",
               "--seed", str(seed), "--metric-for-best", cfg["metric"]]
    for name, value in cfg["data_settings"].items():
        command += ["--" + name.replace("_", "-"), str(value)]
    return command


def child_env() -> dict[str, str]:
    """The user's environment, offline, with this checkout's ftstudio first on the path."""
    env = dict(run.CLEAN_ENV, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", HF_HUB_DISABLE_TELEMETRY="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def run_study(command: list[str], study_dir: Path, timeout: int) -> dict[str, Any]:
    """One study in its own process; the process's wall time and steal share, or the error."""
    log_path = study_dir.with_name(study_dir.name + ".log")
    started, cpu_before = time.perf_counter(), run.cpu_times()
    with open(log_path, "w", encoding="utf-8") as log:
        try:
            code: int | str = subprocess.run(command, cwd=REPO, env=child_env(), stdout=log, stderr=subprocess.STDOUT,
                                             timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    out: dict[str, Any] = {"process_seconds": round(time.perf_counter() - started, 1),
                           "steal_share": run.steal_share(cpu_before, run.cpu_times()), "log": str(log_path)}
    if code != 0:
        out.update(error=f"exit {code}", log_tail=log_path.read_text(encoding="utf-8", errors="replace")[-2000:])
    return out


def study_figures(study_dir: Path) -> dict[str, Any]:
    """What the study's database says: trials by state, total trial time, study wall time, best."""
    from ftstudio.engine.search.results import read_study

    view = read_study(study_dir, importances=False)
    rows = view.rows
    spans = [(datetime.datetime.fromisoformat(r.started), r.duration) for r in rows if r.started and r.duration]
    study_seconds = (max(s.timestamp() + d for s, d in spans) - min(s.timestamp() for s, _ in spans)) if spans else 0.0
    states = [r.state for r in rows]
    pruned_at = [r.pruned_at_epoch for r in rows if r.pruned_at_epoch is not None]
    return {
        "metric": view.metric, "direction": view.direction, "trials": len(rows), "complete": states.count("complete"),
        "pruned": states.count("pruned"), "failed": states.count("failed"),
        "total_trial_seconds": round(sum(r.duration or 0.0 for r in rows), 1), "study_seconds": round(study_seconds, 1),
        "best_value": view.best.value if view.best else None, "best_trial": view.best.number if view.best else None,
        "best_params": dict(view.best.params) if view.best else {},
        "mean_pruned_at_epoch": round(statistics.mean(pruned_at), 2) if pruned_at else None,
        "rows": [{"number": r.number, "state": r.state, "value": r.value, "duration": r.duration, "params": r.params,
                  "pruned_at_epoch": r.pruned_at_epoch, "message": r.message} for r in rows]}


def run_undisturbed_study(cfg: dict[str, Any], scratch: Path, seed: int, pruner: str,
                          args: argparse.Namespace) -> dict[str, Any]:
    """`run_study`, repeated (up to --retries times) while the hypervisor took more than --max-steal
    of the CPU; the discarded attempts stay in the result."""
    discarded: list[dict[str, Any]] = []
    while True:
        study_dir = scratch / f"{pruner}-{seed}-{len(discarded)}"
        result = run_study(study_command(cfg, study_dir, seed, pruner), study_dir, args.timeout)
        if "error" not in result and (study_dir / "search.json").is_file():
            result.update(study_figures(study_dir))
        elif "error" not in result:
            result.update(error="the study wrote no search.json", log_tail="")
        if not args.keep_scratch:  # a checkpoint a trial: free the disk before the next study
            for trial in study_dir.glob("trial-*"):
                shutil.rmtree(trial, ignore_errors=True)
        steal = result.get("steal_share")
        if "error" in result or steal is None or steal <= args.max_steal or len(discarded) >= args.retries:
            break
        print(f"          steal {steal:.0%} > {args.max_steal:.0%}: study discarded, run again", flush=True)
        discarded.append({"steal_share": steal, **{k: result.get(k) for k in ("total_trial_seconds", "best_value")}})
    result["discarded_for_steal"] = discarded
    return result


def run_arms(args: argparse.Namespace, cfg: dict[str, Any], scratch: Path, started: float) -> list[dict[str, Any]]:
    """Both arms for each seed, interleaved, their order rotating between seeds."""
    arms = ["none", args.pruner]
    results = []
    for repeat in range(args.repeats):
        seed = run.SEED + repeat
        for pruner in arms[repeat % 2:] + arms[: repeat % 2]:
            print(f"[{time.time() - started:7.0f}s] seed {seed}: pruner {pruner}, {args.trials} trials ...", flush=True)
            result = run_undisturbed_study(cfg, scratch, seed, pruner, args)
            result.update(seed=seed, pruner=pruner)
            if "error" in result:
                print(f"          FAILED: {result['error']}\n{result['log_tail']}", flush=True)
            else:
                print(f"          {result['complete']} complete, {result['pruned']} pruned, {result['failed']} failed; "
                      f"trial time {result['total_trial_seconds']:.0f}s, best {_value(result['best_value'])}",
                      flush=True)
            results.append(result)
    return results


# ------------------------------------------------------------------ figures
def _median(values: list[Any]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _metric_words(metric: str) -> str:
    """The objective as the table's heading says it."""
    return {"loss": "validation loss", "f1": "macro F1"}.get(metric, metric)


def _points(better: float | None, worse: float | None, direction: str) -> float | None:
    """How much better `better` is than `worse`, in points (x100), positive when better."""
    if better is None or worse is None:
        return None
    return round(100 * (better - worse) * (-1 if direction == "minimize" else 1), 2)


def summarise(results: list[dict[str, Any]], pruner: str) -> dict[str, Any]:
    """Per seed the pruner's saving and best-value difference; medians per arm and over seeds;
    the issue's targets and whether both are met."""
    ok = [r for r in results if "error" not in r]
    direction = next((r["direction"] for r in ok), "maximize")
    by_seed: dict[str, dict[str, dict[str, Any]]] = {}
    for r in ok:
        by_seed.setdefault(str(r["seed"]), {})[r["pruner"]] = r
    per_seed = {}
    for seed, arms in by_seed.items():
        if "none" not in arms or pruner not in arms:
            continue
        off, on = arms["none"], arms[pruner]
        per_seed[seed] = {
            "time_saving": _saving(on["total_trial_seconds"], off["total_trial_seconds"]),
            "study_wall_saving": _saving(on["study_seconds"], off["study_seconds"]),
            "best_points": _points(on["best_value"], off["best_value"], direction)}
    paired = [by_seed[s] for s in per_seed]  # seeds with both arms: the medians compare like with like
    arms = {arm: dict({k: _median([a[arm][k] for a in paired]) for k in FIGURES}, studies=len(paired))
            for arm in ("none", pruner)} if paired else {}
    off_best = [a["none"]["best_value"] for a in paired if a["none"]["best_value"] is not None]
    spread = round(100 * (max(off_best) - min(off_best)), 2) if off_best else 0.0
    noise = max(TARGETS["noise_points"], spread)
    saving = _median([s["time_saving"] for s in per_seed.values()])
    best_points = _points(_median([a[pruner]["best_value"] for a in paired]), _median(off_best), direction)
    out: dict[str, Any] = {
        "pruner": pruner, "direction": direction, "per_seed": per_seed, "arms": arms,
        "time_saving_median": saving,
        "time_saving_pooled": _saving(sum(a[pruner]["total_trial_seconds"] for a in paired),
                                      sum(a["none"]["total_trial_seconds"] for a in paired)) if paired else None,
        "study_wall_saving_median": _median([s["study_wall_saving"] for s in per_seed.values()]),
        "best_points_median": best_points, "noise_points": noise, "no_pruner_best_spread_points": spread,
        "targets": [
            {"target": f"total trial time saved by the {pruner} pruner >= {TARGETS['time_saving']:.0%} (median over "
                       "seeds)", "value": saving, "met": saving is not None and saving >= TARGETS["time_saving"]},
            {"target": f"median best value >= no pruner's - noise ({noise:.2f} points: the larger of "
                       f"{TARGETS['noise_points']:g} point and the no-pruner bests' spread over seeds)",
             "value": best_points, "met": best_points is not None and best_points >= -noise}]}
    out["passed"] = bool(per_seed) and all(t["met"] for t in out["targets"])
    return out


def _saving(on: float, off: float) -> float | None:
    return round(1 - on / off, 4) if off else None


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _pts(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f} points"


def format_report(report: dict[str, Any]) -> str:
    """Markdown: every study, the savings per seed, the targets and the PASS/FAIL line."""
    from ftstudio.engine.search.results import format_param

    s, summary, pruner = report["settings"], report["summary"], report["summary"]["pruner"]
    space = ", ".join(f"{k} {_space_text(v)}" for k, v in s["space"].items())
    lines = [
        f"Run {report['date']} on {report['machine']}; torch {report['versions'].get('torch', '?')}, optuna "
        f"{report['versions'].get('optuna', '?')}; `ftstudio search`, TPE sampler, {s['trials']} trials a study, "
        f"space: {space}; {report['data_rows']['train']} training rows, {report['data_rows']['validation']} held out; "
        f"{s['epochs']} epoch(s), max length {s['max_length']}, batch {s['batch_size']}, evaluation ~10 times a trial; "
        f"model {s['model_name']}; seeds {s['seeds']}; {report['duration_seconds'] / 60:.0f} min.", "",
        f"| seed | pruner | complete / pruned / failed | total trial s | study wall s | process s | best "
        f"{_metric_words(s.get('metric', 'f1'))} | best trial | steal |", "|---|---|---:|---:|---:|---:|---:|---|---:|"]
    for r in report["results"]:
        if "error" in r:
            lines.append(f"| {r['seed']} | {r['pruner']} | failed: {r['error']} | | | | | | |")
            continue
        best = "-" if r["best_trial"] is None else f"{r['best_trial']}: " + ", ".join(
            f"{k}={format_param(v)}" for k, v in r["best_params"].items())
        steal = "-" if r.get("steal_share") is None else f"{100 * r['steal_share']:.0f}%"
        lines.append(f"| {r['seed']} | {r['pruner']} | {r['complete']} / {r['pruned']} / {r['failed']} | "
                     f"{r['total_trial_seconds']:.0f} | {r['study_seconds']:.0f} | {r['process_seconds']:.0f} | "
                     f"{_value(r['best_value'])} | {best} | {steal} |")
    for arm, a in summary["arms"].items():
        lines.append(f"| median | {arm} | {a['complete']:g} / {a['pruned']:g} / - | {a['total_trial_seconds']:.0f} | "
                     f"{a['study_seconds']:.0f} | {a['process_seconds']:.0f} | {_value(a['best_value'])} | "
                     f"of {a['studies']} studies | |")
    lines += ["", f"| seed | total trial time saved | study wall time saved | best value, {pruner} - none |",
              "|---|---:|---:|---:|"]
    for seed, p in summary["per_seed"].items():
        lines.append(f"| {seed} | {_pct(p['time_saving'])} | {_pct(p['study_wall_saving'])} | {_pts(p['best_points'])} |")
    lines.append(f"| median | {_pct(summary['time_saving_median'])} | {_pct(summary['study_wall_saving_median'])} | "
                 f"{_pts(summary['best_points_median'])} (of the median bests) |")
    lines.append(f"| pooled (sums over seeds) | {_pct(summary['time_saving_pooled'])} | | |")
    lines += ["", "| target | measured | met |", "|---|---:|---|"]
    for t, shown in zip(summary["targets"], (_pct(summary["time_saving_median"]), _pts(summary["best_points_median"]))):
        lines.append(f"| {t['target']} | {shown} | {'yes' if t['met'] else 'NO'} |")
    lines += ["", f"{'PASS' if summary['passed'] else 'FAIL'}: the {pruner} pruner saved "
                  f"{_pct(summary['time_saving_median'])} of the total trial time (target "
                  f"{TARGETS['time_saving']:.0%}) at a best value {_pts(summary['best_points_median'])} against no "
                  f"pruner (noise {summary['noise_points']:.2f} points)."]
    return "\n".join(lines)


def _space_text(entry: Any) -> str:
    if isinstance(entry, dict):
        return f"{entry['low']:g}..{entry['high']:g}" + (" (log)" if entry.get("log") else "")
    return "[" + ", ".join(str(v) for v in entry) + "]"


# ------------------------------------------------------------------ main
def prepare(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    """The model (with --smoke a tiny random BERT), the data files and the space file every study uses."""
    from ftstudio.engine.search.space import load_space, parse_space

    model_dir = model_folder(args, scratch)
    data = write_task_data(scratch / "data", "single-label", args.max_samples, run.SEED, args.validation_rows)
    space = load_space(args.space) if args.space else parse_space({"space": SPACE}, "benchmark")
    space_file = scratch / "space.toml"
    space.save(space_file)
    print(f"data: {data['rows']} rows in {data['dir']}; model {model_dir}; space {space.to_mapping()}; "
          f"scratch {scratch}", flush=True)
    return {"model_dir": model_dir, "data_dir": data["dir"], "data_settings": data["settings"],
            "data_rows": data["rows"], "space": space.to_mapping(), "space_file": str(space_file),
            "trials": args.trials, "epochs": args.epochs, "max_length": args.max_length, "batch_size": args.batch_size,
            "metric": args.metric}


def versions() -> dict[str, str]:
    """The installed versions the studies ran with (read from the packages' metadata: no import)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "transformers", "optuna"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="ftstudio-search-bench-"))
    cfg = prepare(args, scratch)
    model_name = ("tiny random BERT" if args.smoke and not args.model else
                  "all-MiniLM-L6-v2" if not args.model else Path(args.model).name)
    settings = {"trials": args.trials, "space": cfg["space"], "sampler": "tpe", "pruners": ["none", args.pruner],
                "metric": args.metric,
                "epochs": args.epochs, "max_length": args.max_length, "batch_size": args.batch_size,
                "seeds": [run.SEED + r for r in range(args.repeats)], "model": cfg["model_dir"], "model_name": model_name}
    started = time.time()
    results = run_arms(args, cfg, scratch, started)
    report: dict[str, Any] = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine_description(),
        "python": platform.python_version(), "versions": versions(),
        "command": " ".join(["python", "benchmarks/search.py", *(argv if argv is not None else sys.argv[1:])]),
        "settings": settings, "data_rows": cfg["data_rows"], "duration_seconds": round(time.time() - started),
        "results": results}
    report["summary"] = summarise(results, args.pruner)
    out = Path(args.out or (scratch / "search_smoke.json" if args.smoke else HERE / "results" / "search_last_run.json"))
    readme = HERE / "README.md" if args.readme else None
    publish_report(report, out, format_report(report), readme, README_START, README_END)
    run.clean_scratch(scratch, args.keep_scratch, spare=out)
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
