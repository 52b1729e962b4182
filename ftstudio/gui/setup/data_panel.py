"""Choose the training data and see it before training: raw rows, the text and label columns,
class balance, split sizes, token lengths against max_length, and any problem in words.

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
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ftstudio.engine.errors import user_message
from ftstudio.engine.settings import TrainSettings
from ftstudio.gui.background import BackgroundRunner, BackgroundTask
from ftstudio.gui.setup.data_tasks import load_data, measure_token_lengths
from ftstudio.gui.setup.data_views import ClassCountsChart, RawPreviewModel, TokenLengthChart
from ftstudio.gui.setup.recent_paths import recent_paths, remember_path
from ftstudio.gui.style import set_role

SAMPLE_LABEL = "Embedded sample: airline tweets (3 classes)"
OPEN_FILE = "__open_file__"
RECENT_KEY = "data/recent_files"
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

    def __init__(self, runner: BackgroundRunner | None = None, parent: QWidget | None = None) -> None:
        super().__init__("Data", parent)
        self._runner = runner or BackgroundRunner(self)
        self._owns_runner = runner is None
        self._spec = "sample"
        self._text_choice: str | None = None  # None: let the engine detect the column
        self._label_choice: str | None = None
        self._base = TrainSettings()
        self._model_spec: str | None = "default"
        self._prepared: Any = None
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
        self._source = QComboBox()
        self._source.setObjectName("dataSource")
        self._source.setToolTip("The labelled texts to train on: the embedded sample or a CSV/TSV/JSON/"
                                "JSONL/Parquet file (a folder with train/validation/test files works too).")
        self._source.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self._source.setMinimumContentsLength(24)
        self._source.activated.connect(self._on_source_activated)
        self._hub = QLineEdit()
        self._hub.setObjectName("dataHubName")
        self._hub.setPlaceholderText("Hub dataset, e.g. stanfordnlp/imdb")
        self._hub.setClearButtonEnabled(True)
        self._hub.returnPressed.connect(self._on_hub_load)
        hub_button = QPushButton("Load")
        hub_button.setToolTip("Load a dataset from the Hugging Face Hub (or its local cache).")
        hub_button.clicked.connect(self._on_hub_load)
        self._text_combo, self._label_combo = QComboBox(), QComboBox()
        self._text_combo.setObjectName("textColumn")
        self._label_combo.setObjectName("labelColumn")
        self._text_combo.setToolTip("The column holding the texts to classify (detected automatically).")
        self._label_combo.setToolTip("The column holding the class of each text (detected automatically).")
        self._text_combo.activated.connect(lambda _i: self._on_column_chosen())
        self._label_combo.activated.connect(lambda _i: self._on_column_chosen())
        self._splits = QLabel()
        self._splits.setObjectName("splitSizes")
        self._message = QLabel()
        self._message.setObjectName("dataMessage")
        self._message.setWordWrap(True)
        self._message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self._table_model = RawPreviewModel(self)
        self._table = QTableView()
        self._table.setObjectName("dataPreview")
        self._table.setModel(self._table_model)
        self._table.setAlternatingRowColors(True)
        self._table.setWordWrap(False)
        self._table.verticalHeader().setDefaultSectionSize(22)
        self._table.horizontalHeader().setStretchLastSection(True)
        self._classes = ClassCountsChart()
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
        grid.addWidget(QLabel("Text column"), 2, 0)
        grid.addWidget(self._text_combo, 2, 1)
        grid.addWidget(QLabel("Label column"), 2, 2)
        grid.addWidget(self._label_combo, 2, 3)
        charts = QSplitter(Qt.Orientation.Horizontal)
        charts.addWidget(self._classes)
        charts.addWidget(self._lengths_chart)
        charts.setSizes([260, 340])
        body = QSplitter(Qt.Orientation.Vertical)
        body.addWidget(self._table)
        body.addWidget(charts)
        body.setSizes([260, 200])
        body.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addWidget(self._message)
        layout.addWidget(self._splits)
        layout.addWidget(body, 1)
        layout.addWidget(self._notes)

    def _fill_sources(self) -> None:
        combo = self._source
        combo.blockSignals(True)
        combo.clear()
        combo.addItem(SAMPLE_LABEL, "sample")
        recent = [p for p in recent_paths(RECENT_KEY) if Path(p).exists()]
        if recent:
            combo.insertSeparator(combo.count())
            for path in recent:
                combo.addItem(f"File: {Path(path).name}", path)
                combo.setItemData(combo.count() - 1, path, Qt.ItemDataRole.ToolTipRole)
        combo.insertSeparator(combo.count())
        combo.addItem("Open file...", OPEN_FILE)
        self._select_spec(self._spec)
        combo.blockSignals(False)

    def _select_spec(self, spec: str) -> None:
        index = self._source.findData(spec)
        if index < 0:
            label = f"File: {Path(spec).name}" if Path(spec).exists() else f"Hub: {spec}"
            index = self._source.count() - 2
            self._source.insertItem(index, label, spec)
            self._source.setItemData(index, spec, Qt.ItemDataRole.ToolTipRole)
        self._source.setCurrentIndex(index)
        self._last_index = index

    # ------------------------------------------------------------------ public
    def data_spec(self) -> str:
        """What TrainSettings.data gets: "sample", a file/folder path or a Hub dataset name."""
        return self._spec

    def text_column(self) -> str | None:
        """The column the user picked, or None when detection is left to the engine."""
        return self._text_choice

    def label_column(self) -> str | None:
        return self._label_choice

    def prepared(self) -> Any:
        return self._prepared

    def error(self) -> str:
        """Why the data cannot be trained on ("" when it can, or while it is still loading)."""
        return self._error

    def is_loading(self) -> bool:
        return self._load_task is not None

    def set_data(self, spec: str, text_column: str | None = None, label_column: str | None = None) -> None:
        """Select data and columns (from saved choices or a settings file) and load it."""
        self._spec = (spec or "sample").strip() or "sample"
        self._text_choice, self._label_choice = text_column or None, label_column or None
        self._select_spec(self._spec)
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
        if old.max_length != settings.max_length:
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
        self.set_data(str(spec))

    @Slot()
    def _on_hub_load(self) -> None:
        name = self._hub.text().strip()
        if not name:
            self._show_error("Type a Hub dataset name first, e.g. stanfordnlp/imdb.")
            return
        self.set_data(name)

    def _on_column_chosen(self) -> None:
        text, label = self._text_combo.currentText(), self._label_combo.currentText()
        self._text_choice, self._label_choice = text or None, label or None
        self._load()

    # ------------------------------------------------------------------ loading
    def _load(self) -> None:
        self._reload_timer.stop()
        for task in (self._load_task, self._length_task):
            if task is not None:
                task.cancel()
        self._length_task = None
        settings = self._base.replace(data=self._spec, text_column=self._text_choice,
                                      label_column=self._label_choice)
        self._prepared, self._error, self._lengths, self._lengths_key = None, "", None, None
        self._show_message(f"Loading {Path(self._spec).name if self._spec != 'sample' else 'the sample'}...", "busy")
        self.sig_data_changed.emit(None)
        self._load_task = self._runner.submit(load_data, settings, pass_task=True, name="prepare-data",
                                              on_result=self._on_loaded, on_error=self._on_load_failed)

    @Slot(object)
    def _on_loaded(self, result: dict[str, Any]) -> None:
        self._load_task = None
        columns, rows = result["preview"]
        prepared, problem = result["prepared"], result["error"]
        text = prepared.text_column if prepared else self._text_choice
        label = prepared.label_column if prepared else self._label_choice
        self._table_model.set_rows(columns, rows, text, label)
        self._fit_columns()
        for combo, current in ((self._text_combo, text), (self._label_combo, label)):
            combo.clear()
            combo.addItems(columns)
            combo.setCurrentIndex(columns.index(current) if current in columns else -1)
        if prepared is None:
            self._show_error(user_message(problem, "Cannot read this data"))
            self._classes.clear()
            self._lengths_chart.clear("")
            self._splits.setText("")
            self._notes.setText("")
            return
        self._prepared = prepared
        summary = result["summary"]
        self._show_message(f"{summary['source']}: {len(prepared.label_names)} classes "
                           f"({', '.join(prepared.label_names[:8])}{', ...' if len(prepared.label_names) > 8 else ''})",
                           "ok")
        self._splits.setText("Rows: " + ", ".join(f"{split} {n:,}" for split, n in summary["rows"].items()))
        self._classes.set_counts(summary["classes"].get("train", {}))
        self._notes.setText("\n".join(summary["notes"]))
        self.sig_data_changed.emit(prepared)
        self._measure_lengths()

    @Slot(object)
    def _on_load_failed(self, exc: BaseException) -> None:
        self._load_task = None
        self._table_model.set_rows([], [], None, None)
        for combo in (self._text_combo, self._label_combo):
            combo.clear()
        self._classes.clear()
        self._lengths_chart.clear("")
        self._splits.setText("")
        self._notes.setText("")
        self._show_error(user_message(exc, "Cannot read this data"))

    def _fit_columns(self) -> None:
        """Size columns to their contents, but no column (a long text) may hide the others."""
        header = self._table.horizontalHeader()
        header.setStretchLastSection(False)
        self._table.resizeColumnsToContents()
        limit = max(120, int(self._table.viewport().width() * 0.6))
        for column in range(self._table_model.columnCount()):
            header.resizeSection(column, min(header.sectionSize(column), limit))
        header.setStretchLastSection(True)

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

    @Slot(object)
    def _on_lengths_failed(self, exc: BaseException) -> None:
        self._length_task = None
        self._lengths_chart.clear(f"Token lengths unavailable: {user_message(exc, 'Cannot tokenize')}")

    def _show_lengths(self) -> None:
        if self._lengths is None:
            return
        from ftstudio.engine.data.summary import length_stats

        self._lengths_chart.set_stats(length_stats(self._lengths, self._base.max_length))

    # ------------------------------------------------------------------ messages
    def _show_error(self, text: str) -> None:
        self._error = text
        self._show_message(text, "error")

    def _show_message(self, text: str, role: str) -> None:
        self._message.setText(text)
        set_role(self._message, role)
