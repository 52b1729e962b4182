"""A study's results: a summary line, the trials table, three charts, and what to do next
(train with the best trial's settings or the selected one's, open a trial in the tester).

It shows an `engine.search.results.StudyView` as read from the study's database, live or long
after; it decides nothing itself, and asks the panel (by signal) to act on a trial.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QItemSelectionModel, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ftstudio.engine.search.results import StudyView, TrialRow, format_value
from ftstudio.engine.tasks.metric_names import metric_label
from ftstudio.gui.search.charts import ImportanceChart, ParamScatterChart, ValueByTrialChart
from ftstudio.gui.search.trials_table import NUMBER_ROLE, SORT_ROLE, TrialsSortProxy, TrialsTableModel
from ftstudio.gui.style import set_role


class StudyResults(QWidget):
    """The study's trials, charts and actions.

    Signals:
      sig_train_with(int number): "Train with these settings" for that trial (the best one, or the
        selected one).
      sig_open_in_tester(str run_dir): "Open in tester" for the selected trial's run folder.
    """

    sig_train_with = Signal(int)
    sig_open_in_tester = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view: StudyView | None = None
        self._build()
        self._update_buttons()

    def _build(self) -> None:
        self.summary = QLabel("No study yet: define the space on the left and start a search, or open a study.")
        self.summary.setObjectName("studySummary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        set_role(self.summary, "hint")
        self.model = TrialsTableModel(self)
        self.proxy = TrialsSortProxy(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = QTableView()
        self.table.setObjectName("trialsTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.selectionModel().selectionChanged.connect(lambda *_a: self._update_buttons())
        self.table.doubleClicked.connect(lambda _i: self._on_open_in_tester())

        self.train_best = QPushButton("Train with the best settings")
        self.train_best.setObjectName("trainWithBest")
        self.train_best.setToolTip("Put the best trial's settings on the Setup tab, to train with them in full.")
        self.train_best.clicked.connect(self._on_train_best)
        self.train_selected = QPushButton("Train with this trial's settings")
        self.train_selected.setToolTip("Put the selected trial's settings on the Setup tab.")
        self.train_selected.clicked.connect(self._on_train_selected)
        self.tester = QPushButton("Open in tester")
        self.tester.setToolTip("Try the selected trial's model (its best checkpoint) on the Test tab.")
        self.tester.clicked.connect(self._on_open_in_tester)
        actions = QHBoxLayout()
        actions.addWidget(self.train_best)
        actions.addWidget(self.train_selected)
        actions.addWidget(self.tester)
        actions.addStretch(1)

        self.value_chart = ValueByTrialChart()
        self.scatter_chart = ParamScatterChart()
        self.importance_chart = ImportanceChart()
        charts = QSplitter(Qt.Orientation.Horizontal)
        charts.setChildrenCollapsible(False)
        for chart in (self.value_chart, self.scatter_chart, self.importance_chart):
            chart.setMinimumWidth(220)
            charts.addWidget(chart)
        for chart in (self.value_chart, self.scatter_chart):
            chart.sig_trial_clicked.connect(self.select_trial)
        charts.setSizes([400, 400, 300])

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.summary)
        top_layout.addWidget(self.table, 1)
        top_layout.addLayout(actions)
        split = QSplitter(Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        split.addWidget(top)
        split.addWidget(charts)
        split.setSizes([300, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)

    # ------------------------------------------------------------------ public
    def show_view(self, view: StudyView) -> None:
        """Show the study as read (keeping the selected trial selected)."""
        self.view = view
        best = view.best.number if view.best is not None else None
        self.model.set_rows(view.rows, list(view.record.space), view.metric, best)
        self.summary.setText(summary_text(view))
        set_role(self.summary, "")
        self.value_chart.show_rows(view.rows, view.metric, view.direction, best)
        self.scatter_chart.show_rows(view.rows, view.record.space, view.metric, best)
        complete = sum(row.state == "complete" for row in view.rows)
        self.importance_chart.show_importances(view.importances, complete)
        self._update_buttons()

    def clear(self, text: str = "") -> None:
        self.view = None
        self.model.set_rows([], [], "", None)
        self.summary.setText(text)
        set_role(self.summary, "hint")
        self.value_chart.show_rows([], "", "maximize", None)
        self.scatter_chart.show_rows([], {}, "", None)
        self.importance_chart.show_importances({}, 0)
        self._update_buttons()

    def selected_row(self) -> TrialRow | None:
        indexes = self.table.selectionModel().selectedRows()
        if not indexes or self.view is None:
            return None
        number = indexes[0].data(NUMBER_ROLE)
        return next((row for row in self.view.rows if row.number == number), None)

    @Slot(int)
    def select_trial(self, number: int) -> None:
        for line in range(self.proxy.rowCount()):
            index = self.proxy.index(line, 0)
            if index.data(NUMBER_ROLE) == number:
                self.table.selectionModel().select(
                    index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
                self.table.scrollTo(index)
                return

    def shutdown(self) -> None:
        for chart in (self.value_chart, self.scatter_chart, self.importance_chart):
            chart.shutdown()

    # ------------------------------------------------------------------ slots
    def _update_buttons(self) -> None:
        row = self.selected_row()
        best = self.view.best if self.view is not None else None
        self.train_best.setEnabled(best is not None)
        self.train_best.setText(f"Train with the best settings (trial {best.number})" if best is not None
                                else "Train with the best settings")
        self.train_selected.setEnabled(row is not None and bool(row.params))
        self.tester.setEnabled(row is not None and bool(row.run_dir))

    @Slot()
    def _on_train_best(self) -> None:
        if self.view is not None and self.view.best is not None:
            self.sig_train_with.emit(self.view.best.number)

    @Slot()
    def _on_train_selected(self) -> None:
        row = self.selected_row()
        if row is not None:
            self.sig_train_with.emit(row.number)

    @Slot()
    def _on_open_in_tester(self) -> None:
        row = self.selected_row()
        if row is not None and row.run_dir:
            self.sig_open_in_tester.emit(row.run_dir)


def summary_text(view: StudyView) -> str:
    """One line about the study: trials done of the budget, by state, and the best so far."""
    counts: dict[str, int] = {}
    for row in view.rows:
        counts[row.state] = counts.get(row.state, 0) + 1
    done = ", ".join(f"{count} {state}" for state, count in counts.items())
    text = f"<b>{html.escape(view.study_name)}</b>: {len(view.rows)} of {view.budget} trials"
    if done:
        text += f" ({done})"
    if view.best is not None:
        text += (f". Best: trial {view.best.number}, {html.escape(metric_label(view.metric))} "
                 f"{format_value(view.best.value)}")
    else:
        text += f". Judged by validation {html.escape(metric_label(view.metric))}"
    return text + ("; higher is better." if view.direction == "maximize" else "; lower is better.")
