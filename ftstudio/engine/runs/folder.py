"""The run folder: the truth on disk about one fine-tuning run, and the list of past runs.

```
<runs dir>/<run id>/
  settings.json   {"settings": {...}, "model": ..., "data": ..., "versions": {...}, "created": ...}
  status.json     {"status": ..., "message": ..., "step": ..., "updated": ...}
  metrics.jsonl   one event a line (info, status, step, eval, checkpoint, train_summary)
  checkpoints/step-<n>/   complete transformers folders (+ trainer_state.json, training_state.pt)
  best/  last/    complete checkpoint folders (hard-linked copies of a step folder)
```
Everything here is plain JSON so the window, the CLI and other tools can read a run without the
engine; writes are atomic (see atomic.py) and readers tolerate a torn last metrics line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import CheckpointError, RunError
from ftstudio.engine.runs.atomic import append_json_line, atomic_write_json, recover_dir
from ftstudio.engine.runs.lock import is_live

SETTINGS_FILE = "settings.json"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINTS_DIR = "checkpoints"
STEP_RE = re.compile(r"^step-(\d+)$")
# Statuses written while a process works on the run; seen on a run nobody holds, they mean the
# process died without a word (killed, crashed, power cut).
LIVE_STATUSES = ("preparing", "training", "evaluating", "saving", "paused", "stopping", "running")
INTERRUPTED = "interrupted"


def default_runs_dir() -> Path:
    """`$FTSTUDIO_RUNS_DIR`, else `runs/` in the platform's user data folder."""
    env = os.environ.get("FTSTUDIO_RUNS_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("ftstudio", appauthor=False)) / "runs"


def is_run_dir(path: str | Path) -> bool:
    return (Path(path) / SETTINGS_FILE).is_file()


def new_run_id(model: str, data: str) -> str:
    """A sortable, readable id: 20261122-101500-<model>-<data>."""

    def short(text: str) -> str:
        from ftstudio.engine.runs.lineage import run_of_checkpoint

        run = run_of_checkpoint(text)
        if run is not None:
            return f"after-{run.name[:15]}"  # a fine-tune of a run's checkpoint names that run's start
        path = Path(text.rstrip("/\\"))
        name = path.name or text
        name = re.sub(r"\.(csv|tsv|json|jsonl|parquet|txt)$", "", name, flags=re.I)
        return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:32] or "x"

    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{short(model)}-{short(data)}"


def create_run_dir(runs_dir: str | Path, model: str, data: str, need_bytes: int = 0) -> Path:
    """Make a fresh run folder, refusing unwritable or full locations with one clear message
    (before the folder is made, so a refusal leaves nothing behind)."""
    runs_dir = Path(runs_dir).expanduser()
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"Cannot create the runs folder {runs_dir}: {exc.strerror}. Choose another --output.") from None
    check_writable(runs_dir, need_bytes)
    base = new_run_id(model, data)
    for attempt in range(100):
        run_dir = runs_dir / (base if attempt == 0 else f"{base}-{attempt}")
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue
        except OSError as exc:
            raise RunError(f"Cannot create a run folder in {runs_dir}: {exc.strerror}.") from None
    raise RunError(f"Cannot find a free run folder name in {runs_dir}.")


def prepare_explicit_run_dir(run_dir: str | Path, need_bytes: int = 0) -> Path:
    """Use a folder the user named (--output): it must be new or empty, never overwritten."""
    run_dir = Path(run_dir).expanduser()
    existing = next((p for p in (run_dir, *run_dir.parents) if p.exists()), None)
    if need_bytes and existing is not None and existing.is_dir():
        check_space(existing, need_bytes)
    if run_dir.exists():
        if not run_dir.is_dir():
            raise RunError(f"Output {run_dir} is a file, not a folder. Choose a new folder for --output.")
        if any(run_dir.iterdir()):
            raise RunError(
                f"Output folder {run_dir} is not empty. Choose a new folder, or use --resume {run_dir} to continue it."
            )
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"Cannot create output folder {run_dir}: {exc.strerror}. Choose a writable location.") from None
    check_writable(run_dir)
    return run_dir


def check_writable(folder: Path, need_bytes: int = 0) -> None:
    """Refuse before training when the folder cannot take a file or lacks the space needed."""
    probe = folder / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise RunError(f"Cannot write to {folder}: {exc.strerror}. Choose a writable folder for the runs.") from None
    if need_bytes:
        check_space(folder, need_bytes)


def check_space(folder: Path, need_bytes: int) -> None:
    """RunError when `folder`'s disk has less free space than the checkpoints will take."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # cannot tell: the first save will say so if space runs out
    if free < need_bytes:
        raise RunError(
            f"Not enough disk space in {folder}: {free / 1e9:.2f} GB free, about {need_bytes / 1e9:.2f} GB "
            "needed for checkpoints. Free space, lower keep_checkpoints, or choose another folder."
        )




def recover_if_idle(run_dir: str | Path) -> None:
    """Repair what a kill mid-publish leaves (best/ or last/ moved aside), but only when no live
    process owns the run: a writer between its two renames must not see its folder moved back."""
    run_dir = Path(run_dir)
    if is_live(run_dir):
        return
    for name in ("best", "last"):
        recover_dir(run_dir / name)


# ------------------------------------------------------------------ writing
def write_settings(run_dir: Path, settings_dict: dict[str, Any], extra: dict[str, Any]) -> None:
    atomic_write_json(run_dir / SETTINGS_FILE, {"settings": settings_dict, **extra})


def write_status(run_dir: Path, status: str, message: str = "", step: int | None = None) -> None:
    record = {"status": status, "message": message, "updated": time.time()}
    if step is not None:
        record["step"] = step
    atomic_write_json(run_dir / STATUS_FILE, record)


def append_metric(run_dir: Path, record: dict[str, Any]) -> None:
    append_json_line(run_dir / METRICS_FILE, {"time": round(time.time(), 3), **record})


def truncate_metrics_after(run_dir: Path, step: int) -> None:
    """On resume, drop records logged after the checkpoint we continue from, so the log reads
    exactly as an uninterrupted run's (rewritten atomically)."""
    from ftstudio.engine.runs.atomic import atomic_write_text

    kept = [r for r in read_metrics(run_dir) if r.get("event") in ("info",) or r.get("step", 0) <= step]
    atomic_write_text(run_dir / METRICS_FILE, "".join(json.dumps(r, default=str) + "\n" for r in kept))


# ------------------------------------------------------------------ reading
def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_settings(run_dir: str | Path) -> dict[str, Any]:
    """The whole settings.json (`settings` plus provenance); CheckpointError if unreadable."""
    data = _read_json(Path(run_dir) / SETTINGS_FILE)
    if not isinstance(data, dict) or not isinstance(data.get("settings"), dict):
        raise CheckpointError(f"{run_dir} is not an ftstudio run folder (no readable {SETTINGS_FILE}).")
    return data


def read_status(run_dir: str | Path) -> dict[str, Any]:
    data = _read_json(Path(run_dir) / STATUS_FILE)
    return data if isinstance(data, dict) else {"status": "unknown", "message": ""}


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every complete line of metrics.jsonl; a torn last line (a crash mid-append) is skipped."""
    path = Path(run_dir) / METRICS_FILE
    records: list[dict[str, Any]] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    records.append(record)
    except OSError:
        pass
    return records
