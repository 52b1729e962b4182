"""Choose the training data and see it before training: raw rows, the task and the columns it
reads (text, second text, labels), what the labels look like (class balance; label frequencies
and labels per row; the values' histogram; entities per type, the tag scheme and its repairs,
and the sentences with their entities highlighted), split sizes, token lengths against
max_length, and any problem in words -- with the one click that fixes it where there is one (a score-like label
column in Automatic mode: "Train as regression").

Loading runs `load_raw` (for the preview) and `prepare_data` (the exact splits training will use)
on the background runner; token lengths need the model's tokenizer, so they are measured in a
second task whenever the data or the model changes. Changing max_length only moves a line and
recomputes the truncated share from the stored lengths (engine `length_stats`), never re-tokenizes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ftstudio.engine.errors import user_message
from ftstudio.engine.settings import TrainSettings
from ftstudio.gui.background import BackgroundRunner, BackgroundTask
from ftstudio.gui.setup.data_choices import TOKEN_TASK, DataChoices, column_marks
from ftstudio.gui.setup.data_facts import describe_data, notes_text, scheme_line, scheme_tooltip, split_sizes
from ftstudio.gui.setup.data_rows import DataRowsView
from ftstudio.gui.setup.data_sources import OPEN_FILE, RECENT_KEY, DataSourceCombo, sample_task
from ftstudio.gui.setup.data_tasks import load_data, measure_token_lengths
from ftstudio.gui.setup.data_views import RawPreviewModel, TokenLengthChart
from ftstudio.gui.setup.label_charts import LabelSummaryView
from ftstudio.gui.setup.recent_paths import remember_path
from ftstudio.gui.style import set_role

SCORE_REFUSAL = "looks like a score"  # the engine's words when Automatic meets a score column
# Settings that change which rows land in which split: editing one re-prepares the data.
SPLIT_FIELDS = ("validation_split", "test_split", "max_samples", "seed")
FILE_FILTER = ("Data files (*.csv *.tsv *.tab *.txt *.json *.jsonl *.ndjson *.parquet *.gz *.bz2 *.xz);;"
               "All files (*)")


class DataPanel(QGroupBox):
    """The dataset picker and its preview and statistics.

    Signals:
      sig_data_changed(object): the `PreparedData` training will use, or None while loading or
        when the data is unusable (then `error()` says why, inline in red).
    """

    sig_data_changed = Signal(object)
    sig_lengths_measured = Signal()  # token lengths known: packed pre-training's rows (blocks) with them

    def __init__(self, runner: BackgroundRunner | None = None, parent: QWidget | None = None) -> None:
        super().__init__("Data", parent)
        self._runner = runner or BackgroundRunner(self)
        self._owns_runner = runner is None
        self._spec = "sample"
        self._base = TrainSettings()
        self._model_spec: str | None = "default"
        self._prepared: Any = None
        self._summary: dict[str, Any] | None = None
        self._error = ""
        self._load_task: BackgroundTask | None = None
        self._length_task: BackgroundTask | None = None
        self._lengths_key: tuple[str, int] | None = None
        self._lengths: Any = None
        self._last_index = 0
        # Spin-box edits of split settings arrive in bursts; reload once they settle.
        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(400)
        self._reload_timer.timeout.connect(self._load)
        self._started = False
        self._choices = DataChoices(self)
        self._choices.sig_changed.connect(self._load)
        self._build()
        self._fill_sources()
        # Loading starts once the event loop runs, so the window shows before threads compete.
        QTimer.singleShot(0, self._start)

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._load()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        self._source = DataSourceCombo()
        self._source.activated.connect(self._on_source_activated)
        self._hub = QLineEdit()
        self._hub.setObjectName("dataHubName")
        self._hub.setPlaceholderText("Hub dataset, e.g. stanfordnlp/imdb")
        self._hub.setClearButtonEnabled(True)
        self._hub.returnPressed.connect(self._on_hub_load)
        hub_button = QPushButton("Load")
        hub_button.setToolTip("Load a dataset from the Hugging Face Hub (or its local cache).")
        hub_button.clicked.connect(self._on_hub_load)
        self._splits = QLabel()
        self._splits.setObjectName("splitSizes")
        self._splits.setWordWrap(True)  # token data adds the tag scheme and its repairs
        self._message = QLabel()
        self._message.setObjectName("dataMessage")
        self._message.setWordWrap(True)
        self._message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._propose = QPushButton("Train as regression")
        self._propose.setObjectName("proposeRegression")
        self._propose.setToolTip("Set the task to Regression: the model learns to predict the label column's "
                                 "numbers instead of treating each value as a class.")
        self._propose.clicked.connect(lambda: self.set_task("regression"))
        self._propose.setVisible(False)

        self._table_model = RawPreviewModel(self)
        self._rows_view = DataRowsView(self._table_model)
        self._labels_view = LabelSummaryView()
        self._lengths_chart = TokenLengthChart()
        self._notes = QLabel()
        self._notes.setObjectName("dataNotes")
        self._notes.setWordWrap(True)
        set_role(self._notes, "hint")

        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        grid.addWidget(QLabel("Source"), 0, 0)
        grid.addWidget(self._source, 0, 1, 1, 3)
        grid.addWidget(QLabel("Hub"), 1, 0)
        hub_row = QHBoxLayout()
        hub_row.addWidget(self._hub, 1)
        hub_row.addWidget(hub_button)
        grid.addLayout(hub_row, 1, 1, 1, 3)
        self._choices.add_rows(grid, 2)
        message_row = QHBoxLayout()
        message_row.addWidget(self._message, 1)
        message_row.addWidget(self._propose, 0, Qt.AlignmentFlag.AlignVCenter)
        charts = QSplitter(Qt.Orientation.Horizontal)
        charts.addWidget(self._labels_view)
        charts.addWidget(self._lengths_chart)
        charts.setSizes([300, 300])
        body = QSplitter(Qt.Orientation.Vertical)
        body.addWidget(self._rows_view)
        body.addWidget(charts)
        body.setSizes([180, 320])  # the label charts (two for multi-label) need the height more
        body.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addLayout(message_row)
        layout.addWidget(self._splits)
        layout.addWidget(body, 1)
        layout.addWidget(self._notes)

    def _fill_sources(self) -> None:
        self._last_index = self._source.fill(self._spec)

    def _select_spec(self, spec: str) -> None:
        self._last_index = self._source.select(spec)

    # ------------------------------------------------------------------ public
    def data_spec(self) -> str:
        """What TrainSettings.data gets: a sample ("sample", "sample:pairs", ...), a file/folder
        path or a Hub dataset name."""
        return self._spec

    def task(self) -> str:
        """The Task choice: auto, single-label, multi-label or regression."""
        return self._choices.value("task")

    def text_column(self) -> str | None:
        """The column the user picked, or None when detection is left to the engine."""
        return self._choices.value("text_column")

    def label_column(self) -> str | None:
        """One column, or several 0/1 columns as 'a,b,c'; None: detected."""
        return self._choices.value("label_column")

    def choices(self) -> dict[str, Any]:
        """task, text_column, text_pair_column, label_column, label_separator and tag_names for TrainSettings."""
        return self._choices.choices()

    def prepared(self) -> Any:
        return self._prepared

    def summary(self) -> dict[str, Any] | None:
        """`engine.data.summary.summarize()` of the prepared data (None when there is none)."""
        return self._summary if self._prepared is not None else None

    def error(self) -> str:
        """Why the data cannot be trained on ("" when it can, or while it is still loading)."""
        return self._error

    def is_loading(self) -> bool:
        return self._load_task is not None

    def set_data(self, spec: str, text_column: str | None = None, label_column: str | None = None,
                 text_pair_column: str | None = None) -> None:
        """Select data and columns (None: detected) and load it; the Task choice stays (unless
        it only came with an embedded sample and this is not one)."""
        self._spec = (spec or "sample").strip() or "sample"
        if sample_task(self._spec) is None:
            self._choices.leave_sample()
        self._choices.reset_columns(text_column, label_column, text_pair_column)
        self._select_spec(self._spec)
        if self._started:
            self._load()

    def set_choices(self, settings: TrainSettings) -> None:
        """Select the data, task and columns of `settings` (a settings file, saved choices) and load it."""
        self._spec = (settings.data or "sample").strip() or "sample"
        self._choices.set_choices(settings)
        self._select_spec(self._spec)
        if self._started:
            self._load()

    def set_task(self, task: str) -> None:
        """Choose the task (auto, single-label, multi-label, regression) and prepare the data for it."""
        self._choices.set_task(task)
        if self._started:
            self._load()

    def choose_file(self, path: str) -> None:
        """Use a data file (what Open file... does after its dialog); remembered as recent."""
        path = str(Path(path).expanduser().resolve())
        remember_path(RECENT_KEY, path)
        self._spec = path
        self._fill_sources()
        self.set_data(path)

    def set_settings(self, settings: TrainSettings) -> None:
        """Follow the settings that shape the splits (reload, debounced) and max_length (redraw)."""
        old, self._base = self._base, settings
        if self._started and any(getattr(old, name) != getattr(settings, name) for name in SPLIT_FIELDS):
            self._reload_timer.start()
        if (old.max_length, old.pack_texts) != (settings.max_length, settings.pack_texts):
            self._show_lengths()

    def set_model_spec(self, spec: str | None) -> None:
        """Token lengths depend on the model's tokenizer: re-measure for a new model. None: the
        model is not on disk yet (a Hub id), and measuring must not download it."""
        self._model_spec = spec
        self._measure_lengths()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override; used alone (tests), not in the window
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        self._started = True  # a start still queued must not submit work now
        self._reload_timer.stop()
        for task in (self._load_task, self._length_task):
            if task is not None:
                task.cancel()
        if self._owns_runner:
            self._runner.shutdown()

    # ------------------------------------------------------------------ choosing
    @Slot(int)
    def _on_source_activated(self, index: int) -> None:
        spec = self._source.itemData(index)
        if spec == OPEN_FILE:
            path, _filter = QFileDialog.getOpenFileName(self, "Choose a data file", "", FILE_FILTER)
            if not path:
                self._source.setCurrentIndex(self._last_index)
                return
            self.choose_file(path)
            return
        self._last_index = index
        task = sample_task(str(spec))
        if task is not None:  # an embedded sample brings the task it was made for
            self._choices.set_task(task, of_sample=True)
        self.set_data(str(spec))

    @Slot()
    def _on_hub_load(self) -> None:
        name = self._hub.text().strip()
        if not name:
            self._show_error("Type a Hub dataset name first, e.g. stanfordnlp/imdb.")
            return
        self.set_data(name)

    # ------------------------------------------------------------------ loading
    def _load(self) -> None:
        self._reload_timer.stop()
        for task in (self._load_task, self._length_task):
            if task is not None:
                task.cancel()
        self._length_task = None
        # metric_for_best is checked against the task by the page, not here: a metric of another
        # task must not hide the data's preview.
        settings = self._base.replace(data=self._spec, metric_for_best="auto", **self._choices.choices())
        self._prepared, self._error, self._lengths, self._lengths_key = None, "", None, None
        self._propose.setVisible(False)
        self._show_message(f"Loading {Path(self._spec).name if not self._spec.startswith('sample') else 'the sample'}...",
                           "busy")
        self.sig_data_changed.emit(None)
        self._load_task = self._runner.submit(load_data, settings, pass_task=True, name="prepare-data",
                                              on_result=self._on_loaded, on_error=self._on_load_failed)

    @Slot(object)
    def _on_loaded(self, result: dict[str, Any]) -> None:
        self._load_task = None
        columns, rows = result["preview"]
        prepared, problem = result["prepared"], result["error"]
        self._choices.show_columns(columns, prepared, result["columns"], tokens=result.get("tokens", False))
        tokens = self._choices.effective_task() == TOKEN_TASK
        self._table_model.set_rows(columns, rows, column_marks(result["columns"], self._choices.choices(), tokens))
        self._rows_view.fit_columns(pairs=prepared is not None and prepared.text_pair_column is not None)
        if prepared is None:
            self._clear_views()
            message = user_message(problem, "Cannot read this data")
            self._show_error(message)
            self._propose.setVisible(self.task() == "auto" and SCORE_REFUSAL in message)
            return
        self._prepared, self._summary = prepared, result["summary"]
        summary = self._summary
        self._show_message(describe_data(summary), "ok")
        self._splits.setText("\n".join(line for line in (split_sizes(summary), scheme_line(summary)) if line))
        self._splits.setToolTip(scheme_tooltip(summary))
        self._rows_view.show_sentences(result.get("sentences"))
        self._labels_view.set_summary(summary["labels"]["train"], prepared.label_column, result.get("texts"))
        self._notes.setText(notes_text(summary))
        self.sig_data_changed.emit(prepared)
        self._measure_lengths()

    @Slot(object)
    def _on_load_failed(self, exc: BaseException) -> None:
        self._load_task = None
        self._table_model.set_rows([], [])
        self._choices.clear_columns()
        self._clear_views()
        self._show_error(user_message(exc, "Cannot read this data"))

    def _clear_views(self) -> None:
        self._labels_view.clear()
        self._lengths_chart.clear("")
        self._rows_view.show_sentences(None)
        self._splits.setText("")
        self._splits.setToolTip("")
        self._notes.setText("")

    # ------------------------------------------------------------------ token lengths
    def _measure_lengths(self) -> None:
        if self._prepared is None:
            return
        if self._model_spec is None:
            if self._length_task is not None:
                self._length_task.cancel()
            self._lengths, self._lengths_key, self._length_task = None, None, None
            self._lengths_chart.clear("Token lengths appear once the model is downloaded.")
            return
        key = (self._model_spec, id(self._prepared))
        if key == self._lengths_key and self._lengths is not None:
            return
        if self._length_task is not None:
            self._length_task.cancel()
        self._lengths, self._lengths_key = None, key
        self._lengths_chart.clear("Measuring token lengths with the model's tokenizer...")
        self._length_task = self._runner.submit(
            measure_token_lengths, self._prepared, self._model_spec, pass_task=True, name="token-lengths",
            on_result=self._on_lengths, on_error=self._on_lengths_failed)

    @Slot(object)
    def _on_lengths(self, lengths: Any) -> None:
        self._length_task = None
        self._lengths = lengths
        self._show_lengths()
        self.sig_lengths_measured.emit()

    @Slot(object)
    def _on_lengths_failed(self, exc: BaseException) -> None:
        self._length_task = None
        self._lengths_chart.clear(f"Token lengths unavailable: {user_message(exc, 'Cannot tokenize')}")

    def training_rows(self) -> int:
        """The rows a run will train on: the training texts, or for packed pre-training the
        blocks of max_length their tokens fill (once the token lengths are known)."""
        if self._prepared is None:
            return 0
        texts = len(self._prepared.splits["train"])
        if self._prepared.task.language_model and self._base.pack_texts and self._lengths is not None:
            return max(1, -(-int(self._lengths.sum()) // self._base.max_length))
        return texts

    def _show_lengths(self) -> None:
        if self._lengths is None or self._prepared is None:
            return
        from ftstudio.engine.data.summary import length_stats

        stats = length_stats(self._lengths, self._base.max_length)
        token_level = self._prepared.task.token_level
        if token_level:  # as the engine's summary says: long sentences are split into windows, not cut
            stats["long_handling"] = "split"
        elif self._prepared.task.language_model and self._base.pack_texts:  # joined into full blocks, not cut
            stats["long_handling"] = "packed"
        self._lengths_chart.set_stats(stats, pairs=self._prepared.text_pair_column is not None,
                                      sentences=token_level)

    # ------------------------------------------------------------------ messages
    def _show_error(self, text: str) -> None:
        self._error = text
        self._show_message(text, "error")

    def _show_message(self, text: str, role: str) -> None:
        self._message.setText(text)
        set_role(self._message, role)

