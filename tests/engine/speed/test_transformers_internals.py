"""Pins on the private transformers internals the speed levers rely on.

The levers reach past transformers' public API: attention-function registries, the shape and
call convention of BERT-style encoder layers, attribute names on their modules, the way a
classification model calls its base model. Each lever checks itself at run time and steps
aside when something no longer fits, so a transformers release that changes one of these would
not break a run; it would quietly make runs slower. These tests make such a change loud
instead, naming the lever, the internal and the installed transformers version, so whoever
upgrades transformers adapts the lever (or the supported range in pyproject.toml) knowingly.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
import transformers
from torch import nn

from ftstudio.engine.data.batching import TokenizedSplit
from ftstudio.engine.speed import fast_dropout, first_token_top_layer, frozen_features

VOCAB = 64
LEVER_FILES = {
    "fast dropout": "fast_dropout.py",
    "first-token top layer": "first_token_top_layer.py",
    "head-only feature cache": "frozen_features.py",
}


def changed(lever: str, internal: str) -> str:
    """The failure message: which lever, which internal, which transformers."""
    return (
        f"\n\nThe {lever} lever (ftstudio/engine/speed/{LEVER_FILES[lever]}) relies on a private transformers "
        f"internal that transformers {transformers.__version__} does not provide as the lever expects:\n"
        f"    {internal}\n"
        "At run time the lever would step aside (runs stay correct but get slower). Adapt the lever to this "
        "transformers, or keep transformers within the range pyproject.toml states.\n"
    )


def _parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def _tiny(model_type: str, attention: str | None = None) -> nn.Module:
    """A small random sequence-classification model of `model_type`, built from its config alone."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    if model_type == "distilbert":
        shape = dict(dim=32, n_layers=2, n_heads=4, hidden_dim=37)
    else:
        shape = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)
    if model_type == "electra":
        shape["embedding_size"] = 16
    config = AutoConfig.for_model(model_type, vocab_size=VOCAB, max_position_embeddings=64, num_labels=3, **shape)
    torch.manual_seed(0)
    kwargs = {"attn_implementation": attention} if attention else {}
    return AutoModelForSequenceClassification.from_config(config, **kwargs)


