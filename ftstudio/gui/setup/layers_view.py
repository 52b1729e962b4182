"""Which parts of the model train under the chosen strategy, row by row, with parameter counts.

The table comes from the engine's `layer_plan(info, strategy, epoch, num_labels)`, which works from
`inspect_model`'s counts (no torch), so it follows every edit of the strategy instantly. For
gradual unfreezing an epoch slider shows the plan at each epoch of the run. For LoRA it comes from
`adapter_plan` (the safetensors header's shapes): each layer says which of its modules carry an
adapter and how many parameters those add, and the counts follow the rank, targets and embeddings.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, Signal, Slot
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSlider,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ftstudio.gui.style import colors, set_role


class LayersView(QGroupBox):
    """The model's layer groups (Embeddings, Layer 1..L, Head), trainable or frozen.

    Signals:
      sig_plan_changed(object): the engine `LayerPlan` (an `AdapterPlan` for LoRA) now shown (None
        without a model or when the strategy or LoRA's targets do not fit the model; `problem()`
        then says why, as "<setting>: why").
    """

    sig_plan_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Layers", parent)
        self._info: Any = None
        self._strategy = "full"
        self._reinit = 0
        self._epochs = 3
        self._num_labels = 2
        self._lora: tuple[int, str, bool] = (8, "auto", False)  # rank, targets, embeddings
        self._plan: Any = None
        self._problem = ""
        self._icons: dict[str, QIcon] = {}
        self._rows_shown: list[dict[str, Any]] = []  # LoRA's rows, whose statuses fit the column
        self._build()
        self._refresh()

    def _build(self) -> None:
        self._summary = QLabel()
        self._summary.setObjectName("trainableSummary")
        self._summary.setWordWrap(True)
        self._detail = QLabel()  # LoRA: what the counts rest on
        self._detail.setObjectName("adapterDetail")
        self._detail.setWordWrap(True)
        set_role(self._detail, "hint")
        self._table = QTableWidget(0, 3)
        self._table.setObjectName("layersTable")
        self._table.setHorizontalHeaderLabels(["Part", "Parameters", "Status"])
        self._table.verticalHeader().setVisible(False)
        self._table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self._table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._table.verticalHeader().setDefaultSectionSize(22)
        self._table.setWordWrap(False)  # a row is one line; LoRA's statuses shorten to fit (_fit_statuses)
        header = self._table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        header.sectionResized.connect(self._on_section_resized)
        self._epoch_label = QLabel()
        self._epoch = QSlider(Qt.Orientation.Horizontal)
        self._epoch.setObjectName("gradualEpoch")
        self._epoch.setToolTip("Gradual unfreezing: see which layers train in each epoch of the run.")
        self._epoch.setPageStep(1)
        self._epoch.setTickPosition(QSlider.TickPosition.TicksBelow)
        self._epoch.valueChanged.connect(self._on_epoch_moved)
        epoch_row = QHBoxLayout()
        epoch_row.addWidget(self._epoch_label)
        epoch_row.addWidget(self._epoch, 1)
        self._epoch_box = QWidget()
        self._epoch_box.setLayout(epoch_row)
        epoch_row.setContentsMargins(0, 0, 0, 0)
        layout = QVBoxLayout(self)
        layout.addWidget(self._summary)
        layout.addWidget(self._detail)
        layout.addWidget(self._epoch_box)
        layout.addWidget(self._table, 1)

    # ------------------------------------------------------------------ public
    def set_model(self, info: Any) -> None:
        """Show the layers of an inspected model (`ModelInfo`), or a hint when None."""
        self._info = info
        self._refresh()

    def set_strategy(self, strategy: str, reinit_top_layers: int = 0, epochs: int | None = None) -> None:
        """Follow the settings: the strategy string, how many top layers are re-initialised, epochs."""
        self._strategy, self._reinit = strategy, max(0, int(reinit_top_layers))
        if epochs is not None:
            self._epochs = max(1, int(epochs))
        self._refresh()

    def set_lora(self, rank: int, targets: str, embeddings: bool) -> None:
        """Follow LoRA's settings (they change the plan only while the strategy is lora)."""
        lora = (int(rank), str(targets), bool(embeddings))
        if lora != self._lora:
            self._lora = lora
            if self._is_lora():
                self._refresh()

    def set_num_labels(self, n: int) -> None:
        """The head's size depends on its outputs: classes, labels, or one value (regression)."""
        self._num_labels = max(0, int(n))  # 0: pre-training's language-model head
        self._refresh()

    def plan(self) -> Any:
        return self._plan

    def problem(self) -> str:
        return self._problem

    def summary_text(self) -> str:
        return self._summary.text()

    # ------------------------------------------------------------------ drawing
    @Slot(int)
    def _on_epoch_moved(self, _value: int) -> None:
        self._refresh()

    def _is_lora(self) -> bool:
        return self._strategy.strip().lower() == "lora"

    def _refresh(self) -> None:
        gradual = self._strategy.strip().lower() == "gradual"
        self._epoch_box.setVisible(gradual and self._info is not None)
        self._epoch.blockSignals(True)
        self._epoch.setRange(1, self._epochs)
        self._epoch.blockSignals(False)
        epoch = self._epoch.value() if gradual else 1
        self._plan, self._problem = None, ""
        self._detail.setVisible(False)
        if self._info is None:
            self._table.setRowCount(0)
            self._show_summary("Choose a model to see its layers.", "hint")
            self.sig_plan_changed.emit(None)
            return
        from ftstudio.engine.errors import SettingsError
        from ftstudio.engine.models.adapter_plan import adapter_plan
        from ftstudio.engine.models.adapters import REINIT_PROBLEM
        from ftstudio.engine.models.freezing import layer_plan

        try:
            if self._is_lora():
                if self._reinit:  # the engine refuses it: re-initialised layers would stay random
                    raise SettingsError(REINIT_PROBLEM, "reinit_top_layers")
                plan = adapter_plan(self._info, *self._lora, num_labels=self._num_labels)
            else:
                plan = layer_plan(self._info, self._strategy, epoch=epoch - 1, num_labels=self._num_labels)
        except SettingsError as exc:
            self._problem = str(exc)
            self._table.setRowCount(0)
            self._show_summary(self._problem, "error")
            self.sig_plan_changed.emit(None)
            return
        self._plan = plan
        self._fill(plan.rows)
        share = plan.trainable / plan.total if plan.total else 0.0
        text = f"Trainable: {plan.trainable:,} of {plan.total:,} parameters ({share:.1%})"
        if self._is_lora():
            if plan.estimate:
                text = f"Trainable: about {plan.trainable:,} of {plan.total:,} parameters ({share:.1%}, estimated)"
            self._detail.setText(_adapter_detail(plan))
            self._detail.setVisible(True)
        if gradual:
            self._epoch_label.setText(f"Epoch {epoch} of {self._epochs}")
            text += f" in epoch {epoch}"
        self._show_summary(text, "heading")
        self.sig_plan_changed.emit(plan)

    def _fill(self, rows: list[dict[str, Any]]) -> None:
        palette = colors()
        layers = len(rows) - 2
        reinit_from = layers - self._reinit + 1  # Layer numbers are 1-based, bottom first
        lora = self._is_lora()
        self._table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            trains = bool(row["trainable"])
            adapters = int(row.get("adapter_params", 0))
            state = "trains" if trains else "adapters" if adapters else "frozen"
            name = QTableWidgetItem(self._icon(state), row["name"])
            params = QTableWidgetItem(f"{row['params']:,}")
            params.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            status = _lora_statuses(row)[0] if lora else "trains" if trains else "frozen"
            number = _layer_number(row["name"])
            if number is not None and self._reinit and number >= reinit_from:
                status += ", re-init"
            status_item = QTableWidgetItem(status)
            color = QColor(palette["frozen" if state == "frozen" else "trainable"])
            tip = _lora_tooltip(row, status) if lora else f"{row['name']}: {row['params']:,} parameters, {status}"
            for item in (name, params, status_item):
                if not trains:  # frozen rows recede: grey text beside the padlock
                    item.setForeground(QBrush(QColor(palette["frozen"])))
                item.setToolTip(tip)
            status_item.setForeground(QBrush(color))
            self._table.setItem(r, 0, name)
            self._table.setItem(r, 1, params)
            self._table.setItem(r, 2, status_item)
        self._rows_shown = rows if lora else []
        self._fit_statuses()

    @Slot(int, int, int)
    def _on_section_resized(self, column: int, _old: int, new: int) -> None:
        if column == 2:
            self._fit_statuses(new)  # (the header reports the old width until the signal returns)

    def _fit_statuses(self, width: int | None = None) -> None:
        """LoRA's status names a layer's modules where the column is wide enough, else says how
        many (the detail line above and the tooltip name them)."""
        margin = self._table.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, self._table) + 1
        room = (self._table.columnWidth(2) if width is None else width) - 2 * margin  # the delegate's text room
        metrics = self._table.fontMetrics()
        for r, row in enumerate(self._rows_shown):
            item = self._table.item(r, 2)
            texts = _lora_statuses(row)
            fitting = [t for t in texts if metrics.horizontalAdvance(t) <= room]
            text = fitting[0] if fitting else texts[-1]
            if item is not None and item.text() != text:
                item.setText(text)

    def _icon(self, state: str) -> QIcon:
        if state not in self._icons:
            self._icons[state] = _status_icon(state, QColor(colors()["frozen" if state == "frozen" else "trainable"]))
        return self._icons[state]

    def _show_summary(self, text: str, role: str) -> None:
        self._summary.setText(text)
        set_role(self._summary, role)


