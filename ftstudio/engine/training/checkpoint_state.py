"""What a checkpoint holds of a run, and how a run continues from one.

The `Trainer`'s half that writes and reads checkpoints: progress (trainer_state.json), what
continuing needs beyond the weights (training_state.pt: optimizer, schedule, every rank's random
state, the task's exact training-space weights), the weights themselves, and `save()`. In a group
of processes every rank takes part (the collectives gather states and, when sharded, weights);
rank 0 alone writes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ftstudio.engine.distributed.parallel import data_parallel
from ftstudio.engine.distributed.sharded import (
    full_optimizer_state,
    full_weights,
    load_full_weights,
    load_optimizer_state,
)
from ftstudio.engine.errors import TrainingError
from ftstudio.engine.events import SAVING, TRAINING, CheckpointEvent
from ftstudio.engine.runs import checkpoints


class CheckpointState:
    """Mixed into `Trainer` (training/trainer.py), whose attributes it reads and restores."""

    def trainer_state(self, window_loss: float | None = None) -> dict[str, Any]:
        """Progress as trainer_state.json keeps it; `window_loss` is the group's mean when given."""
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
            "window_loss": float(self.window_loss.item()) if window_loss is None else window_loss,
            "window_steps": self.window_steps,
            "last_eval_step": self.last_eval_step,
            "metrics": self.last_metrics,
            "label_names": self.label_names,
            "max_length": self.s.max_length,
            "metric_for_best": self.best_metric,
            "task": {"name": self.task.name, "state": self.task_state},
            "processes": self.group.world_size,
        }

    def training_state(self) -> dict[str, Any]:
        import torch

        state = {
            "optimizer": (full_optimizer_state(self.parallel, self.optimizer, self.group) if self.sharded
                          else self.optimizer.state_dict()),
            "scheduler": self.scheduler.state_dict(),
            "rng_cpu": torch.get_rng_state(),
            "task_weights": self.task.exact_weights(self.model, self.task_state),
        }
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        if self.device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        if self.group.active:  # every rank's generators, gathered: rank 0 alone writes the checkpoint
            state["rng_ranks"] = self.group.gather(_rng_of_this_rank(self.device), "collecting random states")
        return state

    def restore(self, checkpoint: Path) -> None:
        """Continue from a checkpoint: weights, optimizer, schedule, RNG, data position."""
        import torch

        from ftstudio.engine.models.freezing import apply_freeze

        state = checkpoints.read_trainer_state(checkpoint)
        training = checkpoints.load_training_state(checkpoint)
        self.task_state = dict((state.get("task") or {}).get("state") or self.task_state)
        self.load_weights(checkpoint, training.get("task_weights"))
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
        apply_freeze(self.model, self.s.strategy_kind, self.s.frozen_layers, self.epoch)
        if self.parallel is not None and not self.sharded:  # DDP fixes what trains (gradual: this epoch's)
            self.parallel = data_parallel(self.task, self.model, self.group)
        if self.sharded:
            load_optimizer_state(self.parallel, self.optimizer, training["optimizer"], self.group)
        else:
            self.optimizer.load_state_dict(training["optimizer"])
        self.scheduler.load_state_dict(training["scheduler"])
        if self.scaler is not None and "scaler" in training:
            self.scaler.load_state_dict(training["scaler"])
        torch.set_rng_state(training["rng_cpu"])
        if self.device.type == "cuda" and "rng_cuda" in training:
            torch.cuda.set_rng_state(training["rng_cuda"], self.device)
        self._continue_in_this_group(int(state.get("processes", 1)), training.get("rng_ranks"))

    def _continue_in_this_group(self, processes: int, rng_ranks: list[dict[str, Any]] | None) -> None:
        """Each rank's own random state; a checkpoint of a different number of processes goes on
        with its position in the epoch counted in the new global batches (the order changes)."""
        import torch

        group = self.group
        if processes == group.world_size:
            if group.active and rng_ranks and len(rng_ranks) == group.world_size:
                _restore_rng(rng_ranks[group.rank], self.device)
            return
        self.micro = math.ceil(self.micro * processes / group.world_size)
        if group.rank > 0:
            torch.manual_seed(self.s.seed + group.rank)
        self.rep.on_log(f"This run was trained on {processes} process(es) and continues on {group.world_size}: "
                        "the rest of this epoch is cut into global batches of another size, so the data order "
                        "changed from here on (a resume with the same number of processes is exact).")

    def load_weights(self, checkpoint: Path, exact: dict[str, Any] | None = None) -> None:
        """A checkpoint's weights into the model, turned back into the training-space weights
        the task trains (the exact ones from the resume state when given)."""
        from safetensors.torch import load_file

        from ftstudio.engine.models.adapters import adapter_folder, load_adapter_weights

        folder = adapter_folder(checkpoint) if self.adapters is not None else None
        if folder is not None:  # a LoRA run: the base stays as loaded, the adapter and head are the checkpoint's
            load_adapter_weights(self.adapters, folder)
            self.task.training_weights(self.model, self.task_state, exact)
            return
        weights = load_file(str(checkpoint / "model.safetensors"), device="cpu")
        if self.sharded:  # every rank reads the file and keeps its slice
            unexpected = sorted(set(weights) - set(self.model.state_dict()))
            load_full_weights(self.parallel, weights, self.group)
        else:
            _, unexpected = self.model.load_state_dict(weights, strict=False)
        if unexpected:
            raise TrainingError(f"Checkpoint {checkpoint} does not match the run's model (unexpected {unexpected[0]}).")
        self.task.training_weights(self.model, self.task_state, exact)

    def save(self, is_best: bool = False) -> Path:
        """Checkpoint at the current step boundary (also used when stopping)."""
        assert self.run_dir is not None
        window_loss = self._group_window_loss()
        if not math.isfinite(window_loss):
            raise TrainingError(self._nan_message(window_loss))
        self.rep.on_status(SAVING)
        self.train_seconds = self._elapsed() if hasattr(self, "_started") else self.train_seconds
        training_state = self.training_state()  # (the training-space weights, before they are folded)
        weights = full_weights(self.parallel, self.group) if self.sharded else None  # (every rank takes part)
        path = self.run_dir / "checkpoints" / f"step-{self.global_step}"
        if self.group.is_main:  # rank 0 owns the run folder; the others hold the same weights
            with self.task.saved_weights(self.model, self.task_state):  # stock transformers reads the user's units
                path = checkpoints.save_checkpoint(
                    self.run_dir, self.global_step, self.model, self.tokenizer, self.trainer_state(window_loss),
                    training_state, is_best=is_best, keep=self.s.keep_checkpoints, weights=weights,
                    adapters=self.adapters,
                )
        self.group.barrier("saving a checkpoint")  # the others may read it next (best/ for the test split)
        self.last_saved_step = self.global_step
        self._last_save_time = self.clock()
        metrics = dict(self.last_metrics) if self.last_eval_step == self.global_step else {}  # this step's only
        self.rep.on_checkpoint(CheckpointEvent(self.global_step, str(path), is_best, metrics))
        self.rep.on_status(TRAINING)
        return path


    def publish_last(self) -> None:
        """A LoRA run's last/ when the run ends: its last step folder holds only the adapter, so
        last/ gets the merged weights here, once, rather than at every checkpoint. The model must
        still hold that step's weights (call before anything loads best/)."""
        if self.adapters is None or not self.group.is_main or self.run_dir is None:
            return
        if self.last_saved_step != self.global_step:
            return
        step = self.run_dir / "checkpoints" / f"step-{self.global_step}"
        if checkpoints.is_complete(step):
            with self.task.saved_weights(self.model, self.task_state):
                checkpoints.publish_merged(self.run_dir, step, self.model, "last")


def _rng_of_this_rank(device: Any) -> dict[str, Any]:
    """This process's generators, as a checkpoint keeps them for each rank."""
    import torch

    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _restore_rng(state: dict[str, Any], device: Any) -> None:
    import torch

    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
