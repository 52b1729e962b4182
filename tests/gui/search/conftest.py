"""A finished study made in a blink: an Optuna study in STUDY_DIR/study.db with ftstudio's record
and hand-made trials (complete, pruned, failed), as `ftstudio search` would leave it."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ftstudio.engine.settings import TrainSettings

SPACE = {"learning_rate": {"low": 1e-5, "high": 3e-4, "log": True}, "strategy": ["full", "bottom-1"]}
# (state, learning rate, strategy, value): trial 4 is the best.
TRIALS = [
    ("complete", 2e-5, "full", 0.61),
    ("complete", 1.2e-4, "bottom-1", 0.72),
    ("pruned", 1.5e-5, "bottom-1", 0.40),
    ("failed", 2.5e-4, "full", None),
    ("complete", 8e-5, "full", 0.83),
    ("complete", 5e-5, "bottom-1", 0.78),
    ("complete", 2.8e-4, "full", 0.55),
    ("complete", 3e-5, "full", 0.70),
]


def make_study(study_dir: Path, settings: TrainSettings, trials=TRIALS, budget: int = 10) -> Path:
    """STUDY_DIR with a study named "demo" holding `trials`; returns STUDY_DIR."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.trial import TrialState, create_trial

    from ftstudio.engine.search.study import STUDY_ATTR, StudyRecord, default_storage, write_pointer

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study_dir.mkdir(parents=True, exist_ok=True)
    storage = default_storage(study_dir)
    study = optuna.create_study(storage=storage, study_name="demo", direction="maximize")
    record = StudyRecord(settings.to_dict(), SPACE, {"trials": budget, "sampler": "tpe", "pruner": "median",
                                                     "seed": 42}, "accuracy", "maximize", str(study_dir))
    study.set_user_attr(STUDY_ATTR, record.to_dict())
    distributions = {"learning_rate": FloatDistribution(1e-5, 3e-4, log=True),
                     "strategy": CategoricalDistribution(["full", "bottom-1"])}
    states = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "failed": TrialState.FAIL}
    start = datetime(2025, 1, 1, 12, 0, 0)
    for number, (state, rate, strategy, value) in enumerate(trials):
        attrs = {"run_dir": str(study_dir / f"trial-{number:04d}")}
        if state == "pruned":
            attrs.update(pruned_at_epoch=0.4, message="pruned at epoch 0.4")
        if state == "failed":
            attrs["message"] = "Out of memory. Lower the batch size."
        trial = create_trial(state=states[state], value=value, params={"learning_rate": rate, "strategy": strategy},
                             distributions=distributions, user_attrs=attrs,
                             intermediate_values={4: value} if value is not None else {})
        trial.datetime_start = start + timedelta(minutes=3 * number)
        trial.datetime_complete = trial.datetime_start + timedelta(seconds=95 + 7 * number)
        study.add_trial(trial)
    write_pointer(study_dir, storage, "demo")
    return study_dir


@pytest.fixture
def finished_study(tmp_path, tiny_model_dir) -> Path:
    """A finished study over Setup-like fixed settings (the tiny model, a small csv)."""
    from tests.conftest import make_texts, write_csv

    data = write_csv(tmp_path / "data.csv", make_texts(60))
    settings = TrainSettings(model=str(tiny_model_dir), data=str(data), epochs=1, device="cpu")
    return make_study(tmp_path / "study", settings)


@pytest.fixture
def panel(qtbot, tmp_path):
    """A Search tab on its own, with default fixed settings and a runs folder of its own."""
    from ftstudio.gui.search.panel import SearchPanel

    widget = SearchPanel(None, lambda: TrainSettings(), tmp_path / "runs")
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()
