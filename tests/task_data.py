"""Small made-up data files for the task types, learnable from their words like `make_texts`.

- multi-label: each text's sentiment plus "urgent" when it has a word of urgency-like kind (here:
  the negative words 'delayed' or 'lost') and "crew" when it mentions the crew, as a list column
  (JSONL, Parquet), a delimited string column (CSV) or 0/1 columns (CSV).
- regression: a score from 1 to 5 by sentiment plus a little noise, in a CSV.
- pairs: a text and a statement "this is <sentiment>"; the label says whether they agree.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.conftest import make_texts, write_csv

SCORE_OF = {"negative": 1.0, "neutral": 3.0, "positive": 5.0}


def multi_labels(n: int, seed: int = 0) -> list[tuple[str, list[str]]]:
    rows = []
    for text, label in make_texts(n, seed):
        labels = [label]
        if "delayed" in text or "lost" in text:
            labels.append("urgent")
        if "crew" in text:
            labels.append("crew")
        rows.append((text, labels))
    return rows


def write_multilabel(path: Path, n: int = 120, shape: str = "lists", seed: int = 0) -> Path:
    """`shape`: lists (JSONL or Parquet by suffix), delimited (CSV, ';'), columns (CSV of 0/1)."""
    rows = multi_labels(n, seed)
    names = sorted({name for _, labels in rows for name in labels})
    if shape == "lists" and path.suffix == ".parquet":
        import pandas as pd

        pd.DataFrame({"text": [t for t, _ in rows], "labels": [labels for _, labels in rows]}).to_parquet(path)
    elif shape == "lists":
        path.write_text("".join(json.dumps({"text": t, "labels": labels}) + "\n" for t, labels in rows),
                        encoding="utf-8")
    elif shape == "delimited":
        write_csv(path, [(t, ";".join(labels)) for t, labels in rows], header=("text", "tags"))
    elif shape == "columns":
        write_csv(path, [(t, *(int(n in labels) for n in names)) for t, labels in rows], header=("text", *names))
    else:
        raise ValueError(shape)
    return path


def write_regression(path: Path, n: int = 120, seed: int = 0, decimal_comma: bool = False) -> Path:
    rng = random.Random(seed)
    rows = []
    for text, label in make_texts(n, seed):
        score = f"{SCORE_OF[label] + rng.uniform(-0.5, 0.5):.3f}"
        rows.append((text, score.replace(".", ",") if decimal_comma else score))
    return write_csv(path, rows, header=("text", "score"), delimiter=";" if decimal_comma else ",")


def write_pairs(path: Path, n: int = 120, seed: int = 0, header=("sentence1", "sentence2", "label")) -> Path:
    rng = random.Random(seed)
    rows = []
    for text, label in make_texts(n, seed):
        claimed = label if rng.random() < 0.5 else rng.choice([x for x in SCORE_OF if x != label])
        rows.append((text, f"this is {claimed}", "agree" if claimed == label else "disagree"))
    return write_csv(path, rows, header=header)
