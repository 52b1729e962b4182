"""The training loop: one object holding a prepared run, stepping it and saving it.

`Trainer.setup()` turns settings into tokenized splits, a model, an optimizer and a schedule
(the last two built by optimization.py); `Trainer.restore()` continues from a checkpoint
(what a checkpoint holds, and `save()`, are checkpoint_state.py's);
`Trainer.fit()` applies the speed levers (engine/speed/levers.py), redoes an evaluation a stop
cut short, then runs optimizer steps until done, stopped or failed. Everything that decides what
the next step computes (weights, optimizer moments, schedule position, RNG, data position, the
loss window being averaged) is in the checkpoint, so a resumed run continues bit for bit.
In a group of processes (engine/distributed/) each rank steps its shard of every global batch.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from ftstudio.engine.data.batching import collate, train_batches
from ftstudio.engine.distributed.group import ProcessGroup
from ftstudio.engine.distributed.parallel import data_parallel, gradient_exchange, shard
from ftstudio.engine.distributed.sharded import (
    shard_model,
)
from ftstudio.engine.errors import TrainingError
from ftstudio.engine.events import (
    EVALUATING,
    TRAINING,
    EvalEvent,
    StepEvent,
    TrainingControl,
)
from ftstudio.engine.runs.recorder import RunRecorder
from ftstudio.engine.settings import TrainSettings
from ftstudio.engine.tasks.base import is_better
from ftstudio.engine.training.checkpoint_state import CheckpointState
from ftstudio.engine.training.evaluation import evaluate
from ftstudio.engine.training.optimization import (
    count_steps,
    make_optimizer,
    make_scheduler,
    mixed_precision,
)
from ftstudio.engine.training.schedule import evaluation_due

# The clock of time-based checkpoints (save_minutes): monotonic wall time, so a clock change
# cannot trigger or skip one. Everything counts (steps, evaluations, saves, pauses): the point
# is how much work a crash or power cut can cost. Tests replace it to simulate hours at once.
monotonic = time.monotonic


class Trainer(CheckpointState):
    """A fine-tuning run in memory. Create, `setup()`, optionally `restore()`, then `fit()`."""

    def __init__(self, settings: TrainSettings, recorder: RunRecorder, control: TrainingControl,
                 group: ProcessGroup | None = None) -> None:
        self.s = settings
        self.rep = recorder
        self.control = control
        self.group = group or ProcessGroup.solo()  # several processes: each trains a shard of every batch
        self.parallel: Any = None  # DDP or FSDP's root around the task's loss when the group has several processes
        self.sharded = False  # FSDP: each process holds a slice of the weights (distributed/sharded.py)
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
        self.adapters: Any = None  # peft's model when the strategy is lora: checkpoints hold the adapter
        self.clock = monotonic
        self._last_save_time = 0.0  # self.clock() at the last checkpoint (or when fit() began)

    # ---------------------------------------------------------------- setup
    def setup(self, prepared: Any, model: Any, tokenizer: Any, device: Any, precision: str,
              adapters: Any = None) -> None:
        """Tokenize once, place the model, build optimizer, schedule and mixed precision.
        `adapters`: peft's model around `model` when the strategy is lora."""
        import torch

        from ftstudio.engine.models.freezing import apply_freeze, optimizer_param_groups

        s = self.s
        self.prepared, self.model, self.tokenizer = prepared, model, tokenizer
        self.adapters = adapters
        self.device, self.precision = device, precision
        self.label_names = list(prepared.label_names)
        self.task, self.task_state = prepared.task, dict(prepared.task_state)
        self.best_metric = self.task.resolve_metric(s.metric_for_best)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.splits = {}
        for name, split in prepared.splits.items():
            targets = self.task.training_targets(prepared.targets(name), self.task_state)
            self.splits[name] = self.task.tokenize(split, targets, tokenizer, s, self.label_names, self.control,
                                                   self.rep, phase=f"tokenizing {name}", training=name == "train")
        self.train_split = self.splits["train"]
        self.steps_per_epoch, self.total_steps, self.epochs = count_steps(len(self.train_split), s,
                                                                          self.group.world_size)
        self.sharded = self.group.active and s.sharding == "fsdp"
        if not self.sharded:  # (sharding places each slice on the device itself)
            self.model.to(device)
        self.model.train()
        apply_freeze(self.model, s.strategy_kind, s.frozen_layers, 0)
        if s.gradient_checkpointing:  # layers recompute their activations in the backward pass
            from ftstudio.engine.models.checkpointing import enable_checkpointing

            enable_checkpointing(self.model)
        if self.sharded:  # before the optimizer: it must hold the sharded parameters
            self.parallel = shard_model(self.task, self.model, self.group)
        groups = optimizer_param_groups(self.model, s.learning_rate, s.weight_decay, s.layerwise_lr_decay)
        self.optimizer = make_optimizer(groups, s, device)
        self.scheduler = make_scheduler(self.optimizer, s, self.total_steps)
        self.autocast, self.scaler = mixed_precision(device, precision)
        self.window_loss = torch.zeros((), device=device, dtype=torch.float32)
        self.window_steps = 0
        if not self.sharded:
            self.parallel = data_parallel(self.task, self.model, self.group)
        if self.group.rank > 0:  # its own dropout and masks (rank 0 keeps the one-process stream)
            torch.manual_seed(s.seed + self.group.rank)

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
        self._last_save_time = self.clock()
        self._apply_speed_levers()
        if self.global_step == 0 and self.task.evaluate_before_training:
            self._evaluate_before_training()
        message = self._redo_evaluation_cut_short()
        if message:
            return message
        while self.global_step < self.total_steps:
            # Global batches: one process with batch_size x processes would cut the epoch the same way.
            batches = train_batches(self.train_split, s.batch_size * self.group.world_size, s.seed, self.epoch,
                                    s.group_by_length)
            if s.strategy_kind == "gradual" and self.micro == 0:
                from ftstudio.engine.models.freezing import apply_freeze

                trainable, total = apply_freeze(self.model, "gradual", 0, self.epoch)
                self.parallel = data_parallel(self.task, self.model, self.group)  # DDP fixes what trains
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

    def _apply_speed_levers(self) -> None:
        """Offer the run to every registered speed lever (after setup and restore: the head-only
        cache must see the restored encoder) and log which ones it uses."""
        from ftstudio.engine.speed.levers import LeverRun, apply_levers, speed_line, speed_record

        if self.sharded:  # the levers change and check modules whose weights are now slices
            self.rep.on_log("Speed: the speed levers are off while the weights are sharded (FSDP).")
            return
        run = LeverRun(model=self.model, settings=self.s, splits=self.splits, pad_token_id=self.pad_id,
                       device=self.device, autocast=self.autocast, control=self.control, reporter=self.rep,
                       processes=self.group.world_size)
        statuses = apply_levers(run)
        self.features = run.features
        self.rep.on_log(speed_line(statuses))
        self.rep.record(speed_record(statuses, self.global_step))

    def _evaluate_before_training(self) -> None:
        """The validation metrics of the model as it starts (pre-training's "before" perplexity),
        reported at step 0; they pick no checkpoint."""
        self.rep.on_status(EVALUATING)
        self.evaluate_split("validation")
        self.rep.on_status(TRAINING)

    def _redo_evaluation_cut_short(self) -> str:
        """Redo the evaluation a stop cut short: the checkpoint written on stop is at a step
        whose evaluation (and best/early-stopping bookkeeping) never completed, and the loop
        would go on past it. Returns the early-stopping message, if that evaluation ends the run.
        A fresh run (step 0) has nothing to redo."""
        s, step = self.s, self.global_step
        if step == 0 or step >= self.total_steps or self.last_eval_step == step:
            return ""  # nothing cut short, or fit() evaluates the final step anyway
        if not self._evaluation_due(end_of_epoch=self.micro == 0 and self.epoch > 0):
            return ""
        save_due = s.save_steps == 0 or step % s.save_steps == 0
        return self._evaluate_and_maybe_save(force_save=save_due and self.last_saved_step != step)

    def _optimizer_step(self, group: list[Any]) -> None:
        import torch

        rows = sum(len(b) for b in group)  # the step's rows, over every process
        step_loss = torch.zeros((), device=self.device, dtype=torch.float32)
        for number, indices in enumerate(group):
            # Weight by rows so an uneven last batch counts as much per text as the others
            # (this rank's share of the step's rows; distributed/parallel.py).
            mine, weight = shard(indices, rows, self.group)
            # Accumulating: the gradients are exchanged once, after the step's last micro-batch.
            with gradient_exchange(self.parallel, number == len(group) - 1):
                with self.autocast():
                    loss = self._micro_batch_loss(mine)
                scaled = loss.float() * weight
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
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        if self.parallel is not None:
            return self.parallel(batch)
        return self.task.batch_loss(self.model, batch)

    def _elapsed(self) -> float:
        paused = self.control.paused_seconds - self._paused_at_start
        return self._seconds_before + time.perf_counter() - self._started - paused

    def _after_step(self, end_of_epoch: bool) -> str:
        s = self.s
        if self.global_step % s.log_steps == 0 or self.global_step == self.total_steps:
            self._report_step()
        save_due = s.save_steps > 0 and self.global_step % s.save_steps == 0
        if self._evaluation_due(end_of_epoch):
            message = self._evaluate_and_maybe_save(force_save=save_due or s.save_steps == 0)
            if message:
                return message
        elif save_due:
            self.save()
        if self._time_save_due():
            self.save()  # resumable without an evaluation; best/ still follows evaluations only
        return ""

    def _time_save_due(self) -> bool:
        """save_minutes of training time since the last checkpoint: a crash or power cut costs
        at most that much, however long an epoch or the evaluation interval is."""
        minutes = self.s.save_minutes
        if minutes <= 0 or self.last_saved_step == self.global_step:
            return False
        return self.clock() - self._last_save_time >= minutes * 60

    def _evaluation_due(self, end_of_epoch: bool) -> bool:
        """Whether the step just taken is evaluated: every eval_steps, or when 0 the adaptive
        schedule (~10 a run, every epoch end; schedule.py), a function of step counts only."""
        due = evaluation_due(self.global_step, self.total_steps, self.steps_per_epoch, self.s.eval_steps)
        return due or (self.s.eval_steps == 0 and end_of_epoch)

    def _report_step(self) -> None:
        # The only per-log host sync: reading the averaged loss (the group's mean of the ranks' sums).
        loss = self._group_window_loss() / max(self.window_steps, 1)
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

    def _group_window_loss(self) -> float:
        """The loss summed since the last report, as one process would have summed it."""
        if not self.group.active:
            return float(self.window_loss.item())
        total = self.group.sum_(self.window_loss.detach().clone(), "adding up the training loss")
        return float(total.item()) / self.group.world_size

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
        event = self.evaluate_split("validation")
        self.last_eval_step = self.global_step
        value = event.value(self.best_metric)
        improved = is_better(self.best_metric, value, self.best_value)
        if improved:
            self.best_value, self.best_step, self.bad_evals = value, self.global_step, 0
        else:
            self.bad_evals += 1
        self.last_metrics = {"loss": event.loss, **event.metrics}
        if force_save or improved:
            self.save(is_best=improved)
        self.rep.on_status(TRAINING)
        patience = self.s.early_stopping_patience
        if patience and self.bad_evals >= patience:
            return f"Early stopping: {self.best_metric} did not improve in {patience} evaluations."
        return ""

    def evaluate_split(self, name: str) -> EvalEvent:
        """Evaluate a split, report it, and (for validation) keep what the task learns from it
        (multi-label's tuned thresholds) for the next checkpoint."""
        state = self.task_state if name == "validation" else self.task.state_for_testing(self.task_state)
        outputs, loss = evaluate(
            self.model, self.splits[name], task=self.task, task_state=state, device=self.device,
            autocast=self.autocast, batch_size=self.s.batch_size, pad_token_id=self.pad_id,
            label_names=self.label_names, control=self.control, reporter=self.rep,
            features=self.features if self.features is not None and self.features.has(name) else None,
            split_name=name, group=self.group, sharded_root=self.parallel if self.sharded else None,
        )
        if name == "validation":
            self.task_state = self.task.state_after_evaluation(outputs, self.task_state)
        event = EvalEvent(step=self.global_step, epoch=round(self.global_step / self.steps_per_epoch, 4),
                          loss=loss, metrics=outputs.metrics, split=name, details=outputs.details,
                          task=self.task.name)
        self.rep.on_eval(event)
        return event
