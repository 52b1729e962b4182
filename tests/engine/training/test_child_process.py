"""The training child process and its protocol: events replayed faithfully, commands heard,
every way a child can end turned into a result the window can show."""

from __future__ import annotations

import io
import json
import threading

import pytest

from ftstudio.engine.events import REPORTER_METHODS, CheckpointEvent, EvalEvent, StepEvent, TrainingControl
from ftstudio.engine.training import child_process as training_process
from ftstudio.engine.training.child_process import (
    StreamReporter,
    TrainingProcess,
    ended_unexpectedly,
    read_commands,
    replay,
    run_request,
)
from tests.engine.test_events import EXPECTED_CALLS, CallLog, call_every_method
from tests.engine.training.test_train import Recorder, tiny_settings


class Everything(Recorder):
    """Recorder that also keeps logs, progress and status messages."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.logs, self.progress, self.messages = [], [], []

    def on_status(self, status, message=""):
        super().on_status(status, message)
        self.messages.append(message)

    def on_log(self, message):
        self.logs.append(message)

    def on_progress(self, phase, done, total):
        self.progress.append((phase, done, total))


def test_every_reporter_call_survives_the_pipe():
    stream = io.StringIO()
    child = StreamReporter(stream)
    step = StepEvent(step=3, total_steps=10, epoch=0.3, loss=1.25, learning_rate=1e-4, samples_per_second=40.5,
                     elapsed=2.0, eta=5.0)
    evaluation = EvalEvent(step=3, epoch=0.3, loss=0.9, metrics=dict(accuracy=0.5, precision=0.4, recall=0.3, f1=0.35),
                           details=dict(confusion=[[1, 0], [1, 2]], per_class={"a": {"f1": 0.5}}))
    checkpoint = CheckpointEvent(step=3, path="/runs/x/checkpoints/step-3", is_best=True, metrics={"accuracy": 0.5})
    child.on_status("training", "")
    child.on_log("a line with ünïcode")
    child.on_progress("tokenizing train", 5, 10)
    child.on_info({"run_dir": "/runs/x", "total_steps": 10})
    child.on_step(step)
    child.on_eval(evaluation)
    child.on_checkpoint(checkpoint)
    assert child.run_dir == "/runs/x" and child.last_status == "training"

    parent = Everything()
    for line in stream.getvalue().splitlines():
        replay(json.loads(line), parent)
    assert parent.statuses == ["training"] and parent.logs == ["a line with ünïcode"]
    assert parent.progress == [("tokenizing train", 5, 10)]
    assert parent.infos == [{"run_dir": "/runs/x", "total_steps": 10}]
    assert parent.steps == [step] and parent.evals == [evaluation] and parent.checkpoints == [checkpoint]


def test_every_reporter_method_crosses_the_pipe_as_one_json_line():
    """Whatever Reporter declares (SAMPLE_CALLS names every method) reaches the parent unchanged."""
    stream = io.StringIO()
    call_every_method(StreamReporter(stream))
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["call"] for line in lines] == list(REPORTER_METHODS)  # the wire format: call + args
    parent = CallLog()
    for line in lines:
        replay(line, parent)
    assert parent.calls == EXPECTED_CALLS


def test_unknown_calls_are_ignored():
    parent = Everything()
    replay({"call": "__init__", "args": []}, parent)
    replay({"call": "on_nothing"}, parent)
    assert not (parent.statuses or parent.logs or parent.steps)


def test_commands_reach_the_control_and_end_of_input_stops():
    control = TrainingControl()
    pipe = io.StringIO("pause\n")
    read_commands(pipe, control)
    # End of input (the window went away) is a stop, even while paused.
    assert control.stop_requested
    control = TrainingControl()
    read_commands(io.StringIO("pause\nresume\nnonsense\n"), control)
    assert control.stop_requested and not control.pause_requested


def test_any_exception_in_the_child_becomes_a_failed_result(monkeypatch):
    import ftstudio.engine.training.train as engine_train

    def broken(*_args, **_kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(engine_train, "train", broken)
    stream = io.StringIO()
    result = run_request({"settings": None, "runs_dir": None, "resume_run_dir": None}, StreamReporter(stream),
                         TrainingControl())
    assert result["status"] == "failed" and result["message"].startswith("Unexpected error (RuntimeError): kaboom")
    parent = Everything()
    for line in stream.getvalue().splitlines():
        replay(json.loads(line), parent)
    assert parent.statuses[-1] == "failed" and parent.messages[-1] == result["message"]
    assert any("Traceback" in line for line in parent.logs)  # the traceback goes to the log only


def test_a_child_that_dies_without_a_result_is_explained():
    assert "killed (signal 9)" in ended_unexpectedly(-9) and "out of memory" in ended_unexpectedly(-9)
    assert "exit code 3" in ended_unexpectedly(3)
    for code in (-9, -11, 1):
        assert "resume" in ended_unexpectedly(code)


# ------------------------------------------------------------------ real child processes
def test_a_child_trains_and_relays_the_whole_run(tiny_model_dir, small_csv, runs_dir):
    process = TrainingProcess(tiny_settings(tiny_model_dir, small_csv, epochs=1), runs_dir, None)
    process.start()
    recorder = Everything()
    result = process.relay(recorder)
    assert result["status"] == "finished", (result, list(process.stderr_tail))
    assert recorder.statuses[0] == "preparing" and recorder.statuses[-1] == "finished"
    assert recorder.steps and all(isinstance(e, StepEvent) for e in recorder.steps)
    assert recorder.evals and recorder.checkpoints
    assert result["run_dir"] and (runs_dir / result["run_dir"].split("/")[-1] / "best").is_dir()
    child = process._process
    assert child.stdin.closed and child.stdout.closed and child.stderr.closed  # no pipe left open


def test_stop_sent_before_the_child_starts_ends_it_at_once(tiny_model_dir, small_csv, runs_dir):
    process = TrainingProcess(tiny_settings(tiny_model_dir, small_csv), runs_dir, None)
    process.send("stop")  # queued: the child hears it with its request
    process.start()
    recorder = Everything()
    result = process.relay(recorder)
    assert result["status"] == "stopped" and recorder.statuses[-1] == "stopped"
    assert not recorder.steps and not any(runs_dir.glob("*/settings.json"))
    with pytest.raises(ValueError):
        process.send("explode")


def test_a_killed_child_gives_a_failed_result_and_its_last_words(tiny_model_dir, small_csv, runs_dir):
    process = TrainingProcess(tiny_settings(tiny_model_dir, small_csv, epochs=50), runs_dir, None)

    class KillAtFirstStep(Everything):
        def on_step(self, event):
            super().on_step(event)
            if len(self.steps) == 1:
                threading.Thread(target=process.kill).start()  # from another thread, as the window does

    process.start()
    recorder = KillAtFirstStep()
    result = process.relay(recorder)
    assert result["status"] == "failed" and "killed" in result["message"]
    assert recorder.statuses[-1] == "failed"
    process.send("stop")  # a command to an ended child is dropped, not an error


def test_the_child_command_runs_this_installation():
    command = training_process.child_command()
    assert command[-1] == training_process.CHILD_ARGUMENT and command[0]
