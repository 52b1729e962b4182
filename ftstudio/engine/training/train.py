"""`train()`: one fine-tuning run from settings to a finished run folder.

Inputs are checked before anything is written (settings, data, model, output folder), so a bad
input leaves no half-made run behind. From then on every outcome (finished, stopped, failed)
is written to the run folder and returned; user-caused problems never escape as exceptions.
"""

from __future__ import annotations

import math
import platform
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import CheckpointError, FtStudioError, StopRequested, first_line, user_message
from ftstudio.engine.events import (
    FAILED,
    FINISHED,
    PREPARING,
    STOPPED,
    STOPPING,
    Reporter,
    TrainingControl,
)
from ftstudio.engine.runs.lock import HeldLock
from ftstudio.engine.runs.recorder import RunRecorder
from ftstudio.engine.settings import TrainSettings


@dataclass
class TrainResult:
    """How a run ended. `input_error` is True when the user's input caused the failure."""

    run_dir: Path | None
    status: str
    message: str = ""
    best: dict[str, Any] | None = None
    input_error: bool = False


def train(
    settings: TrainSettings | None = None,
    run_dir: str | Path | None = None,
    *,
    runs_dir: str | Path | None = None,
    reporter: Reporter | None = None,
    control: TrainingControl | None = None,
    resume: bool = False,
) -> TrainResult:
    """Run (or with `resume=True`, continue) a fine-tune; see the module docstring."""
    recorder = RunRecorder(reporter or Reporter())
    control = control or TrainingControl()
    trainer = None
    held = HeldLock()
    try:
        recorder.on_status(PREPARING)
        if resume:
            if run_dir is None:
                raise CheckpointError("Resume needs the run folder to continue.")
            settings = _settings_of_run(Path(run_dir))
            held.lock_run(Path(run_dir))  # before any repair of the folder, and against a second trainer
        elif settings is None:
            settings = TrainSettings()
        settings.validate()
        rebatch = None
        while True:
            trainer = _prepare(settings, recorder, control, run_dir, runs_dir, resume, held, rebatch)
            if rebatch:
                recorder.record({"event": "oom_retry", "step": trainer.global_step, "batch_size": settings.batch_size,
                                 "grad_accum": settings.grad_accum})
            out_of_memory = False
            try:
                message = (_evaluation_cut_by_stop(trainer) if resume else "") or trainer.fit()
            except Exception as exc:  # noqa: BLE001 - only out-of-memory is retried; the rest re-raised
                if not (settings.oom_retry and settings.batch_size > 1 and _is_oom(exc)):
                    raise
                out_of_memory = True
            if not out_of_memory:
                break
            # Outside the except block, so the traceback no longer pins the failed step's tensors.
            settings, run_dir, resume, rebatch = _retry_smaller(trainer, settings, recorder)
            trainer = None
        _finish(trainer, recorder)
        recorder.on_status(FINISHED, message)
        return TrainResult(trainer.run_dir, FINISHED, message, _best(trainer))
    except StopRequested:
        return _stopped(trainer, recorder)
    except FtStudioError as exc:
        return _failed(trainer, recorder, str(exc), input_error=trainer is None or trainer.global_step == 0)
    except Exception as exc:  # noqa: BLE001 - every failure must reach the user in words
        return _failed(trainer, recorder, _describe_unexpected(exc, trainer), input_error=False, exc=exc)
    finally:
        held.release()


def _settings_of_run(run_dir: Path) -> TrainSettings:
    from ftstudio.engine.runs.folder import read_settings

    return TrainSettings.from_dict(read_settings(run_dir)["settings"], source=str(run_dir / "settings.json"))


