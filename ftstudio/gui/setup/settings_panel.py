"""Every training setting as a form, grouped the way a practitioner thinks about a run.

The editors are built from the settings declaration (`ftstudio.engine.settings`): ranges, steps,
decimals, choices, groups, order and tooltips all come from there, so the form, the CLI's flags
and validation cannot disagree. Which settings the form shows (model, data, task and columns live
in their own panels), their labels and the choices' wording are in setting_labels.py. Once the
data's task is known (`set_task`), the best-checkpoint metric offers only that task's metrics and
a setting only one task reads is enabled for that task only (threshold tuning for multi-label,
labelling every sub-token for token classification). Continued pre-training's settings (the
Pre-training group: masking and packing) are shown only for it, and it hides the others' task
settings (setting_labels.SEPARATE_TASKS). The LoRA adapters group is enabled only for strategy lora,
and its 4-bit switch (QLoRA) only when the run's device is a CUDA GPU, the reason said beside it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ftstudio.engine.settings import (
    FROZEN_LAYERS_RANGE,
    STRATEGY_KINDS,
    SettingSpec,
    TrainSettings,
    parse_strategy,
    setting_spec,
)
from ftstudio.gui.background import BackgroundRunner
from ftstudio.gui.setup.hardware_choice import HardwareChoice
from ftstudio.gui.setup.setting_editors import (
    connect_edited,
    editor_value,
    make_editor,
    select_data,
    setting_tooltip,
    show_value,
)
from ftstudio.gui.setup.setting_labels import (
    CHOICE_LABELS,
    CUDA_ONLY,
    DEVICE_WORDS,
    FINE_TUNING_ONLY,
    FORM_LABELS,
    LORA_SETTINGS,
    MASKING_SETTINGS,
    STRATEGY_CHOICES,
    TASK_ONLY,
    UNIT_SUFFIXED,
    form_groups,
    metric_choices,
    task_setting_shown,
)
from ftstudio.gui.style import set_invalid, set_role

__all__ = ["CHOICE_LABELS", "FORM_LABELS", "SettingsPanel", "form_groups"]

class _WheelGuard(QObject):
    """Spin boxes and combos inside a scroll area must not change when the user scrolls past."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Wheel and isinstance(obj, QWidget) and not obj.hasFocus():
            event.ignore()
            return True
        return False


def _hint_label(name: str) -> QLabel:
    """A wrapped, quiet line that explains the settings above it."""
    label = QLabel()
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setProperty("role", "hint")
    return label


