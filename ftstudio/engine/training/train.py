"""`train()`: one fine-tuning run from settings to a finished run folder.

Inputs are checked before anything is written (settings, data, model, output folder), so a bad
input leaves no half-made run behind. From then on every outcome (finished, stopped, failed)
is written to the run folder and returned; user-caused problems never escape as exceptions.

What a run starts from is a `RunPlan` (plan.py), made ready by `prepare` (preparation.py); how
it ends is written by outcome.py. This module chooses the plan, runs it, and turns an
out-of-memory error into a retry with smaller batches when the settings allow it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ftstudio.engine.distributed.control import GroupControl
from ftstudio.engine.distributed.environment import GroupEnvironment, launched_group
from ftstudio.engine.distributed.group import GroupError, ProcessGroup
from ftstudio.engine.errors import CheckpointError, FtStudioError, StopRequested, user_message
from ftstudio.engine.events import PREPARING, Reporter, TrainingControl
from ftstudio.engine.runs.lock import HeldLock
from ftstudio.engine.runs.recorder import RunRecorder
from ftstudio.engine.settings import TrainSettings
from ftstudio.engine.training import outcome
from ftstudio.engine.training.outcome import TrainResult
from ftstudio.engine.training.plan import RunPlan
from ftstudio.engine.training.preparation import prepare

if TYPE_CHECKING:
    from ftstudio.engine.training.trainer import Trainer


def train(
    settings: TrainSettings | None = None,
    run_dir: str | Path | None = None,
    *,
    runs_dir: str | Path | None = None,
    reporter: Reporter | None = None,
    control: TrainingControl | None = None,
    resume: bool = False,
    processes: int | None = None,
) -> TrainResult:
    """Run (or with `resume=True`, continue) a fine-tune; see the module docstring. `processes`
    overrides the settings' number of local processes (a resume on more or fewer GPUs)."""
    reporter = reporter or Reporter()
    control = control or TrainingControl()
    environment, environment_problem = _launched_group()
    asked = _settings_asked(settings, run_dir, resume)
    processes = processes or (asked.processes if asked is not None else 1)
    if environment is None and processes > 1 and asked is not None:  # start the group; rank 0 reports back
        from ftstudio.engine.distributed.launch import train_in_group

        return train_in_group(settings, run_dir, runs_dir=runs_dir, reporter=reporter, control=control,
                              resume=resume, processes=processes, checked=asked)
    if environment is not None and not environment.is_main:
        reporter = Reporter()  # rank 0 speaks for the group
    recorder = RunRecorder(reporter)
    trainer = None
    held = HeldLock()
    group = ProcessGroup.solo()
    try:
        recorder.on_status(PREPARING)
        if environment_problem is not None:
            raise environment_problem
        plan = _plan_of_call(settings, run_dir, runs_dir, resume)
        plan.settings.validate()
        if environment is not None:
            group = ProcessGroup.join(environment, plan.settings.device, plan.settings.collective_timeout)
            control = GroupControl(control, group)
        if plan.owns_folder and group.is_main:  # before anything repairs the folder, and against a second trainer
            held.lock_run(plan.run_dir)
        while True:
            trainer = prepare(plan, recorder, control, held, group)
            if plan.is_out_of_memory_retry:
                recorder.record({"event": "oom_retry", "step": trainer.global_step,
                                 "batch_size": plan.settings.batch_size, "grad_accum": plan.settings.grad_accum})
            try:
                message = trainer.fit()
                break
            except Exception as exc:  # noqa: BLE001 - only out-of-memory is retried; the rest re-raised
                if group.active or not _may_retry_smaller(plan.settings, exc):  # one rank cannot rebatch alone
                    raise
            # Outside the except block, so the traceback no longer pins the failed step's tensors.
            plan = _retry_smaller(trainer, plan, recorder)
            trainer = None
        return outcome.finished(trainer, recorder, message)
    except StopRequested:
        return outcome.stopped(trainer, recorder, control.stop_reason, save=control.save_on_stop)
    except GroupError as exc:  # not the input's fault, whenever it happens
        return outcome.failed(trainer, recorder, str(exc), input_error=False)
    except FtStudioError as exc:
        return outcome.failed(trainer, recorder, str(exc), input_error=trainer is None or trainer.global_step == 0)
    except Exception as exc:  # noqa: BLE001 - every failure must reach the user in words
        return outcome.failed(trainer, recorder, _describe_unexpected(exc, trainer), input_error=False, exc=exc)
    finally:
        held.release()
        group.close()


