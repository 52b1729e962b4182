"""Which objective continues a model's pre-training, read from config names only."""

from __future__ import annotations

import pytest

from ftstudio.engine.errors import ModelError
from ftstudio.engine.models.objectives import CAUSAL, MASKED, pretraining_plan


@pytest.mark.parametrize("config, objective, has_head", [
    ({"model_type": "bert", "architectures": ["BertModel"]}, MASKED, False),
    ({"model_type": "bert", "architectures": ["BertForMaskedLM"]}, MASKED, True),
    ({"model_type": "bert", "architectures": ["BertForPreTraining"]}, MASKED, True),
    ({"model_type": "roberta", "architectures": ["RobertaForSequenceClassification"]}, MASKED, False),
    ({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}, CAUSAL, True),
    ({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}, CAUSAL, True),
    ({"model_type": "gpt2", "architectures": ["GPT2Model"]}, CAUSAL, False),
])
def test_the_objective_follows_the_model(config, objective, has_head):
    plan = pretraining_plan(config, "m")
    assert (plan.objective, plan.has_head) == (objective, has_head)
    assert plan.describe().startswith("Objective: ")
    assert ("fresh head" in plan.head_note()) is not has_head


def test_masking_is_described_with_its_share_and_whole_words():
    plan = pretraining_plan({"model_type": "bert", "architectures": ["BertModel"]}, "MiniLM")
    assert plan.describe(0.2, True) == "Objective: masked-language modelling (20% of tokens masked, whole words)."
    assert plan.head_note().startswith("MiniLM has no masked-language-modelling head")


@pytest.mark.parametrize("config, message", [
    ({"model_type": "t5", "architectures": ["T5ForConditionalGeneration"], "is_encoder_decoder": True},
     "sequence-to-sequence"),
    ({"model_type": "vit", "architectures": ["ViTModel"]}, "neither a masked-language-modelling"),
])
def test_models_that_cannot_pretrain_are_refused_in_words(config, message):
    with pytest.raises(ModelError, match=message):
        pretraining_plan(config, "m")
