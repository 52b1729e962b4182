"""Token-classification data through the real data panel and Setup page: a CoNLL file found by
Automatic, its entities charted and highlighted, its sentences and words per split, the tag scheme
and its repairs in words, the words and tags columns, the sub-token switch enabled for it alone,
and bad token data refused inline in the engine's words."""

from __future__ import annotations

import json

import pytest

from tests.conftest import make_texts, write_csv
from tests.gui.setup.conftest import WAIT_MS, wait_loaded
from tests.task_data import write_ner

pytestmark = pytest.mark.usefixtures("temp_qsettings")


def _choose_task(qtbot, panel, task: str) -> None:
    combo = panel._choices.task_combo
    index = combo.findData(task)
    combo.setCurrentIndex(index)
    combo.activated.emit(index)
    wait_loaded(qtbot, panel)


def test_a_conll_file_shows_its_entities_sentences_and_scheme(qtbot, panel, tmp_path):
    from ftstudio.gui.entity_colours import entity_colour
    from ftstudio.gui.setup.data_rows import SENTENCES_TAB

    path = write_ner(tmp_path / "people.conll", n=160)
    panel.choose_file(str(path))
    wait_loaded(qtbot, panel, path)
    prepared, summary = panel.prepared(), panel.summary()
    assert panel.error() == "" and prepared.task.name == "token-classification"
    choices = panel._choices
    assert choices.task_combo.currentText() == "Automatic (token tags)"
    assert (choices.text_label.text(), choices.label_label.text()) == ("Words column", "Tags column")
    assert not choices.pair_combo.isEnabled() and choices.several.isHidden()
    assert panel._table_model.marks() == {"tokens": "words", "tags": "tags"}
    assert panel._message.text() == "people.conll: token classification, 2 entity types (person, place)"

    train = summary["labels"]["train"]
    splits = panel._splits.text()
    assert splits.startswith(f"Sentences: train {train['sentences']:,} ({train['tokens']:,} words), validation ")
    assert splits.endswith("\nTags: BIO; no repairs needed.")
    assert panel._splits.toolTip().startswith("BIO: B- opens an entity, I- continues it")

    view = panel._labels_view
    assert view.currentWidget() is view.entities
    assert view.title_text().startswith("2 entity types, ")
    assert view.entities._bars.opts["brushes"] == [entity_colour(t) for t in
                                                   sorted(train["counts"], key=lambda t: -train["counts"][t])]

    rows = panel._rows_view
    assert not rows.tabBar().isHidden() and rows.currentIndex() == SENTENCES_TAB
    first = prepared.splits["train"][0]["text"]
    shown = " ".join(rows.sentences.toPlainText().split())  # the chips pad their words with spaces
    assert rows.sentences.sentence_count() == 40 and shown.startswith(f"1 {first[0]} ")
    assert f"background-color:{entity_colour('person')}" in rows.sentences.toHtml().replace(" ", "") or \
        "person" not in train["counts"]


def test_another_scheme_is_named_as_converted_to_bio(qtbot, panel, tmp_path):
    scheme = "BIOES"
    path = write_ner(tmp_path / f"{scheme}.jsonl", n=120, scheme=scheme)
    panel.choose_file(str(path))
    wait_loaded(qtbot, panel, path)
    assert panel.error() == "" and panel.summary()["labels"]["train"]["scheme"] == scheme
    assert panel._splits.text().endswith(f"\nTags: {scheme}, converted to BIO; no repairs needed.")
    assert panel._splits.toolTip().startswith(f"{scheme}: B- opens an entity")


def test_repaired_tags_are_said_once_in_words(qtbot, panel, tmp_path):
    path = write_ner(tmp_path / "stray.jsonl", n=120)
    # One entity opened by an I- tag: not BIO; the engine reads it as B- and says so.
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[0] = json.dumps({"tokens": ["see", "Oslo", "now"], "tags": ["O", "I-place", "O"]})
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    panel.choose_file(str(path))
    wait_loaded(qtbot, panel, path)
    repairs = panel.summary()["labels"]["train"]["repairs"]
    assert panel.error() == "" and repairs
    assert "Repaired: " in panel._splits.text() and repairs[0] in panel._splits.text()
    for repair in repairs:
        assert repair in panel._splits.toolTip() and repair not in panel._notes.text()


