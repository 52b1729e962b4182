"""Shared pieces of the benchmark: the data every peer reads, the metrics every peer is scored
with, the work (FLOPs) a recipe does and the machine's matmul peak, and how a child process
reports back.

Every peer reads the same two CSV files (train, validation) written once per benchmark run, so
all of them train on the same rows and are scored on the same validation rows with the same
code. Nothing here imports torch at module level: the driver stays light and each child process
decides its own runtime settings before torch loads.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


# ------------------------------------------------------------------ data
def write_benchmark_data(out_dir: Path, max_train: int, seed: int = 42) -> dict[str, Any]:
    """Train and validation CSVs (text,label) from the embedded sample.

    The validation rows are the sample's usual held-out 10% (stratified, seed 42), whole, so the
    score of every case is read on the same 1,440 rows; the training rows are a stratified,
    seeded subsample of the rest when `max_train` > 0 (the default benchmark is shorter).
    """
    from ftstudio.engine.data.prepare import prepare_data
    from ftstudio.engine.data.splits import subsample
    from ftstudio.engine.settings import TrainSettings

    prepared = prepare_data(TrainSettings(data="sample", seed=seed))
    names = list(prepared.label_names)
    out_dir.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for split in ("train", "validation"):
        texts = list(prepared.splits[split]["text"])
        labels = np.asarray(prepared.splits[split]["label"], dtype=np.int64)
        rows = np.arange(len(texts))
        if split == "train" and 0 < max_train < len(texts):
            rows = np.sort(subsample(labels, len(names), max_train, seed))
        with open(out_dir / f"{split}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows((texts[i], names[labels[i]]) for i in rows)
        sizes[split] = int(len(rows))
    return {"dir": str(out_dir), "label_names": names, "rows": sizes}


def read_split(data_dir: str | Path, split: str) -> tuple[list[str], list[str]]:
    with open(Path(data_dir) / f"{split}.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def token_lengths(model_dir: str, data_dir: str | Path, max_length: int) -> dict[str, list[int]]:
    """Real (unpadded, truncated) token counts per text, for the FLOP accounting."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    lengths = {}
    for split in ("train", "validation"):
        texts, _ = read_split(data_dir, split)
        ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
        lengths[split] = [len(x) for x in ids]
    return lengths


# ------------------------------------------------------------------ quality
def accuracy_and_macro_f1(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> tuple[float, float]:
    """Accuracy and macro F1 (zero for a class never predicted nor present), written here so
    every peer is scored by the same few lines."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    f1s = []
    for cls in range(num_classes):
        tp = np.sum((predictions == cls) & (labels == cls))
        fp = np.sum((predictions == cls) & (labels != cls))
        fn = np.sum((predictions != cls) & (labels == cls))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(predictions == labels)), float(np.mean(f1s))


# ------------------------------------------------------------------ work done
def encoder_forward_flops(config: dict[str, Any], length: int) -> float:
    """Forward FLOPs of a BERT-style encoder on one text of `length` real tokens: per layer the
    four attention projections and the feed-forward (2 FLOPs per multiply-add) plus attention
    scores and the weighted sum (4*s*d per token). Embedding look-ups and the small head are
    left out."""
    d, inner, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    per_token = 2 * (4 * d * d + 2 * d * inner) + 4 * length * d
    return float(layers * length * per_token)


def recipe_flops(config: dict[str, Any], lengths: dict[str, list[int]], workload: str, epochs: int,
                 encoder_passes: int | None = None) -> float:
    """Model FLOPs a recipe needs on real tokens, padding not counted (it is waste, the point of
    the measure): training (forward and backward, 3x forward, when the encoder trains; forward
    only when it is frozen), `encoder_passes` times over the train texts (default: each epoch),
    plus one validation pass per epoch (all peers evaluate every epoch inside the training loop;
    a peer with cached encoder outputs passes 1 for both and its evaluations cost ~nothing)."""
    train = sum(encoder_forward_flops(config, n) for n in lengths["train"])
    valid = sum(encoder_forward_flops(config, n) for n in lengths["validation"])
    passes = epochs if encoder_passes is None else encoder_passes
    factor = 3.0 if workload == "full" else 1.0
    evals = epochs if encoder_passes is None else encoder_passes
    return factor * train * passes + valid * evals


def matmul_peak_flops(size: int = 2048, seconds: float = 1.0, dtype: str = "float32") -> float:
    """Measured FLOP/s of a large square matmul on the CPU (the GPU when there is one): the
    practical peak each peer's achieved FLOP/s is a share of."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch_dtype = getattr(torch, dtype)
    a = torch.randn(size, size, device=device, dtype=torch_dtype)
    b = torch.randn(size, size, device=device, dtype=torch_dtype)
    a @ b  # warm up: kernel selection, page faults
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(4):
            a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        best = max(best, 4 * 2 * size**3 / (time.perf_counter() - start))
    return best


# ------------------------------------------------------------------ child processes
def peak_rss_mb(children: bool = False) -> float:
    """This process's peak resident memory, or with `children` the largest peak of its ended
    child processes (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def write_result(path: str | Path, result: dict[str, Any]) -> None:
    result.setdefault("peak_rss_mb", round(peak_rss_mb(), 1))
    Path(path).write_text(json.dumps(result, indent=2), encoding="utf-8")


def load_config(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def quiet_libraries() -> None:
    """No network, no telemetry, no tokenizer thread pool fighting the training threads."""
    for key, value in (("HF_HUB_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"),
                       ("TOKENIZERS_PARALLELISM", "false"), ("HF_HUB_DISABLE_TELEMETRY", "1")):
        os.environ.setdefault(key, value)


class Clock:
    """Wall time since the recipe began (after the heavy imports every peer shares)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start
