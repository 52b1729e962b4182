"""LoRA's layer plan from the safetensors header agrees with peft on the loaded model, exactly."""

from __future__ import annotations

import pytest

from ftstudio.engine.errors import SettingsError
from ftstudio.engine.models.adapter_plan import adapter_plan, short_names
from ftstudio.engine.models.files import model_info_from_files
from ftstudio.engine.models.sources import ModelSource
from ftstudio.engine.settings import TrainSettings

LABELS = 3


def _save(folder, model):
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Tiny random checkpoints as users bring them: a bare BertModel (like the embedded MiniLM,
    no base prefix, with a pooler), a LlamaForCausalLM and a GPT2LMHeadModel (Conv1D)."""
    import torch
    import transformers as t

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("adapter-plan")
    bert = t.BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=40, max_position_embeddings=64)
    llama = t.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                          tie_word_embeddings=False, pad_token_id=0)
    gpt2 = t.GPT2Config(vocab_size=64, n_embd=32, n_layer=2, n_head=2, n_positions=64, pad_token_id=0,
                        bos_token_id=1, eos_token_id=1)
    return {
        "bert": (_save(root / "bert", t.BertModel(bert)), t.BertForSequenceClassification),
        "llama": (_save(root / "llama", t.LlamaForCausalLM(llama)), t.LlamaForSequenceClassification),
        "gpt2": (_save(root / "gpt2", t.GPT2LMHeadModel(gpt2)), t.GPT2ForSequenceClassification),
    }


def _info(folder):
    return model_info_from_files(folder, ModelSource("folder", str(folder), folder.name))


def _peft_counts(checkpoints, arch, **lora):
    """(trainable, total, adapted module names) of the loaded classifier after attach_lora."""
    from transformers.utils import logging

    from ftstudio.engine.models.adapters import adapter_modules, attach_lora
    from ftstudio.engine.models.freezing import parameter_counts
    from ftstudio.engine.tasks.registry import TASKS

    folder, cls = checkpoints[arch]
    logging.set_verbosity_error()
    model = cls.from_pretrained(folder, num_labels=LABELS)
    attach_lora(model, TrainSettings(strategy="lora", **lora), TASKS["single-label"], str(folder), True)
    trainable, total = parameter_counts(model)
    return trainable, total, sorted(adapter_modules(model))


CASES = [
    ("bert", {}),
    ("bert", {"lora_targets": "query,value", "lora_rank": 4}),
    ("bert", {"lora_targets": "dense"}),  # the pooler's dense trains with the head, without an adapter
    ("bert", {"lora_targets": r"bert\.encoder\.layer\.1\.(attention\.self\.key|output\.dense)"}),
    ("bert", {"lora_embeddings": True, "lora_rank": 2}),
    ("bert", {"lora_targets": "word_embeddings,query"}),  # an adapter on the embedding table
    ("llama", {}),
    ("llama", {"lora_targets": "q_proj,v_proj", "lora_rank": 16}),
    ("llama", {"lora_targets": r"model\.layers\.\d+\.mlp\.(gate|down)_proj"}),
    ("llama", {"lora_embeddings": True}),
    ("gpt2", {}),
    ("gpt2", {"lora_targets": "c_attn"}),
]


@pytest.mark.parametrize(("arch", "lora"), CASES, ids=[f"{a}-{'-'.join(map(str, v.values())) or 'auto'}"
                                                       for a, v in CASES])
def test_plan_counts_what_peft_builds(checkpoints, arch, lora):
    settings = TrainSettings(strategy="lora", **lora)
    plan = adapter_plan(_info(checkpoints[arch][0]), settings.lora_rank, settings.lora_targets,
                        settings.lora_embeddings, num_labels=LABELS)
    trainable, total, adapted = _peft_counts(checkpoints, arch, **lora)
    assert (plan.trainable, plan.total) == (trainable, total)
    assert sorted(plan.adapted) == adapted
    assert not plan.estimate
    assert [row["name"] for row in plan.rows] == ["Embeddings", "Layer 1", "Layer 2", "Head"]
    assert plan.rows[-1]["trainable"] and plan.rows[0]["trainable"] == settings.lora_embeddings


def test_rows_name_each_layers_adapters(checkpoints):
    llama = adapter_plan(_info(checkpoints["llama"][0]))
    assert llama.rows[1]["adapters"] == ["q", "k", "v", "o", "gate", "up", "down"]
    # r x (in + out) each: q 32->32, k and v 32->16 (grouped heads), o, then 32->48 twice and 48->32
    assert llama.rows[1]["adapter_params"] == 8 * (64 + 48 + 48 + 64 + 80 + 80 + 80)
    bert = adapter_plan(_info(checkpoints["bert"][0]), targets="dense")
    assert bert.rows[2]["adapters"] == ["attention.output", "intermediate", "output"]
    assert bert.rows[0]["adapters"] == bert.rows[-1]["adapters"] == []
    gpt2 = adapter_plan(_info(checkpoints["gpt2"][0]))
    assert gpt2.rows[1]["adapters"] == ["c_attn", "attn.c_proj", "c_fc", "mlp.c_proj"]
    name, inn, out, params = gpt2.rows[1]["adapter_modules"][0]  # Conv1D stores (in, out)
    assert (name, inn, out, params) == ("transformer.h.0.attn.c_attn", 32, 96, 8 * 128)


def test_short_names():
    assert short_names(["self_attn.q_proj", "mlp.up_proj"]) == {"self_attn.q_proj": "q", "mlp.up_proj": "up"}
    assert short_names(["attention.q_lin", "ffn.lin1"]) == {"attention.q_lin": "q_lin", "ffn.lin1": "lin1"}


@pytest.mark.parametrize("targets", ["qury", "query,nothing", "(query", "foo.*"])
def test_bad_targets_are_refused_in_the_engines_words(checkpoints, targets):
    with pytest.raises(SettingsError) as planned:
        adapter_plan(_info(checkpoints["bert"][0]), targets=targets)
    with pytest.raises(SettingsError) as engine:
        _peft_counts(checkpoints, "bert", lora_targets=targets)
    assert planned.value.setting == engine.value.setting == "lora_targets"
    # The same sentence; only the model's name differs (the checkpoint's class, the loaded one's).
    planned_text = str(planned.value).replace("BertModel", "MODEL").split(" Its modules")[0].split(" (it must")[0]
    engine_text = str(engine.value).replace("BertForSequenceClassification", "MODEL")
    assert engine_text.startswith(planned_text)


@pytest.mark.parametrize("targets", [r"bert\.encoder\.layer\.0\..*", "attention"])
def test_targets_peft_cannot_wrap_are_refused_before_the_run(checkpoints, targets):
    with pytest.raises(SettingsError, match="lora_targets: ") as planned:
        adapter_plan(_info(checkpoints["bert"][0]), targets=targets)
    with pytest.raises(SettingsError, match="lora_targets: "):
        _peft_counts(checkpoints, "bert", lora_targets=targets)
    assert "not a linear or embedding" in str(planned.value) or "no linear or embedding" in str(planned.value)


def test_only_embeddings_that_train_in_full_adapt_nothing(checkpoints):
    with pytest.raises(SettingsError, match="lora_embeddings trains in full"):
        adapter_plan(_info(checkpoints["bert"][0]), targets="word_embeddings", embeddings=True)


def test_a_model_without_a_header_is_estimated(checkpoints):
    info = _info(checkpoints["bert"][0])
    info.source = ModelSource("hub", "someone/bert-tiny", "someone/bert-tiny", "someone/bert-tiny")
    plan = adapter_plan(info, rank=8, num_labels=LABELS)
    exact = adapter_plan(_info(checkpoints["bert"][0]), rank=8, num_labels=LABELS)
    assert plan.estimate and "Estimated" in plan.note
    assert plan.rows[1]["adapter_params"] == exact.rows[1]["adapter_params"]  # BERT-style names: right here
    assert adapter_plan(info, targets="not_a_bert_name").adapter_params == 0  # checked at the run, not here


def test_lora_trains_a_few_percent_of_the_embedded_model():
    from ftstudio.engine.models.sources import inspect_model

    plan = adapter_plan(inspect_model("default"), num_labels=2)
    assert 0.01 < plan.trainable / plan.total < 0.05
    assert plan.rows[1]["adapters"] == ["query", "key", "value", "attention.output", "intermediate", "output"]