def _prepare(settings, recorder, control, run_dir, runs_dir, resume, held, rebatch=None):
    """Check inputs, create the run folder, load everything and position the trainer.

    `rebatch` (old, new batch size) is set when an out-of-memory retry continues from a
    checkpoint with smaller batches; `run_dir` existing without `resume` is such a retry's restart.
    """
    import torch
    import transformers

    from ftstudio.engine.data.prepare import prepare_data
    from ftstudio.engine.models.devices import resolve_device, resolve_precision
    from ftstudio.engine.models.freezing import (
        layer_groups,
        parameter_counts,
        reinit_top_layers,
        trainable_flags,
    )
    from ftstudio.engine.models.loading import load_model_and_tokenizer
    from ftstudio.engine.models.sources import resolve_model_source
    from ftstudio.engine.runs import checkpoints
    from ftstudio.engine.runs import folder as runs
    from ftstudio.engine.training.trainer import Trainer

    # Progress goes through the reporter; tqdm bars from save/load would only be noise.
    transformers.utils.logging.disable_progress_bar()
    device = resolve_device(settings.device)
    precision = resolve_precision(settings.precision, device)
    checkpoint = checkpoints.find_resume_checkpoint(Path(run_dir), owned=True) if resume else None
    _seed_everything(settings.seed)
    prepared = prepare_data(settings, control=control, reporter=recorder)
    _warn_sparse_classes(prepared, recorder)
    control.check(recorder, resume_status=PREPARING)
    source = resolve_model_source(settings.model, allow_pickle=settings.allow_pickle)
    recorder.on_log(f"Loading model {source.display} ...")
    loaded = load_model_and_tokenizer(
        source, prepared.label_names, classifier_dropout=settings.classifier_dropout,
        trust_remote_code=settings.trust_remote_code, allow_pickle=settings.allow_pickle,
    )
    model, tokenizer = loaded.model, loaded.tokenizer
    for note in loaded.notes:
        recorder.on_log(note)
    if settings.reinit_top_layers and not resume:
        reinit_top_layers(model, settings.reinit_top_layers)
    # The strategy against the model's depth (bottom-N), now: a refusal must leave no run folder.
    trainable_flags(settings.freeze_kind, settings.frozen_layers, 0, len(layer_groups(model).layers))
    control.check(recorder, resume_status=PREPARING)

    need = checkpoints.disk_bytes_needed(model, settings.optimizer, settings.keep_checkpoints)
    restart = held.lock is not None and not resume  # an out-of-memory retry starting over in place
    if resume or restart:
        run_dir = Path(run_dir)
        runs.check_writable(run_dir, need)
        if resume:
            checkpoints.check_fits(checkpoint, model, prepared.label_names)
    elif run_dir is not None:
        run_dir = runs.prepare_explicit_run_dir(run_dir, need)
    else:
        run_dir = runs.create_run_dir(runs_dir or runs.default_runs_dir(), settings.model, settings.data, need)
    held.lock_run(run_dir)
    trainer = Trainer(settings, recorder, control)
    trainer.run_dir = run_dir
    recorder.attach(run_dir)
    if not resume:
        runs.write_settings(run_dir, settings.to_dict(), _provenance(settings, source, prepared))
        if restart:
            runs.truncate_metrics_after(run_dir, 0)
    recorder.on_status(PREPARING)
    trainer.setup(prepared, model, tokenizer, device, precision)
    if resume:
        trainer.restore(checkpoint)
        if rebatch:  # the same rows were consumed, counted in the new, smaller batches
            trainer.micro = math.ceil(trainer.micro * rebatch[0] / rebatch[1])
        runs.truncate_metrics_after(run_dir, trainer.global_step)
        recorder.record({"event": "resume", "step": trainer.global_step, "checkpoint": str(checkpoint)})
        recorder.on_log(f"Resuming from step {trainer.global_step} ({checkpoint.name}).")
    trainable, total = parameter_counts(model)
    info = {
        "run_dir": str(run_dir),
        "model": settings.model,
        "data": settings.data,
        "label_names": prepared.label_names,
        "trainable_params": trainable,
        "total_params": total,
        "device": device.type,
        "device_name": _device_name(device, torch),
        "precision": precision,
        "total_steps": trainer.total_steps,
        "steps_per_epoch": trainer.steps_per_epoch,
        "epochs": trainer.epochs,
        "train_rows": len(trainer.train_split),
        "validation_rows": len(trainer.splits["validation"]),
        "test_rows": len(trainer.splits["test"]) if "test" in trainer.splits else 0,
        "data_summary": _data_summary(prepared, trainer, settings.max_length),
        "resumed_from_step": trainer.global_step if resume else None,
    }
    recorder.on_info(info)
    recorder.on_log(
        f"{trainable:,} of {total:,} parameters train ({100 * trainable / max(total, 1):.1f}%), "
        f"on {info['device_name']} in {precision}; {trainer.total_steps} steps."
    )
    return trainer


def _evaluation_cut_by_stop(trainer) -> str:
    """Redo the evaluation a stop cut short: the checkpoint written on stop is at a step whose
    evaluation (and best/early-stopping bookkeeping) never completed, and the loop would go on
    past it. Returns the early-stopping message, if that evaluation ends the run.

    (Belongs in Trainer.fit; kept here while trainer.py is being reworked for speed.)
    """
    s, step = trainer.s, trainer.global_step
    if step == 0 or step >= trainer.total_steps or trainer.last_eval_step == step:
        return ""  # nothing cut short, or fit() evaluates the final step anyway
    epoch_end = trainer.micro == 0 and trainer.epoch > 0
    if not ((s.eval_steps > 0 and step % s.eval_steps == 0) or (s.eval_steps == 0 and epoch_end)):
        return ""
    save_due = s.save_steps == 0 or step % s.save_steps == 0
    return trainer._evaluate_and_maybe_save(force_save=save_due and trainer.last_saved_step != step)


