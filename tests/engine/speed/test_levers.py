"""The speed-lever registry: every lever behind one interface, asked once per run, its status in
one log line and one metrics.jsonl record; a new lever needs no change to the loop."""

from __future__ import annotations

import sys
import types
from contextlib import nullcontext

import numpy as np
import pytest
import torch

from ftstudio.engine.data.batching import TokenizedSplit
from ftstudio.engine.errors import StopRequested
from ftstudio.engine.runs import folder as runs
from ftstudio.engine.settings import TrainSettings
from ftstudio.engine.speed import levers
from ftstudio.engine.speed.levers import (
    LeverRun,
    LeverStatus,
    SpeedLever,
    apply_levers,
    speed_line,
    speed_record,
)
from ftstudio.engine.training.train import train
from tests.engine.speed.test_speed_levers import Logs


class FakeLever:
    """A lever whose answers the test sets; remembers whether it was applied."""

    def __init__(self, name: str, unavailable: str | None = None, refuses: str | None = None) -> None:
        self.name, self.unavailable, self.refuses = name, unavailable, refuses
        self.applied_to: list[LeverRun] = []

    def unavailable_reason(self, run: LeverRun) -> str | None:
        return self.unavailable

    def apply(self, run: LeverRun) -> str | None:
        self.applied_to.append(run)
        return self.refuses


def _run(model=None, device: str = "cpu", train_rows: int = 4) -> LeverRun:
    split = TokenizedSplit([[2, 5, 3]] * train_rows, np.zeros(train_rows, dtype=np.int64), np.full(train_rows, 3))
    return LeverRun(model or torch.nn.Linear(2, 2), TrainSettings(), {"train": split, "validation": split}, 0,
                    torch.device(device), nullcontext)


# ------------------------------------------------------------------ the registry
def test_every_registered_module_offers_one_lever_behind_the_interface():
    registered = levers.registered_levers()
    assert len(registered) == len(levers.REGISTERED) >= 3
    assert all(isinstance(lever, SpeedLever) for lever in registered)
    names = [lever.name for lever in registered]
    assert names == ["fast dropout", "first-token top layer", "head-only feature cache"]
    assert [type(lever).__module__ for lever in registered] == list(levers.REGISTERED)


def test_a_lever_is_applied_only_when_available_and_may_still_refuse():
    usable, unusable, refusing = FakeLever("a"), FakeLever("b", unavailable="not here"), FakeLever("c", refuses="no")
    run = _run()
    statuses = apply_levers(run, [usable, unusable, refusing])
    assert statuses == [LeverStatus("a"), LeverStatus("b", "not here"), LeverStatus("c", "no")]
    assert usable.applied_to == [run] and unusable.applied_to == [] and refusing.applied_to == [run]
    assert [s.on for s in statuses] == [True, False, False]


def test_a_stop_inside_a_lever_is_not_swallowed():
    class Stopping(FakeLever):
        def apply(self, run):
            raise StopRequested()

    later = FakeLever("later")
    with pytest.raises(StopRequested):
        apply_levers(_run(), [Stopping("stops"), later])
    assert later.applied_to == []


def test_the_log_line_and_the_record_name_every_lever_in_order():
    statuses = [LeverStatus("fast dropout"), LeverStatus("first-token top layer", "the model is a decoder"),
                LeverStatus("head-only feature cache")]
    assert speed_line(statuses) == ("Speed: fast dropout on; first-token top layer off (the model is a decoder); "
                                    "head-only feature cache on")
    assert speed_record(statuses, 12) == {"event": "speed", "step": 12, "levers": [
        {"name": "fast dropout", "on": True, "reason": None},
        {"name": "first-token top layer", "on": False, "reason": "the model is a decoder"},
        {"name": "head-only feature cache", "on": True, "reason": None},
    ]}


# ------------------------------------------------------------------ each lever's reasons
def test_each_lever_says_why_it_steps_aside(monkeypatch):
    from ftstudio.engine.speed import fast_dropout, first_token_top_layer, frozen_features

    assert "cuda" in fast_dropout.LEVER.unavailable_reason(_run(device="cuda"))
    assert fast_dropout.LEVER.unavailable_reason(_run()) is None
    assert "no plain dropout" in fast_dropout.LEVER.apply(_run(model=torch.nn.Linear(2, 2)))
    assert "no training rows" in first_token_top_layer.LEVER.unavailable_reason(_run(train_rows=0))
    for module in (fast_dropout, first_token_top_layer, frozen_features):
        monkeypatch.setenv(module.ENV_SWITCH, "0")
        assert f"turned off by {module.ENV_SWITCH}=0" == module.LEVER.unavailable_reason(_run())


# ------------------------------------------------------------------ in a run
def _settings(model, data, **changes) -> TrainSettings:
    base = dict(model=str(model), data=str(data), epochs=1, batch_size=8, max_length=32, log_steps=5, seed=3)
    return TrainSettings(**{**base, **changes})


def _speed_lines(logs: Logs) -> list[str]:
    return [line for line in logs.lines if line.startswith("Speed: ")]


def test_a_run_logs_every_levers_status_once(tiny_model_dir, small_csv, tmp_path, monkeypatch):
    logs = Logs()
    result = train(_settings(tiny_model_dir, small_csv, strategy="head"), tmp_path / "head", reporter=logs)
    assert result.status == "finished", result.message
    assert _speed_lines(logs) == ["Speed: fast dropout on; first-token top layer on; head-only feature cache on"]
    records = [r for r in runs.read_metrics(result.run_dir) if r["event"] == "speed"]
    assert len(records) == 1 and records[0]["step"] == 0
    assert [lever["on"] for lever in records[0]["levers"]] == [True, True, True]

    monkeypatch.setenv("FTSTUDIO_FAST_DROPOUT", "0")
    monkeypatch.setenv("FTSTUDIO_FIRST_TOKEN_TOP", "0")
    logs = Logs()
    assert train(_settings(tiny_model_dir, small_csv), tmp_path / "full", reporter=logs).status == "finished"
    assert _speed_lines(logs) == [
        "Speed: fast dropout off (turned off by FTSTUDIO_FAST_DROPOUT=0); first-token top layer off (turned off by "
        "FTSTUDIO_FIRST_TOKEN_TOP=0); head-only feature cache off (the encoder trains)"]


def test_a_new_lever_is_a_module_and_a_registration(tiny_model_dir, small_csv, tmp_path, monkeypatch):
    """No change to the trainer: the registry hands the new lever the run, and the log and the
    run folder say what it did."""
    lever = FakeLever("test lever")
    module = types.ModuleType("tests_fake_lever")
    module.LEVER = lever
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(levers, "REGISTERED", (*levers.REGISTERED, module.__name__))
    logs = Logs()
    result = train(_settings(tiny_model_dir, small_csv, strategy="head"), tmp_path / "run", reporter=logs)
    assert result.status == "finished", result.message
    assert len(lever.applied_to) == 1
    run = lever.applied_to[0]
    assert type(run.model).__name__ == "BertForSequenceClassification" and run.settings.strategy == "head"
    assert run.features is not None  # the levers before it had run: the feature cache was built
    assert _speed_lines(logs)[0].endswith("; head-only feature cache on; test lever on")
    record = [r for r in runs.read_metrics(result.run_dir) if r["event"] == "speed"][0]
    assert record["levers"][-1] == {"name": "test lever", "on": True, "reason": None}
