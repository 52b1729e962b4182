"""`TrainSettings`: every training setting, each declared once with its rules.

The same object drives the CLI, the window and the benchmarks, and is saved in every run folder
(`settings.json`), so a run can be reproduced or resumed from its folder alone. Each field's
`setting(...)` is the only place its default, type, range or choices, unit, group and help are
written: validation, the CLI's flags, the window's editors and settings files derive from it.
Fields are in the order the window's form shows them; groups are its headings.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftstudio.engine.settings.coercion import settings_from_mapping
from ftstudio.engine.settings.declaration import SettingSpec, setting, specs_of
from ftstudio.engine.settings.files import load_settings, save_settings
from ftstudio.engine.settings.strategy import MAX_LAYERS, parse_strategy
from ftstudio.engine.settings.validation import validate_settings

SCHEDULERS = ("linear", "cosine", "constant")
OPTIMIZERS = ("adamw", "sgd")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cuda", "mps", "cpu")
# How several processes split the model: each holds all of it (data parallel), or a shard (FSDP).
SHARDINGS = ("none", "fsdp")
# The settings declaration names the choices itself (it imports no task code); a test keeps them
# equal to the registry's (tests/engine/tasks/test_detection.py).
TASKS = ("auto", "single-label", "multi-label", "regression", "token-classification", "pretrain")
# "auto" is the task's natural metric; the others are every task's metrics (refused for a task
# that does not report them, once the task is known).
BEST_METRICS = ("auto", "loss", "accuracy", "f1", "precision", "recall", "micro_f1", "macro_f1", "micro_precision",
                "micro_recall", "macro_precision", "macro_recall", "subset_accuracy", "rmse", "mae", "mse",
                "pearson", "spearman", "r2", "entity_f1", "entity_precision", "entity_recall", "token_accuracy",
                "perplexity")
# Settings that were renamed, by their old names: older settings files and run folders still load.
RENAMED_SETTINGS = {"freeze": "strategy"}
MAX_STEPS = 10_000_000  # bounds every optimizer-step count (max_steps, eval_steps, save_steps)

# Group headings, in the order the window and `ftstudio train --help` show them.
MODEL_AND_DATA = "Model and data"
TRAINING_LENGTH = "Training length"
SPLITS_AND_LENGTH = "Data splits and length"
OPTIMISATION = "Optimisation"
STRATEGY = "Fine-tuning strategy"
LORA = "LoRA adapters"
PRETRAINING = "Pre-training"
HARDWARE = "Hardware"
EVALUATION = "Evaluation and checkpoints"
SAFETY = "Safety"
EXTRAS = "Extras"


@dataclass
class TrainSettings:
    """One fine-tuning run, fully described; see `setting_specs()` for each field's rules."""

    # --- what to train on (the window edits these in its Model and Data panels)
    model: str = setting("default", group=MODEL_AND_DATA, required=True,
                         help='"default" (embedded all-MiniLM-L6-v2), a model folder, or a Hub id',
                         hint="give default, a folder or a Hub id")
    data: str = setting("sample", group=MODEL_AND_DATA, required=True,
                        help='"sample" (embedded airline tweets), a CSV/TSV/JSON/JSONL/Parquet file, '
                             'or a Hub dataset',
                        hint="give sample, a file or a Hub dataset")
    task: str = setting("auto", group=MODEL_AND_DATA, choices=TASKS,
                        help="what to learn: single-label, multi-label, regression, token-classification, or "
                             "pretrain (continue pre-training on unlabeled text: masked-language modelling "
                             "for encoders, next-token prediction for decoders); auto: token classification "
                             "for words with a tag each, multi-label for label lists, else single-label")
    text_column: str | None = setting(None, group=MODEL_AND_DATA,
                                      help="the column holding the texts, or each sentence's words for token "
                                           "classification (not given: detected from the data)")
    text_pair_column: str | None = setting(None, group=MODEL_AND_DATA,
                                           help="the column holding each row's second text, for text-pair tasks")
    label_column: str | None = setting(None, group=MODEL_AND_DATA,
                                       help="the column holding the labels (not given: detected); several 0/1 "
                                            "columns for multi-label, comma-separated: toxic,insult,threat")
    label_separator: str | None = setting(None, group=MODEL_AND_DATA,
                                          help="multi-label: the separator of label strings like 'a;b' "
                                               "(not given: detected among , ; |)")
    tag_names: str | None = setting(None, group=MODEL_AND_DATA,
                                    help="token classification with tags stored as numbers: their names in id "
                                         "order, comma-separated (O,B-PER,I-PER,...)")

    # --- how long
    epochs: int = setting(3, group=TRAINING_LENGTH, minimum=1, maximum=1000,
                          help="passes over the training split")
    max_steps: int = setting(0, group=TRAINING_LENGTH, unit="steps", minimum=0, maximum=MAX_STEPS,
                             at_minimum="use epochs", help="optimizer steps; when above 0 it overrides epochs")
    batch_size: int = setting(32, group=TRAINING_LENGTH, unit="texts", minimum=1, maximum=4096,
                              help="texts per forward pass")
    grad_accum: int = setting(1, group=TRAINING_LENGTH, minimum=1, maximum=1024,
                              help="forward passes per optimizer step (effective batch = batch_size * grad_accum)")
    group_by_length: bool = setting(True, group=TRAINING_LENGTH,
                                    help="batch texts of similar length together (less padding, faster)")
    max_samples: int = setting(0, group=TRAINING_LENGTH, unit="rows", minimum=0, maximum=1_000_000_000,
                               step=1000, at_minimum="all rows", help="cap on training rows, for quick trials")

    # --- splits and text length
    max_length: int = setting(128, group=SPLITS_AND_LENGTH, unit="tokens", minimum=8, maximum=8192, step=16,
                              help="tokens per text; longer texts are truncated")
    validation_split: float = setting(0.1, group=SPLITS_AND_LENGTH, above=0.0, below=0.5, decimals=3, step=0.05,
                                      help="share held out for validation when the data has no validation split")
    test_split: float = setting(0.0, group=SPLITS_AND_LENGTH, minimum=0.0, below=0.5, decimals=3, step=0.05,
                                at_minimum="none",
                                help="share held out for a final test when the data has no test split")

    # --- optimisation
    learning_rate: float = setting(5e-5, group=OPTIMISATION, above=0.0, maximum=1.0,
                                   hint="2e-5..1e-4 suits BERT-style encoders",
                                   help="peak learning rate; BERT-style encoders want 1e-5..1e-4")
    scheduler: str = setting("linear", group=OPTIMISATION, choices=SCHEDULERS,
                             help="how the learning rate falls after warmup")
    warmup_ratio: float = setting(0.1, group=OPTIMISATION, minimum=0.0, below=1.0, decimals=3, step=0.05,
                                  at_minimum="none", help="share of steps spent warming the learning rate up from 0")
    optimizer: str = setting("adamw", group=OPTIMISATION, choices=OPTIMIZERS,
                             help="the optimizer: adamw, or sgd with momentum")
    weight_decay: float = setting(0.01, group=OPTIMISATION, minimum=0.0, maximum=1.0, decimals=4, step=0.01,
                                  help="decoupled weight decay (not applied to biases and LayerNorm)")
    momentum: float = setting(0.9, group=OPTIMISATION, minimum=0.0, below=1.0, decimals=3, step=0.05,
                              help="SGD momentum (ignored by AdamW)")
    max_grad_norm: float = setting(1.0, group=OPTIMISATION, minimum=0.0, maximum=1000.0, decimals=2, step=0.5,
                                   at_minimum="off", help="gradient clipping: the largest gradient norm kept")
    classifier_dropout: float = setting(0.1, group=OPTIMISATION, minimum=0.0, below=1.0, decimals=3, step=0.05,
                                        help="dropout before the new classification head")
    # numpy's generators take seeds below 2^32.
    seed: int = setting(42, group=OPTIMISATION, minimum=0, maximum=2**32 - 1,
                        help="data order, split, head initialisation and dropout")

    # --- fine-tuning strategy
    strategy: str = setting("full", group=STRATEGY,
                            help="what trains: full | head | embeddings | bottom-N | gradual | lora (low-rank "
                                 "adapters beside the frozen model; see the lora_* settings)")
    reinit_top_layers: int = setting(0, group=STRATEGY, unit="layers", minimum=0, maximum=MAX_LAYERS,
                                     at_minimum="none", help="re-initialise the top K encoder layers before training")
    layerwise_lr_decay: float = setting(1.0, group=STRATEGY, above=0.0, maximum=1.0, decimals=3, step=0.05,
                                        hint="1 means off",
                                        help="each lower layer's learning rate is this times the one above (1: off)")
    label_all_subtokens: bool = setting(False, group=STRATEGY,
                                        help="token classification: train on every sub-token of a word (its tag "
                                             "repeated, B- as I-), not only the first; metrics stay per word")

    # --- LoRA (strategy lora; engine/models/adapters.py)
    lora_rank: int = setting(8, group=LORA, minimum=1, maximum=1024,
                             help="LoRA: the rank r of each adapter; its trainable parameters grow with r "
                                  "(8-16 suits most tasks)")
    lora_alpha: float = setting(16.0, group=LORA, above=0.0, maximum=4096.0, decimals=1, step=1.0,
                                help="LoRA: the adapters' update is scaled by alpha / rank")
    lora_dropout: float = setting(0.1, group=LORA, minimum=0.0, below=1.0, decimals=3, step=0.05,
                                  at_minimum="none", help="LoRA: dropout on each adapter's input")
    lora_targets: str = setting("auto", group=LORA, required=True,
                                help="LoRA: the modules that get adapters: auto (the attention and feed-forward "
                                     "projections of the architecture), module names (query,value), or a regular "
                                     "expression matched against full module names",
                                hint="give auto, names like query,value, or a regular expression")
    lora_embeddings: bool = setting(False, group=LORA,
                                    help="LoRA: the embeddings train too (fully; saved with the adapter)")
    lora_4bit: bool = setting(False, group=LORA,
                              help="QLoRA: hold the frozen base weights in 4 bits (NF4 through bitsandbytes; "
                                   "CUDA GPUs only)")

    # --- continued pre-training (task pretrain)
    mlm_probability: float = setting(0.15, group=PRETRAINING, above=0.0, below=1.0, decimals=3, step=0.05,
                                     help="pre-training an encoder: share of tokens masked for the model to "
                                          "predict (BERT used 0.15)")
    whole_word_masking: bool = setting(False, group=PRETRAINING,
                                       help="pre-training an encoder: mask every sub-token of a chosen word "
                                            "together, so a word cannot be guessed from its own pieces")
    pack_texts: bool = setting(True, group=PRETRAINING,
                               help="pre-training: join the texts and cut them into blocks of max_length tokens "
                                    "(no padding, nothing truncated); off: one text per row, truncated")

    # --- hardware
    device: str = setting("auto", group=HARDWARE, choices=DEVICES,
                          help="where to train (auto: a GPU when there is one)")
    precision: str = setting("auto", group=HARDWARE, choices=PRECISIONS,
                             help="number format (auto: bf16/fp16 on GPU, fp32 on CPU)")
    oom_retry: bool = setting(False, group=HARDWARE,
                              help="on GPU out of memory, retry with half the batch size and twice grad_accum")
    processes: int = setting(1, group=HARDWARE, unit="processes", minimum=1, maximum=1024,
                             help="training processes on this machine, one per GPU (on a CPU: processes sharing "
                                  "the cores); batch_size is per process. Under torchrun, accelerate launch or "
                                  "srun the launcher decides")
    sharding: str = setting("none", group=HARDWARE, choices=SHARDINGS,
                            help="several processes: none = each holds the whole model (data parallel); fsdp = "
                                 "weights, gradients and optimizer state sharded across them (models too big for "
                                 "one GPU)")
    collective_timeout: int = setting(10, group=HARDWARE, unit="minutes", minimum=1, maximum=1440,
                                      help="several processes: how long one waits for the others at a "
                                           "synchronisation point before the run fails with a message")

    gradient_checkpointing: bool = setting(False, group=HARDWARE,
                                           help="recompute each layer's activations during the backward pass "
                                                "instead of keeping them: far less memory for long texts and big "
                                                "models, about a third slower")

    # --- evaluation and checkpoints
    eval_steps: int = setting(0, group=EVALUATION, unit="steps", minimum=0, maximum=MAX_STEPS,
                              at_minimum="~1/10 of the run",
                              help="evaluate every N optimizer steps (0: about 10 times a run, evenly within "
                                   "each epoch and at every epoch's end)")
    save_steps: int = setting(0, group=EVALUATION, unit="steps", minimum=0, maximum=MAX_STEPS,
                              at_minimum="each evaluation", help="checkpoint every N optimizer steps")
    save_minutes: int = setting(20, group=EVALUATION, unit="minutes", minimum=0, maximum=10_080,
                                at_minimum="off",
                                help="also checkpoint after N minutes of training since the last checkpoint, "
                                     "so a crash or power cut loses at most that (0: off)")
    keep_checkpoints: int = setting(2, group=EVALUATION, minimum=1, maximum=1000,
                                    help="step folders kept besides best/ and last/")
    early_stopping_patience: int = setting(0, group=EVALUATION, unit="evaluations", minimum=0, maximum=10_000,
                                           at_minimum="off", help="stop after N evaluations without improvement "
                                                                  "(eval_steps 0 evaluates about 10 times a run)")
    metric_for_best: str = setting("auto", group=EVALUATION, choices=BEST_METRICS,
                                   help='what makes a checkpoint "best" (auto: macro F1 for single-label, micro F1 '
                                        'for multi-label, RMSE for regression, entity F1 for token classification, '
                                        'perplexity for pretrain; loss: validation loss)')
    tune_thresholds: bool = setting(False, group=EVALUATION,
                                    help="multi-label: tune each label's decision threshold for F1 on validation "
                                         "(saved with the checkpoint; else 0.5)")
    log_steps: int = setting(10, group=EVALUATION, unit="steps", minimum=1, maximum=100_000,
                             help="report the training loss every N optimizer steps")

    # --- safety
    trust_remote_code: bool = setting(False, group=SAFETY,
                                      help="run code shipped with a Hub model; only for repositories you trust")
    allow_pickle: bool = setting(False, group=SAFETY,
                                 help="load a model folder that has only pickle weights (pytorch_model.bin)")

    # Free-form extras kept with the run (the window's view state); never interpreted.
    extra: dict[str, Any] = setting(default_factory=dict, group=EXTRAS,
                                    help="free-form values kept with the run and never interpreted")

    # ---------------------------------------------------------------- helpers
    @property
    def strategy_kind(self) -> str:
        """The strategy without its parameter: full, head, embeddings, bottom, gradual or lora."""
        return parse_strategy(self.strategy)[0]

    @property
    def frozen_layers(self) -> int:
        """N of bottom-N (0 for the other strategies)."""
        return parse_strategy(self.strategy)[1]

    def effective_batch_size(self, processes: int | None = None) -> int:
        """Texts per optimizer step: batch_size x processes x grad_accum (the global batch);
        `processes` is the group's actual size when a launcher chose it."""
        return self.batch_size * (processes or self.processes) * self.grad_accum

    def to_dict(self) -> dict[str, Any]:
        """Every setting by name (a deep copy: `extra` is not shared)."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainSettings:
        """A copy with some settings changed (not validated)."""
        return dataclasses.replace(self, **changes)

    def validate(self) -> TrainSettings:
        """Raise SettingsError naming the first bad setting; return self when all are valid."""
        validate_settings(self)
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "settings") -> TrainSettings:
        """Build settings from a mapping, coercing types; unknown keys and bad types are refused."""
        return cls(**settings_from_mapping(cls, data, source, RENAMED_SETTINGS))

    @classmethod
    def load(cls, path: str | Path) -> TrainSettings:
        """Read settings from a .json or .toml file (missing keys keep their defaults); a run
        folder's settings.json is accepted too."""
        return cls.from_dict(*load_settings(path))

    def save(self, path: str | Path) -> None:
        """Write settings as JSON (or TOML when the name ends in .toml), atomically."""
        save_settings(self.to_dict(), setting_specs(), path)


def setting_specs() -> tuple[SettingSpec, ...]:
    """Every setting's declaration, in the form's order."""
    return specs_of(TrainSettings)


def setting_spec(name: str) -> SettingSpec:
    """One setting's declaration; KeyError for an unknown name."""
    for spec in setting_specs():
        if spec.name == name:
            return spec
    raise KeyError(name)


def setting_help() -> dict[str, str]:
    """Each setting's one-line help by name (the window's tooltips and the CLI's --help)."""
    return {spec.name: spec.help for spec in setting_specs()}
