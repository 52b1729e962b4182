"""Entities in plain text, and tags for pre-split words, from a token-classification model.

Plain text goes through transformers' own token-classification pipeline, the one users run on
our checkpoints: "first" aggregation (each word takes its first sub-token's tag, as training
labels it), entities grouped from the BIO tags by type, character offsets into the text, and
texts longer than the model's window read in overlapping windows (`stride`), so nothing is cut.
Labelled files (test-a-file) are read as words, windowed like the training data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_STRIDE_SHARE = 4  # windows overlap by a quarter of their length


class EntityFinder:
    """Entities in plain text with transformers' token-classification pipeline over `model`,
    reading windows of `max_length` tokens that overlap by a quarter."""

    def __init__(self, model: Any, tokenizer: Any, max_length: int) -> None:
        from transformers import TokenClassificationPipeline

        from ftstudio.engine.models.loading import quiet_transformers

        tokenizer.model_max_length = max_length  # the window the model was trained on
        room = max_length - tokenizer.num_special_tokens_to_add() - 1
        self.options = {"aggregation_strategy": "first", "stride": max(1, min(max_length // _STRIDE_SHARE, room))}
        if not getattr(tokenizer, "is_fast", False):
            from ftstudio.engine.errors import CheckpointError

            raise CheckpointError("This token classifier has only a slow tokenizer; finding entities with character "
                                  "offsets needs its fast one (tokenizer.json).")
        with quiet_transformers():
            self.pipeline = TokenClassificationPipeline(model=model, tokenizer=tokenizer, device=model.device)

    def __call__(self, text: str) -> list[dict[str, Any]]:
        """The entities of one text, in text order: {"text", "type", "score", "start", "end"}."""
        if not text.strip():
            return []
        found = self.pipeline(text, **self.options)
        entities = [{"text": text[int(e["start"]):int(e["end"])], "type": str(e["entity_group"]),
                     "score": float(e["score"]), "start": int(e["start"]), "end": int(e["end"])}
                    for e in found if e.get("start") is not None]
        return sorted(entities, key=lambda e: (e["start"], e["end"]))


def entity_prediction_fields(entities: list[dict[str, Any]]) -> dict[str, Any]:
    """The Prediction fields of a token-classification result: the entities, a one-line label
    ("person: Ada; city: Paris") and their mean score."""
    label = "; ".join(f"{e['type']}: {e['text']}" for e in entities) or "(no entities)"
    score = float(np.mean([e["score"] for e in entities])) if entities else 0.0
    return {"label": label, "score": score, "entities": entities}


def word_logits(model: Any, tokenizer: Any, words: list[list[str]], max_length: int, label_names: list[str],
                batch_size: int = 32, control: Any = None, progress: Any = None) -> list[np.ndarray]:
    """Each sentence's logits per word ([words, labels], from its first sub-token), long sentences
    read in the windows training uses and joined back (as training's evaluation joins them)."""
    import torch

    from ftstudio.engine.data.batching import collate, eval_batches
    from ftstudio.engine.data.word_alignment import tokenize_words
    from ftstudio.engine.training.collectors import TokenLogits

    # Dummy tags: only the positions of the words' first sub-tokens are needed.
    zeros = [np.zeros(len(w), dtype=np.int64) for w in words]
    split, _sources = tokenize_words(words, zeros, tokenizer, max_length, label_names)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    found = TokenLogits()
    batches = eval_batches(split, batch_size)
    with torch.inference_mode():
        for number, indices in enumerate(batches):
            if control is not None:
                control.check()
            batch = collate(split, indices, pad)
            labels = batch.pop("labels")
            logits = model(**{k: v.to(model.device) for k, v in batch.items()}).logits.float().cpu()
            found.add(torch.as_tensor(indices), logits, labels)
            if progress is not None:
                progress(number + 1, len(batches))
    return found.rows(split)[0]
