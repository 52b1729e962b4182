"""The recipes being compared, one per child process: `python benchmarks/peers.py PEER CONFIG OUT`.

Each peer is written the way its users write it, with only the shared settings set (model,
data, max length, batch size, epochs, learning rate, weight decay 0.01, 10% linear warmup,
gradient clipping at 1.0, seed, evaluation every epoch: ftstudio's `eval_steps` is pinned to
an epoch's steps, as its default schedule evaluates ~10 times a run):

- `hf_trainer`: the stock Hugging Face recipe: `datasets` map with truncation,
  `DataCollatorWithPadding`, `Trainer` with default `TrainingArguments` apart from those. For the
  task benchmark (`cfg["task"]`, see `tasks.py`) the recipe its users write for that task:
  multi-label: `problem_type="multi_label_classification"`, float multi-hot labels built from the
  0/1 columns, micro F1 of sigmoid >= 0.5; regression: `num_labels=1`, `problem_type="regression"`,
  the raw float scores (not standardised), RMSE and Pearson; pairs: `tokenizer(text, text_pair)`,
  accuracy and macro F1; token classification: run_ner.py's recipe (`is_split_into_words`, each
  word's tag on its first sub-token, -100 elsewhere, `DataCollatorForTokenClassification`,
  `AutoModelForTokenClassification`), entity F1 with seqeval (strict IOB2) and token accuracy.
- `torch_loop`: a plain PyTorch loop over the whole set tokenized once, padded to its longest
  text, `DataLoader(shuffle=True)`, AdamW with its defaults, `loss.item()` every step.
- `ftstudio`: `ftstudio.engine.training.train.train` with the same settings (what `ftstudio train` runs),
  plus the task's own (`task`, `text_column`, `text_pair_column`, `label_column`) for a task case.

Head-only ("head") freezes the base model except its pooler in every peer: ftstudio's head
group is the pooler plus the classifier, so all peers train the same parameters.

Timing starts after the imports every peer shares (torch, transformers, datasets), so wall
time counts what the recipe itself does: read and tokenize the data, load the model, train.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    TASKS,
    Clock,
    accuracy_and_macro_f1,
    count_rows,
    entity_f1_and_token_accuracy,
    load_config,
    multi_label_f1,
    quiet_libraries,
    read_split,
    rmse_and_pearson,
    run_peer,
)


def _freeze_encoder_but_pooler(model: Any) -> None:
    base = model.base_model
    for name, param in base.named_parameters():
        param.requires_grad = name.startswith("pooler.")


# ------------------------------------------------------------------ Hugging Face Trainer
def stock_recipe(cfg: dict[str, Any], tokenizer: Any) -> tuple[Any, dict[str, Any], Any]:
    """What a user of the task writes around the Trainer: the `datasets.map` function (tokens and
    labels), the model's head arguments, and `compute_metrics`."""
    import numpy as np

    task, names, max_length = cfg.get("task", "single-label"), cfg["label_names"], cfg["max_length"]
    columns = cfg.get("columns") or {"text": "text", "text_pair": None, "labels": ["label"]}
    text, pair, label = columns["text"], columns["text_pair"], columns["labels"][0]
    label2id = {name: i for i, name in enumerate(names)}
    head = {"num_labels": len(names), "id2label": dict(enumerate(names)), "label2id": label2id}

    if task == "token-classification":  # Hugging Face's run_ner.py: each word's tag on its first sub-token
        def preprocess(batch):
            encoded = tokenizer(batch[text], is_split_into_words=True, truncation=True, max_length=max_length)
            labels = []
            for i, tags in enumerate(batch[label]):
                previous, row = None, []
                for word in encoded.word_ids(i):
                    row.append(-100 if word is None or word == previous else label2id[tags[word]])
                    previous = word
                labels.append(row)
            encoded["labels"] = labels
            return encoded

        def compute_metrics(eval_pred):
            logits, labels = eval_pred
            predictions = np.argmax(logits, axis=-1)
            true = [[names[t] for t in row if t != -100] for row in labels]
            predicted = [[names[p] for p, t in zip(prow, row, strict=True) if t != -100]
                         for prow, row in zip(predictions, labels, strict=True)]
            f1, accuracy = entity_f1_and_token_accuracy(true, predicted)
            return {"entity_f1": f1, "token_accuracy": accuracy}

        return preprocess, head, compute_metrics

    if task == "multi-label":
        def preprocess(batch):
            encoded = tokenizer(batch[text], truncation=True, max_length=max_length)
            # BCEWithLogitsLoss wants float targets: one multi-hot row per text from the 0/1 columns.
            labels = np.zeros((len(batch[text]), len(names)), dtype=np.float32)
            for i, name in enumerate(names):
                labels[:, i] = batch[name]
            encoded["labels"] = labels.tolist()
            return encoded

        def compute_metrics(eval_pred):
            logits, labels = eval_pred
            probabilities = 1 / (1 + np.exp(-logits))
            micro, macro = multi_label_f1(labels, probabilities >= 0.5)
            return {"micro_f1": micro, "macro_f1": macro}

        return preprocess, dict(head, problem_type="multi_label_classification"), compute_metrics

    if task == "regression":
        def preprocess(batch):
            encoded = tokenizer(batch[text], truncation=True, max_length=max_length)
            encoded["labels"] = [float(x) for x in batch[label]]
            return encoded

        def compute_metrics(eval_pred):
            predictions, labels = eval_pred
            rmse, pearson = rmse_and_pearson(labels, predictions.reshape(-1))
            return {"rmse": rmse, "pearson": pearson}

        return preprocess, {"num_labels": 1, "problem_type": "regression"}, compute_metrics

    def preprocess(batch):  # single-label, on one text or (pairs) two
        encoded = tokenizer(batch[text], batch[pair] if pair else None, truncation=True, max_length=max_length)
        # "labels", not "label": datasets keeps a reused column's string type.
        encoded["labels"] = [label2id[x] for x in batch[label]]
        return encoded

    def compute_metrics(eval_pred):
        logits, labels = eval_pred
        accuracy, f1 = accuracy_and_macro_f1(labels, np.argmax(logits, axis=-1), len(names))
        return {"accuracy": accuracy, "f1": f1}

    return preprocess, head, compute_metrics


