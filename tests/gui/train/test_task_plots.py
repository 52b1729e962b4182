"""The Train tab's plots, log and checkpoints table follow the run's task: single-label,
multi-label and regression evaluations (EvalEvent dicts as the engine sends them) give the
task's headline curves, named for people, on axes that fit their numbers."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("pytestqt")

from ftstudio.engine.events import EvalEvent  # noqa: E402
from ftstudio.engine.tasks.registry import get_task  # noqa: E402

METRICS = {
    "single-label": {"accuracy": 0.81, "precision": 0.8, "recall": 0.79, "f1": 0.78},
    "multi-label": {"micro_f1": 0.7, "macro_f1": 0.55, "micro_precision": 0.72, "micro_recall": 0.68,
                    "macro_precision": 0.6, "macro_recall": 0.5, "subset_accuracy": 0.4},
    "regression": {"rmse": 12.5, "mae": 9.8, "mse": 156.25, "pearson": 0.71, "spearman": 0.69, "r2": -0.2},
}
DETAILS = {
    "single-label": {"confusion": [[3, 1], [0, 4]], "per_class": {"a": {"precision": 1.0, "recall": 0.75}}},
    "multi-label": {"per_label": {"x": {"precision": 0.5, "recall": 1.0, "f1": 0.67}}, "thresholds": [0.4, 0.5]},
    "regression": {},
}
LAYOUTS = {
    "single-label": [("Validation", ("accuracy", "f1"))],
    "multi-label": [("Validation", ("micro_f1", "macro_f1", "subset_accuracy"))],
    "regression": [("Validation error", ("rmse",)), ("Validation", ("pearson", "r2"))],
}
KEYS = {"accuracy": "● accuracy", "f1": "▼ macro F1", "micro_f1": "● micro F1", "macro_f1": "▼ macro F1",
        "subset_accuracy": "■ subset accuracy", "rmse": "● RMSE", "pearson": "● Pearson r", "r2": "▼ R²"}


def info(task: str) -> dict:
    found = get_task(task)
    return {"event": "info", "task": task, "task_title": found.title, "metrics": list(found.metric_names),
            "best_metric": found.best_metric, "total_steps": 100, "epochs": 2}


def evaluation(task: str, step: int, scale: float = 1.0, split: str = "validation") -> dict:
    """An evaluation as the engine reports it (metrics and details flattened beside step and loss)."""
    metrics = {name: value * scale for name, value in METRICS[task].items()}
    return EvalEvent(step=step, epoch=step / 50, loss=0.9 / scale, metrics=metrics, split=split,
                     details=DETAILS[task], task=task).to_dict()


def step(i: int, loss: float = 1.0) -> dict:
    return {"event": "step", "step": i, "epoch": i / 50, "loss": loss, "learning_rate": 1e-4, "total_steps": 100}


@pytest.fixture
def plots(qtbot):
    from ftstudio.gui.train.plots import TrainingPlots

    widget = TrainingPlots()
    qtbot.addWidget(widget)
    widget.resize(1200, 320)
    yield widget
    widget.shutdown()


def _y_view(plot) -> tuple[float, float]:
    return tuple(plot.getViewBox().viewRange()[1])


@pytest.mark.parametrize("task", list(LAYOUTS))
def test_live_evaluations_give_the_tasks_headline_curves(plots, task):
    plots.add_info(info(task))
    for i in range(1, 41):
        plots.add_step(step(i, loss=1.0 / i))
        if i % 10 == 0:
            plots.add_eval(evaluation(task, i, scale=0.8 + i / 200))
    plots.add_eval(evaluation(task, 40, split="test"))  # not a validation point
    plots.flush()
    assert plots.task() == task
    assert plots.metric_layout() == LAYOUTS[task]
    shown = [name for _heading, names in LAYOUTS[task] for name in names]
    assert [n for n in plots.curve_names() if n not in ("raw", "smooth", "val_loss", "lr")] == shown
    for name in shown:
        assert plots.curve_key(name) == KEYS[name]
        x, y = plots.curve_data(name)
        assert list(x) == [10, 20, 30, 40]
        assert y[0] == pytest.approx(METRICS[task][name] * 0.85)
        lo, hi = _y_view(plots.plot_of(name))
        assert lo <= y.min() and y.max() <= hi  # every point inside its plot's range
    assert len(plots.curve_data("val_loss")[0]) == 4
    # Each plot has its own metrics only; validation headings name what is in them.
    headings = {plots.plot_of(name): heading for heading, names in LAYOUTS[task] for name in names}
    assert len(set(headings)) == len(LAYOUTS[task])
    plots.show_readout_at(20.0)
    text = plots.readout.text()
    assert "validation @ step 20" in text
    for name in shown:
        assert KEYS[name][2:] in text  # the metric's name for people, with its value


def test_regression_errors_and_correlations_have_axes_that_fit_them(plots):
    plots.add_info(info("regression"))
    for i, (rmse, pearson, r2) in enumerate([(40.0, 0.1, -0.8), (25.0, 0.5, 0.2), (12.0, 0.8, 0.6)], start=1):
        plots.add_eval({**evaluation("regression", i * 10), "rmse": rmse, "pearson": pearson, "r2": r2})
    plots.flush()
    error_lo, error_hi = _y_view(plots.plot_of("rmse"))
    assert error_lo <= 12.0 and error_hi >= 40.0 and error_lo > -5  # RMSE in the data's units, from ~0
    score_lo, score_hi = _y_view(plots.plot_of("pearson"))
    assert plots.plot_of("pearson") is plots.plot_of("r2") is not plots.plot_of("rmse")
    assert score_lo <= -0.8 and 0.8 <= score_hi < 1.2  # a correlation never gets room far past 1
    assert score_hi - score_lo < 3  # and the scores are not squashed by the errors' scale


def test_a_rising_accuracy_gets_room_ahead_but_not_past_one(plots):
    plots.add_info(info("single-label"))
    for i, accuracy in enumerate([0.3, 0.5, 0.7, 0.9, 0.97], start=1):
        plots.add_eval({**evaluation("single-label", i * 10), "accuracy": accuracy, "f1": accuracy - 0.1})
        plots.flush()
        lo, hi = _y_view(plots.metric_plot)
        assert lo <= accuracy - 0.1 and accuracy <= hi <= 1.0 + 0.06


def test_records_without_a_task_are_a_single_label_run(plots):
    """Runs made before task types: no task in info or evaluations, accuracy and F1 as always."""
    plots.load_records([{"event": "info", "total_steps": 10}, step(1),
                        {"event": "eval", "step": 5, "epoch": 0.5, "loss": 0.5, "accuracy": 0.8, "f1": 0.7}])
    assert plots.task() == "single-label"
    assert plots.metric_layout() == LAYOUTS["single-label"]
    plots.flush()
    assert list(plots.curve_data("f1")[1]) == [0.7]


def test_switching_tasks_lays_the_plots_out_again(plots):
    plots.load_records([info("regression"), step(1), evaluation("regression", 5)])
    plots.flush()
    assert plots._plots == (plots.loss_plot, plots.error_plot, plots.metric_plot, plots.lr_plot)
    plots.add_overlay([info("regression"), step(1), evaluation("regression", 5, scale=0.5)], "other run")
    plots.load_records([info("multi-label"), step(1), evaluation("multi-label", 5)])
    plots.flush()
    assert plots._plots == (plots.loss_plot, plots.metric_plot, plots.lr_plot)
    assert "rmse" not in plots.curve_names() and plots.curve_data("subset_accuracy")[1][0] == pytest.approx(0.4)
    assert plots.error_plot.scene() is None  # off the canvas
    # The overlay's curves were made again for the plots now shown.
    (overlay,) = plots._overlays
    assert {column for _curve, _table, column in overlay.feeds} >= {"micro_f1", "macro_f1", "subset_accuracy"}
    assert all(curve._ft_plot in plots._plots for curve, _table, _column in overlay.feeds)
    plots.clear_overlays()
    plots.load_records([])  # nothing: a single-label layout, as for an old run
    assert plots.metric_layout() == LAYOUTS["single-label"]


def test_overlays_draw_each_headline_metric_of_the_other_run(plots):
    plots.load_records([info("multi-label"), step(1), evaluation("multi-label", 5)])
    plots.add_overlay([info("multi-label"), step(1), step(2), evaluation("multi-label", 5, scale=0.5)], "earlier")
    plots.flush()
    (overlay,) = plots._overlays
    drawn = {column: curve.getOriginalDataset()[1] for curve, table, column in overlay.feeds if table == "evals"}
    assert drawn["micro_f1"][0] == pytest.approx(0.35) and drawn["subset_accuracy"][0] == pytest.approx(0.2)
    assert all(curve._ft_key is None for curve, _t, _c in overlay.feeds)  # the key is a line of its own
    assert not plots.compared.isHidden() and "╌ earlier" in plots.compared.text()
    plots.clear_overlays()
    assert plots.compared.isHidden()


@pytest.mark.parametrize("task, headers, cells", [
    ("single-label", ["Accuracy", "Macro F1"], ["0.810", "0.780"]),
    ("multi-label", ["Micro F1", "Macro F1", "Subset accuracy"], ["0.700", "0.550", "0.400"]),
    ("regression", ["RMSE", "Pearson r", "R²"], ["12.50", "0.710", "-0.200"]),
])
def test_the_checkpoints_table_shows_the_tasks_headline_metrics(qtbot, tmp_path, task, headers, cells):
    from ftstudio.gui.train.checkpoints_table import CheckpointsTable

    table = CheckpointsTable()
    qtbot.addWidget(table)
    table.open_folders = False
    table.set_task(task, list(METRICS[task]))
    assert table.headers() == ["Checkpoint", "Step", *headers, "Loss", "Best", "Folder"]
    path = tmp_path / "checkpoints" / "step-10"
    table.add_checkpoint({"step": 10, "path": str(path), "is_best": True, "metrics": {"loss": 0.5, **METRICS[task]}})
    shown = [table.table.item(0, c).text() for c in range(table.table.columnCount())]
    assert shown == ["step-10", "10", *cells, "0.5000", "★", str(path)]
    table.set_task(None)  # a run that names no task: single-label
    assert table.headers()[2:4] == ["Accuracy", "Macro F1"]


@pytest.mark.parametrize("task, expected", [
    ("single-label", "Validation at step 10: accuracy 0.810, macro F1 0.780, loss 0.9000"),
    ("multi-label", "Validation at step 10: micro F1 0.700, macro F1 0.550, subset accuracy 0.400, loss 0.9000"),
    ("regression", "Validation at step 10: RMSE 12.50, Pearson r 0.710, R² -0.200, loss 0.9000"),
])
def test_the_panel_follows_the_run_info_and_logs_the_tasks_metrics(qtbot, runs_dir, task, expected):
    from ftstudio.gui.train.panel import TrainingPanel
    from ftstudio.gui.train.session import TrainingSession

    session = TrainingSession()
    panel = TrainingPanel(session, lambda: None, runs_dir)
    qtbot.addWidget(panel)
    try:
        session.sig_info.emit(info(task))
        session.sig_eval.emit(evaluation(task, 10))
        assert panel.plots.metric_layout() == LAYOUTS[task]
        first = {"single-label": "Accuracy", "multi-label": "Micro F1", "regression": "RMSE"}[task]
        assert panel.checkpoints.headers()[2] == first
        assert panel.log.text().splitlines()[-1].endswith(expected)
        best = get_task(task).best_metric
        session.sig_finished.emit({"status": "finished", "best": {"step": 10, "metric": best,
                                                                  "value": METRICS[task][best]}})
        label = {"f1": "macro F1 0.780", "micro_f1": "micro F1 0.700", "rmse": "RMSE 12.50 (lower is better)"}[best]
        assert f"Best {label} at step 10." in panel.banner.text()
    finally:
        assert session.shutdown(10_000)
        panel.shutdown()


def test_metric_values_read_as_their_kind():
    from ftstudio.gui.train.task_metrics import describe_metric, format_metric, goodness, metric_plots

    assert describe_metric("rmse", 1234.5678) == "RMSE 1235" and describe_metric("mae", 0.0123456) == "MAE 0.01235"
    assert format_metric("rmse", 1.66) == "1.660" and format_metric("mse", 0.0) == "0.000"
    assert describe_metric("f1", 0.87349) == "macro F1 0.873" and format_metric("loss", 0.5) == "0.5000"
    assert format_metric("r2", math.nan) == "—" and format_metric("accuracy", None) == "—"
    assert goodness("rmse", 2.0) < goodness("rmse", 1.0) and goodness("f1", 0.9) > goodness("f1", 0.8)
    # A task this version does not know: the first three metrics its run listed.
    assert [p.metrics for p in metric_plots("question-answering", ["seq_f1", "seq_precision", "x", "y"])] == [
        ("seq_f1", "seq_precision", "x")]


def test_plots_share_the_width_and_fill_the_height_whatever_the_task(qtbot, plots):
    """A long key (three metrics) neither widens its plot nor pushes the learning rate out of
    view, and laying the plots out again for another task keeps them at the canvas's height."""
    plots.resize(900, 330)
    plots.show()
    qtbot.waitExposed(plots)
    for task in ("multi-label", "regression", "single-label"):
        plots.load_records([info(task), step(1), evaluation(task, 5)])
        plots.flush()
        qtbot.waitUntil(lambda: min(p.geometry().height() for p in plots._plots) > 0.6 * plots._canvas.height())
        widths = [plot.geometry().width() for plot in plots._plots]
        assert sum(widths) <= plots._canvas.width()  # every plot in view
        # The learning rate has 2 shares, the others 3 each: equal, however long their keys.
        assert max(widths[:-1]) - min(widths[:-1]) < 2 and widths[-1] < widths[0], (task, widths)
