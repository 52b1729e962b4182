"""One trial: an ordinary training run in STUDY_DIR/trial-NNNN, watched by the pruner.

The trial trains with `train()` like any run (so its folder opens in the Runs tab and the
tester). Each validation result is reported to Optuna at the run's progress in tenths of an
epoch; when the pruner says the trial is hopeless, the run is stopped as a user's Stop stops it
(status "stopped", with the pruner's reason) but without the stop's checkpoint, since nobody
continues a pruned trial (best/ keeps its best), and the trial is marked pruned.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftstudio.engine.events import EvalEvent, Reporter, TrainingControl
from ftstudio.engine.search.study import PROGRESS_PER_EPOCH

if TYPE_CHECKING:
    import optuna

    from ftstudio.engine.settings import TrainSettings

# What a finished trial folder keeps: "best" drops the step folders and last/ (a study of 30
# trials would otherwise keep 90 full checkpoints); "all" keeps everything.
KEEP_CHOICES = ("best", "all")


def trial_folder(study_dir: Path, number: int) -> Path:
    return Path(study_dir) / f"trial-{number:04d}"


@dataclass
class TrialOutcome:
    """How a trial's run ended, in the study's terms: complete, pruned, failed or stopped."""

    state: str
    value: float | None = None
    message: str = ""
    input_error: bool = False  # the run failed on a bad input (data, model, setting)
    pruned_at_epoch: float | None = None


class LinkedControl(TrainingControl):
    """The trial's own stop/pause control, which also obeys the search's: a stop of the search
    (Ctrl-C, the window's Stop) stops the trial; the pruner stops only the trial."""

    def __init__(self, parent: TrainingControl) -> None:
        super().__init__()
        self.parent = parent

    def _follow(self) -> None:
        if self.parent.stop_requested and not super().stop_requested:
            self.request_stop(self.parent.stop_reason)

    @property
    def stop_requested(self) -> bool:  # type: ignore[override]
        self._follow()
        return super().stop_requested

    def check(self, reporter: Reporter | None = None, resume_status: str = "training") -> None:
        self._follow()
        super().check(reporter, resume_status)


class PruningReporter(Reporter):
    """Passes a trial's training events on and reports each validation result to the pruner."""

    def __init__(self, trial: optuna.Trial, metric: str, control: LinkedControl, inner: Reporter) -> None:
        self.trial, self.metric, self.control, self.inner = trial, metric, control, inner
        self.pruned_at_epoch: float | None = None
        self._reported: set[int] = set()

    def on_eval(self, event: EvalEvent) -> None:
        self.inner.on_eval(event)
        if event.split != "validation" or self.pruned_at_epoch is not None:
            return
        try:
            value = event.value(self.metric)
        except KeyError:
            return
        step = int(round(event.epoch * PROGRESS_PER_EPOCH))
        if step in self._reported:  # evaluations denser than a tenth of an epoch: the first one counts
            return
        self._reported.add(step)
        import optuna

        try:
            self.trial.report(float(value), step)
            prune = self.trial.should_prune()
        except optuna.exceptions.UpdateFinishedTrialError:
            # Another worker took this trial for dead (no heartbeat for minutes: a machine so
            # overloaded the heartbeat thread starved) and queued it again: give way.
            self.control.request_stop("another worker, which took this trial for dead and runs it again", save=False)
            return
        if prune:
            self.pruned_at_epoch = round(event.epoch, 2)
            # Nobody continues a pruned trial: no checkpoint at the stop (best/ has its best).
            self.control.request_stop(f"the pruner: {self.metric} {value:.4f} at epoch {event.epoch:.1f} was "
                                      "behind the other trials at that point", save=False)

    def on_status(self, status: str, message: str = "") -> None:
        self.inner.on_status(status, message)

    def on_log(self, message: str) -> None:
        self.inner.on_log(message)

    def on_progress(self, phase: str, done: int, total: int) -> None:
        self.inner.on_progress(phase, done, total)

    def on_info(self, info: dict[str, Any]) -> None:
        self.inner.on_info(info)

    def on_step(self, event: Any) -> None:
        self.inner.on_step(event)

    def on_checkpoint(self, event: Any) -> None:
        self.inner.on_checkpoint(event)


def trial_settings(settings: TrainSettings, keep: str) -> TrainSettings:
    """What a trial trains with. Keeping best/ only, a trial writes a checkpoint only when its best
    improves: the step folders (each with the optimizer's state, twice the model's size) would be
    deleted when it ends, and an interrupted trial runs again from the start, never resumed."""
    if keep != "best":
        return settings
    from ftstudio.engine.settings import MAX_STEPS

    return settings.replace(save_steps=MAX_STEPS, save_minutes=0)


def run_trial(trial: optuna.Trial, settings: TrainSettings, run_dir: Path, metric: str, control: TrainingControl,
              reporter: Reporter, keep: str = "best") -> TrialOutcome:
    """Train `settings` in `run_dir` for `trial`; the outcome says how the study records it."""
    from ftstudio.engine.training.train import train

    settings = trial_settings(settings, keep)
    own_control = LinkedControl(control)
    watcher = PruningReporter(trial, metric, own_control, reporter)
    result = train(settings, run_dir=run_dir, reporter=watcher, control=own_control)
    if result.status == "finished":
        outcome = _finished(result, metric)
    elif result.status == "stopped" and watcher.pruned_at_epoch is not None:
        outcome = TrialOutcome("pruned", message=f"pruned at epoch {watcher.pruned_at_epoch:.1f}",
                               pruned_at_epoch=watcher.pruned_at_epoch)
    elif result.status == "stopped" and control.stop_requested:  # the search was stopped
        outcome = TrialOutcome("stopped", message=result.message or "stopped")
    elif result.status == "stopped":  # the trial gave way to another worker
        outcome = TrialOutcome("failed", message=result.message)
    else:
        outcome = TrialOutcome("failed", message=result.message, input_error=result.input_error)
    if outcome.state in ("complete", "pruned") and keep == "best":
        _drop_all_but_best(run_dir)
    return outcome


def _finished(result: Any, metric: str) -> TrialOutcome:
    best = result.best
    if not best or best.get("value") is None:
        return TrialOutcome("failed", message="the run finished without a validation result to judge it by")
    if best.get("metric") != metric:
        return TrialOutcome("failed", message=f"the run judged its checkpoints by {best.get('metric')}, "
                                              f"the study by {metric}")
    return TrialOutcome("complete", value=float(best["value"]))


def _drop_all_but_best(run_dir: Path) -> None:
    """Keep best/ (and the run's records); step folders and last/ go (see KEEP_CHOICES)."""
    for name in ("checkpoints", "last"):
        path = Path(run_dir) / name
        if path.is_symlink():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
