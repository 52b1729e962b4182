"""One model's answer, shown so it reads at a glance, in the form its task calls for.

A title names the model, a state line says what is happening ("loading model…") or what went
wrong, the headline is big: the class (single-label), the chosen labels or "(none)"
(multi-label), or the predicted value (regression). Below it the task's view: a bar per class,
a bar per label with its threshold marked, or the value on the training scores' scale.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from ftstudio.gui.style import error_color, muted_color
from ftstudio.gui.tester.multilabel_bars import MultiLabelBars
from ftstudio.gui.tester.probability_bars import ProbabilityBars
from ftstudio.gui.tester.score_scale import ScoreScale, format_score

SINGLE, MULTI, REGRESSION = "single-label", "multi-label", "regression"


def prediction_kind(prediction: dict, task: str | None = None) -> str:
    """Which view a prediction needs: the task's name when known, else read from its fields."""
    if task in (SINGLE, MULTI, REGRESSION):
        return task
    if prediction.get("value") is not None:
        return REGRESSION
    if prediction.get("labels") is not None or prediction.get("thresholds"):
        return MULTI
    return SINGLE


class PredictionColumn(QFrame):
    """One model's answer: title, state, headline, caption and the task's view, or an error.

    No signals: the tester panel feeds it through `show_busy`, `show_prediction` and `show_error`.
    `kind()` says which view shows the last prediction ("" before the first).
    """

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(title)
        self.title.setWordWrap(True)
        bold = self.title.font()
        bold.setBold(True)
        self.title.setFont(bold)
        self.state = QLabel("")
        self.state.setWordWrap(True)
        self.state.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label = QLabel("")
        big = QFont(self.label.font())
        big.setPointSizeF(big.pointSizeF() * 2.2)
        big.setBold(True)
        self.label.setFont(big)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setAccessibleName("Prediction")
        self.confidence = QLabel("")
        self.confidence.setWordWrap(True)
        self.bars = ProbabilityBars()
        self.multi = MultiLabelBars()
        self.scale = ScoreScale()
        for label in (self.title, self.state, self.label, self.confidence):
            label.setTextFormat(Qt.TextFormat.PlainText)  # labels and messages are data, not markup
        layout = QVBoxLayout(self)
        for widget in (self.title, self.state, self.label, self.confidence, self.bars, self.multi, self.scale):
            layout.addWidget(widget)
        layout.addStretch(1)
        self._prediction: dict = {}
        self._kind = ""
        self._show_view("")
        self.show_idle("Type a sentence and press Enter.")

    def set_title(self, title: str) -> None:
        self.title.setText(title)

    def predicted_label(self) -> str:
        return self.label.text()

    def kind(self) -> str:
        return self._kind

    def show_idle(self, hint: str) -> None:
        self._set_state(hint, muted=True)

    def show_busy(self, stage: str) -> None:
        """While a model loads (seconds) the previous answer stays visible, greyed."""
        if stage == "loading":
            self._set_state("Loading model… (first use of a checkpoint takes a few seconds)", muted=True)
            for widget in (self.label, self.bars, self.multi, self.scale):
                widget.setEnabled(False)

    def show_prediction(self, prediction: dict, order: str = "sorted", task: str | None = None,
                        task_state: dict | None = None) -> None:
        """Show `prediction` (a Prediction dict) with the view of `task`, on the training scale
        `task_state` gives (regression)."""
        self._set_state("", muted=True)
        for widget in (self.label, self.bars, self.multi, self.scale):
            widget.setEnabled(True)
        self._prediction = dict(prediction)
        self._kind = prediction_kind(prediction, task)
        self._show_view(self._kind)
        if self._kind == REGRESSION:
            self._show_score(prediction, task_state or {})
            return
        self.label.setText(str(prediction.get("label", "")))
        if self._kind == MULTI:
            chosen = list(prediction.get("labels") or [])
            total = len(prediction.get("probabilities") or {})
            self.confidence.setText(
                f"{len(chosen)} of {total} labels reach their threshold (the tick on each bar)"
            )
        else:
            score = prediction.get("score")
            self.confidence.setText(f"{float(score) * 100:.1f}% confidence" if score is not None else "")
        self.set_order(order)

    def set_order(self, order: str) -> None:
        probabilities = dict(self._prediction.get("probabilities") or {})
        if not probabilities:
            return
        if self._kind == MULTI:
            self.multi.set_prediction(probabilities, self._prediction.get("thresholds"),
                                      self._prediction.get("labels"), order)
        elif self._kind == SINGLE:
            self.bars.set_probabilities(probabilities, order)

    def show_error(self, message: str) -> None:
        self.clear()
        self._set_state(message, muted=False)

    def clear(self) -> None:
        self._prediction, self._kind = {}, ""
        self.label.setText("")
        self.confidence.setText("")
        self.bars.clear()
        self.multi.clear()
        self.scale.clear()
        self._show_view("")

    # ------------------------------------------------------------------ internals
    def _show_score(self, prediction: dict, state: dict) -> None:
        value = float(prediction.get("value", prediction.get("score", 0.0)))
        name = str(prediction.get("label") or "score")
        known = all(isinstance(state.get(k), (int, float)) for k in ("minimum", "maximum"))
        span = float(state["maximum"]) - float(state["minimum"]) if known else None
        self.label.setText(format_score(value, span))
        if known:
            self.scale.set_scale(state["minimum"], state["maximum"], state.get("mean"), state.get("std"))
            self.scale.set_value(value)
            note = " · outside the training range" if self.scale.outside() else ""
            self.confidence.setText(f"{name}{note}")
        else:  # a checkpoint made elsewhere: no training scale to show it on
            self.scale.clear()
            self.scale.hide()
            self.confidence.setText(name)

    def _show_view(self, kind: str) -> None:
        self.bars.setVisible(kind == SINGLE)
        self.multi.setVisible(kind == MULTI)
        self.scale.setVisible(kind == REGRESSION)

    def _set_state(self, text: str, muted: bool) -> None:
        color = muted_color() if muted else error_color()
        self.state.setStyleSheet(f"color: {color};")
        self.state.setText(text)
        self.state.setVisible(bool(text))
