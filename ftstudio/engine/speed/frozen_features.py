"""Head-only training on cached encoder outputs: the frozen encoder runs once, not every epoch.

With `strategy = "head"` nothing below the head changes during training, so running the encoder
again each epoch only repeats work. `FeatureCache.build` runs it once over the train and
validation texts (eval mode, length-sorted batches) and keeps the one vector per text that the
head reads: the first token's last hidden state. Training then feeds those vectors through the
model's own head and loss code by standing a `_CachedBase` in for the base model, so the
pooler, dropout, classifier and loss are exactly the model's; checkpoints are the ordinary
full model (the real base model is back in place outside each forward call).

One numeric difference from running the encoder every step: the frozen encoder computes in
eval mode, so its internal dropout no longer perturbs the head's inputs. Validation numbers are
unchanged (evaluation always ran the encoder in eval mode). The benchmark README gives the
accuracy effect.

The cache is used only where it is known to be exact: architectures whose head reads the first
token (`HEAD_READS_FIRST_TOKEN`), only the head training, and only after a check that the cached
path reproduces the full model's logits on real rows. Anything else falls back to the normal loop.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ftstudio.engine.data.batching import TokenizedSplit, collate, eval_batches
from ftstudio.engine.speed.lever_check import PROBE_ROWS

if TYPE_CHECKING:
    import torch

    from ftstudio.engine.events import Reporter, TrainingControl
    from ftstudio.engine.speed.levers import LeverRun

# Model types whose sequence-classification head reads only the first token of the base model's
# last hidden state (and the base model's pooler, where it has one, does the same).
HEAD_READS_FIRST_TOKEN = frozenset({
    "bert", "roberta", "xlm-roberta", "camembert", "electra", "distilbert", "deberta", "deberta-v2",
    "mpnet",
})
MAX_CACHE_BYTES = 2 * 1024**3  # beyond this the features would crowd memory: use the normal loop
ENV_SWITCH = "FTSTUDIO_FEATURE_CACHE"  # "0" turns the cache off (benchmarks measure it that way)


def cache_unavailable_reason(model: Any, settings: Any, rows: int) -> str | None:
    """Why the cache cannot serve this run, or None when it can."""
    if os.environ.get(ENV_SWITCH, "1") == "0":
        return f"turned off by {ENV_SWITCH}=0"
    if not type(model).__name__.endswith("ForSequenceClassification"):
        return "the model's head reads every token, not only the first"
    if settings.strategy_kind != "head":
        return "the encoder trains"
    model_type = getattr(model.config, "model_type", "")
    if model_type not in HEAD_READS_FIRST_TOKEN:
        return f"the {model_type or 'unknown'} head is not known to read only the first token"
    base = getattr(model, "base_model", None)
    if base is None or base is model or not hasattr(model, "base_model_prefix"):
        return "the model has no separate base model"
    pooler = getattr(base, "pooler", None)
    pooler_ids = {id(p) for p in pooler.parameters()} if pooler is not None else set()
    if any(p.requires_grad and id(p) not in pooler_ids for p in base.parameters()):
        return "parameters of the encoder train"
    if rows * model.config.hidden_size * 4 > MAX_CACHE_BYTES:
        return "the features would not fit comfortably in memory"
    return None


class _CachedBase:
    """Stands in for the base model for one forward call: returns the cached first-token states
    (passed as `inputs_embeds`, shape [batch, 1, hidden]) and, for models whose base has a
    pooler (BERT, MPNet), the pooler applied to them, with gradients."""

    def __init__(self, pooler: Any) -> None:
        self.pooler = pooler

    def __call__(self, *args: Any, inputs_embeds: Any = None, **kwargs: Any) -> Any:
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        pooled = self.pooler(inputs_embeds) if self.pooler is not None else None
        return BaseModelOutputWithPooling(last_hidden_state=inputs_embeds, pooler_output=pooled)


class FeatureCache:
    """First-token encoder outputs per split, and the head's forward on them."""

    def __init__(self, model: Any, features: dict[str, torch.Tensor], labels: dict[str, torch.Tensor]) -> None:
        self.model = model
        self.features = features
        self.labels = labels
        self._stand_in = _CachedBase(getattr(model.base_model, "pooler", None))

    # ---------------------------------------------------------------- building
    @classmethod
    def build(
        cls, model: Any, splits: dict[str, TokenizedSplit], names: list[str], *, device: Any, autocast: Any,
        batch_size: int, pad_token_id: int, control: TrainingControl | None = None,
        reporter: Reporter | None = None,
    ) -> FeatureCache | None:
        """Encode `names` splits once; None when the cached path would not reproduce the model
        (checked on a few rows first, so a refusal costs almost nothing)."""
        import torch

        first = splits[names[0]]
        rows = min(PROBE_ROWS, len(first))
        probe = TokenizedSplit(first.input_ids[:rows], first.labels[:rows], first.lengths[:rows],
                               first.token_type_ids[:rows] if first.token_type_ids is not None else None)
        encode = dict(device=device, autocast=autocast, batch_size=batch_size, pad_token_id=pad_token_id,
                      control=control, reporter=reporter)
        probe_cache = cls(model, {"probe": encode_first_token(model, probe, **encode)}, {})
        if not probe_cache._reproduces_model(probe, pad_token_id, device, autocast):
            return None
        features, labels = {}, {}
        for name in names:
            features[name] = encode_first_token(model, splits[name], phase=f"encoding {name}", **encode)
            labels[name] = torch.as_tensor(splits[name].labels, device=device)  # ids, multi-hot rows or scores
        return cls(model, features, labels)

    def _reproduces_model(self, probe: TokenizedSplit, pad_token_id: int, device: Any, autocast: Any) -> bool:
        """The safety net that keeps the cache generic: on a few real rows, the cached path must
        give the full model's logits (both in eval mode; looser under half-precision autocast)."""
        import torch

        from ftstudio.engine.speed.lever_check import logits_agree, probe_inputs

        inputs = probe_inputs(probe, pad_token_id, device, rows=len(probe))
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode(), autocast():
                full = self.model(**inputs).logits.float()
                cached = self.logits("probe", torch.arange(len(probe), device=device)).float()
        finally:
            self.model.train(was_training)
        return logits_agree(full, cached, autocast)

    # ---------------------------------------------------------------- the head on cached features
    def _forward(self, split: str, rows: torch.Tensor, with_labels: bool) -> Any:
        model, prefix = self.model, self.model.base_model_prefix
        inputs = self.features[split][rows].unsqueeze(1)
        labels = self.labels[split][rows] if with_labels else None
        # The stand-in shadows the registered base model for one call through the instance
        # __dict__ (read before nn.Module.__getattr__ looks in _modules); the module registry is
        # never touched, so parameters(), state_dict() and saving only ever see the real model.
        object.__setattr__(model, prefix, self._stand_in)
        try:
            return model(inputs_embeds=inputs, labels=labels)
        finally:
            object.__delattr__(model, prefix)

    def loss(self, split: str, rows: torch.Tensor) -> torch.Tensor:
        """The model's own training loss for these rows (dropout in the head as usual)."""
        return self._forward(split, rows, with_labels=True).loss

    def logits(self, split: str, rows: torch.Tensor) -> torch.Tensor:
        return self._forward(split, rows, with_labels=False).logits

    def has(self, split: str) -> bool:
        return split in self.features


