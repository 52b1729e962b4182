"""A Reporter that writes every event into the run folder before passing it on.

The trainer reports only through this object, so what the window shows and what lands on disk
can never disagree: status.json follows every state change and metrics.jsonl gets one line per
step, evaluation, checkpoint and status event.

A write that fails (disk full, folder removed or made read-only mid-run) stops the run with a
RunError saying so, rather than training on with nothing recorded; once the run is ending
(failed, stopped, finished) failures are swallowed so the real outcome still reaches the user.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import DISK_FULL_ERRNOS, RunError
from ftstudio.engine.events import (
    FAILED,
    FINISHED,
    STOPPED,
    STOPPING,
    CheckpointEvent,
    EvalEvent,
    ForwardingReporter,
    Reporter,
    StepEvent,
    deliver_to,
)
from ftstudio.engine.runs.folder import append_metric, write_status

_ENDING = (FAILED, STOPPED, STOPPING, FINISHED)


def disk_message(exc: OSError, where: Path | str) -> str:
    """Words for an OSError while writing into the run folder (shared with train.py)."""
    code = getattr(exc, "errno", None)
    if code in DISK_FULL_ERRNOS:
        return (f"The disk holding {where} is full. Free some space (or lower keep_checkpoints) and resume; "
                "the last complete checkpoint is kept.")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (f"{where} is not writable any more ({exc.strerror}). Make it writable and resume; "
                "the last complete checkpoint is kept.")
    if code == errno.ENOENT:
        return f"The run folder {where} was removed or moved while training; the run cannot continue."
    return f"Writing to {where} failed ({exc.strerror or exc}); the last complete checkpoint is kept."


class RunRecorder(ForwardingReporter):
    """Persists events of the run in `run_dir` (once known) and forwards them to `inner`.

    Only the events that are recorded are overridden here; every call (these after writing)
    reaches `inner` through ForwardingReporter, so a new Reporter method passes through untouched.
    """

    def __init__(self, inner: Reporter, run_dir: Path | None = None) -> None:
        super().__init__(deliver_to(inner))
        self.run_dir = run_dir
        self.step = 0
        self.status = ""
        self.write_failed = False

    def attach(self, run_dir: Path) -> None:
        """Start writing to the run folder (created once the inputs have been checked)."""
        self.run_dir = run_dir

    def _write(self, action: Any, ending: bool = False) -> None:
        if self.run_dir is None or (self.write_failed and ending):
            return
        try:
            action()
        except OSError as exc:
            self.write_failed = True
            if not ending:
                raise RunError(disk_message(exc, self.run_dir)) from None

    def on_status(self, status: str, message: str = "") -> None:
        self.status = status
        ending = status in _ENDING
        self._write(lambda: write_status(self.run_dir, status, message, self.step), ending)
        self._write(lambda: append_metric(self.run_dir, {"event": "status", "status": status, "message": message,
                                                         "step": self.step}), ending)
        super().on_status(status, message)

    def on_info(self, info: dict[str, Any]) -> None:
        self._write(lambda: append_metric(self.run_dir, {"event": "info", **info}))
        super().on_info(info)

    def on_step(self, event: StepEvent) -> None:
        self.step = event.step
        self._write(lambda: append_metric(self.run_dir, event.to_dict()))
        super().on_step(event)

    def on_eval(self, event: EvalEvent) -> None:
        self._write(lambda: append_metric(self.run_dir, event.to_dict()))
        super().on_eval(event)

    def on_checkpoint(self, event: CheckpointEvent) -> None:
        self._write(lambda: append_metric(self.run_dir, event.to_dict()))
        super().on_checkpoint(event)

    def record(self, record: dict[str, Any]) -> None:
        """A record for the log only (train_summary, resume markers)."""
        self._write(lambda: append_metric(self.run_dir, record))
