"""ftstudio against the stock Hugging Face recipe of each task type, in one benchmark run.

    .venv/bin/python benchmarks/tasks.py            # multi-label, regression, pairs, NER x (stock Trainer, ftstudio) x 3 seeds
    .venv/bin/python benchmarks/tasks.py --smoke    # the same end to end on 32 rows, 1 epoch, 1 seed (~1.5 min)

Each task case trains on files derived from its embedded sample (`common.write_task_data`: a
stratified, seeded subset of the training rows and the validation rows the engine holds out), the
same files for both peers, with the same model, settings and seeds as `run.py`'s full fine-tuning
case; each (peer, task, seed) in a fresh child process (`peers.py`), peers interleaved and their
order rotating between seeds. The stock peer is the recipe users of that task write
(`peers.stock_recipe`), ftstudio's is its engine with the task's settings. Prints a table, writes
JSON (benchmarks/results/tasks_last_run.json), and with --readme rewrites the task table in
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402 - first: it keeps the user's environment for the children (run.CLEAN_ENV)
from common import HERE, TASKS, write_task_data  # noqa: E402
from report import (  # noqa: E402
    TASKS_README_END,
    TASKS_README_START,
    format_task_table,
    machine_description,
    publish_report,
    quality_text,
    task_ratios,
)

DEFAULT_TASKS = ["multi-label", "regression", "pairs", "token-classification"]
DEFAULT_PEERS = ["hf_trainer", "ftstudio"]
SMOKE = {"max_samples": 32, "validation_rows": 32, "epochs": 1, "repeats": 1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default=",".join(DEFAULT_TASKS), help=f"comma-separated, of {', '.join(TASKS)}")
    parser.add_argument("--peers", default=",".join(DEFAULT_PEERS),
                        help="comma-separated: hf_trainer, ftstudio, ftstudio_gui or an ftstudio variant of peers.py")
    parser.add_argument("--max-samples", type=int, default=2000, help="training rows (stratified subsample; 0: all)")
    parser.add_argument("--validation-rows", type=int, default=0,
                        help="validation rows (0: all the engine holds out, ~1,440; fewer for quick checks)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=run.LEARNING_RATE["full"])
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each peer per task, each with its own seed (medians reported)")
    parser.add_argument("--smoke", action="store_true",
                        help="a quick end-to-end check: 32 train and 32 validation rows, 1 epoch, 1 seed")
    parser.add_argument("--model", default=None, help="model folder (default: the embedded all-MiniLM-L6-v2)")
    parser.add_argument("--timeout", type=int, default=7200, help="seconds allowed to one child run")
    parser.add_argument("--out", default=None,
                        help="where the JSON goes (default results/tasks_last_run.json; --smoke: the scratch folder)")
    parser.add_argument("--readme", action="store_true", help="rewrite the task table in benchmarks/README.md")
    run.add_shared_options(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        for key, value in SMOKE.items():
            setattr(args, key, value)
    tasks = [t for t in args.tasks.split(",") if t]
    peers = [p for p in args.peers.split(",") if p]
    unknown = [t for t in tasks if t not in TASKS] + [p for p in peers if p == "torch_loop"]
    if unknown:
        raise SystemExit(f"not a task case: {', '.join(unknown)} (tasks: {', '.join(TASKS)}; torch_loop is "
                         "single-label only: run.py)")

    from ftstudio.engine.models.sources import default_model_path

    model_dir = args.model or str(default_model_path())
    scratch = Path(tempfile.mkdtemp(prefix="ftstudio-tasks-bench-"))
    data = {task: write_task_data(scratch / "data" / task, task, args.max_samples, max_validation=args.validation_rows)
            for task in tasks}
    for task, d in data.items():
        print(f"{task}: {d['rows']} rows in {d['dir']}", flush=True)

    started = time.time()
    results: list[dict[str, Any]] = []
    for task in tasks:
        base = dict(task=task, workload="full", epochs=args.epochs, max_length=args.max_length,
                    batch_size=args.batch_size, learning_rate=args.learning_rate, model_dir=model_dir,
                    data_dir=data[task]["dir"], label_names=data[task]["label_names"],
                    columns=data[task]["columns"], task_settings=data[task]["settings"])
        for repeat in range(args.repeats):
            cfg = dict(base, seed=run.SEED + repeat)
            order = peers[repeat % len(peers):] + peers[: repeat % len(peers)]
            for peer in order:
                script, mode = run.peer_script(peer)
                print(f"[{time.time() - started:7.0f}s] {task} #{repeat + 1}: {peer} ...", flush=True)
                result = run.run_undisturbed(script, mode, cfg, scratch / f"{task}-{peer}-{repeat}", args)
                result.update(case=task, task=task, repeat=repeat, peer=peer, seed=cfg["seed"])
                if "error" not in result:
                    print(f"          {result['train_samples_per_second']:.1f} samples/s, "
                          f"wall {result['wall_to_end']:.1f}s, {quality_text(task, result)}", flush=True)
                else:
                    print(f"          FAILED: {result['error']}\n{result['log_tail']}", flush=True)
                results.append(result)

    report = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine_description(),
        "python": platform.python_version(),
        "versions": run._versions(),
        "command": " ".join([Path(sys.executable).name, "benchmarks/tasks.py", *(argv if argv is not None else sys.argv[1:])]),
        "settings": {"epochs": args.epochs, "max_length": args.max_length, "batch_size": args.batch_size,
                     "learning_rate": args.learning_rate, "seeds": [run.SEED + r for r in range(args.repeats)],
                     "model": model_dir},
        "data_rows": {task: d["rows"] for task, d in data.items()},
        "duration_seconds": round(time.time() - started),
        "results": results,
    }
    report["ratios"] = task_ratios(report)
    # A smoke run's figures mean nothing: its JSON stays in the scratch folder.
    out = Path(args.out or (scratch / "tasks_smoke.json" if args.smoke else HERE / "results" / "tasks_last_run.json"))
    readme = HERE / "README.md" if args.readme else None
    publish_report(report, out, format_task_table(report), readme, TASKS_README_START, TASKS_README_END)
    run.clean_scratch(scratch, args.keep_scratch, spare=out)
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
