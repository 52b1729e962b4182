"""What an optimizer step is made of: the step count, the optimizer, its learning-rate
schedule and mixed precision, built from the settings for one run (trainer.py uses them)."""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from ftstudio.engine.settings import TrainSettings


def count_steps(train_rows: int, settings: TrainSettings, processes: int = 1) -> tuple[int, int, int]:
    """(optimizer steps per epoch, total steps, epochs): max_steps, when set, wins over epochs.
    Several processes share each step's batches: a global batch is batch_size x processes."""
    micro_per_epoch = math.ceil(train_rows / (settings.batch_size * processes))
    steps_per_epoch = math.ceil(micro_per_epoch / settings.grad_accum)
    if settings.max_steps > 0:
        return steps_per_epoch, settings.max_steps, math.ceil(settings.max_steps / steps_per_epoch)
    return steps_per_epoch, settings.epochs * steps_per_epoch, settings.epochs


def make_optimizer(groups: list[dict[str, Any]], settings: TrainSettings, device: Any) -> Any:
    """SGD with momentum, or AdamW (fused where the device has the kernel) over `groups`."""
    import torch

    if settings.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=settings.learning_rate, momentum=settings.momentum)
    # The fused kernel updates all parameters in one pass; on the CPU too it is ~3x faster than
    # the default per-tensor loop (and it is what Hugging Face's Trainer uses by default).
    try:
        return torch.optim.AdamW(groups, lr=settings.learning_rate, fused=device.type in ("cuda", "cpu"))
    except (RuntimeError, ValueError):  # a device or dtype without the fused kernel
        return torch.optim.AdamW(groups, lr=settings.learning_rate)


def make_scheduler(optimizer: Any, settings: TrainSettings, total_steps: int) -> Any:
    """The learning-rate schedule over `total_steps`, warming up for warmup_ratio of them."""
    from transformers import get_scheduler

    name = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}[settings.scheduler]
    warmup = math.ceil(settings.warmup_ratio * total_steps)
    return get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=total_steps)


def mixed_precision(device: Any, precision: str) -> tuple[Callable[[], Any], Any]:
    """(a factory of the autocast context for forward passes, the fp16 gradient scaler or None)."""
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    if dtype is None:
        autocast: Callable[[], Any] = nullcontext
    else:
        def autocast() -> Any:
            return torch.autocast(device_type=device.type, dtype=dtype)
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    return autocast, scaler
