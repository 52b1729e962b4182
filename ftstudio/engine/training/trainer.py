"""The training loop: one object holding a prepared run, stepping it and saving it.

`Trainer.setup()` turns settings into tokenized splits, a model, an optimizer and a schedule;
`Trainer.fit()` runs optimizer steps until done, stopped or failed. Everything that decides what
the next step computes (weights, optimizer moments, schedule position, RNG, data position, the
loss window being averaged) is in the checkpoint, so a resumed run continues bit for bit.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from ftstudio.engine.data.batching import collate, tokenize_texts, train_batches
from ftstudio.engine.errors import TrainingError
from ftstudio.engine.events import (
    EVALUATING,
    SAVING,
    TRAINING,
    CheckpointEvent,
    EvalEvent,
    StepEvent,
    TrainingControl,
)
from ftstudio.engine.runs import checkpoints
from ftstudio.engine.runs.recorder import RunRecorder
from ftstudio.engine.settings import TrainSettings
from ftstudio.engine.training.evaluation import evaluate


class Trainer:
    """A fine-tuning run in memory. Create, `setup()`, optionally `restore()`, then `fit()`."""

    def __init__(self, settings: TrainSettings, recorder: RunRecorder, control: TrainingControl) -> None:
        self.s = settings
        self.rep = recorder
        self.control = control
        self.run_dir: Path | None = None
        # progress (all saved in trainer_state.json)
        self.global_step = 0
        self.epoch = 0  # current epoch index
        self.micro = 0  # micro-batches of the current epoch already consumed
        self.best_value: float | None = None
        self.best_step: int | None = None
        self.bad_evals = 0
        self.train_seconds = 0.0
        self.samples_seen = 0
        self.last_saved_step = -1
        self.last_eval_step = -1
        self.last_metrics: dict[str, float] = {}
        self.features = None  # FeatureCache when the frozen encoder's outputs are cached (head-only)

    # ---------------------------------------------------------------- setup
    def setup(self, prepared: Any, model: Any, tokenizer: Any, device: Any, precision: str) -> None:
        """Tokenize once, place the model, build optimizer, schedule and mixed precision."""
        import torch

        from ftstudio.engine.models.freezing import apply_freeze, optimizer_param_groups

        s = self.s
        self.prepared, self.model, self.tokenizer = prepared, model, tokenizer
        self.device, self.precision = device, precision
        self.label_names = list(prepared.label_names)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.splits = {}
        for name, split in prepared.splits.items():
            self.splits[name] = tokenize_texts(
                list(split["text"]), list(split["label"]), tokenizer, s.max_length,
                self.control, self.rep, phase=f"tokenizing {name}",
            )
        self.train_split = self.splits["train"]
        micro_per_epoch = math.ceil(len(self.train_split) / s.batch_size)
        self.steps_per_epoch = math.ceil(micro_per_epoch / s.grad_accum)
        if s.max_steps > 0:
            self.total_steps = s.max_steps
            self.epochs = math.ceil(s.max_steps / self.steps_per_epoch)
        else:
            self.total_steps = s.epochs * self.steps_per_epoch
            self.epochs = s.epochs
        self.model.to(device)
        self.model.train()
        from ftstudio.engine.speed.fast_dropout import use_fast_dropout

        use_fast_dropout(self.model, device.type)  # CPU only; see fast_dropout.py for what it saves
        apply_freeze(self.model, s.freeze_kind, s.frozen_layers, 0)
        groups = optimizer_param_groups(self.model, s.learning_rate, s.weight_decay, s.layerwise_lr_decay)
        self.optimizer = self._make_optimizer(groups)
        self.scheduler = self._make_scheduler()
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        if dtype is None:
            self.autocast = nullcontext
        else:
            self.autocast = lambda: torch.autocast(device_type=device.type, dtype=dtype)
        self.scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
        self._reduce_top_layer()
        self.window_loss = torch.zeros((), device=device, dtype=torch.float32)
        self.window_steps = 0

    def _reduce_top_layer(self) -> None:
        """Let the top layer compute only the first token when the head reads nothing else
        (see first_token_top_layer), checked on the first rows of the training split."""
        from ftstudio.engine.speed.first_token_top_layer import unavailable_reason, use_first_token_top_layer
        from ftstudio.engine.speed.lever_check import probe_inputs

        # Models it does not apply to (DistilBERT, decoders, ...) need neither a probe nor a log line.
        if len(self.train_split) == 0 or unavailable_reason(self.model) is not None:
            return
        probe = probe_inputs(self.train_split, self.pad_id, self.device)
        reason = use_first_token_top_layer(self.model, probe, self.autocast)
        if reason is None:
            self.rep.on_log("Top layer computes the first token only: the classification head reads nothing else.")
        else:  # an architecture expected to allow it refused the check: worth knowing
            self.rep.on_log(f"Top layer computes every token ({reason}).")

    def _make_optimizer(self, groups: list[dict[str, Any]]) -> Any:
        import torch

        s = self.s
        if s.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=s.learning_rate, momentum=s.momentum)
        # The fused kernel updates all parameters in one pass; on the CPU too it is ~3x faster than
        # the default per-tensor loop (and it is what Hugging Face's Trainer uses by default).
        try:
            return torch.optim.AdamW(groups, lr=s.learning_rate, fused=self.device.type in ("cuda", "cpu"))
        except (RuntimeError, ValueError):  # a device or dtype without the fused kernel
            return torch.optim.AdamW(groups, lr=s.learning_rate)

    def _make_scheduler(self) -> Any:
        from transformers import get_scheduler

        name = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}[self.s.scheduler]
        warmup = math.ceil(self.s.warmup_ratio * self.total_steps)
        return get_scheduler(name, self.optimizer, num_warmup_steps=warmup, num_training_steps=self.total_steps)

    # ---------------------------------------------------------------- state
    def trainer_state(self) -> dict[str, Any]:
        return {
            "global_step": self.global_step,
            "epoch": self.epoch,
            "micro_batch": self.micro,
            "total_steps": self.total_steps,
            "best_value": self.best_value,
            "best_step": self.best_step,
            "bad_evals": self.bad_evals,
            "train_seconds": self.train_seconds,
            "samples_seen": self.samples_seen,
            "window_loss": float(self.window_loss.item()),
            "window_steps": self.window_steps,
            "last_eval_step": self.last_eval_step,
            "metrics": self.last_metrics,
            "label_names": self.label_names,
            "max_length": self.s.max_length,
            "metric_for_best": self.s.metric_for_best,
        }

    def training_state(self) -> dict[str, Any]:
        import torch

        state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng_cpu": torch.get_rng_state(),
        }
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        if self.device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def restore(self, checkpoint: Path) -> None:
        """Continue from a checkpoint: weights, optimizer, schedule, RNG, data position."""
        import torch
        from safetensors.torch import load_file

        from ftstudio.engine.models.freezing import apply_freeze

        state = checkpoints.read_trainer_state(checkpoint)
        weights = load_file(str(checkpoint / "model.safetensors"), device="cpu")
        missing, unexpected = self.model.load_state_dict(weights, strict=False)
        missing = [k for k in missing if k not in getattr(self.model, "_tied_weights_keys", None) or []]
        if unexpected:
            raise TrainingError(f"Checkpoint {checkpoint} does not match the run's model (unexpected {unexpected[0]}).")
        training = checkpoints.load_training_state(checkpoint)
        self.global_step = int(state["global_step"])
        self.epoch = int(state["epoch"])
        self.micro = int(state["micro_batch"])
        self.best_value = state.get("best_value")
        self.best_step = state.get("best_step")
        self.bad_evals = int(state.get("bad_evals", 0))
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.samples_seen = int(state.get("samples_seen", 0))
        self.window_loss = torch.tensor(float(state.get("window_loss", 0.0)), device=self.device, dtype=torch.float32)
        self.window_steps = int(state.get("window_steps", 0))
        self.last_eval_step = int(state.get("last_eval_step", -1))
        self.last_metrics = state.get("metrics") or {}
        self.last_saved_step = self.global_step
        apply_freeze(self.model, self.s.freeze_kind, self.s.frozen_layers, self.epoch)
        self.optimizer.load_state_dict(training["optimizer"])
        self.scheduler.load_state_dict(training["scheduler"])
        if self.scaler is not None and "scaler" in training:
            self.scaler.load_state_dict(training["scaler"])
        torch.set_rng_state(training["rng_cpu"])
        if self.device.type == "cuda" and "rng_cuda" in training:
            torch.cuda.set_rng_state(training["rng_cuda"], self.device)

    # ---------------------------------------------------------------- loop
    def fit(self) -> str:
        """Train until the planned steps are done; returns a message ('' or why it ended early).

        Raises StopRequested (after the caller-visible state is consistent at a step boundary).
        """
        s = self.s
        self.rep.on_status(TRAINING)
        self._started = time.perf_counter()
        self._paused_at_start = self.control.paused_seconds
        self._seconds_before = self.train_seconds
        self._samples0, self._step0 = self.samples_seen, self.global_step
        self._build_feature_cache()
        while self.global_step < self.total_steps:
            batches = train_batches(self.train_split, s.batch_size, s.seed, self.epoch, s.group_by_length)
            if s.freeze_kind == "gradual" and self.micro == 0:
                from ftstudio.engine.models.freezing import apply_freeze

                trainable, total = apply_freeze(self.model, "gradual", 0, self.epoch)
                self.rep.on_log(f"Epoch {self.epoch + 1}: gradual unfreezing, {trainable:,} of {total:,} parameters train.")
            while self.micro < len(batches) and self.global_step < self.total_steps:
                self.control.check(self.rep)
                group = batches[self.micro : self.micro + s.grad_accum]
                self._optimizer_step(group)
                self.micro += len(group)
                end_of_epoch = self.micro >= len(batches)
                if end_of_epoch:  # the next epoch gets its own order: leave this loop
                    self.epoch, self.micro = self.epoch + 1, 0
                message = self._after_step(end_of_epoch)
                if message:
                    return message
                if end_of_epoch:
                    break
        if self.last_eval_step != self.global_step:
            self._evaluate_and_maybe_save(force_save=True)
        elif self.last_saved_step != self.global_step:
            self.save()
        # Like Hugging Face's train_runtime: the whole loop, its evaluations and saves included.
        self.train_seconds = self._elapsed()
        return ""

    def _build_feature_cache(self) -> None:
        """Head-only: run the frozen encoder once over train and validation (see frozen_features)."""
        from ftstudio.engine.speed.frozen_features import FeatureCache, cache_unavailable_reason

        self.features = None
        if self.s.freeze_kind != "head":
            return
        reason = cache_unavailable_reason(self.model, self.s, len(self.train_split) + len(self.splits["validation"]))
        if reason is None:
            self.features = FeatureCache.build(
                self.model, self.splits, ["train", "validation"], device=self.device, autocast=self.autocast,
                batch_size=self.s.batch_size, pad_token_id=self.pad_id, control=self.control, reporter=self.rep,
            )
            reason = None if self.features is not None else "the cached head did not reproduce the model"
        if self.features is not None:
            self.rep.on_log("Encoder frozen: its outputs were computed once and the head trains on them.")
        else:
            self.rep.on_log(f"Encoder outputs are not cached ({reason}); the encoder runs every step.")

    def _optimizer_step(self, group: list[Any]) -> None:
        import torch

        rows = sum(len(b) for b in group)
        step_loss = torch.zeros((), device=self.device, dtype=torch.float32)
        for indices in group:
            with self.autocast():
                loss = self._micro_batch_loss(indices)
            # Weight by rows so an uneven last batch counts as much per text as the others.
            scaled = loss.float() * (len(indices) / rows)
            if self.scaler is not None:
                self.scaler.scale(scaled).backward()
            else:
                scaled.backward()
            step_loss += scaled.detach()
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if self.s.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.s.max_grad_norm)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.global_step += 1
        self.samples_seen += rows
        self.window_loss += step_loss
        self.window_steps += 1

    def _micro_batch_loss(self, indices: Any) -> Any:
        import torch

        if self.features is not None:
            return self.features.loss("train", torch.as_tensor(indices, device=self.device))
        batch = collate(self.train_split, indices, self.pad_id, pin=self.device.type == "cuda")
        return self.model(**{k: v.to(self.device, non_blocking=True) for k, v in batch.items()}).loss

    def _elapsed(self) -> float:
        paused = self.control.paused_seconds - self._paused_at_start
        return self._seconds_before + time.perf_counter() - self._started - paused

    def _after_step(self, end_of_epoch: bool) -> str:
        s = self.s
        if self.global_step % s.log_steps == 0 or self.global_step == self.total_steps:
            self._report_step()
        eval_due = (s.eval_steps > 0 and self.global_step % s.eval_steps == 0) or (s.eval_steps == 0 and end_of_epoch)
        save_due = s.save_steps > 0 and self.global_step % s.save_steps == 0
        if eval_due:
            message = self._evaluate_and_maybe_save(force_save=save_due or s.save_steps == 0)
            if message:
                return message
        elif save_due:
            self.save()
        return ""

    def _report_step(self) -> None:
        # The only per-log host sync: reading the averaged loss.
        loss = float(self.window_loss.item()) / max(self.window_steps, 1)
        self.window_loss.zero_()
        self.window_steps = 0
        if not math.isfinite(loss):
            raise TrainingError(self._nan_message(loss))
        elapsed = self._elapsed()
        self.train_seconds = elapsed
        new_seconds = elapsed - self._seconds_before
        rate = (self.samples_seen - self._samples0) / new_seconds if new_seconds > 0 else 0.0
        steps_left = self.total_steps - self.global_step
        step_rate = (self.global_step - self._step0) / new_seconds if new_seconds > 0 else 0.0
        self.rep.on_step(StepEvent(
            step=self.global_step,
            total_steps=self.total_steps,
            epoch=round(self.global_step / self.steps_per_epoch, 4),
            loss=loss,
            learning_rate=float(max(self.scheduler.get_last_lr())),
            samples_per_second=round(rate, 2),
            elapsed=round(elapsed, 2),
            eta=round(steps_left / step_rate, 1) if step_rate > 0 else 0.0,
        ))

    def _nan_message(self, loss: float) -> str:
        hint = "lower the learning rate"
        if self.precision == "fp16":
            hint += " or use bf16/fp32 precision (fp16 overflows more easily)"
        return (
            f"The training loss became {loss} at step {self.global_step}: training diverged. Try to {hint}. "
            "The last good checkpoint is kept."
        )

    def _evaluate_and_maybe_save(self, force_save: bool) -> str:
        self.rep.on_status(EVALUATING)
        metrics = self.evaluate_split("validation")
        self.last_eval_step = self.global_step
        value = metrics[self.s.metric_for_best]
        improved = self.best_value is None or (
            value < self.best_value if self.s.metric_for_best == "loss" else value > self.best_value
        )
        if improved:
            self.best_value, self.best_step, self.bad_evals = value, self.global_step, 0
        else:
            self.bad_evals += 1
        self.last_metrics = {k: metrics[k] for k in ("loss", "accuracy", "precision", "recall", "f1")}
        if force_save or improved:
            self.save(is_best=improved)
        self.rep.on_status(TRAINING)
        patience = self.s.early_stopping_patience
        if patience and self.bad_evals >= patience:
            return f"Early stopping: {self.s.metric_for_best} did not improve in {patience} evaluations."
        return ""

    def evaluate_split(self, name: str) -> dict[str, Any]:
        metrics = evaluate(
            self.model, self.splits[name], device=self.device, autocast=self.autocast,
            batch_size=self.s.batch_size, pad_token_id=self.pad_id, label_names=self.label_names,
            control=self.control, reporter=self.rep,
            features=self.features if self.features is not None and self.features.has(name) else None,
            split_name=name,
        )
        self.rep.on_eval(EvalEvent(
            step=self.global_step,
            epoch=round(self.global_step / self.steps_per_epoch, 4),
            loss=metrics["loss"], accuracy=metrics["accuracy"], precision=metrics["precision"],
            recall=metrics["recall"], f1=metrics["f1"], confusion=metrics["confusion"],
            split=name, per_class=metrics["per_class"],
        ))
        return metrics

    def save(self, is_best: bool = False) -> Path:
        """Checkpoint at the current step boundary (also used when stopping)."""
        assert self.run_dir is not None
        if not math.isfinite(float(self.window_loss.item())):
            raise TrainingError(self._nan_message(float(self.window_loss.item())))
        self.rep.on_status(SAVING)
        self.train_seconds = self._elapsed() if hasattr(self, "_started") else self.train_seconds
        path = checkpoints.save_checkpoint(
            self.run_dir, self.global_step, self.model, self.tokenizer, self.trainer_state(),
            self.training_state(), is_best=is_best, keep=self.s.keep_checkpoints,
        )
        self.last_saved_step = self.global_step
        self.rep.on_checkpoint(CheckpointEvent(self.global_step, str(path), is_best, dict(self.last_metrics)))
        self.rep.on_status(TRAINING)
        return path
