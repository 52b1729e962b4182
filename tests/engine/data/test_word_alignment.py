"""Words to sub-tokens for token classification: a word's tag on its first sub-token, long
sentences cut into windows at word boundaries."""

from __future__ import annotations

import numpy as np
import pytest

from ftstudio.engine.data.batching import collate
from ftstudio.engine.data.word_alignment import IGNORE, tokenize_words, word_windows

NAMES = ["O", "B-person", "I-person", "B-place", "I-place"]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def test_windows_fit_the_room_and_cover_every_word_once():
    assert word_windows([1, 1, 1], 5) == [(0, 3)]
    assert word_windows([2, 2, 2, 2], 5) == [(0, 2), (2, 4)]
    assert word_windows([7, 1], 5) == [(0, 1), (1, 2)]  # a word longer than the room stands alone
    assert word_windows([], 5) == [(0, 0)]


def test_the_first_sub_token_carries_the_tag_and_the_others_are_ignored(tokenizer):
    # The tokenizer splits a word at punctuation: "seat-gate" is three sub-tokens of one word.
    words = [["great", "seat-gate", "flight"]]
    tags = [np.array([1, 3, 0])]
    split, sources = tokenize_words(words, tags, tokenizer, 32, NAMES)
    pieces = tokenizer(words[0], is_split_into_words=True)
    word_ids = pieces.word_ids()
    labels = split.labels[0]
    assert len(labels) == len(split.input_ids[0]) == len(word_ids)
    firsts = [i for i, w in enumerate(word_ids) if w is not None and (i == 0 or word_ids[i - 1] != w)]
    assert labels[firsts].tolist() == [1, 3, 0]
    assert all(labels[i] == IGNORE for i in range(len(labels)) if i not in firsts)
    assert sources.tolist() == [0]
    every, _ = tokenize_words(words, tags, tokenizer, 32, NAMES, label_all_subtokens=True)
    continued = [every.labels[0][i] for i, w in enumerate(word_ids) if w == 1 and i not in firsts]
    assert continued and set(continued) == {4}  # B-place continues as I-place


def test_a_long_sentence_becomes_windows_that_keep_every_words_label(tokenizer):
    words = [["great"] * 40]
    tags = [np.array([1] + [2] * 39)]
    split, sources = tokenize_words(words, tags, tokenizer, 16, NAMES)
    assert len(split) == 3 and sources.tolist() == [0, 0, 0]
    assert all(len(ids) <= 16 for ids in split.input_ids)
    kept = np.concatenate([row[row != IGNORE] for row in split.labels])
    assert kept.tolist() == tags[0].tolist()


def test_collate_pads_token_labels_with_the_ignore_index(tokenizer):
    split, _ = tokenize_words([["great"], ["great", "flight", "seat"]], [np.array([1]), np.array([1, 0, 3])],
                              tokenizer, 32, NAMES)
    batch = collate(split, np.array([0, 1]), tokenizer.pad_token_id)
    assert batch["labels"].shape == batch["input_ids"].shape
    assert batch["labels"][0].tolist()[3:] == [IGNORE] * (batch["labels"].shape[1] - 3)


def test_a_word_the_tokenizer_drops_keeps_its_place_and_label(tokenizer):
    # A zero-width space and a control character tokenize to nothing; their tags must not shift.
    words = [["great", "\u200b", "seat", "\x00", "flight"]]
    tags = [np.array([1, 0, 3, 0, 0])]
    split, _ = tokenize_words(words, tags, tokenizer, 32, NAMES)
    kept = split.labels[0][split.labels[0] != IGNORE]
    assert kept.tolist() == [1, 0, 3, 0, 0]
