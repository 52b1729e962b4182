"""Checkpoints that survive a kill at any instant and load in stock transformers.

A checkpoint is written completely into a hidden temporary folder, every file fsync'ed, then
renamed to `checkpoints/step-<n>`: a folder with that name is always complete. `last/` and
`best/` are hard-linked copies swapped in with `replace_dir`, so they too are always complete
and load directly (`pipeline("text-classification", model=run_dir / "best")`).

Resume state is stored as plain tensors and numbers (`training_state.pt`) and read back with
`torch.load(weights_only=True)`: nothing is unpickled beyond tensors and containers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import CheckpointError, TrainingError
from ftstudio.engine.runs.atomic import fsync_dir, recover_dir, replace_dir
from ftstudio.engine.runs.folder import CHECKPOINTS_DIR, STEP_RE
from ftstudio.engine.runs.lock import is_live

TRAINER_STATE = "trainer_state.json"
TRAINING_STATE = "training_state.pt"
MODEL_CARD = "README.md"
_log = logging.getLogger(__name__)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def _link_copy(src: Path, dst: Path) -> None:
    """Copy a folder using hard links where the filesystem allows (instant, no extra space)."""

    shutil.copytree(src, dst, copy_function=lambda s, d: _link_or_copy_file(Path(s), Path(d)))


def save_checkpoint(
    run_dir: Path,
    step: int,
    model: Any,
    tokenizer: Any,
    trainer_state: dict[str, Any],
    training_state: dict[str, Any],
    is_best: bool,
    keep: int,
    weights: dict[str, Any] | None = None,
    adapters: Any = None,
) -> Path:
    """Write checkpoints/step-<step> atomically, refresh last/ (and best/), prune old steps.
    `weights` are the model's full weights when the model holds only a shard of them (FSDP).
    `adapters` (peft's model, strategy lora): the step folder is the adapter's PEFT folder
    instead of the full weights (small, fast), and best/ gets the merged weights plus the
    adapter; last/ is published merged when the run ends (`publish_merged`).

    Refuses (TrainingError, nothing written) when a weight is NaN or infinite: the loss is only
    read at log steps, so weights can diverge between two reads, and a poisoned last/ would
    replace the last good checkpoint.
    """
    import torch

    check_finite(model if weights is None else weights, step)
    folder = run_dir / CHECKPOINTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{step}"
    tmp = folder / f".tmp-step-{step}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        if adapters is not None:
            adapters.save_pretrained(str(tmp), safe_serialization=True)
        else:
            model.save_pretrained(tmp, safe_serialization=True, **({} if weights is None else {"state_dict": weights}))
        tokenizer.save_pretrained(tmp)
        torch.save(training_state, tmp / TRAINING_STATE)
        _write_model_card(tmp, run_dir, trainer_state)
        # Written last: its presence marks the folder as a complete checkpoint even for tools
        # that copy folders around without our atomic rename.
        (tmp / TRAINER_STATE).write_text(json.dumps(trainer_state, indent=2, default=str), encoding="utf-8")
        _fsync_tree(tmp)
        if final.exists():  # re-saving the same step (stop right after a periodic save)
            shutil.rmtree(final)
        os.replace(tmp, final)
        fsync_dir(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if adapters is not None:
        if is_best:
            publish_merged(run_dir, final, model, "best")
    else:
        _publish(run_dir, final, "last")
        if is_best:
            _publish(run_dir, final, "best")
    prune_checkpoints(run_dir, keep)
    return final


def publish_merged(run_dir: Path, checkpoint: Path, model: Any, name: str) -> None:
    """best/ or last/ of a LoRA run from its adapter step folder: the model with the adapter
    folded in (a standard folder for stock `pipeline()`), the step's own files (tokenizer,
    states, card), and the adapter's PEFT folder in adapter/. `model` must hold the step's
    weights. Swapped in whole, like every published folder."""
    from ftstudio.engine.models.adapters import ADAPTER_CONFIG, ADAPTER_DIR, ADAPTER_WEIGHTS, save_merged

    staging = run_dir / f".{name}.new"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        save_merged(model, staging)
        (staging / ADAPTER_DIR).mkdir()
        for item in checkpoint.iterdir():
            target = staging / ADAPTER_DIR / item.name if item.name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS) \
                else staging / item.name
            if item.is_file() and item.name != TRAINER_STATE:
                _link_or_copy_file(item, target)
        _link_or_copy_file(checkpoint / TRAINER_STATE, staging / TRAINER_STATE)  # last: it marks completeness
        _fsync_tree(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    replace_dir(staging, run_dir / name)


def _link_or_copy_file(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _write_model_card(folder: Path, run_dir: Path, trainer_state: dict[str, Any]) -> None:
    """README.md (model_card.py); a card is a courtesy, so any failure is logged, never raised:
    the checkpoint matters more."""
    try:
        from ftstudio.engine.runs.model_card import model_card

        (folder / MODEL_CARD).write_text(model_card(run_dir, trainer_state), encoding="utf-8")
    except Exception:  # noqa: BLE001 - see the docstring
        _log.warning("Could not write the model card of %s; the checkpoint is saved without it.", folder,
                     exc_info=True)
        with contextlib.suppress(OSError):  # a half-written card would mislead
            (folder / MODEL_CARD).unlink(missing_ok=True)


def check_finite(model: Any, step: int) -> None:
    """TrainingError naming the first non-finite parameter of a model (or a dict of weights).
    One host sync for the whole model (on a GPU, a sync per tensor would cost more than the check)."""
    import torch

    with torch.no_grad():
        named = list(model.items() if isinstance(model, dict) else model.named_parameters())
        if bool(torch.stack([torch.isfinite(p).all() for _, p in named]).all()):
            return
        name = next(n for n, p in named if not bool(torch.isfinite(p).all()))
    raise TrainingError(
        f"The model's weights became NaN or infinite at step {step} ({name}): training diverged. "
        "Lower the learning rate (or use bf16/fp32 instead of fp16); keep max_grad_norm on. "
        "The last good checkpoint is kept."
    )


def _publish(run_dir: Path, checkpoint: Path, name: str) -> None:
    staging = run_dir / f".{name}.new"
    if staging.exists():
        shutil.rmtree(staging)
    _link_copy(checkpoint, staging)
    replace_dir(staging, run_dir / name)


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    """Keep the newest `keep` step folders (best/ and last/ are separate copies) and remove
    leftovers of interrupted writes."""
    folder = run_dir / CHECKPOINTS_DIR
    steps = []
    for child in folder.iterdir():
        match = STEP_RE.match(child.name)
        if match:
            steps.append((int(match.group(1)), child))
        elif child.name.startswith(".tmp-step-"):
            shutil.rmtree(child, ignore_errors=True)
    for _, child in sorted(steps)[:-keep] if keep > 0 else []:
        shutil.rmtree(child, ignore_errors=True)


def recover_run(run_dir: Path, owned: bool = False) -> None:
    """Repair what a kill can leave: best/ or last/ moved aside between two renames, staging
    copies, temporary files of atomic writes. Skipped while another live process owns the run
    (`owned`: the caller holds the run's lock), since those leftovers are then work in progress.
    """
    run_dir = Path(run_dir)
    if not owned and is_live(run_dir):
        return
    for name in ("best", "last"):
        recover_dir(run_dir / name)
        staging = run_dir / f".{name}.new"
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    if owned:
        for leftover in run_dir.glob(".*.tmp"):  # atomic_write_* temporaries of a killed process
            leftover.unlink(missing_ok=True)
        folder = run_dir / CHECKPOINTS_DIR
        if folder.is_dir():
            for child in folder.glob(".tmp-step-*"):
                shutil.rmtree(child, ignore_errors=True)


def is_complete(checkpoint: Path) -> bool:
    """A finished checkpoint: full weights (config.json) or a LoRA step's adapter, plus its state."""
    weights = (checkpoint / "config.json").is_file() or (checkpoint / "adapter_config.json").is_file()
    return (checkpoint / TRAINER_STATE).is_file() and weights


def find_resume_checkpoint(run_dir: Path, owned: bool = True) -> Path:
    """The newest complete checkpoint: last/, else the highest checkpoints/step-N. `owned`: the
    caller holds the run's lock (resuming), so leftovers of a killed process are cleaned."""
    recover_run(run_dir, owned=owned)
    candidates = []
    last = run_dir / "last"
    if is_complete(last):
        candidates.append((read_trainer_state(last)["global_step"], last))
    folder = run_dir / CHECKPOINTS_DIR
    if folder.is_dir():
        for child in folder.iterdir():
            match = STEP_RE.match(child.name)
            if match and is_complete(child):
                candidates.append((int(match.group(1)), child))
    if not candidates:
        raise CheckpointError(
            f"{run_dir} has no complete checkpoint to resume from (it stopped before the first save). "
            "Start a new run instead."
        )
    # On equal steps prefer the step folder: last/ is a copy of it.
    return max(candidates, key=lambda item: (item[0], item[1] != last))[1]


def read_trainer_state(checkpoint: Path) -> dict[str, Any]:
    try:
        state = json.loads((Path(checkpoint) / TRAINER_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"Checkpoint {checkpoint} is incomplete or unreadable ({exc}).") from None
    if not isinstance(state, dict) or "global_step" not in state:
        raise CheckpointError(f"Checkpoint {checkpoint} has no valid {TRAINER_STATE}.")
    return state


def load_training_state(checkpoint: Path) -> dict[str, Any]:
    """Optimizer, scheduler, scaler and RNG state, loaded without unpickling arbitrary objects."""
    import pickle

    import torch

    path = Path(checkpoint) / TRAINING_STATE
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError) as exc:
        raise CheckpointError(f"Cannot read resume state {path}: {exc}".splitlines()[0]) from None


def disk_bytes_needed(model: Any, optimizer: str, keep: int, adapters: bool = False) -> int:
    """Disk a run needs for its checkpoints: weights plus optimizer state per checkpoint, for the
    kept step folders, the one being written and a best/ that outlived its step folder (best/
    and last/ are otherwise hard links and cost nothing). A LoRA run's (`adapters`) step folders
    hold only what trains; its best/ and last/ hold the merged weights."""
    moments = 2 if optimizer == "adamw" else 1
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    if adapters:
        trained = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
        return int((trained * (1 + moments) + 4_000_000) * (keep + 1) + 2 * (weights + 4_000_000))
    per_checkpoint = weights * (1 + moments) + 4_000_000  # + tokenizer and config files
    return int(per_checkpoint * (keep + 2))


def check_fits(checkpoint: Path, model: Any, label_names: list[str]) -> None:
    """Refuse, before anything is loaded, a checkpoint saved for other labels or another model
    (a run folder copied over, or data edited since the run started)."""
    from ftstudio.engine.errors import FtStudioError
    from ftstudio.engine.models.files import read_safetensors_header

    saved = read_trainer_state(checkpoint).get("label_names")
    if saved is not None and list(saved) != list(label_names):
        raise CheckpointError(
            f"Checkpoint {checkpoint.name} was trained for labels {', '.join(map(str, saved))}, but the run's data "
            f"now gives {', '.join(label_names)}. Resume needs the data the run started with; or start a new run."
        )
    from ftstudio.engine.models.adapters import adapter_folder

    if adapter_folder(checkpoint) is not None:  # a LoRA run's: its weights are checked as they load
        return
    try:
        header = read_safetensors_header(checkpoint / "model.safetensors")
    except FtStudioError as exc:
        raise CheckpointError(f"Checkpoint {checkpoint} cannot be resumed: {exc}") from None
    own = model.state_dict()
    for name, meta in header.items():
        shape = list(meta.get("shape", []))
        if name not in own or list(own[name].shape) != shape:
            theirs = list(own[name].shape) if name in own else "nothing"
            raise CheckpointError(
                f"Checkpoint {checkpoint} holds another model or task (its {name} is {shape}, the run's model "
                f"has {theirs}). It cannot continue this run; start a new run."
            )
