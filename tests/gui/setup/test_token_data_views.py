"""The Setup tab's views of token-classification data, from made-up summaries and sentences: the
Task choice, the entity chart in the types' colours, the highlighted sentence preview, the split
sizes in sentences and words, the tag scheme and its repairs in words, and long sentences "split
into windows" rather than truncated."""

from __future__ import annotations

import pytest

from ftstudio.gui.entity_colours import entity_colour

REPAIR = "train split: 2 entities opened with I- (rows 3, 7); read as B-."


def entities_summary(counts=None, scheme="BIO", repairs=(), sentences=(120, 30), words=(1500, 380)):
    """A data summary as `engine.data.summary.summarize()` gives it for token classification."""
    counts = {"person": 40, "place": 12, "org": 3} if counts is None else counts
    labels = {}
    for split, n, w in zip(("train", "validation"), sentences, words, strict=True):
        tags = {"O": w - 80, **{f"B-{t}": c for t, c in counts.items()}}
        labels[split] = {"kind": "entities", "rows": n, "sentences": n, "tokens": w, "counts": dict(counts),
                         "tags": tags, "scheme": scheme, "repairs": list(repairs)}
    return {"source": "ner.conll", "task": "token-classification", "task_title": "Token classification",
            "text_column": "tokens", "text_pair_column": None, "label_column": "tags",
            "label_names": ["O", *[f"{p}-{t}" for t in counts for p in "BI"]],
            "rows": dict(zip(("train", "validation"), sentences, strict=True)), "labels": labels,
            "notes": ["Held out 30 training rows (20%, stratified, seed 42) as the validation split.", *repairs]}


SENTENCES = [
    {"words": ["Ada", "Lovelace", "visited", "Paris", "today"], "entities": [["person", 0, 2], ["place", 3, 4]]},
    {"words": ["nothing", "<here>", "&", "there"], "entities": []},
    {"words": ["ACME", "hired", "Bob"], "entities": [["org", 0, 1], ["person", 2, 3]]},
]


# ---------------------------------------------------------------- the task list
def test_token_classification_is_a_task_choice(qtbot):
    from ftstudio.engine.settings.train_settings import TASKS
    from ftstudio.gui.setup.data_panel import DataPanel

    panel = DataPanel()
    qtbot.addWidget(panel)
    combo = panel._choices.task_combo
    values = [combo.itemData(i) for i in range(combo.count())]
    assert values == list(TASKS)  # every task the settings accept, in their order
    assert combo.itemText(values.index("token-classification")) == "Token classification"
    assert "token classification" in combo.toolTip().lower()
    panel.shutdown()


# ---------------------------------------------------------------- the words
def test_split_sizes_scheme_and_repairs_read_in_words():
    from ftstudio.gui.setup.data_facts import (
        describe_data,
        notes_text,
        scheme_line,
        scheme_tooltip,
        split_sizes,
    )

    plain = entities_summary()
    assert split_sizes(plain) == "Sentences: train 120 (1,500 words), validation 30 (380 words)"
    assert scheme_line(plain) == "Tags: BIO; no repairs needed."
    assert scheme_tooltip(plain) == "BIO: B- opens an entity, I- continues it, O is outside."
    assert describe_data(plain) == "ner.conll: token classification, 3 entity types (person, place, org)"

    repaired = entities_summary(scheme="IOB1", repairs=[REPAIR])
    line = scheme_line(repaired)
    assert line == f"Tags: IOB1, converted to BIO. Repaired: {REPAIR}"
    assert scheme_tooltip(repaired).startswith("IOB1: I- opens an entity")
    assert REPAIR in scheme_tooltip(repaired)
    assert REPAIR not in notes_text(repaired) and "Held out 30" in notes_text(repaired)  # said once only

    many = entities_summary(scheme="BIOES", repairs=[f"repair {i}" for i in range(5)])
    assert scheme_line(many) == "Tags: BIOES, converted to BIO. Repaired: repair 0; repair 1; repair 2; and 2 more."
    assert scheme_tooltip(many).count("repair ") == 5

    classes = {"rows": {"train": 10}, "labels": {"train": {"kind": "classes", "counts": {"a": 10}}}, "notes": []}
    assert split_sizes(classes) == "Rows: train 10" and scheme_line(classes) == "" and scheme_tooltip(classes) == ""


# ---------------------------------------------------------------- the chart
def test_the_entity_chart_draws_each_type_in_its_colour(qtbot):
    from ftstudio.gui.setup.label_charts import LabelSummaryView

    view = LabelSummaryView()
    qtbot.addWidget(view)
    view.set_summary(entities_summary()["labels"]["train"], "tags")
    assert view.currentWidget() is view.entities
    assert view.title_text() == "3 entity types, 55 entities: 'person' 73%, 'org' 3"
    tip = view.entities.toolTip()
    assert "person: 40 (72.7%)" in tip and "of 1,500 words are outside any entity" in tip
    bars = view.entities._bars.opts
    assert [b for b in bars["brushes"]] == [entity_colour(t) for t in ("person", "place", "org")]
    assert bars["width"] == [40, 12, 3]  # most frequent first, on top

    view.set_summary(entities_summary(counts={})["labels"]["train"])
    assert "every word is tagged O" in view.entities._placeholder.text()


# ---------------------------------------------------------------- the preview
def test_the_preview_highlights_entities_in_their_colours(qtbot):
    from ftstudio.gui.setup.data_rows import ROWS_TAB, SENTENCES_TAB, DataRowsView
    from ftstudio.gui.setup.data_views import RawPreviewModel
    from ftstudio.gui.setup.entity_preview import sentence_html

    view = DataRowsView(RawPreviewModel())
    qtbot.addWidget(view)
    assert view.tabBar().isHidden() and view.currentIndex() == ROWS_TAB  # other tasks: the table alone

    view.show_sentences(SENTENCES)
    assert not view.tabBar().isHidden() and view.currentIndex() == SENTENCES_TAB
    assert view.tabText(SENTENCES_TAB) == "Sentences with entities (first 3 of train)"
    assert view.sentences.sentence_count() == 3
    html = sentence_html(SENTENCES[0]["words"], SENTENCES[0]["entities"])
    assert f"background-color:{entity_colour('person')}" in html and "Ada Lovelace" in html
    assert html.index("Ada Lovelace") < html.index("visited") < html.index("Paris") < html.index("today")
    assert "&lt;here&gt; &amp;" in sentence_html(SENTENCES[1]["words"], [])  # words are text, not markup
    text = view.sentences.toPlainText()
    assert "Ada Lovelace person" in text and "ACME org" in text and "<here> & there" in text

    view.show_sentences(None)
    assert view.tabBar().isHidden() and view.currentIndex() == ROWS_TAB
    assert view.sentences.sentence_count() == 0


# ---------------------------------------------------------------- long sentences
@pytest.mark.parametrize("split", [True, False])
def test_long_sentences_are_split_into_windows_not_truncated(qtbot, split):
    import numpy as np

    from ftstudio.engine.data.summary import length_stats
    from ftstudio.gui.setup.data_views import TokenLengthChart

    chart = TokenLengthChart()
    qtbot.addWidget(chart)
    stats = length_stats(np.array([10, 20, 30, 200]), 128)
    if split:
        stats["long_handling"] = "split"
    chart.set_stats(stats, sentences=split)
    title = chart.truncated_text()
    if split:
        assert title.startswith("Tokens per sentence") and "25.0% split into windows</b> at 128" in title
        assert "truncated" not in title and "every word is still trained on" in chart.toolTip()
    else:
        assert "25.0% truncated</b> at 128" in title and "will be cut" in chart.toolTip()
