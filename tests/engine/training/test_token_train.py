"""Token classification end to end on a tiny model: CoNLL and JSONL data in any tag scheme,
BIO label names, checkpoints stock transformers' pipeline reads as entities with character
offsets, our predictor on long texts, a test file's entity report (resume: test_tasks_train.py)."""

from __future__ import annotations

import json

import pytest

from ftstudio.engine.predict.file_evaluation import evaluate_file
from ftstudio.engine.predict.predictor import Predictor
from ftstudio.engine.training.train import train
from tests.engine.training.test_train import tiny_settings
from tests.task_data import write_ner

NAMES = ["O", "B-person", "I-person", "B-place", "I-place"]


@pytest.fixture(scope="module")
def ner_run(tiny_model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ner")
    data = write_ner(tmp / "train.conll", n=240)
    result = train(tiny_settings(tiny_model_dir, data, epochs=10, learning_rate=5e-3), tmp / "run")
    assert result.status == "finished", result.message
    return result, tmp


def test_a_conll_file_trains_a_token_classifier_with_bio_labels_and_entity_metrics(ner_run):
    result, _ = ner_run
    config = json.loads((result.run_dir / "best" / "config.json").read_text())
    assert config["architectures"] == ["BertForTokenClassification"]
    assert [config["id2label"][str(i)] for i in range(len(NAMES))] == NAMES
    records = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    info = next(r for r in records if r["event"] == "info")
    assert info["task"] == "token-classification" and info["best_metric"] == "entity_f1"
    last = [r for r in records if r["event"] == "eval"][-1]
    assert {"entity_f1", "entity_precision", "entity_recall", "token_accuracy", "per_type"} <= set(last)
    assert last["entity_f1"] > 0.8, last  # the tiny model learns which words are names and places


def test_stock_pipeline_returns_entities_by_type_with_character_offsets(ner_run):
    from transformers import pipeline

    result, _ = ner_run
    tagger = pipeline("token-classification", model=str(result.run_dir / "best"), aggregation_strategy="simple",
                      device="cpu")
    text = "the great love was on the seat"
    found = tagger(text)
    assert [(e["entity_group"], text[e["start"]:e["end"]]) for e in found] == [("person", "great love"),
                                                                               ("place", "seat")]


def test_the_predictor_finds_entities_in_texts_longer_than_the_window(ner_run):
    result, _ = ner_run
    predictor = Predictor(result.run_dir)
    assert predictor.task.name == "token-classification"
    text = " ".join(["the flight was on time"] * 20) + " and great was there"
    (prediction,) = predictor.predict(text)
    assert len(predictor.tokenizer(text)["input_ids"]) > predictor.max_length
    person = [e for e in prediction.entities if e["type"] == "person"]
    assert person and text[person[-1]["start"]:person[-1]["end"]] == "great" == person[-1]["text"]
    assert person[-1]["start"] > 100 and 0 < person[-1]["score"] <= 1
    assert prediction.to_dict()["entities"] == prediction.entities
    assert predictor.predict("the my a")[0].entities == []


def test_a_labelled_test_file_gets_entity_scores_per_type_a_confusion_and_the_sentences_behind_errors(ner_run):
    result, tmp = ner_run
    test_file = write_ner(tmp / "test.jsonl", n=60, seed=5, scheme="BIOES")
    report = evaluate_file(Predictor(result.run_dir), str(test_file))
    assert report["task"] == "token-classification" and report["rows"] == 60
    assert set(report["per_type"]) == {"person", "place"}
    assert report["confusion"]["labels"] == ["person", "place", "(none)"]
    assert report["entity_f1"] > 0.6
    for error in report["errors"]:
        assert error["tokens"] and error["true"] != error["predicted"]


@pytest.mark.parametrize("scheme, suffix", [("IOB1", ".txt"), ("BIOES", ".jsonl"), ("BIO", ".parquet")])
def test_every_scheme_and_file_shape_trains_on_bio_labels(tiny_model_dir, tmp_path, scheme, suffix):
    data = write_ner(tmp_path / f"ner{suffix}", n=80, scheme=scheme)
    result = train(tiny_settings(tiny_model_dir, data, epochs=1), tmp_path / "run")
    assert result.status == "finished", result.message
    config = json.loads((result.run_dir / "best" / "config.json").read_text())
    assert sorted(config["label2id"]) == sorted(NAMES)


def test_numeric_tags_train_with_their_names_and_a_test_file_reuses_them(tiny_model_dir, tmp_path):
    from tests.task_data import ner_sentences

    path = tmp_path / "ids.jsonl"
    path.write_text("".join(json.dumps({"tokens": words, "tags": [NAMES.index(t) for t in tags]}) + "\n"
                            for words, tags in ner_sentences(80)), encoding="utf-8")
    refused = train(tiny_settings(tiny_model_dir, path, epochs=1), tmp_path / "refused")
    assert refused.input_error and "numbers without names" in refused.message and "--tag-names" in refused.message
    result = train(tiny_settings(tiny_model_dir, path, epochs=1, tag_names=", ".join(NAMES)), tmp_path / "run")
    assert result.status == "finished", result.message
    config = json.loads((result.run_dir / "best" / "config.json").read_text())
    assert [config["id2label"][str(i)] for i in range(len(NAMES))] == NAMES
    report = evaluate_file(Predictor(result.run_dir), str(path))
    assert report["rows"] == 80 and set(report["per_type"]) == {"person", "place"}


def test_evaluation_scores_whole_sentences_and_words_only(tiny_model_dir):
    """Windows of a long sentence are joined before scoring (as a test file is), and with
    label_all_subtokens only the training split labels every sub-token."""
    from contextlib import nullcontext

    import datasets
    import numpy as np
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from ftstudio.engine.data.word_alignment import IGNORE, tokenize_words
    from ftstudio.engine.predict.entities import word_logits
    from ftstudio.engine.settings import TrainSettings
    from ftstudio.engine.tasks.registry import TASKS
    from ftstudio.engine.training.evaluation import evaluate
    from tests.task_data import ner_sentences

    task = TASKS["token-classification"]
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(str(tiny_model_dir), num_labels=len(NAMES)).eval()
    rows = ner_sentences(30, seed=4)
    words = [w + ["the", "seat-gate"] * 4 for w, _ in rows]  # long enough for several 10-token windows
    tags = [np.array([NAMES.index(t) for t in tg] + [0, 3] * 4) for (_, tg), _w in zip(rows, words, strict=True)]
    split, sources = tokenize_words(words, tags, tokenizer, 10, NAMES)
    assert len(split) > len(words) and sources.max() == len(words) - 1
    outputs, _loss = evaluate(model, split, task=task, task_state={}, device=torch.device("cpu"), autocast=nullcontext,
                              batch_size=8, pad_token_id=tokenizer.pad_token_id, label_names=NAMES)
    per_word = word_logits(model, tokenizer, words, 10, NAMES)
    predicted = [row.argmax(axis=-1) for row in per_word]
    accuracy = np.mean(np.concatenate([p == t for p, t in zip(predicted, tags, strict=True)]))
    assert outputs.metrics["token_accuracy"] == pytest.approx(accuracy)
    assert "errors" not in outputs.details

    settings = TrainSettings(max_length=32, label_all_subtokens=True)
    dataset = datasets.Dataset.from_dict({"text": [["great", "seat-gate"]], "label": [[1, 3]]})
    targets = np.empty(1, dtype=object)
    targets[0] = np.array([1, 3])
    measured = task.tokenize(dataset, targets, tokenizer, settings, NAMES)
    trained = task.tokenize(dataset, targets, tokenizer, settings, NAMES, training=True)
    assert (measured.labels[0] != IGNORE).sum() == 2
    assert (trained.labels[0] != IGNORE).sum() > 2
