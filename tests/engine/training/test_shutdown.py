"""Shutdown and preemption: SIGTERM/SIGHUP to `ftstudio train` and to the window's training child,
a window that dies under its child, and time-based checkpoints (save_minutes).

The real-process tests are marked `slow` (each starts Python processes that import torch):
    .venv/bin/python -m pytest -m slow tests/engine/training/test_shutdown.py
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftstudio.engine.events import TrainingControl
from ftstudio.engine.runs import checkpoints
from ftstudio.engine.runs import folder as runs
from ftstudio.engine.settings import TrainSettings
from ftstudio.engine.training import shutdown
from ftstudio.engine.training.train import train
from tests.engine.runs.test_kill import HELPER
from tests.engine.training.test_train import Recorder, _evals, _step_losses, tiny_settings

posix_only = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals")
EXIT_WITHIN_S = 10.0  # the usual grace between SIGTERM and SIGKILL


def _weights_diff(a: Path, b: Path) -> float:
    """The largest absolute difference between two checkpoints' weights (0.0: equal)."""
    from safetensors.torch import load_file

    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    return max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)


def _step_of(checkpoint: Path) -> int:
    return int(checkpoints.read_trainer_state(checkpoint)["global_step"])


# ------------------------------------------------------------------ the handlers, in process
def test_handlers_turn_a_shutdown_signal_into_a_stop_and_restore_the_previous_ones():
    control, said = TrainingControl(), []
    before = signal.getsignal(signal.SIGTERM)
    with shutdown.ShutdownHandlers(control, say=said.append) as handlers:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # the handler runs at the next bytecode of the main thread
        assert control.stop_requested and handlers.received == signal.SIGTERM
        assert control.stop_reason == "a shutdown signal (SIGTERM)"
        os.kill(os.getpid(), signal.SIGTERM)  # a second one while stopping: announced, never raised
        time.sleep(0.05)
        assert "already stopping" in said[-1]
    assert signal.getsignal(signal.SIGTERM) is before
    assert shutdown.exit_status(signal.SIGTERM) == 143 and signal.SIGTERM in shutdown.shutdown_signals()


