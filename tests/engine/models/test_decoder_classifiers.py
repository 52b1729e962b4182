"""Decoder models (GPT-2, Llama, Qwen2, Mistral, Gemma) as text classifiers: loaded with a pad
token the model knows, pooled at the last real token by transformers itself whichever side a
tokenizer pads, split into layers for the strategies, given LoRA adapters on their projections,
trained by the engine with strategy full and lora, and predicted from best/ (ours and stock)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftstudio.engine.settings import TrainSettings
from ftstudio.engine.training.train import train
from tests.conftest import make_texts, write_csv
from tests.decoder_models import FAMILIES, LAYER_LISTS, PROJECTIONS, build_decoder
from tests.engine.training.test_train import Recorder
from tests.smollm2 import smollm2_folder

TEXTS = ["great flight", "my bag was lost and the crew was awful today", "the gate", "love the seat thanks"]
_BUILT: dict[str, Path] = {}


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


@pytest.fixture
def decoder(request, tmp_path_factory) -> Path:
    """The family's tiny checkpoint (built once per session)."""
    family = request.param
    if family not in _BUILT:
        _BUILT[family] = build_decoder(tmp_path_factory.mktemp(family) / family, family)
    return _BUILT[family]


def _load(folder: Path, labels=("negative", "positive")):
    from ftstudio.engine.models.loading import load_model_and_tokenizer

    return load_model_and_tokenizer(str(folder), list(labels))


@pytest.mark.parametrize("decoder", FAMILIES, indirect=True)
def test_pad_token_is_set_where_the_family_has_none_and_the_model_knows_it(decoder):
    original = json.loads((decoder / "tokenizer_config.json").read_text())
    loaded = _load(decoder)
    tokenizer, config = loaded.tokenizer, loaded.model.config
    assert tokenizer.pad_token is not None
    if original.get("pad_token") is None:  # GPT-2, Llama, Mistral: eos is borrowed
        assert tokenizer.pad_token == tokenizer.eos_token
    else:
        assert tokenizer.pad_token == original["pad_token"]
    assert config.pad_token_id == tokenizer.pad_token_id
    assert tokenizer.padding_side == "right"  # also the Llama tokenizer, saved padding left


def test_a_bf16_checkpoint_loads_in_float32_for_training(tmp_path):
    """Decoders are mostly published in bf16; transformers 5 would keep them so, and AdamW would
    then update bf16 weights (losing small updates) whatever the precision setting says."""
    import torch
    from transformers import AutoModelForCausalLM

    folder = build_decoder(tmp_path / "llama", "llama")
    AutoModelForCausalLM.from_pretrained(folder).to(torch.bfloat16).save_pretrained(folder)
    model = _load(folder).model
    assert {p.dtype for p in model.parameters()} == {torch.float32}


@pytest.mark.parametrize("decoder", FAMILIES, indirect=True)
def test_padded_rows_are_pooled_at_their_last_real_token(decoder):
    """transformers' own pooling on our right-padded batches gives each row what it gives the
    row alone (no padding at all)."""
    import numpy as np
    import torch

    from ftstudio.engine.data.batching import collate, tokenize_texts

    loaded = _load(decoder)
    model, tokenizer = loaded.model.eval(), loaded.tokenizer
    split = tokenize_texts(TEXTS, np.zeros(len(TEXTS), dtype=np.int64), tokenizer, max_length=32)
    batch = collate(split, np.arange(len(TEXTS)), tokenizer.pad_token_id)
    batch.pop("labels")
    assert (batch["attention_mask"] == 0).any()  # the rows really are padded
    with torch.no_grad():
        together = model(**batch).logits
        alone = torch.cat([model(**tokenizer(text, return_tensors="pt")).logits for text in TEXTS])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("decoder", FAMILIES, indirect=True)
def test_layer_groups_find_the_decoder_layers(decoder):
    from ftstudio.engine.models.freezing import layer_groups

    family = decoder.name
    model = _load(decoder).model
    groups = layer_groups(model)
    names = {id(module): name for name, module in model.named_modules()}
    assert [names[id(layer)] for layer in groups.layers] == [f"{LAYER_LISTS[family]}.{i}" for i in range(2)]
    assert [names[id(module)] for module in groups.head] == ["score"]
    everything = groups.embedding_params + groups.head_params + [p for ps in groups.layer_params for p in ps]
    assert len({id(p) for p in everything}) == len(everything) == len(list(model.parameters()))


