"""Continued pre-training (`pretrain`): the model learns the user's unlabeled text with the
self-supervised objective it was pre-trained with.

An encoder predicts masked tokens (masked-language modelling), a decoder the next token (causal
language modelling); `for_model` picks the objective from the model's config
(models/objectives.py), so `pretrain` names one task with two objectives. There are no labels:
the text is its own target. Metrics are the validation loss per predicted token, its
perplexity (exp of the loss; lower is better, and "best") and the share of predicted tokens
the model got exactly right. The run evaluates once before training, so the log and plots say
what the pre-training bought.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ftstudio.engine.models.objectives import CAUSAL, MASKED
from ftstudio.engine.tasks.base import LabelSpec, Outputs, Targets, Task

if TYPE_CHECKING:
    import datasets
    import torch


class LanguageModelTask(Task):
    name = "pretrain"
    title = "Continued pre-training"
    problem_type = ""
    metric_names = ("perplexity", "token_accuracy")
    best_metric = "perplexity"
    headline = ("perplexity", "token_accuracy")
    language_model = True
    evaluate_before_training = True
    objective = MASKED
    model_kind = "masked-lm"

    def for_model(self, config: Any) -> LanguageModelTask:
        from ftstudio.engine.models.objectives import language_model_objective

        objective = language_model_objective(config.model_type, getattr(config, "architectures", None),
                                             bool(getattr(config, "is_encoder_decoder", False)))
        return LANGUAGE_MODEL_TASKS[objective]

    @property
    def objective_title(self) -> str:
        return "masked-language modelling" if self.objective == MASKED else "next-token prediction"

    # ---------------------------------------------------------------- "labels": there are none
    def is_missing(self, value: Any) -> bool:
        return False

    def encode(self, train: datasets.Dataset, labels: LabelSpec, values: dict[str, list[Any]]) -> Targets:
        return Targets([], {split: np.zeros(len(rows), dtype=np.int64) for split, rows in values.items()})

    def encode_with(self, values: list[Any], label_names: list[str], state: dict[str, Any], where: str) -> np.ndarray:
        return np.zeros(len(values), dtype=np.int64)

    def num_outputs(self, label_names: list[str]) -> int:
        return 0

    def strata(self, targets: np.ndarray) -> tuple[np.ndarray, int]:
        return np.zeros(len(targets), dtype=np.int64), 1

    def tokenize(self, split: datasets.Dataset, targets: np.ndarray, tokenizer: Any, settings: Any,
                 label_names: list[str], control: Any = None, reporter: Any = None,
                 phase: str = "tokenizing", training: bool = False) -> Any:
        from ftstudio.engine.data.text_blocks import language_model_split

        return language_model_split(
            list(split["text"]), tokenizer, objective=self.objective, max_length=settings.max_length,
            pack=settings.pack_texts, mlm_probability=settings.mlm_probability,
            whole_words=settings.whole_word_masking, training=training, seed=settings.seed, control=control,
            reporter=reporter, phase=phase)

    # ---------------------------------------------------------------- the forward pass
    def batch_loss(self, model: Any, batch: dict[str, Any]) -> torch.Tensor:
        import torch.nn.functional as F

        labels = batch.pop("labels")
        logits, targets = self.batch_outputs(model, batch, labels)
        return F.cross_entropy(logits.float(), targets.long())

    def batch_outputs(self, model: Any, inputs: dict[str, Any], labels: torch.Tensor) -> tuple[Any, Any]:
        """Logits at the predicted tokens only, [tokens, vocabulary], and their targets."""
        from ftstudio.engine.models.lm_head import scored_logits

        return scored_logits(model, inputs, labels, causal=self.objective == CAUSAL)

    def collector(self, rows: int) -> Any:
        from ftstudio.engine.training.collectors import TokenHits

        return TokenHits()

    # ---------------------------------------------------------------- evaluation
    def loss_count(self, labels: torch.Tensor) -> Any:
        return labels.numel()

    def loss_sum(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return F.cross_entropy(logits.float(), targets.long(), reduction="sum")

    def evaluate_counts(self, mean_loss: float, hits: int, count: int) -> Outputs:
        from ftstudio.engine.training.collectors import perplexity

        return Outputs({"perplexity": perplexity(mean_loss), "token_accuracy": hits / count if count else 0.0},
                       {"predicted_tokens": count})

    def evaluate(self, logits: Any, targets: Any, label_names: list[str], state: dict[str, Any]) -> Outputs:
        raise NotImplementedError("a language model is measured by counts: training/collectors.TokenHits")

    # ---------------------------------------------------------------- prediction
    def predict(self, logits: np.ndarray, label_names: list[str], state: dict[str, Any]) -> list[dict[str, Any]]:
        raise NotImplementedError("a language model predicts tokens: predict/language_model.py")

    # ---------------------------------------------------------------- description
    def summarize(self, targets: np.ndarray, label_names: list[str], state: dict[str, Any]) -> dict[str, Any]:
        return {"kind": "texts", "rows": len(targets), "texts": len(targets)}

    def describe(self, summary: dict[str, Any]) -> str:
        found = f"{summary['texts']:,} texts"
        if "tokens" in summary:
            found += f", {summary['tokens']:,} tokens"
        if summary.get("packed"):
            found += f" in {summary['blocks']:,} blocks"
        return found


class CausalLanguageModelTask(LanguageModelTask):
    objective = CAUSAL
    model_kind = "causal-lm"


LANGUAGE_MODEL_TASKS: dict[str, LanguageModelTask] = {MASKED: LanguageModelTask(),
                                                      CAUSAL: CausalLanguageModelTask()}
