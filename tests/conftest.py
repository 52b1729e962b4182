"""Shared fixtures: tiny random BERT models and small data files, all made by the tests.

Nothing here touches the network or the real embedded model; tests that need those are marked
`slow`.
"""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

import pytest

# Qt without a display, and no network: the Hub must never be contacted by the suite.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

POSITIVE_WORDS = ["great", "love", "excellent", "happy", "wonderful", "good", "thanks", "best"]
NEGATIVE_WORDS = ["awful", "hate", "terrible", "sad", "delayed", "bad", "worst", "lost"]
NEUTRAL_WORDS = ["flight", "today", "seat", "gate", "ticket", "plane", "crew", "bag"]
FILLER = ["the", "a", "my", "was", "is", "and", "to", "it", "on", "with"]


def make_texts(n: int, seed: int = 0, classes: int = 3) -> list[tuple[str, str]]:
    """(text, label) pairs whose label is learnable from the words used."""
    rng = random.Random(seed)
    names = ["negative", "positive", "neutral"][:classes]
    pools = {"positive": POSITIVE_WORDS, "negative": NEGATIVE_WORDS, "neutral": NEUTRAL_WORDS}
    rows = []
    for i in range(n):
        label = names[i % classes]
        words = rng.choices(pools[label], k=3) + rng.choices(FILLER + NEUTRAL_WORDS, k=rng.randint(2, 8))
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


def write_csv(path: Path, rows, header=("text", "label"), delimiter=",") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def build_tiny_model(folder: Path, layers: int = 2, num_labels: int = 2) -> Path:
    """A small random BertModel with a word-level vocab covering the test texts."""
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += sorted(set(POSITIVE_WORDS + NEGATIVE_WORDS + NEUTRAL_WORDS + FILLER))
    vocab += [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    # transformers 5 takes the vocab as `vocab=` (a path or a dict); the class is the fast tokenizer.
    tokenizer = BertTokenizer(vocab=str(vocab_file), do_lower_case=True)
    tokenizer.save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=128,
    )
    import torch

    torch.manual_seed(0)
    # A masked-LM checkpoint, like the pretrained encoders users bring: the classifier head is new.
    BertForMaskedLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer random BERT folder (config, safetensors, tokenizer), built once per session."""
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-bert")


@pytest.fixture(scope="session")
def tiny_model_4l_dir(tmp_path_factory) -> Path:
    """A 4-layer variant for freezing-strategy tests."""
    return build_tiny_model(tmp_path_factory.mktemp("models4") / "tiny-bert-4l", layers=4)


@pytest.fixture
def small_csv(tmp_path) -> Path:
    """120 rows, 3 balanced string classes, columns text,label."""
    return write_csv(tmp_path / "small.csv", make_texts(120))


@pytest.fixture
def runs_dir(tmp_path, monkeypatch) -> Path:
    """An isolated runs folder, also set as the default so nothing lands in the user's home."""
    folder = tmp_path / "runs"
    monkeypatch.setenv("FTSTUDIO_RUNS_DIR", str(folder))
    return folder


@pytest.fixture
def one_thread():
    """One thread: these matrices are tiny, and threads of a busy machine wait on each other."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def base_loads(monkeypatch):
    """The base models loaded for adapters during the test (by spec), counted."""
    from ftstudio.engine.predict import adapter_checkpoints

    calls: list[str] = []
    original = adapter_checkpoints.load_base_model

    def counting(spec, *args, **kwargs):
        calls.append(spec)  # (may be called on the prediction thread; a list append is safe)
        return original(spec, *args, **kwargs)

    monkeypatch.setattr(adapter_checkpoints, "load_base_model", counting)
    return calls
