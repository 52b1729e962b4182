"""How the settings form words things: each setting's label, how choices read in combos, the
strategies' names and tips, and the form's groups. Presentation only; the rules are the
declaration's (`ftstudio.engine.settings`).
"""

from __future__ import annotations

from ftstudio.engine.settings import SettingSpec, setting_spec, setting_specs
from ftstudio.engine.tasks.metric_names import metric_label

# The settings this form edits, each with its label (a check box shows it as its text).
FORM_LABELS: dict[str, str] = {
    "epochs": "Epochs",
    "max_steps": "Max steps",
    "batch_size": "Batch size",
    "grad_accum": "Accumulation steps",
    "group_by_length": "Group texts of similar length",
    "max_samples": "Rows used",
    "max_length": "Max tokens",
    "validation_split": "Validation share",
    "test_split": "Test share",
    "learning_rate": "Learning rate",
    "scheduler": "Schedule",
    "warmup_ratio": "Warmup share",
    "optimizer": "Optimizer",
    "weight_decay": "Weight decay",
    "momentum": "Momentum (SGD)",
    "max_grad_norm": "Gradient clipping",
    "classifier_dropout": "Head dropout",
    "seed": "Random seed",
    "strategy": "Strategy",
    "reinit_top_layers": "Re-init top layers",
    "layerwise_lr_decay": "Layer lr decay",
    "lora_rank": "Rank",
    "lora_alpha": "Alpha",
    "lora_dropout": "Adapter dropout",
    "lora_targets": "Target modules",
    "lora_embeddings": "Train the embeddings too",
    "lora_4bit": "4-bit base weights (QLoRA)",
    "device": "Device",
    "precision": "Precision",
    "oom_retry": "Halve the batch on out-of-memory",
    "gradient_checkpointing": "Gradient checkpointing (less memory)",
    "processes": "Processes",
    "sharding": "Sharding",
    "collective_timeout": "Wait for other processes",
    "eval_steps": "Evaluate every",
    "save_steps": "Checkpoint every",
    "save_minutes": "Also checkpoint every",
    "keep_checkpoints": "Checkpoints kept",
    "early_stopping_patience": "Early stopping",
    "metric_for_best": "Best checkpoint by",
    "tune_thresholds": "Tune thresholds per label (multi-label)",
    "label_all_subtokens": "Label every sub-token (token classification)",
    "mlm_probability": "Masked share",
    "whole_word_masking": "Mask whole words",
    "pack_texts": "Pack texts into full blocks",
    "log_steps": "Log loss every",
    "trust_remote_code": "Run code shipped with Hub models",
    "allow_pickle": "Allow pickle weights (.bin)",
}


def _metric_choice(name: str) -> str:
    if name == "auto":
        return "Task's natural metric"
    if name == "loss":
        return "Validation loss"
    label = metric_label(name)
    return label[:1].upper() + label[1:]


# How the choices read in combos (the value itself where a choice is missing here).
CHOICE_LABELS: dict[str, dict[str, str]] = {
    "scheduler": {"linear": "Linear decay", "cosine": "Cosine", "constant": "Constant"},
    "optimizer": {"adamw": "AdamW", "sgd": "SGD with momentum"},
    "sharding": {"none": "None (data parallel)", "fsdp": "FSDP (model sharded)"},
    "metric_for_best": {name: _metric_choice(name) for name in setting_spec("metric_for_best").choices},
}


def metric_choices(task: str | None) -> list[tuple[str, str]]:
    """(value, text) of the best-checkpoint metrics for `task`: auto, loss and the task's own
    metrics; every metric while the task is unknown (None), a label two tasks share saying whose."""
    from ftstudio.engine.tasks.registry import TASKS

    labels = CHOICE_LABELS["metric_for_best"]
    if task in TASKS:
        known = TASKS[task]
        items = [(name, labels.get(name, name)) for name in ("auto", "loss", *known.metric_names)]
        items[0] = ("auto", f"Task's natural: {metric_label(known.best_metric)}")  # fits a narrow combo
        return items
    names = setting_spec("metric_for_best").choices
    texts = [labels.get(name, name) for name in names]
    shared = {text for text in texts if texts.count(text) > 1}

    def whose(name: str) -> str:
        return ", ".join(t.name for t in TASKS.values() if name in t.metric_names)

    return [(name, f"{text} ({whose(name)})" if text in shared else text) for name, text in zip(names, texts)]


