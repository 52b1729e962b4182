"""The Train tab end to end: real engine, tiny model, offscreen Qt; tests wait on signals only."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from ftstudio.engine.settings import TrainSettings  # noqa: E402
from ftstudio.gui.train.panel import TrainingPanel  # noqa: E402
from ftstudio.gui.train.session import TrainingSession  # noqa: E402

RUN_TIMEOUT_MS = 180_000


def _settings(model: Path, data: Path, **changes) -> TrainSettings:
    base = TrainSettings(model=str(model), data=str(data), epochs=2, batch_size=8, max_length=32, log_steps=2)
    return base.replace(**changes)


@pytest.fixture
def make_panel(qtbot, runs_dir):
    """A TrainingPanel on its own session, with dialogs and file managers off; shut down after."""
    made = []

    def make(settings):
        session = TrainingSession()
        panel = TrainingPanel(session, lambda: settings, runs_dir)
        panel.show_dialogs = panel.open_folders = False
        panel.checkpoints.open_folders = False
        qtbot.addWidget(panel)
        made.append((session, panel))
        return session, panel

    yield make
    for session, panel in made:
        assert session.shutdown(30_000)
        panel.shutdown()


def _status_is(wanted: str):
    return lambda status, _message: status == wanted


def test_run_finishes_with_curves_and_checkpoints(qtbot, make_panel, tiny_model_dir, small_csv):
    session, panel = make_panel(_settings(tiny_model_dir, small_csv))
    panel.show()
    with qtbot.waitSignal(panel.sig_run_started, timeout=RUN_TIMEOUT_MS) as started:
        assert panel.start()
        assert panel.state() == "preparing"
        assert not panel.start_button.isEnabled() and panel.stop_button.isEnabled()
    run_dir = Path(started.args[0])
    assert not gc.isenabled()  # while training, garbage is collected on the GUI thread only
    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        pass
    assert gc.isenabled()
    result = finished.args[0]
    assert result["status"] == "finished", result
    assert panel.state() == "finished" and panel.badge.text() == "Finished"
    assert panel.start_button.isEnabled() and not panel.stop_button.isEnabled()
    assert panel.progress.value() == panel.progress.maximum() == 28  # 108 rows / 8 = 14 steps x 2 epochs

    counts = panel.plots.point_counts()
    assert counts["steps"] == 14 and counts["evals"] == 10  # eval_steps 0: ~10 a run, 5 an epoch here
    x, y = panel.plots.curve_data("smooth")
    assert len(x) == 14 and x[-1] == 28
    assert len(panel.plots.curve_data("f1")[0]) == 10
    panel.plots.show_readout_at(14.0)
    assert "step 14" in panel.plots.readout.text() and "F1" in panel.plots.readout.text()

    assert (run_dir / "last" / "config.json").is_file()
    assert any((run_dir / "checkpoints").glob("step-*"))
    names = [row["name"] for row in panel.checkpoints.rows()]
    assert "step-28" in names and "best/" in names and "last/" in names
    assert panel.banner.isVisible() and "Finished" in panel.banner.text()
    assert "Validation at step 28" in panel.log.text()
    assert panel.open_run_button.isEnabled()


def test_a_regression_run_shows_its_errors_and_correlations(qtbot, make_panel, tiny_model_dir, tmp_path):
    import random

    from tests.conftest import make_texts, write_csv

    rng = random.Random(0)
    value = {"negative": -1.0, "positive": 2.0, "neutral": 0.5}
    data = write_csv(tmp_path / "scores.csv", [(t, 10 * value[label] + rng.gauss(0, 1)) for t, label in make_texts(96)],
                     header=("text", "score"))
    session, panel = make_panel(_settings(tiny_model_dir, data, task="regression", label_column="score", epochs=1))
    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        assert panel.start()
    assert finished.args[0]["status"] == "finished", finished.args[0]
    assert panel.plots.task() == "regression"
    assert panel.plots.metric_layout() == [("Validation error", ("rmse",)), ("Validation", ("pearson", "r2"))]
    evals = panel.plots.point_counts()["evals"]
    assert evals >= 2 and len(panel.plots.curve_data("rmse")[0]) == len(panel.plots.curve_data("r2")[0]) == evals
    assert panel.checkpoints.headers()[2:5] == ["RMSE", "Pearson r", "R²"]
    assert "RMSE" in panel.log.text() and "Pearson r" in panel.log.text() and "accuracy" not in panel.log.text()
    assert "Best RMSE" in panel.banner.text()


def test_pause_then_resume_then_stop(qtbot, make_panel, tiny_model_dir, small_csv):
    session, panel = make_panel(_settings(tiny_model_dir, small_csv, epochs=30, log_steps=1))
    with qtbot.waitSignal(session.sig_step, timeout=RUN_TIMEOUT_MS):
        panel.start()
    with qtbot.waitSignal(session.sig_status, check_params_cb=_status_is("paused"), timeout=RUN_TIMEOUT_MS):
        panel.pause()
        assert panel.badge.text() == "Pausing..."
        assert not panel.pause_button.isEnabled() and panel.resume_button.isEnabled()
    assert panel.state() == "paused"
    assert panel.resume_button.isEnabled() and panel.stop_button.isEnabled()
    assert session.is_running()
    steps_when_paused = panel.plots.point_counts()["steps"]

    with qtbot.waitSignal(session.sig_step, timeout=RUN_TIMEOUT_MS):
        panel.resume()
    assert panel.plots.point_counts()["steps"] > steps_when_paused
    assert panel.state() in ("training", "evaluating", "saving")

    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        panel.stop()
    assert finished.args[0]["status"] == "stopped"


def test_stop_keeps_a_checkpoint_and_resume_finishes(qtbot, make_panel, tiny_model_dir, small_csv):
    session, panel = make_panel(_settings(tiny_model_dir, small_csv, epochs=4, log_steps=1))
    with qtbot.waitSignal(session.sig_step, timeout=RUN_TIMEOUT_MS):
        panel.start()
    assert not session.start(_settings(tiny_model_dir, small_csv), None)  # one run at a time
    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        panel.stop()
        assert panel.badge.text() == "Stopping..."
        assert not panel.stop_button.isEnabled() and not panel.pause_button.isEnabled()
    result = finished.args[0]
    assert result["status"] == "stopped", result
    assert panel.state() == "stopped" and "Stopped at step" in panel.banner.text()
    run_dir = Path(result["run_dir"])
    assert (run_dir / "last" / "trainer_state.json").is_file()
    assert json.loads((run_dir / "status.json").read_text())["status"] == "stopped"
    assert panel.checkpoints.rows()
    stopped_at = json.loads((run_dir / "last" / "trainer_state.json").read_text())["global_step"]
    assert 0 < stopped_at < 56

    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT_MS) as resumed:
        assert panel.start_resume(run_dir)
    assert resumed.args[0]["status"] == "finished", resumed.args[0]
    panel.plots.flush()
    x, _y = panel.plots.curve_data("raw")
    assert x[-1] == 56 and list(x) == sorted(set(x))  # the resumed curve continues, no duplicates
    assert panel.progress.value() == 56


def test_failing_run_shows_its_message(qtbot, make_panel, tiny_model_dir, small_csv):
    settings = _settings(tiny_model_dir, small_csv)
    session, panel = make_panel(settings)
    small_csv.unlink()  # valid when checked, gone when the engine reads it
    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        panel.start()
    result = finished.args[0]
    assert result["status"] == "failed" and result["message"]
    assert panel.state() == "failed" and panel.badge.text() == "Failed"
    assert not panel.banner.isHidden() and result["message"] in panel.banner.text()
    assert result["message"] in panel.log.text()
    assert panel.start_button.isEnabled()


def test_invalid_settings_are_refused_before_starting(qtbot, make_panel, tiny_model_dir, small_csv):
    session, panel = make_panel(_settings(tiny_model_dir, small_csv, epochs=0))
    assert not panel.start()
    assert not session.is_running() and panel.state() == "ready"
    assert "epochs" in panel.banner.text()


def test_a_training_process_that_dies_is_a_failure_in_words(qtbot, tiny_model_dir, small_csv, runs_dir):
    # What the out-of-memory killer or a native crash does to a run: the window lives on, says
    # what happened, and the run folder stays resumable.
    session = TrainingSession()
    statuses, logs = [], []
    session.sig_status.connect(lambda status, message: statuses.append((status, message)))
    session.sig_log.connect(logs.append)
    with qtbot.waitSignal(session.sig_step, timeout=RUN_TIMEOUT_MS):
        session.start(_settings(tiny_model_dir, small_csv, epochs=30, log_steps=1), runs_dir)
    with qtbot.waitSignal(session.sig_finished, timeout=30_000) as finished:
        session._worker.kill()
    result = finished.args[0]
    assert result["status"] == "failed" and "killed" in result["message"], result
    assert "resume" in result["message"] and "Traceback" not in result["message"]
    assert result["run_dir"] and Path(result["run_dir"]).is_dir()
    assert statuses[-1] == ("failed", result["message"])
    assert session.shutdown(10_000) and not session.is_running()
    from ftstudio.engine.runs.listing import summarize_run

    assert summarize_run(Path(result["run_dir"])).status == "interrupted"


def test_shutdown_mid_run_ends_cleanly(qtbot, tiny_model_dir, small_csv, runs_dir):
    session = TrainingSession()
    with qtbot.waitSignal(session.sig_step, timeout=RUN_TIMEOUT_MS):
        session.start(_settings(tiny_model_dir, small_csv, epochs=30, log_steps=1), runs_dir)
    assert session.is_running()
    assert session.shutdown(30_000)
    assert not session.is_running()
    assert session.shutdown(10)  # nothing left: immediate
    (run_dir,) = [p for p in runs_dir.iterdir() if p.is_dir()]
    assert json.loads((run_dir / "status.json").read_text())["status"] == "stopped"


# ---------------------------------------------------------------------- widgets alone (no engine)
def _step(i: int, loss: float = 1.0) -> dict:
    return {"event": "step", "step": i, "epoch": i / 10, "loss": loss, "learning_rate": 1e-4, "total_steps": 100}


def _eval(i: int) -> dict:
    return {"event": "eval", "step": i, "epoch": i / 10, "loss": 0.5, "accuracy": 0.8, "f1": 0.7}


def test_plots_buffer_redraw_toggle_and_overlays(qtbot):
    from ftstudio.gui.train.plots import TrainingPlots

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.show()
    for i in range(1, 1001):  # several buffer doublings
        plots.add_step(_step(i, loss=1.0 + (i % 2)))
    plots.add_eval(_eval(500))
    plots.add_eval({**_eval(1000), "split": "test"})  # a test evaluation is not a validation point
    assert plots.point_counts() == {"steps": 1000, "evals": 1}
    qtbot.waitUntil(lambda: len(plots.curve_data("raw")[0]) == 1000)  # the redraw timer fired
    assert not plots._timer.isActive()  # idle once drawn
    smooth = plots.curve_data("smooth")[1]
    assert 1.3 < smooth[-1] < 1.7  # the EMA averages the alternating 1/2 losses

    plots.set_x_epochs(True)
    assert plots.curve_data("raw")[0][-1] == pytest.approx(100.0)
    plots.show_readout_at(50.0)
    assert "validation @ step 500" in plots.readout.text()

    plots.add_overlay([_step(10), _eval(10)], "earlier run")
    plots.flush()
    assert len(plots._overlays) == 1
    plots.clear_overlays()
    plots.load_records([_step(1), _step(2), _eval(2), {"event": "checkpoint", "step": 2}])
    assert plots.point_counts() == {"steps": 2, "evals": 1}
    plots.hide()
    plots.add_step(_step(3))
    assert not plots._timer.isActive()  # hidden: buffered, not drawn


def test_a_redraw_leaves_the_paint_to_qt_and_spaces_out_slow_ones(qtbot):
    """The redraw timer only hands points to the curves; Qt paints the changed regions in a
    later event (one GUI-thread stall of a few ms, not a synchronous whole-canvas paint), and the
    next redraw waits long enough to keep the two within the drawing budget."""
    from ftstudio.gui.train import plots as training_plots
    from ftstudio.gui.train.plots import TrainingPlots

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.resize(900, 300)
    plots.show()
    qtbot.waitExposed(plots)
    canvas = plots._canvas
    for i in range(1, 21):
        plots.add_step(_step(i))
    plots._timer.stop()
    canvas.last_paint_ms = 0.0
    plots._on_redraw_timer()
    assert len(plots.curve_data("raw")[0]) == 20
    assert canvas.last_paint_ms == 0.0  # nothing painted inside the timer's event
    qtbot.waitUntil(lambda: canvas.last_paint_ms > 0.0)  # Qt painted the new points after it

    canvas.last_paint_ms = 100.0  # a slow machine's paint
    plots.add_step(_step(21))
    plots._timer.stop()
    plots._on_redraw_timer()
    assert plots._timer.interval() >= 100.0 / training_plots.DRAW_BUDGET


def _view(plot) -> tuple[list[float], list[float]]:
    return plot.getViewBox().viewRange()


def test_plots_follow_their_data_with_ranges_that_rarely_move(qtbot):
    from ftstudio.gui.train.plots import TrainingPlots

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.show()
    moves = 0
    last = None
    for i in range(1, 301):
        plots.add_step({**_step(i, loss=2.0 / (1 + i / 30)), "learning_rate": 1e-4 * (1 - i / 400)})
        if i % 50 == 0:
            plots.add_eval({**_eval(i), "accuracy": 0.5 + i / 1000})
        plots.flush()
        ranges = [tuple(map(tuple, _view(p))) for p in plots._plots]
        moves += ranges != last
        last = ranges
        # Every point drawn so far lies inside the range of its plot.
        (x0, x1), (y0, y1) = _view(plots.loss_plot)
        raw_x, raw_y = plots.curve_data("raw")
        assert x0 <= raw_x.min() and raw_x.max() <= x1 and y0 <= raw_y.min() and raw_y.max() <= y1
        (_, _), (a0, a1) = _view(plots.metric_plot)
        accuracy = plots.curve_data("accuracy")[1]
        assert accuracy.size == 0 or (a0 <= accuracy.min() and accuracy.max() <= a1)
    assert moves < 60  # not at every one of the 300 redraws: axes are re-laid out only then
    assert _view(plots.metric_plot)[0] == _view(plots.loss_plot)[0]  # x axes stay linked

    # The user zooms: the view stays theirs while points keep coming ...
    plots.loss_plot.getViewBox().sigRangeChangedManually.emit([True, True])
    plots.loss_plot.getViewBox().setRange(xRange=(10, 20), yRange=(0, 1), padding=0)
    plots.add_step(_step(400, loss=5.0))
    plots.flush()
    assert not plots.following()
    assert _view(plots.loss_plot)[0] == pytest.approx([10, 20])
    # ... until a new run starts.
    plots.clear()
    plots.add_step(_step(1, loss=0.7))
    plots.flush()
    assert plots.following()
    (x0, x1), (y0, y1) = _view(plots.loss_plot)
    assert x0 <= 1 <= x1 and y0 <= 0.7 <= y1
    # A finished run is shown whole, without room left for points that will not come.
    plots.load_records([_step(i) for i in range(1, 201)])
    plots.flush()
    assert 200 <= _view(plots.loss_plot)[0][1] <= 200 * 1.07


def test_log_view_caps_and_stamps_lines(qtbot):
    from ftstudio.gui.train.log_view import LogView

    log = LogView(max_lines=50)
    qtbot.addWidget(log)
    for i in range(120):
        log.append_line(f"line {i}")
    log.append_line("two\nlines")
    text = log.text().splitlines()
    assert len(text) <= 51 and text[-2].endswith("two") and text[-1].strip() == "lines"
    assert text[-2][2] == ":"  # HH:MM:SS stamp


def test_the_progress_rows_show_the_newest_step_at_most_every_interval(qtbot):
    from ftstudio.gui.train.progress import PROGRESS_MS, RunProgress

    view = RunProgress()
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    view.set_plan(total_steps=100, epochs=2)
    for step in range(1, 6):
        view.add_step({"step": step, "total_steps": 100, "epoch": step / 50, "samples_per_second": 1234.5,
                       "elapsed": 65, "eta": 3725})
    assert view.bar.value() == 0  # no synchronous repaint per step
    qtbot.waitUntil(lambda: view.bar.value() == 5, timeout=20 * PROGRESS_MS)
    assert (view.epoch_label.text(), view.speed_label.text()) == ("epoch 0.10 / 2", "1,234.5 samples/s")
    assert (view.elapsed_label.text(), view.eta_label.text()) == ("elapsed 1:05", "ETA 1:02:05")

    view.show_phase("evaluating", 3, 10)
    assert view.phase_label.text() == "Evaluating: 3 / 10" and view._phase_row.isVisible()
    view.show_phase("evaluating", 10, 10)
    assert not view._phase_row.isVisible()
    view.hide()  # hidden: a step is applied at once, there is no repaint to spare
    view.add_step({"step": 7, "total_steps": 100})
    assert view.bar.value() == 7 and view.eta_label.text() == "ETA —"
    view.reset()
    assert view.bar.value() == 0 and view.epoch_label.text() == "epoch —"


@pytest.mark.parametrize("state, text, colour_state", [("ready", "Ready", "ready"), ("training", "Training", "training"),
                                                       ("pausing", "Pausing...", "paused"),
                                                       ("stopping", "Stopping...", "stopping")])
def test_the_state_badge_names_the_state_and_picks_its_colour(qtbot, state, text, colour_state):
    from ftstudio.gui.state_badge import StateBadge

    badge = StateBadge()
    qtbot.addWidget(badge)
    badge.show_state(state)
    assert badge.text() == text and badge.property("state") == colour_state