def _padded_batch(pad_id: int, rows: int = 4, width: int = 10) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    ids = torch.randint(5, VOCAB, (rows, width), generator=generator)
    mask = torch.ones(rows, width, dtype=torch.long)
    for row in range(1, rows):  # rows of different lengths: the attention mask matters
        ids[row, width - 2 * row:] = pad_id
        mask[row, width - 2 * row:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def _pad_id(model: nn.Module) -> int:
    return model.config.pad_token_id if model.config.pad_token_id is not None else 0


# ------------------------------------------------------------------ fast dropout
def test_attention_functions_can_still_be_registered_under_a_name_of_our_own():
    lever = "fast dropout"
    try:
        from transformers import AttentionInterface
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface
        from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
    except ImportError as exc:
        pytest.fail(changed(lever, f"transformers.AttentionInterface / masking_utils.AttentionMaskInterface ({exc})"))
    assert hasattr(AttentionInterface, "register") and hasattr(AttentionMaskInterface, "register"), changed(
        lever, "AttentionInterface.register / AttentionMaskInterface.register")
    assert "sdpa" in ALL_MASK_ATTENTION_FUNCTIONS, changed(lever, 'ALL_MASK_ATTENTION_FUNCTIONS["sdpa"]')
    assert fast_dropout._register_attention(), changed(lever, "registering an attention function")
    assert hasattr(ALL_ATTENTION_FUNCTIONS, "get_interface"), changed(
        lever, "ALL_ATTENTION_FUNCTIONS.get_interface(name, default)")
    assert ALL_ATTENTION_FUNCTIONS.get_interface(fast_dropout.ATTENTION_NAME, None) is \
        fast_dropout.sdpa_with_fast_dropout, changed(lever, "ALL_ATTENTION_FUNCTIONS.get_interface(name, default)")
    assert ALL_MASK_ATTENTION_FUNCTIONS[fast_dropout.ATTENTION_NAME] is ALL_MASK_ATTENTION_FUNCTIONS["sdpa"], \
        changed(lever, "a registered attention's mask function (sdpa's masks for our name)")


def test_sdpa_attention_forward_keeps_its_arguments_and_output_layout():
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    lever = "fast dropout"
    names = _parameters(sdpa_attention_forward)
    assert names[:5] == ["module", "query", "key", "value", "attention_mask"], changed(
        lever, f"sdpa_attention_forward(module, query, key, value, attention_mask, ...), now {names}")
    assert {"dropout", "scaling"} <= set(names), changed(lever, "sdpa_attention_forward's dropout= and scaling=")

    class Encoder(nn.Module):
        is_causal = False

    query = key = value = torch.randn(2, 4, 7, 8)  # [batch, heads, tokens, head size]
    out, weights = sdpa_attention_forward(Encoder(), query, key, value, None, dropout=0.0, scaling=None)
    assert out.shape == (2, 7, 4, 8) and weights is None, changed(
        lever, f"sdpa_attention_forward returning ([batch, tokens, heads, head size], None), now {tuple(out.shape)}")


def test_models_switch_attention_implementation_by_name():
    lever = "fast dropout"
    model = _tiny("bert")
    assert model.config._attn_implementation == "sdpa", changed(
        lever, f'BERT loading with config._attn_implementation == "sdpa", now {model.config._attn_implementation!r}')
    assert callable(getattr(model, "set_attn_implementation", None)), changed(
        lever, "PreTrainedModel.set_attn_implementation(name)")
    assert fast_dropout.use_fast_dropout(model, "cpu") > 0
    assert model.config._attn_implementation == fast_dropout.ATTENTION_NAME, changed(
        lever, "set_attn_implementation with a registered name (model refused or ignored it)")


def test_bert_attention_reaches_the_fast_attention_dropout_path(monkeypatch):
    """Encoder self-attention must tell it is not causal and hand over a boolean mask, else
    sdpa_with_fast_dropout passes every call on to stock sdpa."""
    from transformers.integrations import sdpa_attention

    lever = "fast dropout"
    model = _tiny("bert")
    fast_dropout.use_fast_dropout(model, "cpu")
    attention = model.base_model.encoder.layer[0].attention.self
    assert getattr(attention, "is_causal", None) is False, changed(lever, "BertSelfAttention.is_causal (False)")
    assert type(attention.dropout) is fast_dropout.FastDropout, changed(lever, "BertSelfAttention.dropout (nn.Dropout)")
    stock_calls = []
    original = sdpa_attention.sdpa_attention_forward

    def counted(*args, **kwargs):
        stock_calls.append(args[4].dtype if args[4] is not None else None)
        return original(*args, **kwargs)

    monkeypatch.setattr(sdpa_attention, "sdpa_attention_forward", counted)
    batch = _padded_batch(_pad_id(model))
    model.train()
    model(**batch)
    assert stock_calls == [], changed(
        lever, f"BERT's attention mask in CPU training: a boolean 4-D mask expected, got {stock_calls[:1]}")
    model.eval()
    with torch.no_grad():
        model(**batch)
    assert len(stock_calls) == model.config.num_hidden_layers  # evaluation: stock sdpa, as designed


# ------------------------------------------------------------------ first-token top layer
@pytest.mark.parametrize("model_type", sorted(first_token_top_layer.MODEL_TYPES))
def test_top_layers_are_still_built_like_berts(model_type):
    lever = "first-token top layer"
    model = _tiny(model_type)
    layers = getattr(getattr(model.base_model, "encoder", None), "layer", None)
    assert isinstance(layers, nn.ModuleList) and len(layers) > 0, changed(
        lever, f"{model_type}: model.base_model.encoder.layer (a ModuleList of layers)")
    layer = layers[-1]
    reason = first_token_top_layer.unavailable_reason(model)
    assert reason is None, changed(lever, f"{model_type}: the top layer's parts ({reason})")
    self_attention = layer.attention.self
    assert all(isinstance(getattr(self_attention, name), nn.Linear) for name in ("query", "key", "value")), changed(
        lever, f"{model_type}: attention.self.query/key/value as nn.Linear")
    assert isinstance(self_attention.dropout, nn.Dropout) and self_attention.config is model.config, changed(
        lever, f"{model_type}: attention.self.dropout and attention.self.config")
    assert _parameters(layer.attention.output.forward)[:2] == ["hidden_states", "input_tensor"], changed(
        lever, f"{model_type}: attention.output(hidden_states, input_tensor)")
    assert _parameters(layer.forward)[:2] == ["hidden_states", "attention_mask"], changed(
        lever, f"{model_type}: the layer's forward(hidden_states, attention_mask, ...)")
    hidden = torch.randn(2, 5, model.config.hidden_size)
    out = layer(hidden, None)
    assert isinstance(out, torch.Tensor) and out.shape == hidden.shape, changed(
        lever, f"{model_type}: a layer returning the hidden states tensor (not a tuple), got {type(out).__name__}")


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_the_encoder_calls_its_layers_with_hidden_states_and_a_4d_mask(attention):
    """The reduced forward is set on the layer object and takes (hidden_states, attention_mask)
    positionally; the mask is None or [batch, 1 or heads, queries, keys]."""
    lever = "first-token top layer"
    model = _tiny("bert", attention).eval()
    layer = model.base_model.encoder.layer[-1]
    seen = []

    def spy(hidden_states, attention_mask=None, *args, **kwargs):
        seen.append((hidden_states.shape, None if attention_mask is None else tuple(attention_mask.shape)))
        return hidden_states

    layer.forward = spy
    batch = _padded_batch(_pad_id(model))
    with torch.no_grad():
        model(**batch)
    rows, width = batch["input_ids"].shape
    assert len(seen) == 1, changed(lever, "BertLayer.__call__ running a forward set on the layer object")
    (hidden_shape, mask_shape), = seen
    assert hidden_shape == (rows, width, model.config.hidden_size), changed(
        lever, f"hidden_states as the layer's first argument, got shape {tuple(hidden_shape)}")
    assert mask_shape is not None and len(mask_shape) == 4 and mask_shape[0] == rows and mask_shape[-1] == width, \
        changed(lever, f"the {attention} attention mask handed to layers as [batch, 1|heads, queries, keys], "
                       f"got {mask_shape}")


def test_attention_functions_are_looked_up_as_the_reduced_layer_does():
    lever = "first-token top layer"
    try:
        from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
        from transformers.models.bert.modeling_bert import eager_attention_forward
    except ImportError as exc:
        pytest.fail(changed(lever, f"modeling_utils.ALL_ATTENTION_FUNCTIONS, modeling_bert.eager_attention_forward "
                                   f"({exc})"))
    assert hasattr(ALL_ATTENTION_FUNCTIONS, "get_interface"), changed(
        lever, "ALL_ATTENTION_FUNCTIONS.get_interface(name, default)")
    assert ALL_ATTENTION_FUNCTIONS.get_interface("eager", eager_attention_forward) is eager_attention_forward, \
        changed(lever, "ALL_ATTENTION_FUNCTIONS.get_interface('eager', default) giving the default")
    assert callable(ALL_ATTENTION_FUNCTIONS.get_interface("sdpa", None)), changed(lever, "the 'sdpa' attention")
    names = _parameters(eager_attention_forward)
    assert names[:5] == ["module", "query", "key", "value", "attention_mask"] and {"scaling", "dropout"} <= set(
        names), changed(lever, f"eager_attention_forward(module, query, key, value, attention_mask, scaling=, "
                               f"dropout=), now {names}")


@pytest.mark.parametrize("model_type", sorted(first_token_top_layer.MODEL_TYPES))
def test_the_reduced_top_layer_still_reproduces_each_model(model_type):
    lever = "first-token top layer"
    model = _tiny(model_type)
    reason = first_token_top_layer.use_first_token_top_layer(model, _padded_batch(_pad_id(model)))
    assert reason is None, changed(lever, f"{model_type}: the reduced top layer giving the model's logits ({reason})")


# ------------------------------------------------------------------ head-only feature cache
def test_base_model_outputs_are_built_and_read_as_the_stand_in_does():
    lever = "head-only feature cache"
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    hidden, pooled = torch.randn(2, 1, 4), torch.randn(2, 4)
    output = BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=pooled)
    assert output[0] is hidden and output[1] is pooled and output.last_hidden_state is hidden, changed(
        lever, "BaseModelOutputWithPooling(last_hidden_state=, pooler_output=) read as [0] and [1]")


