"""The training loop end to end on a tiny model: run folder, events, stop, resume equivalence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftstudio.engine.events import Reporter, TrainingControl
from ftstudio.engine.runs import folder as runs
from ftstudio.engine.runs import listing
from ftstudio.engine.settings import TrainSettings
from ftstudio.engine.training.train import train


class Recorder(Reporter):
    """Keeps every event; optionally asks for a stop (or pause) when a step is reached."""

    def __init__(self, control: TrainingControl | None = None, stop_at: int | None = None) -> None:
        self.control, self.stop_at = control, stop_at
        self.statuses: list[str] = []
        self.steps, self.evals, self.checkpoints, self.infos = [], [], [], []
        self.logs: list[str] = []

    def on_log(self, message):
        self.logs.append(message)

    def on_status(self, status, message=""):
        self.statuses.append(status)

    def on_info(self, info):
        self.infos.append(info)

    def on_step(self, event):
        self.steps.append(event)
        if self.stop_at is not None and event.step >= self.stop_at:
            self.control.request_stop()

    def on_eval(self, event):
        self.evals.append(event)

    def on_checkpoint(self, event):
        self.checkpoints.append(event)


def tiny_settings(model: Path, data: Path, **changes) -> TrainSettings:
    base = dict(model=str(model), data=str(data), epochs=2, batch_size=8, max_length=32,
                learning_rate=2e-3, log_steps=1, eval_steps=5, seed=7)
    base.update(changes)
    return TrainSettings(**base)


def test_run_finishes_and_writes_a_complete_run_folder(tiny_model_dir, small_csv, runs_dir):
    recorder = Recorder()
    result = train(tiny_settings(tiny_model_dir, small_csv), runs_dir=runs_dir, reporter=recorder)
    assert result.status == "finished", result.message
    run_dir = result.run_dir
    assert runs.read_status(run_dir)["status"] == "finished"
    assert runs.read_settings(run_dir)["settings"]["model"] == str(tiny_model_dir)
    for name in ("best", "last"):
        folder = run_dir / name
        assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
        assert (folder / "trainer_state.json").is_file()
    config = json.loads((run_dir / "best" / "config.json").read_text())
    assert sorted(config["id2label"].values()) == ["negative", "neutral", "positive"]
    # Events: info first, steps with finite loss, evals with a confusion matrix of the label count.
    assert recorder.infos and recorder.infos[0]["total_params"] >= recorder.infos[0]["trainable_params"] > 0
    assert recorder.steps and all(s.loss == s.loss for s in recorder.steps)
    assert recorder.evals and len(recorder.evals[-1].details["confusion"]) == 3
    assert recorder.statuses[0] == "preparing" and recorder.statuses[-1] == "finished"
    records = runs.read_metrics(run_dir)
    summary = [r for r in records if r["event"] == "train_summary"]
    assert summary and summary[0]["train_runtime"] > 0 and summary[0]["train_samples_per_second"] > 0
    # Retention keeps at most keep_checkpoints step folders.
    assert len(listing.list_checkpoints(run_dir)) <= 2


def test_a_checkpoint_between_evaluations_carries_no_metrics(tiny_model_dir, small_csv, tmp_path):
    """A checkpoint saved without an evaluation (save_steps here; save_minutes alike) keeps the
    last evaluation's metrics for resuming, but neither its event nor the checkpoints list may
    show them as that step's."""
    recorder = Recorder()
    settings = tiny_settings(tiny_model_dir, small_csv, epochs=1, eval_steps=5, save_steps=3, keep_checkpoints=100)
    result = train(settings, tmp_path / "run", reporter=recorder)
    assert result.status == "finished", result.message
    evaluated = {e.step for e in recorder.evals}
    saved = {c.step: c.metrics for c in recorder.checkpoints}
    assert set(saved) - evaluated and set(saved) & evaluated  # both kinds happened
    assert all(bool(metrics) == (step in evaluated) for step, metrics in saved.items())
    listed = listing.list_checkpoints(result.run_dir)
    assert {c.step for c in listed} == set(saved)
    assert all(bool(c.metrics) == (c.step in evaluated) for c in listed)


def test_stock_pipeline_loads_best_with_label_names(tiny_model_dir, small_csv, runs_dir):
    from transformers import pipeline

    result = train(tiny_settings(tiny_model_dir, small_csv, epochs=1), runs_dir=runs_dir)
    classify = pipeline("text-classification", model=str(result.run_dir / "best"))
    assert classify("great flight")[0]["label"] in {"negative", "neutral", "positive"}


def _step_losses(run_dir: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in runs.read_metrics(run_dir) if r["event"] == "step"}