def stock_training_arguments(cfg: dict[str, Any], **extra: Any) -> Any:
    """The stock recipe's TrainingArguments: the defaults apart from the settings every peer
    shares (learning rate, batch, epochs, weight decay, warmup, seed), evaluating and saving at
    each epoch's end. `extra` adds a peer's own (bf16, use_cpu)."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(Path(cfg["scratch"]) / "hf"),
        learning_rate=cfg["learning_rate"],
        per_device_train_batch_size=cfg["batch_size"],
        per_device_eval_batch_size=cfg["batch_size"],
        num_train_epochs=cfg["epochs"],
        weight_decay=0.01,
        warmup_steps=0.1,
        eval_strategy="epoch",
        save_strategy="epoch",
        seed=cfg["seed"],
        report_to="none",
        **extra,
    )


def stock_data(cfg: dict[str, Any]) -> tuple[Any, Any, dict[str, Any], Any]:
    """The stock recipe up to the model: the seed, the files read with `datasets`, the tokenizer,
    `stock_recipe`'s map applied. Returns (data, tokenizer, head arguments, compute_metrics)."""
    from datasets import load_dataset
    from transformers import AutoTokenizer, set_seed

    set_seed(cfg["seed"])  # before the model loads, as Hugging Face's examples do: the new head's init
    kind, suffix = ("json", "jsonl") if cfg.get("task") == "token-classification" else ("csv", "csv")
    data = load_dataset(kind, data_files={s: str(Path(cfg["data_dir"]) / f"{s}.{suffix}") for s in ("train", "validation")})
    tokenizer = AutoTokenizer.from_pretrained(cfg["model_dir"])
    preprocess, head, compute_metrics = stock_recipe(cfg, tokenizer)
    data = data.map(preprocess, batched=True, remove_columns=data["train"].column_names)
    return data, tokenizer, head, compute_metrics


