"""ftstudio's LoRA against the stock peft recipe, and LoRA against full fine-tuning, in one run.

    .venv/bin/python benchmarks/lora.py            # 3 arms x 3 seeds, 3,000 rows, 3 epochs (~35-50 min on 2 CPU cores)
    .venv/bin/python benchmarks/lora.py --smoke    # the same end to end on a tiny random BERT and 64 rows (~45 s;
                                                   # its figures mean nothing)

Arms, each (arm, seed) in a fresh child process on the same data files (`common.write_task_data`:
a stratified, seeded subset of the sample's training rows and the rows the engine holds out),
model, max length, batch size, epochs and seed, interleaved with their order rotating between
seeds:

- `stock_lora`: `peft.get_peft_model(LoraConfig(task_type=SEQ_CLS, ...))` around the stock
  Trainer recipe (`lora_peers.py`);
- `ftstudio_lora`: ftstudio's engine with `strategy="lora"` and the same rank, alpha, dropout and
  target modules (`peers.py ftstudio` with those settings);
- `ftstudio_full`: ftstudio's engine fine-tuning every weight at its default learning rate, for
  the held-out accuracy LoRA gives up (or not) against full fine-tuning.

Then one child (`lora_peers.py ftstudio_save_timing`) times ftstudio's `save_checkpoint` on the same
model for a full fine-tuning checkpoint and a LoRA step folder, in turns, and measures both
folders. Prints tables, writes JSON (results/lora_last_run.json), with --readme rewrites the
LoRA table in benchmarks/README.md, and deletes its scratch folder unless --keep-scratch.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402 - first: it keeps the user's environment for the children (run.CLEAN_ENV)
from common import HERE, model_folder, write_task_data  # noqa: E402
from lora_peers import folder_sizes  # noqa: E402
from report import _median_rows, machine_description, publish_report  # noqa: E402

README_START, README_END = "<!-- lora-run:start -->", "<!-- lora-run:end -->"
# arm -> (child script, its mode); the learning rate and settings of each arm are in `arm_config`.
ARMS = {"stock_lora": ("lora_peers.py", "stock_lora"), "ftstudio_lora": ("peers.py", "ftstudio"),
        "ftstudio_full": ("peers.py", "ftstudio")}
TARGETS = {"speedup_vs_stock": 1.3, "accuracy_points": 1.0}
DEFAULTS = {"max_samples": 3000, "validation_rows": 0, "epochs": 3, "max_length": 64, "batch_size": 32,
            "repeats": 3, "save_repeats": 5}
SMOKE = {"max_samples": 64, "validation_rows": 32, "epochs": 1, "max_length": 32, "batch_size": 16, "repeats": 1,
         "save_repeats": 2}
LORA_LEARNING_RATE = 5e-4  # both LoRA arms: adapters start at zero and need a larger step than full fine-tuning
FULL_LEARNING_RATE = 5e-5  # ftstudio's default learning_rate


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true",
                        help="a tiny random BERT, 64 train and 32 validation rows, 1 epoch, 1 seed: checks the script")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, of {', '.join(ARMS)}")
    parser.add_argument("--max-samples", type=int, help=f"training rows (stratified; 0: all; default "
                                                        f"{DEFAULTS['max_samples']})")
    parser.add_argument("--validation-rows", type=int, help="held-out rows (0, the default: all the engine holds out, "
                                                            "1,440)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--max-length", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--repeats", type=int, help="seeds per arm (42, 43, ...; medians reported; default 3)")
    parser.add_argument("--save-repeats", type=int, help="saves of each checkpoint kind timed (default 5)")
    parser.add_argument("--lora-rank", type=int, default=8)
    parser.add_argument("--lora-alpha", type=float, default=16.0)
    parser.add_argument("--lora-dropout", type=float, default=0.1)
    parser.add_argument("--lora-targets", default="query,value",
                        help="module names both LoRA arms adapt (default: peft's default for BERT models)")
    parser.add_argument("--lora-learning-rate", type=float, default=LORA_LEARNING_RATE)
    parser.add_argument("--full-learning-rate", type=float, default=FULL_LEARNING_RATE)
    parser.add_argument("--model", default=None, help="model folder (default: the embedded all-MiniLM-L6-v2; "
                                                      "--smoke: a tiny random BERT)")
    parser.add_argument("--timeout", type=int, default=7200, help="seconds allowed to one child run")
    parser.add_argument("--out", help="JSON path (default results/lora_last_run.json; --smoke: the scratch folder)")
    parser.add_argument("--readme", action="store_true", help="rewrite the LoRA table in benchmarks/README.md")
    run.add_shared_options(parser)
    args = parser.parse_args(argv)
    for key, value in (SMOKE if args.smoke else DEFAULTS).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    unknown = [a for a in args.arms.split(",") if a and a not in ARMS]
    if unknown:
        parser.error(f"not an arm: {', '.join(unknown)} (arms: {', '.join(ARMS)})")
    return args


def arm_config(arm: str, base: dict[str, Any]) -> dict[str, Any]:
    """An arm's child configuration: the shared one with its learning rate and ftstudio settings."""
    if arm == "ftstudio_full":
        return dict(base, learning_rate=base["full_learning_rate"])
    overrides = base["lora_overrides"] if arm == "ftstudio_lora" else {}
    return dict(base, learning_rate=base["lora_learning_rate"], ftstudio_overrides=overrides)


