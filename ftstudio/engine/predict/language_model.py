"""Predictions of a language model: the guesses for masked words (encoders), the continuation and
the next token's probabilities (decoders).

Loads a pre-training run's checkpoint (or any ...ForMaskedLM / ...ForCausalLM folder), or the
model a run started from (`base_model`: the "before" of continued pre-training). Filling masks
does what transformers' fill-mask pipeline does (one forward pass, a softmax at each mask), with
two differences people see: every mask's sequence is the typed text with that one mask filled
(the pipeline decodes tokens, so a second mask shows up as [MASK] among [CLS] and [SEP]), and
special tokens are never offered as a word. Continuing is greedy, so the same text always gets
the same continuation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ftstudio.engine.errors import CheckpointError, DatasetError, ModelError, first_line
from ftstudio.engine.predict.adapter_checkpoints import AdapterUse
from ftstudio.engine.predict.language_checkpoints import (
    CAUSAL,
    MASKED,
    checkpoint_objective,
    mask_words,
    no_mask_message,
    normalize_masks,
    saved_task,
)

DEFAULT_MAX_LENGTH = 512


def _position_limit(config: Any) -> int | None:
    """The most positions the model has embeddings for (None: no fixed limit, e.g. RoPE models
    report a large number we take as it is)."""
    for name in ("max_position_embeddings", "n_positions"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


class LanguageModelPredictor(AdapterUse):
    """Loads once, predicts many (thread-confined, like Predictor).

    `objective` is "masked" (fill_mask) or "causal" (continue_text); `mask_token` the model's
    mask token (None for a decoder); `max_length` the tokens read at once; `head_is_new` True
    when the language-model head is untrained (a base model saved without one), so its
    predictions are noise. A LoRA pre-training run's step folder (or with `prefer_adapter` its
    best/ and last/) loads as its base model plus the adapter, the base shared (see Predictor).
    """

    def __init__(self, path: str | Path, device: str = "cpu", prefer_adapter: bool = False) -> None:
        from ftstudio.engine.predict.adapter_checkpoints import adapter_to_load
        from ftstudio.engine.predict.predictor import _saved_state, resolve_checkpoint

        self.path = resolve_checkpoint(path)
        objective = checkpoint_objective(self.path)
        if objective is None:
            raise CheckpointError(f"{self.path} is not a language-model checkpoint (masked or causal LM); "
                                  "predict with it through ftstudio predict, which picks the right kind.")
        self.task_state: dict[str, Any] = dict(saved_task(self.path).get("state") or {})
        try:
            max_length = int(_saved_state(self.path)["max_length"])
        except (KeyError, TypeError, ValueError):
            max_length = None  # a checkpoint made elsewhere: the model's own limit
        self.head_is_new = False
        adapter = adapter_to_load(self.path, prefer_adapter)
        try:
            if adapter is not None:
                self._load_adapter(adapter, objective, device, max_length)
                return
        except CheckpointError:
            if adapter == self.path:
                raise
            # (best/ or last/ holds the merged weights too: they load without the base)
        self._load(self.path, objective, device, max_length)

    @classmethod
    def base_model(cls, model_spec: str, objective: str | None = None, seed: int = 0,
                   device: str = "cpu") -> LanguageModelPredictor:
        """The model a run started from, loaded as pre-training loads it: with its language-model
        head when it has one. Without one (the embedded all-MiniLM-L6-v2 was saved without its
        MLM head) the head is random (seeded by `seed`) and `head_is_new` is True: callers say so
        instead of showing noise. The objective follows the model (`objective` is a fallback)."""
        import torch

        from ftstudio.engine.models.loading import load_model_and_tokenizer
        from ftstudio.engine.models.sources import resolve_model_source
        from ftstudio.engine.tasks.registry import get_task

        source = resolve_model_source(str(model_spec))
        torch.manual_seed(seed)
        loaded = load_model_and_tokenizer(source, [], task=get_task("pretrain"))
        self = cls.__new__(cls)
        self.path = Path(str(model_spec))
        self.task_state = {}
        self.head_is_new = bool(loaded.new_head)
        self._use(loaded.model, loaded.tokenizer, getattr(loaded.task, "objective", objective) or MASKED, device,
                  None, source.display)
        return self

    def _load(self, folder: Path, objective: str, device: str, max_length: int | None) -> None:
        """A checkpoint's model and tokenizer; a failure as one CheckpointError line."""
        from transformers import AutoTokenizer

        from ftstudio.engine.models.loading import auto_model_class, quiet_transformers

        kind = "masked-lm" if objective == MASKED else "causal-lm"
        try:
            with quiet_transformers():
                model = auto_model_class(kind).from_pretrained(str(folder), use_safetensors=True)
                tokenizer = AutoTokenizer.from_pretrained(str(folder))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"Cannot load checkpoint {folder} as a language model: {first_line(exc)}.") from None
        self._use(model, tokenizer, objective, device, max_length, str(folder))

    def _load_adapter(self, folder: Path, objective: str, device: str, max_length: int | None) -> None:
        """A LoRA run's adapter on its (shared) base model, with the checkpoint's tokenizer."""
        from ftstudio.engine.predict.adapter_checkpoints import attach_adapter
        from ftstudio.engine.predict.predictor import _adapter_tokenizer

        attached = attach_adapter(folder, device)
        tokenizer = _adapter_tokenizer(attached.checkpoint.files, attached.base.tokenizer)
        self._use(attached.model, tokenizer, objective, device, max_length, str(folder))
        self.adapter = attached

    def _use(self, model: Any, tokenizer: Any, objective: str, device: str, max_length: int | None,
             display: str) -> None:
        import torch

        self.objective = objective
        self.device = torch.device(device)
        self.model, self.tokenizer = model.to(self.device).eval(), tokenizer
        self.mask_token: str | None = tokenizer.mask_token if objective == MASKED else None
        if objective == MASKED and not self.mask_token:
            raise ModelError(f"The tokenizer of {display} has no mask token, so it cannot fill masks.")
        limit = _position_limit(model.config)
        # The window it was trained on, within the positions the model has.
        self.max_length = min(max_length or DEFAULT_MAX_LENGTH, limit or DEFAULT_MAX_LENGTH)
        self._position_limit = limit

    # ------------------------------------------------------------------ masks
    def mask_words(self, text: str, start: int, end: int) -> str:
        """`text` with the characters [start, end) replaced by this model's mask token."""
        return mask_words(text, start, end, self.mask_token or "[MASK]")

    def fill_mask(self, text: str, top_k: int = 10) -> list[list[dict[str, Any]]]:
        """For each mask in `text`, in order: the `top_k` likeliest words,
        {"token", "score" (probability), "sequence" (the text with that mask filled)}."""
        import torch

        if self.objective != MASKED:
            raise DatasetError("This model predicts the next token, not masked words: give it the start of a text.")
        text = normalize_masks(str(text), self.mask_token)
        spans = _mask_spans(text, self.mask_token)
        if not spans:
            raise DatasetError(no_mask_message(self.mask_token))
        encoded = self.tokenizer(text, return_tensors="pt", truncation=True, max_length=self.max_length)
        positions = (encoded["input_ids"][0] == self.tokenizer.mask_token_id).nonzero().flatten().tolist()
        if len(positions) < len(spans):
            raise DatasetError(f"A mask lies beyond the first {self.max_length} tokens this model reads: "
                               "shorten the text or move the mask nearer the start.")
        with torch.inference_mode(), self.active():
            logits = self.model(**encoded.to(self.device)).logits[0, positions].float()
        probabilities = torch.softmax(logits, dim=-1).cpu()
        special = sorted(set(self.tokenizer.all_special_ids))
        if special:  # never offer [CLS], [PAD], [MASK]... as a word (their probability stays counted)
            probabilities[:, special] = -1.0
        k = max(1, min(int(top_k), probabilities.shape[-1] - len(special)))
        scores, ids = probabilities.topk(k, dim=-1)
        return [[self._candidate(text, span, int(i), float(s)) for s, i in zip(row_scores, row_ids, strict=True)]
                for span, row_scores, row_ids in zip(spans, scores, ids, strict=True)]

    def _candidate(self, text: str, span: tuple[int, int], token_id: int, score: float) -> dict[str, Any]:
        word = self.tokenizer.decode([token_id]).strip()
        piece = self.tokenizer.convert_ids_to_tokens(token_id)
        start, end = span
        before = text[:start]
        if isinstance(piece, str) and piece.startswith("##"):  # a word piece joins the word before
            word, before = piece[2:], before.rstrip()
        return {"token": word, "score": score, "sequence": before + word + text[end:]}

    # ------------------------------------------------------------------ continuing
    def continue_text(self, text: str, max_new_tokens: int = 40, top_k: int = 10) -> dict[str, Any]:
        """{"continuation": the greedy continuation of `text` (deterministic), "next_tokens":
        the `top_k` likeliest next tokens, [{"token", "score"}]}."""
        import torch
        from transformers import GenerationConfig

        from ftstudio.engine.models.loading import quiet_transformers

        if self.objective != CAUSAL:
            raise DatasetError(f"This model fills masked words: type {self.mask_token} in the text instead.")
        if not str(text).strip():
            raise DatasetError("Type the beginning of a text for the model to continue.")
        ids = self.tokenizer(str(text), return_tensors="pt")["input_ids"][:, -self.max_length:].to(self.device)
        room = self._position_limit - ids.shape[1] if self._position_limit else max_new_tokens
        new_tokens = max(0, min(int(max_new_tokens), room))
        with torch.inference_mode(), self.active():
            last = self.model(input_ids=ids).logits[0, -1].float()
            probabilities = torch.softmax(last, dim=-1).cpu()
            scores, top = probabilities.topk(max(1, min(int(top_k), probabilities.shape[-1])))
            continuation = ""
            if new_tokens:
                pad = self.tokenizer.pad_token_id
                eos = self.tokenizer.eos_token_id
                config = GenerationConfig(max_new_tokens=new_tokens, do_sample=False, num_beams=1,
                                          pad_token_id=pad if pad is not None else eos, eos_token_id=eos)
                with quiet_transformers():
                    out = self.model.generate(ids, attention_mask=torch.ones_like(ids), generation_config=config)
                continuation = self.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        return {"continuation": continuation,
                "next_tokens": [{"token": self.tokenizer.decode([int(i)]), "score": float(s)}
                                for s, i in zip(scores, top, strict=True)]}


def _mask_spans(text: str, mask_token: str) -> list[tuple[int, int]]:
    spans, start = [], text.find(mask_token)
    while start >= 0:
        spans.append((start, start + len(mask_token)))
        start = text.find(mask_token, start + len(mask_token))
    return spans


__all__ = ["LanguageModelPredictor", "mask_words"]
