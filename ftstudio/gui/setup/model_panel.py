"""Choose the pretrained model: the embedded default, the local Hugging Face cache, a folder, or
a Hub id to download, and see what it is (architecture, depth, width, parameters).

Everything that touches the disk or the network runs on the background runner: the cache listing,
inspection (config.json and the safetensors header only) and downloads. An offline Hub answers
within seconds with a message in words (the engine checks reachability before downloading).
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
    QProgressBar,
    QPushButton,
    QWidget,
)

from ftstudio.engine.errors import user_message
from ftstudio.engine.models.sources import folder_display
from ftstudio.gui.background import BackgroundRunner, BackgroundTask
from ftstudio.gui.setup.objective_view import ObjectiveView
from ftstudio.gui.setup.recent_paths import add_recent_items, remember_path
from ftstudio.gui.style import set_role

DEFAULT_LABEL = "Embedded: all-MiniLM-L6-v2 (default)"
OPEN_FOLDER = "__open_folder__"
RECENT_KEY = "model/recent_folders"


class ModelPanel(QGroupBox):
    """The model picker and its facts.

    Signals:
      sig_model_changed(object): the inspected `ModelInfo`, or None while the choice is being
        read or when it is unusable (the inline message says why).
    """

    sig_model_changed = Signal(object)

    def __init__(self, runner: BackgroundRunner | None = None, parent: QWidget | None = None) -> None:
        super().__init__("Model", parent)
        self._runner = runner or BackgroundRunner(self)
        self._owns_runner = runner is None
        self._inspect_task: BackgroundTask | None = None
        self._download_task: BackgroundTask | None = None
        self._info: Any = None
        self._spec = "default"
        self._last_index = 0
        self._cached: list[Any] = []
        self._started = False
        self._build()
        self._fill_sources([])
        # Work starts once the event loop runs, so the window shows before any thread competes.
        QTimer.singleShot(0, self._start)

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        self._runner.submit(_list_cache, on_result=self._on_cache_listed, name="list-cache")
        self._inspect(self._spec)

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        self._source = QComboBox()
        self._source.setObjectName("modelSource")
        self._source.setToolTip("The pretrained encoder to fine-tune: the embedded default, a model in your "
                                "Hugging Face cache, or a folder written by save_pretrained.")
        self._source.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self._source.setMinimumContentsLength(24)
        self._source.activated.connect(self._on_source_activated)
        self._hub = QLineEdit()
        self._hub.setObjectName("modelHubId")
        self._hub.setPlaceholderText("Hub id, e.g. google-bert/bert-base-uncased")
        self._hub.setClearButtonEnabled(True)
        self._hub.returnPressed.connect(self._on_download)
        self._download = QPushButton("Download")
        self._download.setToolTip("Fetch config, tokenizer and safetensors weights into the Hugging Face cache.")
        self._download.clicked.connect(self._on_download)
        self._progress = QProgressBar()
        self._progress.setMaximumWidth(160)
        self._progress.setVisible(False)
        self._facts = QLabel()
        self._facts.setObjectName("modelFacts")
        self._facts.setWordWrap(True)
        self._facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._message = QLabel()
        self._message.setObjectName("modelMessage")
        self._message.setWordWrap(True)
        self._message.setVisible(False)
        # Download news has its own line: a failed download leaves the chosen model usable.
        self._hub_message = QLabel()
        self._hub_message.setObjectName("modelHubMessage")
        self._hub_message.setWordWrap(True)
        self._hub_message.setVisible(False)
        # Continued pre-training: the objective the model continues with and its head (the page
        # turns it on with the task).
        self.objective = ObjectiveView(self._runner)

        grid = QGridLayout(self)
        grid.setColumnStretch(1, 1)
        grid.addWidget(QLabel("Source"), 0, 0)
        grid.addWidget(self._source, 0, 1, 1, 2)
        grid.addWidget(QLabel("Hub"), 1, 0)
        hub_row = QHBoxLayout()
        hub_row.addWidget(self._hub, 1)
        hub_row.addWidget(self._progress)
        hub_row.addWidget(self._download)
        grid.addLayout(hub_row, 1, 1, 1, 2)
        grid.addWidget(self._hub_message, 2, 1, 1, 2)
        grid.addWidget(self._facts, 3, 0, 1, 3)
        grid.addWidget(self._message, 4, 0, 1, 3)
        grid.addWidget(self.objective, 5, 0, 1, 3)

    def _fill_sources(self, cached: list[Any]) -> None:
        """Default, cached models, recent folders, Open folder...; keeps the current choice."""
        combo = self._source
        combo.blockSignals(True)
        combo.clear()
        combo.addItem(DEFAULT_LABEL, "default")
        if cached:
            combo.insertSeparator(combo.count())
            for entry in cached:
                note = "" if entry.complete else "  (incomplete)"
                combo.addItem(f"Cached: {entry.repo_id}  · {_size(entry.size_bytes)}{note}", entry.repo_id)
                combo.setItemData(combo.count() - 1, str(entry.path), Qt.ItemDataRole.ToolTipRole)
        add_recent_items(combo, RECENT_KEY, Path.is_dir, "Folder")
        combo.insertSeparator(combo.count())
        combo.addItem("Open folder...", OPEN_FOLDER)
        self._select_spec(self._spec)
        combo.blockSignals(False)

    def _select_spec(self, spec: str) -> None:
        index = self._source.findData(spec)
        if index < 0:  # a spec from a settings file or a download: show it as its own entry
            # (a run's checkpoint is named by its run: "Folder: 20261129-1200-default-corpus/best")
            label = f"Folder: {folder_display(Path(spec).resolve())}" if Path(spec).is_dir() else f"Hub: {spec}"
            index = self._source.count() - 2  # before the separator that precedes Open folder...
            self._source.insertItem(index, label, spec)
            self._source.setItemData(index, spec, Qt.ItemDataRole.ToolTipRole)
        self._source.setCurrentIndex(index)
        self._last_index = index

    # ------------------------------------------------------------------ public
    def model_spec(self) -> str:
        """What TrainSettings.model gets: "default", a folder path or a Hub id."""
        return self._spec

    def model_info(self) -> Any:
        """The last inspected ModelInfo, or None (inspecting, or the choice is unusable)."""
        return self._info

    def error(self) -> str:
        """The inline problem with the current choice ("" when none)."""
        return self._message.text() if self._message.property("role") == "error" else ""

    def download_error(self) -> str:
        """Why the last download failed ("" when it did not)."""
        return self._hub_message.text() if self._hub_message.property("role") == "error" else ""

    def is_busy(self) -> bool:
        return self._inspect_task is not None

    def set_model_spec(self, spec: str) -> None:
        """Select a model by spec (from saved choices or a settings file) and inspect it."""
        spec = (spec or "default").strip() or "default"
        self._spec = spec
        self._select_spec(spec)
        if self._started:
            self._inspect(spec)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override; used alone (tests), not in the window
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        self._started = True  # a start still queued must not submit work now
        for task in (self._inspect_task, self._download_task):
            if task is not None:
                task.cancel()
        self.objective.shutdown()
        if self._owns_runner:
            self._runner.shutdown()

    # ------------------------------------------------------------------ choosing
    @Slot(int)
    def _on_source_activated(self, index: int) -> None:
        spec = self._source.itemData(index)
        if spec == OPEN_FOLDER:
            folder = QFileDialog.getExistingDirectory(self, "Choose a model folder (with config.json)")
            if not folder:
                self._source.setCurrentIndex(self._last_index)
                return
            self.choose_folder(folder)
            return
        self._last_index = index
        self._inspect(str(spec))

    def choose_folder(self, folder: str) -> None:
        """Use a model folder (what Open folder... does after its dialog); remembered as recent."""
        folder = str(Path(folder).expanduser().resolve())
        remember_path(RECENT_KEY, folder)
        self._spec = folder
        self._fill_sources(self._cached)
        self._inspect(folder)

    def _inspect(self, spec: str) -> None:
        self._spec = spec
        if self._inspect_task is not None:
            self._inspect_task.cancel()
        self._info = None
        self._show_message("Reading the model...", "busy")
        self._facts.setText("")
        self.objective.set_model(None)
        self.sig_model_changed.emit(None)
        self._inspect_task = self._runner.submit(
            _inspect, spec, on_result=self._on_inspected, on_error=self._on_inspect_failed, name="inspect-model"
        )

    @Slot(object)
    def _on_inspected(self, info: Any) -> None:
        self._inspect_task = None
        self._info = info
        self._facts.setText(describe_model(info))
        source = getattr(info, "source", None)
        if source is not None and source.kind == "hub":
            self._show_message("Not downloaded yet: it will be fetched when training starts, "
                               "or press Download now.", "hint")
        elif getattr(info, "weights", "") == "pickle":
            self._show_message("This folder has only pickle weights (.bin): tick 'Allow pickle weights (.bin)' "
                               "under Safety if you trust its source.", "hint")
        else:
            self._show_message("", "hint")
        self.objective.set_model(self._spec)
        self.sig_model_changed.emit(info)

    @Slot(object)
    def _on_inspect_failed(self, exc: BaseException) -> None:
        self._inspect_task = None
        self._info = None
        self._facts.setText("")
        self._show_message(user_message(exc, "Unexpected problem"), "error")
        self.sig_model_changed.emit(None)

    # ------------------------------------------------------------------ downloading
    @Slot()
    def _on_download(self) -> None:
        repo_id = self._hub.text().strip()
        if not repo_id:
            self._show_hub_message("Type a Hub model id first, e.g. google-bert/bert-base-uncased.", "error")
            return
        if self._download_task is not None:
            return
        self._download.setEnabled(False)
        self._progress.setRange(0, 0)
        self._progress.setVisible(True)
        self._show_hub_message(f"Contacting the Hugging Face Hub for {repo_id}...", "busy")
        self._download_task = self._runner.submit(
            _download, repo_id, pass_task=True, name="download-model",
            on_result=self._on_downloaded, on_error=self._on_download_failed, on_progress=self._on_download_progress,
            on_done=self._on_download_done,
        )

    @Slot(object)
    def _on_download_progress(self, payload: Any) -> None:
        done, total = payload
        if total > 0:
            self._progress.setRange(0, 1000)
            self._progress.setValue(int(1000 * done / total))
            self._progress.setFormat(f"{_size(done)} / {_size(total)}")
            self._show_hub_message("Downloading...", "busy")

    @Slot(object)
    def _on_downloaded(self, repo_id: str) -> None:
        self._hub.clear()
        self._show_hub_message(f"Downloaded {repo_id} into the Hugging Face cache.", "ok")
        self._spec = repo_id
        self._runner.submit(_list_cache, on_result=self._on_cache_listed, name="list-cache")
        self._select_spec(repo_id)
        self._inspect(repo_id)

    @Slot(object)
    def _on_download_failed(self, exc: BaseException) -> None:
        self._show_hub_message(user_message(exc, "Unexpected problem"), "error")

    @Slot()
    def _on_download_done(self) -> None:
        self._download_task = None
        self._download.setEnabled(True)
        self._progress.setVisible(False)

    @Slot(object)
    def _on_cache_listed(self, cached: list[Any]) -> None:
        self._cached = cached
        self._fill_sources(cached)

    def _show_hub_message(self, text: str, role: str) -> None:
        self._hub_message.setText(text)
        self._hub_message.setVisible(bool(text))
        set_role(self._hub_message, role)

    def _show_message(self, text: str, role: str) -> None:
        self._message.setText(text)
        self._message.setVisible(bool(text))
        set_role(self._message, role)


# ------------------------------------------------------------------ off the UI thread
def _list_cache() -> list[Any]:
    from ftstudio.engine.models.files import list_cached_models

    return list_cached_models()


def _inspect(spec: str) -> Any:
    from ftstudio.engine.models.sources import inspect_model, resolve_model_source

    # allow_pickle: a pickle-only folder is shown (with a hint) rather than refused at pick time.
    return inspect_model(resolve_model_source(spec, allow_pickle=True))


def _download(task: BackgroundTask, repo_id: str) -> str:
    from ftstudio.engine.models.sources import ensure_local, resolve_model_source

    source = resolve_model_source(repo_id)  # offline: a ModelError within seconds
    ensure_local(source, progress=lambda done, total: task.report_progress((done, total)))
    return repo_id


# ------------------------------------------------------------------ helpers
def describe_model(info: Any) -> str:
    """One line of facts: architecture, depth, width, heads, parameters, context length."""
    parts = [f"<b>{info.architecture}</b> ({info.model_type})"]
    if info.num_layers:
        parts.append(f"{info.num_layers} layers")
    if info.hidden_size:
        parts.append(f"hidden {info.hidden_size}")
    if info.num_heads:
        parts.append(f"{info.num_heads} heads")
    if info.num_parameters:
        parts.append(f"{format_count(info.num_parameters)} params")
    if info.max_position_embeddings:
        parts.append(f"max {info.max_position_embeddings} tokens")
    return " · ".join(parts)


def format_count(n: int) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return str(n)


def _size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"
