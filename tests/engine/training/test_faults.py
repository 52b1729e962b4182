"""Faults inside one process: diverging loss, out of memory, a full or read-only disk, resume
exactness for every strategy, the run lock, and the half-written states a kill can leave.

Faults are injected where they really arise (a poisoned weight after an optimizer step, an
OutOfMemoryError from the step, an OSError from the file write) and the tests check what the
issue promises: the run ends `failed` with a message naming the cause, the last good checkpoint
stays loadable, nothing raises out of `train()`.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from ftstudio.engine.events import TrainingControl
from ftstudio.engine.predict.predictor import Predictor
from ftstudio.engine.runs import checkpoints, listing
from ftstudio.engine.runs import folder as runs
from ftstudio.engine.runs import lock as run_lock
from ftstudio.engine.training.train import train
from ftstudio.engine.training.trainer import Trainer
from tests.engine.training.test_train import Recorder, _evals, _step_losses, tiny_settings

# 108 training rows / batch 8 = 14 steps an epoch; checkpoints at steps 4, 8, 12, ...
SAVE_EVERY = dict(log_steps=1, eval_steps=4, save_steps=4, epochs=1)


def _weights_finite(folder: Path) -> bool:
    import torch
    from safetensors.torch import load_file

    return all(bool(torch.isfinite(t).all()) for t in load_file(str(folder / "model.safetensors")).values())


def _last_step(run_dir: Path) -> int:
    return int(json.loads((run_dir / "last" / "trainer_state.json").read_text())["global_step"])


def _after_step(monkeypatch, action) -> None:
    """Run `action(trainer)` after every optimizer step (a fault injected where it would arise)."""
    original = Trainer._optimizer_step

    def step_then_act(self, group):
        original(self, group)
        action(self)

    monkeypatch.setattr(Trainer, "_optimizer_step", step_then_act)


def _poison_at(step: int):
    def poison(trainer):
        if trainer.global_step == step:
            import torch

            with torch.no_grad():
                next(trainer.model.parameters()).fill_(float("nan"))

    return poison


def _assert_failed_keeping(result, checkpoint_step: int, *words: str) -> None:
    assert result.status == "failed", result.message
    assert not result.input_error
    status = runs.read_status(result.run_dir)
    assert status["status"] == "failed" and status["message"] == result.message
    for word in words:
        assert word.lower() in result.message.lower(), result.message
    assert "Traceback" not in result.message and "\n" not in result.message
    assert _last_step(result.run_dir) == checkpoint_step
    assert _weights_finite(result.run_dir / "last")
    assert not list((result.run_dir / "checkpoints").glob(".tmp-*")), "a half-written checkpoint was left"
    assert Predictor(result.run_dir / "last").predict("great flight")[0].label in {"negative", "neutral", "positive"}


# ------------------------------------------------------------------ NaN / inf
def test_nan_loss_fails_naming_the_learning_rate_and_keeps_the_last_good_checkpoint(
        monkeypatch, tiny_model_dir, small_csv, tmp_path):
    _after_step(monkeypatch, _poison_at(6))  # step 7's loss is NaN; it is read at once (log_steps=1)
    result = train(tiny_settings(tiny_model_dir, small_csv, **SAVE_EVERY), tmp_path / "run")
    _assert_failed_keeping(result, 4, "nan", "learning rate", "last good checkpoint is kept")
    assert max(_step_losses(result.run_dir)) == 6  # nothing logged from the diverged step


def test_nan_loss_between_log_steps_is_caught_before_the_save(monkeypatch, tiny_model_dir, small_csv, tmp_path):
    # Loss read every 10 steps only: the save at step 8 sees the NaN window and refuses.
    _after_step(monkeypatch, _poison_at(5))
    result = train(tiny_settings(tiny_model_dir, small_csv, **{**SAVE_EVERY, "log_steps": 10}), tmp_path / "run")
    _assert_failed_keeping(result, 4, "nan", "learning rate")


def test_nan_weights_with_a_finite_loss_are_never_published(monkeypatch, tiny_model_dir, small_csv, tmp_path):
    # Step 8's loss was computed before the update that broke the weights, so it is finite; the
    # checkpoint due at step 8 must still not replace last/ with NaN weights.
    _after_step(monkeypatch, _poison_at(8))
    result = train(tiny_settings(tiny_model_dir, small_csv, **SAVE_EVERY), tmp_path / "run")
    _assert_failed_keeping(result, 4, "weights", "nan", "learning rate")
    assert not (result.run_dir / "checkpoints" / "step-8").exists()
    assert _weights_finite(result.run_dir / "best")


def test_stop_after_divergence_keeps_the_previous_checkpoint(monkeypatch, tiny_model_dir, small_csv, tmp_path):
    control = TrainingControl()
    poison = _poison_at(6)

    def poison_then_stop(trainer):
        poison(trainer)
        if trainer.global_step == 6:
            control.request_stop()  # the checkpoint written on stop would hold NaN weights

    _after_step(monkeypatch, poison_then_stop)
    result = train(tiny_settings(tiny_model_dir, small_csv, **{**SAVE_EVERY, "log_steps": 10}), tmp_path / "run",
                   control=control)
    assert result.status == "stopped" and "previous one is kept" in result.message, result.message
    assert _last_step(result.run_dir) == 4 and _weights_finite(result.run_dir / "last")


# ------------------------------------------------------------------ out of memory
def _oom_when(predicate):
    import torch

    original = Trainer._optimizer_step

    def step(self, group):
        if predicate(self, group):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
        return original(self, group)

    return step


def test_out_of_memory_names_the_settings_to_change(monkeypatch, tiny_model_dir, small_csv, tmp_path):
    monkeypatch.setattr(Trainer, "_optimizer_step", _oom_when(lambda t, g: t.global_step >= 6))
    result = train(tiny_settings(tiny_model_dir, small_csv, **SAVE_EVERY), tmp_path / "run")
    _assert_failed_keeping(result, 4, "out of memory", "batch_size", "grad_accum", "max_length", "precision")
    assert "oom_retry" in result.message
    assert "OutOfMemoryError" in (result.run_dir / "error.log").read_text()  # details kept for bug reports


def test_out_of_memory_retry_halves_the_batch_and_finishes(monkeypatch, tiny_model_dir, small_csv, tmp_path):
    seen = []

    def too_big(trainer, group):
        seen.append(len(group))
        return len(group[0]) > 4  # only batches of more than 4 texts "do not fit"

    monkeypatch.setattr(Trainer, "_optimizer_step", _oom_when(too_big))
    recorder = Recorder()
    result = train(tiny_settings(tiny_model_dir, small_csv, oom_retry=True, **SAVE_EVERY), tmp_path / "run",
                   reporter=recorder)
    assert result.status == "finished", result.message
    saved = runs.read_settings(result.run_dir)["settings"]
    assert (saved["batch_size"], saved["grad_accum"]) == (4, 2)  # same effective batch, resumable
    records = runs.read_metrics(result.run_dir)
    assert [r for r in records if r["event"] == "oom_retry"]
    assert max(_step_losses(result.run_dir)) == 14  # the same number of optimizer steps
    assert Predictor(result.run_dir).label_names == ["negative", "neutral", "positive"]


def test_out_of_memory_retry_continues_from_the_last_checkpoint(monkeypatch, tiny_model_dir, small_csv, tmp_path):
    monkeypatch.setattr(Trainer, "_optimizer_step",
                        _oom_when(lambda t, g: t.global_step >= 6 and len(g[0]) > 4))
    result = train(tiny_settings(tiny_model_dir, small_csv, oom_retry=True, **SAVE_EVERY), tmp_path / "run")
    assert result.status == "finished", result.message
    records = runs.read_metrics(result.run_dir)
    resumes = [r for r in records if r["event"] == "resume"]
    assert resumes and resumes[-1]["step"] == 4
    assert [(r["step"], r["batch_size"], r["grad_accum"]) for r in records if r["event"] == "oom_retry"] == [(4, 4, 2)]
    steps = sorted(r["step"] for r in records if r["event"] == "step")
    assert steps == list(range(1, 15)), "each step logged once, the retried ones after the checkpoint"


# ------------------------------------------------------------------ disk full / not writable
def test_too_little_disk_space_is_refused_before_anything_is_written(monkeypatch, tiny_model_dir, small_csv,
                                                                     runs_dir):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**12, 10**12 - 1000, 1000))
    result = train(tiny_settings(tiny_model_dir, small_csv), runs_dir=runs_dir)
    assert result.status == "failed" and result.input_error and result.run_dir is None
    assert "not enough disk space" in result.message.lower() and "keep_checkpoints" in result.message
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def _fail_writes(monkeypatch, code: int, after: int, target: str = "torch"):
    """Make the `after`-th and later checkpoint writes (or every run-folder write) fail like a
    full or read-only disk."""
    import torch

    calls = {"n": 0}
    original = torch.save

    def save(obj, path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= after:
            raise OSError(code, os.strerror(code), str(path))
        return original(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    return calls


@pytest.mark.parametrize("code,words", [(errno.ENOSPC, ("disk", "full")), (errno.EROFS, ("not writable",))],
                         ids=["disk-full", "read-only"])
def test_write_failure_mid_run_stops_with_words_and_keeps_the_previous_checkpoint(
        monkeypatch, tiny_model_dir, small_csv, tmp_path, code, words):
    _fail_writes(monkeypatch, code, after=2)  # the step-4 checkpoint is written, step 8's fails
    result = train(tiny_settings(tiny_model_dir, small_csv, **SAVE_EVERY), tmp_path / "run")
    _assert_failed_keeping(result, 4, *words, "checkpoint is kept")
    assert not (result.run_dir / "checkpoints" / "step-8").exists()


def test_full_disk_for_every_write_still_ends_the_run_cleanly(monkeypatch, tiny_model_dir, small_csv, tmp_path):
    """When even the metrics log and status.json cannot be written, train() still returns."""
    from ftstudio.engine.runs import atomic

    state = {"full": False}
    original_append, original_bytes = atomic.append_json_line, atomic.atomic_write_bytes

    def append(path, record, sync=False):
        if state["full"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original_append(path, record, sync)

    def write_bytes(path, data):
        if state["full"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original_bytes(path, data)

    monkeypatch.setattr(runs, "append_json_line", append)
    monkeypatch.setattr(runs, "atomic_write_json", lambda p, d: write_bytes(p, json.dumps(d).encode()))
    _after_step(monkeypatch, lambda trainer: state.update(full=trainer.global_step >= 6))
    recorder = Recorder()
    result = train(tiny_settings(tiny_model_dir, small_csv, **SAVE_EVERY), tmp_path / "run", reporter=recorder)
    assert result.status == "failed" and "full" in result.message
    assert recorder.statuses[-1] == "failed"
    assert runs.read_status(result.run_dir)["status"] in ("training", "saving", "evaluating")  # the last it could write
    assert _last_step(result.run_dir) == 4 and _weights_finite(result.run_dir / "last")


# ------------------------------------------------------------------ resume exactness, more strategies
@pytest.mark.parametrize(
    "changes,stop_at",
    [
        (dict(strategy="embeddings", reinit_top_layers=1, layerwise_lr_decay=0.7, epochs=1), 9),
        (dict(strategy="gradual", epochs=2), 14),  # stopped exactly at an epoch (unfreezing) boundary
        (dict(strategy="full", group_by_length=True, test_split=0.2, metric_for_best="loss", save_steps=3,
              warmup_ratio=0.3, epochs=1), 7),
    ],
    ids=["embeddings-reinit-lld", "gradual-epoch-boundary", "grouped-test-split"],
)
def test_resume_is_exact_for_more_strategies(tiny_model_dir, small_csv, tmp_path, changes, stop_at):
    settings = tiny_settings(tiny_model_dir, small_csv, **changes)
    whole = train(settings, tmp_path / "whole")
    assert whole.status == "finished", whole.message
    control = TrainingControl()
    stopped = train(settings, tmp_path / "split", reporter=Recorder(control, stop_at=stop_at), control=control)
    assert stopped.status == "stopped" and _last_step(stopped.run_dir) == stop_at
    resumed = train(run_dir=stopped.run_dir, resume=True)
    assert resumed.status == "finished", resumed.message
    assert _step_losses(resumed.run_dir) == _step_losses(whole.run_dir)
    assert _evals(resumed.run_dir) == _evals(whole.run_dir)
    test_evals = [r for r in runs.read_metrics(whole.run_dir) if r["event"] == "eval" and r.get("split") == "test"]
    assert bool(test_evals) == ("test_split" in changes)


# ------------------------------------------------------------------ the run lock and interrupted runs
@pytest.fixture
def stopped_run(tiny_model_dir, small_csv, tmp_path):
    control = TrainingControl()
    result = train(tiny_settings(tiny_model_dir, small_csv, **SAVE_EVERY), tmp_path / "run",
                   reporter=Recorder(control, stop_at=6), control=control)
    assert result.status == "stopped"
    return result.run_dir


def test_a_run_owned_by_a_live_process_is_not_resumed_twice(stopped_run):
    lock = run_lock.RunLock(stopped_run)
    lock.acquire()
    try:
        assert run_lock.is_live(stopped_run)
        result = train(run_dir=stopped_run, resume=True)
        assert result.status == "failed" and "another process" in result.message
        with pytest.raises(Exception, match="training now"):
            listing.delete_run(stopped_run)
    finally:
        lock.release()
    assert not run_lock.is_live(stopped_run)
    # The refused second trainer wrote nothing: the live owner's status.json is its own.
    assert runs.read_status(stopped_run)["status"] == "stopped"
    assert train(run_dir=stopped_run, resume=True).status == "finished"


def test_a_killed_run_is_listed_as_interrupted_and_resumable(stopped_run):
    # What SIGKILL leaves: status still "training", temporaries of interrupted writes, no lock holder.
    runs.write_status(stopped_run, "training", "", 6)
    (stopped_run / ".status.json.abc123.tmp").write_text("{", encoding="utf-8")
    (stopped_run / "checkpoints" / ".tmp-step-8-999").mkdir()
    summary = listing.list_runs(stopped_run.parent)[0]
    assert summary.status == "interrupted" and "resume" in summary.message.lower() and summary.can_resume
    result = train(run_dir=stopped_run, resume=True)
    assert result.status == "finished", result.message
    assert not list(stopped_run.glob(".*.tmp")) and not list((stopped_run / "checkpoints").glob(".tmp-*"))


@pytest.mark.parametrize("state", ["moved-aside", "staging-left", "both-present"])
def test_states_between_the_renames_of_a_publish_recover(stopped_run, state):
    """replace_dir moves last/ aside, then renames the new copy in; a kill between or around the
    two renames leaves one of these states, and both readers and resume must cope."""
    import shutil

    last, old, staging = stopped_run / "last", stopped_run / "last.old", stopped_run / ".last.new"
    if state == "moved-aside":
        os.replace(last, old)
    elif state == "staging-left":
        shutil.copytree(last, staging)
        (staging / "model.safetensors").unlink()  # a half-made copy
    else:
        shutil.copytree(last, old)
    assert Predictor(stopped_run).label_names == ["negative", "neutral", "positive"]
    assert listing.list_runs(stopped_run.parent)[0].can_resume
    assert checkpoints.find_resume_checkpoint(stopped_run).name in ("step-6", "last")
    assert last.is_dir() and not old.exists() and not staging.exists()
    assert train(run_dir=stopped_run, resume=True).status == "finished"


def test_readers_leave_a_live_runs_folders_alone(stopped_run):
    os.replace(stopped_run / "last", stopped_run / "last.old")  # as if the writer is between renames
    lock = run_lock.RunLock(stopped_run)
    lock.acquire()
    try:
        listing.list_runs(stopped_run.parent)
        Predictor(stopped_run)  # best/ is there; last/ must not be moved back under the writer
        assert (stopped_run / "last.old").is_dir() and not (stopped_run / "last").exists()
    finally:
        lock.release()


def test_resume_refuses_a_checkpoint_of_another_task(stopped_run, tmp_path, tiny_model_dir):
    from tests.conftest import make_texts, write_csv

    # The data changed since the run started: two classes instead of three.
    data = runs.read_settings(stopped_run)["settings"]["data"]
    write_csv(Path(data), make_texts(120, classes=2))
    result = train(run_dir=stopped_run, resume=True)
    assert result.status == "failed" and result.input_error
    assert "labels" in result.message and "new run" in result.message
    assert _last_step(stopped_run) == 6 and _weights_finite(stopped_run / "last")


def test_resume_refuses_a_checkpoint_of_another_model(stopped_run, tiny_model_4l_dir, small_csv, tmp_path):
    import shutil

    control = TrainingControl()
    other = train(tiny_settings(tiny_model_4l_dir, small_csv, **SAVE_EVERY), tmp_path / "other",
                  reporter=Recorder(control, stop_at=2), control=control)
    for name in ("last", "best"):  # a run folder whose checkpoints were copied over from another run
        shutil.rmtree(stopped_run / name)
        shutil.copytree(other.run_dir / "last", stopped_run / name)
    shutil.rmtree(stopped_run / "checkpoints")
    result = train(run_dir=stopped_run, resume=True)
    assert result.status == "failed" and "another model" in result.message and "new run" in result.message
    assert "\n" not in result.message


def test_stop_during_an_evaluation_resumes_exactly(tiny_model_dir, small_csv, tmp_path):
    """A stop inside an evaluation saves the step without that evaluation; resume redoes it,
    so the evaluations, best/ and early stopping match an uninterrupted run."""
    from ftstudio.engine.events import Reporter

    settings = tiny_settings(tiny_model_dir, small_csv, early_stopping_patience=3)
    whole = train(settings, tmp_path / "whole")
    control = TrainingControl()

    class StopInSecondEvaluation(Reporter):
        evaluations = 0

        def on_status(self, status, message=""):
            if status == "evaluating":
                self.evaluations += 1
                if self.evaluations == 2:
                    control.request_stop()

    stopped = train(settings, tmp_path / "split", reporter=StopInSecondEvaluation(), control=control)
    assert stopped.status == "stopped" and _last_step(stopped.run_dir) == 10
    resumed = train(run_dir=stopped.run_dir, resume=True)
    assert resumed.status == "finished" and resumed.message == whole.message
    assert _evals(resumed.run_dir) == _evals(whole.run_dir)
    assert _step_losses(resumed.run_dir) == _step_losses(whole.run_dir)
    assert resumed.best == whole.best
