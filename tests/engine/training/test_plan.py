"""The run plan: which mode train()'s arguments and an out-of-memory retry choose, and what
each mode implies for the run folder, settings.json and the checkpoint."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ftstudio.engine.events import TrainingControl
from ftstudio.engine.runs import folder as runs
from ftstudio.engine.settings import TrainSettings
from ftstudio.engine.training import train as train_module
from ftstudio.engine.training.plan import RunMode, RunPlan
from ftstudio.engine.training.train import train
from ftstudio.engine.training.trainer import Trainer
from tests.engine.training.test_train import Recorder, tiny_settings


# ------------------------------------------------------------------ the plan on its own
def test_a_run_without_a_folder_is_new_under_the_runs_folder():
    settings = TrainSettings(batch_size=8)
    plan = RunPlan.new_run(settings, runs_dir="somewhere")
    assert (plan.mode, plan.run_dir, plan.runs_dir, plan.rebatch) == (RunMode.NEW, None, Path("somewhere"), None)
    assert plan.settings is settings
    assert RunPlan.new_run(settings).runs_dir is None  # the default runs folder, chosen when it is created


def test_a_named_folder_is_an_explicit_folder_run(tmp_path):
    plan = RunPlan.new_run(TrainSettings(), str(tmp_path / "mine"), runs_dir=tmp_path / "ignored")
    assert (plan.mode, plan.run_dir) == (RunMode.EXPLICIT_FOLDER, tmp_path / "mine")


def test_resume_continues_the_named_folder_with_the_settings_given(tmp_path):
    settings = TrainSettings(batch_size=4)
    plan = RunPlan.resume(str(tmp_path), settings)
    assert (plan.mode, plan.run_dir, plan.settings, plan.rebatch) == (RunMode.RESUME, tmp_path, settings, None)


@pytest.mark.parametrize("has_checkpoint,mode", [(True, RunMode.OOM_RESUME), (False, RunMode.OOM_RESTART)])
@pytest.mark.parametrize("first", ["new", "resume"])
def test_out_of_memory_resumes_from_a_checkpoint_or_restarts_without_one(tmp_path, has_checkpoint, mode, first):
    settings = TrainSettings(batch_size=8, grad_accum=1)
    plan = RunPlan.new_run(settings) if first == "new" else RunPlan.resume(tmp_path, settings)
    smaller = settings.replace(batch_size=4, grad_accum=2)
    retry = plan.after_out_of_memory(smaller, tmp_path, has_checkpoint)
    assert (retry.mode, retry.settings, retry.run_dir, retry.rebatch) == (mode, smaller, tmp_path, (8, 4))
    # A second retry counts from the batch the first one chose.
    again = retry.after_out_of_memory(smaller.replace(batch_size=2, grad_accum=4), tmp_path, has_checkpoint)
    assert again.rebatch == (4, 2)


@pytest.mark.parametrize(
    "mode,owns_folder,from_checkpoint,retry",
    [
        (RunMode.NEW, False, False, False),
        (RunMode.EXPLICIT_FOLDER, False, False, False),
        (RunMode.RESUME, True, True, False),
        (RunMode.OOM_RESTART, True, False, True),
        (RunMode.OOM_RESUME, True, True, True),
    ],
)
def test_what_each_mode_implies(mode, owns_folder, from_checkpoint, retry):
    plan = RunPlan(mode, TrainSettings(), run_dir=Path("run"))
    assert (plan.owns_folder, plan.from_checkpoint, plan.is_out_of_memory_retry) == (owns_folder, from_checkpoint,
                                                                                      retry)


def test_a_plan_cannot_be_changed_once_made():
    plan = RunPlan.new_run(TrainSettings())
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.mode = RunMode.RESUME


# ------------------------------------------------------------------ the plans train() prepares
@pytest.fixture
def prepared_modes(monkeypatch) -> list[RunMode]:
    """The mode of every plan train() prepares, in order."""
    modes: list[RunMode] = []
    original = train_module.prepare

    def spy(plan, *args, **kwargs):
        modes.append(plan.mode)
        return original(plan, *args, **kwargs)

    monkeypatch.setattr(train_module, "prepare", spy)
    return modes


def test_train_prepares_the_plan_its_arguments_ask_for(prepared_modes, tiny_model_dir, small_csv, tmp_path, runs_dir):
    settings = tiny_settings(tiny_model_dir, small_csv, epochs=1, eval_steps=4, save_steps=4)
    assert train(settings, runs_dir=runs_dir).status == "finished"
    assert prepared_modes == [RunMode.NEW]
    control = TrainingControl()
    stopped = train(settings, tmp_path / "named", reporter=Recorder(control, stop_at=3), control=control)
    assert stopped.status == "stopped" and stopped.run_dir == tmp_path / "named"
    assert prepared_modes[1:] == [RunMode.EXPLICIT_FOLDER]
    assert train(run_dir=stopped.run_dir, resume=True).status == "finished"
    assert prepared_modes[2:] == [RunMode.RESUME]


def _out_of_memory_when(monkeypatch, predicate) -> None:
    import torch

    original = Trainer._optimizer_step

    def step(self, group):
        if predicate(self, group):
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return original(self, group)

    monkeypatch.setattr(Trainer, "_optimizer_step", step)


@pytest.mark.parametrize(
    "fails_from_step,retry_mode,settings_writes",
    [(0, RunMode.OOM_RESTART, 3), (6, RunMode.OOM_RESUME, 2)],
    ids=["before-any-checkpoint", "after-a-checkpoint"],
)
def test_out_of_memory_plans_a_restart_or_a_resume(prepared_modes, monkeypatch, tiny_model_dir, small_csv, tmp_path,
                                                    fails_from_step, retry_mode, settings_writes):
    # Batches of more than 4 texts "do not fit" from `fails_from_step` on; checkpoints every 4 steps.
    _out_of_memory_when(monkeypatch, lambda t, g: t.global_step >= fails_from_step and len(g[0]) > 4)
    writes = []
    original_write = runs.write_settings
    monkeypatch.setattr(runs, "write_settings", lambda *a, **k: (writes.append(a[1]), original_write(*a, **k))[1])
    settings = tiny_settings(tiny_model_dir, small_csv, epochs=1, eval_steps=4, save_steps=4, oom_retry=True)
    result = train(settings, tmp_path / "run")
    assert result.status == "finished", result.message
    assert prepared_modes == [RunMode.EXPLICIT_FOLDER, retry_mode]
    # The first plan writes settings.json; the retry rewrites it with the smaller batch, and a
    # restart (nothing to continue) writes it once more as a new run's, a resume leaves it.
    assert len(writes) == settings_writes and writes[-1]["batch_size"] == 4
    records = runs.read_metrics(result.run_dir)
    assert [r["event"] for r in records].count("resume") == (retry_mode is RunMode.OOM_RESUME)


def test_resume_without_a_run_folder_fails_with_words(prepared_modes):
    result = train(resume=True)
    assert result.status == "failed" and result.run_dir is None and result.input_error
    assert "Resume needs the run folder" in result.message
    assert prepared_modes == []
