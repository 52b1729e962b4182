"""A token-classification file test in detail: scores per entity type, a type confusion table,
and the sentences the model got wrong.

The numbers come from the engine's evaluation (`per_type`, `confusion`, `errors`); this file lays
them out. Each wrong sentence is shown twice, its true entities over the predicted ones, drawn as
the tester draws an answer (entity_view.py); the entities that differ between the two lines are
bold and underlined, and hovering one says what went wrong. A type filter narrows the list to the
sentences where that type was missed or wrongly predicted.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QComboBox, QFrame, QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from ftstudio.gui.style import muted_color
from ftstudio.gui.tester.confusion_view import ConfusionView
from ftstudio.gui.tester.entity_view import EntityText, entity_html, words_to_text
from ftstudio.gui.tester.per_label_table import PerLabelTable

ALL_TYPES = "All types"
NO_ENTITY = "(none)"  # the engine's confusion label for "no entity with these words"
CONFUSION_CAPTION = ("Rows: true type · Columns: predicted type · an entity is matched by its exact "
                     "words; (none): no entity with those words · Colour: share of the row · Click a cell for "
                     "its sentences")
MISSED = "Missed: the model did not find this entity with this type and these exact words."
WRONG = "Wrong: the true entities have none with this type and these exact words."
ERROR_LINES = 6  # the error list's least height in lines; it takes the room there is


def _differences(true: list[dict], predicted: list[dict]) -> None:
    """Mark (with a "note") the entities that have no twin of the same type and words on the
    other line: a display of the two lists, not a metric (the engine scored them)."""
    def key(entity: dict) -> tuple:
        return entity["type"], entity["start"], entity["end"]

    true_keys, predicted_keys = {key(e) for e in true}, {key(e) for e in predicted}
    for entity in true:
        if key(entity) not in predicted_keys:
            entity["note"] = MISSED
    for entity in predicted:
        if key(entity) not in true_keys:
            entity["note"] = WRONG


def error_sentence_html(error: dict, dark: bool | None = None) -> str:
    """One wrong sentence as rich text: a caption, then the true and the predicted entities."""
    tokens = error.get("tokens") or []
    text, true = words_to_text(tokens, error.get("true") or [])
    _, predicted = words_to_text(tokens, error.get("predicted") or [])
    _differences(true, predicted)
    muted = muted_color()
    number = int(error.get("sentence", 0)) + 1
    if not tokens:  # the engine had no words for it: say what differs, in spans
        return (f'<p style="color:{muted};">Sentence {number}: true {html.escape(str(error.get("true")))}, '
                f'predicted {html.escape(str(error.get("predicted")))}</p>')
    cell = f'style="color:{muted}; padding-right:8px;"'
    return (
        f'<p style="color:{muted}; margin-top:10px; margin-bottom:2px;">Sentence {number}</p>'
        '<table cellspacing="0" cellpadding="1">'
        f"<tr><td {cell}>True</td><td>{entity_html(text, true, dark)}</td></tr>"
        f"<tr><td {cell}>Predicted</td><td>{entity_html(text, predicted, dark)}</td></tr>"
        "</table>"
    )


def error_types(error: dict) -> set[str]:
    """The types of the entities that differ in one wrong sentence."""
    true = {tuple(s) for s in error.get("true") or []}
    predicted = {tuple(s) for s in error.get("predicted") or []}
    return {str(span[0]) for span in true ^ predicted}


def error_pairs(error: dict) -> set[tuple[str, str]]:
    """The (true type, predicted type) confusion cells one wrong sentence counts in, as the
    engine's type confusion counts them: spans matched exactly, "(none)" for no entity there."""
    true = {(int(s[1]), int(s[2])): str(s[0]) for s in error.get("true") or []}
    predicted = {(int(s[1]), int(s[2])): str(s[0]) for s in error.get("predicted") or []}
    pairs = {(kind, predicted.get(span, NO_ENTITY)) for span, kind in true.items()}
    pairs |= {(NO_ENTITY, kind) for span, kind in predicted.items() if span not in true}
    return {(t, p) for t, p in pairs if t != p}


def pair_label(true: str, predicted: str) -> str:
    """A confusion cell in words: 'person missed', 'place found where there is none', 'person
    taken as place'."""
    if predicted == NO_ENTITY:
        return f"{true} missed"
    if true == NO_ENTITY:
        return f"{predicted} found where there is none"
    return f"{true} taken as {predicted}"


