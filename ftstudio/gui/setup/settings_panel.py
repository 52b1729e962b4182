"""Every training setting as a form, grouped the way a practitioner thinks about a run.

The widgets are built from a table (name, widget kind, range) whose ranges match
`TrainSettings.validate()`, and their tooltips come from `setting_help()`, so the form, the CLI's
--help and the validation never disagree. Model, data and columns live in their own panels.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QLocale, QObject, Qt, Signal, Slot
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ftstudio.engine.settings import TrainSettings, parse_freeze, setting_help
from ftstudio.gui.background import BackgroundRunner
from ftstudio.gui.setup.hardware_choice import HardwareChoice
from ftstudio.gui.style import set_invalid

# (field, label, kind, options). Spin options: (minimum, maximum, step[, decimals]) matching the
# validation ranges; a "special" text shows for the minimum where 0 means "off"/"automatic".
_GROUPS: list[tuple[str, list[tuple[str, str, str, dict[str, Any]]]]] = [
    ("Training length", [
        ("epochs", "Epochs", "int", {"range": (1, 1000)}),
        ("max_steps", "Max steps", "int", {"range": (0, 10_000_000), "special": "use epochs"}),
        ("batch_size", "Batch size", "int", {"range": (1, 4096)}),
        ("grad_accum", "Accumulation steps", "int", {"range": (1, 1024)}),
        ("group_by_length", "Group texts of similar length", "bool", {}),
        ("max_samples", "Rows used", "int", {"range": (0, 100_000_000), "special": "all rows", "step": 1000}),
    ]),
    ("Data splits and length", [
        ("max_length", "Max tokens", "int", {"range": (8, 8192), "step": 16}),
        ("validation_split", "Validation share", "float", {"range": (0.01, 0.49), "step": 0.05, "decimals": 3}),
        ("test_split", "Test share", "float", {"range": (0.0, 0.49), "step": 0.05, "decimals": 3, "special": "none"}),
    ]),
    ("Optimisation", [
        ("learning_rate", "Learning rate", "lr", {}),
        ("scheduler", "Schedule", "choice", {"items": [("linear", "Linear decay"), ("cosine", "Cosine"),
                                                     ("constant", "Constant")]}),
        ("warmup_ratio", "Warmup share", "float", {"range": (0.0, 0.99), "step": 0.05, "decimals": 3, "special": "none"}),
        ("optimizer", "Optimizer", "choice", {"items": [("adamw", "AdamW"), ("sgd", "SGD with momentum")]}),
        ("weight_decay", "Weight decay", "float", {"range": (0.0, 1.0), "step": 0.01, "decimals": 4}),
        ("momentum", "Momentum (SGD)", "float", {"range": (0.0, 0.999), "step": 0.05, "decimals": 3}),
        ("max_grad_norm", "Gradient clipping", "float", {"range": (0.0, 1000.0), "step": 0.5, "decimals": 2, "special": "off"}),
        ("classifier_dropout", "Head dropout", "float", {"range": (0.0, 0.95), "step": 0.05, "decimals": 3}),
        ("seed", "Random seed", "int", {"range": (0, 2_147_483_647)}),
    ]),
    ("Fine-tuning strategy", [
        ("freeze", "Strategy", "freeze", {}),
        ("reinit_top_layers", "Re-init top layers", "int", {"range": (0, 128), "special": "none"}),
        ("layerwise_lr_decay", "Layer lr decay", "float", {"range": (0.01, 1.0), "step": 0.05, "decimals": 3}),
    ]),
    ("Hardware", [
        ("device", "Device", "device", {}),
        ("precision", "Precision", "precision", {}),
        ("oom_retry", "Halve the batch on out-of-memory", "bool", {}),
    ]),
    ("Evaluation and checkpoints", [
        ("eval_steps", "Evaluate every", "int", {"range": (0, 10_000_000), "special": "each epoch", "suffix": " steps"}),
        ("save_steps", "Checkpoint every", "int", {"range": (0, 10_000_000), "special": "each evaluation", "suffix": " steps"}),
        ("keep_checkpoints", "Checkpoints kept", "int", {"range": (1, 1000)}),
        ("early_stopping_patience", "Early stopping", "int", {"range": (0, 10_000), "special": "off", "suffix": " evals"}),
        ("metric_for_best", "Best checkpoint by", "choice", {"items": [("f1", "Macro F1"), ("accuracy", "Accuracy"),
                                                                     ("loss", "Validation loss")]}),
        ("log_steps", "Log loss every", "int", {"range": (1, 100_000), "suffix": " steps"}),
    ]),
    ("Safety", [
        ("trust_remote_code", "Run code shipped with Hub models", "bool", {}),
        ("allow_pickle", "Allow pickle weights (.bin)", "bool", {}),
    ]),
]

FREEZE_CHOICES = [
    ("full", "Full fine-tuning", "Every parameter trains: usually the most accurate, the most memory."),
    ("head", "Head only", "Only the new classification head trains; the encoder is frozen. Fast, least accurate."),
    ("embeddings", "Embeddings frozen", "The word embeddings stay as pretrained; all layers and the head train."),
    ("bottom", "Bottom N layers frozen", "The embeddings and the lowest N layers stay frozen; the rest trains."),
    ("gradual", "Gradual unfreezing", "Epoch 1 trains the head, then one more layer joins from the top each epoch."),
]


class _WheelGuard(QObject):
    """Spin boxes and combos inside a scroll area must not change when the user scrolls past."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Wheel and isinstance(obj, QWidget) and not obj.hasFocus():
            event.ignore()
            return True
        return False


