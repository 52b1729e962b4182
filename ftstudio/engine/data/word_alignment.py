"""Tokenizing pre-split words for token classification: one label per word becomes one label per
sub-token, and sentences longer than the model's window become several windows.

A word's tag goes on its first sub-token; the other sub-tokens get IGNORE (-100, which
transformers' token-classification loss skips) unless `label_all_subtokens`, which repeats the
word's tag on them (a B- tag continuing as I-, as Hugging Face's example does with
`label_all_tokens`). A sentence whose sub-tokens do not fit `max_length` is cut at word
boundaries into consecutive windows that each fit, so no word loses its label to truncation.
A word the tokenizer reduces to nothing (a zero-width space) is read as its unknown token, so
every word keeps exactly one labelled position.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ftstudio.engine.data.batching import LABEL_PAD, TOKENIZE_CHUNK, TokenizedSplit

if TYPE_CHECKING:
    from ftstudio.engine.events import Reporter, TrainingControl

IGNORE = LABEL_PAD  # positions the loss and the metrics skip


def word_windows(word_pieces: list[int], room: int) -> list[tuple[int, int]]:
    """Consecutive (start, end) word ranges whose sub-token counts each sum to at most `room`
    (a single word longer than `room` gets a window of its own, truncated by the tokenizer)."""
    windows, start, used = [], 0, 0
    for i, pieces in enumerate(word_pieces):
        if used and used + pieces > room:
            windows.append((start, i))
            start, used = i, 0
        used += pieces
    if start < len(word_pieces) or not windows:
        windows.append((start, len(word_pieces)))
    return windows


def _continuation_tags(label_names: list[str]) -> np.ndarray:
    """For each tag id, the id a later sub-token of the same word gets (B-X -> I-X)."""
    index = {name: i for i, name in enumerate(label_names)}
    return np.array([index.get("I-" + name[2:], i) if name.startswith("B-") else i
                     for i, name in enumerate(label_names)], dtype=np.int64)


def tokenize_words(
    words: list[list[str]],
    tags: list[Any],
    tokenizer: Any,
    max_length: int,
    label_names: list[str],
    label_all_subtokens: bool = False,
    control: TrainingControl | None = None,
    reporter: Reporter | None = None,
    phase: str = "tokenizing",
) -> tuple[TokenizedSplit, np.ndarray]:
    """Sub-token ids and per-sub-token labels for each sentence (or window of a long sentence),
    and for each returned row the index of the sentence it came from."""
    if not getattr(tokenizer, "is_fast", False):
        from ftstudio.engine.errors import ModelError

        raise ModelError("Token classification needs the model's fast tokenizer (tokenizer.json), which maps "
                         "sub-tokens to words; this model has only a slow one.")
    special = tokenizer.num_special_tokens_to_add(pair=False)
    unknown = tokenizer.unk_token or "?"
    room = max(max_length - special, 1)
    continuation = _continuation_tags(label_names)
    ids: list[list[int]] = []
    labels: list[np.ndarray] = []
    sources: list[int] = []
    total = len(words)
    for start in range(0, total, TOKENIZE_CHUNK):
        if control is not None:
            control.check(reporter, resume_status="preparing")
        chunk = [list(w) for w in words[start:start + TOKENIZE_CHUNK]]
        # Sub-token counts per word, without special tokens: where the windows are cut.
        # verbose=False: counting a long sentence is not the "longer than the maximum" misuse it warns about.
        pieces = tokenizer(chunk, is_split_into_words=True, add_special_tokens=False, verbose=False)
        windows = []  # (sentence in the chunk, first word, end word)
        for offset, sentence in enumerate(chunk):
            counts = np.bincount([w for w in pieces.word_ids(offset) if w is not None], minlength=len(sentence))
            if not counts.all():
                # A word the tokenizer reduces to nothing (a zero-width space, a control character)
                # would take its tag with it and shift every later word: it is read as the unknown token.
                chunk[offset] = [w if c else unknown for w, c in zip(sentence, counts, strict=True)]
                counts = np.maximum(counts, 1)
            windows += [(offset, lo, hi) for lo, hi in word_windows(counts.tolist(), room)]
        # One batched call for the chunk's windows: the fast tokenizer parallelises it.
        encoded = tokenizer([chunk[o][lo:hi] for o, lo, hi in windows], is_split_into_words=True,
                            truncation=True, max_length=max_length)
        for number, (offset, lo, _hi) in enumerate(windows):
            row_tags = np.asarray(tags[start + offset], dtype=np.int64)
            row = np.full(len(encoded["input_ids"][number]), IGNORE, dtype=np.int64)
            previous = None
            for position, word in enumerate(encoded.word_ids(number)):
                if word is None:
                    continue
                tag = row_tags[lo + word]
                if word != previous:
                    row[position] = tag
                elif label_all_subtokens:
                    row[position] = continuation[tag]
                previous = word
            ids.append(encoded["input_ids"][number])
            labels.append(row)
            sources.append(start + offset)
        if reporter is not None:
            reporter.on_progress(phase, min(start + TOKENIZE_CHUNK, total), total)
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    ragged = np.empty(len(labels), dtype=object)
    ragged[:] = labels
    rows = np.asarray(sources, dtype=np.int64)
    return TokenizedSplit(ids, ragged, lengths, sources=rows), rows
