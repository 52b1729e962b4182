"""The model card (README.md) written into every checkpoint folder.

A Hugging Face style card: YAML front matter the Hub reads (library, base model, pipeline tag,
tags), then what the model is, where it came from (its lineage: a fine-tune of a pre-training run
of a base model), the settings that shaped it, its best evaluation and how to load it with the
stock pipeline. Everything comes from the run folder's JSON files and the checkpoint's trainer
state: nothing is loaded, so writing it cannot slow or break a save (the caller skips it on error).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from ftstudio.engine.runs.folder import _read_json, read_metrics
from ftstudio.engine.runs.lineage import BASE, GONE, Ancestor, lineage, short_spec, task_title

# What the embedded default is on the Hub (the package ships sentence-transformers' model).
DEFAULT_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
PIPELINES = {"single-label": "text-classification", "multi-label": "text-classification",
             "regression": "text-classification", "token-classification": "token-classification"}
# The settings a reader needs to reproduce or judge the model, in this order (others are plumbing).
KEY_SETTINGS = ("learning_rate", "epochs", "max_steps", "batch_size", "grad_accum", "max_length", "scheduler",
                "warmup_ratio", "optimizer", "weight_decay", "strategy", "lora_rank", "lora_alpha", "lora_dropout",
                "lora_targets", "lora_embeddings", "lora_4bit", "layerwise_lr_decay", "mlm_probability",
                "whole_word_masking", "pack_texts", "seed")
LORA_SETTINGS = ("lora_rank", "lora_alpha", "lora_dropout", "lora_targets", "lora_embeddings", "lora_4bit")
_SKIP_DEFAULTS = {"max_steps": 0, "grad_accum": 1, "layerwise_lr_decay": 1.0}
_PLAIN_YAML = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
MAX_LABELS_SHOWN = 30


def objective_of(task: str, trainer_state: dict[str, Any]) -> str:
    """"masked" or "causal" for a pretrain checkpoint (masked when unsaid), "" for other tasks."""
    if task != "pretrain":
        return ""
    state = (trainer_state.get("task") or {}).get("state") or {}
    return "causal" if state.get("objective") == "causal" else "masked"


def pipeline_tag(task: str, objective: str = "") -> str:
    if task == "pretrain":
        return "text-generation" if objective == "causal" else "fill-mask"
    return PIPELINES.get(task, "text-classification")


def base_model_id(spec: str) -> str:
    """The Hub's name for a base model spec ("default" is the embedded all-MiniLM-L6-v2)."""
    return DEFAULT_HUB_ID if str(spec or "").strip().lower() in ("", "default") else str(spec)


def _yaml(value: str) -> str:
    return value if _PLAIN_YAML.match(value) else json.dumps(value)  # JSON strings are YAML strings


def model_card(run_dir: str | Path, trainer_state: dict[str, Any]) -> str:
    """README.md text for a checkpoint of the run in `run_dir` saved with `trainer_state`."""
    run_dir = Path(run_dir)
    info = _read_json(run_dir / "settings.json")
    settings = info.get("settings") if isinstance(info, dict) and isinstance(info.get("settings"), dict) else {}
    task = str((trainer_state.get("task") or {}).get("name") or settings.get("task") or "single-label")
    objective = objective_of(task, trainer_state)
    chain = lineage(run_dir)
    base = next((a for a in chain if a.kind == BASE), None)
    front = ["---", "library_name: transformers"]
    if base is not None:
        front.append(f"base_model: {_yaml(base_model_id(base.spec))}")
    front += [f"pipeline_tag: {pipeline_tag(task, objective)}", f"tags: [ftstudio, {task}]", "---"]
    records = read_metrics(run_dir)
    body = [
        f"# {run_dir.name}", "",
        what_it_is(task, objective, trainer_state, settings), "",
        "## Lineage", "", lineage_sentence(chain, task, str(settings.get("data") or "")), "",
        "## Training", "", *settings_table(settings, trainer_state), "",
        "## Results", "", *results(trainer_state, records, task), "",
        "## Use", "", *usage(task, objective, trainer_state), "",
        "Written by ftstudio (Fine-Tuning Studio) with the checkpoint.",
    ]
    return "\n".join(front + [""] + body) + "\n"


def what_it_is(task: str, objective: str, trainer_state: dict[str, Any], settings: dict[str, Any]) -> str:
    labels = [str(n) for n in trainer_state.get("label_names") or []]
    shown = ", ".join(labels[:MAX_LABELS_SHOWN]) + (f" and {len(labels) - MAX_LABELS_SHOWN} more"
                                                    if len(labels) > MAX_LABELS_SHOWN else "")
    data = short_spec(str(settings.get("data") or "")) or "its data"
    if task == "pretrain":
        from ftstudio.engine.models.objectives import PretrainingPlan

        state = (trainer_state.get("task") or {}).get("state") or {}
        line = PretrainingPlan(objective, True, "").describe(float(state.get("mlm_probability", 0.15)),
                                                              bool(state.get("whole_word_masking", False)))
        kind = "A decoder" if objective == "causal" else "An encoder"
        use = "text generation" if objective == "causal" else "filling in masked words"
        return (f"{kind} after continued pre-training on unlabeled text from `{data}`. {line} "
                f"Use it for {use}, or as the starting point of a fine-tune on labelled in-domain data.")
    if task == "regression":
        return f"A regression model: it predicts a number for a text (trained on `{data}`)."
    if task == "token-classification":
        return f"A token classifier (tags: {shown}), trained on `{data}`."
    title = task_title(task).lower()
    return f"A {title} model (labels: {shown}), trained on `{data}`."


