"""The language view's file measure: perplexity and token accuracy on a text file of the user's,
before pre-training (the run's base model) and after (the picked checkpoint), on one line.

The numbers come from the engine's `text_perplexity` (the measure pre-training reports for its
validation split), computed in the tester's prediction thread; this row only asks and shows.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QWidget

from ftstudio.gui.style import error_color, muted_color

FILE_SLOTS = {"before": "lm-file-before", "after": "lm-file-after"}
IDLE_TEXT = "Measure both models on a text file of yours (one text per line): lower perplexity is better."
TEXT_FILTER = "Text files (*.txt);;All files (*)"


def measure_line(file_name: str, results: dict[str, dict], before_head_is_new: bool = False) -> str:
    """Rich text: perplexity and token accuracy after (and before, when measured), in bold after;
    a base model without its head is measured with the random head pre-training started from."""
    from ftstudio.engine.predict.text_perplexity import format_perplexity as _number

    after, before = results.get("after"), results.get("before")
    shown = after or before or {}
    source = f"{html.escape(file_name)} ({shown.get('rows', 0):,} texts, {shown.get('predicted_tokens', 0):,} " \
             "predicted tokens)"
    if after and before:
        random_head = " (random head)" if before_head_is_new else ""
        return (f"On {source}: perplexity {_number(before['perplexity'])} before{random_head} → "
                f"<b>{_number(after['perplexity'])}</b> after · token accuracy {before['token_accuracy']:.1%} → "
                f"<b>{after['token_accuracy']:.1%}</b>")
    return (f"On {source}: perplexity <b>{_number(shown.get('perplexity', 0.0))}</b> · token accuracy "
            f"<b>{shown.get('token_accuracy', 0.0):.1%}</b>")


class PerplexityRow(QWidget):
    """A button and a result line.

    Signals:
      sig_measured(object): both models answered (or failed): {"file", "before", "after"}, each
        the engine's text_perplexity dict, or None (no base model, or it failed).
    """

    sig_measured = Signal(object)

    def __init__(self, service, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        # Injectable: tests answer the file dialog without showing it (None: the real dialog).
        self.choose_file: Callable[[], str] | None = None
        self._models: dict = {}
        self._path = ""
        self._pending: set[str] = set()
        self._results: dict[str, dict | None] = {}
        self._errors: list[str] = []
        self._before_head_is_new = False
        self.button = QPushButton("Perplexity on a text file…")
        self.button.setToolTip("A .txt file, one text per line, like the pre-training data (texts the run did "
                               "not train on say most)")
        self.button.clicked.connect(self._on_clicked)
        self.summary = QLabel(IDLE_TEXT)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.button)
        layout.addWidget(self.summary, 1)
        self._show(IDLE_TEXT, muted=True)
        service.sig_result.connect(self._on_result)
        service.sig_failed.connect(self._on_failed)

    def set_models(self, models: dict) -> None:
        """{"before": (spec, options) | None, "after": (checkpoint, options)}, as the view asks them."""
        if models != self._models:
            self.cancel()
            self._models = dict(models)
            self._show(IDLE_TEXT, muted=True)

    def measure(self, path: str | Path) -> None:
        """Ask both models for their perplexity on the text file `path`."""
        self._path, self._results, self._errors = str(path), {}, []
        self._pending = set()
        for name, slot in FILE_SLOTS.items():
            model = self._models.get(name)
            if model is None:
                self._results[name] = None
                continue
            options = {k: v for k, v in model[1].items() if k != "has_head"}
            self._pending.add(name)
            self.service.language(slot, model[0], None, file=self._path, **options)
        self.button.setEnabled(not self._pending)
        self._show(f"Measuring on {Path(path).name}… (the base model loads first if it is not loaded yet)", muted=True)

    def cancel(self) -> None:
        for slot in FILE_SLOTS.values():
            self.service.cancel(slot)
        self._pending = set()
        self.button.setEnabled(True)

    # ------------------------------------------------------------------ answers
    def _name(self, slot: str) -> str | None:
        return next((name for name, value in FILE_SLOTS.items() if value == slot), None)

    @Slot(object)
    def _on_result(self, info: dict) -> None:
        name = self._name(info["slot"])
        if name is not None and name in self._pending:
            if name == "before":
                self._before_head_is_new = bool(info.get("head_is_new"))
            self._finish(name, info.get("evaluation"))

    @Slot(object)
    def _on_failed(self, info: dict) -> None:
        name = self._name(info["slot"])
        if name is not None and name in self._pending:
            who = "The base model" if name == "before" else "The checkpoint"
            self._finish(name, None, f"{who}: {info['message']}")

    def _finish(self, name: str, result: dict | None, error: str = "") -> None:
        """Keep one model's answer; once both answered, show them (and any error) together."""
        self._pending.discard(name)
        self._results[name] = result
        if error:
            self._errors.append(error)
        if self._pending:
            return
        self.button.setEnabled(True)
        found = {k: v for k, v in self._results.items() if v}
        if not found:
            self._show(" ".join(self._errors), muted=False)
        else:
            errors = "".join(f'<br><span style="color: {error_color()}">{html.escape(e)}</span>' for e in self._errors)
            self.summary.setStyleSheet("")
            self.summary.setTextFormat(Qt.TextFormat.RichText)
            self.summary.setText(measure_line(Path(self._path).name, found, self._before_head_is_new) + errors)
        self.sig_measured.emit({"file": self._path, **self._results})

    def _show(self, text: str, muted: bool) -> None:
        self.summary.setStyleSheet(f"color: {muted_color() if muted else error_color()};")
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setText(text)

    @Slot()
    def _on_clicked(self) -> None:
        path = (self.choose_file or self._ask_file)()
        if path:
            self.measure(path)

    def _ask_file(self) -> str:
        path, _ = QFileDialog.getOpenFileName(self, "Measure on a text file", str(Path.home()), TEXT_FILTER)
        return path