def test_the_sub_token_switch_is_for_token_classification_only(qtbot, page, tmp_path):
    from ftstudio.engine.settings import setting_spec
    from ftstudio.gui.setup.setting_editors import setting_tooltip

    form = page.settings_panel
    switch = form.widget_for("label_all_subtokens")
    assert switch.text() == "Label every sub-token (token classification)"
    data = page.data_panel
    csv = write_csv(tmp_path / "texts.csv", make_texts(60))
    data.choose_file(str(csv))
    wait_loaded(qtbot, data, csv)
    assert not switch.isEnabled() and switch.toolTip().startswith("Only for token classification; this data "
                                                                  "trains single-label")
    conll = write_ner(tmp_path / "ner.txt", n=120)
    data.choose_file(str(conll))
    wait_loaded(qtbot, data, conll)
    assert switch.isEnabled() and switch.toolTip() == setting_tooltip(setting_spec("label_all_subtokens"))
    assert not form.widget_for("tune_thresholds").isEnabled()
    switch.setChecked(True)
    settings = page.gathered_settings()
    assert settings.label_all_subtokens is True and settings.data == str(conll)
    metric = form.widget_for("metric_for_best")
    assert metric.itemData(2) == "entity_f1"  # the task's own metrics are offered


def test_the_settings_form_enables_the_switch_by_task(qtbot):
    from ftstudio.gui.setup.settings_panel import SettingsPanel

    form = SettingsPanel()
    qtbot.addWidget(form)
    switch = form.widget_for("label_all_subtokens")
    assert switch.isEnabled()  # the task is not known yet
    for task in ("single-label", "multi-label", "regression"):
        form.set_task(task)
        assert not switch.isEnabled() and f"this data trains {task}" in switch.toolTip()
    form.set_task("token-classification")
    assert switch.isEnabled() and not form.widget_for("tune_thresholds").isEnabled()
    form.shutdown()


def _refusal(settings_data: str, **choices) -> str:
    """What the engine itself says about this data (the panel must show exactly that)."""
    from ftstudio.engine.data.prepare import prepare_data
    from ftstudio.engine.errors import DatasetError, user_message
    from ftstudio.engine.settings import TrainSettings

    with pytest.raises(DatasetError) as refused:
        prepare_data(TrainSettings(data=settings_data, **choices))
    return user_message(refused.value, "Cannot read this data")


@pytest.mark.parametrize("case", ["texts not words", "no tags", "unequal lengths"])
def test_bad_token_data_is_refused_inline_in_the_engines_words(qtbot, panel, tmp_path, case):
    path = tmp_path / "bad.jsonl"
    rows = {
        "texts not words": [{"tokens": f"{text}", "tags": ["O"]} for text, _ in make_texts(40)],
        "no tags": [{"tokens": text.split(), "tags": []} for text, _ in make_texts(40)],
        "unequal lengths": [{"tokens": text.split(), "tags": ["O"] * (len(text.split()) + 1)}
                            for text, _ in make_texts(40)],
    }[case]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    expected = _refusal(str(path), task="token-classification")
    panel.set_task("token-classification")
    panel.choose_file(str(path))
    wait_loaded(qtbot, panel, path)
    assert panel.prepared() is None and panel.error() == expected
    assert panel._message.text() == expected and panel._message.property("role") == "error"
    assert "Traceback" not in expected and "\n" not in expected
    assert panel._rows_view.tabBar().isHidden()  # no sentences to highlight; the raw rows stay
    assert panel._table_model.rowCount() == 40


def test_numeric_tags_are_refused_until_their_names_are_given(qtbot, panel, tmp_path):
    from tests.task_data import ner_sentences

    names = ["O", "B-person", "I-person", "B-place", "I-place"]
    path = tmp_path / "ids.jsonl"
    path.write_text("".join(json.dumps({"tokens": words, "tags": [names.index(t) for t in tags]}) + "\n"
                            for words, tags in ner_sentences(80)), encoding="utf-8")
    panel.choose_file(str(path))
    wait_loaded(qtbot, panel, path)
    assert panel.prepared() is None and "numbers without names" in panel.error()
    field = panel._choices.tag_names
    assert field.isVisibleTo(panel) and not panel._choices.separator.isVisibleTo(panel)
    field.setText(",".join(names))
    field.editingFinished.emit()
    wait_loaded(qtbot, panel)
    qtbot.waitUntil(lambda: panel.prepared() is not None, timeout=WAIT_MS)
    assert panel.prepared().label_names == names and panel.choices()["tag_names"] == ",".join(names)
