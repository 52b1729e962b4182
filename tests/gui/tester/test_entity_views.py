"""The tester's token-classification views on their own, fed the dicts the worker sends: the
highlighted text, the entity table, the answer column and the file report (no model needed)."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

TEXT = "Ada met <Bob & Co> in Paris"


def _entity(text: str, word: str, kind: str, score: float = 0.9) -> dict:
    start = text.index(word)
    return {"text": word, "type": kind, "score": score, "start": start, "end": start + len(word)}


def _visible_text(view) -> str:
    """The browser's text without the type labels and the hair spaces around them."""
    plain = view.toPlainText()
    for mark in ("\u200a", "\u202fPER", "\u202fORG", "\u202fLOC", "\u202fMISC"):
        plain = plain.replace(mark, "")
    return plain


def _evaluation() -> dict:
    tokens = ["Ada", "met", "<Bob", "&", "Co>", "in", "Paris"]
    errors = [
        {"sentence": 4, "tokens": tokens, "true": [["PER", 0, 1], ["ORG", 2, 5], ["LOC", 6, 7]],
         "predicted": [["PER", 0, 1], ["PER", 2, 5]]},
        {"sentence": 9, "tokens": ["Paris", "again"], "true": [["LOC", 0, 1]], "predicted": []},
    ]
    return {
        "task": "token-classification", "rows": 12, "label_names": ["O", "B-LOC", "I-LOC"],
        "entity_f1": 0.75, "entity_precision": 0.8, "entity_recall": 0.7, "token_accuracy": 0.9,
        "per_type": {
            "LOC": {"precision": 1.0, "recall": 0.5, "f1": 0.667, "support": 4, "predicted": 2},
            "ORG": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "predicted": 0},
            "PER": {"precision": 0.75, "recall": 1.0, "f1": 0.857, "support": 3, "predicted": 4},
        },
        "confusion": {"labels": ["LOC", "ORG", "PER", "(none)"],
                      "matrix": [[2, 0, 0, 2], [0, 0, 1, 0], [0, 0, 3, 0], [0, 0, 0, 0]]},
        "errors": errors,
    }


# ---------------------------------------------------------------------- colours
def test_entity_colours_are_fixed_per_type_and_differ_for_the_usual_types():
    from ftstudio.gui.entity_colours import entity_colour, entity_colours, entity_text_colour

    usual = ["PER", "LOC", "ORG", "MISC"]
    assert len({entity_colour(t, dark=False) for t in usual}) == 4
    assert len({entity_colour(t, dark=True) for t in usual}) == 4
    assert entity_colour("PERSON", dark=False) == entity_colour("per", dark=False)  # aliases, any case
    assert entity_colour("DISEASE", dark=False) == entity_colour("DISEASE", dark=False)
    assert entity_colour("DISEASE", dark=False) != entity_colour("DISEASE", dark=True)
    assert entity_colours("LOC", dark=True) == (entity_colour("LOC", dark=True), entity_text_colour(dark=True))


# ---------------------------------------------------------------------- rendering
def test_text_and_entities_are_escaped_not_read_as_markup(qtbot):
    from ftstudio.gui.tester.entity_view import EntityText, entity_html

    entities = [_entity(TEXT, "<Bob & Co>", "ORG")]
    markup = entity_html(TEXT, entities, dark=False)
    assert "&lt;Bob &amp; Co&gt;" in markup and "<Bob" not in markup
    view = EntityText()
    qtbot.addWidget(view)
    view.set_entities(TEXT, entities)
    assert _visible_text(view) == TEXT


def test_entities_at_both_ends_of_the_text_and_offsets_past_it(qtbot):
    from ftstudio.gui.tester.entity_view import EntityText, placed_entities

    first, last = _entity(TEXT, "Ada", "PER"), _entity(TEXT, "Paris", "LOC")
    beyond = {"text": "Paris", "type": "LOC", "score": 0.5, "start": len(TEXT) - 5, "end": len(TEXT) + 40}
    assert placed_entities(TEXT, [first, last]) == [(0, 0, 3), (1, len(TEXT) - 5, len(TEXT))]
    assert placed_entities(TEXT, [beyond]) == [(0, len(TEXT) - 5, len(TEXT))]  # clamped to the text
    assert placed_entities(TEXT, [{"type": "X", "start": 50, "end": 60}, {"type": "X", "start": 3, "end": 3}]) == []
    view = EntityText()
    qtbot.addWidget(view)
    view.set_entities(TEXT, [first, last])
    assert _visible_text(view) == TEXT
    assert view.toPlainText().startswith("\u200aAda\u202fPER")
    assert view.toPlainText().endswith("Paris\u202fLOC\u200a")


