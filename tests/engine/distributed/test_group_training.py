"""Several processes on CPU (gloo), end to end: the issue's promises, each on real processes.

- two processes with batch b train exactly as one process with batch 2b (losses, metrics and
  final weights to float tolerance; dropout off);
- Ctrl-C reaches both processes, which stop at one step and save it once; the resumed run ends
  with the weights of the uninterrupted two-process run;
- a process killed mid-run ends the other within seconds, and the run folder says what happened;
- `ftstudio train` started by torchrun joins torchrun's group.

Each start of a group costs a few seconds (two interpreters import torch), so the runs are
short and shared where they can be.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from safetensors.torch import load_file

from ftstudio.engine.runs.folder import read_metrics, read_status
from ftstudio.engine.settings import TrainSettings
from ftstudio.engine.training.train import train
from tests.conftest import build_tiny_model, make_texts, write_csv

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def quiet_model(tmp_path_factory) -> Path:
    """The tiny BERT with dropout off, so two processes and one compute the same numbers."""
    folder = build_tiny_model(tmp_path_factory.mktemp("group") / "bert")
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _settings(model: Path, data: Path, **changes) -> TrainSettings:
    base = dict(model=str(model), data=str(data), epochs=2, learning_rate=3e-3, classifier_dropout=0.0, seed=5,
                device="cpu", log_steps=2)
    return TrainSettings(**{**base, **changes})


def _weights(run: Path) -> dict:
    return load_file(str(run / "last" / "model.safetensors"))


def _largest_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def _records(run: Path, event: str) -> list[dict]:
    return [r for r in read_metrics(run) if r.get("event") == event]


def test_two_processes_with_batch_b_train_as_one_with_batch_2b(quiet_model, tmp_path):
    data = write_csv(tmp_path / "d.csv", make_texts(90))  # 81 training rows: the last global batch is uneven
    two = train(_settings(quiet_model, data, batch_size=4, processes=2), run_dir=tmp_path / "two")
    one = train(_settings(quiet_model, data, batch_size=8), run_dir=tmp_path / "one")
    assert two.status == one.status == "finished", (two.message, one.message)

    info = _records(tmp_path / "two", "info")[0]
    assert (info["processes"], info["global_batch"]) == (2, 8)
    steps_two, steps_one = _records(tmp_path / "two", "step"), _records(tmp_path / "one", "step")
    assert [s["step"] for s in steps_two] == [s["step"] for s in steps_one]
    for a, b in zip(steps_two, steps_one):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
    evals_two, evals_one = _records(tmp_path / "two", "eval"), _records(tmp_path / "one", "eval")
    assert len(evals_two) == len(evals_one) > 1
    for a, b in zip(evals_two, evals_one):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
        assert (a["accuracy"], a["f1"]) == pytest.approx((b["accuracy"], b["f1"]), abs=1e-9)
    difference = _largest_difference(_weights(tmp_path / "two"), _weights(tmp_path / "one"))
    assert difference < 1e-5
    # Training moved the weights by far more than the two runs differ: the comparison means something.
    start = load_file(str(quiet_model / "model.safetensors"))
    trained = _weights(tmp_path / "one")
    moved = max(float((trained[k] - start[k]).abs().max()) for k in trained if k in start)
    assert moved > 1000 * difference
    # rank 0 alone wrote the folder: one record per step, one checkpoint per save
    assert len({s["step"] for s in steps_two}) == len(steps_two)
    saved = [c["step"] for c in _records(tmp_path / "two", "checkpoint")]
    assert len(saved) == len(set(saved))


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ftstudio", "train", *args]


def _start(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_steps(run: Path, count: int, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (run / "metrics.jsonl").is_file() and len(_records(run, "step")) >= count:
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    raise AssertionError(f"no {count} steps within {timeout} s")


def _train_flags(model: Path, data: Path, run: Path) -> list[str]:
    return ["--model", str(model), "--data", str(data), "--epochs", "2", "--batch-size", "4", "--processes", "2",
            "--device", "cpu", "--log-steps", "1", "--seed", "7", "--learning-rate", "1e-3", "--eval-steps", "20",
            "--output", str(run), "--quiet"]


def test_ctrl_c_stops_both_processes_at_one_step_and_resume_equals_the_uninterrupted_run(tiny_model_dir, tmp_path):
    data = write_csv(tmp_path / "d.csv", make_texts(400))  # dropout on: each rank's random state must resume too
    whole = subprocess.run(_cli(*_train_flags(tiny_model_dir, data, tmp_path / "whole")), cwd=REPO,
                           capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr

    cut = tmp_path / "cut"
    process = _start(_cli(*_train_flags(tiny_model_dir, data, cut)))
    _wait_for_steps(cut, 5, process)
    process.send_signal(signal.SIGINT)  # a terminal's Ctrl-C reaches the launcher
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    status = read_status(cut)
    assert status["status"] == "stopped" and "Ctrl-C" in status["message"]
    step = status["step"]
    assert 5 <= step < 180
    assert [p.name for p in (cut / "checkpoints").iterdir()] == [f"step-{step}"]
    assert err.count("stopping at the next step") == 1  # rank 0 speaks for the group

    resumed = subprocess.run(_cli("--resume", str(cut), "--quiet"), cwd=REPO, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert read_status(cut)["status"] == "finished"
    assert _largest_difference(_weights(cut), _weights(tmp_path / "whole")) < 1e-6
    losses = {r["step"]: r["loss"] for r in _records(tmp_path / "whole", "step")}
    for record in _records(cut, "step"):
        assert record["loss"] == pytest.approx(losses[record["step"]], abs=1e-5)


def _rank_process(launcher: subprocess.Popen, rank: int) -> psutil.Process:
    for child in psutil.Process(launcher.pid).children(recursive=True):
        try:
            if child.environ().get("RANK") == str(rank) and "--group-worker" in " ".join(child.cmdline()):
                return child
        except psutil.Error:
            continue
    raise AssertionError(f"no process of rank {rank}")


@pytest.mark.parametrize("rank", [1, 0])
def test_a_killed_process_ends_the_group_within_seconds_and_the_status_says_so(tiny_model_dir, tmp_path, rank):
    data = write_csv(tmp_path / "d.csv", make_texts(600))
    run = tmp_path / "run"
    launcher = _start(_cli(*_train_flags(tiny_model_dir, data, run)))
    _wait_for_steps(run, 2, launcher)
    victim = _rank_process(launcher, rank)
    others = [p for p in psutil.Process(launcher.pid).children(recursive=True) if p.pid != victim.pid]
    victim.kill()
    killed = time.monotonic()
    _, err = launcher.communicate(timeout=60)
    assert time.monotonic() - killed < 15
    assert launcher.returncode == 1
    status = read_status(run)
    assert status["status"] == "failed"
    assert f"(rank {rank}) was killed by SIGKILL" in status["message"]
    assert "resume" in status["message"]
    assert f"(rank {rank}) was killed" in err
    gone, alive = psutil.wait_procs(others, timeout=10)
    assert not alive
    assert (run / "settings.json").is_file() and read_metrics(run)  # the folder stays readable


def test_ftstudio_train_started_by_torchrun_joins_its_group(tiny_model_dir, tmp_path):
    data = write_csv(tmp_path / "d.csv", make_texts(60))
    run = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "ftstudio", "train", "--model", str(tiny_model_dir), "--data", str(data), "--epochs", "1",
               "--batch-size", "4", "--device", "cpu", "--output", str(run)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert read_status(run)["status"] == "finished"
    info = _records(run, "info")[0]
    assert info["processes"] == 2 and info["global_batch"] == 8
    assert done.stdout.count("Finished. Run folder") == 1  # rank 0 alone prints


class _StopAtStep:
    """A reporter that asks the run to stop at a step: the window's Stop, as the launcher
    forwards it to rank 0 and rank 0 to the group."""

    def __init__(self, control, step: int) -> None:
        self.control, self.step = control, step

    def __getattr__(self, name):
        return lambda *args, **kwargs: None

    def on_step(self, event) -> None:
        if event.step >= self.step:
            self.control.request_stop()


def test_sharded_training_equals_one_process_and_stops_and_resumes_exactly(quiet_model, tmp_path):
    from transformers import pipeline

    from ftstudio.engine.events import TrainingControl

    data = write_csv(tmp_path / "d.csv", make_texts(90))
    sharded = dict(batch_size=4, processes=2, sharding="fsdp", grad_accum=2, log_steps=1)
    whole = train(_settings(quiet_model, data, **sharded), run_dir=tmp_path / "whole")
    one = train(_settings(quiet_model, data, batch_size=8, grad_accum=2, log_steps=1), run_dir=tmp_path / "one")
    assert whole.status == one.status == "finished", whole.message
    assert _largest_difference(_weights(tmp_path / "whole"), _weights(tmp_path / "one")) < 1e-5

    control = TrainingControl()
    cut = train(_settings(quiet_model, data, **sharded), run_dir=tmp_path / "cut", control=control,
                reporter=_StopAtStep(control, 3))
    assert cut.status == "stopped", cut.message
    stopped_at = read_status(tmp_path / "cut")["step"]
    assert 3 <= stopped_at < 10
    resumed = train(run_dir=tmp_path / "cut", resume=True)
    assert resumed.status == "finished", resumed.message
    assert _largest_difference(_weights(tmp_path / "cut"), _weights(tmp_path / "whole")) < 1e-6

    # The gathered checkpoint is a standard transformers folder with the dataset's labels.
    classify = pipeline("text-classification", model=str(tmp_path / "whole" / "best"))
    assert classify("great flight")[0]["label"] in {"negative", "neutral", "positive"}


def test_resuming_on_another_number_of_processes_continues_and_says_the_order_changed(quiet_model, tmp_path):
    from ftstudio.engine.events import TrainingControl

    data = write_csv(tmp_path / "d.csv", make_texts(90))
    control = TrainingControl()
    cut = train(_settings(quiet_model, data, batch_size=4, processes=2, log_steps=1), run_dir=tmp_path / "run",
                control=control, reporter=_StopAtStep(control, 3))
    assert cut.status == "stopped", cut.message

    logs = []
    reporter = _StopAtStep(TrainingControl(), 10**6)
    reporter.on_log = logs.append
    resumed = train(run_dir=tmp_path / "run", resume=True, processes=1, reporter=reporter)
    assert resumed.status == "finished", resumed.message
    assert any("continues on 1" in line and "data order" in line for line in logs), logs
    info = _records(tmp_path / "run", "info")
    assert [record["processes"] for record in info] == [2, 1]


def test_a_stop_before_the_group_has_started_stops_every_process_at_once(quiet_model, tmp_path):
    """The window's Stop pressed right after Start reaches rank 0 before it joins the group: it
    must still join, so the others learn of the stop instead of waiting for it."""
    from ftstudio.engine.events import TrainingControl

    data = write_csv(tmp_path / "d.csv", make_texts(60))
    control = TrainingControl()
    control.request_stop()
    started = time.monotonic()
    result = train(_settings(quiet_model, data, batch_size=4, processes=2, collective_timeout=1),
                   run_dir=tmp_path / "run", control=control)
    assert result.status == "stopped", result.message
    assert time.monotonic() - started < 45
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_gradual_unfreezing_resumed_mid_epoch_keeps_every_rank_in_step(quiet_model, tmp_path):
    """DDP fixes which parameters it exchanges when it is built: a resume in the middle of an
    epoch that trains more layers must rebuild it, or the ranks' weights drift apart silently."""
    from ftstudio.engine.events import TrainingControl

    data = write_csv(tmp_path / "d.csv", make_texts(90))
    gradual = dict(batch_size=4, processes=2, strategy="gradual", epochs=3, log_steps=1)
    whole = train(_settings(quiet_model, data, **gradual), run_dir=tmp_path / "whole")
    control = TrainingControl()
    cut = train(_settings(quiet_model, data, **gradual), run_dir=tmp_path / "cut", control=control,
                reporter=_StopAtStep(control, 13))  # 11 steps an epoch: inside the second epoch
    assert whole.status == "finished" and cut.status == "stopped", (whole.message, cut.message)
    assert train(run_dir=tmp_path / "cut", resume=True).status == "finished"
    assert _largest_difference(_weights(tmp_path / "cut"), _weights(tmp_path / "whole")) < 1e-6


def test_lora_on_two_processes_trains_as_one_process_with_the_global_batch(quiet_model, tmp_path):
    """DDP exchanges the adapters' and the head's gradients only; the frozen model is not in it."""
    data = write_csv(tmp_path / "d.csv", make_texts(40))
    lora = dict(strategy="lora", lora_rank=4, lora_dropout=0.0, learning_rate=5e-3, epochs=1)
    two = train(_settings(quiet_model, data, batch_size=4, processes=2, **lora), run_dir=tmp_path / "two")
    one = train(_settings(quiet_model, data, batch_size=8, **lora), run_dir=tmp_path / "one")
    assert two.status == one.status == "finished", (two.message, one.message)
    adapters = [load_file(str(tmp_path / run / "last" / "adapter" / "adapter_model.safetensors")) for run in ("two", "one")]
    assert adapters[0].keys() == adapters[1].keys()
    assert _largest_difference(*adapters) < 1e-5
    assert _largest_difference(_weights(tmp_path / "two"), _weights(tmp_path / "one")) < 1e-5
