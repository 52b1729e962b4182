"""Studies on a tiny model: grids, pruning, stop and resume, failing inputs, dead workers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from ftstudio.engine.errors import SettingsError
from ftstudio.engine.runs.folder import read_status
from ftstudio.engine.search.results import BEST_SETTINGS_FILE, read_study
from ftstudio.engine.search.runner import SearchReporter, SearchRequest, run_search
from ftstudio.engine.search.space import parse_space
from ftstudio.engine.search.study import StudyOptions, default_storage
from ftstudio.engine.settings import TrainSettings


def request(tmp_path, settings, space, **options):
    return SearchRequest(tmp_path / "study", settings, parse_space({"space": space}), StudyOptions(**options))


def test_a_grid_covers_every_point_once_and_the_best_settings_file_holds_the_best_trial(tmp_path, study_settings):
    space = {"learning_rate": [1e-2, 3e-3], "strategy": ["full", "head"]}
    result = run_search(request(tmp_path, study_settings, space, sampler="grid", pruner="none", trials=20))
    assert result.status == "finished"
    points = sorted((row.params["learning_rate"], row.params["strategy"]) for row in result.rows)
    assert points == sorted((rate, strategy) for rate in (1e-2, 3e-3) for strategy in ("full", "head"))
    assert all(row.state == "complete" for row in result.rows)  # the budget of 20 shrank to the grid's 4
    best = min(result.rows, key=lambda row: row.value)
    assert result.best.number == best.number and result.direction == "minimize" and result.metric == "loss"
    saved = TrainSettings.load(result.study_dir / BEST_SETTINGS_FILE)
    assert (saved.learning_rate, saved.strategy) == (best.params["learning_rate"], best.params["strategy"])
    assert saved.to_dict() == study_settings.replace(**best.params).to_dict()
    # Each trial is an ordinary run folder, trimmed to its best checkpoint.
    folder = result.study_dir / f"trial-{best.number:04d}"
    assert best.run_dir == str(folder) and read_status(folder)["status"] == "finished"
    assert (folder / "best" / "model.safetensors").is_file() and not (folder / "checkpoints").exists()
    # ... which wrote a checkpoint only when its best improved (the best settings keep the user's).
    from ftstudio.engine.runs.folder import read_settings
    from ftstudio.engine.settings import MAX_STEPS

    assert read_settings(folder)["settings"]["save_steps"] == MAX_STEPS and saved.save_steps == 0
    # The Runs tab lists the trials of a study in the runs folder.
    from ftstudio.engine.runs.listing import list_runs

    listed = {run.run_id: run for run in list_runs(tmp_path)}
    assert sorted(listed) == [f"study/trial-{n:04d}" for n in range(4)]
    assert listed[f"study/trial-{best.number:04d}"].best_value == pytest.approx(best.value)
    # Plain Optuna opens the study.
    study = optuna.load_study(study_name="study", storage=default_storage(result.study_dir))
    assert len(study.trials) == 4 and study.best_trial.number == best.number


def test_hopeless_trials_are_pruned_and_say_where(tmp_path, study_settings, monkeypatch):
    # A pruner whose verdict does not hang on the trials' order: any trial still above a loss of
    # 1.08 at 0.8 epochs is stopped (1e-2 is at 1.02 by then, 2e-2 at 0.66, 1e-7 stays at 1.0988).
    from ftstudio.engine.search import study as studies

    monkeypatch.setattr(studies, "make_pruner", lambda options, epochs=1: optuna.pruners.ThresholdPruner(upper=1.08,
                                                                                              n_warmup_steps=8))
    space = {"learning_rate": [1e-2, 2e-2, 1e-7, 2e-7]}
    result = run_search(request(tmp_path, study_settings, space, sampler="grid", pruner="median", trials=4))
    states = {row.params["learning_rate"]: row for row in result.rows}
    assert states[1e-2].state == states[2e-2].state == "complete"
    for rate in (1e-7, 2e-7):
        row = states[rate]
        assert row.state == "pruned" and row.pruned_at_epoch == pytest.approx(0.8, abs=0.05)
        assert row.value == pytest.approx(row.values[-1][1])  # the last value the pruner saw
        assert row.message.startswith("pruned at epoch")
        status = read_status(row.run_dir)
        assert status["status"] == "stopped" and "by the pruner: loss 1.0988 at epoch 0.8" in status["message"]
        assert not (Path(row.run_dir) / "last").exists()  # no checkpoint written at the pruner's stop
    assert result.best.params["learning_rate"] in (1e-2, 2e-2)


def test_the_pruners_are_optunas_own_with_their_patience():
    from ftstudio.engine.search.study import make_pruner

    median = make_pruner(StudyOptions(trials=20, pruner="median"), epochs=2)
    assert isinstance(median, optuna.pruners.MedianPruner)
    assert (median._n_startup_trials, median._n_warmup_steps) == (4, 4)  # 4 trials, a fifth of 2 epochs
    assert make_pruner(StudyOptions(pruner="median"), epochs=1)._n_warmup_steps == 3  # 0.3 epochs at least
    assert isinstance(make_pruner(StudyOptions(pruner="hyperband")), optuna.pruners.HyperbandPruner)
    assert isinstance(make_pruner(StudyOptions(pruner="none")), optuna.pruners.NopPruner)


class StopAt(SearchReporter):
    """Asks the search to stop when a given trial starts (as Ctrl-C or the window's Stop would)."""

    def __init__(self, control, number):
        self.control, self.number = control, number

    def on_trial_started(self, number, params, run_dir):
        if number == self.number:
            self.control.request_stop("the user's Stop")


def test_a_stopped_study_continues_with_resume_and_runs_the_cut_trial_again(tmp_path, study_settings):
    from ftstudio.engine.events import TrainingControl

    control = TrainingControl()
    first = run_search(request(tmp_path, study_settings, {"learning_rate": {"low": 1e-3, "high": 1e-2, "log": True}},
                               sampler="random", pruner="none", trials=3), StopAt(control, 1), control)
    assert first.status == "stopped"
    cut = first.rows[1]
    assert cut.state == "failed" and "the user's Stop" in cut.message
    resumed = run_search(SearchRequest(first.study_dir, resume=True))
    assert resumed.status == "finished"
    complete = [row for row in resumed.rows if row.state == "complete"]
    assert len(complete) == 3 and len(resumed.rows) == 4
    retry = resumed.rows[2]
    assert retry.params == cut.params and retry.message == "retry of trial 1"
    # A larger budget on resume runs more trials; the study's space and settings stay its own.
    more = run_search(SearchRequest(first.study_dir, resume=True, trials=4))
    assert sum(row.state == "complete" for row in more.rows) == 4


def test_a_worker_that_died_mid_trial_has_its_trial_failed_and_run_again(tmp_path, study_settings):
    space = {"learning_rate": {"low": 1e-3, "high": 1e-2, "log": True}}
    first = run_search(request(tmp_path, study_settings, space, sampler="random", pruner="none", trials=1))
    study = optuna.load_study(study_name=first.study_name, storage=first.storage)
    orphan = study.ask({"learning_rate": optuna.distributions.FloatDistribution(1e-3, 1e-2, log=True)})
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    from ftstudio.engine.search.study import worker_identity

    orphan.set_user_attr("host", worker_identity()["host"])
    orphan.set_user_attr("pid", int(gone.stdout))
    resumed = run_search(SearchRequest(first.study_dir, resume=True, trials=2))
    dead = resumed.rows[1]
    assert dead.state == "failed" and f"process {int(gone.stdout)}" in dead.message
    retry = resumed.rows[2]
    assert retry.state == "complete" and retry.params == dead.params
    assert sum(row.state == "complete" for row in resumed.rows) == 2


def test_a_study_whose_trials_fail_on_their_input_gives_up_in_words(tmp_path, study_settings):
    broken = study_settings.replace(data=str(tmp_path / "missing.csv"))
    result = run_search(request(tmp_path, broken, {"learning_rate": [1e-3, 1e-2]}, sampler="random", trials=10))
    assert result.status == "failed" and result.input_error
    assert "missing.csv" in result.message
    assert len(result.rows) == 3 and all(row.state == "failed" and "missing.csv" in row.message for row in result.rows)
    assert result.best is None and not (result.study_dir / BEST_SETTINGS_FILE).exists()


def test_joining_needs_the_same_space_and_resume_needs_a_study(tmp_path, study_settings):
    run_search(request(tmp_path, study_settings, {"learning_rate": [1e-2]}, sampler="grid", pruner="none"))
    with pytest.raises(SettingsError, match="already exists .* with another space"):
        run_search(request(tmp_path, study_settings, {"learning_rate": [3e-3]}, sampler="grid"))
    with pytest.raises(SettingsError, match="Nothing to resume"):
        run_search(SearchRequest(tmp_path / "elsewhere", resume=True))
    with pytest.raises(SettingsError, match="holds other files"):
        (tmp_path / "busy").mkdir()
        (tmp_path / "busy" / "notes.txt").write_text("mine")
        run_search(SearchRequest(tmp_path / "busy", study_settings, parse_space({"space": {"epochs": [1]}})))
    with pytest.raises(SettingsError, match="not a database URL"):
        run_search(SearchRequest(tmp_path / "s2", study_settings, parse_space({"space": {"epochs": [1]}}),
                                 storage="nonsense://"))
    view = read_study(tmp_path / "study")
    assert view.metric == "loss" and view.budget == 1 and view.best.params == {"learning_rate": 1e-2}