# Settings that only one task reads: (that task, how the disabled setting's tooltip names it).
TASK_ONLY: dict[str, tuple[str, str]] = {
    "tune_thresholds": ("multi-label", "multi-label classification"),
    "label_all_subtokens": ("token-classification", "token classification"),
    "mlm_probability": ("pretrain", "continued pre-training"),
    "whole_word_masking": ("pretrain", "continued pre-training"),
    "pack_texts": ("pretrain", "continued pre-training"),
}
# Tasks that share no setting of TASK_ONLY with the others: their own settings are hidden (not
# only disabled) unless the task is chosen, and while it is, every other task's are hidden.
# Pre-training has no labels: thresholds and sub-token labels mean nothing to it, masking
# means nothing to a classifier.
SEPARATE_TASKS = frozenset({"pretrain"})


# Settings every fine-tuning task reads and pre-training does not (its head is the vocabulary's,
# loaded without classifier dropout): hidden while pre-training is the task.
FINE_TUNING_ONLY = ("classifier_dropout",)
# Settings of masked-language modelling only: a decoder pre-trains by predicting every next token.
MASKING_SETTINGS = ("mlm_probability", "whole_word_masking")


def task_setting_shown(name: str, task: str | None) -> bool:
    """Whether the form shows the TASK_ONLY or FINE_TUNING_ONLY setting `name` while the data's
    task is `task` (None: not known yet)."""
    if name in FINE_TUNING_ONLY:
        return task not in SEPARATE_TASKS
    own = TASK_ONLY[name][0]
    return task == own if own in SEPARATE_TASKS else task not in SEPARATE_TASKS

# LoRA's settings: enabled only while the strategy is lora (the others ignore them). QLoRA's
# 4-bit weights come from bitsandbytes' CUDA kernels: the switch needs a CUDA device too.
LORA_SETTINGS = ("lora_rank", "lora_alpha", "lora_dropout", "lora_targets", "lora_embeddings", "lora_4bit")
CUDA_ONLY = ("lora_4bit",)
DEVICE_WORDS = {"cpu": "the CPU", "mps": "an Apple GPU (MPS)", "cuda": "a CUDA GPU"}

# Where the label reads as "every ... steps", the unit finishes the sentence inside the field.
UNIT_SUFFIXED = ("eval_steps", "save_steps", "save_minutes", "early_stopping_patience", "log_steps")

STRATEGY_CHOICES = {
    "full": ("Full fine-tuning", "Every parameter trains: usually the most accurate, the most memory."),
    "head": ("Head only", "Only the new classification head trains; the encoder is frozen. Fast, least accurate."),
    "embeddings": ("Embeddings frozen", "The word embeddings stay as pretrained; all layers and the head train."),
    "bottom": ("Bottom N layers frozen", "The embeddings and the lowest N layers stay frozen; the rest trains."),
    "gradual": ("Gradual unfreezing", "Epoch 1 trains the head, then one more layer joins from the top each epoch."),
    "lora": ("LoRA adapters", "The model stays frozen; small low-rank adapters beside its projections and the new "
                              "head train (a few % of the parameters). Settings under LoRA adapters."),
}


def form_groups() -> list[tuple[str, list[SettingSpec]]]:
    """The form's group boxes: (heading, the settings in it), in the declaration's order."""
    groups: dict[str, list[SettingSpec]] = {}
    for spec in setting_specs():
        if spec.name in FORM_LABELS:
            groups.setdefault(spec.group, []).append(spec)
    return list(groups.items())