def run_facts(result: dict[str, Any]) -> None:
    """What an ftstudio run's folder says beyond its figures: trainable parameters (its info
    record) and the size of its last step folder (adapter or full checkpoint)."""
    run_dir = Path(result["run_dir"])
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    info = next((r for r in records if r.get("event") == "info"), {})
    result["trainable_params"], result["total_params"] = info.get("trainable_params"), info.get("total_params")
    steps = sorted((run_dir / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    if steps:
        result["step_folder"] = folder_sizes(steps[-1])


def train_arms(args: argparse.Namespace, base: dict[str, Any], scratch: Path, started: float) -> list[dict[str, Any]]:
    arms = [a for a in args.arms.split(",") if a]
    results = []
    for repeat in range(args.repeats):
        cfg = dict(base, seed=run.SEED + repeat)
        for arm in arms[repeat % len(arms):] + arms[: repeat % len(arms)]:
            script, mode = ARMS[arm]
            print(f"[{time.time() - started:7.0f}s] seed {cfg['seed']}: {arm} ...", flush=True)
            result = run.run_undisturbed(script, mode, arm_config(arm, cfg), scratch / f"{arm}-{repeat}", args)
            result.update(case="lora", peer=arm, repeat=repeat, seed=cfg["seed"])
            if "error" in result:
                print(f"          FAILED: {result['error']}\n{result['log_tail']}", flush=True)
            else:
                if "run_dir" in result:
                    run_facts(result)
                print(f"          {result['train_samples_per_second']:.1f} samples/s, wall {result['wall_to_end']:.1f}s, "
                      f"accuracy {100 * result['accuracy']:.2f}, macro F1 {100 * result['f1']:.2f}", flush=True)
            results.append(result)
    return results


# ------------------------------------------------------------------ figures
def summarise(results: list[dict[str, Any]], saves: dict[str, Any]) -> dict[str, Any]:
    """Medians per arm, ftstudio's LoRA against the stock recipe and against full fine-tuning
    (per seed too), the checkpoint comparison, and the issue's targets."""
    rows = {peer: row for (_, peer), row in _median_rows(results).items()}
    out: dict[str, Any] = {"arms": rows, "comparisons": {}, "per_seed": {}, "targets": []}
    for name, (ours, theirs) in {"ftstudio_lora_vs_stock_lora": ("ftstudio_lora", "stock_lora"),
                                 "ftstudio_lora_vs_ftstudio_full": ("ftstudio_lora", "ftstudio_full")}.items():
        if ours in rows and theirs in rows:
            a, b = rows[ours], rows[theirs]
            out["comparisons"][name] = {
                "samples_per_second": round(a["train_samples_per_second"] / b["train_samples_per_second"], 3),
                "accuracy_points": round(100 * (a["accuracy"] - b["accuracy"]), 2),
                "f1_points": round(100 * (a["f1"] - b["f1"]), 2)}
    for r in results:
        if "error" not in r:
            out["per_seed"].setdefault(str(r["seed"]), {})[r["peer"]] = {
                k: r[k] for k in ("accuracy", "f1", "train_samples_per_second")}
    versus = out["comparisons"].get("ftstudio_lora_vs_stock_lora")
    if versus:
        speed, points = versus["samples_per_second"], versus["accuracy_points"]
        out["targets"] = [
            {"target": f"samples/s vs stock LoRA >= {TARGETS['speedup_vs_stock']}x", "value": speed,
             "met": speed >= TARGETS["speedup_vs_stock"]},
            {"target": "held-out accuracy >= stock LoRA - 1 point", "value": points,
             "met": points >= -TARGETS["accuracy_points"]}]
    if saves and "error" not in saves:
        med = saves["save_seconds_median"]
        out["checkpoints"] = {"save_seconds_median": med, "full_over_lora_save_time": round(med["full"] / med["lora"], 1),
                              "full_over_lora_folder_size": round(saves["sizes"]["full"]["total_bytes"]
                                                                  / saves["sizes"]["lora"]["total_bytes"], 1)}
    return out


def _mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:,.2f} MB" if n < 1e7 else f"{n / 1e6:,.0f} MB"


def format_report(report: dict[str, Any]) -> str:
    s, summary = report["settings"], report["summary"]
    lines = [
        f"Run {report['date']} on {report['machine']}; torch {report['versions'].get('torch', '?')}, transformers "
        f"{report['versions'].get('transformers', '?')}, peft {report['versions'].get('peft', '?')}; "
        f"{report['data_rows']['train']} training rows, {report['data_rows']['validation']} held out; "
        f"{s['epochs']} epoch(s), max length {s['max_length']}, batch {s['batch_size']}; LoRA r {s['lora_rank']}, "
        f"alpha {s['lora_alpha']:g}, dropout {s['lora_dropout']:g} on {s['lora_targets']}, learning rate "
        f"{s['lora_learning_rate']:g} (full fine-tuning {s['full_learning_rate']:g}); seeds {s['seeds']}; "
        f"{report['duration_seconds'] / 60:.0f} min.", "",
        "| arm | samples/s | train s | wall s | held-out acc | macro F1 | trainable params | peak RSS MB | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for arm in ARMS:
        r = summary["arms"].get(arm)
        if r is None:
            continue
        notes = [f"median of {r['repeats']}"] + ([f"{r['reruns']} disturbed run(s) repeated"] if r.get("reruns") else [])
        params = f"{r['trainable_params']:,}" if r.get("trainable_params") else "-"
        lines.append(f"| {arm} | {r['train_samples_per_second']:.1f} | {r['train_runtime']:.1f} | {r['wall_to_end']:.1f} "
                     f"| {100 * r['accuracy']:.2f} | {100 * r['f1']:.2f} | {params} | {r['peak_rss_mb']:.0f} | "
                     f"{'; '.join(notes)} |")
    lines += [f"| {r['peer']} (seed {r['seed']}) | failed: {r['error']} | | | | | | | |" for r in report["results"]
              if "error" in r]
    lines += ["", "| comparison | samples/s | held-out accuracy | macro F1 |", "|---|---:|---:|---:|"]
    for name, c in summary["comparisons"].items():
        lines.append(f"| {name.replace('_vs_', ' vs ').replace('_', ' ')} | {c['samples_per_second']:.2f}x | "
                     f"{c['accuracy_points']:+.2f} points | {c['f1_points']:+.2f} points |")
    lines += ["", "| seed | " + " | ".join(f"{a}: acc / F1 / samples/s" for a in ARMS) + " |",
              "|---|" + "---|" * len(ARMS)]
    for seed, arms in summary["per_seed"].items():
        cells = [f"{100 * v['accuracy']:.2f} / {100 * v['f1']:.2f} / {v['train_samples_per_second']:.1f}"
                 if (v := arms.get(a)) else "-" for a in ARMS]
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    lines += _checkpoint_lines(report)
    lines += ["", "| target | measured | met |", "|---|---:|---|"]
    lines += [f"| {t['target']} | {t['value']} | {'yes' if t['met'] else 'NO'} |" for t in summary["targets"]]
    return "\n".join(lines)


def _checkpoint_lines(report: dict[str, Any]) -> list[str]:
    saves = report.get("save_timing") or {}
    if not saves or "error" in saves:
        return ["", f"Checkpoint timing failed: {saves.get('error', 'not run')}"]
    med, sizes, n = saves["save_seconds_median"], saves["sizes"], len(saves["save_seconds"]["full"])
    rows = [("full fine-tuning step folder", sizes["full"], med["full"]),
            ("LoRA step folder (the adapter)", sizes["lora"], med["lora"]),
            ("full step with a new best/ (hard links to it)", sizes["full_best"], med["full_new_best"]),
            ("LoRA step with a new best/ (merged weights + adapter/)", sizes["lora_best"], med["lora_new_best"])]
    lines = ["", f"Checkpoints: ftstudio's `save_checkpoint` on the same model, {n} saves of each kind in turns "
                 "(medians; weights, AdamW moments after one step, tokenizer, card; fsync'ed).", "",
             "| checkpoint | weights file | resume state | whole folder | save s |", "|---|---:|---:|---:|---:|"]
    for title, size, seconds in rows:
        weights = f"{size['weights_file']} {_mb(size['weights_bytes'])}" if size.get("weights_file") else "-"
        lines.append(f"| {title} | {weights} | {_mb(size['training_state_bytes'])} | {_mb(size['total_bytes'])} | "
                     f"{seconds:.3f} |")
    ours = [r["step_folder"] for r in report["results"] if r.get("peer") == "ftstudio_lora" and "step_folder" in r]
    if ours:
        lines.append(f"\nThe LoRA runs' own last step folders: {_mb(ours[0]['total_bytes'])} "
                     f"({ours[0]['weights_file']} {_mb(ours[0]['weights_bytes'])}).")
    return lines


# ------------------------------------------------------------------ main
def prepare(args: argparse.Namespace, scratch: Path) -> tuple[str, dict[str, Any]]:
    """The model folder (with --smoke a tiny random BERT) and the data files every arm reads."""
    model_dir = model_folder(args, scratch)
    data = write_task_data(scratch / "data", "single-label", args.max_samples, run.SEED, args.validation_rows)
    print(f"data: {data['rows']} rows in {data['dir']}; model {model_dir}; scratch {scratch}", flush=True)
    return model_dir, data


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="ftstudio-lora-bench-"))
    model_dir, data = prepare(args, scratch)
    lora = {"lora_rank": args.lora_rank, "lora_alpha": args.lora_alpha, "lora_dropout": args.lora_dropout,
            "lora_targets": args.lora_targets}
    settings = dict(lora, epochs=args.epochs, max_length=args.max_length, batch_size=args.batch_size,
                    lora_learning_rate=args.lora_learning_rate, full_learning_rate=args.full_learning_rate,
                    seeds=[run.SEED + r for r in range(args.repeats)], model=model_dir)
    base = dict(settings, workload="full", model_dir=model_dir, data_dir=data["dir"], label_names=data["label_names"],
                lora_overrides=dict(lora, strategy="lora"), save_repeats=args.save_repeats)
    started = time.time()
    results = train_arms(args, base, scratch, started)
    print(f"[{time.time() - started:7.0f}s] checkpoint save timing ...", flush=True)
    saves = run.run_child("lora_peers.py", "ftstudio_save_timing", dict(arm_config("ftstudio_lora", base), seed=run.SEED),
                          scratch / "save-timing", args.timeout)
    if "error" in saves:
        print(f"          FAILED: {saves['error']}\n{saves['log_tail']}", flush=True)
    # The stock arm's child reports the libraries' versions (it imports them all); else one more child.
    versions = next((r["versions"] for r in results if r.get("versions")), None) or run._versions()
    report: dict[str, Any] = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine_description(),
        "python": platform.python_version(), "versions": versions,
        "command": " ".join(["python", "benchmarks/lora.py", *(argv if argv is not None else sys.argv[1:])]),
        "settings": settings, "data_rows": data["rows"], "duration_seconds": round(time.time() - started),
        "results": results, "save_timing": saves}
    report["summary"] = summarise(results, saves)
    out = Path(args.out or (scratch / "lora_smoke.json" if args.smoke else HERE / "results" / "lora_last_run.json"))
    readme = HERE / "README.md" if args.readme else None
    publish_report(report, out, format_report(report), readme, README_START, README_END)
    run.clean_scratch(scratch, args.keep_scratch, spare=out)
    return 0 if all("error" not in r for r in [*results, saves]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
