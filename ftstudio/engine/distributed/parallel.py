"""The model as several processes train it: DDP around the task's loss, and each rank's shard.

DDP must see the whole forward pass to know which parameters its backward hooks wait for, but a
task's loss is more than `model(**batch)`: masked-language modelling runs the encoder, then the
vocabulary head on the masked positions only (models/lm_head.py). So the module DDP wraps is the
task's loss itself (`TaskLoss`), and everything the loss touches is inside it.

Sharding: the loop cuts the epoch into global batches of batch_size x processes rows, exactly as
one process with that batch would, and rank r trains on the r-th slice of each. Each rank's mean
loss is weighted by its share of the step's rows (times the group's size, which DDP's gradient
average divides away), so an uneven last batch counts each row once, as on one process. A rank
whose slice is empty still runs a forward and backward, on one row with weight 0: DDP's
all-reduce needs every rank in every step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ftstudio.engine.distributed.group import ProcessGroup


def task_loss_module(task: Any, model: Any) -> Any:
    """An nn.Module whose forward(batch) is the task's training loss on `model`, and
    forward(inputs, labels) what an evaluation measures (sharded weights are gathered by a
    forward of this module, so evaluation goes through it too)."""
    import torch

    class TaskLoss(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, batch: dict[str, Any], labels: Any = None) -> Any:
            if labels is None:
                return task.batch_loss(self.model, batch)
            return task.batch_outputs(self.model, batch, labels)

    return TaskLoss()


def data_parallel(task: Any, model: Any, group: ProcessGroup) -> Any:
    """DDP around the task's loss (its construction gives every rank rank 0's weights), or None
    for one process. Called again whenever the set of trainable parameters changes (gradual
    unfreezing): DDP fixes it when it is built."""
    if not group.active:
        return None
    from torch.nn.parallel import DistributedDataParallel

    with group.guard("starting data-parallel training"):
        return DistributedDataParallel(
            task_loss_module(task, model),
            device_ids=[group.local_rank] if group.backend == "nccl" else None,
            # A language model's encoder keeps its pooler, which masked-language modelling never reads.
            find_unused_parameters=bool(task.language_model),
            broadcast_buffers=False,  # the buffers (position ids and the like) never change
        )


def shard(indices: np.ndarray, rows: int, group: ProcessGroup) -> tuple[np.ndarray, float]:
    """This rank's slice of a global batch and the weight of its mean loss (see the module
    docstring); `rows` counts the optimizer step's global rows."""
    size = -(-len(indices) // group.world_size) if group.active else len(indices)
    mine = indices[group.rank * size : (group.rank + 1) * size]
    if len(mine) == 0:
        return indices[:1], 0.0
    return mine, len(mine) * group.world_size / rows


@contextlib.contextmanager
def gradient_exchange(parallel: Any, exchange: bool) -> Iterator[None]:
    """Around a micro-batch's forward and backward: exchange its gradients across the group, or
    (accumulating, not the step's last micro-batch) keep them local until the last one."""
    if parallel is None or exchange and not hasattr(parallel, "set_requires_gradient_sync"):
        yield
    elif hasattr(parallel, "set_requires_gradient_sync"):  # FSDP
        parallel.set_requires_gradient_sync(exchange)
        yield
    else:  # DDP
        with parallel.no_sync():
            yield
