"""Embedded samples for the other task types, derived from the real labels of the airline tweets.

Each one is built from the cleaned embedded sample (`sample.py`: about 14,400 airline tweets, each
with a sentiment label and the share of labellers who agreed with it), so a new user can try every
task offline on real text. Nothing is invented but the pairs' fixed statements and coin flips:

- `sample:multi-label` -- columns `text`, `labels` (a list of strings). A tweet's labels are its
  sentiment (negative, neutral or positive) followed by every airline whose Twitter handle it
  mentions, by display name (@united -> United, @AmericanAir -> American, @USAirways -> US Airways,
  @SouthwestAir -> Southwest, @JetBlue -> JetBlue, @VirginAmerica -> Virgin America, @Delta ->
  Delta), in that fixed order. Handles match case-insensitively with the same word-boundary rule
  the sample's cleaning uses, and every kept tweet mentions at least one, so every row has at least
  two labels and some have more (tweets addressed to several airlines).
- `sample:regression` -- columns `text`, `sentiment_score` (float). The signed labeller agreement:
  +confidence for a positive tweet, -confidence for a negative one, 0.0 for a neutral one; so the
  score lies in [-1, 1], and its magnitude is how sure the labellers were. (Rows whose confidence
  is missing in the source are left out; the current corpus has none.)
- `sample:pairs` -- columns `tweet`, `statement`, `label`. Each tweet is paired with one of three
  fixed statements about its writer's mood (unhappy / neutral / pleased). A seeded coin per tweet
  picks either the statement of its true sentiment (label "entailed") or, with a second seeded
  draw, one of the other two (label "not entailed"), so the labels are about half each.

All three keep the sample's row order, are deterministic (a fixed seed, Python's `random`, whose
`random()` stream is stable across versions), and are cached in memory: the second load is instant.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING

from ftstudio.engine.errors import DatasetError

if TYPE_CHECKING:
    import datasets

TASK_SAMPLES: dict[str, str] = {
    "sample:multi-label": "Airline tweets, multi-label: each tweet's sentiment plus every airline it mentions",
    "sample:regression": "Airline tweets, regression: a sentiment score in [-1, 1] (signed labeller agreement)",
    "sample:pairs": "Airline tweets, text pairs: does a statement about the writer's mood follow from the tweet?",
}

# The airlines' Twitter handles (as in sample.py's _AIRLINES) and the names people use.
AIRLINE_NAMES: dict[str, str] = {
    "united": "United",
    "americanair": "American",
    "usairways": "US Airways",
    "southwestair": "Southwest",
    "jetblue": "JetBlue",
    "virginamerica": "Virgin America",
    "delta": "Delta",
}
# One fixed statement per sentiment for the pairs sample.
STATEMENTS: dict[str, str] = {
    "negative": "The writer is unhappy with the airline.",
    "neutral": "The writer feels neutral about the airline.",
    "positive": "The writer is pleased with the airline.",
}
ENTAILED, NOT_ENTAILED = "entailed", "not entailed"
_SCORE_SIGN = {"positive": 1.0, "negative": -1.0, "neutral": 0.0}
_PAIRS_SEED = 20240601

_lock = threading.Lock()
# spec -> (the base dataset it was derived from, the derived dataset); rebuilt if the base changes.
_memory: dict[str, tuple[datasets.Dataset, datasets.Dataset]] = {}


def load_task_sample(spec: str) -> datasets.Dataset:
    """The derived sample named by `spec` ("sample:multi-label", "sample:regression" or
    "sample:pairs"; case and surrounding spaces do not matter).

    Raises DatasetError for an unknown name, or when the embedded sample itself is unavailable.
    """
    key = _normalise(spec)
    if key not in TASK_SAMPLES:
        known = ", ".join(TASK_SAMPLES)
        raise DatasetError(f"Unknown sample '{str(spec).strip()}': choose one of {known}, or 'sample' "
                           "for the airline tweets' sentiment.")
    from ftstudio.engine.data.sample import load_sample_with_confidence

    base = load_sample_with_confidence()
    with _lock:
        cached = _memory.get(key)
        if cached is None or cached[0] is not base:
            cached = (base, _BUILDERS[key](base))
            _memory[key] = cached
    return cached[1]


def _normalise(spec: str) -> str:
    text = str(spec).strip().lower()
    return text if text.startswith("sample:") else f"sample:{text}"


# ------------------------------------------------------------------ builders
def _airline_pattern() -> re.Pattern[str]:
    from ftstudio.engine.data.sample import _AIRLINES

    return re.compile(r"(?<![\w@])@(" + "|".join(_AIRLINES) + r")\b", re.IGNORECASE)


def _multi_label(base: datasets.Dataset) -> datasets.Dataset:
    import datasets

    pattern = _airline_pattern()
    order = list(AIRLINE_NAMES)
    texts = base["text"][:]
    labels = []
    for text, sentiment in zip(texts, base["label"][:]):
        handles = {match.lower() for match in pattern.findall(text)}
        labels.append([sentiment] + [AIRLINE_NAMES[h] for h in order if h in handles])
    features = datasets.Features({"text": datasets.Value("string"),
                                  "labels": datasets.Sequence(datasets.Value("string"))})
    return datasets.Dataset.from_dict({"text": texts, "labels": labels}, features=features)


def _regression(base: datasets.Dataset) -> datasets.Dataset:
    import math

    import datasets

    texts, scores = [], []
    for text, sentiment, confidence in zip(base["text"][:], base["label"][:], base["confidence"][:]):
        if confidence is None or math.isnan(confidence):
            continue
        texts.append(text)
        # `+ 0.0` turns -0.0 (a neutral tweet's 0 * -1) into 0.0.
        scores.append(_SCORE_SIGN[sentiment] * min(max(confidence, 0.0), 1.0) + 0.0)
    features = datasets.Features({"text": datasets.Value("string"), "sentiment_score": datasets.Value("float64")})
    return datasets.Dataset.from_dict({"text": texts, "sentiment_score": scores}, features=features)


def _pairs(base: datasets.Dataset) -> datasets.Dataset:
    import random

    import datasets

    rng = random.Random(_PAIRS_SEED)
    tweets = base["text"][:]
    statements, labels = [], []
    for sentiment in base["label"][:]:
        if rng.random() < 0.5:
            statements.append(STATEMENTS[sentiment])
            labels.append(ENTAILED)
        else:
            others = [s for name, s in STATEMENTS.items() if name != sentiment]
            statements.append(others[0] if rng.random() < 0.5 else others[1])
            labels.append(NOT_ENTAILED)
    features = datasets.Features({name: datasets.Value("string") for name in ("tweet", "statement", "label")})
    return datasets.Dataset.from_dict({"tweet": tweets, "statement": statements, "label": labels}, features=features)


_BUILDERS = {
    "sample:multi-label": _multi_label,
    "sample:regression": _regression,
    "sample:pairs": _pairs,
}
