"""What the labels of the training split look like, drawn per task from the engine's summary
(`engine.data.summary.summarize()["labels"]["train"]`):

- kind "classes" (single-label): one bar per class;
- kind "labels" (multi-label): how often each label occurs, and how many labels the rows carry;
- kind "scores" (regression): a histogram of the values, with mean, sd, min and max in words;
- kind "entities" (token classification): how many entities of each type, each bar in its
  type's colour (the one the sentence preview and the tester use);
- kind "texts" (continued pre-training, no labels): the training texts' lengths in characters
  (text_summary.text_facts).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSplitter, QStackedWidget, QWidget

from ftstudio.gui.entity_colours import entity_colour
from ftstudio.gui.setup.data_views import ChartBox, short_name
from ftstudio.gui.setup.text_summary import texts_line
from ftstudio.gui.style import colors


class _HorizontalBars(ChartBox):
    """Horizontal bars, one per name (names on the left axis), the first name at the top."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self._empty_title = title
        self._bars: Any = None

    def draw(self, counts: dict[str, int], brushes: list[str] | None = None) -> None:
        """One bar per name; `brushes`: a colour per bar (else the theme's bar colour)."""
        import pyqtgraph as pg

        plot = self.ensure_plot()
        names, values = list(counts), list(counts.values())
        if self._bars is not None:
            plot.removeItem(self._bars)
        ys = list(range(len(names) - 1, -1, -1))  # the first name on top
        colour = {"brushes": brushes} if brushes else {"brush": colors()["bar"]}
        self._bars = pg.BarGraphItem(x0=0, y=ys, height=0.7, width=values, pen=None, **colour)
        plot.addItem(self._bars)
        # Many names: label every k-th so they stay readable.
        step = max(1, len(names) // 12)
        plot.getAxis("left").setTicks([[(ys[i], short_name(names[i])) for i in range(0, len(names), step)]])
        plot.getAxis("left").setStyle(autoExpandTextSpace=True)
        plot.setYRange(-0.6, len(names) - 0.4, padding=0)
        plot.setXRange(0, max(max(values), 1) * 1.05, padding=0)

    def clear(self, text: str = "") -> None:
        self.title.setText(self._empty_title)
        self.setToolTip("")
        self.show_placeholder(text)


class ClassCountsChart(_HorizontalBars):
    """Single-label: one bar per class of the training split."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Classes (train)", parent)

    def set_counts(self, counts: dict[str, int]) -> None:
        if not counts:
            self.clear()
            return
        self.draw(counts)
        values = list(counts.values())
        total = sum(values) or 1
        self.title.setText(f"Classes: largest {max(values) / total:.0%}, smallest {min(values) / total:.0%}")
        self.setToolTip("\n".join(f"{n}: {v:,} ({v / total:.1%})" for n, v in counts.items()))


class LabelFrequencyChart(_HorizontalBars):
    """Multi-label: on how many training rows each label occurs, most frequent first."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Labels (train)", parent)

    def set_counts(self, counts: dict[str, int], rows: int) -> None:
        if not counts:
            self.clear()
            return
        ordered = dict(sorted(counts.items(), key=lambda item: -item[1]))
        self.draw(ordered)
        rows = max(rows, 1)
        names = list(ordered)
        top, rare = names[0], names[-1]
        self.title.setText(f"{len(names)} labels: '{short_name(top)}' on {ordered[top] / rows:.0%} of rows, "
                           f"'{short_name(rare)}' on {ordered[rare] / rows:.1%}")
        self.setToolTip("Rows carrying each label (train):\n"
                        + "\n".join(f"{n}: {v:,} ({v / rows:.1%})" for n, v in ordered.items()))


