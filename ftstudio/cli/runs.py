"""`ftstudio runs`: the past runs, one line each (a run started from another run says so), and
`ftstudio runs RUN`: one run in full, with its lineage back to the base model."""

from __future__ import annotations

import argparse
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import RunError


def cmd_runs(args: argparse.Namespace) -> int:
    from ftstudio.engine.runs.folder import default_runs_dir
    from ftstudio.engine.runs.listing import list_runs

    runs_dir = default_runs_dir()
    runs = list_runs(runs_dir)
    if getattr(args, "run", None):
        return show_run(find_run(args.run, runs, runs_dir), args.json)
    if args.json:
        print(json.dumps([{"run_dir": str(r.run_dir), "status": r.status, "task": r.task, "model": r.model,
                           "data": r.data, "parent_run": r.parent_run or None, "best_metric": r.best_metric,
                           "best_value": r.best_value, "step": r.step, "created": r.created} for r in runs],
                         indent=2))
        return 0
    if not runs:
        print(f"No runs in {runs_dir}.")
        return 0
    print(f"{'run':<46} {'status':<9} {'best':>17} {'step':>7}  model / data")
    for r in runs:
        best = f"{r.best_metric} {r.best_value:.3f}" if r.best_value is not None else "-"
        when = datetime.fromtimestamp(r.created).strftime("%Y-%m-%d %H:%M")
        # A model that is another run's checkpoint reads as that run ("best" says nothing).
        model = f"from {r.parent_run}" if r.parent_run else _short(r.model)
        print(f"{r.run_id[:46]:<46} {r.status:<9} {best:>17} {r.step:>7}  {model} / {_short(r.data)}  {when}")
    return 0


def _short(text: str) -> str:
    return Path(text).name if os.sep in text or "/" in text else text


def find_run(name: str, runs: list[Any], runs_dir: Path) -> Any:
    """The run a user named: its folder, its id, or the start of one id."""
    from ftstudio.engine.runs.folder import is_run_dir
    from ftstudio.engine.runs.listing import summarize_run

    path = Path(name).expanduser()
    if is_run_dir(path):
        return summarize_run(path)
    exact = [r for r in runs if r.run_id == name]
    matches = exact or [r for r in runs if r.run_id.startswith(name)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise RunError(f"'{name}' matches {len(matches)} runs ({', '.join(r.run_id for r in matches[:5])}"
                       f"{', ...' if len(matches) > 5 else ''}); give more of the run id.")
    raise RunError(f"No run '{name}' in {runs_dir}. 'ftstudio runs' lists them; a run folder's path works too.")


def show_run(run: Any, as_json: bool) -> int:
    from ftstudio.engine.runs.lineage import (
        ancestor_label,
        describe_lineage,
        finetune_checkpoint,
        lineage,
        task_title,
    )
    from ftstudio.engine.runs.listing import list_checkpoints

    chain = lineage(run.run_dir)
    source = finetune_checkpoint(run.run_dir, run.status, run.task)
    if as_json:
        print(json.dumps({
            "run_dir": str(run.run_dir), "status": run.status, "message": run.message, "task": run.task,
            "model": run.model, "data": run.data, "step": run.step, "total_steps": run.total_steps,
            "best_metric": run.best_metric, "best_value": run.best_value,
            "lineage": [{"kind": a.kind, "name": a.name, "spec": a.spec, "task": a.task or None, "data": a.data or None,
                         "run_dir": str(a.run_dir) if a.run_dir else None} for a in chain],
            "lineage_text": describe_lineage(chain, run.task),
        }, indent=2))
        return 0
    best = f"{run.best_metric} {run.best_value:.4f}" if run.best_value is not None else "no evaluation yet"
    rows = [("Run", run.run_id), ("Folder", str(run.run_dir)),
            ("Status", f"{run.status}{f' ({run.message})' if run.message else ''}"),
            ("Task", task_title(run.task)), ("Model", run.model), ("Data", run.data),
            ("Steps", f"{run.step} / {run.total_steps}" if run.total_steps else str(run.step)), ("Best", best),
            ("Lineage", describe_lineage(chain, run.task) or "unknown (settings.json unreadable)")]
    rows += [("", f"{ancestor_label(a)}: {a.checkpoint or a.run_dir}") for a in chain if a.is_run]
    checkpoints = [f"{name}/" for name in ("best", "last") if (run.run_dir / name).is_dir()]
    checkpoints += [f"checkpoints/{c.path.name}" for c in list_checkpoints(run.run_dir)]
    rows.append(("Checkpoints", ", ".join(checkpoints) or "none yet"))
    for label, value in rows:
        print(f"{label + ':' if label else '':<13}{value}")
    if source is not None:
        print(f"\nFine-tune from it: ftstudio train --model {source} --data LABELLED_DATA")
    return 0
