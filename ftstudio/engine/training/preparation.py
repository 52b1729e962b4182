"""From a run plan to a trainer ready to fit: inputs loaded, run folder claimed, state restored.

The order is the promise `train()` makes: everything the user could have got wrong (data, model,
freezing strategy against the model's depth, a checkpoint that does not fit, disk space) is
checked before the run folder is created or touched, so a bad input leaves nothing behind.
Each step reads the plan rather than a set of flags: which folder, whether settings.json is
written, whether a checkpoint is restored.
"""

from __future__ import annotations

import math
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftstudio.engine.distributed.group import ProcessGroup
from ftstudio.engine.events import PREPARING, TrainingControl
from ftstudio.engine.runs.lock import HeldLock
from ftstudio.engine.runs.recorder import RunRecorder
from ftstudio.engine.training.advice import learning_rate_advice
from ftstudio.engine.training.plan import RunMode, RunPlan
from ftstudio.engine.training.schedule import describe_schedule

if TYPE_CHECKING:
    from ftstudio.engine.training.trainer import Trainer

PRIOR_BIAS_SWITCH = "FTSTUDIO_PRIOR_BIAS"  # "0": a fresh head keeps its random bias


@dataclass
class RunInputs:
    """What a run is made of, loaded and checked before anything is written."""

    prepared: Any  # PreparedData: the splits and label names
    source: Any  # ModelSource the model was loaded from
    model: Any
    tokenizer: Any
    device: Any
    precision: str
    checkpoint: Path | None  # the checkpoint a plan from a checkpoint continues from
    adapters: Any = None  # peft's model around `model` when the strategy is lora (models/adapters.py)


def prepare(plan: RunPlan, recorder: RunRecorder, control: TrainingControl, held: HeldLock,
            group: ProcessGroup | None = None) -> Trainer:
    """Load and check the plan's inputs, claim its run folder, and return a trainer positioned
    where the plan starts (step 0, or its checkpoint). In a group every rank loads the same
    inputs; rank 0 alone claims and writes the folder and tells the others where it is."""
    group = group or ProcessGroup.solo()
    inputs = _load_inputs(plan, recorder, control, group)

    def claim() -> Path:
        run_dir = _claim_run_folder(plan, inputs)
        held.lock_run(run_dir)  # (already held by this process for a plan that owns its folder)
        return run_dir

    run_dir = group.on_main(claim, "creating the run folder")
    trainer = _start_trainer(plan, inputs, run_dir, recorder, control, group)
    _report_info(plan, inputs, trainer, recorder)
    return trainer


