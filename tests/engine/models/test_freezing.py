"""Freezing strategies, layer groups across architectures, re-initialisation and param groups."""

from __future__ import annotations

import pytest
import torch

from ftstudio.engine.errors import SettingsError
from ftstudio.engine.models.files import local_tensor_shapes, split_parameter_counts
from ftstudio.engine.models.freezing import (
    apply_freeze,
    layer_groups,
    layer_plan,
    layer_table,
    optimizer_param_groups,
    parameter_counts,
    reinit_top_layers,
)
from ftstudio.engine.models.loading import load_for_classification
from ftstudio.engine.models.sources import inspect_model

LABELS = ["negative", "positive", "neutral"]


@pytest.fixture(scope="module")
def model4(tiny_model_4l_dir):
    model, _ = load_for_classification(str(tiny_model_4l_dir), LABELS)
    return model


@pytest.fixture
def model(model4):
    apply_freeze(model4, "full")
    return model4


def trainable_prefixes(model) -> set[str]:
    """Which parts train: 'embeddings', 'layer.<i>', 'pooler', 'classifier'."""
    parts = set()
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if ".layer." in name:
            parts.add("layer." + name.split(".layer.")[1].split(".")[0])
        elif "embeddings" in name:
            parts.add("embeddings")
        elif "pooler" in name:
            parts.add("pooler")
        else:
            parts.add("classifier")
    return parts


HEAD = {"pooler", "classifier"}
LAYERS = {f"layer.{i}" for i in range(4)}


@pytest.mark.parametrize(
    "kind, n, expected",
    [
        ("full", 0, HEAD | LAYERS | {"embeddings"}),
        ("head", 0, HEAD),
        ("embeddings", 0, HEAD | LAYERS),
        ("bottom", 2, HEAD | {"layer.2", "layer.3"}),
        ("bottom", 0, HEAD | LAYERS),
        ("bottom", 4, HEAD),
        ("bottom-3", 0, HEAD | {"layer.3"}),
    ],
)
def test_strategy_trainable_sets(model, kind, n, expected):
    trainable, total = apply_freeze(model, kind, n)
    assert trainable_prefixes(model) == expected
    assert (trainable, total) == parameter_counts(model)


@pytest.mark.parametrize(
    "epoch, expected",
    [
        (0, HEAD),
        (1, HEAD | {"layer.3"}),
        (2, HEAD | {"layer.2", "layer.3"}),
        (4, HEAD | LAYERS),
        (5, HEAD | LAYERS | {"embeddings"}),
        (9, HEAD | LAYERS | {"embeddings"}),
    ],
)
def test_gradual_unfreezing_by_epoch(model, epoch, expected):
    apply_freeze(model, "gradual", epoch=epoch)
    assert trainable_prefixes(model) == expected


def test_bottom_beyond_layer_count_names_setting(model):
    with pytest.raises(SettingsError, match=r"bottom-5.*\(4\)") as info:
        apply_freeze(model, "bottom", 5)
    assert info.value.setting == "strategy"


def test_param_groups_cover_everything_once(model):
    apply_freeze(model, "head")  # frozen parameters are still included
    lr, decay = 1e-3, 0.5
    groups = optimizer_param_groups(model, lr, 0.01, layerwise_lr_decay=decay)
    seen = [id(p) for group in groups for p in group["params"]]
    assert len(seen) == len(set(seen)) == len(list(model.parameters()))
    by_name = {group["name"]: group for group in groups}
    assert by_name["head"]["lr"] == lr
    assert by_name["layer_4"]["lr"] == pytest.approx(lr * decay)
    assert by_name["layer_1"]["lr"] == pytest.approx(lr * decay**4)
    assert by_name["embeddings"]["lr"] == pytest.approx(lr * decay**5)
    names = {id(p): n for n, p in model.named_parameters()}
    for group in groups:
        for param in group["params"]:
            no_decay = names[id(param)].endswith("bias") or "LayerNorm" in names[id(param)]
            assert group["weight_decay"] == (0.0 if no_decay else 0.01), names[id(param)]
            assert group["name"].endswith(".no_decay") == no_decay


def test_frozen_params_in_optimizer_stay_put(tiny_model_4l_dir):
    model, tokenizer = load_for_classification(str(tiny_model_4l_dir), LABELS)
    apply_freeze(model, "head")
    optimizer = torch.optim.AdamW(optimizer_param_groups(model, 1e-2, 0.01))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    batch = tokenizer(["great flight", "awful bag"], padding=True, return_tensors="pt")
    model(**batch, labels=torch.tensor([1, 0])).loss.backward()
    optimizer.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p)}
    assert changed and all(n.startswith(("classifier", "bert.pooler")) for n in changed)
    apply_freeze(model, "gradual", epoch=1)  # unfreeze the top layer without a new optimizer
    optimizer.zero_grad()
    model(**batch, labels=torch.tensor([1, 0])).loss.backward()
    optimizer.step()
    assert not torch.equal(before["bert.encoder.layer.3.output.dense.weight"], model.bert.encoder.layer[3].output.dense.weight)
    assert torch.equal(before["bert.encoder.layer.2.output.dense.weight"], model.bert.encoder.layer[2].output.dense.weight)