def test_entities_out_of_order_are_sorted_and_an_overlapping_one_is_not_drawn(qtbot):
    from ftstudio.gui.tester.entity_view import EntityText, placed_entities

    paris, ada = _entity(TEXT, "Paris", "LOC"), _entity(TEXT, "Ada", "PER")
    overlap = {"text": "da met", "type": "MISC", "score": 0.3, "start": 1, "end": 7}
    assert placed_entities(TEXT, [paris, overlap, ada]) == [(2, 0, 3), (0, 22, 27)]
    view = EntityText()
    qtbot.addWidget(view)
    view.set_entities(TEXT, [paris, overlap, ada])
    assert _visible_text(view) == TEXT  # every character once, in order
    assert "MISC" not in view.toPlainText()


def test_hovering_an_entity_gives_its_type_score_and_offsets(qtbot):
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QTextCursor

    from ftstudio.gui.tester.entity_view import EntityText

    view = EntityText()
    qtbot.addWidget(view)
    view.resize(500, 80)
    view.show()
    view.set_entities(TEXT, [_entity(TEXT, "Paris", "LOC", 0.873)])
    cursor = QTextCursor(view.document())
    cursor.setPosition(view.toPlainText().index("Paris") + 2)
    tip = view.tooltip_at(QPointF(view.cursorRect(cursor).center()))
    assert tip == "LOC · score 87.3% · characters 22–27"
    cursor.setPosition(2)  # inside "Ada", not an entity here
    assert view.tooltip_at(QPointF(view.cursorRect(cursor).center())) == ""


def test_long_text_scrolls_inside_its_box(qtbot):
    from ftstudio.gui.tester.entity_view import MAX_TEXT_LINES, EntityText

    view = EntityText()
    qtbot.addWidget(view)
    view.resize(300, 100)
    view.show()
    text = " ".join([TEXT] * 200)
    view.set_entities(text, [_entity(text, "Paris", "LOC")])
    assert view.height() <= view.fontMetrics().lineSpacing() * (MAX_TEXT_LINES + 2)
    assert view.verticalScrollBar().maximum() > 0


def test_words_to_text_gives_character_offsets_of_word_spans():
    from ftstudio.gui.tester.entity_view import words_to_text

    text, entities = words_to_text(["Ada", "met", "Bob", "Smith"], [["PER", 0, 1], ["PER", 2, 4], ["X", 3, 9]])
    assert text == "Ada met Bob Smith"
    assert [(e["text"], e["start"], e["end"]) for e in entities] == [("Ada", 0, 3), ("Bob Smith", 8, 17)]


# ---------------------------------------------------------------------- table and view
def test_entity_table_sorts_and_picking_a_row_selects_the_entity_in_the_text(qtbot):
    from PySide6.QtCore import Qt

    from ftstudio.gui.tester.entity_view import EntityView

    view = EntityView()
    qtbot.addWidget(view)
    view.resize(500, 300)
    view.show()
    entities = [_entity(TEXT, "Ada", "PER", 0.5), _entity(TEXT, "<Bob & Co>", "ORG", 0.99),
                _entity(TEXT, "Paris", "LOC", 0.75)]
    view.set_prediction(TEXT, entities)
    table = view.table
    assert [row[0] for row in table.shown_rows()] == ["Ada", "<Bob & Co>", "Paris"]  # text order
    assert table.shown_rows()[1] == ["<Bob & Co>", "ORG", "99.0%", "8–18"]
    table.sortByColumn(2, Qt.SortOrder.DescendingOrder)
    assert [row[2] for row in table.shown_rows()] == ["99.0%", "75.0%", "50.0%"]
    table.sortByColumn(1, Qt.SortOrder.AscendingOrder)
    assert [row[1] for row in table.shown_rows()] == ["LOC", "ORG", "PER"]
    table.selectRow(0)  # LOC: Paris, the third entity given
    assert view.text.textCursor().selectedText() == "Paris"
    view.set_prediction("nothing here", [])
    assert view.entities() == [] and not table.isVisibleTo(view)


