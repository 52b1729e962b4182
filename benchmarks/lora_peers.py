"""The LoRA benchmark's own children, one per process: `python benchmarks/lora_peers.py MODE CONFIG OUT`.

- `stock_lora`: the stock recipe with peft, as its sequence-classification examples write it:
  `peers.stock_recipe`'s `datasets` map, model head and metrics, the model wrapped by
  `get_peft_model(LoraConfig(task_type=SEQ_CLS, r, lora_alpha, lora_dropout, target_modules))`
  (peft then trains the classifier as a full copy, `modules_to_save`), and `Trainer` with
  `peers.stock_training_arguments` (the shared settings, evaluating and saving every epoch).
- `ftstudio_save_timing`: ftstudio's `checkpoints.save_checkpoint` timed on one model two ways, in turns:
  a full fine-tuning checkpoint (every weight and its AdamW moments) and a LoRA step folder
  (the adapter, the trained head and their moments), each with the optimizer state after one
  real step, as a run's save finds it; plus the LoRA save that publishes a new best/ (merged
  weights). The folders' sizes come with the times.

ftstudio's LoRA and full fine-tuning arms need nothing of their own: they are `peers.py ftstudio`
with `strategy` and the `lora_*` settings in `ftstudio_overrides`.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers  # noqa: E402
from common import Clock, read_split  # noqa: E402


def lora_config(cfg: dict[str, Any]) -> Any:
    """The LoraConfig both the stock peer and the settings of ftstudio's arm describe."""
    from peft import LoraConfig, TaskType

    # The pooler trains too, as ftstudio's head group does (peft's SEQ_CLS adds the classifier itself):
    # both arms train the same parameters, so their speed and accuracy compare the recipes alone.
    return LoraConfig(task_type=TaskType.SEQ_CLS, r=cfg["lora_rank"], lora_alpha=cfg["lora_alpha"],
                      lora_dropout=cfg["lora_dropout"], target_modules=cfg["lora_targets"].split(","),
                      modules_to_save=["pooler"])


def run_stock_lora(cfg: dict[str, Any]) -> dict[str, Any]:
    import datasets
    import peft
    import torch
    import transformers
    from peft import get_peft_model
    from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding, Trainer

    clock = Clock()
    data, tokenizer, head, compute_metrics = peers.stock_data(cfg)  # (seeded first: the head's and adapters' init)
    model = get_peft_model(AutoModelForSequenceClassification.from_pretrained(cfg["model_dir"], **head),
                           lora_config(cfg))
    trainable, total = model.get_nb_trainable_parameters()
    trainer = Trainer(model=model, args=peers.stock_training_arguments(cfg), train_dataset=data["train"],
                      eval_dataset=data["validation"], processing_class=tokenizer,
                      data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=compute_metrics)
    output = trainer.train()
    wall = clock()
    last_eval = [h for h in trainer.state.log_history if "eval_accuracy" in h][-1]
    return {"train_runtime": output.metrics["train_runtime"],
            "train_samples_per_second": output.metrics["train_samples_per_second"], "wall_to_end": wall,
            "accuracy": last_eval["eval_accuracy"], "f1": last_eval["eval_f1"],
            "train_samples": len(data["train"]) * cfg["epochs"], "trainable_params": trainable, "total_params": total,
            "versions": {m.__name__: m.__version__ for m in (torch, transformers, datasets, peft)}}


