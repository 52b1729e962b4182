"""Tiny LoRA runs on the session's tiny BERT, trained once for the whole session: the engine's
and the tester's adapter tests use the same ones.

`a` and `b` share the base and the three labels (b adapts only query and value, at another
rank), `two` has two labels, so its head needs a base of its own. Every step folder is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.conftest import make_texts, write_csv

_made: dict[str, LoraRuns] = {}


@dataclass(frozen=True)
class LoraRuns:
    runs_dir: Path
    a: Path
    b: Path
    two: Path


def _train(model: Path, data: Path, runs_dir: Path, **changes) -> Path:
    from ftstudio.engine.settings import TrainSettings
    from ftstudio.engine.training.train import train

    settings = TrainSettings(**{**dict(model=str(model), data=str(data), epochs=1, batch_size=8, max_length=32,
                                       learning_rate=2e-2, log_steps=5, eval_steps=5, seed=7, strategy="lora",
                                       keep_checkpoints=10), **changes})
    result = train(settings, runs_dir=runs_dir)
    assert result.status == "finished", result.message
    return result.run_dir


def lora_runs(model: Path, root_factory) -> LoraRuns:
    """The three runs, made on first use (`root_factory`: pytest's tmp_path_factory)."""
    if str(model) not in _made:
        root = root_factory.mktemp("lora-runs")
        three = write_csv(root / "three.csv", make_texts(48))
        two = write_csv(root / "two.csv", make_texts(48, seed=1, classes=2))
        runs_dir = root / "runs"
        _made[str(model)] = LoraRuns(
            runs_dir,
            _train(model, three, runs_dir),
            _train(model, three, runs_dir, seed=3, lora_rank=4, lora_targets="query,value"),
            _train(model, two, runs_dir, seed=5),
        )
    return _made[str(model)]


def steps(run: Path) -> list[Path]:
    """The run's step folders, oldest first."""
    return sorted((run / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