def _warn_sparse_classes(prepared, recorder) -> None:
    """Hundreds of classes with a handful of rows each train, but learn little: say so up front."""
    import numpy as np

    counts = np.bincount(np.asarray(prepared.splits["train"]["label"][:]), minlength=len(prepared.label_names))
    sparse = int((counts < 5).sum())
    if sparse:
        recorder.on_log(f"Warning: {sparse} of {len(counts)} classes have fewer than 5 training rows; the model "
                        "will hardly learn them. Add rows or merge rare classes.")


def _seed_everything(seed: int) -> None:
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _device_name(device, torch) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"


def _data_summary(prepared, trainer, max_length: int) -> dict[str, Any]:
    import numpy as np

    lengths = trainer.train_split.lengths
    counts = np.bincount(trainer.train_split.labels, minlength=len(prepared.label_names))
    return {
        "rows": {name: len(split) for name, split in trainer.splits.items()},
        "class_counts": {name: int(c) for name, c in zip(prepared.label_names, counts)},
        "token_length_p50": float(np.percentile(lengths, 50)) if len(lengths) else 0.0,
        "token_length_p95": float(np.percentile(lengths, 95)) if len(lengths) else 0.0,
        "truncated_share": float(np.mean(lengths >= max_length)) if len(lengths) else 0.0,
    }


def _provenance(settings, source, prepared) -> dict[str, Any]:
    import torch
    import transformers

    from ftstudio import __version__

    return {
        "model": {"spec": settings.model, "kind": source.kind, "ref": str(source.ref)},
        "data": {"spec": settings.data, "kind": prepared.source.kind, "ref": str(prepared.source.ref),
                 "text_column": prepared.text_column, "label_column": prepared.label_column},
        "label_names": prepared.label_names,
        "created": time.time(),
        "versions": {"ftstudio": __version__, "python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__},
    }


def _finish(trainer, recorder) -> None:
    """Summary record (named as Hugging Face's Trainer names it) and the test split on best."""
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
    if "test" in trainer.splits and (trainer.run_dir / "best" / "model.safetensors").is_file():
        from safetensors.torch import load_file

        trainer.model.load_state_dict(load_file(str(trainer.run_dir / "best" / "model.safetensors")), strict=False)
        trainer.evaluate_split("test")


def _best(trainer) -> dict[str, Any] | None:
    if trainer is None or trainer.best_step is None:
        return None
    return {"step": trainer.best_step, "metric": trainer.s.metric_for_best, "value": trainer.best_value}


def _stopped(trainer, recorder) -> TrainResult:
    if trainer is None or trainer.run_dir is None:
        recorder.on_status(STOPPED, "Stopped before training started; nothing was saved.")
        return TrainResult(None, STOPPED, "Stopped before training started; nothing was saved.")
    recorder.on_status(STOPPING)
    message = f"Stopped at step {trainer.global_step}."
    try:
        if hasattr(trainer, "optimizer") and trainer.global_step > 0 and trainer.last_saved_step != trainer.global_step:
            path = trainer.save()
            message += f" Checkpoint saved in {path.name}; resume to continue."
        elif trainer.global_step > 0:
            message += " The checkpoint at this step is kept; resume to continue."
    except Exception as exc:  # noqa: BLE001 - a failed save on stop must still end the run cleanly
        message += f" Saving the final checkpoint failed ({first_line(exc)}); the previous one is kept."
    recorder.on_status(STOPPED, message)
    return TrainResult(trainer.run_dir, STOPPED, message, _best(trainer))


def _failed(trainer, recorder, message: str, input_error: bool, exc: BaseException | None = None) -> TrainResult:
    message = " ".join(part.strip() for part in message.splitlines() if part.strip())  # one line, always
    run_dir = trainer.run_dir if trainer is not None else recorder.run_dir  # (an out-of-memory retry's)
    if exc is not None and run_dir is not None:
        try:
            (run_dir / "error.log").write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
        except OSError:
            pass
    recorder.on_status(FAILED, message)
    return TrainResult(run_dir, FAILED, message, _best(trainer), input_error=input_error)


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


def _retry_smaller(trainer, settings: TrainSettings, recorder) -> tuple[TrainSettings, Path, bool, tuple]:
    """After out of memory: half the batch, twice the accumulation (the same effective batch),
    written to settings.json so a later resume uses them; continue from the newest checkpoint."""
    import gc

    from ftstudio.engine.runs import checkpoints
    from ftstudio.engine.runs import folder as runs

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
    return smaller, run_dir, has_checkpoint, (settings.batch_size, smaller.batch_size)


def _empty_device_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
