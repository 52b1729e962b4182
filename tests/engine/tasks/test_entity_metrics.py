"""Entity metrics: by hand (confusion counts, errors list, empty inputs) and against seqeval's
strict IOB2 scores on many random tag sequences, malformed ones included."""

from __future__ import annotations

import random
import time
import warnings

import pytest

from ftstudio.engine.errors import DatasetError
from ftstudio.engine.tasks.entity_metrics import entity_metrics

TYPES = ["PER", "LOC", "misc", "Org"]


def test_by_hand():
    true = [["B-PER", "I-PER", "O", "B-LOC"],   # PER found; LOC predicted as ORG
            ["B-LOC", "O", "O"],                # LOC missed, a spurious PER
            ["O", "B-ORG", "I-ORG"]]            # ORG predicted one word short
    predicted = [["B-PER", "I-PER", "O", "B-ORG"],
                 ["O", "O", "B-PER"],
                 ["O", "B-ORG", "O"]]
    tokens = [["Ada", "Lovelace", "in", "London"], ["Paris", "is", "Bob"], ["at", "Acme", "Inc"]]
    found = entity_metrics(true, predicted, tokens=tokens)
    # true: PER 1, LOC 2, ORG 1 (4); predicted: PER 2, ORG 2 (4); found: PER 1.
    assert found["entity_precision"] == pytest.approx(1 / 4)
    assert found["entity_recall"] == pytest.approx(1 / 4)
    assert found["entity_f1"] == pytest.approx(1 / 4)
    assert found["token_accuracy"] == pytest.approx(6 / 10)
    assert found["per_type"] == {
        "LOC": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2, "predicted": 0},
        "ORG": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "predicted": 2},
        "PER": {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1, "predicted": 2},
    }
    labels = ["LOC", "ORG", "PER", "(none)"]
    assert found["confusion"]["labels"] == labels
    expected = {("PER", "PER"): 1, ("LOC", "ORG"): 1, ("LOC", "(none)"): 1, ("(none)", "PER"): 1,
                ("ORG", "(none)"): 1, ("(none)", "ORG"): 1}
    matrix = found["confusion"]["matrix"]
    assert matrix == [[expected.get((row, column), 0) for column in labels] for row in labels]
    assert found["errors"] == [
        {"sentence": 0, "tokens": tokens[0], "true": [["PER", 0, 2], ["LOC", 3, 4]],
         "predicted": [["PER", 0, 2], ["ORG", 3, 4]]},
        {"sentence": 1, "tokens": tokens[1], "true": [["LOC", 0, 1]], "predicted": [["PER", 2, 3]]},
        {"sentence": 2, "tokens": tokens[2], "true": [["ORG", 1, 3]], "predicted": [["ORG", 1, 2]]},
    ]


def test_errors_are_capped_and_tokens_optional():
    true = [["B-PER"]] * 5 + [["O"]]
    predicted = [["O"]] * 6
    found = entity_metrics(true, predicted, max_error_sentences=2)
    assert [error["sentence"] for error in found["errors"]] == [0, 1]
    assert all(error["tokens"] is None for error in found["errors"])
    assert found["confusion"] == {"labels": ["PER", "(none)"], "matrix": [[0, 5], [0, 0]]}
    assert entity_metrics(true, predicted, max_error_sentences=0)["errors"] == []


def test_perfect_and_empty():
    true = [["B-PER", "I-PER", "O"], []]
    found = entity_metrics(true, true)
    assert (found["entity_precision"], found["entity_recall"], found["entity_f1"]) == (1.0, 1.0, 1.0)
    assert found["token_accuracy"] == 1.0 and found["errors"] == []
    assert found["confusion"] == {"labels": ["PER", "(none)"], "matrix": [[1, 0], [0, 0]]}

    for true, predicted in (([], []), ([[]], [[]]), ([["O", "O"]], [["O", "O"]])):
        found = entity_metrics(true, predicted)
        assert found["entity_f1"] == found["entity_precision"] == found["entity_recall"] == 0.0
        assert found["per_type"] == {} and found["errors"] == []
        assert found["confusion"] == {"labels": ["(none)"], "matrix": [[0]]}
    assert entity_metrics([], [])["token_accuracy"] == 0.0
    assert entity_metrics([["O", "O"]], [["O", "O"]])["token_accuracy"] == 1.0