def _load_inputs(plan: RunPlan, recorder: RunRecorder, control: TrainingControl, group: ProcessGroup) -> RunInputs:
    """Data and model, each checked; nothing is written yet."""
    import transformers

    from ftstudio.engine.data.prepare import prepare_data
    from ftstudio.engine.models.devices import resolve_device, resolve_precision
    from ftstudio.engine.models.freezing import layer_groups, reinit_top_layers, trainable_flags
    from ftstudio.engine.models.loading import load_model_and_tokenizer
    from ftstudio.engine.models.sources import resolve_model_source
    from ftstudio.engine.runs import checkpoints

    settings = plan.settings
    # Progress goes through the reporter; tqdm bars from save/load would only be noise.
    transformers.utils.logging.disable_progress_bar()
    device = group.device if group.active else resolve_device(settings.device)
    precision = resolve_precision(settings.precision, device)
    quantization = _four_bit_loading(settings, device, precision)  # (QLoRA refused here where it cannot run)
    # Found first: a run without a usable checkpoint is refused before minutes of loading. (Rank 0
    # may repair the folder on the way, so it alone looks.)
    checkpoint = group.on_main(lambda: checkpoints.find_resume_checkpoint(plan.run_dir, owned=True),
                               "finding the checkpoint to resume") if plan.from_checkpoint else None
    _seed_everything(settings.seed)
    prepared = prepare_data(settings, control=control, reporter=recorder)
    recorder.on_log(_describe_task(prepared))
    _warn_sparse_classes(prepared, recorder)
    control.check(recorder, resume_status=PREPARING)
    source = resolve_model_source(settings.model, allow_pickle=settings.allow_pickle)
    recorder.on_log(f"Loading model {source.display} ...")
    loaded = load_model_and_tokenizer(
        source, prepared.label_names, classifier_dropout=settings.classifier_dropout,
        trust_remote_code=settings.trust_remote_code, allow_pickle=settings.allow_pickle, task=prepared.task,
        quantization=quantization,
    )
    if loaded.task is not None:  # pre-training's objective, now that the model is known
        prepared.task = loaded.task
    if prepared.task.language_model:
        _plan_pretraining(prepared, loaded, source, settings, recorder)
    prepared.task_state, task_notes = prepared.task.prepare_model(loaded.model, prepared.task_state)
    for note in [*loaded.notes, *task_notes]:
        recorder.on_log(note)
    if prepared.task.token_level and not getattr(loaded.tokenizer, "is_fast", False):
        from ftstudio.engine.errors import ModelError

        raise ModelError(f"Token classification needs {source.display}'s fast tokenizer (tokenizer.json), which "
                         "maps sub-tokens to words; this model has only a slow one. Pick another model.")
    if loaded.new_head and not plan.from_checkpoint:  # a checkpoint's head is trained already
        _start_head_from_data(prepared, loaded.model, recorder)
    if settings.reinit_top_layers and not plan.from_checkpoint:  # a checkpoint has its layers already
        reinit_top_layers(loaded.model, settings.reinit_top_layers)
    # The strategy against the model's depth (bottom-N), now: a refusal must leave no run folder.
    trainable_flags(settings.strategy_kind, settings.frozen_layers, 0, len(layer_groups(loaded.model).layers))
    _check_sharding(settings, prepared.task, loaded.model, group)
    _check_checkpointing(settings, loaded.model, recorder)
    adapters = _attach_adapters(settings, prepared.task, loaded, source, recorder)
    control.check(recorder, resume_status=PREPARING)
    return RunInputs(prepared, source, loaded.model, loaded.tokenizer, device, precision, checkpoint, adapters)


def _attach_adapters(settings: Any, task: Any, loaded: Any, source: Any, recorder: RunRecorder) -> Any:
    """strategy lora: the adapters, injected into the model (after the head got its starting
    bias, which its trainable copy keeps); None for the other strategies."""
    if settings.strategy_kind != "lora":
        return None
    from ftstudio.engine.models.adapters import (
        adapter_modules,
        attach_lora,
        prepare_four_bit,
        resolve_targets,
    )

    if settings.lora_4bit:
        resolve_targets(loaded.model, settings.lora_targets)  # (a bad setting is refused before the preparation)
        prepare_four_bit(loaded.model)
        recorder.on_log("QLoRA: the frozen base weights are held in 4 bits (NF4, double-quantized).")
    adapters = attach_lora(loaded.model, settings, task, str(source.ref), bool(loaded.new_head))
    targets = adapter_modules(loaded.model)  # (what peft adapted: never a module that trains in full)
    trained = [*(["the head"] if not task.language_model else []), *(["the embeddings"] if settings.lora_embeddings
                                                                       else [])]
    recorder.on_log(f"LoRA: rank {settings.lora_rank}, alpha {settings.lora_alpha:g}, adapters on {len(targets)} "
                    f"modules ({_leaf_names(targets)})" + (f"; {' and '.join(trained)} train{'s' if len(trained) == 1 else ''} in full." if trained
                                                           else "; everything else stays frozen."))
    return adapters


def _four_bit_loading(settings: Any, device: Any, precision: str) -> dict[str, Any] | None:
    """lora_4bit: how the base loads in 4 bits; refused in words (strategy, device, bitsandbytes)
    before anything is loaded or written. None when lora_4bit is off."""
    from ftstudio.engine.errors import SettingsError
    from ftstudio.engine.models.adapters import four_bit_loading, qlora_problem

    problem = qlora_problem(settings, device)
    if problem:
        raise SettingsError(problem, "lora_4bit")
    return four_bit_loading(device, precision) if settings.lora_4bit else None


def _leaf_names(names: list[str]) -> str:
    """The adapted modules as a layer names them, each by its shortest unambiguous end: query,
    key, value, attention.output.dense, intermediate.dense, output.dense (BERT); q_proj, ... (Llama)."""
    inside = list(dict.fromkeys(".".join(_after_layer_number(name.split("."))) for name in names))

    def short(name: str) -> str:
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            end = ".".join(parts[-depth:])
            if not any(other != name and (other == end or other.endswith("." + end)) for other in inside):
                return end
        return name

    return ", ".join(dict.fromkeys(short(name) for name in inside))


