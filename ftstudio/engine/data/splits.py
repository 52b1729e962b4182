"""Seeded, stratified row selection: holding out validation/test rows and capping split sizes.

Written with numpy rather than borrowed from scikit-learn so that tiny and lopsided data behave
the way we want: every class keeps at least one training row, single-row classes stay in train,
quotas are rounded by largest remainder (so the total is exact), and the same seed always picks
the same rows.
"""

from __future__ import annotations

import numpy as np


def allocate(counts: np.ndarray, total: int, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Split `total` rows across classes in proportion to `counts`, within [low, high] per class.

    Largest-remainder rounding: floor the proportional quotas, then hand the leftover rows to the
    classes with the largest fractional parts (ties to the lower class id, for determinism).
    """
    counts = np.asarray(counts, dtype=np.int64)
    low = np.minimum(np.asarray(low, dtype=np.int64), high)
    total = int(min(max(total, int(low.sum())), int(high.sum())))
    if counts.sum() == 0 or total == 0:
        return low.copy()
    quota = counts * (total / counts.sum())
    take = np.clip(np.floor(quota).astype(np.int64), low, high)
    remainder = quota - np.floor(quota)
    # Hand out (or take back) single rows until the total is exact.
    while take.sum() < total:
        room = take < high
        order = np.lexsort((np.arange(len(counts)), -np.where(room, remainder, -np.inf)))
        take[order[0]] += 1
        remainder[order[0]] = -1.0
    while take.sum() > total:
        spare = take > low
        order = np.lexsort((np.arange(len(counts)), np.where(spare, remainder, np.inf)))
        take[order[0]] -= 1
        remainder[order[0]] = 2.0
    return take


def _class_rows(labels: np.ndarray, num_classes: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Row indices of each class, shuffled by `rng` (classes visited in id order)."""
    rows = []
    for cls in range(num_classes):
        members = np.flatnonzero(labels == cls)
        rows.append(rng.permutation(members))
    return rows


def hold_out(labels: np.ndarray, num_classes: int, fractions: list[float], seed: int) -> list[np.ndarray]:
    """Carve held-out parts (e.g. [test, validation]) off `labels`, stratified; returns the
    sorted row indices of [kept, part1, part2, ...].

    Each fraction is of all rows. Every class keeps at least one row in the kept part, so a class
    with a single row is never held out.
    """
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng([seed, 1])
    per_class = _class_rows(labels, num_classes, rng)
    counts = np.array([len(r) for r in per_class], dtype=np.int64)
    available = np.maximum(counts - 1, 0)  # one row per class always stays in the kept part
    used = np.zeros_like(counts)
    parts: list[list[np.ndarray]] = []
    for fraction in fractions:
        target = max(1, round(len(labels) * fraction)) if fraction > 0 else 0
        take = allocate(counts, target, np.zeros_like(counts), available - used)
        parts.append([rows[u:u + t] for rows, u, t in zip(per_class, used, take, strict=True)])
        used += take
    kept = [rows[u:] for rows, u in zip(per_class, used, strict=True)]
    return [np.sort(np.concatenate(p)) if p else np.array([], dtype=np.int64) for p in [kept, *parts]]


def subsample(labels: np.ndarray, num_classes: int, size: int, seed: int) -> np.ndarray:
    """Sorted indices of a stratified sample of `size` rows (all rows when there are fewer).

    When `size` allows, every class present keeps at least one row, so a capped quick trial still
    sees each class.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if size >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng([seed, 2])
    per_class = _class_rows(labels, num_classes, rng)
    counts = np.array([len(r) for r in per_class], dtype=np.int64)
    present = (counts > 0).astype(np.int64)
    low = present if size >= present.sum() else np.zeros_like(counts)
    take = allocate(counts, size, low, counts)
    chosen = [rows[:t] for rows, t in zip(per_class, take, strict=True)]
    return np.sort(np.concatenate(chosen)) if chosen else np.array([], dtype=np.int64)
