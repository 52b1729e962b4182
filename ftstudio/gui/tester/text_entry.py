"""Where the user types for the tester: the text, a second text for pair models, examples.

A model trained on pairs of texts (premise and hypothesis, question and passage, tweet and
statement) needs both to predict, so the second box appears only for such a model
(`set_pairs(True)`), and the example links then fill both boxes. A token-classification model
(`set_entities(True)`) gets examples with people, places and organisations to find.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from ftstudio.gui.style import muted_color

# Short, varied sentences matching the embedded airline-tweet sample, so a first-time user sees
# each class light up without having to invent text.
EXAMPLES = (
    "Great crew, thanks for a lovely flight!",
    "Delayed again and my bag is lost.",
    "Which gate is the 9am flight?",
)
# For a pair model: a tweet and a statement about its writer (as in the embedded pairs sample).
PAIR_EXAMPLES = (
    ("Great crew, thanks for a lovely flight!", "The writer is pleased with the airline."),
    ("Delayed again and my bag is lost.", "The writer is pleased with the airline."),
    ("Which gate is the 9am flight?", "The writer feels neutral about the airline."),
)
# For a token-classification model: names of the usual kinds (people, places, organisations).
ENTITY_EXAMPLES = (
    "Ada Lovelace worked with Charles Babbage in London.",
    "Angela Merkel met Emmanuel Macron at the United Nations in New York.",
    "Apple opened a new office in Berlin in March 2023.",
)
SINGLE_PLACEHOLDER = "Type a sentence and press Enter (it also predicts as you type)"
PAIR_PLACEHOLDER = "First text of the pair (press Enter, or pause typing, to predict)"


class TextEntry(QWidget):
    """The text box, Predict button and bar order on one line; the second text box under it
    (pair models only); example links under both.

    Signals:
      sig_submit(): predict now (Enter in either box, the Predict button, an example link).
      sig_edited(): the user changed a text (the panel predicts once typing pauses).
      sig_order_changed(str): "sorted" or "labels", the order of the bars.
    """

    sig_submit = Signal()
    sig_edited = Signal()
    sig_order_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pairs = False
        self._entities = False
        self.text = self._line_edit(SINGLE_PLACEHOLDER)
        self.second_text = self._line_edit("The second text of the pair")
        self.second_text.setAccessibleName("Second text")
        self.first_label = QLabel("First text:")
        self.first_label.setBuddy(self.text)
        self.second_label = QLabel("Second text:")
        self.second_label.setBuddy(self.second_text)
        # One width for both captions, so the two boxes start at the same place.
        width = max(self.first_label.sizeHint().width(), self.second_label.sizeHint().width())
        for caption in (self.first_label, self.second_label):
            caption.setFixedWidth(width)
        self.predict_button = QPushButton("Predict")
        self.predict_button.clicked.connect(self._on_submit)
        self.order = QComboBox()
        self.order.addItem("Most likely first", "sorted")
        self.order.addItem("Label order", "labels")
        self.order.currentIndexChanged.connect(self._on_order_index)
        # Examples as links in one word-wrapped label: they wrap on a narrow window, where a
        # row of buttons would force the whole window wider.
        self.examples = QLabel()
        self.examples.setWordWrap(True)
        self.examples.setTextFormat(Qt.TextFormat.RichText)
        self.examples.setToolTip("Click an example to predict it")
        self.examples.linkActivated.connect(self._on_example)

        first_row = QHBoxLayout()
        first_row.addWidget(self.first_label)
        first_row.addWidget(self.text, 1)
        first_row.addWidget(self.predict_button)
        first_row.addWidget(self.order)
        second = QHBoxLayout()
        second.setContentsMargins(0, 0, 0, 0)
        second.addWidget(self.second_label)
        second.addWidget(self.second_text, 1)
        self.second_row = QWidget()
        self.second_row.setLayout(second)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(first_row)
        layout.addWidget(self.second_row)
        layout.addWidget(self.examples)
        self.set_pairs(False)

    def _line_edit(self, placeholder: str) -> QLineEdit:
        edit = QLineEdit()
        edit.setPlaceholderText(placeholder)
        edit.setClearButtonEnabled(True)
        edit.returnPressed.connect(self._on_submit)
        edit.textEdited.connect(self._on_edited)
        return edit

    # ------------------------------------------------------------------ public
    def set_pairs(self, pairs: bool) -> None:
        """Show the second box (and pair examples) for a model that takes pairs of texts."""
        self._pairs = bool(pairs)
        self.second_row.setVisible(self._pairs)
        self.first_label.setVisible(self._pairs)
        self.text.setPlaceholderText(PAIR_PLACEHOLDER if self._pairs else SINGLE_PLACEHOLDER)
        self._show_examples()

    def set_entities(self, entities: bool) -> None:
        """Examples with names to find, for a token-classification model (no pairs)."""
        if self._entities != bool(entities):
            self._entities = bool(entities)
            self._show_examples()

    def _examples(self) -> tuple[str, ...]:
        if self._pairs:
            return tuple(f"{a} + {b}" for a, b in PAIR_EXAMPLES)
        return ENTITY_EXAMPLES if self._entities else EXAMPLES

    def _show_examples(self) -> None:
        shown = self._examples()
        links = " &nbsp;·&nbsp; ".join(f'<a href="{i}">{html.escape(t)}</a>' for i, t in enumerate(shown))
        self.examples.setText(f'<span style="color: {muted_color()}">Try:</span> &nbsp;{links}')

    def pairs(self) -> bool:
        return self._pairs

    def first(self) -> str:
        return self.text.text().strip()

    def second(self) -> str:
        return self.second_text.text().strip()

    def set_texts(self, text: str, second: str | None = None) -> None:
        self.text.setText(text)
        if second is not None:
            self.second_text.setText(second)

    def current_order(self) -> str:
        return str(self.order.currentData())

    # ------------------------------------------------------------------ slots
    @Slot()
    def _on_submit(self) -> None:
        self.sig_submit.emit()

    @Slot(str)
    def _on_edited(self, _text: str) -> None:
        self.sig_edited.emit()

    @Slot(int)
    def _on_order_index(self, _index: int) -> None:
        self.sig_order_changed.emit(self.current_order())

    @Slot(str)
    def _on_example(self, link: str) -> None:
        index = int(link)
        if self._pairs:
            self.set_texts(*PAIR_EXAMPLES[index])
        else:
            self.set_texts(self._examples()[index])
        self.sig_submit.emit()