def _after_layer_number(parts: list[str]) -> list[str]:
    numbers = [i for i, part in enumerate(parts) if part.isdigit()]
    return parts[numbers[-1] + 1:] if numbers else parts


def _check_sharding(settings: Any, task: Any, model: Any, group: ProcessGroup) -> None:
    """sharding fsdp needs a group and a run it can shard: refused before anything is written."""
    from ftstudio.engine.distributed.capacity import sharding_needs_processes
    from ftstudio.engine.distributed.sharded import sharding_problem
    from ftstudio.engine.errors import SettingsError

    if settings.sharding != "fsdp":
        return
    problem = sharding_needs_processes(settings.sharding, group.world_size) or sharding_problem(
        task, model, settings.strategy_kind)
    if problem:
        raise SettingsError(problem, "sharding")


def _check_checkpointing(settings: Any, model: Any, recorder: RunRecorder) -> None:
    """gradient_checkpointing on a model that cannot do it: refused before anything is written
    (the trainer turns it on, models/checkpointing.py)."""
    from ftstudio.engine.errors import SettingsError
    from ftstudio.engine.models.checkpointing import SETTING, checkpointing_problem

    if not settings.gradient_checkpointing:
        return
    problem = checkpointing_problem(model)
    if problem:
        raise SettingsError(problem, SETTING)
    recorder.on_log("Gradient checkpointing: each layer's activations are recomputed in the backward pass "
                    "(less memory, about a third more time per step).")


def _plan_pretraining(prepared: Any, loaded: Any, source: Any, settings: Any, recorder: RunRecorder) -> None:
    """Say the objective and what happens to the head; keep in the task state what the tester,
    lineage and the model card need (the objective, the base model, the masking); refuse blocks
    longer than the model reads."""
    from ftstudio.engine.errors import SettingsError
    from ftstudio.engine.models.objectives import PretrainingPlan

    task = prepared.task
    plan = PretrainingPlan(task.objective, not loaded.new_head, source.display)
    recorder.on_log(plan.describe(settings.mlm_probability, settings.whole_word_masking))
    recorder.on_log(plan.head_note())
    positions = getattr(loaded.model.config, "max_position_embeddings", None)
    if settings.pack_texts and isinstance(positions, int) and 0 < positions < settings.max_length:
        raise SettingsError(f"max_length: {settings.max_length} tokens per block is more than {source.display} "
                            f"reads ({positions} positions); set max_length to {positions} or less.", "max_length")
    prepared.task_state.update({
        "objective": task.objective, "base_model": settings.model, "new_head": bool(loaded.new_head),
        "objective_line": plan.describe(settings.mlm_probability, settings.whole_word_masking),
        "head_note": plan.head_note(), "mlm_probability": settings.mlm_probability,
        "whole_word_masking": bool(settings.whole_word_masking), "pack_texts": bool(settings.pack_texts),
    })


def _start_head_from_data(prepared: Any, model: Any, recorder: RunRecorder) -> None:
    """Give a fresh head the starting bias its task derives from the training targets
    (multi-label: the label priors). FTSTUDIO_PRIOR_BIAS=0 keeps the random one (to measure it)."""
    from ftstudio.engine.models.head import set_output_bias

    if os.environ.get(PRIOR_BIAS_SWITCH, "1") == "0":
        return
    train = prepared.task.training_targets(prepared.targets("train"), prepared.task_state)
    start = prepared.task.initial_head_bias(train, prepared.label_names)
    if start is not None and set_output_bias(model, start[0]):
        recorder.on_log(start[1])


def _claim_run_folder(plan: RunPlan, inputs: RunInputs) -> Path:
    """The run folder for the plan's mode, checked for disk space: created for a new run,
    the run's own folder otherwise (where a checkpoint must fit the model and labels)."""
    from ftstudio.engine.runs import checkpoints
    from ftstudio.engine.runs import folder as runs

    settings = plan.settings
    need = checkpoints.disk_bytes_needed(inputs.model, settings.optimizer, settings.keep_checkpoints,
                                         adapters=inputs.adapters is not None)
    if plan.mode is RunMode.NEW:
        return runs.create_run_dir(plan.runs_dir or runs.default_runs_dir(), settings.model, settings.data, need)
    if plan.mode is RunMode.EXPLICIT_FOLDER:
        return runs.prepare_explicit_run_dir(plan.run_dir, need)
    runs.check_writable(plan.run_dir, need)  # RESUME, OOM_RESTART, OOM_RESUME: the run's own folder
    if plan.from_checkpoint:
        checkpoints.check_fits(inputs.checkpoint, inputs.model, inputs.prepared.label_names)
    return plan.run_dir


