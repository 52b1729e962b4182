"""Evaluate a model on a tokenized split: the task's loss and metrics, stop-aware."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ftstudio.engine.data.batching import TokenizedSplit, collate, eval_batches

if TYPE_CHECKING:
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
) -> tuple[Outputs, float]:
    """The task's metrics over the whole split and its mean loss (the training loss's definition:
    per row, or per labelled or predicted token for a token task or a language model). What is
    kept of each batch is the task's collector's business (training/collectors.py).

    Logits stay on the device until the end: one host sync per evaluation, not per batch.
    With `features` (a frozen encoder's cached outputs for `split_name`) only the head runs; the
    logits are the ones the full model gives in eval mode.
    """
    import torch

    was_training = model.training
    model.eval()
    batches = eval_batches(split, batch_size * 2)  # no gradients: a larger batch fits
    loss_sum = torch.zeros((), device=device, dtype=torch.float32)
    loss_count = torch.zeros((), device=device, dtype=torch.float32)
    collector = task.collector(len(split))
    try:
        with torch.inference_mode():
            for number, indices in enumerate(batches):
                if control is not None:
                    control.check(reporter, resume_status="evaluating")
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
                        logits, labels = task.batch_outputs(model, inputs, labels)
                loss_sum += task.loss_sum(logits, labels)
                loss_count += task.loss_count(labels)
                collector.add(rows, logits, labels)
                if reporter is not None and (number % 10 == 0 or number == len(batches) - 1):
                    reporter.on_progress("evaluating", number + 1, len(batches))
    finally:
        model.train(was_training)
    mean_loss = float(loss_sum.item() / max(loss_count.item(), 1.0))
    return collector.outputs(split, task, label_names, task_state, mean_loss), mean_loss
