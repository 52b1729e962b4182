"""The Train tab for a pre-training run: loss, perplexity (train = exp of the training loss,
validation from the evaluations, the step-0 "before" evaluation among them) on a log axis, token
accuracy, the objective and head lines, and the best checkpoint read as lower-is-better
perplexity. Fed with the events the engine sends (contract of issue 18)."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("pytestqt")

OBJECTIVE = "Objective: masked-language modelling (15% of tokens masked)."
HEAD = ("all-MiniLM-L6-v2 has no masked-language-modelling head (it was saved without one): a fresh head is "
        "trained from random weights, so perplexity starts very high and falls as the head learns.")
INFO = {"event": "info", "task": "pretrain", "metrics": ["perplexity", "token_accuracy"], "best_metric": "perplexity",
        "label_names": [], "objective": "masked", "objective_line": OBJECTIVE, "head_note": HEAD, "new_head": True,
        "total_steps": 100, "epochs": 1}


def evaluation(step: int, loss: float) -> dict:
    return {"event": "eval", "task": "pretrain", "split": "validation", "step": step, "epoch": step / 100,
            "loss": loss, "perplexity": math.exp(loss), "token_accuracy": 0.5 - loss / 25}


def step(i: int, loss: float) -> dict:
    return {"event": "step", "step": i, "epoch": i / 100, "loss": loss, "learning_rate": 5e-5, "total_steps": 100}


def losses(n: int = 100) -> list[float]:
    """A fresh head's loss: from ~10 (perplexity in the tens of thousands) down to ~2.5."""
    return [2.5 + 7.5 * math.exp(-i / 15) for i in range(1, n + 1)]


@pytest.fixture
def plots(qtbot):
    from ftstudio.gui.train.plots import TrainingPlots

    widget = TrainingPlots()
    qtbot.addWidget(widget)
    widget.resize(1200, 320)
    yield widget
    widget.shutdown()


def feed(plots) -> None:
    plots.add_info(INFO)
    plots.add_eval(evaluation(0, 10.2))  # before training
    for i, loss in enumerate(losses(), start=1):
        plots.add_step(step(i, loss))
        if i % 25 == 0:
            plots.add_eval(evaluation(i, loss + 0.1))
    plots.flush()


def test_a_pretraining_run_plots_train_and_validation_perplexity_on_a_log_axis(plots):
    feed(plots)
    assert plots.metric_layout() == [("Perplexity", ("perplexity",)), ("Validation", ("token_accuracy",))]
    perplexity = plots.plot_of("perplexity")
    assert plots.plot_of("train_perplexity") is perplexity is plots.error_plot
    assert plots.is_log(perplexity) and perplexity.getAxis("left").logMode
    assert not plots.is_log(plots.plot_of("token_accuracy")) and not plots.is_log(plots.loss_plot)
    assert plots.curve_key("train_perplexity") == "━ train" and plots.curve_key("perplexity") == "● validation"
    assert plots.curve_key("token_accuracy") == "● token accuracy"

    # Validation perplexity: the step-0 "before" point first, as the engine reported it.
    x, y = plots.curve_data("perplexity")
    assert list(x) == [0, 25, 50, 75, 100] and y[0] == pytest.approx(math.exp(10.2))
    assert list(plots.curve_data("val_loss")[0]) == [0, 25, 50, 75, 100]
    # Training perplexity is exp of the (smoothed) training loss, one point a step.
    x, y = plots.curve_data("train_perplexity")
    _, smooth = plots.curve_data("smooth")
    assert len(x) == 100 and np.allclose(y, np.exp(smooth))
    assert y[0] > 1000 and y[-1] < 20  # thousands down to ~ten: why the axis is logarithmic

    # The log axis ranges over log10 of the values and holds every point; the step-0 point is whole.
    lo, hi = perplexity.getViewBox().viewRange()[1]
    assert lo <= math.log10(y.min()) and math.log10(math.exp(10.2)) <= hi and hi < 6
    x_lo, _x_hi = perplexity.getViewBox().viewRange()[0]
    assert x_lo < 0

    plots.show_readout_at(50.0)
    text = plots.readout.text()
    assert "train perplexity" in text and "validation @ step 50" in text and "perplexity" in text.split("|")[-1]


def test_fine_tuning_plots_stay_linear_after_a_pretraining_run(plots):
    from ftstudio.engine.tasks.registry import get_task

    feed(plots)
    task = get_task("single-label")
    plots.load_records([{"event": "info", "task": "single-label", "metrics": list(task.metric_names)},
                        step(1, 0.7), {"event": "eval", "task": "single-label", "step": 5, "loss": 0.5,
                                       "accuracy": 0.8, "f1": 0.7}])
    plots.flush()
    assert "train_perplexity" not in plots.curve_names()
    assert not any(plots.is_log(plot) for plot in plots._plots)
    assert not plots.error_plot.getAxis("left").logMode
    assert plots.metric_layout() == [("Validation", ("accuracy", "f1"))]
    assert plots.loss_plot.getViewBox().viewRange()[0][0] == 0.0  # no step-0 point, no room before 0


def test_the_panel_shows_the_objective_head_and_best_perplexity(qtbot, runs_dir):
    from ftstudio.gui.train.panel import TrainingPanel
    from ftstudio.gui.train.session import TrainingSession

    session = TrainingSession()
    panel = TrainingPanel(session, lambda: None, runs_dir)
    qtbot.addWidget(panel)
    try:
        session.sig_info.emit(INFO)
        note = panel.run_progress.note
        assert not note.isHidden()
        assert note.text().splitlines() == [OBJECTIVE, HEAD, "Best checkpoint by perplexity (lower is better)."]
        session.sig_eval.emit(evaluation(0, 10.2))
        assert panel.log.text().splitlines()[-1].endswith(
            "Validation at step 0: perplexity 26903, token accuracy 0.092, loss 10.2000")
        assert panel.checkpoints.headers()[2:4] == ["Perplexity", "Token accuracy"]
        session.sig_finished.emit({"status": "finished", "best": {"step": 100, "metric": "perplexity",
                                                                  "value": 13.2}})
        assert "Best perplexity 13.20 (lower is better) at step 100." in panel.banner.text()
        session.sig_info.emit({"event": "info", "task": "single-label", "total_steps": 10})
        assert note.isHidden()  # a fine-tuning run says nothing more than its plan
    finally:
        assert session.shutdown(10_000)
        panel.shutdown()