def _start_trainer(plan: RunPlan, inputs: RunInputs, run_dir: Path, recorder: RunRecorder,
                   control: TrainingControl, group: ProcessGroup) -> Trainer:
    """A trainer writing into `run_dir` (rank 0; the others only read it): set up, then restored
    from the checkpoint when the plan continues one; the run's log is made to read as if it had
    never been interrupted."""
    from ftstudio.engine.runs import folder as runs
    from ftstudio.engine.training.trainer import Trainer

    trainer = Trainer(plan.settings, recorder, control, group)
    trainer.run_dir = run_dir
    if group.is_main:
        recorder.attach(run_dir)
        if not plan.from_checkpoint:
            runs.write_settings(run_dir, plan.settings.to_dict(), _provenance(plan.settings, inputs))
            if plan.mode is RunMode.OOM_RESTART:  # what the attempt that ran out of memory logged goes
                runs.truncate_metrics_after(run_dir, 0)
    recorder.on_status(PREPARING)
    trainer.setup(inputs.prepared, inputs.model, inputs.tokenizer, inputs.device, inputs.precision, inputs.adapters)
    if plan.from_checkpoint:
        _restore(plan, inputs.checkpoint, trainer, recorder)
    return trainer


def _restore(plan: RunPlan, checkpoint: Path, trainer: Trainer, recorder: RunRecorder) -> None:
    """Continue from `checkpoint`: the run's log is cut back to its step and marks the resume."""
    from ftstudio.engine.runs import folder as runs

    trainer.restore(checkpoint)
    if plan.rebatch:  # the same rows were consumed, counted in the new, smaller batches
        old, new = plan.rebatch
        trainer.micro = math.ceil(trainer.micro * old / new)
    if trainer.group.is_main:
        runs.truncate_metrics_after(trainer.run_dir, trainer.global_step)
    recorder.record({"event": "resume", "step": trainer.global_step, "checkpoint": str(checkpoint)})
    recorder.on_log(f"Resuming from step {trainer.global_step} ({checkpoint.name}).")


def _report_info(plan: RunPlan, inputs: RunInputs, trainer: Trainer, recorder: RunRecorder) -> None:
    """The run's facts for the window and metrics.jsonl (keys listed in docs/architecture.md)."""
    from ftstudio.engine.models.freezing import parameter_counts

    trainable, total = parameter_counts(inputs.model)
    info = {
        "run_dir": str(trainer.run_dir),
        "model": plan.settings.model,
        "data": plan.settings.data,
        "label_names": inputs.prepared.label_names,
        "task": inputs.prepared.task.name,
        "task_title": inputs.prepared.task.title,
        "metrics": list(inputs.prepared.task.metric_names),
        "best_metric": trainer.best_metric,
        "text_pair": inputs.prepared.text_pair_column is not None,
        "trainable_params": trainable,
        "total_params": total,
        "device": inputs.device.type,
        "device_name": _device_name(inputs.device),
        "precision": inputs.precision,
        "total_steps": trainer.total_steps,
        "steps_per_epoch": trainer.steps_per_epoch,
        "epochs": trainer.epochs,
        "train_rows": len(trainer.train_split),
        "validation_rows": len(trainer.splits["validation"]),
        "test_rows": len(trainer.splits["test"]) if "test" in trainer.splits else 0,
        "data_summary": _data_summary(inputs.prepared, trainer, plan.settings.max_length),
        "resumed_from_step": trainer.global_step if plan.from_checkpoint else None,
        "processes": trainer.group.world_size,
        "global_batch": plan.settings.effective_batch_size(trainer.group.world_size),
    }
    if inputs.prepared.task.language_model:
        state = inputs.prepared.task_state
        info.update({key: state[key] for key in ("objective", "objective_line", "head_note", "new_head")})
    recorder.on_info(info)
    recorder.on_log(
        f"{trainable:,} of {total:,} parameters train ({100 * trainable / max(total, 1):.1f}%), "
        f"on {info['device_name']} in {inputs.precision}; {trainer.total_steps} steps."
    )
    if trainer.group.active:
        recorder.on_log(_describe_group(plan.settings, trainer.group))
    recorder.on_log(describe_schedule(trainer.total_steps, trainer.steps_per_epoch, plan.settings.eval_steps))
    advice = learning_rate_advice(trainer.total_steps, plan.settings.learning_rate, plan.settings.optimizer,
                                  language_model=inputs.prepared.task.language_model,
                                  strategy=plan.settings.strategy_kind)
    if advice is not None and not plan.from_checkpoint:
        recorder.on_log(f"Hint: {advice.message}")


