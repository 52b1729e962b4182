"""A Reporter that writes every event into the run folder before passing it on.

The trainer reports only through this object, so what the window shows and what lands on disk
can never disagree: status.json follows every state change and metrics.jsonl gets one line per
step, evaluation, checkpoint and status event.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ftstudio.engine.events import CheckpointEvent, EvalEvent, Reporter, StepEvent
from ftstudio.engine.runs import append_metric, write_status


class RunRecorder(Reporter):
    """Persists events of the run in `run_dir` (once known) and forwards them to `inner`."""

    def __init__(self, inner: Reporter, run_dir: Path | None = None) -> None:
        self.inner = inner
        self.run_dir = run_dir
        self.step = 0
        self.status = ""

    def attach(self, run_dir: Path) -> None:
        """Start writing to the run folder (created once the inputs have been checked)."""
        self.run_dir = run_dir

    def on_status(self, status: str, message: str = "") -> None:
        self.status = status
        if self.run_dir is not None:
            write_status(self.run_dir, status, message, self.step)
            append_metric(self.run_dir, {"event": "status", "status": status, "message": message, "step": self.step})
        self.inner.on_status(status, message)

    def on_log(self, message: str) -> None:
        self.inner.on_log(message)

    def on_progress(self, phase: str, done: int, total: int) -> None:
        self.inner.on_progress(phase, done, total)

    def on_info(self, info: dict[str, Any]) -> None:
        if self.run_dir is not None:
            append_metric(self.run_dir, {"event": "info", **info})
        self.inner.on_info(info)

    def on_step(self, event: StepEvent) -> None:
        self.step = event.step
        if self.run_dir is not None:
            append_metric(self.run_dir, event.to_dict())
        self.inner.on_step(event)

    def on_eval(self, event: EvalEvent) -> None:
        if self.run_dir is not None:
            append_metric(self.run_dir, event.to_dict())
        self.inner.on_eval(event)

    def on_checkpoint(self, event: CheckpointEvent) -> None:
        if self.run_dir is not None:
            append_metric(self.run_dir, event.to_dict())
        self.inner.on_checkpoint(event)

    def record(self, record: dict[str, Any]) -> None:
        """A record for the log only (train_summary, resume markers)."""
        if self.run_dir is not None:
            append_metric(self.run_dir, record)