def _evals(run_dir: Path) -> list[dict]:
    """Every evaluation record whole: loss, the task's metrics and their details."""
    return [{k: v for k, v in r.items() if k != "time"} for r in runs.read_metrics(run_dir) if r["event"] == "eval"]


@pytest.mark.parametrize(
    "changes",
    [
        dict(strategy="full"),
        dict(strategy="gradual", epochs=3),
        dict(strategy="bottom-1", grad_accum=2, scheduler="cosine", classifier_dropout=0.3),
        dict(strategy="head", optimizer="sgd", layerwise_lr_decay=0.8),
    ],
    ids=["full", "gradual", "bottom-accum", "head-sgd"],
)
def test_stop_and_resume_equals_an_uninterrupted_run(tiny_model_dir, small_csv, tmp_path, changes):
    settings = tiny_settings(tiny_model_dir, small_csv, **changes)
    whole = train(settings, tmp_path / "whole")
    assert whole.status == "finished", whole.message

    control = TrainingControl()
    stopped = train(settings, tmp_path / "split", reporter=Recorder(control, stop_at=13), control=control)
    assert stopped.status == "stopped"
    assert runs.read_status(stopped.run_dir)["status"] == "stopped"
    resumed = train(run_dir=stopped.run_dir, resume=True)
    assert resumed.status == "finished", resumed.message

    assert _step_losses(resumed.run_dir) == _step_losses(whole.run_dir)
    assert _evals(resumed.run_dir) == _evals(whole.run_dir)


def test_stop_before_training_writes_nothing(tiny_model_dir, small_csv, runs_dir):
    control = TrainingControl()
    control.request_stop()
    result = train(tiny_settings(tiny_model_dir, small_csv), runs_dir=runs_dir, control=control)
    assert result.status == "stopped" and result.run_dir is None
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_bad_input_fails_with_a_message_and_no_run_folder(tiny_model_dir, tmp_path, runs_dir):
    one_class = tmp_path / "one.csv"
    one_class.write_text("text,label\ngood,a\nbad,a\nok,a\n", encoding="utf-8")
    result = train(tiny_settings(tiny_model_dir, one_class), runs_dir=runs_dir)
    assert result.status == "failed" and result.input_error
    assert "class" in result.message.lower()
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_pause_blocks_until_resumed(tiny_model_dir, small_csv, runs_dir):
    import threading

    control = TrainingControl()

    class PauseOnce(Recorder):
        def on_step(self, event):
            super().on_step(event)
            if event.step == 3:
                control.request_pause()
                threading.Timer(0.3, control.request_resume).start()

    recorder = PauseOnce()
    result = train(tiny_settings(tiny_model_dir, small_csv, epochs=1), runs_dir=runs_dir, reporter=recorder,
                   control=control)
    assert result.status == "finished"
    assert "paused" in recorder.statuses
    assert recorder.statuses.index("paused") < len(recorder.statuses) - 1


def test_early_stopping(tiny_model_dir, small_csv, runs_dir):
    # A learning rate of ~0 never improves F1 after the first evaluation.
    settings = tiny_settings(tiny_model_dir, small_csv, learning_rate=1e-12, epochs=5, early_stopping_patience=2)
    result = train(settings, runs_dir=runs_dir)
    assert result.status == "finished" and "Early stopping" in result.message


def test_test_split_is_evaluated_on_best(tiny_model_dir, small_csv, runs_dir):
    recorder = Recorder()
    result = train(tiny_settings(tiny_model_dir, small_csv, test_split=0.2, epochs=1), runs_dir=runs_dir,
                   reporter=recorder)
    assert result.status == "finished"
    assert [e.split for e in recorder.evals][-1] == "test"


@pytest.mark.slow
def test_real_model_beats_the_majority_class_on_the_embedded_sample(tmp_path):
    """All-MiniLM-L6-v2 on a few hundred embedded tweets must learn something real."""
    settings = TrainSettings(model="default", data="sample", max_samples=600, epochs=3, batch_size=16,
                             max_length=64, learning_rate=1e-4, seed=0)
    recorder = Recorder()
    result = train(settings, tmp_path / "real", reporter=recorder)
    assert result.status == "finished", result.message
    validation = [e for e in recorder.evals if e.split == "validation"]
    # The bar: always answering the commonest class, read off the confusion matrix the window
    # shows (its rows count the true labels of the validation rows).
    true_counts = [sum(row) for row in validation[-1].details["confusion"]]
    majority = max(true_counts) / sum(true_counts)
    best_accuracy = max(e.metrics["accuracy"] for e in validation)
    assert best_accuracy > majority + 0.03, (best_accuracy, majority)