# ------------------------------------------------------------------ checkpoint save time
def _one_step_model(cfg: dict[str, Any], settings: Any, lora: bool) -> dict[str, Any]:
    """The model (with LoRA attached the engine's way when `lora`), its tokenizer, and ftstudio's
    optimizer after one step on a real batch: what a save at a step boundary finds."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ftstudio.engine.models.adapters import attach_lora
    from ftstudio.engine.models.freezing import apply_freeze, optimizer_param_groups
    from ftstudio.engine.tasks.registry import get_task
    from ftstudio.engine.training.optimization import make_optimizer, make_scheduler

    names = cfg["label_names"]
    torch.manual_seed(cfg["seed"])
    tokenizer = AutoTokenizer.from_pretrained(cfg["model_dir"])
    model = AutoModelForSequenceClassification.from_pretrained(
        cfg["model_dir"], num_labels=len(names), id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)})
    adapters = attach_lora(model, settings, get_task("single-label"), cfg["model_dir"], True) if lora else None
    apply_freeze(model, settings.strategy_kind, settings.frozen_layers, 0)
    optimizer = make_optimizer(optimizer_param_groups(model, settings.learning_rate, settings.weight_decay),
                               settings, torch.device("cpu"))
    scheduler = make_scheduler(optimizer, settings, 100)
    texts, labels = read_split(cfg["data_dir"], "train")
    batch = tokenizer(texts[: cfg["batch_size"]], truncation=True, max_length=cfg["max_length"], padding=True,
                      return_tensors="pt")
    target = torch.tensor([names.index(x) for x in labels[: cfg["batch_size"]]])
    model.train()
    model(**batch, labels=target).loss.backward()
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad()
    return {"model": model, "tokenizer": tokenizer, "adapters": adapters, "optimizer": optimizer,
            "scheduler": scheduler, "names": names}


def _save_once(arm: dict[str, Any], run_dir: Path, step: int, is_best: bool) -> tuple[float, Path]:
    import torch

    from ftstudio.engine.runs.checkpoints import save_checkpoint

    trainer_state = {"global_step": step, "epoch": 0, "label_names": arm["names"], "metrics": {},
                     "task": {"name": "single-label", "state": {}}, "processes": 1}
    started = time.perf_counter()
    # As the trainer builds it at each save (training/checkpoint_state.py), inside the timed part.
    training_state = {"optimizer": arm["optimizer"].state_dict(), "scheduler": arm["scheduler"].state_dict(),
                      "rng_cpu": torch.get_rng_state(), "task_weights": None}
    folder = save_checkpoint(run_dir, step, arm["model"], arm["tokenizer"], trainer_state, training_state,
                             is_best=is_best, keep=2, adapters=arm["adapters"])
    return time.perf_counter() - started, folder


def folder_sizes(folder: Path) -> dict[str, int]:
    """Bytes of a checkpoint folder: all of it, its weights file, its resume state."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    weights = [p for p in files if p.name in ("model.safetensors", "adapter_model.safetensors")
               and p.parent == folder]
    return {"total_bytes": sum(p.stat().st_size for p in files),
            "weights_bytes": sum(p.stat().st_size for p in weights),
            "weights_file": weights[0].name if weights else None,
            "training_state_bytes": sum(p.stat().st_size for p in files if p.name == "training_state.pt")}


def run_save_timing(cfg: dict[str, Any]) -> dict[str, Any]:
    """Median seconds of `save_checkpoint` for full fine-tuning and for LoRA (a step, and a step
    with a new best/), saved in turns `save_repeats` times each into run folders of the scratch."""
    scratch = Path(cfg["scratch"])
    arms = {}
    for name, overrides in (("full", {"strategy": "full"}), ("lora", cfg["lora_overrides"])):
        settings = peers.ftstudio_settings(dict(cfg, ftstudio_overrides=overrides))
        arms[name] = dict(_one_step_model(cfg, settings, name == "lora"), run_dir=scratch / f"save-{name}")
        arms[name]["run_dir"].mkdir(parents=True, exist_ok=True)
        # The run folder's settings record, which the model card written into each checkpoint reads.
        (arms[name]["run_dir"] / "settings.json").write_text(json.dumps({"settings": settings.to_dict()}),
                                                             encoding="utf-8")
    times: dict[str, list[float]] = {"full": [], "lora": [], "lora_new_best": [], "full_new_best": []}
    sizes: dict[str, Any] = {}
    for repeat in range(cfg["save_repeats"]):
        for name in ("full", "lora"):
            for is_best in (False, True):
                key = f"{name}_new_best" if is_best else name
                seconds, folder = _save_once(arms[name], arms[name]["run_dir"], 2 * repeat + 1 + is_best, is_best)
                times[key].append(seconds)
                if repeat == 0 and not is_best:
                    # (the model card too: a save that failed to write it would be timed short)
                    sizes[name] = dict(folder_sizes(folder), model_card=(folder / "README.md").is_file())
    sizes["lora_best"] = folder_sizes(arms["lora"]["run_dir"] / "best")
    sizes["full_best"] = folder_sizes(arms["full"]["run_dir"] / "best")
    result = {"save_seconds": times, "save_seconds_median": {k: statistics.median(v) for k, v in times.items()},
              "sizes": sizes}
    for name, arm in arms.items():
        result[f"{name}_trainable_params"] = sum(p.numel() for p in arm["model"].parameters() if p.requires_grad)
    return result


def main(argv: list[str]) -> int:
    """`peers.main` with this module's modes: the save timing's name starts with "ftstudio", so it
    runs with ftstudio's CPU runtime settings like ftstudio's training peers."""
    peers.PEERS.update({"stock_lora": run_stock_lora, "ftstudio_save_timing": run_save_timing})
    return peers.main(argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
