"""The data panel's rows: the raw rows table and, for token classification, the training
sentences with their entities highlighted in a tab before it (other tasks have the table alone,
with no tab bar)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QTableView, QTabWidget, QWidget

from ftstudio.gui.setup.data_views import RawPreviewModel
from ftstudio.gui.setup.entity_preview import EntityPreview

SENTENCES_TAB, ROWS_TAB = 0, 1


class DataRowsView(QTabWidget):
    """The raw rows (`table`, over a RawPreviewModel) and the highlighted sentences (`sentences`)."""

    def __init__(self, model: RawPreviewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDocumentMode(True)
        self.table = QTableView()
        self.table.setObjectName("dataPreview")
        self.table.setModel(model)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.sentences = EntityPreview()
        self.insertTab(SENTENCES_TAB, self.sentences, "Sentences")
        self.insertTab(ROWS_TAB, self.table, "Raw rows")
        self.show_sentences(None)

    def show_sentences(self, sentences: list[dict[str, Any]] | None) -> None:
        """Show the highlighted sentences first (None: not token data; only the table shows)."""
        token_data = sentences is not None
        self.setTabVisible(SENTENCES_TAB, token_data)
        self.tabBar().setVisible(token_data)
        if sentences is not None:
            self.sentences.set_sentences(sentences)
            self.setTabText(SENTENCES_TAB, f"Sentences with entities (first {len(sentences)} of train)")
        else:
            self.sentences.set_sentences([])
        self.setCurrentIndex(SENTENCES_TAB if token_data else ROWS_TAB)

    def fit_columns(self, pairs: bool = False) -> None:
        """Size columns to their contents, but no column (a long text) may hide the others."""
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        self.table.resizeColumnsToContents()
        # Two texts side by side (a pair) share the width; one text may take most of it.
        share = 0.35 if pairs else 0.6
        limit = max(120, int(self.table.viewport().width() * share))
        for column in range(self.table.model().columnCount()):
            header.resizeSection(column, min(header.sectionSize(column), limit))
        header.setStretchLastSection(True)
