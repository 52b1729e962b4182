"""Every training setting in one dataclass, with a commented default, validation and file I/O.

The same object drives the CLI, the window and the benchmarks, and is saved in every run folder
(`settings.json`), so a run can be reproduced or resumed from its folder alone. Validation happens
before any work and names the offending setting in its message.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import SettingsError

SCHEDULERS = ("linear", "cosine", "constant")
OPTIMIZERS = ("adamw", "sgd")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cuda", "mps", "cpu")
FREEZE_KINDS = ("full", "head", "embeddings", "bottom", "gradual")
_BOTTOM_RE = re.compile(r"^bottom-(\d+)$")


@dataclass
class TrainSettings:
    """One fine-tuning run, fully described. Field comments are the tooltips' source of truth."""

    # --- what to train on ---
    model: str = "default"  # "default" (embedded all-MiniLM-L6-v2), a folder, or a Hub id
    data: str = "sample"  # "sample" (embedded airline tweets), a CSV/TSV/JSON/JSONL/Parquet file, or a Hub dataset
    text_column: str | None = None  # None: detected from the data
    label_column: str | None = None  # None: detected from the data
    validation_split: float = 0.1  # share held out for validation when the data has no validation split
    test_split: float = 0.0  # share held out for a final test when the data has no test split (0: none)
    max_samples: int = 0  # cap on training rows, for quick trials (0: all)
    max_length: int = 128  # tokens per text; longer texts are truncated

    # --- how long ---
    epochs: int = 3  # passes over the training split
    max_steps: int = 0  # optimizer steps; when > 0 it overrides epochs
    batch_size: int = 32  # texts per forward pass
    group_by_length: bool = True  # batch texts of similar length together (less padding, faster)
    grad_accum: int = 1  # forward passes per optimizer step (effective batch = batch_size * grad_accum)

    # --- optimisation ---
    learning_rate: float = 5e-5  # peak learning rate; BERT-style encoders want 1e-5..1e-4
    scheduler: str = "linear"  # linear | cosine | constant, after warmup
    warmup_ratio: float = 0.1  # share of steps spent warming the learning rate up from 0
    weight_decay: float = 0.01  # decoupled weight decay (not applied to biases and LayerNorm)
    optimizer: str = "adamw"  # adamw | sgd (with momentum)
    momentum: float = 0.9  # SGD momentum (ignored by AdamW)
    max_grad_norm: float = 1.0  # gradient clipping (0: off)
    classifier_dropout: float = 0.1  # dropout before the new classification head
    seed: int = 42  # data order, split, head initialisation and dropout

    # --- fine-tuning strategy ---
    freeze: str = "full"  # full | head | embeddings | bottom-N | gradual
    reinit_top_layers: int = 0  # re-initialise the top K encoder layers before training
    layerwise_lr_decay: float = 1.0  # each lower layer's lr is this times the one above (1: off)

    # --- hardware ---
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (auto: bf16/fp16 on GPU, fp32 on CPU)
    device: str = "auto"  # auto | cuda | mps | cpu
    oom_retry: bool = False  # on GPU out of memory, retry with half the batch size and twice grad_accum

    # --- evaluation and checkpoints ---
    eval_steps: int = 0  # evaluate every N optimizer steps (0: at the end of each epoch)
    save_steps: int = 0  # checkpoint every N optimizer steps (0: at each evaluation)
    keep_checkpoints: int = 2  # step folders kept besides best/ and last/
    early_stopping_patience: int = 0  # stop after N evaluations without improvement (0: off)
    metric_for_best: str = "f1"  # accuracy | f1 | loss: what makes a checkpoint "best"
    log_steps: int = 10  # report the training loss every N optimizer steps

    # --- safety ---
    trust_remote_code: bool = False  # run code shipped with a Hub model; only for repositories you trust
    allow_pickle: bool = False  # load a model folder that has only pickle weights (pytorch_model.bin)

    # Free-form extras kept with the run (the GUI stores its view state here); never interpreted.
    extra: dict[str, Any] = field(default_factory=dict)

    # ---------------------------------------------------------------- helpers
    @property
    def freeze_kind(self) -> str:
        """The strategy without its parameter: full, head, embeddings, bottom or gradual."""
        return parse_freeze(self.freeze)[0]

    @property
    def frozen_layers(self) -> int:
        """N of bottom-N (0 for the other strategies)."""
        return parse_freeze(self.freeze)[1]

    def effective_batch_size(self) -> int:
        return self.batch_size * self.grad_accum

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainSettings:
        return dataclasses.replace(self, **changes)

    def validate(self) -> TrainSettings:
        """Raise SettingsError naming the first bad setting; return self when all are valid."""
        _validate(self)
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "settings") -> TrainSettings:
        """Build settings from a mapping, coercing types; unknown keys and bad types are refused."""
        if not isinstance(data, dict):
            raise SettingsError(f"{source}: expected a table of settings, got {type(data).__name__}.")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise SettingsError(
                f"{source}: unknown setting '{unknown[0]}'. Known settings: {', '.join(sorted(known))}.",
                unknown[0],
            )
        values = {name: _coerce(name, known[name], value, source) for name, value in data.items()}
        return cls(**values)

    @classmethod
    def load(cls, path: str | Path) -> TrainSettings:
        """Read settings from a .json or .toml file (missing keys keep their defaults)."""
        path = Path(path)
        if not path.is_file():
            raise SettingsError(f"Settings file not found: {path}. Check the path given to --config.")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"Cannot read settings file {path}: {exc}.") from None
        data = _parse_settings_text(text, path)
        # A run folder's settings.json wraps the settings with provenance; accept both shapes.
        if isinstance(data, dict) and isinstance(data.get("settings"), dict):
            data = data["settings"]
        return cls.from_dict(data, source=str(path))

    def save(self, path: str | Path) -> None:
        """Write settings as JSON (or TOML when the name ends in .toml), atomically."""
        from ftstudio.engine.runs.atomic import atomic_write_text

        path = Path(path)
        if path.suffix.lower() == ".toml":
            atomic_write_text(path, _to_toml(self.to_dict()))
        else:
            atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")