def run_hf_trainer(cfg: dict[str, Any]) -> dict[str, Any]:
    from transformers import (
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        DataCollatorForTokenClassification,
        DataCollatorWithPadding,
        Trainer,
    )

    clock = Clock()
    tokens = cfg.get("task") == "token-classification"
    data, tokenizer, head, compute_metrics = stock_data(cfg)
    auto = AutoModelForTokenClassification if tokens else AutoModelForSequenceClassification
    model = auto.from_pretrained(cfg["model_dir"], **head)
    collator = DataCollatorForTokenClassification(tokenizer) if tokens else DataCollatorWithPadding(tokenizer)
    if cfg["workload"] == "head":
        _freeze_encoder_but_pooler(model)

    args = stock_training_arguments(cfg)
    trainer = Trainer(model=model, args=args, train_dataset=data["train"], eval_dataset=data["validation"],
                      processing_class=tokenizer, data_collator=collator,
                      compute_metrics=compute_metrics)
    output = trainer.train()
    wall = clock()
    metrics = TASKS[cfg.get("task", "single-label")]["metrics"]
    last_eval = [h for h in trainer.state.log_history if f"eval_{metrics[0]}" in h][-1]
    return {
        "train_runtime": output.metrics["train_runtime"],
        "train_samples_per_second": output.metrics["train_samples_per_second"],
        "wall_to_end": wall,
        **{name: last_eval[f"eval_{name}"] for name in metrics},
        "train_samples": len(data["train"]) * cfg["epochs"],
    }


# ------------------------------------------------------------------ plain PyTorch loop
def run_torch_loop(cfg: dict[str, Any]) -> dict[str, Any]:
    import time

    import numpy as np
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        get_linear_schedule_with_warmup,
    )

    clock = Clock()
    torch.manual_seed(cfg["seed"])
    names = cfg["label_names"]
    label2id = {name: i for i, name in enumerate(names)}
    tokenizer = AutoTokenizer.from_pretrained(cfg["model_dir"])

    def encode(split):
        texts, labels = read_split(cfg["data_dir"], split)
        # Padded to the longest text of the whole set, as many tutorials do.
        enc = tokenizer(texts, padding=True, truncation=True, max_length=cfg["max_length"], return_tensors="pt")
        return TensorDataset(enc["input_ids"], enc["attention_mask"], torch.tensor([label2id[x] for x in labels]))

    train_set, valid_set = encode("train"), encode("validation")
    model = AutoModelForSequenceClassification.from_pretrained(cfg["model_dir"], num_labels=len(names))
    if cfg["workload"] == "head":
        _freeze_encoder_but_pooler(model)
    loader = DataLoader(train_set, batch_size=cfg["batch_size"], shuffle=True)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg["learning_rate"])
    total = len(loader) * cfg["epochs"]
    scheduler = get_linear_schedule_with_warmup(optimizer, int(0.1 * total), total)
    started = time.perf_counter()
    for _epoch in range(cfg["epochs"]):
        model.train()
        running = 0.0
        for input_ids, attention_mask, labels in loader:
            loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            running += loss.item()
        model.eval()
        predictions, truth = [], []
        with torch.no_grad():
            for input_ids, attention_mask, labels in DataLoader(valid_set, batch_size=cfg["batch_size"]):
                predictions.append(model(input_ids=input_ids, attention_mask=attention_mask).logits.argmax(-1))
                truth.append(labels)
        accuracy, f1 = accuracy_and_macro_f1(torch.cat(truth).numpy(), torch.cat(predictions).numpy(), len(names))
    runtime = time.perf_counter() - started
    samples = len(train_set) * cfg["epochs"]
    return {
        "train_runtime": runtime,
        "train_samples_per_second": samples / runtime,
        "wall_to_end": clock(),
        "accuracy": accuracy,
        "f1": f1,
        "train_samples": samples,
        "padded_width": int(train_set.tensors[0].shape[1]),
        "mean_loss_last_epoch": running / max(len(loader), 1),
        "rows_per_batch": float(np.mean([cfg["batch_size"]])),
    }


# ------------------------------------------------------------------ ftstudio
def ftstudio_settings(cfg: dict[str, Any]) -> Any:
    from ftstudio.engine.settings import TrainSettings
    from ftstudio.engine.training.optimization import count_steps

    overrides = cfg.get("ftstudio_overrides", {})
    # A task case names its task and columns (`common.write_task_data`'s "settings").
    task_settings = {k: v for k, v in cfg.get("task_settings", {}).items() if k not in overrides}
    shared = dict(
        model=cfg["model_dir"], data=cfg["data_dir"], max_length=cfg["max_length"], epochs=cfg["epochs"],
        batch_size=cfg["batch_size"], learning_rate=cfg["learning_rate"], weight_decay=0.01, warmup_ratio=0.1,
        max_grad_norm=1.0, seed=cfg["seed"], strategy="full" if cfg["workload"] == "full" else "head",
    )
    # Overrides win over the shared settings (the LoRA case sets strategy and the lora_* settings).
    settings = TrainSettings(**{**shared, **task_settings, **overrides})
    if "eval_steps" in overrides:
        return settings
    # The stock recipe evaluates once per epoch (eval_strategy="epoch"); ftstudio's default schedule
    # evaluates ~10 times a run, so the same per-epoch schedule is pinned: every epoch's steps.
    return settings.replace(eval_steps=count_steps(count_rows(cfg["data_dir"], "train"), settings)[0])


