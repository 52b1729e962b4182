"""Stop and pause for a group: asked of one rank, honoured by every rank at the same point.

The window's Stop and Pause reach rank 0 (its command stream); a shutdown signal may reach the
ranks one after another; early stopping and errors are decided alike on every rank already. A
`GroupControl` wraps the process's own `TrainingControl` and, at every check, agrees with the
others (one tiny all-reduce): if any rank was asked to stop, all raise StopRequested at this same
check, so they save the same step once; if any was asked to pause, all wait here together,
re-agreeing a few times a second, until it is lifted. The engine calls `check` at the same points
on every rank (step boundaries, evaluation rounds, tokenization chunks of the same data), which is
what makes the agreement line up.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ftstudio.engine.errors import StopRequested
from ftstudio.engine.events import PAUSED, TRAINING, Reporter, TrainingControl

if TYPE_CHECKING:
    from ftstudio.engine.distributed.group import ProcessGroup

PAUSE_POLL_SECONDS = 0.2  # how often paused ranks re-agree: Resume and Stop answer within this
OTHER_PROCESS = "another process of the group"


class GroupControl:
    """A TrainingControl whose `check` is agreed across the group (same interface)."""

    def __init__(self, local: TrainingControl, group: ProcessGroup) -> None:
        self.local = local
        self.group = group
        self.paused_seconds = 0.0

    # requests go to this process's own control
    def request_stop(self, reason: str = "", save: bool = True) -> None:
        self.local.request_stop(reason, save)

    def request_pause(self) -> None:
        self.local.request_pause()

    def request_resume(self) -> None:
        self.local.request_resume()

    @property
    def stop_requested(self) -> bool:
        return self.local.stop_requested

    @property
    def pause_requested(self) -> bool:
        return self.local.pause_requested

    @property
    def stop_reason(self) -> str:
        return self.local.stop_reason

    @property
    def save_on_stop(self) -> bool:
        return self.local.save_on_stop

    def check(self, reporter: Reporter | None = None, resume_status: str = TRAINING) -> None:
        """Raise StopRequested when any rank was asked to stop; wait while any is paused."""
        stop, pause = self.group.agree_flags(self.local.stop_requested, self.local.pause_requested)
        if stop:
            self._stop()
        if not pause:
            return
        started = time.perf_counter()
        if reporter is not None:
            reporter.on_status(PAUSED, "")
        while pause and not stop:
            time.sleep(PAUSE_POLL_SECONDS)
            stop, pause = self.group.agree_flags(self.local.stop_requested, self.local.pause_requested)
        self.paused_seconds += time.perf_counter() - started
        if stop:
            self._stop()
        if reporter is not None:
            reporter.on_status(resume_status, "")

    def _stop(self) -> None:
        if not self.local.stop_requested:  # asked of another rank: this one learns it here
            self.local.request_stop(OTHER_PROCESS)
        raise StopRequested()