class SettingsPanel(QWidget):
    """The settings form (scrollable), with Reset to defaults.

    `strategy_box` (the Fine-tuning strategy group) may be moved elsewhere by the window, e.g.
    beside the layers view it drives; it remains this panel's editor wherever it is shown.

    Signals:
      sig_changed(str name): a setting was edited by the user or set programmatically.
      sig_strategy_changed(str strategy): the strategy string (full, head, bottom-4, ...) changed.
    """

    sig_changed = Signal(str)
    sig_strategy_changed = Signal(str)

    def __init__(self, runner: BackgroundRunner | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runner = runner or BackgroundRunner(self)
        self._owns_runner = runner is None
        self._widgets: dict[str, QWidget] = {}
        self._rows: dict[str, tuple[QGroupBox, QFormLayout]] = {}  # where each setting's row is
        self._guard = _WheelGuard(self)
        self._loading = False  # set_settings in progress: one sig_changed per field is plenty
        self._task: str | None = None  # the data's task, once known: it decides the metrics offered
        self._objective: str | None = None  # pre-training's, once the model's is known ("masked", "causal")
        self._targets_problem = ""  # LoRA's targets as the layer plan judged them ("" when fine)
        self._build()
        self._fill_metrics()
        self.set_settings(TrainSettings())

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        body = QWidget()
        column = QVBoxLayout(body)
        column.setContentsMargins(4, 0, 4, 4)
        for title, specs in form_groups():
            box = QGroupBox(title)
            form = QFormLayout(box)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for spec in specs:
                widget = self._make(spec)
                self._widgets[spec.name] = widget
                self._rows[spec.name] = (box, form)
                if spec.value_type is bool:
                    form.addRow(widget)  # a check box carries its own label
                else:
                    form.addRow(FORM_LABELS[spec.name], widget)
                if spec.name == "strategy":
                    form.addRow("Frozen layers", self._bottom_n)
                if spec.name == "processes":  # what several processes make of the batch
                    self._processes_note = _hint_label("processesNote")
                    form.addRow(self._processes_note)
                if spec.name in CUDA_ONLY:  # why QLoRA is off here
                    self._cuda_note = _hint_label("cudaOnlyNote")
                    form.addRow(self._cuda_note)
            names = {spec.name for spec in specs}
            # Rows that explain the settings above them, wherever those settings are grouped.
            if "batch_size" in names:
                self._effective = _hint_label("effectiveBatch")
                form.addRow(self._effective)
            if "device" in names:
                form.addRow(self._hardware.summary)
            if "strategy" in names:
                self.strategy_box = box
            column.addWidget(box)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(body)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.StyledPanel)
        # Fields shrink to the column instead of hiding behind a horizontal scroll bar.
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        reset = QPushButton("Reset to defaults")
        reset.setToolTip("Every setting on this page back to its default (model and data stay).")
        reset.clicked.connect(self._on_reset)
        buttons = QHBoxLayout()
        title = QLabel("Training settings")
        title.setProperty("role", "heading")
        buttons.addWidget(title)
        buttons.addStretch(1)
        buttons.addWidget(reset)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(buttons)
        outer.addWidget(scroll, 1)
        self._reset_button = reset

    def _make(self, spec: SettingSpec) -> QWidget:
        """The editor of one setting: from its declaration, except the two that need more than
        one widget (the strategy and its N; device and precision, labelled with the hardware)."""
        name = spec.name
        if name == "strategy":
            widget = self._make_strategy(spec)
        elif name in ("device", "precision"):
            if not hasattr(self, "_hardware"):
                self._hardware = HardwareChoice(self._runner, self)
                self._hardware.sig_changed.connect(self._emit)
                self._hardware.sig_detected.connect(self._refresh_dependent)
            widget = self._hardware.device if name == "device" else self._hardware.precision
            widget.setToolTip(setting_tooltip(spec))
        else:
            widget = make_editor(spec, FORM_LABELS[name], CHOICE_LABELS.get(name), name in UNIT_SUFFIXED)
            connect_edited(widget, lambda n=name: self._emit(n))
            if name in ("processes", "sharding"):  # judged against this machine with the device
                self._hardware.adopt(**{name: widget})
        if isinstance(widget, (QAbstractSpinBox, QComboBox)):
            widget.installEventFilter(self._guard)
        if isinstance(widget, QComboBox):  # long detected-device names must not widen the column
            widget.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            widget.setMinimumContentsLength(8)
        return widget

    def _make_strategy(self, spec: SettingSpec) -> QComboBox:
        """The strategy combo (with a tip per strategy) and the N of bottom-N beside it."""
        combo = QComboBox()
        for kind in STRATEGY_KINDS:
            text, tip = STRATEGY_CHOICES[kind]
            combo.addItem(text, kind)
            combo.setItemData(combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        combo.setToolTip(setting_tooltip(spec))
        combo.setObjectName(spec.name)
        low, high = FROZEN_LAYERS_RANGE
        self._bottom_n = QSpinBox()
        self._bottom_n.setRange(low, high)
        self._bottom_n.setValue(max(low, 1))  # what picking "Bottom N" first offers: one layer
        self._bottom_n.setKeyboardTracking(False)
        self._bottom_n.setToolTip(f"How many encoder layers, counted from the bottom, stay frozen "
                                  f"(bottom-N: {low} to {high}).")
        self._bottom_n.installEventFilter(self._guard)
        combo.currentIndexChanged.connect(lambda _i: self._on_strategy_edited())
        self._bottom_n.valueChanged.connect(lambda _v: self._on_strategy_edited())
        return combo

    # ------------------------------------------------------------------ public
    def settings(self, base: TrainSettings | None = None) -> TrainSettings:
        """The form's values on top of `base` (model, data, columns, extra kept from it).

        Not validated here; an unreadable learning rate is passed as NaN so validate() names it.
        """
        values: dict[str, Any] = {}
        for name, widget in self._widgets.items():
            if name in ("device", "precision"):
                values[name] = self._hardware.value(name)
            elif name == "strategy":
                values[name] = self.strategy()
            else:
                values[name] = editor_value(widget)
        return (base or TrainSettings()).replace(**values)

    def set_settings(self, settings: TrainSettings) -> None:
        """Show `settings` in the form (model/data/columns are ignored here)."""
        self._loading = True
        try:
            for name, widget in self._widgets.items():
                value = getattr(settings, name)
                if name in ("device", "precision"):
                    self._hardware.set_value(name, value)
                elif name == "strategy":
                    kind, n = parse_strategy(value)
                    select_data(widget, kind)
                    if kind == "bottom":
                        self._bottom_n.setValue(n)
                elif name == "metric_for_best":
                    self._offer_metric(value)
                    select_data(widget, value)
                else:
                    show_value(widget, value)
        finally:
            self._loading = False
        self.clear_invalid()
        self._refresh_dependent()
        self.sig_strategy_changed.emit(self.strategy())
        self.sig_changed.emit("*")

    def set_task(self, task: str | None) -> None:
        """The data's task (single-label, multi-label, regression, token-classification; None:
        unknown): the best-checkpoint metric offers only auto, loss and its metrics, and a switch
        of one task (TASK_ONLY) is enabled for that task only.
        A chosen metric the task does not report stays shown, marked, for the page to refuse."""
        if task == self._task:
            return
        self._task = task
        self._fill_metrics()
        self._refresh_dependent()

    def task(self) -> str | None:
        return self._task

    def set_objective(self, objective: str | None) -> None:
        """Pre-training's objective for the chosen model ("masked", "causal"; None: not known):
        the masking settings are disabled for a decoder, which predicts every next token."""
        if objective != self._objective:
            self._objective = objective
            self._refresh_dependent()

    def _fill_metrics(self) -> None:
        combo = self._widgets["metric_for_best"]
        current = combo.currentData() or "auto"
        combo.blockSignals(True)
        try:
            combo.clear()
            for value, text in metric_choices(self._task):
                combo.addItem(text, value)
            self._offer_metric(current)
            select_data(combo, current)
        finally:
            combo.blockSignals(False)

    def _offer_metric(self, metric: str) -> None:
        """A metric of another task (a settings file, an earlier choice) is kept selectable."""
        combo = self._widgets["metric_for_best"]
        if combo.findData(metric) < 0:
            text = CHOICE_LABELS["metric_for_best"].get(metric, metric)
            combo.addItem(f"{text} (not reported by this task)", metric)

    def strategy(self) -> str:
        kind = self._widgets["strategy"].currentData()
        return f"bottom-{self._bottom_n.value()}" if kind == "bottom" else kind

    def set_layer_count(self, layers: int) -> None:
        """Limit bottom-N and re-init K to the chosen model's depth (0: unknown, the declared maxima)."""
        self._bottom_n.setMaximum(layers if layers > 0 else FROZEN_LAYERS_RANGE[1])
        self._widgets["reinit_top_layers"].setMaximum(
            layers if layers > 0 else setting_spec("reinit_top_layers").highest)

    def widget_for(self, name: str) -> QWidget | None:
        """The editor of a setting, for highlighting a validation error (None if not here)."""
        if name == "strategy":
            return self._widgets["strategy"]
        return self._widgets.get(name)

    def mark_invalid(self, name: str | None) -> bool:
        """Outline the setting's editor, reveal it and focus it; False when it is not on this panel."""
        self.clear_invalid()
        widget = self.widget_for(name or "")
        if widget is None:
            return False
        set_invalid(widget, True)
        scroll = self.findChild(QScrollArea)
        if scroll is not None:
            scroll.ensureWidgetVisible(widget)
        widget.setFocus()
        return True

    def clear_invalid(self) -> None:
        for widget in self._widgets.values():
            set_invalid(widget, False)

    def show_targets_problem(self, problem: str) -> None:
        """LoRA's targets as the layer plan judged them against the model: while they adapt
        nothing ("lora_targets: why"), the field is outlined and its tooltip starts with why;
        "" clears."""
        if problem != self._targets_problem:
            self._targets_problem = problem
            set_invalid(self._widgets["lora_targets"], bool(problem))
            self._refresh_lora()

    def hardware_problem(self) -> str:
        """Why the chosen device, precision, processes or sharding is unusable here ("" when fine
        or not yet known), as "<setting>: why"."""
        return self._hardware.problem()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override; used alone (tests), not in the window
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        self._hardware.shutdown()
        if self._owns_runner:
            self._runner.shutdown()

    # ------------------------------------------------------------------ slots
    def _emit(self, name: str) -> None:
        widget = self._widgets.get(name)
        if widget is not None:
            set_invalid(widget, False)
        if self._loading:
            return
        self._refresh_dependent()
        self.sig_changed.emit(name)

    def _on_strategy_edited(self) -> None:
        self._bottom_n.setEnabled(self._widgets["strategy"].currentData() == "bottom")
        if self._loading:
            return
        self._emit("strategy")
        self.sig_strategy_changed.emit(self.strategy())

    @Slot()
    def _on_reset(self) -> None:
        self.set_settings(TrainSettings())

    def _refresh_dependent(self) -> None:
        """Enable only what applies, and show the effective batch."""
        w = self._widgets
        w["momentum"].setEnabled(w["optimizer"].currentData() == "sgd")
        w["epochs"].setEnabled(w["max_steps"].value() == 0)
        self._bottom_n.setEnabled(w["strategy"].currentData() == "bottom")
        for name, (task, words) in TASK_ONLY.items():
            switch = w[name]
            switch.setEnabled(self._task in (None, task))
            tip = setting_tooltip(setting_spec(name))
            switch.setToolTip(tip if switch.isEnabled() else f"Only for {words}; this data trains "
                                                             f"{self._task}.\n\n{tip}")
            if name in MASKING_SETTINGS and self._objective == "causal" and switch.isEnabled():
                switch.setEnabled(False)
                switch.setToolTip(f"Only for masked-language modelling (encoders); this model pre-trains by "
                                  f"predicting every next token.\n\n{tip}")
            box, form = self._rows[name]
            form.setRowVisible(switch, task_setting_shown(name, self._task))
        for name in FINE_TUNING_ONLY:
            box, form = self._rows[name]
            form.setRowVisible(w[name], task_setting_shown(name, self._task))
        # A group whose every row is hidden (Pre-training, for a classifier) goes as a whole.
        for box, form in set(self._rows.values()):
            box.setVisible(any(form.isRowVisible(row) for row in range(form.rowCount())))
        self._refresh_lora()
        self._refresh_processes()

    def _refresh_lora(self) -> None:
        """LoRA's settings only for strategy lora (the others ignore them), and 4-bit weights only
        on a CUDA device; a disabled editor's tooltip says why first. A 4-bit switch already on
        stays clickable where it cannot train, so that it can be turned off."""
        w = self._widgets
        kind = w["strategy"].currentData()
        lora = kind == "lora"
        device = self._hardware.device_kind()
        off_device = lora and device not in ("", "cuda")
        for name in LORA_SETTINGS:
            tip = setting_tooltip(setting_spec(name))
            reason = ""
            if not lora:
                reason = (f"Only for the strategy {STRATEGY_CHOICES['lora'][0]}; the strategy now is "
                          f"{STRATEGY_CHOICES.get(kind, (kind,))[0]}.")
            elif name in CUDA_ONLY and off_device:
                reason = _cuda_only_reason(device)
            elif name == "lora_targets" and self._targets_problem:
                reason = self._targets_problem
            w[name].setEnabled(lora and not (name in CUDA_ONLY and off_device and not editor_value(w[name])))
            w[name].setToolTip(f"{reason}\n\n{tip}" if reason else tip)
        switched_on = any(editor_value(w[name]) for name in CUDA_ONLY)
        self._cuda_note.setText(_cuda_only_reason(device) + (" Turn it off, or choose a CUDA device."
                                                             if switched_on else ""))
        set_role(self._cuda_note, "error" if switched_on else "hint")
        box, form = self._rows[CUDA_ONLY[0]]
        form.setRowVisible(self._cuda_note, off_device)

    def _refresh_processes(self) -> None:
        """The global batch (batch size x processes x accumulation), and the settings of several
        processes shown only when there are several (sharding also while it asks for FSDP, so
        that the problem it makes stays in sight)."""
        w = self._widgets
        batch, processes, accum = w["batch_size"].value(), w["processes"].value(), w["grad_accum"].value()
        total = TrainSettings(batch_size=batch, processes=processes, grad_accum=accum).effective_batch_size()
        several = processes > 1
        if several:
            self._effective.setText(f"Global batch: {total:,} texts per step ({batch:,} on each of {processes} "
                                    f"processes x {accum} accumulation)")
            self._processes_note.setText(f"Global batch {total:,} = batch {batch:,} on each of {processes} processes "
                                         f"x {accum} accumulation. {self._hardware.remark()}".rstrip())
        else:
            self._effective.setText(f"Effective batch: {total:,} texts per step")
        box, form = self._rows["processes"]
        form.setRowVisible(self._processes_note, several)
        form.setRowVisible(w["collective_timeout"], several)
        form.setRowVisible(w["sharding"], several or w["sharding"].currentData() != "none")


def _cuda_only_reason(device: str) -> str:
    return (f"4-bit base weights (QLoRA) need a CUDA GPU; this run trains on "
            f"{DEVICE_WORDS.get(device, device)}.")
