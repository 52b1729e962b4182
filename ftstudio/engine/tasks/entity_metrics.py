"""Entity-level scores of token classification: seqeval's strict IOB2 precision, recall and F1
(micro and per type), token accuracy, a type confusion matrix over exact spans, and the sentences
whose entities differ.

An entity counts as found only when a predicted entity has the same type and exactly the same
words (seqeval's mode="strict", scheme=IOB2). Zero divisions give 0.0, like seqeval's default.
Both tag lists must already be BIO (see tag_schemes.to_bio).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from operator import eq
from typing import Any

from ftstudio.engine.errors import DatasetError
from ftstudio.engine.tasks.tag_schemes import entity_spans, type_order

NO_ENTITY = "(none)"
MAX_ERROR_SENTENCES = 200

Span = tuple[str, int, int]


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    return _ratio(2 * precision * recall, precision + recall)


def _scores(found: int, predicted: int, support: int) -> dict[str, Any]:
    precision, recall = _ratio(found, predicted), _ratio(found, support)
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall),
            "support": support, "predicted": predicted}


def _check_shapes(true: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]],
                  tokens: Sequence[Sequence[str]] | None) -> None:
    if len(true) != len(predicted):
        raise DatasetError(f"{len(true)} sentences have true tags but {len(predicted)} have predicted "
                           "tags: predict one tag sequence for every sentence.")
    if tokens is not None and len(tokens) != len(true):
        raise DatasetError(f"{len(tokens)} sentences of words were given for {len(true)} tagged sentences.")
    for row, (true_tags, predicted_tags) in enumerate(zip(true, predicted)):
        if len(true_tags) != len(predicted_tags):
            raise DatasetError(f"Sentence {row + 1} has {len(true_tags)} true tags but "
                               f"{len(predicted_tags)} predicted tags: predict one tag for every word.")


def _confusion(pairs: Counter, types: list[str]) -> dict[str, Any]:
    labels = [*types, NO_ENTITY]
    index = {label: position for position, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for (true_type, predicted_type), count in pairs.items():
        matrix[index[true_type]][index[predicted_type]] += count
    return {"labels": labels, "matrix": matrix}


def _match_types(true_spans: list[Span], predicted_spans: list[Span], pairs: Counter) -> None:
    """Adds (true type, predicted type) for every entity, matched by exact span; an entity with no
    partner of the same span pairs with NO_ENTITY."""
    predicted_by_span = {(start, end): entity_type for entity_type, start, end in predicted_spans}
    true_positions = set()
    for entity_type, start, end in true_spans:
        true_positions.add((start, end))
        pairs[entity_type, predicted_by_span.get((start, end), NO_ENTITY)] += 1
    for position, entity_type in predicted_by_span.items():
        if position not in true_positions:
            pairs[NO_ENTITY, entity_type] += 1


def entity_metrics(true: list[list[str]], predicted: list[list[str]], max_error_sentences: int = MAX_ERROR_SENTENCES,
                   tokens: list[list[str]] | None = None) -> dict[str, Any]:
    """Scores of predicted BIO tag sequences against the true ones (one list of tags per sentence).

    Returns entity_precision, entity_recall, entity_f1 (micro over all entities), token_accuracy
    (share of words whose tag equals the true one, O included), per_type {type: precision, recall,
    f1, support, predicted}, confusion {labels: [types..., "(none)"], matrix: rows true, columns
    predicted} and errors: the first `max_error_sentences` sentences whose entities differ, as
    {sentence (row index from 0), tokens (that row's words, or None), true, predicted:
    [[type, start, end exclusive], ...]}."""
    _check_shapes(true, predicted, tokens)
    support: Counter = Counter()
    predicted_counts: Counter = Counter()
    found: Counter = Counter()
    pairs: Counter = Counter()
    errors: list[dict[str, Any]] = []
    same_tags = words = 0
    for row, (true_tags, predicted_tags) in enumerate(zip(true, predicted)):
        words += len(true_tags)
        same_tags += sum(map(eq, true_tags, predicted_tags))
        true_spans, predicted_spans = entity_spans(true_tags), entity_spans(predicted_tags)
        support.update(entity_type for entity_type, _, _ in true_spans)
        predicted_counts.update(entity_type for entity_type, _, _ in predicted_spans)
        if true_spans == predicted_spans:  # both come in text order, so equal sets are equal lists
            found.update(entity_type for entity_type, _, _ in true_spans)
            pairs.update((entity_type, entity_type) for entity_type, _, _ in true_spans)
            continue
        found.update(entity_type for entity_type, _, _ in set(true_spans) & set(predicted_spans))
        _match_types(true_spans, predicted_spans, pairs)
        if len(errors) < max_error_sentences:
            errors.append({"sentence": row, "tokens": list(tokens[row]) if tokens is not None else None,
                           "true": [list(span) for span in true_spans],
                           "predicted": [list(span) for span in predicted_spans]})
    types = sorted(support.keys() | predicted_counts.keys(), key=type_order)
    overall = _scores(sum(found.values()), sum(predicted_counts.values()), sum(support.values()))
    return {
        "entity_precision": overall["precision"],
        "entity_recall": overall["recall"],
        "entity_f1": overall["f1"],
        "token_accuracy": _ratio(same_tags, words),
        "per_type": {entity_type: _scores(found[entity_type], predicted_counts[entity_type], support[entity_type])
                     for entity_type in types},
        "confusion": _confusion(pairs, types),
        "errors": errors,
    }
