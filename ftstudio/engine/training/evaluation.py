"""Evaluate a model on a tokenized split: the task's loss and metrics, stop-aware."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ftstudio.engine.data.batching import TokenizedSplit, collate, eval_batches

if TYPE_CHECKING:
    from ftstudio.engine.distributed.group import ProcessGroup
    from ftstudio.engine.events import Reporter, TrainingControl
    from ftstudio.engine.speed.frozen_features import FeatureCache
    from ftstudio.engine.tasks.base import Outputs, Task


def evaluate(
    model: Any,
    split: TokenizedSplit,
    *,
    task: Task,
    task_state: dict[str, Any],
    device: Any,
    autocast: Any,
    batch_size: int,
    pad_token_id: int,
    label_names: list[str],
    control: TrainingControl | None = None,
    reporter: Reporter | None = None,
    features: FeatureCache | None = None,
    split_name: str = "validation",
    group: ProcessGroup | None = None,
    sharded_root: Any = None,
) -> tuple[Outputs, float]:
    """The task's metrics over the whole split and its mean loss (the training loss's definition:
    per row, or per labelled or predicted token for a token task or a language model). What is
    kept of each batch is the task's collector's business (training/collectors.py).

    Logits stay on the device until the end: one host sync per evaluation, not per batch.
    With `features` (a frozen encoder's cached outputs for `split_name`) only the head runs; the
    logits are the ones the full model gives in eval mode.

    In a group of several processes, rank r evaluates batches r, r + N, r + 2N, ... (the same
    batches one process would cut), then the ranks pool their collectors and loss sums, so every
    rank scores the whole split and reaches the same metrics (and the same best-checkpoint and
    early-stopping decisions) as one process evaluating the same weights. With `sharded_root`
    (FSDP's root module) every forward goes through it, and a rank with no batch left in a round
    runs its first batch again and drops it: each forward gathers weights from every rank.
    """
    import torch

    was_training = model.training
    model.eval()
    batches = eval_batches(split, batch_size * 2)  # no gradients: a larger batch fits
    ranks, rank = (group.world_size, group.rank) if group is not None else (1, 0)
    rounds = -(-len(batches) // ranks)
    loss_sum = torch.zeros((), device=device, dtype=torch.float32)
    loss_count = torch.zeros((), device=device, dtype=torch.float32)
    collector = task.collector(len(split))
    try:
        with torch.inference_mode():
            for turn in range(rounds):
                if control is not None:  # every rank checks at every round, as a group's check must
                    control.check(reporter, resume_status="evaluating")
                number = turn * ranks + rank
                if number >= len(batches):
                    if sharded_root is not None and batches:  # keep in step with the others' gathers
                        _forward_only(sharded_root, collate(split, batches[0], pad_token_id), device, autocast)
                    continue
                indices = batches[number]
                rows = torch.as_tensor(indices, device=device)
                if features is not None:
                    labels = features.labels[split_name][rows]
                    with autocast():
                        logits = features.logits(split_name, rows)
                else:
                    batch = collate(split, indices, pad_token_id, pin=getattr(device, "type", "") == "cuda")
                    labels = batch.pop("labels").to(device, non_blocking=True)
                    inputs = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                    with autocast():
                        logits, labels = (task.batch_outputs(model, inputs, labels) if sharded_root is None
                                          else sharded_root(inputs, labels))
                loss_sum += task.loss_sum(logits, labels)
                loss_count += task.loss_count(labels)
                collector.add(rows, logits, labels)
                if reporter is not None and (turn % 10 == 0 or turn == rounds - 1):
                    reporter.on_progress("evaluating", min((turn + 1) * ranks, len(batches)), len(batches))
    finally:
        model.train(was_training)
        if sharded_root is not None:  # the root keeps its gathered weights after a forward with no backward
            sharded_root.reshard()
    if group is not None and group.active:
        collector = _pooled(collector, group)
        totals = group.sum_(torch.stack([loss_sum, loss_count]), "adding up the evaluation")
        loss_sum, loss_count = totals[0], totals[1]
    mean_loss = float(loss_sum.item() / max(loss_count.item(), 1.0))
    return collector.outputs(split, task, label_names, task_state, mean_loss), mean_loss


def _pooled(collector: Any, group: ProcessGroup) -> Any:
    """Every rank's collector merged into this one (in rank order, so all ranks agree)."""
    parts = group.all_gather(collector.part(), "collecting the evaluation's outputs")
    return type(collector).from_parts(parts, collector)


def _forward_only(root: Any, batch: dict[str, Any], device: Any, autocast: Any) -> None:
    """A forward whose outputs nobody reads: its part in the group's weight gathers."""
    labels = batch.pop("labels").to(device)
    with autocast():
        root({k: v.to(device) for k, v in batch.items()}, labels)
