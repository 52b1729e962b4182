"""Try a trained model: type a sentence (or two, for a pair model) and see its answer.

The panel picks a checkpoint (this run's best, last or any step folder, another run's best, or a
folder), optionally compares it side by side with the base model or another checkpoint, and
tests a whole labelled file. Each answer is shown in its task's form (prediction_column.py):
class probabilities, labels against their thresholds, a score on the training scale, or the text
with its entities highlighted (token classification); a file test shows the task's metrics and
details (file_test_box.py). A model trained on pairs of texts gets a second text box; a
pre-training run's checkpoint gets the language view instead (language_model_view.py). All model
work happens in `PredictService`'s thread; this file only arranges requests and shows answers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ftstudio.gui.tester.checkpoint_picker import BASE_MODEL, CheckpointPicker
from ftstudio.gui.tester.file_test_box import FileTestBox
from ftstudio.gui.tester.language_model_view import LanguageModelView
from ftstudio.gui.tester.predict_worker import PredictService
from ftstudio.gui.tester.prediction_column import REGRESSION, TOKENS, PredictionColumn, side_by_side
from ftstudio.gui.tester.text_entry import EXAMPLES, PAIR_EXAMPLES, TextEntry

PAIR_HINT = "Type the second text too: this model compares pairs of texts."
DATA_FILTER = ("Data files (*.csv *.tsv *.json *.jsonl *.parquet *.conll *.iob *.iob2 *.bio *.bioes *.txt);;"
               "All files (*)")
TYPING_PAUSE_MS = 350  # predict while typing once the user pauses this long


class TesterPanel(QWidget):
    """Checkpoint picker, text box with live prediction, compare column and file test.

    Signals:
      sig_predicted(object): a column showed a prediction: {"slot": "a"|"b", "path", "task",
        and the Prediction's fields: "text", "label", "score", and "probabilities" (classes),
        "labels" and "thresholds" (multi-label), "value" (regression), "text_pair" (pairs),
        "entities" (token classification)}.
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
        # What the worker reported about each model it loaded (task, task_state, takes_pairs),
        # by path: for a model whose files told the picker nothing.
        self._facts: dict[str, dict] = {}
        self._file_path = ""
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

        self.entry = TextEntry()
        self.entry.sig_submit.connect(self.predict_now)
        self.entry.sig_edited.connect(self._on_text_edited)
        self.entry.sig_order_changed.connect(self._on_order_changed)
        # The entry's parts, by the names tests and the main window use.
        self.text, self.second_text, self.second_row = (
            self.entry.text, self.entry.second_text, self.entry.second_row)
        self.predict_button, self.order, self.examples = (
            self.entry.predict_button, self.entry.order, self.entry.examples)

        self.column_a = PredictionColumn()
        self.column_b = PredictionColumn()
        self.column_b.hide()
        scroll = side_by_side(self.column_a, self.column_b)

        # A splitter: with many classes the user decides how much room the bars get.
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(scroll)
        self.file_box = FileTestBox()
        self.file_box.file_button.clicked.connect(self._on_file_clicked)
        self.file_box.file_cancel.clicked.connect(self._on_file_cancel)
        # The box's parts, by the names tests and the main window use.
        self.file_button, self.file_cancel = self.file_box.file_button, self.file_box.file_cancel
        self.file_progress, self.file_summary = self.file_box.file_progress, self.file_box.file_summary
        self.confusion, self.per_label, self.scatter = (
            self.file_box.confusion, self.file_box.per_label, self.file_box.scatter)
        self.entity_report = self.file_box.entities
        self.splitter.addWidget(self.file_box)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.language_view = LanguageModelView(self.service)
        self.language_view.hide()
        layout = QVBoxLayout(self)
        layout.addLayout(pick_row)
        layout.addWidget(self.entry)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.language_view, 1)
        self._update_titles()
        self._update_pair_box()

    # ------------------------------------------------------------------ public API
    def set_run(self, run_dir: str | Path | None) -> None:
        """Test this run (the one training now, or one picked in the runs list)."""
        from ftstudio.engine.runs.listing import list_runs

        self.run_dir = Path(run_dir) if run_dir else None
        others = list_runs(self.runs_dir)  # read once for both pickers
        for picker in (self.picker, self.compare_picker):
            picker.set_run(self.run_dir, others)
        self._update_titles()
        self._update_pair_box()
        self._update_mode()

    def refresh_checkpoints(self) -> None:
        """Re-read the run's checkpoints (call when a checkpoint lands during training)."""
        for picker in (self.picker, self.compare_picker):
            picker.refresh()
        self._update_titles()
        self._update_pair_box()
        self._update_mode()

    def try_text(self, text: str, second: str | None = None) -> None:
        """Put `text` (and `second`, for a pair model) in the boxes and predict."""
        if self.language_mode():
            self.language_view.try_text(text)
            return
        self.entry.set_texts(text, second)
        self.predict_now()

    def takes_pairs(self) -> bool:
        """Whether a model in use (the picked one, or the compare one when on) takes pairs:
        then the second text box is shown."""
        return self._takes_pairs(self.picker) or (
            self.compare_box.isChecked() and self._takes_pairs(self.compare_picker)
        )

    def test_file(self, path: str | Path) -> None:
        """Evaluate the picked model on a labelled data file, off the UI thread."""
        model = self.picker.current_path()
        if not model:
            self._show_file_error(self.picker.missing_reason())
            return
        self.file_box.start(f"Testing {Path(path).name} with {self.picker.currentText()}…")
        self._file_path = str(path)
        self.service.evaluate("file", model, str(path))

    @Slot()
    def predict_now(self) -> None:
        """Predict the box's text with the picked model (and the compare model, if on)."""
        self._typing.stop()
        if self.language_mode():
            self.language_view.predict_now()
            return
        text = self.entry.first()
        if not text:
            return
        self._request("a", self.picker, self.column_a, text)
        if self.compare_box.isChecked():
            self._request("b", self.compare_picker, self.column_b, text)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Stop the typing timer and the prediction thread (the owner calls this on close)."""
        self._typing.stop()
        self.language_view.shutdown()
        self.file_box.shutdown()
        return self.service.shutdown(timeout_ms)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.shutdown()
        super().closeEvent(event)

    def language_mode(self) -> bool:
        """Whether the picked model is a language model (a pre-training run): then the language
        view replaces the text box, the compare column and the file test."""
        return not self.language_view.isHidden()

    def _update_mode(self) -> None:
        """The language view for a pre-training checkpoint (it reads the checkpoint's files, which
        is cheap), the classifier's tester for anything else."""
        language = self.language_view.use_checkpoint(self.picker.current_path(), self.picker.currentText())
        for widget in (self.entry, self.splitter, self.compare_box, self.compare_picker):
            widget.setVisible(not language)
        self.language_view.setVisible(language)
        if language:
            self._typing.stop()
            for slot in ("a", "b", "file"):
                self.service.cancel(slot)

    # ------------------------------------------------------------------ requests
    def _request(self, slot: str, picker: CheckpointPicker, column: PredictionColumn, text: str) -> None:
        path = picker.current_path()
        if not path:
            self.service.cancel(slot)
            column.show_error(picker.missing_reason())
            self.sig_failed.emit({"slot": slot, "kind": "predict", "message": picker.missing_reason()})
            return
        pairs = None
        if self._takes_pairs(picker):
            second = self.entry.second()
            if not second:
                self.service.cancel(slot)
                column.show_idle(PAIR_HINT)
                return
            pairs = [second]
        self.service.predict(slot, path, [text], pairs=pairs, **picker.current_options())

    def _takes_pairs(self, picker: CheckpointPicker) -> bool:
        # The picker read the task saved with the checkpoint; what the worker found when loading
        # counts only where it read nothing (base models of several runs share one path).
        if picker.current_task():
            return picker.takes_pairs()
        return bool(self._facts.get(picker.current_path(), {}).get("takes_pairs"))

    def _task_name(self, picker: CheckpointPicker) -> str:
        """The picked model's task, as saved with it or as the worker found when loading it."""
        return str(picker.current_task().get("name")
                   or self._facts.get(picker.current_path(), {}).get("task") or "")

    def _update_pair_box(self) -> None:
        """The second box and the matching examples, for pair models only; examples with names
        in them for a token-classification model."""
        self.entry.set_pairs(self.takes_pairs())
        self.entry.set_entities(self._task_name(self.picker) == TOKENS)

    def _columns(self) -> dict[str, PredictionColumn]:
        return {"a": self.column_a, "b": self.column_b}

    def _update_titles(self) -> None:
        self.column_a.set_title(self.picker.currentText() or "No model picked")
        self.column_b.set_title(self.compare_picker.currentText())

    # ------------------------------------------------------------------ slots
    @Slot()
    def _on_text_edited(self) -> None:
        if self.entry.first():
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
        self._update_pair_box()
        self._update_order_box()
        if not on:
            self.service.cancel("b")
        elif self.entry.first():
            self._request("b", self.compare_picker, self.column_b, self.entry.first())

    @Slot(str)
    def _on_model_changed(self, _path: str) -> None:
        self._update_titles()
        self._update_pair_box()
        self._update_mode()
        if self.entry.first() and not self.language_mode():
            self.predict_now()

    @Slot(str)
    def _on_order_changed(self, order: str) -> None:
        for column in self._columns().values():
            column.set_order(order)

    @Slot(object)
    def _on_busy(self, info: dict) -> None:
        column = self._columns().get(info["slot"])
        if column is not None:
            column.show_busy(info["stage"])
        elif info["slot"] == "file" and info["stage"] == "loading":
            self.file_summary.setText("Loading model…")

    @Slot(object)
    def _on_progress(self, info: dict) -> None:
        if info["slot"] == "file":
            self.file_box.show_progress(int(info["done"]), int(info["total"]))

    @Slot(object)
    def _on_result(self, info: dict) -> None:
        self._learn(info)
        if info["kind"] == "evaluate":
            self._show_evaluation(info["evaluation"])
            return
        column = self._columns().get(info["slot"])
        if column is None:
            return
        if not info["predictions"]:
            if info.get("takes_pairs"):  # the picker did not know: the worker found out
                column.show_idle(PAIR_HINT)
            return
        prediction = info["predictions"][0]
        column.show_prediction(prediction, self.entry.current_order(), info.get("task"), info.get("task_state"))
        if info.get("note"):  # a LoRA adapter just loaded: on a new base, or switched on the one in memory
            column.show_note(info["note"])
        self._update_order_box()
        self.sig_predicted.emit(
            {"slot": info["slot"], "path": info["path"], "task": column.kind(), **prediction}
        )

    def _learn(self, info: dict) -> None:
        """Keep what the worker reported about a model; show the second box if it takes pairs."""
        if "takes_pairs" in info and info.get("path"):
            known = self._facts.get(info["path"], {}).get("takes_pairs")
            self._facts[info["path"]] = {k: info.get(k) for k in ("task", "task_state", "takes_pairs")}
            if known != info["takes_pairs"] or not self.picker.current_task():
                self._update_pair_box()

    def _update_order_box(self) -> None:
        """The bar order means nothing when every shown answer is a score or entities."""
        shown = [self.column_a] + ([self.column_b] if self.compare_box.isChecked() else [])
        self.order.setVisible(not all(c.kind() in (REGRESSION, TOKENS) for c in shown))

    @Slot(object)
    def _on_failed(self, info: dict) -> None:
        if info["slot"] not in ("a", "b", "file"):  # the language view's own
            return
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
        self.file_box.show_cancelled()

    # ------------------------------------------------------------------ file results
    def _show_evaluation(self, evaluation: dict) -> None:
        self.file_box.show_evaluation(evaluation, Path(self._file_path).name)
        self.sig_file_tested.emit({**evaluation, "path": self._file_path})

    def _show_file_error(self, message: str) -> None:
        self.file_box.show_error(message)
        self.sig_failed.emit({"slot": "file", "kind": "evaluate", "message": message})

    def _ask_file(self) -> str:
        path, _ = QFileDialog.getOpenFileName(self, "Test a labelled file", str(Path.home()), DATA_FILTER)
        return path


__all__ = ["TesterPanel", "BASE_MODEL", "EXAMPLES", "PAIR_EXAMPLES"]
