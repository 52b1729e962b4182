"""The training memory estimate (models/memory.py): its arithmetic by hand, then its parts against
what a real tiny model holds on the CPU.

Measured: weights, gradients and optimizer state are summed from the tensors after one optimizer
step (they must match exactly: the estimate counts the same parameters). Activations are the
bytes autograd keeps for the backward pass (every tensor a saved-tensors hook sees, weights
excluded): torch has no peak-memory counter on the CPU, and this is the part the estimate
derives from the shapes. The estimate adds one layer "in flight" that no saved tensor shows (the
forward of frozen layers, the gradients flowing back; with checkpointing also the layer being
recomputed), so estimate - kept must come to about one layer (two with checkpointing).
"""

from __future__ import annotations

import pytest

from ftstudio.engine.models import memory
from ftstudio.engine.models.files import ModelInfo
from ftstudio.engine.models.memory import MemoryEstimate, estimate_training_memory
from ftstudio.engine.settings import TrainSettings

EMB, LAYER, H, INNER, HEADS = 72_000, 50_000, 64, 256, 4
HEAD3 = H * H + H + (H + 1) * 3  # an encoder's dense/pooler + classifier for 3 labels


def _bert_info(**changes) -> ModelInfo:
    fields = dict(source=None, architecture="BertForMaskedLM", model_type="bert", num_layers=2, hidden_size=H,
                  num_heads=HEADS, vocab_size=1000, max_position_embeddings=128,
                  num_parameters=EMB + 2 * LAYER, embedding_params=EMB, layer_params=[LAYER, LAYER],
                  intermediate_size=INNER)
    fields.update(changes)
    return ModelInfo(**fields)


def _estimate(info=None, labels=3, device_kind="cpu", **settings) -> MemoryEstimate:
    base = dict(batch_size=2, max_length=16, device=device_kind)
    base.update(settings)
    return estimate_training_memory(info or _bert_info(), TrainSettings(**base), labels, device_kind=device_kind)


# ------------------------------------------------------------------ arithmetic
def test_full_fine_tuning_with_adamw_in_fp32():
    total = EMB + 2 * LAYER + HEAD3
    found = _estimate(strategy="full")
    assert (found.weights, found.gradients, found.optimizer) == (4 * total, 4 * total, 8 * total)


@pytest.mark.parametrize(("strategy", "epochs", "trained"), [
    ("head", 1, HEAD3),
    ("embeddings", 1, 2 * LAYER + HEAD3),
    ("bottom-1", 1, LAYER + HEAD3),
    ("gradual", 1, HEAD3),  # its widest epoch: the last
    ("gradual", 2, LAYER + HEAD3),
    ("gradual", 4, EMB + 2 * LAYER + HEAD3),  # epoch 3 > 2 layers: the embeddings join
])
def test_the_strategy_decides_gradients_and_optimizer_state(strategy, epochs, trained):
    found = _estimate(strategy=strategy, epochs=epochs)
    assert found.weights == 4 * (EMB + 2 * LAYER + HEAD3)
    assert (found.gradients, found.optimizer) == (4 * trained, 8 * trained)


def test_sgd_keeps_one_momentum_buffer_or_none():
    total = EMB + 2 * LAYER + HEAD3
    assert _estimate(optimizer="sgd", momentum=0.9).optimizer == 4 * total
    assert _estimate(optimizer="sgd", momentum=0.0).optimizer == 0


def test_lora_trains_its_adapters_and_copies_of_the_head():
    r = 8
    per_layer = 4 * r * 2 * H + 2 * r * (H + INNER)  # q, k, v, o (h -> h) and the two feed-forward matrices
    trained = 2 * per_layer + HEAD3
    found = _estimate(strategy="lora", lora_rank=r)
    assert found.weights == 4 * (EMB + 2 * LAYER + HEAD3 + trained)  # the frozen model beside them
    assert (found.gradients, found.optimizer) == (4 * trained, 8 * trained)
    named = _estimate(strategy="lora", lora_rank=r, lora_targets="query,value")
    assert named.gradients == 4 * (2 * 2 * r * 2 * H + HEAD3)
    with_embeddings = _estimate(strategy="lora", lora_rank=r, lora_embeddings=True)
    assert with_embeddings.gradients == 4 * (trained + EMB)
    assert with_embeddings.weights == found.weights + 4 * EMB


