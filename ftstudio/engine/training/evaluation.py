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
    per row, or per labelled token for a token task, which gets its logits per row).

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
    all_logits: torch.Tensor | None = None
    tokens = TokenLogits() if task.token_level else None
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
                        logits = model(**inputs).logits
                loss_sum += task.loss_sum(logits, labels)
                loss_count += task.loss_count(labels)
                if tokens is not None:
                    tokens.add(rows, logits, labels)
                else:
                    if all_logits is None:
                        all_logits = torch.empty((len(split), logits.shape[-1]), dtype=torch.float32, device=device)
                    all_logits[rows] = logits.float()
                if reporter is not None and (number % 10 == 0 or number == len(batches) - 1):
                    reporter.on_progress("evaluating", number + 1, len(batches))
    finally:
        model.train(was_training)
    mean_loss = float(loss_sum.item() / max(loss_count.item(), 1.0))
    if tokens is not None:
        logits_rows, targets = tokens.rows(split)
        return task.evaluate(logits_rows, targets, label_names, task_state), mean_loss
    logits_np = all_logits.cpu().numpy() if all_logits is not None else _no_logits(task, label_names)
    return task.evaluate(logits_np, split.labels, label_names, task_state), mean_loss


class TokenLogits:
    """A token task's logits at the labelled positions, kept on the device batch by batch (one
    host copy at the end) and handed back per sentence in the split's order (a long sentence's
    windows joined)."""

    def __init__(self) -> None:
        self.kept: list[Any] = []
        self.counts: list[Any] = []
        self.order: list[Any] = []

    def add(self, rows: Any, logits: Any, labels: Any) -> None:
        from ftstudio.engine.data.batching import LABEL_PAD

        mask = labels != LABEL_PAD
        self.kept.append(logits[mask].float())
        self.counts.append(mask.sum(dim=1))
        self.order.append(rows)

    def rows(self, split: TokenizedSplit) -> tuple[list[Any], list[Any]]:
        import numpy as np
        import torch

        from ftstudio.engine.data.batching import LABEL_PAD

        targets = [np.asarray(row)[np.asarray(row) != LABEL_PAD] for row in split.labels]
        width = int(self.kept[0].shape[-1]) if self.kept else 0
        found: list[Any] = [np.zeros((0, width), dtype=np.float32)] * len(split)
        if self.kept:
            flat = torch.cat(self.kept).cpu().numpy()
            counts = torch.cat(self.counts).cpu().numpy()
            order = torch.cat(self.order).cpu().numpy()
            for row, piece in zip(order, np.split(flat, np.cumsum(counts)[:-1]), strict=True):
                found[int(row)] = piece
        if split.sources is None or len(split.sources) == 0:
            return found, targets
        # The windows of a long sentence are consecutive rows: joined back, an entity a window
        # boundary cut is scored whole, as a test file's sentences are.
        groups = np.split(np.arange(len(split)), np.flatnonzero(np.diff(split.sources)) + 1)
        return ([np.concatenate([found[i] for i in group]) for group in groups],
                [np.concatenate([targets[i] for i in group]) for group in groups])


def _no_logits(task: Task, label_names: list[str]) -> Any:
    import numpy as np

    return np.zeros((0, task.num_outputs(label_names)), dtype=np.float32)