@pytest.mark.parametrize("decoder", FAMILIES, indirect=True)
def test_lora_auto_targets_the_projections_of_every_layer(decoder):
    from ftstudio.engine.models.adapters import auto_targets

    family = decoder.name
    pattern, hit = auto_targets(_load(decoder).model)
    prefix = LAYER_LISTS[family]
    assert pattern.startswith(prefix.replace(".", r"\."))
    assert set(hit) == {f"{prefix}.{i}.{suffix}" for i in range(2) for suffix in PROJECTIONS[family]}


def _settings(model: Path, data: Path, strategy: str) -> TrainSettings:
    return TrainSettings(model=str(model), data=str(data), strategy=strategy, epochs=1, batch_size=8,
                         max_length=32, learning_rate=1e-2 if strategy == "lora" else 2e-3, eval_steps=3,
                         log_steps=1, seed=3, keep_checkpoints=1)


@pytest.mark.parametrize("strategy", ["full", "lora"])
@pytest.mark.parametrize("decoder", FAMILIES, indirect=True)
def test_decoder_classifier_trains_and_its_best_checkpoint_predicts(decoder, strategy, tmp_path):
    from transformers import pipeline

    from ftstudio.engine.predict.predictor import Predictor

    data = write_csv(tmp_path / "data.csv", make_texts(48, classes=2))
    recorder = Recorder()
    result = train(_settings(decoder, data, strategy), tmp_path / "run", reporter=recorder)
    assert result.status == "finished", result.message
    best = result.run_dir / "best"
    config = json.loads((best / "config.json").read_text())
    assert config["architectures"][0].endswith("ForSequenceClassification")
    saved_tokenizer = json.loads((best / "tokenizer_config.json").read_text())
    assert saved_tokenizer["pad_token"] is not None and saved_tokenizer.get("padding_side", "right") == "right"
    if strategy == "lora":
        assert (best / "adapter" / "adapter_model.safetensors").is_file()
        line = next(log for log in recorder.logs if log.startswith("LoRA:"))
        assert "adapters on 8 modules" in line if decoder.name == "gpt2" else "adapters on 14 modules" in line
        assert recorder.infos[0]["trainable_params"] < recorder.infos[0]["total_params"] / 2
    predictor = Predictor(best)
    together = predictor.predict(TEXTS)
    alone = [predictor.predict(text)[0] for text in TEXTS]
    for a, b in zip(together, alone, strict=True):
        assert a.label == b.label and a.score == pytest.approx(b.score, abs=1e-5)
    stock = pipeline("text-classification", model=str(best), device="cpu")(TEXTS)
    assert [s["label"] for s in stock] == [p.label for p in together]
    assert [s["score"] for s in stock] == pytest.approx([p.score for p in together], abs=1e-5)


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory) -> Path:
    return smollm2_folder(tmp_path_factory)


@pytest.mark.slow
def test_smollm2_learns_tweet_sentiment_with_lora_and_best_loads_in_a_stock_pipeline(smollm2, tmp_path):
    """A real decoder (SmolLM2-135M, Llama architecture, pad token borrowed from its tokenizer's
    eos) as a LoRA classifier: ~150 tweets, one epoch, one evaluation (each best/ is a merged
    half-gigabyte folder)."""
    from transformers import pipeline

    recorder = Recorder()
    settings = TrainSettings(model=str(smollm2), data="sample", strategy="lora", max_samples=150, epochs=1,
                             max_length=48, batch_size=16, learning_rate=5e-4, eval_steps=1000, seed=0,
                             keep_checkpoints=1)
    result = train(settings, tmp_path / "run", reporter=recorder)
    assert result.status == "finished", result.message
    assert recorder.infos[0]["trainable_params"] < recorder.infos[0]["total_params"] / 20
    best = result.run_dir / "best"
    classify = pipeline("text-classification", model=str(best), device="cpu")
    found = classify(["@united thanks, the crew was great", "@united lost my bag again, awful"])
    assert {row["label"] for row in found} <= {"negative", "neutral", "positive"}
    adapter = sum(path.stat().st_size for path in (best / "adapter").iterdir())
    merged = (best / "model.safetensors").stat().st_size
    assert 1e6 < adapter < 16e6 and adapter < merged / 20  # rank 8 on 210 projections + the head: ~9 MB
