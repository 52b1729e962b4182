"""Try a trained model: type a sentence, see its label and every class's probability.

The panel picks a checkpoint (this run's best, last or any step folder, another run's best, or a
folder), optionally compares it side by side with the base model or another checkpoint, and
tests a whole labelled file (accuracy, macro F1, confusion matrix). All model work happens in
`PredictService`'s thread; this file only arranges requests and shows answers.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ftstudio.gui.style import error_color, muted_color
from ftstudio.gui.tester.checkpoint_picker import BASE_MODEL, CheckpointPicker
from ftstudio.gui.tester.confusion_view import ConfusionView
from ftstudio.gui.tester.predict_worker import PredictService
from ftstudio.gui.tester.probability_bars import PredictionColumn

# Short, varied sentences matching the embedded airline-tweet sample, so a first-time user sees
# each class light up without having to invent text.
EXAMPLES = (
    "Great crew, thanks for a lovely flight!",
    "Delayed again and my bag is lost.",
    "Which gate is the 9am flight?",
)
DATA_FILTER = "Data files (*.csv *.tsv *.json *.jsonl *.parquet);;All files (*)"
TYPING_PAUSE_MS = 350  # predict while typing once the user pauses this long


class TesterPanel(QWidget):
    """Checkpoint picker, text box with live prediction, compare column and file test.

    Signals:
      sig_predicted(object): a column showed a prediction: {"slot": "a"|"b", "label", "score",
        "probabilities", "path"}.
      sig_file_tested(object): a file test finished and is shown: the evaluation dict plus "path".
      sig_failed(object): an error is shown inline: {"slot", "kind", "message"}.
    """

    sig_predicted = Signal(object)
    sig_file_tested = Signal(object)
    sig_failed = Signal(object)

    def __init__(self, runs_dir: str | Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from ftstudio.engine.runs.folder import default_runs_dir

        self.runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()
        self.run_dir: Path | None = None
        # Injectable so tests (and the main window) can answer without a modal dialog; None
        # means the real dialog (a bound method stored on self would be a reference cycle).
        self.choose_file: Callable[[], str] | None = None
        self.service = PredictService(self)
        self.service.sig_busy.connect(self._on_busy)
        self.service.sig_progress.connect(self._on_progress)
        self.service.sig_result.connect(self._on_result)
        self.service.sig_failed.connect(self._on_failed)
        self._typing = QTimer(self)
        self._typing.setObjectName("tester-typing-pause")
        self._typing.setSingleShot(True)
        self._typing.setInterval(TYPING_PAUSE_MS)
        self._typing.timeout.connect(self._on_typing_paused)
        self._build()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.picker = CheckpointPicker(self.runs_dir, include_base=False)
        self.picker.sig_model_changed.connect(self._on_model_changed)
        self.compare_box = QCheckBox("Compare with")
        self.compare_box.setToolTip("Show a second model's answer beside the first, for the same text.")
        self.compare_box.toggled.connect(self._on_compare_toggled)
        self.compare_picker = CheckpointPicker(self.runs_dir, include_base=True)
        self.compare_picker.setEnabled(False)
        self.compare_picker.sig_model_changed.connect(self._on_model_changed)
        pick_row = QHBoxLayout()
        pick_row.addWidget(QLabel("Model:"))
        pick_row.addWidget(self.picker, 2)
        pick_row.addSpacing(12)
        pick_row.addWidget(self.compare_box)
        pick_row.addWidget(self.compare_picker, 2)

        self.text = QLineEdit()
        self.text.setPlaceholderText("Type a sentence and press Enter (it also predicts as you type)")
        self.text.setClearButtonEnabled(True)
        self.text.returnPressed.connect(self.predict_now)
        self.text.textEdited.connect(self._on_text_edited)
        self.predict_button = QPushButton("Predict")
        self.predict_button.clicked.connect(self.predict_now)
        self.order = QComboBox()
        self.order.addItem("Most likely first", "sorted")
        self.order.addItem("Label order", "labels")
        self.order.currentIndexChanged.connect(self._on_order_changed)
        text_row = QHBoxLayout()
        text_row.addWidget(self.text, 1)
        text_row.addWidget(self.predict_button)
        text_row.addWidget(self.order)

        # Examples as links in one word-wrapped label: they wrap on a narrow window, where a
        # row of buttons would force the whole window wider.
        links = " &nbsp;·&nbsp; ".join(f'<a href="{i}">{html.escape(t)}</a>' for i, t in enumerate(EXAMPLES))
        self.examples = QLabel(
            f'<span style="color: {muted_color()}">Try:</span> &nbsp;{links}'
        )
        self.examples.setWordWrap(True)
        self.examples.setTextFormat(Qt.TextFormat.RichText)
        self.examples.setToolTip("Click an example to predict it")
        self.examples.linkActivated.connect(self._on_example)

        self.column_a = PredictionColumn()
        self.column_b = PredictionColumn()
        self.column_b.hide()
        columns = QHBoxLayout()
        columns.addWidget(self.column_a, 1)
        columns.addWidget(self.column_b, 1)
        columns_host = QWidget()
        columns_host.setLayout(columns)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(columns_host)

        # A splitter: with many classes the user decides how much room the bars get.
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(scroll)
        self.splitter.addWidget(self._build_file_box())
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addLayout(pick_row)
        layout.addLayout(text_row)
        layout.addWidget(self.examples)
        layout.addWidget(self.splitter, 1)
        self._update_titles()

    def _build_file_box(self) -> QGroupBox:
        box = QGroupBox("Test a labelled file")
        self.file_button = QPushButton("Test a file…")
        self.file_button.setToolTip(
            "A CSV/TSV/JSON/JSONL/Parquet file with a text column and a label column."
        )
        self.file_button.clicked.connect(self._on_file_clicked)
        self.file_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.file_cancel = QPushButton("Cancel")
        self.file_cancel.clicked.connect(self._on_file_cancel)
        self.file_cancel.hide()
        self.file_progress = QProgressBar()
        self.file_progress.setTextVisible(True)
        self.file_progress.hide()
        self.file_summary = QLabel("Measure the picked model on a file with the same labels.")
        self.file_summary.setWordWrap(True)
        self.file_summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.confusion = ConfusionView()
        self.confusion.hide()
        row = QHBoxLayout()
        row.addWidget(self.file_button)
        row.addWidget(self.file_progress, 1)
        row.addWidget(self.file_cancel)
        row.addStretch(0)
        layout = QVBoxLayout(box)
        layout.addLayout(row)
        layout.addWidget(self.file_summary)
        layout.addWidget(self.confusion)
        layout.addStretch(1)  # results sit under the button, not centred in the box
        return box

    # ------------------------------------------------------------------ public API
    def set_run(self, run_dir: str | Path | None) -> None:
        """Test this run (the one training now, or one picked in the runs list)."""
        from ftstudio.engine.runs.listing import list_runs

        self.run_dir = Path(run_dir) if run_dir else None
        others = list_runs(self.runs_dir)  # read once for both pickers
        for picker in (self.picker, self.compare_picker):
            picker.set_run(self.run_dir, others)
        self._update_titles()

    def refresh_checkpoints(self) -> None:
        """Re-read the run's checkpoints (call when a checkpoint lands during training)."""
        for picker in (self.picker, self.compare_picker):
            picker.refresh()
        self._update_titles()

    def try_text(self, text: str) -> None:
        """Put `text` in the box and predict it (the example links use this)."""
        self.text.setText(text)
        self.predict_now()

    def test_file(self, path: str | Path) -> None:
        """Evaluate the picked model on a labelled data file, off the UI thread."""
        model = self.picker.current_path()
        if not model:
            self._show_file_error(self.picker.missing_reason())
            return
        self.file_summary.setStyleSheet("")
        self.file_summary.setTextFormat(Qt.TextFormat.PlainText)
        self.file_summary.setText(f"Testing {Path(path).name} with {self.picker.currentText()}…")
        self.file_progress.setRange(0, 0)  # busy until the first progress report
        self.file_progress.show()
        self.file_cancel.show()
        self.file_button.setEnabled(False)
        self._file_path = str(path)
        self.service.evaluate("file", model, str(path))

    @Slot()
    def predict_now(self) -> None:
        """Predict the box's text with the picked model (and the compare model, if on)."""
        self._typing.stop()
        text = self.text.text().strip()
        if not text:
            return
        self._request("a", self.picker, self.column_a, text)
        if self.compare_box.isChecked():
            self._request("b", self.compare_picker, self.column_b, text)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Stop the typing timer and the prediction thread (the owner calls this on close)."""
        self._typing.stop()
        return self.service.shutdown(timeout_ms)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.shutdown()
        super().closeEvent(event)

    # ------------------------------------------------------------------ requests
    def _request(self, slot: str, picker: CheckpointPicker, column: PredictionColumn, text: str) -> None:
        path = picker.current_path()
        if not path:
            self.service.cancel(slot)
            column.show_error(picker.missing_reason())
            self.sig_failed.emit({"slot": slot, "kind": "predict", "message": picker.missing_reason()})
            return
        self.service.predict(slot, path, [text], **picker.current_options())

    def _columns(self) -> dict[str, PredictionColumn]:
        return {"a": self.column_a, "b": self.column_b}

    def _update_titles(self) -> None:
        self.column_a.set_title(self.picker.currentText() or "No model picked")
        self.column_b.set_title(self.compare_picker.currentText())

    # ------------------------------------------------------------------ slots
    @Slot(str)
    def _on_example(self, link: str) -> None:
        self.try_text(EXAMPLES[int(link)])

    @Slot(str)
    def _on_text_edited(self, text: str) -> None:
        if text.strip():
            self._typing.start()
        else:
            self._typing.stop()

    @Slot()
    def _on_typing_paused(self) -> None:
        self.predict_now()

    @Slot(bool)
    def _on_compare_toggled(self, on: bool) -> None:
        self.compare_picker.setEnabled(on)
        self.column_b.setVisible(on)
        if not on:
            self.service.cancel("b")
        elif self.text.text().strip():
            self._request("b", self.compare_picker, self.column_b, self.text.text().strip())

    @Slot(str)
    def _on_model_changed(self, _path: str) -> None:
        self._update_titles()
        if self.text.text().strip():
            self.predict_now()

    @Slot(int)
    def _on_order_changed(self, _index: int) -> None:
        for column in self._columns().values():
            column.set_order(self.order.currentData())

    @Slot(object)
    def _on_busy(self, info: dict) -> None:
        column = self._columns().get(info["slot"])
        if column is not None:
            column.show_busy(info["stage"])
        elif info["slot"] == "file" and info["stage"] == "loading":
            self.file_summary.setText("Loading model…")

    @Slot(object)
    def _on_progress(self, info: dict) -> None:
        if info["slot"] == "file" and info["total"]:
            self.file_progress.setRange(0, int(info["total"]))
            self.file_progress.setValue(int(info["done"]))

    @Slot(object)
    def _on_result(self, info: dict) -> None:
        if info["kind"] == "evaluate":
            self._show_evaluation(info["evaluation"])
            return
        column = self._columns().get(info["slot"])
        if column is None or not info["predictions"]:
            return
        prediction = info["predictions"][0]
        column.show_prediction(prediction, self.order.currentData())
        self.sig_predicted.emit({"slot": info["slot"], "path": info["path"], **prediction})

    @Slot(object)
    def _on_failed(self, info: dict) -> None:
        if info["slot"] == "file":
            self._show_file_error(info["message"])
        else:
            column = self._columns().get(info["slot"])
            if column is not None:
                column.show_error(info["message"])
            self.sig_failed.emit({"slot": info["slot"], "kind": info["kind"], "message": info["message"]})

    @Slot()
    def _on_file_clicked(self) -> None:
        path = (self.choose_file or self._ask_file)()
        if path:
            self.test_file(path)

    @Slot()
    def _on_file_cancel(self) -> None:
        self.service.cancel("file")
        self._file_done()
        self.file_summary.setText("File test cancelled.")

    # ------------------------------------------------------------------ file results
    def _show_evaluation(self, evaluation: dict) -> None:
        self._file_done()
        labels = evaluation.get("label_names") or []
        rows = evaluation.get("rows") or sum(sum(r) for r in evaluation.get("confusion") or [])
        parts = [
            f"<b>Accuracy {evaluation.get('accuracy', 0.0) * 100:.1f}%</b>",
            f"<b>macro F1 {evaluation.get('f1', 0.0):.3f}</b>",
            f"{rows} texts from {html.escape(Path(self._file_path).name)}",
        ]
        per_class = evaluation.get("per_class") or {}
        by_class = " · ".join(f"{html.escape(name)} {s.get('f1', 0.0):.2f}" for name, s in per_class.items())
        self.file_summary.setStyleSheet("")
        self.file_summary.setTextFormat(Qt.TextFormat.RichText)
        self.file_summary.setText(" · ".join(parts) + (f"<br>F1 by class: {by_class}" if by_class else ""))
        self.confusion.set_matrix(evaluation.get("confusion") or [], labels)
        self.confusion.show()
        self.sig_file_tested.emit({**evaluation, "path": self._file_path})

    def _show_file_error(self, message: str) -> None:
        self._file_done()
        self.confusion.hide()
        self.file_summary.setStyleSheet(f"color: {error_color()};")
        self.file_summary.setTextFormat(Qt.TextFormat.PlainText)
        self.file_summary.setText(message)
        self.sig_failed.emit({"slot": "file", "kind": "evaluate", "message": message})

    def _file_done(self) -> None:
        self.file_progress.hide()
        self.file_cancel.hide()
        self.file_button.setEnabled(True)

    def _ask_file(self) -> str:
        path, _ = QFileDialog.getOpenFileName(self, "Test a labelled file", str(Path.home()), DATA_FILTER)
        return path


__all__ = ["TesterPanel", "BASE_MODEL"]