def setting_help() -> dict[str, str]:
    """Each field's one-line help, read from the commented defaults above (one source of truth
    for the CLI's --help and the window's tooltips)."""
    import inspect

    source = inspect.getsource(TrainSettings)
    help_by_name: dict[str, str] = {}
    for line in source.splitlines():
        match = re.match(r"^\s{4}(\w+): [^=]+=.*?#\s*(.+)$", line)
        if match:
            help_by_name[match.group(1)] = match.group(2).strip()
    return help_by_name


def parse_freeze(value: str) -> tuple[str, int]:
    """Split a strategy string into (kind, N); 'bottom-4' -> ('bottom', 4). Raises SettingsError."""
    text = str(value).strip().lower()
    match = _BOTTOM_RE.match(text)
    if match:
        return "bottom", int(match.group(1))
    if text in ("full", "head", "embeddings", "gradual"):
        return text, 0
    raise SettingsError(
        f"freeze: '{value}' is not a strategy. Use full, head, embeddings, bottom-N (e.g. bottom-4) or gradual.",
        "freeze",
    )


# ------------------------------------------------------------------ validation
def _validate(s: TrainSettings) -> None:
    def need(ok: bool, name: str, message: str) -> None:
        if not ok:
            raise SettingsError(f"{name}: {message}", name)

    need(isinstance(s.model, str) and s.model.strip() != "", "model", "give a model (default, a folder or a Hub id).")
    need(isinstance(s.data, str) and s.data.strip() != "", "data", "give a dataset (sample, a file or a Hub dataset).")
    need(0.0 < s.validation_split < 0.5, "validation_split", f"must be between 0 and 0.5 (got {s.validation_split}).")
    need(0.0 <= s.test_split < 0.5, "test_split", f"must be between 0 and 0.5 (got {s.test_split}).")
    need(s.validation_split + s.test_split < 0.8, "test_split", "validation and test together must leave data to train on.")
    need(s.max_samples >= 0, "max_samples", f"must be 0 (all) or more (got {s.max_samples}).")
    need(8 <= s.max_length <= 8192, "max_length", f"must be between 8 and 8192 tokens (got {s.max_length}).")
    need(1 <= s.epochs <= 1000, "epochs", f"must be between 1 and 1000 (got {s.epochs}).")
    need(0 <= s.max_steps <= 10_000_000, "max_steps", f"must be 0 (use epochs) or a positive count (got {s.max_steps}).")
    need(1 <= s.batch_size <= 4096, "batch_size", f"must be between 1 and 4096 (got {s.batch_size}).")
    need(1 <= s.grad_accum <= 1024, "grad_accum", f"must be between 1 and 1024 (got {s.grad_accum}).")
    need(
        math.isfinite(s.learning_rate) and 0.0 < s.learning_rate <= 1.0,
        "learning_rate",
        f"must be above 0 and at most 1 (got {s.learning_rate}); 2e-5..1e-4 suits BERT-style encoders.",
    )
    need(s.scheduler in SCHEDULERS, "scheduler", f"'{s.scheduler}' is not one of {', '.join(SCHEDULERS)}.")
    need(0.0 <= s.warmup_ratio < 1.0, "warmup_ratio", f"must be in [0, 1) (got {s.warmup_ratio}).")
    need(0.0 <= s.weight_decay <= 1.0, "weight_decay", f"must be between 0 and 1 (got {s.weight_decay}).")
    need(s.optimizer in OPTIMIZERS, "optimizer", f"'{s.optimizer}' is not one of {', '.join(OPTIMIZERS)}.")
    need(0.0 <= s.momentum < 1.0, "momentum", f"must be in [0, 1) (got {s.momentum}).")
    need(s.max_grad_norm >= 0.0, "max_grad_norm", f"must be 0 (off) or positive (got {s.max_grad_norm}).")
    need(0.0 <= s.classifier_dropout < 1.0, "classifier_dropout", f"must be in [0, 1) (got {s.classifier_dropout}).")
    need(0 <= s.seed < 2**32, "seed", f"must be between 0 and 2^32-1 (got {s.seed}).")
    parse_freeze(s.freeze)
    need(0 <= s.reinit_top_layers <= 128, "reinit_top_layers", f"must be between 0 and 128 (got {s.reinit_top_layers}).")
    need(
        0.0 < s.layerwise_lr_decay <= 1.0,
        "layerwise_lr_decay",
        f"must be above 0 and at most 1 (1 means off; got {s.layerwise_lr_decay}).",
    )
    need(s.precision in PRECISIONS, "precision", f"'{s.precision}' is not one of {', '.join(PRECISIONS)}.")
    need(s.device in DEVICES, "device", f"'{s.device}' is not one of {', '.join(DEVICES)}.")
    need(s.eval_steps >= 0, "eval_steps", f"must be 0 (each epoch) or positive (got {s.eval_steps}).")
    need(s.save_steps >= 0, "save_steps", f"must be 0 (at each evaluation) or positive (got {s.save_steps}).")
    need(1 <= s.keep_checkpoints <= 1000, "keep_checkpoints", f"must be between 1 and 1000 (got {s.keep_checkpoints}).")
    need(s.early_stopping_patience >= 0, "early_stopping_patience", f"must be 0 (off) or more (got {s.early_stopping_patience}).")
    need(s.metric_for_best in ("accuracy", "f1", "loss"), "metric_for_best", "must be accuracy, f1 or loss.")
    need(s.log_steps >= 1, "log_steps", f"must be 1 or more (got {s.log_steps}).")