def encode_first_token(
    model: Any, split: TokenizedSplit, *, device: Any, autocast: Any, batch_size: int, pad_token_id: int,
    control: TrainingControl | None = None, reporter: Reporter | None = None, phase: str = "encoding",
) -> torch.Tensor:
    """The base model's last hidden state at the first token for every text, float32, in the
    split's order. Eval mode and length-sorted batches: deterministic and little padding."""
    import torch

    base = model.base_model
    was_training = base.training
    base.eval()
    out = torch.empty((len(split), model.config.hidden_size), dtype=torch.float32, device=device)
    batches = eval_batches(split, batch_size * 2)
    try:
        with torch.inference_mode():
            for number, indices in enumerate(batches):
                if control is not None:
                    control.check(reporter, resume_status="training")
                batch = collate(split, indices, pad_token_id)
                batch.pop("labels")
                with autocast():
                    hidden = base(**{k: v.to(device, non_blocking=True) for k, v in batch.items()}).last_hidden_state
                out[torch.as_tensor(indices, device=device)] = hidden[:, 0].float()
                if reporter is not None and (number % 10 == 0 or number == len(batches) - 1):
                    reporter.on_progress(phase, number + 1, len(batches))
    finally:
        base.train(was_training)
    # Leave inference mode's "inference tensor" flag behind: training indexes these with autograd on.
    return out.clone()


class HeadOnlyFeatureCacheLever:
    """This module as a speed lever (see speed/levers.py): caches train and validation and
    hands the cache to the loop through `run.features`."""

    name = "head-only feature cache"
    splits = ("train", "validation")

    def unavailable_reason(self, run: LeverRun) -> str | None:
        if run.processes > 1:  # the loop's DDP exchange runs through the model, which the cache bypasses
            return "several processes train the head through the model"
        rows = sum(len(run.splits[name]) for name in self.splits)
        return cache_unavailable_reason(run.model, run.settings, rows)

    def apply(self, run: LeverRun) -> str | None:
        run.features = FeatureCache.build(
            run.model, run.splits, list(self.splits), device=run.device, autocast=run.autocast,
            batch_size=run.settings.batch_size, pad_token_id=run.pad_token_id, control=run.control,
            reporter=run.reporter,
        )
        return None if run.features is not None else "the cached head did not reproduce the model"


LEVER = HeadOnlyFeatureCacheLever()