def test_strict_mode_ignores_entities_opened_by_i():
    # I-PER opens nothing in strict IOB2: the prediction has no entity, the true tags one.
    found = entity_metrics([["B-PER", "I-PER"]], [["I-PER", "I-PER"]])
    assert found["entity_recall"] == 0.0 and found["per_type"]["PER"]["predicted"] == 0
    assert found["token_accuracy"] == 0.5


def test_mismatched_shapes_are_refused_in_words():
    with pytest.raises(DatasetError, match="2 sentences have true tags but 1"):
        entity_metrics([["O"], ["O"]], [["O"]])
    with pytest.raises(DatasetError, match="Sentence 2 has 2 true tags but 1 predicted"):
        entity_metrics([["O"], ["O", "O"]], [["O"], ["O"]])
    with pytest.raises(DatasetError, match="1 sentences of words"):
        entity_metrics([["O"], ["O"]], [["O"], ["O"]], tokens=[["a"]])


def _random_tags(rng: random.Random, length: int) -> list[str]:
    return [rng.choice(["O", "O", "O", f"B-{rng.choice(TYPES)}", f"I-{rng.choice(TYPES)}"])
            for _ in range(length)]


def _perturbed(rng: random.Random, tags: list[str]) -> list[str]:
    """A prediction: the true tags with some words retagged, so some entities match and some not."""
    return [_random_tags(rng, 1)[0] if rng.random() < 0.15 else tag for tag in tags]


@pytest.mark.parametrize("seed, sentences", [(0, 1), (1, 5), (2, 40), (3, 40), (4, 400), (5, 400)])
def test_against_seqeval_strict(seed, sentences):
    metrics = pytest.importorskip("seqeval.metrics")
    iob2 = pytest.importorskip("seqeval.scheme").IOB2
    rng = random.Random(seed)
    true = [_random_tags(rng, rng.randint(0, 14)) for _ in range(sentences)]
    predicted = [_perturbed(rng, tags) for tags in true]
    found = entity_metrics(true, predicted)
    strict = {"mode": "strict", "scheme": iob2}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns where a score divides by zero
        assert found["entity_precision"] == pytest.approx(metrics.precision_score(true, predicted, **strict))
        assert found["entity_recall"] == pytest.approx(metrics.recall_score(true, predicted, **strict))
        assert found["entity_f1"] == pytest.approx(metrics.f1_score(true, predicted, **strict))
        assert found["token_accuracy"] == pytest.approx(metrics.accuracy_score(true, predicted))
        report = metrics.classification_report(true, predicted, output_dict=True, **strict)
    per_type = {name: scores for name, scores in report.items() if not name.endswith(" avg")}
    assert sorted(found["per_type"]) == sorted(per_type)
    for name, scores in per_type.items():
        ours = found["per_type"][name]
        assert ours["precision"] == pytest.approx(scores["precision"])
        assert ours["recall"] == pytest.approx(scores["recall"])
        assert ours["f1"] == pytest.approx(scores["f1-score"])
        assert ours["support"] == scores["support"]
    # The confusion matrix agrees with the scores: its diagonal is what was found, its rows the
    # true entities and its columns the predicted ones.
    labels, matrix = found["confusion"]["labels"], found["confusion"]["matrix"]
    for position, name in enumerate(labels[:-1]):
        ours = found["per_type"][name]
        assert sum(matrix[position]) == ours["support"]
        assert sum(row[position] for row in matrix) == ours["predicted"]
        assert matrix[position][position] == round(ours["recall"] * ours["support"])


def test_fast_on_ten_thousand_sentences():
    rng = random.Random(1)
    true = [_random_tags(rng, 20) for _ in range(10_000)]
    predicted = [_perturbed(rng, tags) for tags in true]
    started = time.perf_counter()
    entity_metrics(true, predicted)
    # Generous for a shared machine; a per-token slowdown would take several seconds.
    assert time.perf_counter() - started < 3.0
