"""How a run ends: finished, stopped or failed, each written to the run folder and returned.

`train()` decides which ending applies; these functions write the last records and status,
save what a stop should keep, and build the `TrainResult` the caller gets.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftstudio.engine.errors import first_line, one_line
from ftstudio.engine.events import FAILED, FINISHED, STOPPED, STOPPING
from ftstudio.engine.runs import checkpoints

if TYPE_CHECKING:
    from ftstudio.engine.runs.recorder import RunRecorder
    from ftstudio.engine.training.trainer import Trainer


@dataclass
class TrainResult:
    """How a run ended. `input_error` is True when the user's input caused the failure."""

    run_dir: Path | None
    status: str
    message: str = ""
    best: dict[str, Any] | None = None
    input_error: bool = False


def finished(trainer: Trainer, recorder: RunRecorder, message: str) -> TrainResult:
    """The run trained to its end (or stopped early on purpose, `message` says why)."""
    _write_summary(trainer, recorder)
    trainer.publish_last()  # (LoRA: merged, before the test split loads best/ into the model)
    _evaluate_test_split_on_best(trainer)
    recorder.on_status(FINISHED, message)
    return TrainResult(trainer.run_dir, FINISHED, message, best_of(trainer))


def stopped(trainer: Trainer | None, recorder: RunRecorder, reason: str = "", save: bool = True) -> TrainResult:
    """The run was stopped (the user's Stop, or `reason`, e.g. "a shutdown signal (SIGTERM)"):
    keep the current step as a checkpoint so it can be resumed (unless `save` is False: a run
    nobody continues, such as a pruned trial, keeps only what it had saved)."""
    by = f" by {reason}" if reason else ""
    if trainer is None or trainer.run_dir is None:
        message = f"Stopped{by} before training started; nothing was saved."
        recorder.on_status(STOPPED, message)
        return TrainResult(None, STOPPED, message)
    recorder.on_status(STOPPING)
    message = f"Stopped at step {trainer.global_step}{by}."
    if not save:
        recorder.on_status(STOPPED, message)
        return TrainResult(trainer.run_dir, STOPPED, message, best_of(trainer))
    try:
        if hasattr(trainer, "optimizer") and trainer.global_step > 0 and trainer.last_saved_step != trainer.global_step:
            path = trainer.save()
            message += f" Checkpoint saved in {path.name}; resume to continue."
        elif trainer.global_step > 0:
            message += " The checkpoint at this step is kept; resume to continue."
        trainer.publish_last()
    except Exception as exc:  # noqa: BLE001 - a failed save on stop must still end the run cleanly
        message += f" Saving the final checkpoint failed ({first_line(exc)}); the previous one is kept."
    if reason and trainer.global_step > 0:
        message += f" Continue it with: ftstudio train --resume {trainer.run_dir} (or Resume in the Runs tab)."
    recorder.on_status(STOPPED, message)
    return TrainResult(trainer.run_dir, STOPPED, message, best_of(trainer))


def failed(trainer: Trainer | None, recorder: RunRecorder, message: str, input_error: bool,
           exc: BaseException | None = None) -> TrainResult:
    """The run failed with `message` (made one line); an unexpected `exc` also leaves its
    traceback in the run folder's error.log for bug reports."""
    message = one_line(message)
    run_dir = trainer.run_dir if trainer is not None else recorder.run_dir  # (an out-of-memory retry's)
    writes = trainer is None or trainer.group.is_main  # in a group rank 0 owns the folder
    if exc is not None and run_dir is not None and writes:
        try:
            (run_dir / "error.log").write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
        except OSError:
            pass
    recorder.on_status(FAILED, message)
    return TrainResult(run_dir, FAILED, message, best_of(trainer), input_error=input_error)


def best_of(trainer: Trainer | None) -> dict[str, Any] | None:
    """The best evaluation so far: step, metric name and value (None before any evaluation)."""
    if trainer is None or trainer.best_step is None:
        return None
    return {"step": trainer.best_step, "metric": trainer.best_metric, "value": trainer.best_value}


def _write_summary(trainer: Trainer, recorder: RunRecorder) -> None:
    """The summary record, named as Hugging Face's Trainer names it."""
    runtime = trainer.train_seconds
    recorder.record({
        "event": "train_summary",
        "step": trainer.global_step,
        "train_runtime": round(runtime, 4),
        "train_samples_per_second": round(trainer.samples_seen / runtime, 3) if runtime > 0 else 0.0,
        "train_steps_per_second": round(trainer.global_step / runtime, 3) if runtime > 0 else 0.0,
        "train_samples": trainer.samples_seen,
        "best_step": trainer.best_step,
        "best_value": trainer.best_value,
    })


def _evaluate_test_split_on_best(trainer: Trainer) -> None:
    """The test split, when there is one, measured with the best checkpoint's weights."""
    best = trainer.run_dir / "best"
    if "test" in trainer.splits and (best / "model.safetensors").is_file():
        trainer.task_state = dict((checkpoints.read_trainer_state(best).get("task") or {}).get("state")
                                  or trainer.task_state)
        trainer.load_weights(best, checkpoints.load_training_state(best).get("task_weights"))
        trainer.evaluate_split("test")