@pytest.mark.parametrize("model_type", sorted(frozen_features.HEAD_READS_FIRST_TOKEN))
def test_each_head_still_trains_on_cached_first_token_states(model_type):
    """The classification model calls its base model through the attribute `base_model_prefix`
    names, with `inputs_embeds=`, and its head reads the first token only: the cached path must
    still give the full model's logits."""
    from contextlib import nullcontext

    from ftstudio.engine.models.freezing import apply_freeze
    from ftstudio.engine.settings import TrainSettings

    lever = "head-only feature cache"
    model = _tiny(model_type)
    prefix = getattr(model, "base_model_prefix", "")
    assert prefix and getattr(model, prefix, None) is model.base_model, changed(
        lever, f"{model_type}: model.base_model_prefix naming the base model's attribute ({prefix!r})")
    apply_freeze(model, "head")
    reason = frozen_features.cache_unavailable_reason(model, TrainSettings(strategy="head"), 100)
    assert reason is None, changed(lever, f"{model_type}: {reason}")
    batch = _padded_batch(_pad_id(model))
    lengths = batch["attention_mask"].sum(dim=1).numpy()
    ids = [row[:n].tolist() for row, n in zip(batch["input_ids"], lengths)]
    split = TokenizedSplit(ids, np.arange(len(ids)) % 3, lengths)
    cache = frozen_features.FeatureCache.build(model, {"train": split}, ["train"], device=torch.device("cpu"),
                                               autocast=nullcontext, batch_size=2, pad_token_id=_pad_id(model))
    assert cache is not None, changed(
        lever, f"{model_type}: the head on cached first-token states (via base_model_prefix and inputs_embeds=) "
               "giving the full model's logits")