def test_prediction_column_shows_entities_for_the_trained_and_the_base_model_alike(qtbot):
    from ftstudio.gui.tester.prediction_column import TOKENS, PredictionColumn

    column = PredictionColumn()
    qtbot.addWidget(column)
    column.show()
    entities = [_entity(TEXT, "Ada", "PER", 0.9), _entity(TEXT, "Paris", "LOC", 0.6)]
    column.show_prediction({"text": TEXT, "label": "PER: Ada; LOC: Paris", "score": 0.75, "entities": entities},
                           task=TOKENS)
    assert column.kind() == TOKENS and column.entities.isVisible() and not column.bars.isVisible()
    assert column.predicted_label() == "2 entities"
    assert column.confidence.text() == "LOC 1 · PER 1 · least sure 60%"
    assert column.entities.entities() == entities
    # Read from the fields when the task is not known; no entities is an answer too.
    column.show_prediction({"text": "hello", "label": "(no entities)", "score": 0.0, "entities": []})
    assert column.kind() == TOKENS and column.predicted_label() == "No entities"
    column.show_prediction({"label": "b", "score": 0.7, "probabilities": {"a": 0.3, "b": 0.7}})
    assert column.kind() == "single-label" and not column.entities.isVisible()


def test_text_entry_offers_examples_with_names_for_a_token_model(qtbot):
    from ftstudio.gui.tester.text_entry import ENTITY_EXAMPLES, EXAMPLES, TextEntry

    entry = TextEntry()
    qtbot.addWidget(entry)
    entry.set_entities(True)
    assert ENTITY_EXAMPLES[0] in entry.examples.text()
    with qtbot.waitSignal(entry.sig_submit):
        entry.examples.linkActivated.emit("1")
    assert entry.first() == ENTITY_EXAMPLES[1]
    entry.set_entities(False)
    assert EXAMPLES[0] in entry.examples.text()


# ---------------------------------------------------------------------- file report
def test_file_report_shows_metrics_types_confusion_and_the_wrong_sentences(qtbot):
    from ftstudio.gui.tester.file_test_box import FileTestBox

    box = FileTestBox()
    qtbot.addWidget(box)
    box.resize(1000, 700)
    box.show()
    box.show_evaluation(_evaluation(), "test.conll")
    summary = box.file_summary.text()
    assert summary.startswith("<b>Entity F1 0.750</b> · precision 0.800 · recall 0.700 · token accuracy 90.0%")
    assert "12 sentences (8 entities) from test.conll" in summary
    report = box.entities
    assert report.isVisible() and not box.confusion.isVisible() and not box.per_label.isVisible()
    assert [r["label"] for r in report.per_type.rows()] == ["LOC", "ORG", "PER"]
    assert report.per_type.columnCount() == 6  # no threshold column for entity types
    assert [report.per_type.item(2, c).text() for c in range(6)] == ["PER", "0.750", "1.000", "0.857", "3", "4"]
    assert report.confusion.labels() == ["LOC", "ORG", "PER", "(none)"]
    assert report.confusion.matrix()[1] == [0, 0, 1, 0]
    assert "exact" in report.confusion.caption.text()
    errors = report.errors
    assert errors.shown() == [4, 9] and errors.caption.text().startswith("2 sentences with mistakes")
    rendered = errors.text.toPlainText()
    assert "Sentence 5" in rendered and "Sentence 10" in rendered and "<Bob & Co>" in rendered
    assert [errors.type_filter.itemText(i) for i in range(errors.type_filter.count())] == [
        "All types", "LOC", "ORG", "PER"]
    errors.set_type("ORG")
    assert errors.shown() == [4] and errors.caption.text().startswith("1 sentence with ORG mistakes")
    errors.set_type("LOC")
    assert errors.shown() == [4, 9]
    # Another task's result hides the entity report again.
    box.show_evaluation({"task": "single-label", "rows": 2, "accuracy": 0.5, "f1": 0.5,
                         "confusion": [[1, 0], [1, 0]], "label_names": ["a", "b"]}, "x.csv")
    assert not report.isVisible() and box.confusion.isVisible()