# ------------------------------------------------------------------ time-based checkpoints
# small_csv: 120 rows, 12 held out for validation, 108 in batches of 8.
STEPS_PER_EPOCH = 14
class FakeClock:
    """Seven minutes pass with every reported step: a time checkpoint (20 min) every 3 steps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Ticking(Recorder):
    def __init__(self, clock: FakeClock, crash_at: int | None = None) -> None:
        super().__init__()
        self.clock, self.crash_at = clock, crash_at

    def on_step(self, event):
        super().on_step(event)
        self.clock.now += 7 * 60
        if event.step == self.crash_at:
            raise KeyboardInterrupt  # not caught by train(): like a power cut, nothing more is written


def test_time_checkpoints_need_no_evaluation_leave_best_alone_and_resume_exactly(tiny_model_dir, small_csv,
                                                                                  tmp_path, monkeypatch):
    from ftstudio.engine.training import trainer as trainer_module

    # Evaluations pinned to the epoch ends (the adaptive default would add mid-epoch ones), so
    # every other checkpoint is a time checkpoint.
    settings = tiny_settings(tiny_model_dir, small_csv, eval_steps=STEPS_PER_EPOCH, save_steps=0, save_minutes=20,
                             keep_checkpoints=1)
    clock = FakeClock()
    monkeypatch.setattr(trainer_module, "monotonic", clock)
    recorder = Ticking(clock)
    whole = train(settings, tmp_path / "whole", reporter=recorder)
    assert whole.status == "finished", whole.message
    per_epoch = len(recorder.steps) // 2
    assert per_epoch == STEPS_PER_EPOCH
    expected, last = [], 0  # every checkpoint restarts the 20 minutes; an epoch end evaluates and saves
    for step in range(1, 2 * per_epoch + 1):
        if step % per_epoch == 0 or step - last >= 3:
            expected.append(step)
            last = step
    assert [c.step for c in recorder.checkpoints] == expected
    timed = [c for c in recorder.checkpoints if c.step % per_epoch]
    assert len(timed) >= 6
    assert not any(c.is_best for c in timed)  # time checkpoints never become best/
    evals = [e.step for e in recorder.evals]
    assert evals == [per_epoch, 2 * per_epoch]  # no evaluation was added for them
    assert _step_of(whole.run_dir / "best") in evals  # best/ follows the evaluations only
    assert _step_of(whole.run_dir / "best") == whole.best["step"]
    # keep_checkpoints=1 pruned the step folders, never best/
    assert len(list((whole.run_dir / "checkpoints").glob("step-*"))) == 1 and (whole.run_dir / "best").is_dir()

    # A power cut at step 5 of the first epoch: the time checkpoint of step 3 is what is left.
    clock.now = 0.0
    with pytest.raises(KeyboardInterrupt):
        train(settings, tmp_path / "cut", reporter=Ticking(clock, crash_at=5))
    cut = tmp_path / "cut"
    assert _step_of(cut / "last") == 3 and not (cut / "best").exists()
    resumed = train(run_dir=cut, resume=True)
    assert resumed.status == "finished", resumed.message
    assert _step_losses(cut) == _step_losses(whole.run_dir) and _evals(cut) == _evals(whole.run_dir)
    assert _weights_diff(cut / "last", whole.run_dir / "last") == 0.0


def test_time_checkpoints_off_at_zero(tiny_model_dir, small_csv, tmp_path, monkeypatch):
    from ftstudio.engine.training import trainer as trainer_module

    clock = FakeClock()
    monkeypatch.setattr(trainer_module, "monotonic", clock)
    recorder = Ticking(clock)
    settings = tiny_settings(tiny_model_dir, small_csv, epochs=1, eval_steps=STEPS_PER_EPOCH, save_steps=0,
                             save_minutes=0)
    assert train(settings, tmp_path / "run", reporter=recorder).status == "finished"
    assert [c.step for c in recorder.checkpoints] == [len(recorder.steps)]


# ------------------------------------------------------------------ `ftstudio train` and signals
@pytest.fixture(scope="module")
def longer_csv(tmp_path_factory) -> Path:
    """400 rows: 45 steps an epoch, so a signal after step 2 lands well inside the first epoch."""
    from tests.conftest import make_texts, write_csv

    return write_csv(tmp_path_factory.mktemp("data") / "longer.csv", make_texts(400, seed=2))


def _cli_settings(model: Path, data: Path) -> TrainSettings:
    return TrainSettings(model=str(model), data=str(data), epochs=1, batch_size=8, max_length=32, learning_rate=2e-3,
                         seed=7, log_steps=1)


@pytest.fixture(scope="module")
def uninterrupted(tiny_model_dir, longer_csv, tmp_path_factory) -> Path:
    result = train(_cli_settings(tiny_model_dir, longer_csv), tmp_path_factory.mktemp("ref") / "run")
    assert result.status == "finished", result.message
    return result.run_dir


def _start_cli(model: Path, data: Path, run_dir: Path, slow_save: float = 0.0) -> subprocess.Popen:
    args = ["train", "--model", str(model), "--data", str(data), "--epochs", "1", "--batch-size", "8",
            "--max-length", "32", "--lr", "2e-3", "--seed", "7", "--set", "log_steps=1", "--output", str(run_dir)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "FTSTUDIO_TEST_SLOW_SAVE": str(slow_save)}
    return subprocess.Popen([sys.executable, "-c", HELPER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def _read_until(proc: subprocess.Popen, predicate) -> str:
    for line in proc.stdout:
        if predicate(line):
            return line
    raise AssertionError(f"the run ended first: {proc.wait()} {proc.stderr.read()[-2000:]}")


@posix_only
@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP", "SIGTERM-again-while-saving"])
def test_a_shutdown_signal_in_the_first_epoch_stops_saves_and_resumes_exactly(tiny_model_dir, longer_csv, tmp_path,
                                                                               uninterrupted, how):
    signum = signal.SIGHUP if how == "SIGHUP" else signal.SIGTERM
    again = how.endswith("while-saving")
    run_dir = tmp_path / "run"
    proc = _start_cli(tiny_model_dir, longer_csv, run_dir, slow_save=0.4 if again else 0.0)
    _read_until(proc, lambda line: line.startswith("step") and int(line.split()[1].split("/")[0]) >= 2)
    signalled = time.monotonic()
    proc.send_signal(signum)
    if again:  # more SIGTERMs inside the two dangerous moments of the stop's save
        for moment in ("KILLPOINT write", "KILLPOINT publish"):
            _read_until(proc, lambda line, moment=moment: line.startswith(moment))
            proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    seconds = time.monotonic() - signalled
    print(f"\n{how}: exit {proc.returncode} {seconds:.2f} s after the signal")
    assert proc.returncode == 128 + signum, err
    assert seconds < EXIT_WITHIN_S
    assert "Traceback" not in err
    status = runs.read_status(run_dir)
    assert status["status"] == "stopped"
    assert f"shutdown signal ({signal.Signals(signum).name})" in status["message"]
    assert f"--resume {run_dir}" in status["message"]
    stopped_at = _step_of(run_dir / "last")
    assert f"Stopped at step {stopped_at} " in status["message"]
    assert 2 <= stopped_at < 45  # the signal's step, in the first epoch, which has no other checkpoint
    assert (run_dir / "checkpoints" / f"step-{stopped_at}").is_dir()
    assert not list((run_dir / "checkpoints").glob(".tmp-*"))

    resumed = subprocess.run([sys.executable, "-m", "ftstudio", "train", "--resume", str(run_dir), "--quiet"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert runs.read_status(run_dir)["status"] == "finished"
    assert _step_losses(run_dir) == _step_losses(uninterrupted)
    assert _evals(run_dir) == _evals(uninterrupted)
    diff = _weights_diff(run_dir / "last", uninterrupted / "last")
    print(f"{how}: stopped at step {stopped_at}; resumed weights vs uninterrupted: max abs diff {diff}")
    assert diff == 0.0


# ------------------------------------------------------------------ the window's training child
@posix_only
@pytest.mark.slow
def test_sigterm_to_the_training_child_stops_and_saves(tiny_model_dir, small_csv, runs_dir):
    from ftstudio.engine.training.child_process import TrainingProcess
    from tests.engine.training.test_child_process import Everything

    process = TrainingProcess(tiny_settings(tiny_model_dir, small_csv, epochs=50), runs_dir, None)

    class TermAtSecondStep(Everything):
        def on_step(self, event):
            super().on_step(event)
            if len(self.steps) == 2:
                os.kill(process._process.pid, signal.SIGTERM)

    process.start()
    result = process.relay(TermAtSecondStep())
    assert result["status"] == "stopped", result
    assert "shutdown signal (SIGTERM)" in result["message"] and "--resume" in result["message"]
    run_dir = Path(result["run_dir"])
    assert runs.read_status(run_dir)["status"] == "stopped"
    assert f"Stopped at step {_step_of(run_dir / 'last')} " in result["message"]
    assert process._process.returncode == 0


@pytest.mark.slow
def test_a_child_whose_window_died_saves_and_stops(tiny_model_dir, small_csv, runs_dir):
    """The window SIGKILLed: the child's stdin ends and its stdout and stderr lose their reader."""
    from ftstudio.engine.training.child_process import child_command

    settings = tiny_settings(tiny_model_dir, small_csv, epochs=50)
    child = subprocess.Popen(child_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, bufsize=1)
    child.stdin.write(json.dumps({"settings": settings.to_dict(), "runs_dir": str(runs_dir),
                                  "resume_run_dir": None}) + "\n")
    child.stdin.flush()
    run_dir = None
    for line in child.stdout:
        message = json.loads(line)
        if message.get("call") == "on_info":
            run_dir = Path(message["args"][0]["run_dir"])
        if message.get("call") == "on_step" and message["args"][0]["step"] >= 2:
            break
    assert run_dir is not None
    for stream in (child.stdin, child.stdout, child.stderr):  # what the kernel does to a killed window
        stream.close()
    assert child.wait(timeout=30) == 0
    status = runs.read_status(run_dir)
    assert status["status"] == "stopped", status
    assert "window going away" in status["message"] and "--resume" in status["message"]
    step = _step_of(run_dir / "last")
    assert step >= 2 and f"Stopped at step {step} " in status["message"]
    control = TrainingControl()  # the checkpoint resumes: one more step, then stop
    resumed = train(run_dir=run_dir, resume=True, reporter=Recorder(control, stop_at=step + 1), control=control)
    assert resumed.status == "stopped" and _step_of(run_dir / "last") == step + 1
