"""Masking for masked-language modelling: which tokens the model must predict, and what it sees
in their place.

BERT's recipe, as transformers' DataCollatorForLanguageModeling applies it: each token (never a
special token or padding) is chosen with `probability`; of the chosen, 80% become the mask
token, 10% a random token, 10% stay as they are; the labels are the chosen tokens' ids and -100
elsewhere. With whole-word masking the choice is made per word and covers all of its
sub-tokens, so the model cannot guess "##ing" from "play". A batch always predicts at least one
token (a batch of nothing would have no loss).

The training split is masked afresh for every batch with torch's global generator, whose state
each checkpoint saves: a resumed run draws the very masks an uninterrupted one would. Validation
and test are masked once, with a generator seeded by the run's seed, so every evaluation (and
the "before" one) measures the same predictions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ftstudio.engine.data.batching import LABEL_PAD

REPLACE_WITH_MASK = 0.8  # of the chosen tokens; half of the rest become random tokens


class TokenMasker:
    """Chooses and hides tokens of padded batches (numpy int64 [rows, width] in, tensors out)."""

    def __init__(self, probability: float, mask_id: int, vocab_size: int, special_ids: list[int],
                 word_starts: list[np.ndarray] | None = None) -> None:
        self.probability = float(probability)
        self.mask_id = int(mask_id)
        self.vocab_size = int(vocab_size)
        self.special_ids = np.asarray(sorted(set(special_ids)), dtype=np.int64)
        self.word_starts = word_starts  # per row: True where a token begins a word (whole-word masking)

    def __call__(self, input_ids: Any, attention: Any, indices: Any, generator: Any = None) -> tuple[Any, Any]:
        """(masked input ids, labels) for a batch; `indices` are its rows in the split (for
        their word boundaries); `generator`: torch's global one when None."""
        import torch

        ids = input_ids.clone()
        candidates = attention.bool() & ~torch.isin(ids, torch.from_numpy(self.special_ids))
        draw = torch.rand(ids.shape, generator=generator) < self.probability
        if self.word_starts is not None:
            chosen = self._whole_words(draw, candidates, indices)
        else:
            chosen = draw & candidates
        if not bool(chosen.any()) and bool(candidates.any()):
            places = candidates.nonzero()
            pick = places[int(torch.randint(len(places), (1,), generator=generator))]
            chosen[pick[0], pick[1]] = True
        labels = torch.where(chosen, ids, torch.full_like(ids, LABEL_PAD))
        replace = (torch.rand(ids.shape, generator=generator) < REPLACE_WITH_MASK) & chosen
        randomise = (torch.rand(ids.shape, generator=generator) < 0.5) & chosen & ~replace
        random_ids = torch.randint(self.vocab_size, ids.shape, generator=generator, dtype=ids.dtype)
        ids[replace] = self.mask_id
        ids[randomise] = random_ids[randomise]
        return ids, labels

    def _whole_words(self, draw: Any, candidates: Any, indices: Any) -> Any:
        """A word is chosen by the draw at its first token; all its tokens follow."""
        import torch

        starts = torch.zeros(draw.shape, dtype=torch.bool)
        for i, row in enumerate(indices):
            found = self.word_starts[int(row)]
            starts[i, : len(found)] = torch.from_numpy(np.asarray(found, dtype=bool))
        word = starts.long().cumsum(dim=1)  # tokens of one word share its number (0: before the first)
        # Summed, not written: a word's other tokens map to the same slot and must not overwrite it.
        chosen_words = torch.zeros((draw.shape[0], draw.shape[1] + 1), dtype=torch.long)
        chosen_words.scatter_add_(1, word, (draw & starts & candidates).long())
        return (chosen_words.gather(1, word) > 0) & candidates


def mask_once(input_ids: list[Any], masker: TokenMasker, seed: int, batch_rows: int = 256) -> tuple[list, np.ndarray]:
    """Rows masked once, for good (validation, test): the masked rows and their labels (an
    object array of per-row label arrays), reproducible from `seed`."""
    import torch

    generator = torch.Generator().manual_seed(int(seed))
    masked: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for start in range(0, len(input_ids), batch_rows):
        rows = input_ids[start : start + batch_rows]
        width = max(len(r) for r in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        attention = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            attention[i, : len(row)] = 1
        out_ids, out_labels = masker(torch.from_numpy(ids), torch.from_numpy(attention),
                                     np.arange(start, start + len(rows)), generator=generator)
        for i, row in enumerate(rows):
            masked.append(out_ids[i, : len(row)].numpy().copy())
            labels.append(out_labels[i, : len(row)].numpy().copy())
    found = np.empty(len(labels), dtype=object)
    found[:] = labels
    return masked, found
