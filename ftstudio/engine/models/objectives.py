"""Which self-supervised objective continues a model's pre-training, and whether the model has
the head for it.

The objective follows the model: encoders (BERT, RoBERTa, ELECTRA, ...) continue with
masked-language modelling, decoders (GPT-2, Llama, SmolLM, ...) with next-token prediction.
An architecture transformers can load both ways (BERT has a causal LM head too) is an encoder
here: that is how it was pre-trained. Sequence-to-sequence models are refused: their denoising
objectives are another job. Everything here reads names only (config.json and its
`architectures`), so the window can ask on every model change without loading weights.
"""

from __future__ import annotations

from dataclasses import dataclass

from ftstudio.engine.errors import ModelError

MASKED = "masked"
CAUSAL = "causal"
# The head class names that hold a trained language-model head (BertForPreTraining has the MLM
# head plus next-sentence prediction; transformers loads its MLM part into ForMaskedLM).
MASKED_HEADS = ("ForMaskedLM", "ForPreTraining")
CAUSAL_HEADS = ("ForCausalLM", "LMHeadModel")
LANGUAGE_MODEL_HEADS = MASKED_HEADS + CAUSAL_HEADS


@dataclass(frozen=True)
class PretrainingPlan:
    """What continued pre-training does with a model: its objective, a title for people, and
    whether the model's own checkpoint holds that objective's head (else a fresh one trains)."""

    objective: str  # MASKED | CAUSAL
    has_head: bool
    model_name: str

    @property
    def title(self) -> str:
        return "masked-language modelling" if self.objective == MASKED else "next-token prediction"

    def describe(self, mlm_probability: float = 0.15, whole_word_masking: bool = False) -> str:
        """One line: the objective with its masking, for the log, the CLI and Setup."""
        if self.objective == CAUSAL:
            return "Objective: next-token prediction (causal language modelling; every token is predicted)."
        words = ", whole words" if whole_word_masking else ""
        return f"Objective: masked-language modelling ({mlm_probability:.0%} of tokens masked{words})."

    def head_note(self) -> str:
        """What happens to the language-model head, said plainly."""
        what = "masked-language-modelling" if self.objective == MASKED else "language-modelling"
        if self.has_head:
            return f"{self.model_name} has its {what} head: pre-training continues from it."
        return (f"{self.model_name} has no {what} head (it was saved without one): a fresh head is trained "
                "from random weights, so perplexity starts very high and falls as the head learns. Tip: train the "
                "head alone first (strategy head only), then continue from that run with every layer, so the "
                "random head's first gradients never reach the pretrained layers.")


def language_model_objective(model_type: str, architectures: list[str] | None = None,
                             is_encoder_decoder: bool = False, model_name: str = "") -> str:
    """MASKED or CAUSAL for a model type; ModelError when the model can do neither here."""
    from transformers.models.auto import modeling_auto

    name = model_name or model_type
    names = [str(a) for a in architectures or []]
    if is_encoder_decoder or any(a.endswith(("ForConditionalGeneration", "ForSeq2SeqLM")) for a in names):
        raise ModelError(f"{name} is a sequence-to-sequence model ({model_type}); continued pre-training here "
                         "covers encoders (masked-language modelling) and decoders (next-token prediction).")
    if any(a.endswith(CAUSAL_HEADS) for a in names) and model_type not in modeling_auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return CAUSAL
    if model_type in modeling_auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return MASKED
    if model_type in modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return CAUSAL
    raise ModelError(f"{name} ({model_type}) has neither a masked-language-modelling nor a causal "
                     "language-modelling head in transformers, so it cannot continue pre-training. Pick an encoder "
                     "such as BERT or RoBERTa, or a decoder such as GPT-2 or Llama.")


def has_language_model_head(objective: str, architectures: list[str] | None) -> bool:
    """Whether a checkpoint saved as `architectures` holds the objective's trained head."""
    heads = MASKED_HEADS if objective == MASKED else CAUSAL_HEADS
    return any(str(a).endswith(heads) for a in architectures or [])


def objective_of_architectures(architectures: list[str] | None) -> str | None:
    """MASKED or CAUSAL when a saved architecture carries a language-model head, else None
    (names only: for a checkpoint, whose head says what it was trained for)."""
    names = [str(a) for a in architectures or []]
    if any(a.endswith(MASKED_HEADS) for a in names):
        return MASKED
    if any(a.endswith(CAUSAL_HEADS) for a in names):
        return CAUSAL
    return None


def pretraining_plan(config: dict, model_name: str = "") -> PretrainingPlan:
    """The plan for a model's config.json (as a dict); ModelError for a model that cannot
    continue pre-training."""
    architectures = config.get("architectures") or []
    objective = language_model_objective(str(config.get("model_type", "")), architectures,
                                         bool(config.get("is_encoder_decoder")), model_name)
    return PretrainingPlan(objective, has_language_model_head(objective, architectures),
                           model_name or str(config.get("model_type", "the model")))
