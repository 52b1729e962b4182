"""What an evaluation keeps of each batch's outputs, per kind of task, until it scores them.

A classifier keeps every row's logits (on the device, one host copy at the end); a token task
keeps the logits at its labelled positions and hands them back per sentence; a language model
keeps only how many predicted tokens were right: its logits span the whole vocabulary and
would not fit in memory for a validation split. Each task picks its collector
(`Task.collector`); `evaluation.py` feeds it and asks it for the task's `Outputs`.

In a group of processes each rank collects the batches it evaluated; `part()` is what it hands
the others (CPU data, picklable) and `from_parts` pools the parts of every rank into one
collector that scores the whole split.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ftstudio.engine.data.batching import TokenizedSplit
    from ftstudio.engine.tasks.base import Outputs, Task


class LogitRows:
    """Every row's logits, in the split's order."""

    def __init__(self, rows: int) -> None:
        self.size = rows
        self.logits: Any = None
        self.seen: list[Any] = []  # the rows filled in, for part()

    def add(self, rows: Any, logits: Any, labels: Any) -> None:
        import torch

        if self.logits is None:
            self.logits = torch.empty((self.size, logits.shape[-1]), dtype=torch.float32, device=logits.device)
        self.logits[rows] = logits.float()
        self.seen.append(rows)

    def part(self) -> tuple[Any, Any] | None:
        import torch

        if self.logits is None:
            return None
        rows = torch.cat(self.seen)
        return rows.cpu(), self.logits[rows].cpu()

    @classmethod
    def from_parts(cls, parts: list[Any], template: LogitRows) -> LogitRows:
        pooled = cls(template.size)
        for part in parts:
            if part is not None:
                pooled.add(*part, None)
        return pooled

    def outputs(self, split: TokenizedSplit, task: Task, label_names: list[str], state: dict[str, Any],
                mean_loss: float) -> Outputs:
        if self.logits is None:
            found = np.zeros((0, task.num_outputs(label_names)), dtype=np.float32)
        else:
            found = self.logits.cpu().numpy()
        return task.evaluate(found, split.labels, label_names, state)


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

    def part(self) -> tuple[Any, Any, Any] | None:
        import torch

        if not self.kept:
            return None
        return torch.cat(self.kept).cpu(), torch.cat(self.counts).cpu(), torch.cat(self.order).cpu()

    @classmethod
    def from_parts(cls, parts: list[Any], template: TokenLogits) -> TokenLogits:
        pooled = cls()
        for part in parts:
            if part is not None:
                pooled.kept.append(part[0])
                pooled.counts.append(part[1])
                pooled.order.append(part[2])
        return pooled

    def outputs(self, split: TokenizedSplit, task: Task, label_names: list[str], state: dict[str, Any],
                mean_loss: float) -> Outputs:
        logits_rows, targets = self.rows(split)
        return task.evaluate(logits_rows, targets, label_names, state)

    def rows(self, split: TokenizedSplit) -> tuple[list[Any], list[Any]]:
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


class TokenHits:
    """A language model's predicted tokens: how many there were and how many the model got
    right (its top choice), counted on the device."""

    def __init__(self) -> None:
        self.hits: Any = None
        self.count: Any = None

    def add(self, rows: Any, logits: Any, labels: Any) -> None:
        right = (logits.argmax(dim=-1) == labels).sum()
        self.hits = right if self.hits is None else self.hits + right
        self.count = labels.numel() if self.count is None else self.count + labels.numel()

    def part(self) -> tuple[int, int]:
        return int(self.hits.item()) if self.hits is not None else 0, int(self.count or 0)

    @classmethod
    def from_parts(cls, parts: list[Any], template: TokenHits) -> TokenHits:
        pooled = cls()
        pooled.hits = sum(hits for hits, _ in parts)
        pooled.count = sum(count for _, count in parts)
        return pooled

    def outputs(self, split: TokenizedSplit, task: Task, label_names: list[str], state: dict[str, Any],
                mean_loss: float) -> Outputs:
        hits = int(self.hits.item()) if hasattr(self.hits, "item") else int(self.hits or 0)
        return task.evaluate_counts(mean_loss, hits, int(self.count or 0))


def perplexity(mean_loss: float) -> float:
    """exp of the mean cross-entropy per predicted token; bounded so a diverged model still
    gives a finite, plottable number (exp(50) is far beyond any real model's perplexity)."""
    return math.exp(min(float(mean_loss), 50.0))
