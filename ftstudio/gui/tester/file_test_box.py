"""The tester's "Test a labelled file" box: the button, progress, and the result in the task's form.

Single-label: accuracy, macro F1 and F1 by class over a confusion matrix. Multi-label: micro and
macro F1, subset accuracy and the other averages over a per-label table. Regression: RMSE, MAE,
Pearson, Spearman and R² over a scatter of predicted against true. Token classification: entity
F1, precision, recall and token accuracy over scores per entity type, a type confusion table and
the sentences with mistakes (entity_report.py). The numbers come from the
engine's `evaluate_file`; this box only lays them out.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ftstudio.gui.style import error_color
from ftstudio.gui.tester.confusion_view import ConfusionView
from ftstudio.gui.tester.entity_report import EntityReport
from ftstudio.gui.tester.per_label_table import PerLabelTable
from ftstudio.gui.tester.scatter_view import ScatterView

IDLE_TEXT = "Measure the picked model on a file with the same labels."
# Shown as percentages; every other metric is a number (in the data's units for errors).
_PERCENT = {"accuracy", "subset_accuracy", "token_accuracy"}
TOKENS = "token-classification"
# Token classification's line, in this order (entity F1 first: it picks the best checkpoint).
_ENTITY_METRICS = (("entity_f1", "Entity F1"), ("entity_precision", "precision"),
                   ("entity_recall", "recall"), ("token_accuracy", "token accuracy"))
_UNITS = {"rmse", "mae", "mse"}


def format_metric(name: str, value: float) -> str:
    from ftstudio.engine.tasks.metric_names import metric_label

    if name in _PERCENT:
        return f"{metric_label(name)} {value * 100:.1f}%"
    if name in _UNITS:
        return f"{metric_label(name)} {value:.4g}"
    return f"{metric_label(name)} {value:.3f}"


def evaluation_summary(evaluation: dict, file_name: str) -> str:
    """The result line (rich text): the task's headline metrics in bold, the others after,
    and how many texts of which file; single-label adds F1 by class."""
    from ftstudio.engine.tasks.registry import TASKS

    if evaluation.get("task") == TOKENS:
        return _entity_summary(evaluation, file_name)
    task = TASKS.get(str(evaluation.get("task") or "single-label"), TASKS["single-label"])
    rows = evaluation.get("rows") or sum(sum(r) for r in evaluation.get("confusion") or [])
    source = f"{rows:,} texts from {html.escape(file_name)}"
    if task.name == "single-label":  # as it always read
        per_class = evaluation.get("per_class") or {}
        by_class = " · ".join(f"{html.escape(name)} {s.get('f1', 0.0):.2f}" for name, s in per_class.items())
        line = (f"<b>Accuracy {evaluation.get('accuracy', 0.0) * 100:.1f}%</b> · "
                f"<b>macro F1 {evaluation.get('f1', 0.0):.3f}</b> · {source}")
        return line + (f"<br>F1 by class: {by_class}" if by_class else "")
    headline = [n for n in task.headline if n in evaluation]
    # MSE is RMSE squared: one of them is enough for people.
    others = [n for n in task.metric_names if n not in headline and n != "mse" and n in evaluation]
    bold = [_capitalised(format_metric(n, float(evaluation[n]))) for n in headline]
    parts = [f"<b>{html.escape(text)}</b>" for text in bold]
    parts += [html.escape(format_metric(n, float(evaluation[n]))) for n in others]
    return " · ".join(parts) + f"<br>{source}"


def _entity_summary(evaluation: dict, file_name: str) -> str:
    """Entity F1 in bold, then precision, recall and token accuracy; sentences and entities."""
    parts = []
    for name, label in _ENTITY_METRICS:
        if name not in evaluation:
            continue
        value = float(evaluation[name])
        shown = f"{label} {value * 100:.1f}%" if name in _PERCENT else f"{label} {value:.3f}"
        parts.append(f"<b>{html.escape(shown)}</b>" if name == "entity_f1" else html.escape(shown))
    sentences = int(evaluation.get("rows") or 0)
    entities = sum(int(s.get("support", 0)) for s in (evaluation.get("per_type") or {}).values())
    source = f"{sentences:,} sentences ({entities:,} entities) from {html.escape(file_name)}"
    return " · ".join(parts) + f"<br>{source}"


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


class FileTestBox(QGroupBox):
    """Button, progress and cancel in a row; the summary; then the task's detail view.

    No signals of its own: the panel connects `file_button` and `file_cancel` and calls
    `start`, `show_progress`, `show_evaluation`, `show_error`, `show_cancelled`.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Test a labelled file", parent)
        self.file_button = QPushButton("Test a file…")
        self.file_button.setToolTip(
            "A CSV/TSV/JSON/JSONL/Parquet file with the columns the model was trained on: a text column "
            "(and the second text, for a pair model) and the label column(s); for a token-classification "
            "model, a CoNLL file or rows of words and tags."
        )
        self.file_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.file_cancel = QPushButton("Cancel")
        self.file_cancel.hide()
        self.file_progress = QProgressBar()
        self.file_progress.setTextVisible(True)
        self.file_progress.hide()
        self.file_summary = QLabel(IDLE_TEXT)
        self.file_summary.setWordWrap(True)
        self.file_summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.confusion = ConfusionView()
        self.per_label = PerLabelTable()
        self.scatter = ScatterView()
        self.entities = EntityReport()
        row = QHBoxLayout()
        row.addWidget(self.file_button)
        row.addWidget(self.file_progress, 1)
        row.addWidget(self.file_cancel)
        row.addStretch(0)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.file_summary)
        layout.addWidget(self.confusion)
        layout.addWidget(self.per_label, 0, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.scatter, 1)
        layout.addWidget(self.entities, 1)
        layout.addStretch(1)  # results sit under the button, not centred in the box
        self._layout = layout
        self._show_details("")

    def start(self, text: str) -> None:
        self._set_summary(text, error=False)
        self.file_progress.setRange(0, 0)  # busy until the first progress report
        self.file_progress.show()
        self.file_cancel.show()
        self.file_button.setEnabled(False)

    def show_progress(self, done: int, total: int) -> None:
        if total:
            self.file_progress.setRange(0, int(total))
            self.file_progress.setValue(int(done))

    def show_evaluation(self, evaluation: dict, file_name: str) -> None:
        self._done()
        task = str(evaluation.get("task") or "single-label")
        self.file_summary.setStyleSheet("")
        self.file_summary.setTextFormat(Qt.TextFormat.RichText)
        self.file_summary.setText(evaluation_summary(evaluation, file_name))
        labels = list(evaluation.get("label_names") or [])
        if task == "multi-label":
            self.per_label.set_rows(evaluation.get("per_label") or {}, evaluation.get("thresholds"), labels)
        elif task == TOKENS:
            self.entities.show_evaluation(evaluation)
        elif task == "regression":
            self.scatter.set_points(evaluation.get("scatter") or [], labels[0] if labels else "score")
        else:
            self.confusion.set_matrix(evaluation.get("confusion") or [], labels)
        self._show_details(task)

    def show_error(self, message: str) -> None:
        self._done()
        self._show_details("")
        self._set_summary(message, error=True)

    def show_cancelled(self) -> None:
        self._done()
        self._set_summary("File test cancelled.", error=False)

    def shutdown(self) -> None:
        self.scatter.shutdown()

    def _show_details(self, task: str) -> None:
        self.confusion.setVisible(task == "single-label")
        self.per_label.setVisible(task == "multi-label")
        self.scatter.setVisible(task == "regression")
        self.entities.setVisible(task == TOKENS)
        # The entity report scrolls inside itself: it gets all the room, the spacer none.
        self._layout.setStretch(self._layout.count() - 1, 0 if task == TOKENS else 1)

    def _set_summary(self, text: str, error: bool) -> None:
        self.file_summary.setStyleSheet(f"color: {error_color()};" if error else "")
        self.file_summary.setTextFormat(Qt.TextFormat.PlainText)
        self.file_summary.setText(text)

    def _done(self) -> None:
        self.file_progress.hide()
        self.file_cancel.hide()
        self.file_button.setEnabled(True)