def test_mixed_precision_adds_16_bit_copies_of_the_matrices_the_backward_pass_needs():
    plain = _estimate(device_kind="cuda", precision="fp32")
    mixed = _estimate(device_kind="cuda", precision="bf16")
    assert mixed.weights - plain.weights == 2 * 2 * LAYER
    assert (mixed.gradients, mixed.optimizer) == (plain.gradients, plain.optimizer)  # float32 master weights
    checkpointed = _estimate(device_kind="cuda", precision="bf16", gradient_checkpointing=True)
    assert checkpointed.weights - plain.weights == 2 * (2 * LAYER + LAYER)  # trainable ones cached, one recomputed
    assert _estimate(device_kind="cuda").weights == mixed.weights  # auto on CUDA is bf16
    assert _estimate(device_kind="cpu").weights == plain.weights  # and fp32 on the CPU


def test_four_bit_layers_take_about_half_a_byte_per_parameter():
    lora = _estimate(strategy="lora", device_kind="cuda", precision="bf16")
    quantized = _estimate(strategy="lora", lora_4bit=True, device_kind="cuda", precision="bf16")
    assert lora.weights - quantized.weights == pytest.approx(2 * LAYER * (4 + 2 - memory.NF4_BYTES))
    assert 0.5 < memory.NF4_BYTES < 0.52
    assert quantized.gradients == lora.gradients and quantized.optimizer == lora.optimizer


def test_sharding_divides_the_states_between_processes():
    whole = _estimate()
    sharded = _estimate(processes=4, sharding="fsdp")
    assert (sharded.weights, sharded.gradients, sharded.optimizer) == (
        whole.weights // 4, whole.gradients // 4, whole.optimizer // 4)
    assert sharded.activations == whole.activations


def test_activations_by_hand_and_with_checkpointing():
    """BERT on CUDA in bf16, 2 texts of 16 tokens: per token and layer 5h x 2 (attention inputs,
    q, k, v, context) + (h + 2i) x 2 (feed-forward) + (2h + 4) x 4 (norms) + 2h x 1 (dropout
    masks) + a x 4 (the fused attention's log-sum-exp) = 2464 bytes."""
    tokens = 2 * 16
    layer = (5 * H * 2 + (H + 2 * INNER) * 2 + (2 * H + 4) * 4 + 2 * H + HEADS * 4) * tokens
    assert layer == 2464 * tokens
    outputs = 2 * tokens * H * 4  # the embeddings' and final norm's outputs
    plain = _estimate(device_kind="cuda", precision="bf16")
    assert plain.activations == 2 * layer + layer + outputs
    checkpointed = _estimate(device_kind="cuda", precision="bf16", gradient_checkpointing=True)
    assert checkpointed.activations == 2 * tokens * H * 4 + layer + layer + outputs  # layer inputs + one recomputed
    head_only = _estimate(device_kind="cuda", precision="bf16", strategy="head")
    assert head_only.activations == layer + outputs  # nothing below the head keeps anything
    # On the CPU with dropout, attention scores are kept: softmax (4), mask (4: torch's CPU mask
    # has the input's dtype) and dropout output (4) for a x s per token.
    cpu = _estimate(device_kind="cpu")
    assert cpu.activations > plain.activations


def test_a_decoder_head_and_missing_layer_counts():
    """GPT-2's tensor names (h.N.) give no per-layer counts: the layers are estimated from the
    config, the rest of the parameters count as embeddings; its score layer has no bias."""
    n_layers, hidden, inter, vocab, positions = 2, 64, 256, 500, 128
    layers = 2 * hidden * inter + 4 * hidden * hidden + inter + 9 * hidden
    total = n_layers * layers + (vocab + positions) * hidden + 2 * hidden
    info = ModelInfo(source=None, architecture="GPT2LMHeadModel", model_type="gpt2", num_layers=n_layers,
                     hidden_size=hidden, num_heads=4, vocab_size=vocab, max_position_embeddings=positions,
                     num_parameters=total, embedding_params=total, layer_params=[], intermediate_size=inter)
    found = _estimate(info, labels=3, strategy="full")
    assert found.weights == 4 * (total + hidden * 3)
    head = _estimate(info, labels=3, strategy="head")
    assert head.gradients == 4 * hidden * 3


def test_description_and_fits():
    estimate = MemoryEstimate(weights=int(0.5e9), gradients=int(0.1e9), optimizer=int(0.2e9),
                              activations=int(2.3e9))
    assert estimate.total == int(3.1e9)
    assert estimate.describe() == "about 3.1 GB: weights 0.5, gradients 0.1, optimizer 0.2, activations 2.3"
    small = MemoryEstimate(weights=40_000_000, gradients=20_000_000, optimizer=15_000_000, activations=10_000_000)
    assert small.describe() == "about 85 MB: weights 40, gradients 20, optimizer 15, activations 10"
    assert small.fits(85_000_000 / memory.USABLE_SHARE + 1)
    assert not small.fits(85_000_000 / memory.USABLE_SHARE - 1000)


# ------------------------------------------------------------------ against a real tiny model
@pytest.fixture(scope="module")
def tiny_bert_4(tmp_path_factory):
    from tests.conftest import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("memory") / "bert4", layers=4)


