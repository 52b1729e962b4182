"""Which parts of the model train under the chosen strategy, row by row, with parameter counts.

The table comes from the engine's `layer_plan(info, strategy, epoch, num_labels)`, which works from
`inspect_model`'s counts (no torch), so it follows every edit of the strategy instantly. For
gradual unfreezing an epoch slider shows the plan at each epoch of the run.
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
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ftstudio.gui.style import colors, set_role


class LayersView(QGroupBox):
    """The model's layer groups (Embeddings, Layer 1..L, Head), trainable or frozen.

    Signals:
      sig_plan_changed(object): the engine `LayerPlan` now shown (None without a model or when
        the strategy does not fit the model; `problem()` then says why).
    """

    sig_plan_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Layers", parent)
        self._info: Any = None
        self._strategy = "full"
        self._reinit = 0
        self._epochs = 3
        self._num_labels = 2
        self._plan: Any = None
        self._problem = ""
        self._icons: dict[bool, QIcon] = {}
        self._build()
        self._refresh()

    def _build(self) -> None:
        self._summary = QLabel()
        self._summary.setObjectName("trainableSummary")
        self._summary.setWordWrap(True)
        self._table = QTableWidget(0, 3)
        self._table.setObjectName("layersTable")
        self._table.setHorizontalHeaderLabels(["Part", "Parameters", "Status"])
        self._table.verticalHeader().setVisible(False)
        self._table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self._table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._table.verticalHeader().setDefaultSectionSize(22)
        header = self._table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
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

    def _refresh(self) -> None:
        gradual = self._strategy.strip().lower() == "gradual"
        self._epoch_box.setVisible(gradual and self._info is not None)
        self._epoch.blockSignals(True)
        self._epoch.setRange(1, self._epochs)
        self._epoch.blockSignals(False)
        epoch = self._epoch.value() if gradual else 1
        self._plan, self._problem = None, ""
        if self._info is None:
            self._table.setRowCount(0)
            self._show_summary("Choose a model to see its layers.", "hint")
            self.sig_plan_changed.emit(None)
            return
        from ftstudio.engine.errors import SettingsError
        from ftstudio.engine.models.freezing import layer_plan

        try:
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
        if gradual:
            self._epoch_label.setText(f"Epoch {epoch} of {self._epochs}")
            text += f" in epoch {epoch}"
        self._show_summary(text, "heading")
        self.sig_plan_changed.emit(plan)

    def _fill(self, rows: list[dict[str, Any]]) -> None:
        palette = colors()
        layers = len(rows) - 2
        reinit_from = layers - self._reinit + 1  # Layer numbers are 1-based, bottom first
        self._table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            trains = bool(row["trainable"])
            name = QTableWidgetItem(self._icon(trains), row["name"])
            params = QTableWidgetItem(f"{row['params']:,}")
            params.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            status = "trains" if trains else "frozen"
            number = _layer_number(row["name"])
            if number is not None and self._reinit and number >= reinit_from:
                status += ", re-init"
            state = QTableWidgetItem(status)
            color = QColor(palette["trainable"] if trains else palette["frozen"])
            for item in (name, params, state):
                if not trains:  # frozen rows recede: grey text beside the padlock
                    item.setForeground(QBrush(color))
                item.setToolTip(f"{row['name']}: {row['params']:,} parameters, {status}")
            state.setForeground(QBrush(color))
            self._table.setItem(r, 0, name)
            self._table.setItem(r, 1, params)
            self._table.setItem(r, 2, state)

    def _icon(self, trains: bool) -> QIcon:
        if trains not in self._icons:
            self._icons[trains] = _status_icon(trains, QColor(colors()["trainable" if trains else "frozen"]))
        return self._icons[trains]

    def _show_summary(self, text: str, role: str) -> None:
        self._summary.setText(text)
        set_role(self._summary, role)


def _layer_number(name: str) -> int | None:
    parts = name.split()
    return int(parts[1]) if len(parts) == 2 and parts[0] == "Layer" and parts[1].isdigit() else None


def _status_icon(trains: bool, color: QColor) -> QIcon:
    """A small drawn icon: a filled dot for trainable rows, a padlock for frozen ones."""
    pixmap = QPixmap(16, 16)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    if trains:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawEllipse(QPointF(8, 8), 4.5, 4.5)
    else:
        painter.setPen(QPen(color, 1.8))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawArc(QRectF(4.5, 1.5, 7, 9), 0, 180 * 16)  # the shackle
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawRoundedRect(QRectF(3, 7, 10, 8), 1.5, 1.5)
    painter.end()
    return QIcon(pixmap)
