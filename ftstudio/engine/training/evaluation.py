"""Evaluate a model on a tokenized split: loss and classification metrics, stop-aware."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ftstudio.engine.data.batching import TokenizedSplit, collate, eval_batches
from ftstudio.engine.tasks.classification import classification_metrics

if TYPE_CHECKING:
    from ftstudio.engine.events import Reporter, TrainingControl
    from ftstudio.engine.speed.frozen_features import FeatureCache


def evaluate(
    model: Any,
    split: TokenizedSplit,
    *,
    device: Any,
    autocast: Any,
    batch_size: int,
    pad_token_id: int,
    label_names: list[str],
    control: TrainingControl | None = None,
    reporter: Reporter | None = None,
    features: FeatureCache | None = None,
    split_name: str = "validation",
) -> dict[str, Any]:
    """Mean cross-entropy and metrics over the whole split.

    Predictions stay on the device until the end: one host sync per evaluation, not per batch.
    With `features` (a frozen encoder's cached outputs for `split_name`) only the head runs; the
    logits are the ones the full model gives in eval mode.
    """
    import torch
    import torch.nn.functional as F

    was_training = model.training
    model.eval()
    batches = eval_batches(split, batch_size * 2)  # no gradients: a larger batch fits
    loss_sum = torch.zeros((), device=device, dtype=torch.float32)
    predictions = torch.empty(len(split), dtype=torch.long, device=device)
    try:
        with torch.inference_mode():
            for number, indices in enumerate(batches):
                if control is not None:
                    control.check(reporter, resume_status="evaluating")
                if features is not None:
                    rows = torch.as_tensor(indices, device=device)
                    labels = features.labels[split_name][rows]
                    with autocast():
                        logits = features.logits(split_name, rows)
                else:
                    batch = collate(split, indices, pad_token_id, pin=getattr(device, "type", "") == "cuda")
                    labels = batch.pop("labels").to(device, non_blocking=True)
                    inputs = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                    with autocast():
                        logits = model(**inputs).logits
                loss_sum += F.cross_entropy(logits.float(), labels, reduction="sum")
                predictions[torch.as_tensor(indices, device=device)] = logits.argmax(dim=-1)
                if reporter is not None and (number % 10 == 0 or number == len(batches) - 1):
                    reporter.on_progress("evaluating", number + 1, len(batches))
    finally:
        model.train(was_training)
    metrics = classification_metrics(split.labels, predictions.cpu().numpy(), len(label_names), label_names)
    metrics["loss"] = float(loss_sum.item() / max(len(split), 1))
    return metrics
