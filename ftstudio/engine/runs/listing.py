"""Past runs as the runs list and the tester see them: summaries, checkpoints, deletion.

A summary is read from the run folder's files alone (see folder.py), so runs made by the CLI,
the window or an older version list alike; a run whose status says live while nobody holds its
lock is shown as interrupted.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import CheckpointError, RunError
from ftstudio.engine.runs.folder import (
    CHECKPOINTS_DIR,
    INTERRUPTED,
    LIVE_STATUSES,
    METRICS_FILE,
    SETTINGS_FILE,
    STATUS_FILE,
    STEP_RE,
    _read_json,
    default_runs_dir,
    is_run_dir,
    read_metrics,
    read_settings,
    read_status,
    recover_if_idle,
)
from ftstudio.engine.runs.lineage import parent_run_id
from ftstudio.engine.runs.lock import is_live, locks_supported
from ftstudio.engine.tasks.base import is_better


@dataclass
class CheckpointInfo:
    """One checkpoint folder of a run, with the evaluation it was saved after (if any)."""

    step: int
    path: Path
    metrics: dict[str, float] = field(default_factory=dict)
    is_best: bool = False


def list_checkpoints(run_dir: str | Path) -> list[CheckpointInfo]:
    """The run's `checkpoints/step-N` folders, oldest first, with their metrics."""
    run_dir = Path(run_dir)
    folder = run_dir / CHECKPOINTS_DIR
    best_step = read_checkpoint_step(run_dir / "best")
    found = []
    if folder.is_dir():
        for child in folder.iterdir():
            match = STEP_RE.match(child.name)
            if match and child.is_dir():
                step = int(match.group(1))
                state = _read_json(child / "trainer_state.json") or {}
                # A checkpoint saved between evaluations (save_steps, save_minutes) carries the
                # previous evaluation's metrics for resuming: they are not this step's.
                evaluated_here = state.get("last_eval_step", step) == step
                metrics = (state.get("metrics") or {}) if evaluated_here else {}
                found.append(CheckpointInfo(step, child, metrics, step == best_step))
    return sorted(found, key=lambda c: c.step)


def read_checkpoint_step(checkpoint_dir: Path) -> int | None:
    state = _read_json(Path(checkpoint_dir) / "trainer_state.json")
    return int(state["global_step"]) if isinstance(state, dict) and "global_step" in state else None


@dataclass
class RunSummary:
    """What the runs list shows for one run."""

    run_dir: Path
    run_id: str
    status: str
    message: str
    model: str
    data: str
    created: float
    updated: float
    step: int
    total_steps: int
    best_metric: str
    best_value: float | None
    settings: dict[str, Any] = field(default_factory=dict)
    task: str = "single-label"  # runs compare with runs of the same task
    parent_run: str = ""  # the run whose checkpoint this run's model is ("" for a base model)

    @property
    def can_resume(self) -> bool:
        return self.status in ("stopped", "failed", INTERRUPTED, *LIVE_STATUSES, "unknown") and (
            (self.run_dir / "last" / "trainer_state.json").is_file()
        )


# Summaries read before, by run folder, with the stamps of the files they were read from: the
# window re-lists the runs whenever one changes state (several times a minute while training),
# and re-parsing every run's metrics log each time grows with the number and length of runs.
_SUMMARY_FILES = (SETTINGS_FILE, STATUS_FILE, METRICS_FILE)
_summaries: dict[Path, tuple[tuple[Any, ...], RunSummary, int]] = {}


def _file_stamps(run_dir: Path) -> tuple[Any, ...]:
    """(inode, mtime, size) of each file a summary is read from: an append changes the size, an
    atomic replace the inode, so no change is missed even where mtimes are coarse."""
    stamps = []
    for name in _SUMMARY_FILES:
        try:
            stat = os.stat(run_dir / name)
            stamps.append((stat.st_ino, stat.st_mtime_ns, stat.st_size))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


