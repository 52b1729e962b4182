"""strategy lora end to end on tiny models: what trains, the run folder (adapter step folders,
merged best/ and last/), every task type, resume bit for bit, and the refusals."""

from __future__ import annotations

import json

import pytest

from ftstudio.engine.errors import SettingsError
from ftstudio.engine.events import TrainingControl
from ftstudio.engine.runs import folder as runs
from ftstudio.engine.training.train import train
from tests.conftest import make_texts, write_csv
from tests.engine.training.test_train import Recorder, _step_losses, tiny_settings
from tests.language_models import build_headless_encoder, build_masked_lm, build_tiny_decoder, write_corpus
from tests.task_data import write_multilabel, write_ner, write_pairs, write_regression

LORA = dict(strategy="lora", lora_rank=4, learning_rate=5e-3)


@pytest.fixture(scope="module")
def lora_run(tiny_model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lora")
    data = write_csv(tmp / "d.csv", make_texts(120))
    recorder = Recorder()
    result = train(tiny_settings(tiny_model_dir, data, test_split=0.2, **LORA), tmp / "run", reporter=recorder)
    assert result.status == "finished", result.message
    return result.run_dir, recorder


def _adapter_weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def test_only_the_adapters_and_the_head_train(lora_run):
    _, recorder = lora_run
    info = recorder.infos[-1]
    assert 0 < info["trainable_params"] < info["total_params"]
    lines = [line for line in recorder.logs if line.startswith("LoRA:")]
    assert lines == ["LoRA: rank 4, alpha 16, adapters on 12 modules (query, key, value, attention.output.dense, "
                     "intermediate.dense, output.dense); the head trains in full."]


def test_step_folders_hold_the_adapter_and_best_last_the_merged_model(lora_run):
    run_dir, _ = lora_run
    steps = sorted((run_dir / "checkpoints").iterdir())
    assert steps
    for step in steps:
        assert (step / "adapter_config.json").is_file() and not (step / "model.safetensors").exists()
        names = set(_adapter_weights(step))
        assert names and all("lora_" in name or "classifier" in name or "pooler" in name for name in names)
    for name in ("best", "last"):
        folder = run_dir / name
        assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
        assert (folder / "adapter" / "adapter_config.json").is_file()
    config = json.loads((run_dir / "last" / "adapter" / "adapter_config.json").read_text())
    assert config["r"] == 4 and config["peft_type"] == "LORA" and config["base_model_name_or_path"]
    last_step = json.loads((run_dir / "last" / "trainer_state.json").read_text())["global_step"]
    assert last_step == max(int(p.name.split("-")[1]) for p in steps)
    card = (run_dir / "best" / "README.md").read_text()
    assert "| strategy | lora |" in card and "| lora_rank | 4 |" in card


def test_the_test_split_is_measured_with_the_best_adapter(lora_run):
    """The test split is evaluated once, at the end, after best/'s adapter is loaded into the model."""
    run_dir, recorder = lora_run
    tests = [event for event in recorder.evals if event.split == "test"]
    assert len(tests) == 1 and 0 <= tests[0].metrics["accuracy"] <= 1


def test_merged_best_equals_base_plus_adapter_and_loads_without_peft(lora_run, tiny_model_dir):
    """best/ is the model with its adapter folded in: stock transformers reads it, and its logits
    are those of the base model carrying best/adapter."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    run_dir, _ = lora_run
    best = run_dir / "best"
    merged = AutoModelForSequenceClassification.from_pretrained(best).eval()
    labels = merged.config.id2label
    base = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=len(labels))
    adapted = PeftModel.from_pretrained(base, best / "adapter").eval()
    inputs = AutoTokenizer.from_pretrained(best)(["good great flight", "bad delayed bag"], return_tensors="pt",
                                                 padding=True)
    with torch.no_grad():
        assert torch.allclose(merged(**inputs).logits, adapted(**inputs).logits, atol=1e-5)
    assert pipeline("text-classification", model=str(best))("good")[0]["label"] in labels.values()


LORA_TASKS = {
    "multi-label": lambda tmp: (write_multilabel(tmp / "ml.jsonl", n=120), {}),
    "regression": lambda tmp: (write_regression(tmp / "reg.csv"), {"task": "regression"}),
    "pairs": lambda tmp: (write_pairs(tmp / "pairs.csv"), {}),
    "token-classification": lambda tmp: (write_ner(tmp / "ner.conll", n=80), {}),
}


@pytest.mark.parametrize("task", sorted(LORA_TASKS))
def test_every_classification_task_trains_with_lora(tiny_model_dir, tmp_path, task):
    data, changes = LORA_TASKS[task](tmp_path)
    result = train(tiny_settings(tiny_model_dir, data, epochs=1, **LORA, **changes), tmp_path / "run")
    assert result.status == "finished", result.message
    assert (result.run_dir / "best" / "model.safetensors").is_file()
    assert (result.run_dir / "best" / "adapter" / "adapter_model.safetensors").is_file()
    if task == "regression":  # best/ predicts in the data's units (1..5), not the standardised training ones
        from ftstudio.engine.predict.predictor import Predictor

        values = [p.value for p in Predictor(result.run_dir).predict(["great happy flight", "awful lost bag"])]
        assert all(1.0 < value < 5.0 for value in values), values


def test_a_decoder_continues_pre_training_with_lora_and_its_head_stays_frozen(tmp_path):
    model = build_tiny_decoder(tmp_path / "llama")
    corpus = write_corpus(tmp_path / "corpus.txt", lines=80)
    recorder = Recorder()
    result = train(tiny_settings(model, corpus, task="pretrain", epochs=1, **LORA), tmp_path / "run",
                   reporter=recorder)
    assert result.status == "finished", result.message
    assert any(line.endswith("everything else stays frozen.") for line in recorder.logs)
    names = set(_adapter_weights(result.run_dir / "best" / "adapter"))
    assert names and all("lora_" in name for name in names)


def test_a_stopped_lora_run_resumes_bit_for_bit(tiny_model_dir, tmp_path):
    data = write_csv(tmp_path / "d.csv", make_texts(96))
    settings = tiny_settings(tiny_model_dir, data, epochs=2, eval_steps=4, **LORA)
    whole = train(settings, tmp_path / "whole")
    control = TrainingControl()
    cut = train(settings, tmp_path / "cut", control=control, reporter=Recorder(control, stop_at=5))
    assert cut.status == "stopped", cut.message
    assert (tmp_path / "cut" / "last" / "adapter").is_dir()  # a stop publishes the merged last/ too
    resumed = train(run_dir=tmp_path / "cut", resume=True)
    assert whole.status == resumed.status == "finished", resumed.message
    one, two = _adapter_weights(tmp_path / "whole" / "last" / "adapter"), _adapter_weights(tmp_path / "cut" / "last" / "adapter")
    assert one.keys() == two.keys()
    assert max(float((one[k] - two[k]).abs().max()) for k in one) < 1e-6
    assert _step_losses(tmp_path / "whole") == pytest.approx(_step_losses(tmp_path / "cut"), abs=1e-6)


def test_layer_wise_decay_gives_each_layers_adapters_its_rate(tiny_model_dir):
    from ftstudio.engine.models.adapters import attach_lora
    from ftstudio.engine.models.freezing import optimizer_param_groups
    from ftstudio.engine.models.loading import load_for_classification
    from ftstudio.engine.settings import TrainSettings
    from ftstudio.engine.tasks.registry import TASKS

    model, _ = load_for_classification(str(tiny_model_dir), ["a", "b"])
    attach_lora(model, TrainSettings(**LORA), TASKS["single-label"], str(tiny_model_dir), new_head=True)
    groups = optimizer_param_groups(model, 1e-3, 0.0, layerwise_lr_decay=0.5)
    names = {id(p): n for n, p in model.named_parameters()}
    rates = {names[id(p)]: group["lr"] for group in groups for p in group["params"] if p.requires_grad}
    assert rates and all("lora_" in n or "modules_to_save" in n for n in rates)
    top = [rate for name, rate in rates.items() if ".layer.1." in name]
    bottom = [rate for name, rate in rates.items() if ".layer.0." in name]
    head = [rate for name, rate in rates.items() if "classifier" in name]
    assert set(head) == {1e-3} and set(top) == {5e-4} and set(bottom) == {2.5e-4}


@pytest.mark.parametrize(("changes", "setting", "words"), [
    (dict(lora_targets="nonexistent"), "lora_targets", "no linear or embedding module named 'nonexistent'"),
    (dict(lora_targets="query,("), "lora_targets", "not a valid regular expression"),
    (dict(lora_targets=r"classifier\.weight"), "lora_targets", "matches no linear or embedding module"),
    (dict(reinit_top_layers=1), "reinit_top_layers", "re-initialised layers would stay random"),
])
def test_lora_refusals_name_the_setting_and_leave_no_run_folder(tiny_model_dir, tmp_path, changes, setting, words):
    data = write_csv(tmp_path / "d.csv", make_texts(40))
    result = train(tiny_settings(tiny_model_dir, data, **LORA, **changes), runs_dir=tmp_path / "runs")
    assert result.status == "failed" and result.input_error, result.message
    assert result.message.startswith(f"{setting}:") and words in result.message
    assert not (tmp_path / "runs").exists() or not any(runs.is_run_dir(p) for p in (tmp_path / "runs").iterdir())


def test_lora_pre_training_refuses_a_model_without_its_language_model_head(tmp_path):
    encoder = build_headless_encoder(tmp_path / "bare", build_masked_lm(tmp_path / "bert"))
    corpus = write_corpus(tmp_path / "corpus.txt", lines=40)
    result = train(tiny_settings(encoder, corpus, task="pretrain", **LORA), runs_dir=tmp_path / "runs")
    assert result.status == "failed" and result.input_error
    assert "gets a new, untrained one here" in result.message


def test_strategy_lora_is_parsed_and_lora_settings_are_checked():
    from ftstudio.engine.settings import TrainSettings

    assert TrainSettings(strategy="LoRA").validate().strategy_kind == "lora"
    with pytest.raises(SettingsError, match="lora_rank: must be between 1 and 1024"):
        TrainSettings(strategy="lora", lora_rank=0).validate()
    with pytest.raises(SettingsError, match="lora_targets: must not be empty"):
        TrainSettings(strategy="lora", lora_targets=" ").validate()