class ErrorSentences(QWidget):
    """The wrong sentences (at most the engine's 200), filterable by entity type.

    `set_errors(errors, types)`; `shown()` returns the sentences listed (row indexes from 0);
    `type_filter` is the combo box. No signals.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.type_filter = QComboBox()
        self.type_filter.setToolTip("Show only the sentences where entities of this type were missed or wrong.")
        self.type_filter.currentIndexChanged.connect(self._on_filter)
        self.text = EntityText(max_lines=0, min_lines=ERROR_LINES)
        self.text.setAccessibleName("Sentences with mistakes")
        top = QHBoxLayout()
        top.addWidget(self.caption, 1)
        top.addWidget(QLabel("Show:"))
        top.addWidget(self.type_filter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.text, 1)
        self._errors: list[dict] = []
        self._shown: list[int] = []

    def set_errors(self, errors: Sequence[dict], types: Sequence[str] = ()) -> None:
        self._errors = [dict(e) for e in errors]
        found = set().union(*(error_types(e) for e in self._errors)) if self._errors else set()
        ordered = [t for t in types if t in found] + sorted(found - set(types))
        self.type_filter.blockSignals(True)
        self.type_filter.clear()
        self.type_filter.addItem(ALL_TYPES, "")
        for kind in ordered:
            self.type_filter.addItem(kind, kind)
        self.type_filter.blockSignals(False)
        self.type_filter.setVisible(bool(self._errors))
        self._render()

    def shown(self) -> list[int]:
        return list(self._shown)

    def set_type(self, kind: str) -> None:
        index = self.type_filter.findData(kind)
        self.type_filter.setCurrentIndex(max(index, 0))

    def set_pair(self, true: str, predicted: str) -> None:
        """Show the sentences behind one confusion cell (true type, predicted type); a correct
        cell (the same type) has none, so it shows the sentences with mistakes of that type."""
        if true == predicted:
            self.set_type(true)
            return
        data = f"{true}\t{predicted}"
        index = self.type_filter.findData(data)
        if index < 0:
            self.type_filter.addItem(pair_label(true, predicted), data)
            index = self.type_filter.count() - 1
        self.type_filter.setCurrentIndex(index)

    @Slot(int)
    def _on_filter(self, _index: int) -> None:
        self._render()

    def _render(self) -> None:
        kind = str(self.type_filter.currentData() or "")
        cell = tuple(kind.split("\t", 1)) if "\t" in kind else None  # a confusion cell: (true, predicted)
        if cell is not None:
            chosen = [e for e in self._errors if cell in error_pairs(e)]
        else:
            chosen = [e for e in self._errors if not kind or kind in error_types(e)]
        self._shown = [int(e.get("sentence", 0)) for e in chosen]
        self.caption.setText(self._caption(len(chosen), kind, pair_label(*cell) if cell else ""))
        self.text.setVisible(bool(chosen))
        self.text.set_renderer(lambda dark: "".join(error_sentence_html(e, dark) for e in chosen))

    def _caption(self, count: int, kind: str, cell: str = "") -> str:
        if not self._errors:
            return "Every sentence's entities are right."
        # The engine sends at most 200; then there may be more in the file.
        first = " (the first 200 of the file)" if len(self._errors) >= 200 else ""
        where = f" with {cell}" if cell else f" with {kind} mistakes" if kind else " with mistakes"
        return (f"{count} sentence{'s' if count != 1 else ''}{where}{first}: true entities over predicted; "
                "the ones that differ are underlined (hover for why).")


class EntityReport(QWidget):
    """Per-type scores beside the type confusion table, and the wrong sentences under them, in a
    scroll area (with many types the tables alone are taller than the tester's lower half).

    `show_evaluation(evaluation)` fills all three from the engine's evaluation dict; parts:
    `per_type` (PerLabelTable), `confusion` (ConfusionView), `errors` (ErrorSentences).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.per_type = PerLabelTable(entity_types=True)
        self.confusion = ConfusionView()
        self.errors = ErrorSentences()
        # A click on a confusion cell lists the sentences behind it.
        self.confusion.sig_cell_clicked.connect(self.errors.set_pair)
        tables = QHBoxLayout()
        tables.setContentsMargins(0, 0, 0, 0)
        tables.addWidget(self.per_type, 0, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        tables.addSpacing(16)
        # The rest of the width to the confusion view, so its caption reads on one or two lines.
        tables.addWidget(self.confusion, 1, Qt.AlignmentFlag.AlignTop)
        content = QWidget()
        inner = QVBoxLayout(content)
        inner.setContentsMargins(0, 0, 4, 0)
        inner.addLayout(tables)
        inner.addWidget(self.errors, 1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(content)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.scroll)

    def show_evaluation(self, evaluation: dict) -> None:
        per_type = dict(evaluation.get("per_type") or {})
        types = list(per_type)
        self.per_type.set_rows(per_type, None, types)
        confusion = evaluation.get("confusion") or {}
        if isinstance(confusion, dict):
            self.confusion.set_matrix(confusion.get("matrix") or [], list(confusion.get("labels") or []),
                                      CONFUSION_CAPTION)
        self.errors.set_errors(evaluation.get("errors") or [], types)