class EntityCountsChart(_HorizontalBars):
    """Token classification: entities of each type in the training split, most frequent first."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Entities (train)", parent)

    def set_summary(self, summary: dict[str, Any]) -> None:
        """Draw a summary of kind "entities" (counts per type, tag counts, words)."""
        counts = summary.get("counts", {})
        if not counts:
            self.clear("No entity types: every word is tagged O.")
            return
        ordered = dict(sorted(counts.items(), key=lambda item: -item[1]))
        self.draw(ordered, [entity_colour(name) for name in ordered])
        total = sum(ordered.values())
        names = list(ordered)
        top, rare = names[0], names[-1]
        self.title.setText(f"{len(names)} entity types, {total:,} entities: '{short_name(top)}' "
                           f"{ordered[top] / max(total, 1):.0%}, '{short_name(rare)}' {ordered[rare]:,}")
        words = summary.get("tokens", 0)
        outside = summary.get("tags", {}).get("O", 0)
        lines = [f"{n}: {v:,} ({v / max(total, 1):.1%})" for n, v in ordered.items()]
        if words:
            lines.append(f"\n{outside / words:.0%} of {words:,} words are outside any entity (O).")
        self.setToolTip("Entities per type (train):\n" + "\n".join(lines))


class LabelsPerRowChart(ChartBox):
    """Multi-label: how many rows carry 0, 1, 2, ... labels."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Labels per row (train)", parent)
        self._bars: Any = None

    def set_counts(self, per_row: list[int]) -> None:
        rows = sum(per_row)
        if not rows:
            self.clear()
            return
        import pyqtgraph as pg

        plot = self.ensure_plot()
        if self._bars is not None:
            plot.removeItem(self._bars)
        xs = list(range(len(per_row)))
        self._bars = pg.BarGraphItem(x=xs, y0=0, width=0.7, height=per_row, brush=colors()["bar"], pen=None)
        plot.addItem(self._bars)
        plot.getAxis("bottom").setTicks([[(x, str(x)) for x in xs]])
        plot.setXRange(-0.6, len(per_row) - 0.4, padding=0)
        plot.setYRange(0, max(per_row) * 1.1, padding=0)
        mean = sum(k * c for k, c in enumerate(per_row)) / rows
        common = max(xs, key=lambda k: per_row[k])
        self.title.setText(f"Labels per row: mean {mean:.2f}; {per_row[common] / rows:.0%} of rows have {common}")
        self.setToolTip("\n".join(f"{k} label{'s' if k != 1 else ''}: {c:,} rows ({c / rows:.1%})"
                                  for k, c in enumerate(per_row) if c))

    def clear(self, text: str = "") -> None:
        self.title.setText("Labels per row (train)")
        self.setToolTip("")
        self.show_placeholder(text)


class HistogramChart(ChartBox):
    """A chart of one histogram (bin edges and counts), redrawn in place."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self._bars: Any = None

    def draw_histogram(self, edges: list[float], counts: list[int], x_from: float) -> Any:
        """Draw the bars (replacing the last ones) from `x_from`; returns the plot."""
        import pyqtgraph as pg

        plot = self.ensure_plot()
        if self._bars is not None:
            plot.removeItem(self._bars)
        self._bars = pg.BarGraphItem(x0=edges[:-1], x1=edges[1:], y0=0, height=counts, brush=colors()["bar"],
                                     pen=pg.mkPen(colors()["plot_bg"]))
        plot.addItem(self._bars)
        plot.setXRange(x_from, edges[-1], padding=0.02)
        plot.setYRange(0, max(counts) * 1.1, padding=0)
        return plot


class ScoreHistogram(HistogramChart):
    """Regression: a histogram of the training values, with mean, sd, min and max in words."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Values (train)", parent)

    def set_summary(self, summary: dict[str, Any], column: str = "") -> None:
        edges, counts = summary["histogram"]["edges"], summary["histogram"]["counts"]
        if not counts:
            self.clear("No values.")
            return
        self.draw_histogram(edges, counts, edges[0])
        name = f"'{short_name(column)}'" if column else "Values"
        self.title.setText(f"{name}: mean {_num(summary['mean'])}, sd {_num(summary['std'])}, "
                           f"min {_num(summary['min'])}, max {_num(summary['max'])}")
        self.setToolTip(f"{summary['rows']:,} training values; median {_num(summary['median'])}.\n"
                        "The model learns them standardised and predicts in these units.")

    def clear(self, text: str = "") -> None:
        self.title.setText("Values (train)")
        self.setToolTip("")
        self.show_placeholder(text)