def _describe_group(settings: Any, group: ProcessGroup) -> str:
    """'2 processes (gloo): batch 16 on each x 2 processes x 1 accumulation = global batch 32.'"""
    global_batch = settings.effective_batch_size(group.world_size)
    line = (f"{group.describe()}: batch {settings.batch_size} on each x {group.world_size} processes x "
            f"{settings.grad_accum} accumulation = global batch {global_batch}.")
    if group.launcher and settings.processes not in (1, group.world_size):
        line += f" (The launcher started {group.world_size} processes; the processes setting, {settings.processes}, " \
                "is for ftstudio's own launch.)"
    return line


def _describe_task(prepared: Any) -> str:
    columns = prepared.columns
    if prepared.task.language_model:
        return f"Task: continued pre-training on the text '{columns.text}' (no labels: the text is its own target)."
    texts = f"texts '{columns.text}' + '{columns.text_pair}'" if columns.text_pair else f"text '{columns.text}'"
    return f"Task: {prepared.task.title.lower()} ({texts}, labels '{columns.label}')."


def _warn_sparse_classes(prepared: Any, recorder: RunRecorder) -> None:
    """Hundreds of classes (or labels) with a handful of rows each train, but learn little: say so up front."""
    summary = prepared.task.summarize(prepared.targets("train"), prepared.label_names, prepared.task_state)
    counts = summary.get("counts")
    if not counts:
        return
    sparse = sum(1 for count in counts.values() if count < 5)
    if sparse:
        what = "labels" if summary["kind"] == "labels" else "classes"
        recorder.on_log(f"Warning: {sparse} of {len(counts)} {what} have fewer than 5 training rows; the model "
                        f"will hardly learn them. Add rows or merge rare {what}.")


def _seed_everything(seed: int) -> None:
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _device_name(device: Any) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'s' if threads != 1 else ''})"


def _data_summary(prepared: Any, trainer: Trainer, max_length: int) -> dict[str, Any]:
    import numpy as np

    lengths = trainer.train_split.lengths
    packed = prepared.task.language_model and bool(trainer.s.pack_texts)
    labels = prepared.task.summarize(prepared.targets("train"), prepared.label_names, prepared.task_state)
    if prepared.task.language_model:  # what the texts became: tokens, and blocks when packed
        labels.update({"tokens": int(lengths.sum()), "blocks": len(lengths), "packed": bool(trainer.s.pack_texts)})
    return {
        "rows": {name: len(split) for name, split in trainer.splits.items()},
        "class_counts": labels.get("counts", {}),
        "labels": labels,
        "token_length_p50": float(np.percentile(lengths, 50)) if len(lengths) else 0.0,
        "token_length_p95": float(np.percentile(lengths, 95)) if len(lengths) else 0.0,
        # (packed blocks are full by design: nothing of a text is cut off)
        "truncated_share": float(np.mean(lengths >= max_length)) if len(lengths) and not packed else 0.0,
    }


def _provenance(settings: Any, inputs: RunInputs) -> dict[str, Any]:
    """Where model and data came from and the library versions: settings.json's other half."""
    import torch
    import transformers

    from ftstudio import __version__

    source, prepared = inputs.source, inputs.prepared
    return {
        "model": {"spec": settings.model, "kind": source.kind, "ref": str(source.ref)},
        "data": {"spec": settings.data, "kind": prepared.source.kind, "ref": str(prepared.source.ref),
                 "text_column": prepared.text_column, "label_column": prepared.label_column,
                 "text_pair_column": prepared.text_pair_column, "task": prepared.task.name},
        "label_names": prepared.label_names,
        "created": time.time(),
        "versions": {"ftstudio": __version__, "python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__},
    }