def test_error_sentence_marks_the_entities_that_differ():
    from ftstudio.gui.tester.entity_report import MISSED, WRONG, error_sentence_html

    error = _evaluation()["errors"][0]
    markup = error_sentence_html(error, dark=False)
    assert "&lt;Bob &amp; Co&gt;" in markup and "<Bob" not in markup
    assert markup.count(MISSED) == 2  # ORG <Bob & Co> and LOC Paris
    assert markup.count(WRONG) == 1  # PER <Bob & Co>
    assert "Sentence 5" in markup


def test_a_report_without_mistakes_says_so(qtbot):
    from ftstudio.gui.tester.entity_report import EntityReport

    report = EntityReport()
    qtbot.addWidget(report)
    report.show()
    report.show_evaluation({**_evaluation(), "errors": []})
    assert report.errors.caption.text() == "Every sentence's entities are right."
    assert report.errors.shown() == [] and not report.errors.type_filter.isVisibleTo(report)


def test_entity_colours_follow_a_theme_switch(qtbot):
    from ftstudio.gui.entity_colours import entity_colour
    from ftstudio.gui.style import dark_palette
    from ftstudio.gui.tester.entity_view import EntityView

    view = EntityView()
    qtbot.addWidget(view)
    view.set_prediction(TEXT, [_entity(TEXT, "Paris", "LOC")])
    light, dark = entity_colour("LOC", dark=False), entity_colour("LOC", dark=True)
    assert light in view.text.toHtml() and view.table.item(0, 1).background().color().name() == light
    view.setPalette(dark_palette())
    assert dark in view.text.toHtml() and light not in view.text.toHtml()
    assert view.table.item(0, 1).background().color().name() == dark


def test_a_confusion_cell_lists_the_sentences_behind_it(qtbot):
    from ftstudio.gui.tester.entity_report import EntityReport, error_pairs

    errors = [
        {"sentence": 0, "tokens": ["ada", "went", "to", "paris"], "true": [["person", 0, 1], ["place", 3, 4]],
         "predicted": [["place", 0, 1], ["place", 3, 4]]},
        {"sentence": 4, "tokens": ["bob", "is", "here"], "true": [["person", 0, 1]], "predicted": []},
        {"sentence": 7, "tokens": ["rome", "and", "oslo"], "true": [["place", 0, 1]],
         "predicted": [["place", 0, 1], ["person", 2, 3]]},
    ]
    assert error_pairs(errors[0]) == {("person", "place")}
    assert error_pairs(errors[1]) == {("person", "(none)")}
    assert error_pairs(errors[2]) == {("(none)", "person")}
    report = EntityReport()
    qtbot.addWidget(report)
    labels = ["person", "place", "(none)"]
    report.show_evaluation({"per_type": {}, "errors": errors,
                            "confusion": {"labels": labels, "matrix": [[0, 1, 1], [0, 2, 0], [1, 0, 0]]}})
    view = report.confusion
    view.table.clicked.emit(view.model.index(0, 2))  # person missed
    assert report.errors.shown() == [4] and "1 sentence with person missed" in report.errors.caption.text()
    view.table.clicked.emit(view.model.index(0, 1))
    assert report.errors.shown() == [0] and report.errors.type_filter.currentText() == "person taken as place"
    view.table.clicked.emit(view.model.index(2, 0))  # a person where there was none
    assert report.errors.shown() == [7] and "person found where there is none" in report.errors.caption.text()
    view.table.clicked.emit(view.model.index(1, 1))  # a correct cell: that type's mistakes
    assert report.errors.shown() == [0] and report.errors.type_filter.currentData() == "place"
    report.errors.type_filter.setCurrentIndex(0)
    assert report.errors.shown() == [0, 4, 7]