def _layer_number(name: str) -> int | None:
    parts = name.split()
    return int(parts[1]) if len(parts) == 2 and parts[0] == "Layer" and parts[1].isdigit() else None


def _adapter_detail(plan: Any) -> str:
    """What LoRA's counts rest on, under the summary: which modules carry adapters where (once,
    however many layers share them), their size, and the parts that train in full."""
    count = len(plan.adapted)
    if count:
        text = (f"Adapters of rank {plan.rank} ({plan.rank} x (in + out) parameters each) on {count} module"
                f"{'' if count == 1 else 's'}: {_where(plan.rows)}.")
    else:  # (an estimate only: read from the files, targets that adapt nothing are refused)
        text = "No adapters counted: the targets match none of the modules this estimate knows."
    copies = [row["name"].lower() for row in plan.rows if row["trainable"]]
    if copies:
        text += (f" The {' and the '.join(copies)} train{'s' if len(copies) == 1 else ''} in full, as a copy beside "
                 "the frozen original (both counted).")
    return f"{text} {plan.note}".strip()


def _where(rows: list[dict[str, Any]]) -> str:
    """"query, value in every layer", "q, v in layers 1-3; k in layer 4", "word_embeddings in the
    embeddings": each set of modules once, with the rows that carry it."""
    layers = rows[1:-1]
    sets: dict[tuple[str, ...], list[int]] = {}
    for number, row in enumerate(layers, start=1):
        if row["adapters"]:
            sets.setdefault(tuple(row["adapters"]), []).append(number)
    parts = []
    for names, numbers in sets.items():
        if len(numbers) == len(layers) and len(layers) > 1:
            where = "every layer"
        else:
            where = ("layer " if len(numbers) == 1 else "layers ") + _ranges(numbers)
        parts.append(f"{', '.join(names)} in {where}")
    for row in (rows[0], rows[-1]):
        if row["adapters"]:
            parts.append(f"{', '.join(row['adapters'])} in the {row['name'].lower()}")
    return "; ".join(parts)


