"""Texts as a language model reads them: tokenized once, packed into blocks, with targets.

Packing (the default, as transformers' run_mlm/run_clm examples group texts) joins the
tokenized texts, each with the model's own special tokens ([CLS] ... [SEP] for BERT; an end
of text for a decoder), and cuts the stream into blocks of max_length tokens: no padding, no
text truncated, and every block full of work. The last, shorter block is kept (nothing is
lost; batches pad it). Without packing each text is a row, truncated to max_length.

Targets: a decoder predicts every next token, so a row's labels are its own ids (the model
shifts them). An encoder predicts masked tokens (`masking.py`): the training split is masked
afresh for every batch (the split carries its masker), validation and test once, for good.
Token ids live in one int32 array the rows are views of: a corpus of millions of tokens stays
a few bytes per token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ftstudio.engine.data.batching import TOKENIZE_CHUNK, TokenizedSplit
from ftstudio.engine.data.masking import TokenMasker, mask_once
from ftstudio.engine.errors import ModelError

if TYPE_CHECKING:
    from ftstudio.engine.events import Reporter, TrainingControl


def language_model_split(texts: list[str], tokenizer: Any, *, objective: str, max_length: int, pack: bool,
                         mlm_probability: float = 0.15, whole_words: bool = False, training: bool = False,
                         seed: int = 0, control: TrainingControl | None = None, reporter: Reporter | None = None,
                         phase: str = "tokenizing") -> TokenizedSplit:
    """The split for `objective` ("masked" or "causal"); `training`: masked afresh each batch."""
    masked = objective == "masked"
    if masked and getattr(tokenizer, "mask_token_id", None) is None:
        raise ModelError("The tokenizer has no mask token, so it cannot be pre-trained with masked-language "
                         "modelling. Pick a model whose tokenizer has one (BERT's [MASK], RoBERTa's <mask>).")
    whole_words = masked and whole_words
    if whole_words and not getattr(tokenizer, "is_fast", False):
        raise ModelError("Whole-word masking needs the model's fast tokenizer (tokenizer.json), which tells where "
                         "words begin; turn whole-word masking off or pick another model.")
    rows, starts = _tokenize(texts, tokenizer, max_length, pack, causal=not masked, whole_words=whole_words,
                             control=control, reporter=reporter, phase=phase)
    if pack:
        rows, starts = _blocks(rows, max_length), (_blocks(starts, max_length) if starts is not None else None)
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    if not masked:
        labels = np.empty(len(rows), dtype=object)
        labels[:] = [np.asarray(r, dtype=np.int64) for r in rows]
        return TokenizedSplit(rows, labels, lengths)
    masker = TokenMasker(mlm_probability, tokenizer.mask_token_id, len(tokenizer), tokenizer.all_special_ids, starts)
    if training:
        return TokenizedSplit(rows, np.zeros(len(rows), dtype=np.int64), lengths, masker=masker)
    # One fixed draw: every evaluation of this split measures the same masked tokens.
    ids, labels = mask_once(rows, masker, seed)
    return TokenizedSplit(ids, labels, lengths)


def _tokenize(texts: list[str], tokenizer: Any, max_length: int, pack: bool, causal: bool, whole_words: bool,
              control: Any, reporter: Any, phase: str) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Each text's ids (with the special tokens the model adds; a decoder's texts end with its
    end-of-text token so packed texts stay apart) and, for whole words, where words begin."""
    eos = getattr(tokenizer, "eos_token_id", None) if causal else None
    rows: list[np.ndarray] = []
    starts: list[np.ndarray] | None = [] if whole_words else None
    total = len(texts)
    for first in range(0, total, TOKENIZE_CHUNK):
        if control is not None:
            control.check(reporter, resume_status="preparing")
        chunk = texts[first : first + TOKENIZE_CHUNK]
        limit = {} if pack else {"truncation": True, "max_length": max_length}
        encoded = tokenizer(chunk, add_special_tokens=True, padding=False, **limit)
        for i, ids in enumerate(encoded["input_ids"]):
            if eos is not None and (not ids or ids[-1] != eos) and (pack or len(ids) < max_length):
                ids = [*ids, eos]
            rows.append(np.asarray(ids, dtype=np.int32))
            if starts is not None:
                words = encoded.word_ids(i)
                begins = [w is None or w != (words[j - 1] if j else None) for j, w in enumerate(words)]
                starts.append(np.asarray(begins, dtype=bool))
        if reporter is not None:
            reporter.on_progress(phase, min(first + TOKENIZE_CHUNK, total), total)
    return rows, starts


def _blocks(rows: list[np.ndarray], size: int) -> list[np.ndarray]:
    """The rows joined and cut into blocks of `size` (views of one array; the last may be short)."""
    if not rows:
        return []
    stream = np.concatenate(rows)
    return [stream[i : i + size] for i in range(0, len(stream), size)]