def ftstudio_result(run_dir: Path, wall: float) -> dict[str, Any]:
    """The figures every ftstudio run leaves in its metrics log (the quality figures: those of its
    task in `TASKS`)."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    summary = [r for r in records if r["event"] == "train_summary"][-1]
    last_eval = [r for r in records if r["event"] == "eval" and r.get("split") == "validation"][-1]
    logs = [r for r in records if r["event"] == "status"]
    task = next((r.get("task") for r in records if r["event"] == "info"), None) or "single-label"
    return {
        "train_runtime": summary["train_runtime"],
        "train_samples_per_second": summary["train_samples_per_second"],
        "wall_to_end": wall,
        **{name: last_eval[name] for name in TASKS[task]["metrics"]},
        "train_samples": summary["train_samples"],
        "run_dir": str(run_dir),
        "final_status": logs[-1]["status"] if logs else "",
    }


def run_ftstudio(cfg: dict[str, Any]) -> dict[str, Any]:
    from ftstudio.engine.events import Reporter
    from ftstudio.engine.training.train import train

    class Logs(Reporter):
        def __init__(self) -> None:
            self.lines: list[str] = []

        def on_log(self, message: str) -> None:
            self.lines.append(message)

    clock = Clock()
    run_dir = Path(cfg["scratch"]) / "ftstudio-run"
    logs = Logs()
    result = train(ftstudio_settings(cfg), run_dir, reporter=logs)
    wall = clock()
    if result.status != "finished":
        raise RuntimeError(f"ftstudio run ended {result.status}: {result.message}")
    out = ftstudio_result(run_dir, wall)
    if cfg.get("task") == "token-classification":
        # ftstudio cuts a sentence longer than max_length into windows (the stock recipe truncates
        # it): its rows are windows, so both peers are measured in sentences.
        out["train_samples"] = count_rows(cfg["data_dir"], "train") * cfg["epochs"]
        out["train_samples_per_second"] = round(out["train_samples"] / out["train_runtime"], 3)
    out["feature_cache"] = any("head-only feature cache on" in line for line in logs.lines)
    return out


PEERS = {"hf_trainer": run_hf_trainer, "torch_loop": run_torch_loop, "ftstudio": run_ftstudio}
# ftstudio with one lever turned off, to measure what each lever gives end to end:
# name -> (settings overrides, environment, configure the CPU runtime).
VARIANTS = {
    "ftstudio_no_grouping": ({"group_by_length": False}, {}, True),
    "ftstudio_no_cache": ({}, {"FTSTUDIO_FEATURE_CACHE": "0"}, True),
    "ftstudio_no_top_layer": ({}, {"FTSTUDIO_FIRST_TOKEN_TOP": "0"}, True),
    "ftstudio_no_fast_dropout": ({}, {"FTSTUDIO_FAST_DROPOUT": "0"}, True),
    # Not a speed lever: a multi-label head starting from random biases instead of the label priors.
    "ftstudio_no_prior_bias": ({}, {"FTSTUDIO_PRIOR_BIAS": "0"}, True),
    "ftstudio_default_openmp": ({}, {}, False),
}


def main(argv: list[str]) -> int:
    peer, config_path, out_path = argv
    cfg = load_config(config_path)
    quiet_libraries()
    if peer in VARIANTS:
        overrides, env, configure = VARIANTS[peer]
        cfg["ftstudio_overrides"] = dict(cfg.get("ftstudio_overrides", {}), **overrides)
        os.environ.update(env)
        PEERS[peer] = run_ftstudio
    if peer.startswith("ftstudio") and (peer not in VARIANTS or VARIANTS[peer][2]):
        # What ftstudio's entry points do before torch loads (see ftstudio/engine/speed/cpu_runtime.py).
        from ftstudio.engine.speed.cpu_runtime import configure_cpu_runtime

        configure_cpu_runtime()
    run_peer(PEERS[peer], peer, cfg, out_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