class SettingsPanel(QWidget):
    """The settings form (scrollable), with Reset to defaults.

    `strategy_box` (the Fine-tuning strategy group) may be moved elsewhere by the window, e.g.
    beside the layers view it drives; it remains this panel's editor wherever it is shown.

    Signals:
      sig_changed(str name): a setting was edited by the user or set programmatically.
      sig_freeze_changed(str freeze): the strategy string (full, head, bottom-4, ...) changed.
    """

    sig_changed = Signal(str)
    sig_freeze_changed = Signal(str)

    def __init__(self, runner: BackgroundRunner | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runner = runner or BackgroundRunner(self)
        self._owns_runner = runner is None
        self._help = setting_help()
        self._widgets: dict[str, QWidget] = {}
        self._guard = _WheelGuard(self)
        self._loading = False  # set_settings in progress: one sig_changed per field is plenty
        self._build()
        self.set_settings(TrainSettings())

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        body = QWidget()
        column = QVBoxLayout(body)
        column.setContentsMargins(4, 0, 4, 4)
        for title, rows in _GROUPS:
            box = QGroupBox(title)
            form = QFormLayout(box)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for name, label, kind, opts in rows:
                widget = self._make(name, kind, opts)
                self._widgets[name] = widget
                if kind == "bool":
                    form.addRow(widget)
                elif kind == "freeze":
                    form.addRow(label, widget)
                    form.addRow("Frozen layers", self._bottom_n)
                else:
                    form.addRow(label, widget)
            if title == "Training length":
                self._effective = QLabel()
                self._effective.setWordWrap(True)
                self._effective.setProperty("role", "hint")
                form.addRow("", self._effective)
            if title == "Hardware":
                form.addRow("", self._hardware.summary)
            if title == "Fine-tuning strategy":
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

    def _make(self, name: str, kind: str, opts: dict[str, Any]) -> QWidget:
        tip = self._help.get(name, "")
        if kind == "int":
            widget: QWidget = QSpinBox()
            widget.setRange(*opts["range"])
            widget.setSingleStep(opts.get("step", 1))
            widget.setGroupSeparatorShown(opts["range"][1] >= 100_000)
            widget.valueChanged.connect(lambda _v, n=name: self._emit(n))
        elif kind == "float":
            widget = QDoubleSpinBox()
            widget.setDecimals(opts.get("decimals", 3))
            widget.setRange(*opts["range"])
            widget.setSingleStep(opts.get("step", 0.01))
            widget.valueChanged.connect(lambda _v, n=name: self._emit(n))
        elif kind == "lr":
            widget = QLineEdit()
            validator = QDoubleValidator(0.0, 1.0, 12, widget)
            validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
            validator.setLocale(QLocale.c())  # "5e-5" and "0.0001" whatever the system locale
            widget.setValidator(validator)
            widget.setPlaceholderText("e.g. 5e-5")
            widget.editingFinished.connect(lambda n=name: self._emit(n))
        elif kind == "choice":
            widget = QComboBox()
            for value, text in opts["items"]:
                widget.addItem(text, value)
            widget.currentIndexChanged.connect(lambda _i, n=name: self._emit(n))
        elif kind == "bool":
            widget = QCheckBox(self._label_of(name))
            widget.toggled.connect(lambda _b, n=name: self._emit(n))
        elif kind == "freeze":
            widget = QComboBox()
            for value, text, tip in FREEZE_CHOICES:
                widget.addItem(text, value)
                widget.setItemData(widget.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
            self._bottom_n = QSpinBox()
            self._bottom_n.setRange(1, 128)
            self._bottom_n.setToolTip("How many encoder layers, counted from the bottom, stay frozen.")
            self._bottom_n.installEventFilter(self._guard)
            widget.currentIndexChanged.connect(lambda _i: self._on_freeze_edited())
            self._bottom_n.valueChanged.connect(lambda _v: self._on_freeze_edited())
        elif kind in ("device", "precision"):
            if not hasattr(self, "_hardware"):
                self._hardware = HardwareChoice(self._runner, self)
                self._hardware.sig_changed.connect(self._emit)
            widget = self._hardware.device if kind == "device" else self._hardware.precision
        else:  # pragma: no cover - a typo in _GROUPS
            raise ValueError(kind)
        if isinstance(widget, QAbstractSpinBox):
            special = opts.get("special")
            if special:
                widget.setSpecialValueText(special)
            if opts.get("suffix"):
                widget.setSuffix(opts["suffix"])
            widget.setKeyboardTracking(False)  # typing "128" is one change, not three
        if isinstance(widget, (QAbstractSpinBox, QComboBox)):
            widget.installEventFilter(self._guard)
        if isinstance(widget, QComboBox):  # long detected-device names must not widen the column
            widget.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            widget.setMinimumContentsLength(8)
        widget.setToolTip(tip)
        widget.setObjectName(name)
        return widget

    def _label_of(self, name: str) -> str:
        for _title, rows in _GROUPS:
            for field_name, label, _kind, _opts in rows:
                if field_name == name:
                    return label
        return name

    # ------------------------------------------------------------------ public
    def settings(self, base: TrainSettings | None = None) -> TrainSettings:
        """The form's values on top of `base` (model, data, columns, extra kept from it).

        Not validated here; an unreadable learning rate is passed as NaN so validate() names it.
        """
        values: dict[str, Any] = {}
        for name, widget in self._widgets.items():
            if name in ("device", "precision"):
                values[name] = self._hardware.value(name)
            elif name == "freeze":
                values[name] = self.freeze()
            elif name == "learning_rate":
                values[name] = _parse_float(widget.text())
            elif isinstance(widget, QSpinBox | QDoubleSpinBox):
                values[name] = widget.value()
            elif isinstance(widget, QComboBox):
                values[name] = widget.currentData()
            elif isinstance(widget, QCheckBox):
                values[name] = widget.isChecked()
        return (base or TrainSettings()).replace(**values)

    def set_settings(self, settings: TrainSettings) -> None:
        """Show `settings` in the form (model/data/columns are ignored here)."""
        self._loading = True
        try:
            for name, widget in self._widgets.items():
                value = getattr(settings, name)
                if name in ("device", "precision"):
                    self._hardware.set_value(name, value)
                elif name == "freeze":
                    kind, n = parse_freeze(value)
                    _select(widget, kind)
                    if kind == "bottom":
                        self._bottom_n.setValue(n)
                elif name == "learning_rate":
                    widget.setText(_format_float(value))
                elif isinstance(widget, QSpinBox | QDoubleSpinBox):
                    widget.setValue(value)
                elif isinstance(widget, QComboBox):
                    _select(widget, value)
                elif isinstance(widget, QCheckBox):
                    widget.setChecked(bool(value))
        finally:
            self._loading = False
        self.clear_invalid()
        self._refresh_dependent()
        self.sig_freeze_changed.emit(self.freeze())
        self.sig_changed.emit("*")

    def freeze(self) -> str:
        kind = self._widgets["freeze"].currentData()
        return f"bottom-{self._bottom_n.value()}" if kind == "bottom" else kind

    def set_layer_count(self, layers: int) -> None:
        """Limit bottom-N and re-init K to the chosen model's depth (0: unknown, keep 128)."""
        top = max(1, layers) if layers > 0 else 128
        self._bottom_n.setMaximum(top)
        self._widgets["reinit_top_layers"].setMaximum(top if layers > 0 else 128)

    def widget_for(self, name: str) -> QWidget | None:
        """The editor of a setting, for highlighting a validation error (None if not here)."""
        if name == "freeze":
            return self._widgets["freeze"]
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

    def hardware_problem(self) -> str:
        """Why the chosen device or precision is unusable here ("" when fine or not yet known)."""
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

    def _on_freeze_edited(self) -> None:
        self._bottom_n.setEnabled(self._widgets["freeze"].currentData() == "bottom")
        if self._loading:
            return
        self._emit("freeze")
        self.sig_freeze_changed.emit(self.freeze())

    @Slot()
    def _on_reset(self) -> None:
        self.set_settings(TrainSettings())

    def _refresh_dependent(self) -> None:
        """Enable only what applies, and show the effective batch."""
        w = self._widgets
        w["momentum"].setEnabled(w["optimizer"].currentData() == "sgd")
        w["epochs"].setEnabled(w["max_steps"].value() == 0)
        self._bottom_n.setEnabled(w["freeze"].currentData() == "bottom")
        batch, accum = w["batch_size"].value(), w["grad_accum"].value()
        self._effective.setText(f"Effective batch: {batch * accum} texts per step")


def _select(combo: QComboBox, value: Any) -> None:
    index = combo.findData(value)
    if index >= 0:
        combo.setCurrentIndex(index)


def _format_float(value: float) -> str:
    return f"{value:g}"


def _parse_float(text: str) -> float:
    try:
        return float(text.strip().replace(",", "."))
    except ValueError:
        return float("nan")