def _name(ancestor: Ancestor) -> str:
    if ancestor.kind == BASE:
        return f"`{base_model_id(ancestor.spec)}`"
    what = "run" if ancestor.is_run else "checkpoint"
    return f"{'pre-training ' if ancestor.task == 'pretrain' else ''}{what} `{ancestor.name}`"


def lineage_sentence(chain: list[Ancestor], task: str, data: str) -> str:
    """'This model was fine-tuned from run `P` on `tweets.csv`, itself continued pre-training of
    `sentence-transformers/all-MiniLM-L6-v2` on `corpus.txt`.'"""
    if not chain:
        return "Its origin is not recorded (the run's settings.json is missing)."
    own = "continues the pre-training of" if task == "pretrain" else "was fine-tuned from"
    text = f"This model {own} {_name(chain[0])}" + (f" on `{short_spec(data)}`" if data else "")
    for link, origin in zip(chain, chain[1:], strict=False):
        verb = "continued pre-training of" if link.task == "pretrain" else "fine-tuned from"
        text += f", itself {verb} {_name(origin)}" + (f" on `{short_spec(link.data)}`" if link.data else "")
    last = chain[-1]
    if last.kind == GONE:
        text += f"; the folder of run `{last.name}` ({last.run_dir}) is gone, so where it started is unknown"
    elif last.kind != BASE:
        text += "; where that checkpoint started is not recorded"
    return text + "."


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def settings_table(settings: dict[str, Any], trainer_state: dict[str, Any]) -> list[str]:
    rows = ["| Setting | Value |", "| --- | --- |"]
    task = str((trainer_state.get("task") or {}).get("name") or settings.get("task") or "")
    for name in KEY_SETTINGS:
        if name not in settings or _SKIP_DEFAULTS.get(name, object()) == settings[name]:
            continue
        if name in ("mlm_probability", "whole_word_masking", "pack_texts") and task != "pretrain":
            continue
        if name in LORA_SETTINGS and settings.get("strategy") != "lora":
            continue
        rows.append(f"| {name} | {_fmt(settings[name])} |")
    step, total = trainer_state.get("global_step"), trainer_state.get("total_steps")
    if step is not None:
        rows.append(f"| checkpoint step | {step}{f' of {total}' if total else ''} |")
    return rows


def _metric(name: str, value: Any) -> str:
    from ftstudio.engine.tasks.metric_names import metric_label

    shown = f"{value:.4f}" if isinstance(value, float) and math.isfinite(value) else _fmt(value)
    return f"{metric_label(name)} {shown}"


def results(trainer_state: dict[str, Any], records: list[dict[str, Any]], task: str) -> list[str]:
    """The best evaluation with all its metrics (and, for pre-training, perplexity before)."""
    metric = str(trainer_state.get("metric_for_best") or "")
    best_step = trainer_state.get("best_step")
    evals = [r for r in records if r.get("event") == "eval" and r.get("split", "validation") == "validation"]
    best = next((r for r in reversed(evals) if r.get("step") == best_step), None) if best_step is not None else None
    scores = {k: v for k, v in (best or {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)
              and k not in ("step", "epoch", "time")}
    if not scores and trainer_state.get("best_value") is None:
        return ["No evaluation yet."]
    lines = []
    if trainer_state.get("best_value") is not None:
        lines.append(f"Best validation {_metric(metric, trainer_state['best_value'])} at step {best_step}.")
    if scores:
        lines.append("All metrics there: " + ", ".join(_metric(k, v) for k, v in scores.items()) + ".")
    before = next((r for r in evals if r.get("step") == 0 and "perplexity" in r), None)
    if task == "pretrain" and before is not None:
        lines.append(f"Before this pre-training: {_metric('perplexity', before['perplexity'])}.")
    test = next((r for r in reversed(records) if r.get("event") == "eval" and r.get("split") == "test"), None)
    if test is not None:
        shown = {k: v for k, v in test.items() if isinstance(v, float)}
        lines.append("Test split: " + ", ".join(_metric(k, v) for k, v in shown.items()) + ".")
    return [" ".join(lines)]


def usage(task: str, objective: str, trainer_state: dict[str, Any]) -> list[str]:
    tag = pipeline_tag(task, objective)
    if tag == "fill-mask":
        call = ['fill = pipeline("fill-mask", model=folder)',
                'print(fill(f"The service was {fill.tokenizer.mask_token} today."))']
    elif tag == "text-generation":
        call = ['generate = pipeline("text-generation", model=folder)',
                'print(generate("The service was", max_new_tokens=20))']
    elif tag == "token-classification":
        call = ['tag = pipeline("token-classification", model=folder, aggregation_strategy="first")',
                'print(tag("Ada Lovelace lived in London."))']
    elif task == "regression":
        call = ['predict = pipeline("text-classification", model=folder, function_to_apply="none")',
                'print(predict("A text to score."))']
    elif task == "multi-label":
        call = ['classify = pipeline("text-classification", model=folder, top_k=None, function_to_apply="sigmoid")',
                'print(classify("A text to label."))']
    else:
        call = ['classify = pipeline("text-classification", model=folder)', 'print(classify("A text to label."))']
    return ["```python", "from transformers import pipeline", "",
            'folder = "path/to/this/folder"  # e.g. the run folder\'s best/', *call, "```"]