def test_reinit_changes_exactly_top_layers(tiny_model_4l_dir):
    model, _ = load_for_classification(str(tiny_model_4l_dir), LABELS)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    torch.manual_seed(123)
    reinit_top_layers(model, 2)
    changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p)}
    top = {n for n in before if ".layer.2." in n or ".layer.3." in n}
    assert changed <= top
    assert {n for n in top if n.endswith("dense.weight") or n.endswith("key.weight")} <= changed
    with pytest.raises(SettingsError) as info:
        reinit_top_layers(model, 5)
    assert info.value.setting == "reinit_top_layers"


@pytest.mark.parametrize("strategy", ["full", "head", "embeddings", "bottom-0", "bottom-3", "gradual"])
@pytest.mark.parametrize("epoch", [0, 2, 5])
def test_layer_plan_agrees_with_loaded_model(model, tiny_model_4l_dir, strategy, epoch):
    info = inspect_model(str(tiny_model_4l_dir))
    plan = layer_plan(info, strategy, epoch=epoch, num_labels=len(LABELS))
    trainable, total = apply_freeze(model, strategy, epoch=epoch)
    assert (plan.trainable, plan.total) == (trainable, total)
    assert plan.rows == layer_table(model, strategy, epoch=epoch)
    assert [row["name"] for row in plan.rows] == ["Embeddings", "Layer 1", "Layer 2", "Layer 3", "Layer 4", "Head"]


def test_layer_plan_refuses_bad_strategies(tiny_model_4l_dir):
    info = inspect_model(str(tiny_model_4l_dir))
    with pytest.raises(SettingsError, match="strategy"):
        layer_plan(info, "bottom-9")
    with pytest.raises(SettingsError, match="strategy"):
        layer_plan(info, "top-2")


def _tiny_classifiers():
    import transformers as t

    small = dict(vocab_size=60, hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                 intermediate_size=40, max_position_embeddings=64, num_labels=3)
    return {
        "bert": (t.BertConfig(**small), t.BertForSequenceClassification, 3),
        "roberta": (t.RobertaConfig(**small), t.RobertaForSequenceClassification, 3),
        "xlm-roberta": (t.XLMRobertaConfig(**small), t.XLMRobertaForSequenceClassification, 3),
        "electra": (t.ElectraConfig(embedding_size=16, **small), t.ElectraForSequenceClassification, 3),
        "deberta-v2": (t.DebertaV2Config(relative_attention=True, pos_att_type=["p2c", "c2p"], **small),
                       t.DebertaV2ForSequenceClassification, 3),
        "albert": (t.AlbertConfig(embedding_size=16, **small), t.AlbertForSequenceClassification, 1),
        "distilbert": (t.DistilBertConfig(vocab_size=60, dim=32, n_layers=3, n_heads=2, hidden_dim=40,
                                          max_position_embeddings=64, num_labels=3),
                       t.DistilBertForSequenceClassification, 3),
    }


ARCHS = ["bert", "roberta", "xlm-roberta", "electra", "deberta-v2", "albert", "distilbert"]


@pytest.mark.parametrize("arch", ARCHS)
def test_layer_groups_across_architectures(arch, tmp_path):
    config, cls, expected_layers = _tiny_classifiers()[arch]
    model = cls(config)
    groups = layer_groups(model)
    assert len(groups.layers) == expected_layers
    parts = [groups.embedding_params, *groups.layer_params, groups.head_params]
    ids = [id(p) for part in parts for p in part]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    # The header parser (no torch) must split a saved checkpoint the same way.
    model.save_pretrained(tmp_path)
    counts = split_parameter_counts(local_tensor_shapes(tmp_path))
    assert counts["embeddings"] == sum(p.numel() for p in groups.embedding_params)
    assert counts["layers"] == [sum(p.numel() for p in ps) for ps in groups.layer_params]
    assert counts["pooler"] + counts["other"] == sum(p.numel() for p in groups.head_params)
    hidden = getattr(config, "hidden_size", None) or config.dim
    assert sum(p.numel() for p in groups.head_params) == hidden * hidden + hidden + (hidden + 1) * 3
    trainable, total = apply_freeze(model, "head")
    assert trainable == sum(p.numel() for p in groups.head_params) and total == parameter_counts(model)[1]