class TextLengthChart(HistogramChart):
    """Pre-training: a histogram of the training texts' lengths in characters, with the texts and
    characters of the training split in the title."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Texts (train)", parent)

    def set_facts(self, facts: dict[str, Any] | None) -> None:
        """Draw `text_facts(...)` (None: not measured, nothing to draw)."""
        train = (facts or {}).get("train", {})
        edges, counts = train.get("histogram", {}).get("edges", []), train.get("histogram", {}).get("counts", [])
        if not counts:
            self.clear("No texts.")
            return
        plot = self.draw_histogram(edges, counts, 0)
        plot.getAxis("bottom").setLabel("characters per text")
        found = facts["splits"].get("train", {"texts": 0, "characters": 0})
        self.title.setText(f"{found['texts']:,} training texts, {found['characters']:,} characters: median "
                           f"{train['median']:.0f}, p95 {train['p95']:.0f}, max {train['max']:,} per text")
        self.setToolTip("Characters per training text (one line of a .txt file, or one row's text).\n"
                        + texts_line(facts) + "\nThe model reads tokens: see the token chart beside this one.")

    def clear(self, text: str = "") -> None:
        self.title.setText("Texts (train)")
        self.setToolTip("")
        self.show_placeholder(text)


def _num(value: float) -> str:
    return f"{value:.3g}".replace("-", "−")


class LabelSummaryView(QStackedWidget):
    """The chart(s) of the task's label summary: class bars, label frequencies with labels per
    row, the values' histogram, or entities per type."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.classes = ClassCountsChart()
        self.labels = LabelFrequencyChart()
        self.per_row = LabelsPerRowChart()
        self.per_row.setMinimumHeight(90)
        self.scores = ScoreHistogram()
        self.entities = EntityCountsChart()
        self.texts = TextLengthChart()
        multi = QSplitter(Qt.Orientation.Vertical)
        multi.addWidget(self.labels)
        multi.addWidget(self.per_row)
        multi.setSizes([320, 120])
        multi.setChildrenCollapsible(False)
        self._multi = multi
        for page in (self.classes, multi, self.scores, self.entities, self.texts):
            self.addWidget(page)

    def set_summary(self, summary: dict[str, Any], column: str = "", texts: dict[str, Any] | None = None) -> None:
        """Show one split's summary (its "kind" picks the chart); `column` names a regression's
        values; `texts`: pre-training's text_facts, drawn for kind "texts"."""
        kind = summary.get("kind", "classes")
        if kind == "texts":
            self.texts.set_facts(texts)
            self.setCurrentWidget(self.texts)
        elif kind == "labels":
            self.labels.set_counts(summary["counts"], summary["rows"])
            self.per_row.set_counts(summary["labels_per_row"])
            self.setCurrentWidget(self._multi)
        elif kind == "scores":
            self.scores.set_summary(summary, column)
            self.setCurrentWidget(self.scores)
        elif kind == "entities":
            self.entities.set_summary(summary)
            self.setCurrentWidget(self.entities)
        else:
            self.classes.set_counts(summary.get("counts", {}))
            self.setCurrentWidget(self.classes)

    def title_text(self) -> str:
        """The current chart's title line(s), for tests and the accessible description."""
        page = self.currentWidget()
        if page is self._multi:
            return f"{self.labels.title.text()}\n{self.per_row.title.text()}"
        return page.title.text()

    def clear(self, text: str = "") -> None:
        for chart in (self.classes, self.labels, self.per_row, self.scores, self.entities, self.texts):
            chart.clear(text)
