"""Advice when the planned steps are too few for the learning rate (shown in Setup, logged at start)."""

from __future__ import annotations

import pytest

from ftstudio.engine.events import Reporter
from ftstudio.engine.settings import TrainSettings
from ftstudio.engine.training.advice import learning_rate_advice, rate_text, run_advice
from ftstudio.engine.training.train import train
from tests.engine.training.test_train import tiny_settings


@pytest.mark.parametrize(
    "steps,rate,optimizer,suggested",
    [
        (76, 5e-5, "adamw", 2e-4),  # the 600-row, 2-epoch, batch-16 trial
        (200, 5e-5, "adamw", 1e-4),  # 1e-4 is enough for 200 steps
        (76, 1e-4, "adamw", 2e-4),
        (76, 2e-4, "adamw", None),  # already suits it
        (20, 2e-4, "adamw", None),  # too short even so, but a higher rate is not the fix
        (300, 5e-5, "adamw", None),  # 300 steps at 5e-5 learn
        (1215, 5e-5, "adamw", None),  # the defaults
        (76, 5e-5, "sgd", None),  # SGD's rates are on another scale
        (0, 5e-5, "adamw", None),
    ],
)
def test_learning_rate_advice(steps, rate, optimizer, suggested):
    advice = learning_rate_advice(steps, rate, optimizer)
    assert (advice.learning_rate if advice else None) == suggested


def test_the_advice_reads_as_one_sentence_with_its_action():
    advice = learning_rate_advice(76, 5e-5)
    assert advice.message == ("Only 76 optimizer steps planned: at learning rate 5e-5 the model may not move off the "
                              "most common answer; 1e-4 to 2e-4 suits short trials.")
    assert advice.action == "Use 2e-4"
    assert learning_rate_advice(30, 5e-5).message.endswith("More epochs or rows would help too.")
    assert learning_rate_advice(76, 1e-4).message.endswith("; 2e-4 suits a run this short.")


def test_run_advice_counts_the_planned_steps_from_rows_and_settings():
    trial = TrainSettings(epochs=2, batch_size=16)
    assert run_advice(600, trial).learning_rate == 2e-4  # ceil(600 / 16) = 38 steps an epoch, 76 in all
    assert run_advice(600, trial.replace(learning_rate=2e-4)) is None
    assert run_advice(12_956, TrainSettings()) is None
    assert run_advice(600, trial.replace(max_steps=400)) is None


class _Logs(Reporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def on_log(self, message: str) -> None:
        self.lines.append(message)


def test_a_run_logs_its_schedule_and_the_advice_at_the_start(tiny_model_dir, small_csv, tmp_path):
    logs = _Logs()
    train(tiny_settings(tiny_model_dir, small_csv, learning_rate=5e-5, eval_steps=0), tmp_path / "run",
          reporter=logs)
    assert "Evaluating every ~3 steps and at each epoch's end: 10 evaluations, the first at step 3." in logs.lines
    assert any(line.startswith("Hint: Only 28 optimizer steps planned") for line in logs.lines)


@pytest.mark.parametrize("rate", [0.0, -1e-4, float("nan"), float("inf")])
def test_no_advice_on_a_rate_validation_refuses(rate):
    """The window asks for advice while the user types: a rate validation will refuse gets none
    (and no exception), so the refusal stays the one message shown."""
    assert learning_rate_advice(50, rate) is None
    assert rate_text(rate)  # still printable


def test_lora_at_a_full_fine_tuning_rate_is_advised_ten_times_higher():
    advice = learning_rate_advice(5000, 5e-5, strategy="lora")
    assert advice is not None and advice.learning_rate == 5e-4 and advice.action == "Use 5e-4"
    assert "LoRA adapters start from zero" in advice.message and "1e-4 to 1e-3 suits LoRA" in advice.message
    assert learning_rate_advice(5000, 5e-4, strategy="lora") is None
    assert learning_rate_advice(5000, 5e-5, strategy="full") is None
    assert run_advice(3000, TrainSettings(strategy="lora")).learning_rate == 5e-4
