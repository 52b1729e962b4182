"""Setup for continued pre-training: the task choice, the label fields it hides, its settings
group, the objective and head lines for the chosen model (and Start refused for a model that
cannot pre-train), and the data panel on a plain-text corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gui.setup.conftest import WAIT_MS, wait_loaded

pytest.importorskip("pytestqt")


@pytest.fixture(scope="module")
def headless_dir(tmp_path_factory, tiny_model_dir) -> Path:
    """A tiny BertModel saved without its masked-LM head (as the embedded default is)."""
    from tests.language_models import build_headless_encoder

    return build_headless_encoder(tmp_path_factory.mktemp("headless") / "tiny-bert-bare", tiny_model_dir)


@pytest.fixture(scope="module")
def seq2seq_dir(tmp_path_factory, tiny_model_dir) -> Path:
    """A tiny T5 (with the tiny BERT's tokenizer files): sequence-to-sequence, which continued
    pre-training refuses."""
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    folder = tmp_path_factory.mktemp("t5") / "tiny-t5"
    config = T5Config(vocab_size=64, d_model=16, d_kv=4, d_ff=32, num_layers=1, num_decoder_layers=1, num_heads=2)
    T5ForConditionalGeneration(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(folder)
    return folder


@pytest.fixture
def corpus(tmp_path) -> Path:
    from tests.language_models import write_corpus

    return write_corpus(tmp_path / "corpus.txt", lines=200)


def wait_objective(qtbot, page, spec) -> str:
    """Wait until the Model panel has read `spec` and its pre-training plan; the lines shown."""
    objective = page.model_panel.objective
    qtbot.waitUntil(lambda: page.model_panel.model_spec() == str(spec) and not page.model_panel.is_busy()
                    and not objective.is_busy() and (objective.plan() is not None or objective.error() != ""),
                    timeout=WAIT_MS)
    return objective.text()


def test_pretraining_is_a_task_choice_that_hides_the_label_fields(panel):
    from ftstudio.engine.settings.train_settings import TASKS

    choices = panel._choices
    combo = choices.task_combo
    assert [combo.itemData(i) for i in range(combo.count())] == list(TASKS)
    assert combo.itemText(combo.findData("pretrain")) == "Continued pre-training"
    assert choices.no_labels.isHidden() and not choices.label_combo.isHidden()

    panel.set_task("multi-label")
    panel._choices._values.update(label_column="labels", text_pair_column="second", label_separator=";")
    panel.set_task("pretrain")
    for widget in (choices.label_combo, choices.label_label, choices.several, choices.pair_combo, choices.pair_label,
                   choices.separator, choices.separator_label, choices.tag_names):
        assert widget.isHidden()
    assert not choices.no_labels.isHidden()
    assert choices.no_labels.text() == "Pre-training reads only the text; labels are ignored"
    assert not choices.text_combo.isHidden()
    # Settings get no labels; choosing another task again brings the user's choices back.
    assert panel.choices()["task"] == "pretrain"
    assert [panel.choices()[n] for n in ("label_column", "text_pair_column", "label_separator")] == [None] * 3
    panel.set_task("multi-label")
    assert panel.choices()["label_column"] == "labels" and not choices.separator.isHidden()


def test_the_pretraining_settings_show_for_pretraining_only(qtbot):
    from PySide6.QtWidgets import QGroupBox

    from ftstudio.gui.setup.settings_panel import SettingsPanel

    form = SettingsPanel()
    qtbot.addWidget(form)
    box = next(b for b in form.findChildren(QGroupBox) if b.title() == "Pre-training")

    def shown(name: str) -> bool:
        return form._rows[name][1].isRowVisible(form.widget_for(name))

    for task in (None, "single-label", "token-classification"):
        form.set_task(task)
        assert box.isHidden() and not shown("mlm_probability") and not shown("pack_texts")
        assert shown("tune_thresholds") and shown("label_all_subtokens") and shown("classifier_dropout")
    form.set_task("pretrain")
    assert not box.isHidden()
    assert all(shown(n) and form.widget_for(n).isEnabled() for n in ("mlm_probability", "whole_word_masking",
                                                                       "pack_texts"))
    assert not shown("tune_thresholds") and not shown("label_all_subtokens")
    assert not shown("classifier_dropout")  # no classification head to drop out before
    metric = form.widget_for("metric_for_best")
    assert [metric.itemData(i) for i in range(metric.count())] == ["auto", "loss", "perplexity", "token_accuracy"]


def test_the_objective_follows_the_model_the_task_and_the_masking(qtbot, page, tiny_model_dir, headless_dir):
    objective = page.model_panel.objective
    page.model_panel.set_model_spec(str(headless_dir))
    qtbot.waitUntil(lambda: page.model_panel.model_info() is not None, timeout=WAIT_MS)
    assert objective.isHidden() and objective.text() == ""  # not pre-training: nothing said, nothing read

    page.data_panel.set_task("pretrain")
    text = wait_objective(qtbot, page, headless_dir)
    assert not objective.isHidden()
    assert text.splitlines()[0] == "Objective: masked-language modelling (15% of tokens masked)."
    assert "tiny-bert-bare has no masked-language-modelling head" in text and "a fresh head is trained" in text

    settings = page.settings_panel.settings()
    page.settings_panel.set_settings(settings.replace(mlm_probability=0.3, whole_word_masking=True))
    assert objective.text().splitlines()[0] == "Objective: masked-language modelling (30% of tokens masked, whole words)."

    page.model_panel.set_model_spec(str(tiny_model_dir))  # a BertForMaskedLM
    text = wait_objective(qtbot, page, tiny_model_dir)
    assert "tiny-bert has its masked-language-modelling head: pre-training continues from it." in text

    page.data_panel.set_task("single-label")
    assert objective.isHidden()


def test_a_decoder_predicts_every_next_token_so_masking_does_not_apply(qtbot, page, tmp_path):
    from tests.language_models import build_tiny_decoder

    decoder = build_tiny_decoder(tmp_path / "tiny-llama")
    masked_share = page.settings_panel.widget_for("mlm_probability")
    page.data_panel.set_task("pretrain")
    page.model_panel.set_model_spec(str(decoder))
    text = wait_objective(qtbot, page, decoder)
    assert text.splitlines() == [
        "Objective: next-token prediction (causal language modelling; every token is predicted).",
        "tiny-llama has its language-modelling head: pre-training continues from it."]
    assert not masked_share.isEnabled() and not page.settings_panel.widget_for("whole_word_masking").isEnabled()
    assert masked_share.toolTip().startswith("Only for masked-language modelling (encoders)")
    assert page.settings_panel.widget_for("pack_texts").isEnabled()
    page.model_panel.set_model_spec("default")
    wait_objective(qtbot, page, "default")
    assert masked_share.isEnabled()


def test_a_model_that_cannot_pretrain_is_said_inline_and_refused_at_start(qtbot, page, seq2seq_dir, corpus):
    page.data_panel.set_task("pretrain")
    page.data_panel.set_data(str(corpus))
    page.model_panel.set_model_spec(str(seq2seq_dir))
    text = wait_objective(qtbot, page, seq2seq_dir)
    error = page.model_panel.objective.error()
    assert "sequence-to-sequence" in error and text == f"Cannot continue pre-training: {error}"
    assert page.model_panel.objective.objective.property("role") == "error"
    wait_loaded(qtbot, page.data_panel, corpus)
    assert page.current_settings() is None
    assert page.problem.text() == f"Model: {error}" and not page.problem.isHidden()
    # Another task: the model is fine for it (as far as pre-training goes), so no refusal of this kind.
    page.data_panel.set_task("single-label")
    assert page.model_panel.objective.error() == ""


def test_the_default_model_says_it_gets_a_fresh_head(qtbot, page):
    page.data_panel.set_task("pretrain")
    text = wait_objective(qtbot, page, "default")
    assert text.startswith("Objective: masked-language modelling (15% of tokens masked).")
    assert "all-MiniLM-L6-v2" in text and "has no masked-language-modelling head" in text
    assert "a fresh head is trained" in text


def test_the_data_panel_reads_a_text_file_as_texts(qtbot, panel, corpus, tiny_model_dir):
    lines = [line for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    panel.set_model_spec(str(tiny_model_dir))
    panel.set_task("pretrain")
    panel.set_data(str(corpus))
    wait_loaded(qtbot, panel, corpus)
    assert panel.error() == ""
    prepared = panel.prepared()
    assert prepared.task.name == "pretrain" and prepared.label_names == []
    model = panel._table_model
    assert model.columnCount() == 1 and model.headerData(0, 1) == "text"  # 1: horizontal
    assert model.index(0, 0).data() == lines[0] and model.rowCount() == min(len(lines), 200)
    rows = {split: len(data) for split, data in prepared.splits.items()}
    assert panel._splits.text() == f"Texts: train {rows['train']:,}, validation {rows['validation']:,}"
    assert panel._message.text() == f"corpus.txt: continued pre-training on {rows['train']:,} training texts (no labels)"
    labels = panel._labels_view
    assert labels.currentWidget() is labels.texts
    characters = sum(len(text) for text in prepared.splits["train"]["text"])
    assert labels.title_text().startswith(f"{rows['train']:,} training texts, {characters:,} characters")
    chart = panel._lengths_chart
    qtbot.waitUntil(lambda: "blocks of 128" in chart.truncated_text(), timeout=WAIT_MS)
    assert "truncated" not in chart.truncated_text()


def test_a_table_gives_its_text_column_and_its_labels_are_ignored(qtbot, panel, small_csv):
    panel.set_task("pretrain")
    panel.set_data(str(small_csv))
    wait_loaded(qtbot, panel, small_csv)
    assert panel.error() == "" and panel.prepared().label_names == []
    assert panel._table_model.marks() == {"text": "text"}  # the label column is shown, not used
    assert panel._choices.text_combo.currentText() == "text"
    assert any("only" in note and "ignored" in note for note in panel.summary()["notes"])