def _launched_group() -> tuple[GroupEnvironment | None, FtStudioError | None]:
    """The group a launcher started this process in (None: alone), or why the launcher's
    environment names a group this process cannot join (reported as a bad input)."""
    try:
        return launched_group(), None
    except FtStudioError as exc:
        return None, exc


def _settings_asked(settings: TrainSettings | None, run_dir: str | Path | None, resume: bool) -> TrainSettings | None:
    """The settings the run will train with: the given ones, or for a resume its settings.json's
    (None when unreadable: the single-process path then reports why)."""
    try:
        if resume:
            return _settings_of_run(Path(run_dir)) if run_dir is not None else None
        return settings if settings is not None else TrainSettings()
    except FtStudioError:
        return None


def _plan_of_call(settings: TrainSettings | None, run_dir: str | Path | None, runs_dir: str | Path | None,
                  resume: bool) -> RunPlan:
    """The plan train()'s arguments ask for. A resumed run trains with its own settings.json."""
    if not resume:
        return RunPlan.new_run(settings if settings is not None else TrainSettings(), run_dir, runs_dir)
    if run_dir is None:
        raise CheckpointError("Resume needs the run folder to continue.")
    return RunPlan.resume(run_dir, _settings_of_run(Path(run_dir)))


def _settings_of_run(run_dir: Path) -> TrainSettings:
    from ftstudio.engine.runs.folder import read_settings

    return TrainSettings.from_dict(read_settings(run_dir)["settings"], source=str(run_dir / "settings.json"))


def _may_retry_smaller(settings: TrainSettings, exc: BaseException) -> bool:
    """Out of memory, with oom_retry on and a batch that can still be halved."""
    return settings.oom_retry and settings.batch_size > 1 and _is_oom(exc)


def _retry_smaller(trainer: Trainer, plan: RunPlan, recorder: RunRecorder) -> RunPlan:
    """After out of memory: half the batch, twice the accumulation (the same effective batch),
    written to settings.json so a later resume uses them; continue from the newest checkpoint."""
    import gc

    from ftstudio.engine.runs import checkpoints
    from ftstudio.engine.runs import folder as runs

    settings = plan.settings
    smaller = settings.replace(batch_size=settings.batch_size // 2, grad_accum=min(settings.grad_accum * 2, 1024))
    run_dir = trainer.run_dir
    before, after = settings.effective_batch_size(), smaller.effective_batch_size()
    recorder.on_log(
        f"Out of memory with batch_size {settings.batch_size}: retrying with batch_size {smaller.batch_size} and "
        f"grad_accum {smaller.grad_accum} " + ("(same effective batch)." if before == after else
                                               f"(effective batch {before} -> {after}).")
    )
    info = runs.read_settings(run_dir)
    runs.write_settings(run_dir, smaller.to_dict(), {k: v for k, v in info.items() if k != "settings"})
    for name in ("model", "optimizer", "scheduler", "features", "splits", "train_split"):
        if hasattr(trainer, name):
            setattr(trainer, name, None)
    gc.collect()
    _empty_device_cache()
    try:
        checkpoints.find_resume_checkpoint(run_dir, owned=True)
        has_checkpoint = True
    except CheckpointError:
        has_checkpoint = False
    return plan.after_out_of_memory(smaller, run_dir, has_checkpoint)


def _empty_device_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _is_oom(exc: BaseException) -> bool:
    text = str(exc).lower()
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in text


def _describe_unexpected(exc: BaseException, trainer) -> str:
    """Words for failures that are not ours to predict: out of memory and the disk above all."""
    if _is_oom(exc):
        return (
            "The GPU ran out of memory. Lower batch_size (and raise grad_accum to keep the effective batch), "
            "lower max_length, or use bf16/fp16 precision; or turn on oom_retry to retry with half the batch. "
            "The last checkpoint is kept."
        )
    if isinstance(exc, OSError) and trainer is not None and trainer.run_dir is not None:
        from ftstudio.engine.runs.recorder import disk_message

        return disk_message(exc, trainer.run_dir)
    where = f" at step {trainer.global_step}" if trainer is not None else ""
    log = "Details are in error.log in the run folder." if trainer is not None and trainer.run_dir else ""
    return user_message(exc, f"Training failed{where}", advice=log)
