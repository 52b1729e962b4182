"""Small made-up data files for the task types, learnable from their words like `make_texts`.

- multi-label: each text's sentiment plus "urgent" when it has a word of urgency-like kind (here:
  the negative words 'delayed' or 'lost') and "crew" when it mentions the crew, as a list column
  (JSONL, Parquet), a delimited string column (CSV) or 0/1 columns (CSV).
- regression: a score from 1 to 5 by sentiment plus a little noise, in a CSV.
- pairs: a text and a statement "this is <sentiment>"; the label says whether they agree.
- token classification: sentences of vocabulary words, person and place entities, in CoNLL
  text, JSONL or Parquet, tagged BIO, IOB1 or BIOES.
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


# Token classification: words of the tiny models' vocabulary, tagged by kind. "Positive" words are
# names of people (a person is one or two of them), "neutral" words are places, the rest is O.
def ner_sentences(n: int, seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """`n` sentences of 4-12 words with 0-3 entities each, BIO tags (types person and place)."""
    from tests.conftest import FILLER, NEUTRAL_WORDS, POSITIVE_WORDS

    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words, tags = [], []
        for _ in range(rng.randint(2, 6)):
            words.append(rng.choice(FILLER))
            tags.append("O")
            kind = rng.random()
            if kind < 0.3:
                length = rng.choice([1, 1, 2])
                words += [rng.choice(POSITIVE_WORDS) for _ in range(length)]
                tags += ["B-person"] + ["I-person"] * (length - 1)
            elif kind < 0.5:
                words.append(rng.choice(NEUTRAL_WORDS))
                tags.append("B-place")
        rows.append((words, tags))
    return rows



def to_scheme(tags: list[str], scheme: str) -> list[str]:
    """BIO tags rewritten in `scheme`: BIO, IOB1 (I- opens unless a same-type entity precedes)
    or BIOES."""
    out = list(tags)
    for i, tag in enumerate(tags):
        if tag == "O":
            continue
        prefix, kind = tag[0], tag[2:]
        following = tags[i + 1] if i + 1 < len(tags) else "O"
        if scheme == "IOB1":
            previous = tags[i - 1] if i else "O"
            out[i] = ("B-" if prefix == "B" and previous[2:] == kind else "I-") + kind
        elif scheme == "BIOES":
            ends = following != f"I-{kind}"
            out[i] = {("B", True): "S-", ("B", False): "B-", ("I", True): "E-", ("I", False): "I-"}[prefix, ends] + kind
    return out


def write_ner(path: Path, n: int = 160, seed: int = 0, scheme: str = "BIO") -> Path:
    """CoNLL text (`.conll`, `.txt`, ...: word<TAB>tag lines, blank lines between sentences) or
    JSONL / Parquet with `tokens` and `tags` list columns, by suffix."""
    rows = [(words, to_scheme(tags, scheme)) for words, tags in ner_sentences(n, seed)]
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps({"tokens": w, "tags": t}) + "\n" for w, t in rows), encoding="utf-8")
    elif path.suffix == ".parquet":
        import pandas as pd

        pd.DataFrame({"tokens": [w for w, _ in rows], "tags": [t for _, t in rows]}).to_parquet(path)
    else:
        path.write_text("".join("".join(f"{w}\t{t}\n" for w, t in zip(words, tags, strict=True)) + "\n"
                                for words, tags in rows), encoding="utf-8")
    return path
