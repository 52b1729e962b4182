"""The pre-training recipes being compared, one per child process:
`python benchmarks/pretrain_peers.py PEER CONFIG OUT`.

- `hf_mlm`: the stock Hugging Face recipe, as transformers' examples/pytorch/language-modeling/
  run_mlm.py writes it: `load_dataset("text")`, tokenize with special tokens, `group_texts` into
  blocks of max_length (the remainder dropped), `AutoModelForMaskedLM`,
  `DataCollatorForLanguageModeling(mlm_probability=0.15)`, `Trainer` with default
  `TrainingArguments` apart from the shared ones.
- `ftstudio`: `ftstudio.engine.training.train.train` with task `pretrain` and the same settings
  (what `ftstudio train --task pretrain` runs).
- `ftstudio_full_head`: ftstudio with the vocabulary head on every position, as the stock model
  computes it (FTSTUDIO_FULL_LM_HEAD=1): what computing it on the masked tokens only buys.

Shared: model, the text files (train.txt, validation.txt), max_length, batch size, max_steps,
learning rate, weight decay 0.01, 10% linear warmup, clipping at 1.0, seed; both evaluate at the
last step on the same small validation file and save a checkpoint there (ftstudio also measures
validation once before its first step, its "before" perplexity: inside its timing). Samples are blocks of max_length tokens for
both. Timing starts after the imports both share.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Clock, load_config, quiet_libraries, run_peer  # noqa: E402


def run_hf_mlm(cfg: dict[str, Any]) -> dict[str, Any]:
    from itertools import chain

    from datasets import load_dataset
    from transformers import (
        AutoModelForMaskedLM,
        AutoTokenizer,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    clock = Clock()
    set_seed(cfg["seed"])
    files = {split: str(Path(cfg["data_dir"]) / f"{split}.txt") for split in ("train", "validation")}
    raw = load_dataset("text", data_files=files)
    tokenizer = AutoTokenizer.from_pretrained(cfg["model_dir"])
    block = cfg["max_length"]

    def tokenize(batch):
        return tokenizer(batch["text"], return_special_tokens_mask=True)

    def group_texts(examples):  # run_mlm.py's, verbatim in substance
        joined = {k: list(chain(*examples[k])) for k in examples}
        total = (len(joined["input_ids"]) // block) * block
        return {k: [t[i : i + block] for i in range(0, total, block)] for k, t in joined.items()}

    data = raw.filter(lambda row: len(row["text"].strip()) > 0)
    data = data.map(tokenize, batched=True, remove_columns=["text"]).map(group_texts, batched=True)
    model = AutoModelForMaskedLM.from_pretrained(cfg["model_dir"])
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)
    args = TrainingArguments(
        output_dir=str(Path(cfg["scratch"]) / "hf"), learning_rate=cfg["learning_rate"],
        per_device_train_batch_size=cfg["batch_size"], per_device_eval_batch_size=cfg["batch_size"],
        max_steps=cfg["max_steps"], weight_decay=0.01, warmup_steps=0.1, seed=cfg["seed"], report_to="none",
        # The same work as ftstudio's run: an evaluation and a checkpoint at the last step.
        eval_strategy="steps", eval_steps=cfg["max_steps"], save_strategy="steps", save_steps=cfg["max_steps"],
    )
    trainer = Trainer(model=model, args=args, train_dataset=data["train"], eval_dataset=data["validation"],
                      processing_class=tokenizer, data_collator=collator)
    output = trainer.train()
    import math

    last_eval = [h for h in trainer.state.log_history if "eval_loss" in h][-1]
    return {"train_runtime": output.metrics["train_runtime"],
            "train_samples_per_second": output.metrics["train_samples_per_second"],
            "wall_to_end": clock(), "perplexity": math.exp(last_eval["eval_loss"]),
            "train_samples": cfg["max_steps"] * cfg["batch_size"]}


def run_ftstudio(cfg: dict[str, Any]) -> dict[str, Any]:
    import json

    from ftstudio.engine.settings import TrainSettings
    from ftstudio.engine.training.train import train

    clock = Clock()
    run_dir = Path(cfg["scratch"]) / "ftstudio-run"
    settings = TrainSettings(
        model=cfg["model_dir"], data=cfg["data_dir"], task="pretrain", max_steps=cfg["max_steps"],
        eval_steps=cfg["max_steps"], batch_size=cfg["batch_size"], max_length=cfg["max_length"],
        learning_rate=cfg["learning_rate"], seed=cfg["seed"], save_minutes=0)
    result = train(settings, run_dir)
    if result.status != "finished":
        raise RuntimeError(f"ftstudio run ended {result.status}: {result.message}")
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    summary = [r for r in records if r.get("event") == "train_summary"][-1]
    last = [r for r in records if r.get("event") == "eval"][-1]
    return {"train_runtime": summary["train_runtime"],
            "train_samples_per_second": summary["train_samples_per_second"],
            "wall_to_end": clock(), "perplexity": last["perplexity"],
            "train_samples": cfg["max_steps"] * cfg["batch_size"]}


PEERS = {"hf_mlm": run_hf_mlm, "ftstudio": run_ftstudio, "ftstudio_full_head": run_ftstudio}


def main(argv: list[str]) -> int:
    peer, config_path, out_path = argv
    cfg = load_config(config_path)
    quiet_libraries()
    if peer == "ftstudio_full_head":
        os.environ["FTSTUDIO_FULL_LM_HEAD"] = "1"
    if peer.startswith("ftstudio"):
        from ftstudio.engine.speed.cpu_runtime import configure_cpu_runtime

        configure_cpu_runtime()  # what ftstudio's entry points do before torch loads
    run_peer(PEERS[peer], peer, cfg, out_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
