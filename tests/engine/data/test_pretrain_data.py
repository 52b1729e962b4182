"""Text for pre-training: .txt files and folders, table text columns, cleaning and hold-out,
packing into blocks and masking."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoTokenizer

from ftstudio.engine.data.batching import LABEL_PAD, collate
from ftstudio.engine.data.masking import TokenMasker, mask_once
from ftstudio.engine.data.prepare import prepare_data
from ftstudio.engine.data.text_blocks import language_model_split
from ftstudio.engine.errors import DatasetError
from ftstudio.engine.settings import TrainSettings
from tests.conftest import write_csv


def _settings(data, **changes) -> TrainSettings:
    return TrainSettings(**{"data": str(data), "task": "pretrain", **changes})


def test_a_txt_file_is_one_text_per_line_blank_and_repeated_lines_dropped(tmp_path):
    lines = [f"text number {i} about the flight" for i in range(50)]
    path = tmp_path / "corpus.txt"
    path.write_text("\ufeff" + "\n".join([*lines, "", "   ", lines[0], lines[1]]) + "\n", encoding="utf-8")
    prepared = prepare_data(_settings(path, seed=3))
    texts = list(prepared.splits["train"]["text"]) + list(prepared.splits["validation"]["text"])
    assert sorted(texts) == sorted(lines) and prepared.label_names == [] and prepared.task.name == "pretrain"
    assert len(prepared.splits["validation"]) == 5
    assert any("2 duplicate" in n for n in prepared.notes) and any("one text per line" in n for n in prepared.notes)
    again = prepare_data(_settings(path, seed=3))
    assert again.splits["validation"]["text"] == prepared.splits["validation"]["text"]  # same seed, same split


def test_a_folder_of_txt_files_names_its_splits_and_reads_the_rest_as_training_text(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text("alpha one\nalpha two\n", encoding="utf-8")
    (folder / "b.txt").write_text("beta one\n", encoding="latin-1")
    (folder / "dev.txt").write_text("held out text\n", encoding="utf-8")
    prepared = prepare_data(_settings(folder))
    assert sorted(prepared.splits["train"]["text"]) == ["alpha one", "alpha two", "beta one"]
    assert prepared.splits["validation"]["text"] == ["held out text"]


def test_a_table_gives_its_text_column_and_its_labels_are_ignored(tmp_path):
    path = write_csv(tmp_path / "t.csv", [(f"some text {i}", "positive") for i in range(40)])
    prepared = prepare_data(_settings(path))
    assert set(prepared.splits["train"].column_names) == {"text"}
    assert any("label ignored" in n for n in prepared.notes)


@pytest.mark.parametrize("content, message", [("\n\n  \n", "every line is blank"), ("\x00\x01binary", "binary")])
def test_unusable_text_files_are_refused_in_words(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(DatasetError, match=message):
        prepare_data(_settings(path))


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


TEXTS = ["the flight was great", "my bag was lost today", "thanks crew", "the seat was bad and the gate was awful"]


def test_packing_joins_texts_into_full_blocks_and_keeps_every_token(tokenizer):
    split = language_model_split(TEXTS, tokenizer, objective="causal", max_length=8, pack=True)
    single = [tokenizer(t)["input_ids"] + [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None
              else tokenizer(t)["input_ids"] for t in TEXTS]
    assert np.concatenate(split.input_ids).tolist() == [i for row in single for i in row]
    assert all(len(row) == 8 for row in split.input_ids[:-1]) and 0 < len(split.input_ids[-1]) <= 8
    unpacked = language_model_split(TEXTS, tokenizer, objective="masked", max_length=6, pack=False)
    assert len(unpacked) == len(TEXTS) and max(unpacked.lengths) == 6  # one text a row, truncated


def test_training_masks_change_every_batch_and_follow_the_recipe(tokenizer):
    import torch

    texts = [" ".join(["the flight was great and the crew was happy"] * 3)] * 64
    split = language_model_split(texts, tokenizer, objective="masked", max_length=32, pack=True, training=True)
    torch.manual_seed(0)
    first = collate(split, np.arange(len(split)), tokenizer.pad_token_id)
    second = collate(split, np.arange(len(split)), tokenizer.pad_token_id)
    assert not torch.equal(first["labels"], second["labels"])  # masked afresh
    labels, ids = first["labels"], first["input_ids"]
    original = torch.full(ids.shape, tokenizer.pad_token_id)
    for i, row in enumerate(split.input_ids):
        original[i, : len(row)] = torch.as_tensor(row)
    chosen = labels != LABEL_PAD
    assert torch.equal(labels[chosen], original[chosen])  # the labels are the hidden tokens
    assert 0.10 < chosen.float().mean() < 0.20  # 15% of the tokens
    assert not (chosen & torch.isin(original, torch.tensor(tokenizer.all_special_ids))).any()  # never [CLS]/[SEP]/pad
    assert 0.7 < ((ids == tokenizer.mask_token_id) & chosen).sum() / chosen.sum() < 0.9  # 80% become [MASK]
    assert 0.03 < ((ids == original) & chosen).sum() / chosen.sum() < 0.2  # ~10% kept (plus random hits)
    assert torch.equal(ids[~chosen], original[~chosen])  # nothing else changes


def test_whole_word_masking_masks_all_pieces_of_a_word_together():
    import torch

    from ftstudio.engine.models.sources import default_model_path

    real = AutoTokenizer.from_pretrained(str(default_model_path()))  # WordPiece: long words are several pieces
    texts = ["unbelievably frustrating turbulence over reykjavik, flightattendants apologised"] * 40
    split = language_model_split(texts, real, objective="masked", max_length=64, pack=False,
                                 whole_words=True, training=True)
    starts = split.masker.word_starts[0]
    assert len(starts) - starts.sum() >= 4  # several continuation pieces to keep together
    torch.manual_seed(1)
    batch = collate(split, np.arange(len(split)), real.pad_token_id)
    whole = 0
    for row in range(len(split)):
        chosen = (batch["labels"][row, : len(starts)] != LABEL_PAD).numpy()
        words = np.cumsum(split.masker.word_starts[row])
        for word in np.unique(words[chosen]):
            assert chosen[words == word].all()  # a chosen word is chosen whole
            whole += int((words == word).sum() > 1)
    assert whole > 0  # and multi-piece words were among the chosen


def test_validation_is_masked_once_reproducibly(tokenizer):
    rows = [np.asarray(tokenizer(t)["input_ids"]) for t in TEXTS * 20]
    masker = TokenMasker(0.15, tokenizer.mask_token_id, len(tokenizer), tokenizer.all_special_ids)
    first_ids, first_labels = mask_once(rows, masker, seed=5)
    again_ids, again_labels = mask_once(rows, masker, seed=5)
    assert all((a == b).all() for a, b in zip(first_labels, again_labels, strict=True))
    assert all((row != LABEL_PAD).any() for row in first_labels[:1])
    assert sum(int((row != LABEL_PAD).sum()) for row in first_labels) > 0
