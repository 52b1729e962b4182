"""The tester with a real token-classification checkpoint (no training): a tiny BERT with a
token head whose bias makes every word a person, so the answer is known without learning."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gui.tester.helpers import browse_to

pytest.importorskip("pytestqt")

WAIT_MS = 60_000  # first use of a checkpoint imports torch and loads the model
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


@pytest.fixture(scope="module")
def token_checkpoint(tmp_path_factory, tiny_model_dir) -> Path:
    """A BertForTokenClassification folder with B-/I- tags that tags every word B-PER."""
    import torch
    from transformers import AutoTokenizer, BertForTokenClassification

    folder = tmp_path_factory.mktemp("token-checkpoint") / "ner"
    model = BertForTokenClassification.from_pretrained(
        tiny_model_dir, num_labels=len(TAGS), id2label=dict(enumerate(TAGS)),
        label2id={t: i for i, t in enumerate(TAGS)})
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([0.0, 5.0, 0.0, 0.0, 0.0]))
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(folder)
    return folder


@pytest.fixture
def panel(qtbot, tmp_path, token_checkpoint):
    from ftstudio.gui.tester.panel import TesterPanel

    tester = TesterPanel(tmp_path / "runs")
    qtbot.addWidget(tester)
    browse_to(tester.picker, token_checkpoint)
    yield tester
    assert tester.shutdown()


def test_a_token_checkpoint_answers_with_highlighted_entities(qtbot, panel):
    from ftstudio.gui.tester.prediction_column import TOKENS

    text = "great crew on the plane"
    with qtbot.waitSignal(panel.sig_predicted, timeout=WAIT_MS) as got:
        panel.try_text(text)
    result = got.args[0]
    column = panel.column_a
    assert result["task"] == column.kind() == TOKENS
    assert [(e["text"], e["type"]) for e in result["entities"]] == [(w, "PER") for w in text.split()]
    assert all(text[e["start"]:e["end"]] == e["text"] for e in result["entities"])
    assert column.entities.entities() == result["entities"]
    assert column.predicted_label() == "5 entities"
    assert [row[:2] for row in column.entities.table.shown_rows()] == [[w, "PER"] for w in text.split()]
    assert not panel.order.isVisibleTo(panel)  # no bars to order
    assert "Ada Lovelace" in panel.examples.text()  # the worker said: a token model


def test_a_conll_file_test_shows_the_entity_report(qtbot, panel, tmp_path):
    rows = [("great", "B-LOC"), ("crew", "O"), ("", ""), ("the", "O"), ("plane", "B-PER"), ("", ""),
            ("my", "B-PER"), ("seat", "I-PER")]
    data = tmp_path / "test.conll"
    data.write_text("".join(f"{w} {t}\n" if w else "\n" for w, t in rows), encoding="utf-8")
    with qtbot.waitSignal(panel.sig_file_tested, timeout=WAIT_MS) as got:
        panel.test_file(data)
    evaluation = got.args[0]
    assert evaluation["task"] == "token-classification" and evaluation["rows"] == 3
    report = panel.entity_report
    assert report.isVisibleTo(panel) and not panel.confusion.isVisibleTo(panel)
    assert [r["label"] for r in report.per_type.rows()] == list(evaluation["per_type"])
    assert report.confusion.labels() == evaluation["confusion"]["labels"]
    assert report.errors.shown() == [e["sentence"] for e in evaluation["errors"]] == [0, 1, 2]
    assert "Entity F1" in panel.file_summary.text() and "3 sentences" in panel.file_summary.text()