def _measure(folder, settings: TrainSettings) -> dict:
    """One optimizer step of the model as the trainer sets it up; the bytes of its weights,
    gradients, optimizer state, and of what autograd kept for the backward pass."""
    import torch

    from ftstudio.engine.models.adapters import attach_lora
    from ftstudio.engine.models.checkpointing import enable_checkpointing
    from ftstudio.engine.models.freezing import apply_freeze, optimizer_param_groups
    from ftstudio.engine.models.loading import load_model_and_tokenizer
    from ftstudio.engine.tasks.registry import TASKS
    from ftstudio.engine.training.optimization import make_optimizer

    torch.manual_seed(0)
    model = load_model_and_tokenizer(str(folder), ["a", "b", "c"]).model.train()
    if settings.strategy_kind == "lora":
        attach_lora(model, settings, TASKS["single-label"], str(folder), True)
    apply_freeze(model, settings.strategy_kind, settings.frozen_layers, 0)
    if settings.gradient_checkpointing:
        enable_checkpointing(model)
    optimizer = make_optimizer(optimizer_param_groups(model, 1e-3, 0.0), settings, torch.device("cpu"))
    rows, length = settings.batch_size, settings.max_length
    batch = {"input_ids": torch.randint(5, 40, (rows, length)), "attention_mask": torch.ones(rows, length,
                                                                                             dtype=torch.long),
             "labels": torch.zeros(rows, dtype=torch.long)}
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    kept: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            kept[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = model(**batch).loss
    loss.backward()
    optimizer.step()
    return {
        "weights": sum(p.numel() * p.element_size() for p in model.parameters()),
        "gradients": sum(p.grad.numel() * p.grad.element_size() for p in model.parameters() if p.grad is not None),
        "optimizer": sum(t.numel() * t.element_size() for state in optimizer.state.values() for t in state.values()
                         if getattr(t, "ndim", 0) > 0),
        "activations": sum(kept.values()),
    }


def _one_layer(folder, settings: TrainSettings) -> float:
    from ftstudio.engine.models.sources import inspect_model

    shapes = memory._shapes(inspect_model(str(folder)), 3)
    tokens = settings.batch_size * settings.max_length
    return memory._layer_activations(shapes, tokens, settings.max_length, False, shapes.dropout, False)


@pytest.mark.parametrize("strategy", ["full", "bottom-2", "head", "lora"])
def test_the_states_match_what_the_model_holds(tiny_bert_4, strategy):
    from ftstudio.engine.models.sources import inspect_model

    settings = TrainSettings(model=str(tiny_bert_4), strategy=strategy, batch_size=4, max_length=32, device="cpu")
    measured = _measure(tiny_bert_4, settings)
    found = estimate_training_memory(inspect_model(str(tiny_bert_4)), settings, 3, device_kind="cpu")
    assert (found.weights, found.gradients, found.optimizer) == (
        measured["weights"], measured["gradients"], measured["optimizer"])


def test_lora_reduces_the_optimizer_state_to_the_adapters(tiny_bert_4):
    from ftstudio.engine.models.sources import inspect_model

    info = inspect_model(str(tiny_bert_4))
    full = TrainSettings(model=str(tiny_bert_4), strategy="full", batch_size=4, max_length=32, device="cpu")
    lora = full.replace(strategy="lora", lora_rank=2)
    measured_full, measured_lora = _measure(tiny_bert_4, full), _measure(tiny_bert_4, lora)
    assert measured_lora["optimizer"] < measured_full["optimizer"] / 2
    assert estimate_training_memory(info, lora, 3, device_kind="cpu").optimizer == measured_lora["optimizer"]


@pytest.mark.parametrize("checkpointing", [False, True])
def test_activations_are_what_autograd_keeps_plus_the_layers_in_flight(tiny_bert_4, checkpointing):
    from ftstudio.engine.models.sources import inspect_model

    settings = TrainSettings(model=str(tiny_bert_4), batch_size=8, max_length=64, device="cpu",
                             gradient_checkpointing=checkpointing)
    measured = _measure(tiny_bert_4, settings)["activations"]
    found = estimate_training_memory(inspect_model(str(tiny_bert_4)), settings, 3, device_kind="cpu").activations
    in_flight = (2 if checkpointing else 1) * _one_layer(tiny_bert_4, settings)
    assert (found - measured) / in_flight == pytest.approx(1.0, abs=0.15)


def test_checkpointing_cuts_what_is_kept_as_estimated(tiny_bert_4):
    """Relative: the measured saving of checkpointing (all but the layers' inputs) equals the
    estimated one plus the layer the estimate holds for recomputation."""
    from ftstudio.engine.models.sources import inspect_model

    info = inspect_model(str(tiny_bert_4))
    plain = TrainSettings(model=str(tiny_bert_4), batch_size=8, max_length=64, device="cpu")
    checkpointed = plain.replace(gradient_checkpointing=True)
    saved = _measure(tiny_bert_4, plain)["activations"] - _measure(tiny_bert_4, checkpointed)["activations"]
    estimated = (estimate_training_memory(info, plain, 3, device_kind="cpu").activations
                 - estimate_training_memory(info, checkpointed, 3, device_kind="cpu").activations)
    assert saved > 0.8 * _measure(tiny_bert_4, plain)["activations"]
    assert (estimated + _one_layer(tiny_bert_4, plain)) / saved == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_decoder_activations_within_ten_percent(family, tmp_path):
    from ftstudio.engine.models.sources import inspect_model
    from tests.decoder_models import build_decoder

    folder = build_decoder(tmp_path / family, family)
    settings = TrainSettings(model=str(folder), batch_size=8, max_length=64, device="cpu")
    measured = _measure(folder, settings)
    found = estimate_training_memory(inspect_model(str(folder)), settings, 3, device_kind="cpu")
    assert found.weights == measured["weights"] and found.gradients == measured["gradients"]
    kept = found.activations - _one_layer(folder, settings)
    assert kept / measured["activations"] == pytest.approx(1.0, abs=0.1)
