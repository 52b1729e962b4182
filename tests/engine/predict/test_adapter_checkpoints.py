"""A LoRA run's checkpoints all predict: step folders (the adapter alone) load their base model
and the adapter, equal to the merged best/ and last/ of the same step; another adapter of the same
base reuses the base in memory; stock peft and transformers load best/ without ftstudio."""

from __future__ import annotations

import gc
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from ftstudio.cli.main import main
from ftstudio.engine.errors import CheckpointError
from ftstudio.engine.predict import adapter_checkpoints
from ftstudio.engine.predict.predictor import Predictor, load_predictor, resolve_checkpoint
from ftstudio.engine.runs.listing import read_checkpoint_step
from tests.lora_runs import lora_runs, steps

TEXTS = ["great flight love the crew", "awful delayed bag lost", "the seat on the plane", "happy thanks best"]


@pytest.fixture(scope="module")
def runs(tiny_model_dir, tmp_path_factory):
    return lora_runs(tiny_model_dir, tmp_path_factory)


def _step(run, step):
    return run / "checkpoints" / f"step-{step}"


def test_step_folders_predict_as_the_merged_checkpoints_of_their_step(runs):
    run = runs.a
    assert not (steps(run)[0] / "model.safetensors").exists()  # the adapter alone
    for name in ("best", "last"):
        merged = Predictor(run / name)
        assert merged.load_note is None  # merged weights, loaded as any checkpoint
        step = Predictor(_step(run, read_checkpoint_step(run / name)))
        assert step.load_note and step.label_names == merged.label_names == ["negative", "neutral", "positive"]
        assert step.task.name == "single-label" and step.max_length == 32
        np.testing.assert_allclose(step.logits(TEXTS), merged.logits(TEXTS), atol=1e-5)
        # The tester loads best/ and last/ by their adapter/: the same answers.
        np.testing.assert_allclose(Predictor(run / name, prefer_adapter=True).logits(TEXTS), merged.logits(TEXTS),
                                   atol=1e-5)
        assert [p.label for p in step.predict(TEXTS)] == [p.label for p in merged.predict(TEXTS)]


def test_adapters_of_one_base_share_it_and_other_labels_get_their_own(runs, base_loads):
    first, second = steps(runs.a)[0], steps(runs.b)[-1]
    alone = {folder: Predictor(folder).logits(TEXTS) for folder in (first, second)}  # (each on its own base)
    base_loads.clear()
    a = Predictor(first)
    b = Predictor(second)  # another run's adapter (other targets and rank), same base and labels
    a_last = Predictor(runs.a / "last", prefer_adapter=True)
    assert len(base_loads) == 1, base_loads
    assert a.model is b.model is a_last.model  # one model in memory
    assert "base model loaded" in a.load_note and b.load_note.endswith(adapter_checkpoints.REUSED_NOTE)
    # Taking turns on the shared base, each predicts with its own adapter.
    for _ in range(2):
        np.testing.assert_allclose(a.logits(TEXTS), alone[first], atol=1e-6)
        np.testing.assert_allclose(b.logits(TEXTS), alone[second], atol=1e-6)
    assert np.abs(alone[first] - alone[second]).max() > 1e-3  # (they differ: the switch is real)
    two = Predictor(steps(runs.two)[-1])  # a head for two labels: a base of its own
    assert len(base_loads) == 2 and two.model is not a.model and two.label_names == ["negative", "positive"]
    np.testing.assert_allclose(two.logits(TEXTS), Predictor(runs.two / "last").logits(TEXTS), atol=1e-5)
    # A predictor dropped takes its adapter off the base; the base goes with the last one.
    attached = a.adapter.base.peft.peft_config
    assert len(attached) == 3
    del b
    gc.collect()
    np.testing.assert_allclose(a.logits(TEXTS), alone[first], atol=1e-6)
    assert len(attached) == 2  # (removed at the next use, never during one)
    del a, a_last
    gc.collect()
    assert adapter_checkpoints.shared_bases() == 1  # (the two-label run's, still held by `two`)


