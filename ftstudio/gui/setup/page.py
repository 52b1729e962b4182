"""The Setup tab: model and data on the left, the settings in the middle, the fine-tuning strategy
over the layers it freezes on the right, one red line saying why a run cannot start, and a line of
advice (with its button) when the planned run has too few steps for its learning rate. The
Hardware group also says the memory the run needs against the device's (memory_note.py), with a
warning above the panels when it will not fit (advice: Start still runs it). For
continued pre-training the Model panel says the objective and what happens to the head, and a
model that cannot pre-train stops Start with the engine's reason.

The page keeps its panels in step (a new model re-measures token lengths and resizes the layer
table, a new strategy redraws it, split settings reload the data), gathers them into one
`TrainSettings`, and remembers the last choices in QSettings.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, Signal, Slot
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from ftstudio.engine.errors import SettingsError
from ftstudio.engine.settings import TrainSettings
from ftstudio.engine.settings.train_settings import TASKS
from ftstudio.engine.training.advice import run_advice
from ftstudio.gui.background import BackgroundRunner
from ftstudio.gui.setup.advice_bar import AdviceBar
from ftstudio.gui.setup.data_choices import CHOICE_FIELDS, PRETRAIN_TASK, settings_choices
from ftstudio.gui.setup.data_panel import DataPanel
from ftstudio.gui.setup.layers_view import LayersView
from ftstudio.gui.setup.memory_note import MemoryNote, place_in_group
from ftstudio.gui.setup.model_panel import ModelPanel
from ftstudio.gui.setup.settings_panel import SettingsPanel
from ftstudio.gui.style import set_role

# Chosen in the Model and Data panels and remembered on their own keys ("choices/<name>").
_NOT_SETTINGS = ("model", "data", *CHOICE_FIELDS, "extra")
# The settings the user changed from the defaults. The old key held every field, defaults
# included, so it cannot tell a choice from a former default: it is dropped, not read.
_CHANGED_SETTINGS_KEY = "choices/changed_settings"
_OLD_SETTINGS_KEY = "choices/settings"


class SetupPage(QWidget):
    """Model, data, settings and layers, and what stops a run from starting.

    Signals:
      sig_problem(str): the problem line changed ("" when cleared); the window shows the tab.
    """

    sig_problem = Signal(str)

    def __init__(self, runner: BackgroundRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_panel = ModelPanel(runner)
        self.data_panel = DataPanel(runner)
        self.settings_panel = SettingsPanel(runner)
        self.layers_view = LayersView()
        self.problem = QLabel()
        self.problem.setObjectName("setupProblem")
        self.problem.setWordWrap(True)
        self.problem.setVisible(False)
        self.problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        set_role(self.problem, "error")
        self.advice = AdviceBar()
        self.memory_note = MemoryNote(runner)  # in the Hardware group; its warning in the advice area
        self._build()
        self.advice.sig_learning_rate.connect(self._on_use_learning_rate)
        self.model_panel.sig_model_changed.connect(self._on_model_changed)
        self.settings_panel.sig_changed.connect(self._on_settings_changed)
        self.data_panel.sig_data_changed.connect(self._on_data_changed)
        self.data_panel.sig_lengths_measured.connect(self._refresh_advice)
        self.layers_view.sig_plan_changed.connect(self._on_plan_changed)
        self.model_panel.objective.sig_objective.connect(self.settings_panel.set_objective)
        self._on_settings_changed("*")

    def _build(self) -> None:
        left = QWidget()
        left_column = QVBoxLayout(left)
        left_column.setContentsMargins(0, 0, 0, 0)
        left_column.addWidget(self.model_panel)
        left_column.addWidget(self.data_panel, 1)
        # The strategy editor sits over the layers it freezes, so both are seen together; three
        # columns give the settings and the layer table the window's full height.
        strategy = QWidget()
        strategy_column = QVBoxLayout(strategy)
        strategy_column.setContentsMargins(0, 0, 0, 0)
        strategy_column.addWidget(self.settings_panel.strategy_box)
        strategy_column.addWidget(self.layers_view, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        for index, (widget, stretch) in enumerate(((left, 5), (self.settings_panel, 3), (strategy, 3))):
            self.splitter.addWidget(widget)
            self.splitter.setStretchFactor(index, stretch)
        self.splitter.setSizes([560, 340, 340])
        self.splitter.setChildrenCollapsible(False)
        column = QVBoxLayout(self)
        column.setContentsMargins(6, 6, 6, 6)
        column.addWidget(self.problem)
        column.addWidget(self.advice)
        column.addWidget(self.memory_note.warning)
        column.addWidget(self.splitter, 1)
        place_in_group(self.settings_panel.widget_for("device"), self.memory_note)

    # ------------------------------------------------------------------ settings
    def current_settings(self) -> TrainSettings | None:
        """Everything chosen here, validated; None after showing what is wrong."""
        self.settings_panel.clear_invalid()
        settings = self.gathered_settings()
        problem, field = "", None
        if self.model_panel.error():
            problem, field = f"Model: {self.model_panel.error()}", "model"
        elif settings.task == PRETRAIN_TASK and self.model_panel.objective.error():
            problem, field = f"Model: {self.model_panel.objective.error()}", "model"
        elif self.data_panel.error():
            problem, field = f"Data: {self.data_panel.error()}", "data"
        elif self._metric_problem(settings):
            problem, field = self._metric_problem(settings), "metric_for_best"
        elif self.layers_view.problem():  # "strategy: why" or "lora_targets: why"
            problem = self.layers_view.problem()
            field = problem.split(":", 1)[0]
        elif self.settings_panel.hardware_problem():
            problem = self.settings_panel.hardware_problem()
            field = problem.split(":", 1)[0]  # "<setting>: why" (device, precision, processes, sharding)
        else:
            try:
                settings.validate()
            except SettingsError as exc:
                problem, field = str(exc), exc.setting
        self.show_problem(problem, field)
        return None if problem else settings

    def _metric_problem(self, settings: TrainSettings) -> str:
        """The best-checkpoint metric must be one the data's task reports (the engine's check)."""
        prepared = self.data_panel.prepared()
        if prepared is None or settings.metric_for_best == "auto":
            return ""
        return prepared.task.check_metric(settings.metric_for_best) or ""

    def gathered_settings(self) -> TrainSettings:
        """The choices as TrainSettings, not validated."""
        base = TrainSettings(model=self.model_panel.model_spec(), data=self.data_panel.data_spec(),
                             **self.data_panel.choices())
        return self.settings_panel.settings(base)

    def apply_settings(self, settings: TrainSettings) -> None:
        """Show `settings`: model, data, task, columns and every training setting."""
        self.settings_panel.set_settings(settings)
        if settings.model != self.model_panel.model_spec():
            self.model_panel.set_model_spec(settings.model)
        shown = (self.data_panel.data_spec(), *self.data_panel.choices().values())
        if (settings.data, *settings_choices(settings)) != shown:
            self.data_panel.set_choices(settings)
        self.show_problem("")

    def show_problem(self, text: str, field: str | None = None) -> None:
        """The red line; with a field, that editor is outlined and focused."""
        self.problem.setText(text)
        self.problem.setVisible(bool(text))
        if text and field:
            self.settings_panel.mark_invalid(field)
        self.sig_problem.emit(text)

    # ------------------------------------------------------------------ remembering
    def remember(self, store: QSettings) -> None:
        store.setValue("choices/model", self.model_panel.model_spec())
        store.setValue("choices/data", self.data_panel.data_spec())
        for name, value in self.data_panel.choices().items():
            store.setValue(f"choices/{name}", value or "")
        # Only what differs from the defaults: a default improved in a later version (as
        # group_by_length was) then reaches users who never touched it.
        defaults = TrainSettings().to_dict()
        changed = {k: v for k, v in self.settings_panel.settings().to_dict().items()
                   if k not in _NOT_SETTINGS and v != defaults.get(k)}
        store.setValue(_CHANGED_SETTINGS_KEY, json.dumps(changed))
        store.remove(_OLD_SETTINGS_KEY)
        store.setValue("window/setup_splitter", self.splitter.saveState())

    def restore(self, store: QSettings) -> None:
        splitter = store.value("window/setup_splitter")
        if isinstance(splitter, QByteArray | bytes) and splitter:
            self.splitter.restoreState(splitter)
        try:
            saved = json.loads(str(store.value(_CHANGED_SETTINGS_KEY, "") or "{}"))
            settings = TrainSettings.from_dict(saved, source="saved choices")
        except (ValueError, SettingsError):
            settings = TrainSettings()  # written by another version, or damaged: start from defaults
        choices = {name: str(store.value(f"choices/{name}", "") or "") or None for name in CHOICE_FIELDS}
        choices["task"] = choices["task"] if choices["task"] in TASKS else "auto"
        self.apply_settings(settings.replace(
            model=str(store.value("choices/model", "default") or "default"),
            data=str(store.value("choices/data", "sample") or "sample"), **choices))

    def shutdown(self) -> None:
        self.memory_note.shutdown()
        for panel in (self.model_panel, self.data_panel, self.settings_panel):
            panel.shutdown()

    # ------------------------------------------------------------------ keeping panels in step
    @Slot(object)
    def _on_model_changed(self, info: Any) -> None:
        self.layers_view.set_model(info)
        self.memory_note.set_model(info)
        self.settings_panel.set_layer_count(info.num_layers if info is not None else 0)
        if info is not None:
            local = info.source is None or info.source.is_local  # never download just to count tokens
            self.data_panel.set_model_spec(self.model_panel.model_spec() if local else None)
            if self.problem.text().startswith("Model:"):
                self.show_problem("")

    @Slot(str)
    def _on_settings_changed(self, _name: str) -> None:
        settings = self.settings_panel.settings()
        self.data_panel.set_settings(settings)
        self.layers_view.set_lora(settings.lora_rank, settings.lora_targets, settings.lora_embeddings)
        self.layers_view.set_strategy(settings.strategy, settings.reinit_top_layers, settings.epochs)
        self.memory_note.set_settings(settings)
        self._refresh_objective()
        self._refresh_advice()

    @Slot(object)
    def _on_plan_changed(self, _plan: Any) -> None:
        """LoRA's targets that adapt nothing of this model are outlined as soon as they are typed."""
        problem = self.layers_view.problem()
        self.settings_panel.show_targets_problem(problem if problem.startswith("lora_targets:") else "")

    @Slot(object)
    def _on_data_changed(self, prepared: Any) -> None:
        if prepared is not None:
            self.layers_view.set_num_labels(prepared.task.num_outputs(prepared.label_names))
            self.memory_note.set_num_labels(prepared.task.num_outputs(prepared.label_names))
            self.settings_panel.set_task(prepared.task.name)
            if self.problem.text().startswith("Data:"):
                self.show_problem("")
        elif self.data_panel.task() != "auto":  # loading: the task is already known
            self.settings_panel.set_task(self.data_panel.task())
        self._refresh_objective()
        self._refresh_advice()

    def _refresh_objective(self) -> None:
        """The Model panel's pre-training lines follow the task choice (pre-training is never
        detected: it is chosen) and the masking settings."""
        settings = self.settings_panel.settings()
        objective = self.model_panel.objective
        objective.set_pretraining(self.data_panel.task() == PRETRAIN_TASK)
        objective.set_masking(settings.mlm_probability, settings.whole_word_masking)

    def _refresh_advice(self) -> None:
        """Advice on the run as planned: the data loaded, its training rows and the settings."""
        prepared = self.data_panel.prepared()
        if prepared is None:
            self.advice.show_advice(None)  # loading, or unreadable: nothing planned yet
            return
        settings = self.settings_panel.settings().replace(task=self.data_panel.task() or "auto")
        self.advice.show_advice(run_advice(self.data_panel.training_rows(), settings))

    @Slot(float)
    def _on_use_learning_rate(self, rate: float) -> None:
        self.settings_panel.set_settings(self.settings_panel.settings().replace(learning_rate=rate))
