"""A token-classification answer: the text with its entities highlighted, and a table of them.

Each entity is drawn inline on its type's colour (entity_colours.py, the same colour everywhere in
the app) with the type as a small label after it; hovering it shows its score and offsets. The
table below lists every entity (text, type, score, character offsets) and sorts by any column;
picking a row scrolls the text to that entity and selects it. Text and entities are data: every
piece is HTML-escaped, and offsets outside the text or overlapping an earlier entity are clamped
or left unhighlighted (they still appear in the table), so no answer can break the rendering.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QPointF, Qt, Signal, Slot
from PySide6.QtGui import QColor, QPalette, QTextCursor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from ftstudio.gui.entity_colours import entity_colours

ANCHOR = "entity-{}"
MAX_TEXT_LINES = 12  # past this the text scrolls inside its box
MAX_TABLE_ROWS = 10  # past this the entity table scrolls
TABLE_COLUMNS = ("Text", "Type", "Score", "Offsets")
_SORT_ROLE = Qt.ItemDataRole.UserRole + 1
_INDEX_ROLE = Qt.ItemDataRole.UserRole + 2


# ---------------------------------------------------------------------- rendering (no widgets)
def placed_entities(text: str, entities: Sequence[dict]) -> list[tuple[int, int, int]]:
    """(index into `entities`, start, end) of the entities that can be drawn, in text order:
    offsets clamped to the text, empty spans and spans overlapping an earlier one left out."""
    spans = []
    for index, entity in enumerate(entities):
        try:
            start, end = int(entity.get("start", 0)), int(entity.get("end", 0))
        except (TypeError, ValueError):
            continue
        start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
        if end > start:
            spans.append((start, end, index))
    placed, reached = [], 0
    for start, end, index in sorted(spans):
        if start >= reached:  # overlap: the earlier (then longer-first) entity keeps the words
            placed.append((index, start, end))
            reached = end
    return placed


def _plain(text: str) -> str:
    # A carriage return would render as a second line break; a space keeps every offset.
    return html.escape(text.replace("\r", " "), quote=False)


def entity_tooltip(entity: dict) -> str:
    """What hovering an entity says: type, score, offsets, and a note (file report)."""
    parts = [str(entity.get("type", ""))]
    score = entity.get("score")
    if isinstance(score, (int, float)):
        parts.append(f"score {float(score) * 100:.1f}%")
    if "start" in entity and "end" in entity:
        parts.append(f"characters {entity['start']}–{entity['end']}")
    tip = " · ".join(parts)
    return f"{tip}\n{entity['note']}" if entity.get("note") else tip


def entity_html(text: str, entities: Sequence[dict], dark: bool | None = None) -> str:
    """`text` as rich text with each entity on its type's colour, its type after it in small
    bold letters (joined by a no-break space: a line never ends between the two), a tooltip with its score, and an anchor per entity (ANCHOR by index). An entity
    with a "note" (the file report's mismatches) is drawn bold and underlined."""
    out, position = [], 0
    for index, start, end in placed_entities(text, entities):
        entity = entities[index]
        kind = str(entity.get("type", ""))
        background, foreground = entity_colours(kind, dark)
        decoration = "font-weight:600; text-decoration:underline;" if entity.get("note") else ""
        out.append(_plain(text[position:start]))
        out.append(
            f'<a name="{ANCHOR.format(index)}"></a>'
            f'<span title="{html.escape(entity_tooltip(entity))}" '
            f'style="background-color:{background}; color:{foreground}; {decoration}">'
            f"&#8202;{_plain(text[start:end])}"
            f'<span style="font-size:7pt; font-weight:700; text-decoration:none;">&#8239;{html.escape(kind).replace(" ", "&nbsp;")}'
            f"&#8202;</span></span>"
        )
        position = end
    out.append(_plain(text[position:]))
    return f'<div style="white-space:pre-wrap;">{"".join(out)}</div>'


def words_to_text(tokens: Sequence[str], spans: Sequence[Sequence[Any]]) -> tuple[str, list[dict]]:
    """The words joined by spaces, and the word spans [[type, start_word, end_word), ...] as
    entities with character offsets into that text (for the file report's sentences)."""
    words = [str(t) for t in tokens]
    starts, position = [], 0
    for word in words:
        starts.append(position)
        position += len(word) + 1
    text = " ".join(words)
    entities = []
    for span in spans:
        kind, first, last = str(span[0]), int(span[1]), int(span[2])
        if not 0 <= first < last <= len(words):
            continue
        start, end = starts[first], starts[last - 1] + len(words[last - 1])
        entities.append({"text": text[start:end], "type": kind, "start": start, "end": end})
    return text, entities


# ---------------------------------------------------------------------- widgets
def palette_is_dark(widget: QWidget) -> bool:
    """Whether `widget` is drawn dark now (its own palette: right during a live theme switch)."""
    return widget.palette().color(QPalette.ColorRole.Base).lightness() < 128


class EntityText(QTextBrowser):
    """Read-only rich text with entity tooltips; grows with its text up to `max_lines`, then
    scrolls (`max_lines=0`: takes the room its layout gives, at least `min_lines`).
    `set_entities(text, entities)`, or `set_renderer(render)` for any rich text made by
    `render(dark)`; both follow a theme switch. `select_entity(index)` selects an entity's words."""

    def __init__(self, parent: QWidget | None = None, max_lines: int = MAX_TEXT_LINES, min_lines: int = 1) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        # Selectable, but the entity anchors are not links: no keyboard link focus drawn on them.
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                     | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        self.setAccessibleName("Text with entities")
        self._max_lines = max_lines
        line = self.fontMetrics().lineSpacing()
        if max_lines:
            self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        else:
            self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
            self.setMinimumHeight(line * min_lines + 2 * self.frameWidth() + 8)
        self._entities: list[dict] = []
        self._render: Callable[[bool], str] | None = None
        self._fit_height()

    def set_entities(self, text: str, entities: Sequence[dict]) -> None:
        entities = [dict(e) for e in entities]
        self.set_renderer(lambda dark: entity_html(text, entities, dark))
        self._entities = entities

    def set_renderer(self, render: Callable[[bool], str]) -> None:
        """Show `render(dark)`, and render again when the theme changes."""
        self._entities, self._render = [], render
        self.setHtml(render(palette_is_dark(self)))
        self._fit_height()

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        # The entity colours are baked into the rich text: draw it again for the new theme.
        if event.type() == event.Type.PaletteChange and self._render is not None:
            scrolled = self.verticalScrollBar().value()
            self.setHtml(self._render(palette_is_dark(self)))
            self.verticalScrollBar().setValue(scrolled)
        super().changeEvent(event)

    def tooltip_at(self, point: QPointF) -> str:
        """The tooltip of the character under `point` (viewport coordinates), "" if none."""
        offset = QPointF(self.horizontalScrollBar().value(), self.verticalScrollBar().value())
        position = self.document().documentLayout().hitTest(point + offset, Qt.HitTestAccuracy.ExactHit)
        if position < 0:
            return ""
        cursor = QTextCursor(self.document())
        cursor.setPosition(min(position + 1, self.document().characterCount() - 1))
        return cursor.charFormat().toolTip()

    def select_entity(self, index: int) -> bool:
        """Scroll to entity `index` (of the list given) and select its words."""
        name = ANCHOR.format(index)
        block = self.document().begin()
        while block.isValid():
            fragments = block.begin()
            while not fragments.atEnd():
                fragment = fragments.fragment()
                if name in fragment.charFormat().anchorNames():
                    length = len(str(self._entities[index].get("text", ""))) if index < len(self._entities) else 0
                    cursor = QTextCursor(self.document())
                    # The anchor sits just before the hair space that opens the entity.
                    cursor.setPosition(fragment.position() + 1)
                    cursor.setPosition(fragment.position() + 1 + max(length, 1), QTextCursor.MoveMode.KeepAnchor)
                    self.setTextCursor(cursor)
                    self.ensureCursorVisible()
                    return True
                fragments += 1
            block = block.next()
        return False

    def viewportEvent(self, event) -> bool:  # noqa: N802 (Qt name)
        # QTextBrowser keeps the spans' titles as tooltips but never shows them itself.
        if event.type() == event.Type.ToolTip:
            tip = self.tooltip_at(QPointF(event.pos()))
            if tip:
                QToolTip.showText(event.globalPos(), tip, self.viewport())
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().viewportEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._fit_height()

    def _fit_height(self) -> None:
        if not self._max_lines:
            return
        document = self.document()
        document.setTextWidth(max(self.viewport().width(), 50))
        line = self.fontMetrics().lineSpacing()
        wanted = document.size().height() if document.characterCount() > 1 else line
        frame = 2 * self.frameWidth() + 4
        height = int(min(max(wanted, line * 1.5), line * self._max_lines + document.documentMargin() * 2)) + frame
        if height != self.height():
            self.setFixedHeight(height)


class _SortItem(QTableWidgetItem):
    """A cell that sorts by the value stored under _SORT_ROLE (numbers as numbers)."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(_SORT_ROLE), other.data(_SORT_ROLE)
        if mine is None or theirs is None:
            return super().__lt__(other)
        return mine < theirs


class EntityTable(QTableWidget):
    """Every entity as a row: text, type (on its colour), score and character offsets; sortable
    by clicking a header. Rows keep the entity's index in the list given, whatever the order.

    Signals:
      sig_entity_picked(int): the user picked a row; the entity's index in the list given.
    """

    sig_entity_picked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(TABLE_COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(TABLE_COLUMNS))
        self.horizontalHeaderItem(2).setToolTip("How sure the model is of this entity (0–100%).")
        self.horizontalHeaderItem(3).setToolTip("Where the entity is in the text: first and one past last character.")
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setMinimumSectionSize(64)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setSortingEnabled(True)
        self.sortByColumn(3, Qt.SortOrder.AscendingOrder)  # text order until the user sorts
        self.itemSelectionChanged.connect(self._on_selection)
        self._entities: list[dict] = []
        self._fit_height()

    def set_entities(self, entities: Sequence[dict]) -> None:
        self._entities = [dict(e) for e in entities]
        sorting = self.isSortingEnabled()
        self.setSortingEnabled(False)  # filling a sorted table moves rows under our feet
        self.clearContents()
        self.setRowCount(len(self._entities))
        for row, entity in enumerate(self._entities):
            for column, item in enumerate(self._cells(entity)):
                item.setData(_INDEX_ROLE, row)
                self.setItem(row, column, item)
        self.setSortingEnabled(sorting)
        self._fit_height()

    def entities(self) -> list[dict]:
        return [dict(e) for e in self._entities]

    def shown_rows(self) -> list[list[str]]:
        """The cells' texts in the order shown (after sorting)."""
        return [[self.item(r, c).text() for c in range(self.columnCount())] for r in range(self.rowCount())]

    def _cells(self, entity: dict) -> list[QTableWidgetItem]:
        kind = str(entity.get("type", ""))
        score = entity.get("score")
        start, end = entity.get("start"), entity.get("end")
        text = _SortItem(str(entity.get("text", "")).replace("\n", " "))
        text.setData(_SORT_ROLE, str(entity.get("text", "")).casefold())
        label = _SortItem(kind)
        label.setData(_SORT_ROLE, kind.casefold())
        background, foreground = entity_colours(kind, palette_is_dark(self))
        label.setBackground(QColor(background))
        label.setForeground(QColor(foreground))
        known = isinstance(score, (int, float))
        value = _SortItem(f"{float(score) * 100:.1f}%" if known else "–")
        value.setData(_SORT_ROLE, float(score) if known else -1.0)
        offsets = _SortItem(f"{start}–{end}")
        offsets.setData(_SORT_ROLE, (int(start or 0), int(end or 0)))
        for item in (value, offsets):
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        text.setToolTip(entity_tooltip(entity))
        return [text, label, value, offsets]

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if event.type() == event.Type.PaletteChange and self._entities:
            self.set_entities(self._entities)  # type cells take the new theme's colours
        super().changeEvent(event)

    def _fit_height(self) -> None:
        rows = max(1, min(self.rowCount(), MAX_TABLE_ROWS))
        height = self.horizontalHeader().sizeHint().height() + rows * self.verticalHeader().defaultSectionSize()
        self.setFixedHeight(height + 2 * self.frameWidth() + 2)

    @Slot()
    def _on_selection(self) -> None:
        items = self.selectedItems()
        if items:
            self.sig_entity_picked.emit(int(items[0].data(_INDEX_ROLE)))


class EntityView(QWidget):
    """The highlighted text over the entity table (one model's token-classification answer).

    `set_prediction(text, entities)` shows an answer, `clear()` empties both; `entities()`
    returns what is shown. No signals: picking a table row selects the entity in the text.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = EntityText()
        self.table = EntityTable()
        self.table.sig_entity_picked.connect(self.text.select_entity)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.text)
        layout.addWidget(self.table)

    def set_prediction(self, text: str, entities: Sequence[dict]) -> None:
        self.text.set_entities(text, entities)
        self.table.set_entities(entities)
        self.table.setVisible(bool(entities))

    def clear(self) -> None:
        self.set_prediction("", [])

    def entities(self) -> list[dict]:
        return self.table.entities()
