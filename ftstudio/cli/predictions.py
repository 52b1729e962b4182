"""`ftstudio predict`'s input and output: texts (and a pair model's second texts) in, one line
per prediction out (or JSON lines), and a test file's metrics as a table. A language model (a
pre-training run) prints its guesses for each mask, or its continuation and next-token
probabilities."""

from __future__ import annotations

import json
from typing import IO, Any

from ftstudio.engine.errors import SettingsError
from ftstudio.engine.tasks.metric_names import metric_label


def read_inputs(texts: list[str], pairs: list[str] | None, takes_pairs: bool,
                stdin: IO[str]) -> tuple[list[str], list[str] | None]:
    """The texts to predict, and their second texts for a pair model: from the arguments and
    --pair, or from stdin ('-'), where a pair is written text<TAB>second text."""
    if texts == ["-"]:
        lines = [line.rstrip("\n") for line in stdin if line.strip()]
        if not takes_pairs:
            return lines, None
        split = [line.split("\t", 1) for line in lines]
        missing = next((i for i, parts in enumerate(split) if len(parts) < 2), None)
        if missing is not None:
            raise SettingsError(f"Line {missing + 1} of stdin has no tab: this model compares pairs, so write each "
                                "line as text<TAB>second text.")
        return [p[0] for p in split], [p[1] for p in split]
    if takes_pairs and not pairs:
        raise SettingsError("This model compares pairs of texts: give each text's second text with --pair TEXT.")
    if pairs and not takes_pairs:
        raise SettingsError("This model reads single texts; --pair is only for models trained on text pairs.")
    if pairs and len(pairs) != len(texts):
        raise SettingsError(f"{len(texts)} texts but {len(pairs)} --pair texts: give one --pair per text.")
    return texts, pairs


def print_prediction(prediction: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(prediction.to_dict(), ensure_ascii=False))
        return
    text = prediction.text if prediction.text_pair is None else f"{prediction.text}  ||  {prediction.text_pair}"
    if prediction.entities is not None:
        print(f"{len(prediction.entities)} entities  {text}")
        for entity in prediction.entities:
            print(f"  {entity['type']:<16} {entity['score']:6.1%}  [{entity['start']}:{entity['end']}]  {entity['text']}")
        return
    if prediction.value is not None:
        print(f"{prediction.label} {prediction.value:.4g}  {text}")
    elif prediction.labels is not None:
        thresholds = prediction.thresholds or {}
        probs = "  ".join(f"{name} {p:5.1%}{'*' if p >= thresholds.get(name, 0.5) else ''}"
                          for name, p in prediction.probabilities.items())
        print(f"{prediction.label:<20} [{probs}]  {text}")
    else:
        probs = "  ".join(f"{name} {p:6.1%}" for name, p in prediction.probabilities.items())
        print(f"{prediction.label:<12} {prediction.score:6.1%}  [{probs}]  {text}")


def print_evaluation(result: dict[str, Any], as_json: bool) -> None:
    """A test file's metrics: the headline numbers, then the per-class or per-label table."""
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    from ftstudio.engine.tasks.registry import get_task

    task = get_task(result["task"])
    print(f"{task.title} on {result['rows']} {'sentences' if task.token_level else 'rows'}")
    for name in task.metric_names:
        print(f"  {metric_label(name):<18} {result[name]:.4f}")
    table = result.get("per_label") or result.get("per_class") or result.get("per_type")
    if table:
        what = "entity type" if "per_type" in result else "label"
        print(f"  {what:<24} {'precision':>9} {'recall':>7} {'F1':>7} {'support':>8}")
        for name, row in table.items():
            print(f"  {name[:24]:<24} {row['precision']:>9.3f} {row['recall']:>7.3f} {row['f1']:>7.3f} "
                  f"{row['support']:>8}")
    confusion = result.get("confusion")
    if "per_type" in result and confusion:
        print_entity_confusion(confusion)
    for note in result.get("notes") or []:
        print(f"Note: {note}")


def print_entity_confusion(confusion: dict[str, Any]) -> None:
    """Which entity types are taken for which: rows true, columns predicted ('(none)': no entity
    with that exact span)."""
    labels = confusion["labels"]
    width = max(10, *(len(name) for name in labels)) + 1
    print("  Entity types, true (rows) against predicted (columns):")
    print("  " + " " * width + "".join(f"{name[:width - 1]:>{width}}" for name in labels))
    for name, row in zip(labels, confusion["matrix"], strict=True):
        print(f"  {name[:width - 1]:<{width}}" + "".join(f"{count:>{width}}" for count in row))


# ------------------------------------------------------------------ language models
def language_model_answer(predictor: Any, text: str, top_k: int, max_new_tokens: int) -> dict[str, Any]:
    """One text's answer as a JSON-ready dict: {"text", "masks": [[candidate, ...] per mask]} for
    a masked LM, {"text", "continuation", "next_tokens"} for a causal one."""
    if predictor.objective == "masked":
        return {"text": text, "masks": predictor.fill_mask(text, top_k=top_k)}
    return {"text": text, **predictor.continue_text(text, max_new_tokens=max_new_tokens, top_k=top_k)}


def print_language_model_answer(answer: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(answer, ensure_ascii=False))
        return
    print(answer["text"])
    if "masks" in answer:
        masks = answer["masks"]
        for number, candidates in enumerate(masks, 1):
            if len(masks) > 1:
                print(f"  mask {number} of {len(masks)}:")
            indent = "    " if len(masks) > 1 else "  "
            for candidate in candidates:
                print(f"{indent}{candidate['token']:<20} {candidate['score']:6.1%}")
        if len(masks) == 1 and masks[0]:
            print(f"  best: {masks[0][0]['sequence']}")
        return
    print(f"  continuation: {shown_token(answer['continuation'])}")
    print("  next token:")
    for candidate in answer["next_tokens"]:
        print(f"    {shown_token(candidate['token']):<20} {candidate['score']:6.1%}")


def print_perplexity(result: dict[str, Any], file_name: str, as_json: bool) -> None:
    """A language model's perplexity and token accuracy on a text file, on one line."""
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    from ftstudio.engine.predict.text_perplexity import format_perplexity

    print(f"Perplexity {format_perplexity(result['perplexity'])} · token accuracy {result['token_accuracy']:.1%} on "
          f"{result['rows']:,} texts ({result['predicted_tokens']:,} predicted tokens) from {file_name}")


def shown_token(token: str) -> str:
    """A token as people can read it in a column: quoted, so a leading space or a line break shows."""
    return json.dumps(token, ensure_ascii=False)
