"""The data panel's views: the raw-rows table model, the chart box the charts share, and the
token-length histogram with its max_length line (the label charts are in label_charts.py).

pyqtgraph is imported when a chart first gets data, not when the window is built, so the window
opens fast; the charts take their colours from the theme (style.colors()).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel, QStackedLayout, QVBoxLayout, QWidget

from ftstudio.gui.style import colors, set_role

_Index = QModelIndex | QPersistentModelIndex


class RawPreviewModel(QAbstractTableModel):
    """The first rows of the raw train split as strings; the columns in use are marked (bold, with
    their role: text, second text, label)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._columns: list[str] = []
        self._rows: list[list[str]] = []
        self._marks: dict[str, str] = {}

    def set_rows(self, columns: list[str], rows: list[list[str]], marks: dict[str, str] | None = None) -> None:
        """Show `rows`; `marks` names the role of the columns in use ({"tweet": "text",
        "statement": "second text", "label": "label"})."""
        self.beginResetModel()
        self._columns, self._rows = list(columns), rows
        self._marks = dict(marks or {})
        self.endResetModel()

    def marks(self) -> dict[str, str]:
        return dict(self._marks)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt API
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self._rows[index.row()][index.column()]
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Vertical:
            return str(section + 1) if role == Qt.ItemDataRole.DisplayRole else None
        name = self._columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            mark = self._marks.get(name)
            return f"{name} (as {mark})" if mark and mark != name else name
        if role == Qt.ItemDataRole.FontRole and name in self._marks:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole and name in self._marks:
            return f"Used as the {self._marks[name]} column"
        return None


class ChartBox(QWidget):
    """A title line over a plot that is created on first use (pyqtgraph imports lazily)."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel(title)
        self.title.setWordWrap(True)
        self.title.setObjectName("chartTitle")
        self._stack = QStackedLayout()
        self._placeholder = QLabel("")
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder.setWordWrap(True)
        set_role(self._placeholder, "hint")
        self._stack.addWidget(self._placeholder)
        self.plot: Any = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addLayout(self._stack, 1)
        self.setMinimumHeight(150)

    def ensure_plot(self) -> Any:
        if self.plot is None:
            import pyqtgraph as pg

            palette = colors()
            self.plot = pg.PlotWidget(background=palette["plot_bg"])
            self.plot.setMenuEnabled(False)
            self.plot.setMouseEnabled(x=False, y=False)
            self.plot.hideButtons()
            for axis in ("left", "bottom"):
                self.plot.getAxis(axis).setTextPen(palette["plot_fg"])
                self.plot.getAxis(axis).setPen(palette["plot_fg"])
            self._stack.addWidget(self.plot)
        self._stack.setCurrentWidget(self.plot)
        return self.plot

    def show_placeholder(self, text: str) -> None:
        self._placeholder.setText(text)
        self._stack.setCurrentWidget(self._placeholder)


class TokenLengthChart(ChartBox):
    """Histogram of tokens per training text, the max_length line, and the share longer than it:
    truncated, or for token classification split into windows (no word is lost)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Tokens per text (train)", parent)
        self._bars: Any = None
        self._line: Any = None
        self._unit = "text"  # "pair" when the model reads two texts together

    def set_stats(self, stats: dict[str, Any], pairs: bool = False, sentences: bool = False) -> None:
        """Draw `engine.data.summary.length_stats(...)`: histogram edges/counts and max_length
        (with `pairs`, the lengths are of both texts of a row as the model reads them; with
        `sentences`, of token-classification sentences). `stats["long_handling"] == "split"`:
        longer ones are split into windows, not truncated; "packed" (pre-training): the texts are
        joined into blocks of max_length, and the title says how many tokens and blocks."""
        import pyqtgraph as pg

        edges, counts = stats["histogram"]["edges"], stats["histogram"]["counts"]
        max_length = stats["max_length"]
        self._unit = "pair" if pairs else "sentence" if sentences else "text"
        if not counts:
            self.clear(f"No {self._unit}s to measure.")
            return
        plot = self.ensure_plot()
        palette = colors()
        brushes = [palette["line"] if left >= max_length else palette["bar"] for left in edges[:-1]]
        if self._bars is not None:
            plot.removeItem(self._bars)
        self._bars = pg.BarGraphItem(x0=edges[:-1], x1=edges[1:], y0=0, height=counts, brushes=brushes, pen=None)
        plot.addItem(self._bars)
        if self._line is None:
            pen = pg.mkPen(palette["line"], width=2, style=Qt.PenStyle.DashLine)
            self._line = pg.InfiniteLine(angle=90, movable=False, pen=pen,
                                         label="max_length {value:.0f}", labelOpts={"color": palette["line"],
                                                                                  "position": 0.9})
            plot.addItem(self._line)
        self._line.setValue(max_length)
        plot.setXRange(0, max(edges[-1], max_length * 1.08), padding=0.02)
        plot.setYRange(0, max(counts) * 1.1, padding=0)
        if stats.get("long_handling") == "packed":
            self._show_packed(stats)
            return
        share = stats["truncated_share"]
        split = stats.get("long_handling") == "split"
        self.title.setText(
            f"Tokens per {self._unit}: median {stats['p50']:.0f}, p95 {stats['p95']:.0f}, max {stats['max']}"
            f" · <b>{share:.1%} {'split into windows' if split else 'truncated'}</b> at {max_length}")
        texts = {"pair": "text pairs (both texts together)", "sentence": "sentences"}.get(self._unit, "texts")
        if split:
            consequence = ("and will be split into windows at word boundaries: every word is still trained on "
                           "and tagged. Raise max_length (slower) to give words more context.")
        else:
            consequence = "and will be cut. Raise max_length (slower) if that loses meaning."
        self.setToolTip(f"{share:.2%} of {stats['count']:,} training {texts} are longer than {max_length} tokens "
                        + consequence)

    def _show_packed(self, stats: dict[str, Any]) -> None:
        """Pre-training with packing: nothing is cut; the texts' tokens fill blocks of max_length
        (about tokens / max_length of them: the engine keeps the last, shorter block)."""
        max_length = stats["max_length"]
        tokens = round(stats["mean"] * stats["count"])
        blocks = max(1, -(-tokens // max_length))
        self.title.setText(f"Tokens per text: median {stats['p50']:.0f}, p95 {stats['p95']:.0f}, max {stats['max']}"
                           f" · <b>{tokens:,} tokens ≈ {blocks:,} blocks of {max_length}</b>")
        self.setToolTip(f"The {stats['count']:,} training texts hold {tokens:,} tokens (special tokens included). "
                        f"Packing joins them and cuts the stream into blocks of max_length ({max_length}) tokens: "
                        "nothing is truncated and no block is padded, so every step trains on full blocks. "
                        "Turn packing off to train one text per row (cut at max_length).")

    def truncated_text(self) -> str:
        return self.title.text()

    def clear(self, text: str = "") -> None:
        self.title.setText(f"Tokens per {self._unit} (train)")
        self.setToolTip("")
        self.show_placeholder(text)


def short_name(name: str, limit: int = 18) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"
