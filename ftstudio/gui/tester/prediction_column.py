"""One model's answer, shown so it reads at a glance, in the form its task calls for.

A title names the model, a state line says what is happening ("loading model…") or what went
wrong, the headline is big: the class (single-label), the chosen labels or "(none)"
(multi-label), the predicted value (regression), or how many entities were found (token
classification). Below it the task's view: a bar per class, a bar per label with its threshold
marked, the value on the training scores' scale, or the text with its entities highlighted and a
table of them (a base model's entities are noise, and are shown the same way).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from ftstudio.gui.style import error_color, muted_color
from ftstudio.gui.tester.entity_view import EntityView
from ftstudio.gui.tester.multilabel_bars import MultiLabelBars
from ftstudio.gui.tester.probability_bars import ProbabilityBars
from ftstudio.gui.tester.score_scale import ScoreScale, format_score

SINGLE, MULTI, REGRESSION, TOKENS = "single-label", "multi-label", "regression", "token-classification"


def side_by_side(*columns: QWidget) -> QScrollArea:
    """Columns next to each other, equally wide, in a frameless scroll area (the tester's
    model A / model B, and before / after pre-training)."""
    row = QHBoxLayout()
    for column in columns:
        row.addWidget(column, 1)
    host = QWidget()
    host.setLayout(row)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QScrollArea.Shape.NoFrame)
    scroll.setWidget(host)
    return scroll


def prediction_kind(prediction: dict, task: str | None = None) -> str:
    """Which view a prediction needs: the task's name when known, else read from its fields."""
    if task in (SINGLE, MULTI, REGRESSION, TOKENS):
        return task
    if prediction.get("entities") is not None:
        return TOKENS
    if prediction.get("value") is not None:
        return REGRESSION
    if prediction.get("labels") is not None or prediction.get("thresholds"):
        return MULTI
    return SINGLE


def entity_headline(entities: list[dict]) -> str:
    """'3 entities', '1 entity' or 'No entities'."""
    if not entities:
        return "No entities"
    return f"{len(entities)} entit{'y' if len(entities) == 1 else 'ies'}"


def entity_caption(entities: list[dict]) -> str:
    """How many of each type, most frequent first, and the least sure entity's score."""
    if not entities:
        return "The model found no entity in this text."
    counts: dict[str, int] = {}
    for entity in entities:
        counts[str(entity.get("type", ""))] = counts.get(str(entity.get("type", "")), 0) + 1
    parts = [f"{kind} {n}" for kind, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
    scores = [float(e["score"]) for e in entities if isinstance(e.get("score"), (int, float))]
    lowest = f" · least sure {min(scores) * 100:.0f}%" if scores else ""
    return " · ".join(parts) + lowest


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
        self.entities = EntityView()
        for label in (self.title, self.state, self.label, self.confidence):
            label.setTextFormat(Qt.TextFormat.PlainText)  # labels and messages are data, not markup
        layout = QVBoxLayout(self)
        for widget in (self.title, self.state, self.label, self.confidence, self.bars, self.multi, self.scale,
                       self.entities):
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
            for widget in self._views():
                widget.setEnabled(False)

    def show_prediction(self, prediction: dict, order: str = "sorted", task: str | None = None,
                        task_state: dict | None = None) -> None:
        """Show `prediction` (a Prediction dict) with the view of `task`, on the training scale
        `task_state` gives (regression)."""
        self._set_state("", muted=True)
        for widget in self._views():
            widget.setEnabled(True)
        self._prediction = dict(prediction)
        self._kind = prediction_kind(prediction, task)
        self._show_view(self._kind)
        if self._kind == REGRESSION:
            self._show_score(prediction, task_state or {})
            return
        if self._kind == TOKENS:
            self._show_entities(prediction)
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

    def show_note(self, note: str) -> None:
        """A quiet line about the shown answer's model (how a LoRA adapter was loaded), kept
        until the next state."""
        self._set_state(note, muted=True)

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
        self.entities.clear()
        self._show_view("")

    # ------------------------------------------------------------------ internals
    def _views(self) -> tuple[QWidget, ...]:
        return self.label, self.bars, self.multi, self.scale, self.entities

    def _show_entities(self, prediction: dict) -> None:
        entities = [dict(e) for e in prediction.get("entities") or []]
        self.label.setText(entity_headline(entities))
        self.confidence.setText(entity_caption(entities))
        self.entities.set_prediction(str(prediction.get("text", "")), entities)

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
        self.entities.setVisible(kind == TOKENS)

    def _set_state(self, text: str, muted: bool) -> None:
        color = muted_color() if muted else error_color()
        self.state.setStyleSheet(f"color: {color};")
        self.state.setText(text)
        self.state.setVisible(bool(text))