def _ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 5] -> "1-3, 5"."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in spans)


def _lora_statuses(row: dict[str, Any]) -> list[str]:
    """A row's status under LoRA, longest first: the modules with adapters and what those add
    ("q, k, v, o +12,288", then "4 modules +12,288"), or trains in full / frozen."""
    if row["trainable"]:
        return ["trains in full"]
    if row.get("adapter_params"):
        names, added = row["adapters"], f"+{row['adapter_params']:,}"
        count = len(row.get("adapter_modules") or names)
        return [f"{', '.join(names)} {added}", f"{count} module{'' if count == 1 else 's'} {added}", added]
    return ["frozen"]


def _lora_tooltip(row: dict[str, Any], status: str) -> str:
    lines = [f"{row['name']}: {row['params']:,} parameters, " + ("trains in full" if row["trainable"] else "frozen")]
    for name, inn, out, params in row.get("adapter_modules", []):
        lines.append(f"{name}: {inn:,} -> {out:,}, adapter {params:,}")
    if len(lines) > 1:
        lines.append(f"Adapters: +{row['adapter_params']:,} trainable parameters")
    return "\n".join(lines)


def _status_icon(state: str, color: QColor) -> QIcon:
    """A small drawn icon: a filled dot for trainable rows, a padlock for frozen ones, and a
    padlock with a dot for frozen rows that carry trainable adapters (LoRA)."""
    pixmap = QPixmap(16, 16)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    if state == "trains":
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawEllipse(QPointF(8, 8), 4.5, 4.5)
    else:
        lock = QColor(colors()["frozen"])
        painter.setPen(QPen(lock, 1.8))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawArc(QRectF(4.5, 1.5, 7, 9), 0, 180 * 16)  # the shackle
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(lock)
        painter.drawRoundedRect(QRectF(3, 7, 10, 8), 1.5, 1.5)
        if state == "adapters":  # the adapters beside the frozen weights
            painter.setBrush(color)
            painter.drawEllipse(QPointF(12, 12), 3.6, 3.6)
    painter.end()
    return QIcon(pixmap)