def test_cli_predicts_with_a_step_folder_and_a_run_without_best(runs, tmp_path, capsys):
    step = steps(runs.a)[0]
    assert main(["predict", str(step), TEXTS[0], "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["label"] in ("negative", "neutral", "positive") and len(answer["probabilities"]) == 3
    # A LoRA run stopped before it published best/ and last/: its newest step folder predicts.
    copy = tmp_path / runs.a.name
    shutil.copytree(runs.a, copy, ignore=shutil.ignore_patterns("best", "last", ".lock"))
    assert resolve_checkpoint(copy) == steps(copy)[-1]
    assert load_predictor(copy).label_names == ["negative", "neutral", "positive"]


def _with_base(step, tmp_path, base: str):
    """A copy of a step folder whose adapter names another base model."""
    folder = tmp_path / "checkpoints" / step.name
    shutil.copytree(step, folder)
    config = json.loads((folder / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = base
    (folder / "adapter_config.json").write_text(json.dumps(config))
    return folder


def test_a_missing_base_model_is_one_clear_message(runs, tmp_path, capsys):
    step = steps(runs.a)[0]
    moved = _with_base(step, tmp_path / "moved", str(tmp_path / "gone" / "tiny-bert"))
    with pytest.raises(CheckpointError, match="is not there any more"):
        Predictor(moved)
    offline = _with_base(step, tmp_path / "hub", "someone/not-in-the-cache")
    with pytest.raises(CheckpointError, match="not in the Hugging Face cache .* offline mode is on"):
        Predictor(offline)
    assert main(["predict", str(moved), "hello"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "LoRA adapter of the base model" in err


def test_stock_peft_loads_best_adapter_as_transformers_loads_best(runs):
    import torch
    from peft import AutoPeftModelForSequenceClassification
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    best = runs.a / "best"
    tokenizer = AutoTokenizer.from_pretrained(best)
    encoded = tokenizer(TEXTS, padding=True, return_tensors="pt")
    peft_model = AutoPeftModelForSequenceClassification.from_pretrained(best / "adapter", num_labels=3).eval()
    merged = AutoModelForSequenceClassification.from_pretrained(best).eval()
    with torch.inference_mode():
        np.testing.assert_allclose(peft_model(**encoded).logits.numpy(), merged(**encoded).logits.numpy(), atol=1e-5)


def test_stock_pipeline_loads_best_without_peft(runs):
    code = ("import sys; sys.modules['peft'] = None\n"
            "from transformers import pipeline\n"
            f"answer = pipeline('text-classification', model={str(runs.a / 'best')!r})('great flight')\n"
            "assert 'peft' not in sys.modules or sys.modules['peft'] is None\n"
            "print(answer[0]['label'])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] in ("negative", "neutral", "positive")


def test_a_pretraining_runs_step_folder_fills_masks_as_its_last(tiny_model_dir, tmp_path):
    from ftstudio.engine.predict.language_checkpoints import checkpoint_objective
    from ftstudio.engine.training.train import train
    from tests.engine.training.test_train import tiny_settings
    from tests.language_models import write_corpus

    corpus = write_corpus(tmp_path / "corpus.txt", lines=60)
    result = train(tiny_settings(tiny_model_dir, corpus, task="pretrain", epochs=1, strategy="lora"), tmp_path / "runs")
    assert result.status == "finished", result.message
    step = steps(result.run_dir)[-1]
    assert read_checkpoint_step(result.run_dir / "last") == int(step.name.split("-")[1])
    assert checkpoint_objective(step) == "masked"
    from_step, merged = load_predictor(step), load_predictor(result.run_dir / "last")
    assert from_step.load_note and merged.load_note is None
    text = "the flight was [MASK] today"
    assert [c["token"] for c in from_step.fill_mask(text, 3)[0]] == [c["token"] for c in merged.fill_mask(text, 3)[0]]
    assert from_step.fill_mask(text, 1)[0][0]["score"] == pytest.approx(merged.fill_mask(text, 1)[0][0]["score"],
                                                                        abs=1e-5)
