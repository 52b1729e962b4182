"""What a language-model checkpoint is, read from its files alone, and the text edits around masks.

Cheap on purpose (JSON files and strings, no torch): the window asks on every change of the
picked model whether it is a pre-training checkpoint, which objective it has, which model the run
started from, and turns a selected word into a mask before anything loads.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import DatasetError
from ftstudio.engine.models.objectives import CAUSAL, MASKED, objective_of_architectures

PRETRAIN = "pretrain"
# "[MASK]" in any case, and "<mask>": what people type for either family's mask token.
_MASK_SPELLINGS = re.compile(r"\[mask\]|<mask>", re.IGNORECASE)
GENERIC_MASK = "[MASK]"
_DEFAULT_NAME = "all-MiniLM-L6-v2"


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file's object, or {} when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def saved_task(folder: str | Path) -> dict[str, Any]:
    """{"name", "state"} of the task saved in a checkpoint's trainer_state.json ({} when none)."""
    from ftstudio.engine.runs.checkpoints import TRAINER_STATE

    task = read_json_object(Path(folder) / TRAINER_STATE).get("task")
    if not isinstance(task, dict):
        return {}
    return {"name": task.get("name"), "state": dict(task.get("state") or {})}


def checkpoint_folder(path: str | Path) -> Path | None:
    """The checkpoint a path stands for: itself, or a run folder's best/, else last/. A LoRA
    run's step folder (an adapter with its trainer_state.json) is one too."""
    from ftstudio.engine.models.adapters import ADAPTER_CONFIG
    from ftstudio.engine.runs.checkpoints import TRAINER_STATE

    path = Path(path)
    for candidate in (path, path / "best", path / "last"):
        if (candidate / "config.json").is_file() or (
                (candidate / ADAPTER_CONFIG).is_file() and (candidate / TRAINER_STATE).is_file()):
            return candidate
    return None


def checkpoint_objective(path: str | Path) -> str | None:
    """The objective of a language-model checkpoint (a pre-training run's, or any folder saved as
    ...ForMaskedLM / ...ForCausalLM / ...LMHeadModel); None for a classifier or another model."""
    folder = checkpoint_folder(path)
    if folder is None:
        return None
    task = saved_task(folder)
    if task.get("name") == PRETRAIN and task["state"].get("objective") in (MASKED, CAUSAL):
        return str(task["state"]["objective"])
    if task.get("name") and task.get("name") != PRETRAIN:
        return None  # a classifier fine-tuned by ftstudio, whatever it started from
    return objective_of_architectures(read_json_object(folder / "config.json").get("architectures"))


def base_had_head(path: str | Path) -> bool | None:
    """Whether the model a pre-training run started from had its language-model head, as the run
    recorded it (`new_head` in the task state); None when the checkpoint does not say."""
    folder = checkpoint_folder(path)
    new_head = saved_task(folder).get("state", {}).get("new_head") if folder is not None else None
    return (not new_head) if isinstance(new_head, bool) else None


def run_of_checkpoint(path: str | Path) -> Path | None:
    """The run folder a path stands for: a run folder itself, or the run of its checkpoint."""
    from ftstudio.engine.runs import lineage
    from ftstudio.engine.runs.folder import is_run_dir

    return Path(path) if is_run_dir(Path(path)) else lineage.run_of_checkpoint(path)


def checkpoint_base_model(path: str | Path) -> str | None:
    """The model spec a pre-training run started from: the checkpoint's saved task state
    (`base_model`), else its run's settings.json `model`; None for a checkpoint made elsewhere."""
    from ftstudio.engine.runs.folder import SETTINGS_FILE

    folder = checkpoint_folder(path)
    base = saved_task(folder).get("state", {}).get("base_model") if folder is not None else None
    if isinstance(base, str) and base.strip():
        return base
    run = run_of_checkpoint(path)
    if run is None:
        return None
    model = (read_json_object(run / SETTINGS_FILE).get("settings") or {}).get("model")
    return str(model) if isinstance(model, str) else None


def model_display_name(spec: str) -> str:
    """A short name for a model spec: the embedded model's name, a run's "<run>/best", a folder's
    name, or the Hub id."""
    text = str(spec or "").strip()
    if text.lower() in ("", "default"):
        return _DEFAULT_NAME
    path = Path(text).expanduser()
    if path.is_dir():
        from ftstudio.engine.models.sources import folder_display

        return folder_display(path.resolve())
    if text.startswith(("/", "~", ".")):
        return path.name or text
    return text


def saved_mask_token(folder: str | Path) -> str | None:
    """The mask token a checkpoint's tokenizer files name (tokenizer_config.json, else
    special_tokens_map.json), read without loading the tokenizer; None when they name none."""
    checkpoint = checkpoint_folder(folder)
    for name in ("tokenizer_config.json", "special_tokens_map.json") if checkpoint is not None else ():
        token = read_json_object(checkpoint / name).get("mask_token")
        if isinstance(token, dict):  # an AddedToken written out: {"content": "<mask>", ...}
            token = token.get("content")
        if isinstance(token, str) and token:
            return token
    return None


def normalize_masks(text: str, mask_token: str) -> str:
    """`text` with every spelling of a mask people type ("[MASK]" in any case, "<mask>") written
    as the model's own mask token."""
    return _MASK_SPELLINGS.sub(lambda _m: mask_token, text)


def has_mask(text: str, mask_token: str | None = None) -> bool:
    """Whether `text` holds a mask in any spelling `normalize_masks` reads, or `mask_token`."""
    return bool(_MASK_SPELLINGS.search(text)) or bool(mask_token and mask_token in text)


def no_mask_message(mask_token: str) -> str:
    return (f"The text has no mask: type {mask_token} where the model should guess a word (or select a word "
            "and press “Mask selected word” in the window).")


def mask_words(text: str, start: int, end: int, mask_token: str = GENERIC_MASK) -> str:
    """`text` with the characters [start, end) (a selected word or words) replaced by one mask
    token. Spaces at either edge of the selection stay outside the mask, so the words around it
    keep their spacing."""
    start, end = max(0, int(start)), min(len(text), int(end))
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start >= end:
        raise DatasetError("Select a word in the text first, then mask it.")
    return text[:start] + mask_token + text[end:]
