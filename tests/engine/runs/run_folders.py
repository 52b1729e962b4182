"""Run folders built by hand, as the contract of docs/architecture.md lays them out: settings.json,
status.json, metrics.jsonl and checkpoint folders holding config.json and trainer_state.json (no
weights: lineage, listing and model cards never load a model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ftstudio.engine.runs import folder as runs

PRETRAIN_METRICS = ("perplexity", "token_accuracy")


def make_run(runs_dir: Path, name: str, *, task: str = "single-label", model: str = "default",
             data: str = "/data/tweets.csv", status: str = "finished", created: float = 1.0,
             checkpoints: tuple[str, ...] = ("best", "last"), objective: str = "masked",
             labels: tuple[str, ...] = ("negative", "positive"), step: int = 20) -> Path:
    """A run folder of `task` started from `model`, with evaluations at steps 0 (pretrain), 10 and
    `step` and the named checkpoint folders ("best", "last", "checkpoints/step-20")."""
    run_dir = runs_dir / name
    run_dir.mkdir(parents=True)
    pretrain = task == "pretrain"
    metric = "perplexity" if pretrain else "f1"
    settings = {"model": model, "data": data, "task": task, "metric_for_best": "auto", "learning_rate": 5e-5,
                "epochs": 3, "batch_size": 16, "max_length": 128, "seed": 42, "strategy": "full"}
    if pretrain:
        settings.update(mlm_probability=0.15, whole_word_masking=False, pack_texts=True)
    runs.write_settings(run_dir, settings, {"model": {"spec": model}, "created": created})
    runs.write_status(run_dir, status, "", step)
    runs.append_metric(run_dir, {"event": "info", "task": task, "total_steps": step, "best_metric": metric,
                                 "metrics": list(PRETRAIN_METRICS) if pretrain else ["accuracy", "f1"]})
    evals = [(0, 40.0, 0.2), (10, 12.0, 0.4), (step, 9.5, 0.5)] if pretrain else [(10, 0.6, 0.6), (step, 0.8, 0.75)]
    for at, first, second in evals:
        names = PRETRAIN_METRICS if pretrain else ("f1", "accuracy")
        runs.append_metric(run_dir, {"event": "eval", "task": task, "split": "validation", "step": at, "loss": 1.0,
                                     names[0]: first, names[1]: second})
    state = trainer_state(task, model, step, objective, [] if pretrain else list(labels))
    for checkpoint in checkpoints:
        folder = run_dir / checkpoint
        folder.mkdir(parents=True)
        arch = ("BertForMaskedLM" if objective == "masked" else "LlamaForCausalLM") if pretrain else \
            "BertForSequenceClassification"
        (folder / "config.json").write_text(json.dumps({"architectures": [arch]}), encoding="utf-8")
        (folder / "trainer_state.json").write_text(json.dumps(state), encoding="utf-8")
    return run_dir


def trainer_state(task: str, base_model: str, step: int = 20, objective: str = "masked",
                  labels: list[str] | None = None) -> dict[str, Any]:
    """A checkpoint's trainer_state.json as the contract has it (task state of a pretrain run)."""
    pretrain = task == "pretrain"
    task_state = ({"objective": objective, "text_column": "text", "base_model": base_model,
                   "mlm_probability": 0.15, "whole_word_masking": False, "pack_texts": True} if pretrain else {})
    return {"global_step": step, "total_steps": step, "best_step": step, "best_value": 9.5 if pretrain else 0.8,
            "metric_for_best": "perplexity" if pretrain else "f1", "last_eval_step": step,
            "metrics": {"perplexity": 9.5} if pretrain else {"f1": 0.8}, "label_names": labels or [],
            "max_length": 128, "task": {"name": task, "state": task_state}}
