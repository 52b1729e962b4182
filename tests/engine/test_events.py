"""The one event forwarder: every Reporter method reaches the sink, as plain data and back.

SAMPLE_CALLS holds one call per Reporter method and must name every one of them, so a method
added to Reporter fails here until it has a sample; the forwarder tests (here, the training
child's in test_child_process.py, the window worker's in tests/gui/train) then check it is passed
on by every forwarder.
"""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

from ftstudio.engine.events import (
    REPORTER_METHODS,
    CheckpointEvent,
    EvalEvent,
    ForwardingReporter,
    Reporter,
    StepEvent,
    deliver_to,
    from_plain,
    to_plain,
)
from ftstudio.engine.runs import folder as runs
from ftstudio.engine.runs.recorder import RunRecorder

SAMPLE_CALLS: dict[str, tuple] = {
    "on_status": ("training", "resumed"),
    "on_log": ("a line with ünïcode",),
    "on_progress": ("tokenizing train", 5, 10),
    "on_info": ({"run_dir": "/runs/x", "total_steps": 10, "label_names": ["a", "b"]},),
    "on_step": (StepEvent(step=3, total_steps=10, epoch=0.3, loss=1.25, learning_rate=1e-4,
                          samples_per_second=40.5, elapsed=2.0, eta=5.0),),
    "on_eval": (EvalEvent(step=3, epoch=0.3, loss=0.9, metrics=dict(accuracy=0.5, precision=0.4, recall=0.3, f1=0.35),
                          details=dict(confusion=[[1, 0], [1, 2]], per_class={"a": {"f1": 0.5}})),),
    "on_checkpoint": (CheckpointEvent(step=3, path="/runs/x/checkpoints/step-3", is_best=True,
                                      metrics={"accuracy": 0.5}),),
}


class CallLog(Reporter):
    """Keeps every call as (method name, arguments), whichever method it was."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []

    def __getattribute__(self, name: str):
        if name in REPORTER_METHODS:
            return lambda *args: self.calls.append((name, args))
        return super().__getattribute__(name)


def call_every_method(reporter: Reporter) -> None:
    """Make each sample call on `reporter`, in REPORTER_METHODS order."""
    for name in REPORTER_METHODS:
        getattr(reporter, name)(*SAMPLE_CALLS[name])


EXPECTED_CALLS = [(name, SAMPLE_CALLS[name]) for name in REPORTER_METHODS]


def test_reporter_methods_are_every_event_method_of_reporter():
    declared = [name for name, _ in inspect.getmembers(Reporter, inspect.isfunction) if name.startswith("on_")]
    assert sorted(REPORTER_METHODS) == sorted(declared) and len(REPORTER_METHODS) >= 7
    assert REPORTER_METHODS[:2] == ("on_status", "on_log")  # declaration order, not alphabetical
    assert set(SAMPLE_CALLS) == set(REPORTER_METHODS), "add a sample call for the new Reporter method"


def test_the_forwarder_hands_every_method_to_its_sink():
    calls: list[tuple[str, tuple]] = []
    call_every_method(ForwardingReporter(lambda name, args: calls.append((name, args))))
    assert calls == EXPECTED_CALLS


@pytest.mark.parametrize("name", REPORTER_METHODS)
def test_forwarded_methods_keep_reporters_signature_and_words(name):
    forwarded, original = getattr(ForwardingReporter, name), getattr(Reporter, name)
    assert forwarded is not original
    assert inspect.signature(forwarded) == inspect.signature(original)
    assert forwarded.__doc__ == original.__doc__


def test_keywords_and_defaults_reach_the_sink_positionally():
    calls: list[tuple[str, tuple]] = []
    reporter = ForwardingReporter(lambda name, args: calls.append((name, args)))
    reporter.on_status("failed")
    reporter.on_status("failed", message="disk full")
    reporter.on_progress(phase="saving", total=4, done=1)
    assert calls == [("on_status", ("failed", "")), ("on_status", ("failed", "disk full")),
                     ("on_progress", ("saving", 1, 4))]
    with pytest.raises(TypeError):
        reporter.on_log()
    with pytest.raises(TypeError):
        reporter.on_log("one", "too many")


def test_deliver_to_replays_every_call_on_another_reporter():
    target = CallLog()
    call_every_method(ForwardingReporter(deliver_to(target)))
    assert target.calls == EXPECTED_CALLS


@pytest.mark.parametrize("name", REPORTER_METHODS)
def test_every_call_survives_plain_data_and_json(name):
    plain = to_plain(name, SAMPLE_CALLS[name])
    assert json.loads(json.dumps(plain)) == plain  # nothing a JSON line or a Qt signal cannot carry
    assert from_plain(name, json.loads(json.dumps(plain))) == SAMPLE_CALLS[name]


def test_plain_arguments_have_the_declared_types():
    assert to_plain("on_step", SAMPLE_CALLS["on_step"]) == [SAMPLE_CALLS["on_step"][0].to_dict()]
    done = to_plain("on_progress", ("tokenizing", np.int64(5), np.int32(10)))
    assert done == ["tokenizing", 5, 10] and all(type(value) is int for value in done[1:])
    assert to_plain("on_status", ("failed", None)) == ["failed", ""]
    info = {"run_dir": "/r"}
    copied = to_plain("on_info", (info,))[0]
    assert copied == info and copied is not info  # the receiver may keep it; the sender may change it


def test_the_run_recorder_passes_every_call_on_and_records_the_events(tmp_path):
    inner = CallLog()
    call_every_method(RunRecorder(inner))  # no run folder yet: forwarded, nothing written
    assert inner.calls == EXPECTED_CALLS

    inner = CallLog()
    recorder = RunRecorder(inner, tmp_path)
    call_every_method(recorder)
    assert inner.calls == EXPECTED_CALLS
    events = [record["event"] for record in runs.read_metrics(tmp_path)]
    assert events == ["status", "info", "step", "eval", "checkpoint"]
    assert runs.read_status(tmp_path)["status"] == "training" and recorder.step == 3