def summarize_run(run_dir: str | Path) -> RunSummary:
    """The run's summary; re-read only when one of its files changed since the last call."""
    run_dir = Path(run_dir)
    recover_if_idle(run_dir)
    stamps = _file_stamps(run_dir)
    cached = _summaries.get(run_dir)
    if cached is not None and cached[0] == stamps:
        summary, status_step = replace(cached[1]), cached[2]
    else:
        summary, status_step = _read_summary(run_dir)
        _summaries[run_dir] = (stamps, replace(summary), status_step)
    # Whether a process still holds the run is not in any file: asked every time.
    if summary.status in LIVE_STATUSES and locks_supported() and not is_live(run_dir):
        summary.status = INTERRUPTED
        summary.message = (f"The process training this run ended unexpectedly at step {status_step} "
                           "(killed or crashed). Resume continues from its last checkpoint.")
    return summary


def _read_summary(run_dir: Path) -> tuple[RunSummary, int]:
    """The summary as the run's files say (status as written), and the step status.json names."""
    info = read_settings(run_dir)
    settings = info["settings"]
    status = read_status(run_dir)
    metric = settings.get("metric_for_best", "f1")
    task = str(settings.get("task", "single-label"))
    best_value = None
    step = 0
    total = 0
    for record in read_metrics(run_dir):
        step = max(step, int(record.get("step", 0) or 0))
        if record.get("event") == "info":
            total = int(record.get("total_steps", 0) or 0)
            metric = str(record.get("best_metric") or metric)  # "auto" resolved for the run's task
            task = str(record.get("task") or task)
        if record.get("event") == "eval" and record.get("split", "validation") == "validation":
            value = record.get(metric)
            if isinstance(value, (int, float)) and is_better(metric, value, best_value):
                best_value = value
    created = float(info.get("created") or (run_dir / SETTINGS_FILE).stat().st_mtime)
    summary = RunSummary(
        run_dir=run_dir,
        run_id=run_dir.name,
        status=str(status.get("status", "unknown")),
        message=str(status.get("message", "")),
        model=str(settings.get("model", "")),
        data=str(settings.get("data", "")),
        created=created,
        updated=float(status.get("updated") or created),
        step=step,
        total_steps=total,
        best_metric=metric,
        task="single-label" if task == "auto" else task,
        best_value=best_value,
        settings=settings,
        parent_run=parent_run_id(str(settings.get("model", ""))),
    )
    return summary, int(status.get("step", 0) or 0)


def list_runs(runs_dir: str | Path | None = None) -> list[RunSummary]:
    """Every readable run under `runs_dir`, newest first; unreadable folders are skipped."""
    runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()
    if not runs_dir.is_dir():
        return []
    runs = []
    for folder, run_id in _run_folders(runs_dir):
        try:
            summary = summarize_run(folder)
        except (CheckpointError, OSError):
            continue
        summary.run_id = run_id
        runs.append(summary)
    listed = {run.run_dir for run in runs}
    # list(): a copy taken at once, as another thread may list runs meanwhile.
    for gone in [d for d in list(_summaries) if runs_dir in (d.parent, d.parent.parent) and d not in listed]:
        _summaries.pop(gone, None)  # deleted or no longer readable: forget its summary
    return sorted(runs, key=lambda r: r.created, reverse=True)


def _run_folders(runs_dir: Path) -> list[tuple[Path, str]]:
    """(run folder, its id in the list): each run in `runs_dir`, and each trial of a
    hyperparameter study there (STUDY/trial-NNNN, listed as "STUDY/trial-NNNN")."""
    from ftstudio.engine.search.study import POINTER_FILE

    found = []
    for child in runs_dir.iterdir():
        if not child.is_dir():
            continue
        if is_run_dir(child):
            found.append((child, child.name))
        elif (child / POINTER_FILE).is_file():
            found += [(trial, f"{child.name}/{trial.name}") for trial in sorted(child.glob("trial-*"))
                      if trial.is_dir() and is_run_dir(trial)]
    return found


def delete_run(run_dir: str | Path) -> None:
    """Remove a run folder; refuses anything that is not a run folder."""
    run_dir = Path(run_dir)
    if not is_run_dir(run_dir):
        raise RunError(f"{run_dir} is not an ftstudio run folder; nothing was deleted.")
    if is_live(run_dir):
        raise RunError(f"Run {run_dir.name} is training now; stop it before deleting it.")
    shutil.rmtree(run_dir)