# ------------------------------------------------------------------ coercion and files
def _coerce(name: str, f: dataclasses.Field, value: Any, source: str) -> Any:
    """Convert a value read from a file or the command line to the field's type, or refuse it."""
    kind = str(f.type)
    if kind == "str | None":
        if value is None or value == "":
            return None
        if isinstance(value, str):
            return value
    elif kind == "str":
        if isinstance(value, str):
            return value
    elif kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
    elif kind == "int":
        if isinstance(value, bool):
            pass
        elif isinstance(value, int):
            return value
        elif isinstance(value, float) and value.is_integer():
            return int(value)
        elif isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
    elif kind == "float":
        if isinstance(value, bool):
            pass
        elif isinstance(value, (int, float)):
            return float(value)
        elif isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif kind.startswith("dict"):
        if isinstance(value, dict):
            return value
    expected = {"str | None": "text", "str": "text", "bool": "true/false", "int": "a whole number",
                "float": "a number"}.get(kind, kind)
    raise SettingsError(f"{source}: setting '{name}' must be {expected}, got {value!r}.", name)


def _parse_settings_text(text: str, path: Path) -> Any:
    """Parse JSON or TOML (chosen by extension, JSON otherwise) into plain data."""
    if path.suffix.lower() == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"Settings file {path} is not valid TOML: {exc}.") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(
            f"Settings file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
        ) from None


def _to_toml(data: dict[str, Any]) -> str:
    lines = []
    for key, value in data.items():
        if value is None or key == "extra":
            continue
        lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"
