"""One language model's answer in the tester: the guesses for each mask as probability bars
(an encoder), or the continuation and the next token's probabilities (a decoder).

A base model saved without its language-model head has nothing to show before pre-training (its
guesses would come from a random head), and the column says so in words instead of showing noise.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from ftstudio.gui.style import error_color, muted_color
from ftstudio.gui.tester.probability_bars import ProbabilityBars


def token_label(token: str) -> str:
    """A token as a bar's name: a leading space shown as ␣ (a decoder's next token starts a new
    word, or continues the last one), line breaks as ↵."""
    shown = token.replace("\r\n", "\n").replace("\n", "↵").replace("\t", "⇥")
    if shown.startswith(" "):
        shown = "␣" + shown[1:]
    return shown or "(empty)"


def _probabilities(candidates: list[dict]) -> dict[str, float]:
    """{name: probability}, the likeliest first. Tokens that read alike (byte pieces of one
    character all read "�") keep a bar each, numbered from the second on."""
    found: dict[str, float] = {}
    for candidate in candidates:
        name = base = token_label(str(candidate.get("token", "")))
        number = 1
        while name in found:
            number += 1
            name = f"{base} ({number})"
        found[name] = float(candidate.get("score", 0.0))
    return found


class LanguageModelColumn(QFrame):
    """Title, state line, then per mask a caption and bars, or the continuation and the
    next-token bars. No signals: `LanguageModelView` feeds it.

    `candidates()` (per mask, [(token, probability)]), `continuation()` and `next_tokens()` say
    what is shown, for tests and the window's own checks.
    """

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(title)
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        bold = self.title.font()
        bold.setBold(True)
        self.title.setFont(bold)
        self.state = QLabel("")
        self.state.setWordWrap(True)
        self.state.setTextFormat(Qt.TextFormat.PlainText)
        self.state.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text_view = QLabel("")  # the continuation, after the typed text
        self.text_view.setWordWrap(True)
        self.text_view.setTextFormat(Qt.TextFormat.RichText)
        self.text_view.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text_view.setAccessibleName("Continuation")
        self.results = QVBoxLayout()
        self.results.setContentsMargins(0, 0, 0, 0)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.state)
        layout.addWidget(self.text_view)
        layout.addLayout(self.results)
        layout.addStretch(1)
        self._candidates: list[list[tuple[str, float]]] = []
        self._continuation = ""
        self._next: list[tuple[str, float]] = []
        self.clear()

    # ------------------------------------------------------------------ public
    def set_title(self, title: str) -> None:
        self.title.setText(title)

    def show_idle(self, hint: str) -> None:
        self._set_state(hint, muted=True)

    def show_busy(self, stage: str, base: bool = False) -> None:
        """While a model loads the previous answer stays, greyed."""
        if stage == "loading":
            what = "the base model" if base else "the model"
            self._set_state(f"Loading {what}… (the first use takes a few seconds)", muted=True)
            self._enable(False)

    def show_masks(self, masks: list[list[dict]]) -> None:
        """Each mask's candidates as bars, captioned when the text has several masks."""
        self.clear()
        self._candidates = [list(_probabilities(candidates).items()) for candidates in masks]
        for number, rows in enumerate(self._candidates, 1):
            if len(self._candidates) > 1:
                self._add_caption(f"Mask {number} of {len(self._candidates)}")
            self._add_bars(dict(rows))
        best = masks[0][0].get("sequence") if len(masks) == 1 and masks[0] else ""
        if best:
            self.text_view.setText(f'<span style="color: {muted_color()}">Likeliest:</span> {html.escape(best)}')
            self.text_view.show()

    def show_continuation(self, text: str, continuation: str, next_tokens: list[dict]) -> None:
        """The typed text (muted) and its continuation (bold), then the next token's bars."""
        self.clear()
        self._continuation = str(continuation)
        self._next = list(_probabilities(next_tokens).items())
        shown = html.escape(self._continuation) or f'<i>{html.escape("(ends here)")}</i>'
        self.text_view.setText(f'<div style="white-space: pre-wrap"><span style="color: {muted_color()}">'
                               f"{html.escape(text)}</span><b>{shown}</b></div>")
        self.text_view.show()
        self._add_caption("Next token")
        self._add_bars(dict(self._next))

    def show_error(self, message: str) -> None:
        self.clear()
        self._set_state(message, muted=False)

    def show_note(self, message: str) -> None:
        """A plain statement in place of an answer (the base model has no head to predict with)."""
        self.clear()
        self._set_state(message, muted=True)

    def clear(self) -> None:
        self._candidates, self._continuation, self._next = [], "", []
        while self.results.count():
            item = self.results.takeAt(0)
            if item.widget() is not None:
                item.widget().hide()  # gone from view now; deleted once control returns to Qt
                item.widget().deleteLater()
        self.text_view.clear()
        self.text_view.hide()
        self._set_state("", muted=True)

    def candidates(self) -> list[list[tuple[str, float]]]:
        return [list(rows) for rows in self._candidates]

    def continuation(self) -> str:
        return self._continuation

    def next_tokens(self) -> list[tuple[str, float]]:
        return list(self._next)

    def message(self) -> str:
        return self.state.text()

    # ------------------------------------------------------------------ internals
    def _add_caption(self, text: str) -> None:
        caption = QLabel(text)
        caption.setStyleSheet(f"color: {muted_color()};")
        self.results.addWidget(caption)

    def _add_bars(self, probabilities: dict[str, float]) -> None:
        bars = ProbabilityBars()
        bars.setAccessibleName("Guesses and their probabilities")
        bars.set_probabilities(probabilities, "sorted")
        self.results.addWidget(bars)

    def _enable(self, on: bool) -> None:
        self.text_view.setEnabled(on)
        for i in range(self.results.count()):
            widget = self.results.itemAt(i).widget()
            if widget is not None:
                widget.setEnabled(on)

    def _set_state(self, text: str, muted: bool) -> None:
        self._enable(True)
        self.state.setStyleSheet(f"color: {muted_color() if muted else error_color()};")
        self.state.setText(text)
        self.state.setVisible(bool(text))
