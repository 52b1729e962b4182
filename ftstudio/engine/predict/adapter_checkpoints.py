"""Checkpoints that hold only a LoRA adapter, and the base models they share.

A LoRA run's step folders (checkpoints/step-N/) are peft folders: adapter_config.json names the
base model (`base_model_name_or_path`) and adapter_model.safetensors holds the low-rank
matrices and the head; the run's labels and task are in the folder's trainer_state.json (else
the run's settings.json). Predicting with one loads that base through ftstudio's model sources
(so a moved folder or an offline Hub id says so in words) with a head for the run's labels, then
the adapter with peft.

Loading the base takes seconds, an adapter milliseconds: the base is shared. Bases are kept by
(base model, task, label names, device) while any predictor uses one, and another adapter of the
same base is attached to it under a new adapter name (peft's `load_adapter`) and made active
(`set_adapter`) whenever its predictor runs, so switching checkpoints in the tester does not
load the model again. Adapters with another label set need a head of another width, so they
get a base of their own. A base is held weakly: once the predictors using it are dropped (the
tester's small cache of loaded models decides that), it is freed, and each predictor's adapter
is removed from its base when that predictor goes.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import warnings
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import CheckpointError, FtStudioError, ModelError, first_line
from ftstudio.engine.models.adapters import ADAPTER_CONFIG, ADAPTER_DIR, ADAPTER_WEIGHTS, read_adapter_config
from ftstudio.engine.predict.language_checkpoints import read_json_object

log = logging.getLogger(__name__)
REUSED_NOTE = "adapter switched, base model reused"
_TRAINER_STATE = "trainer_state.json"


# ------------------------------------------------------------------ what a folder is
def is_adapter_only(folder: str | Path) -> bool:
    """A folder holding a peft adapter and no full weights (a LoRA run's step folder, or the
    adapter/ inside its best/ and last/)."""
    folder = Path(folder)
    return (folder / ADAPTER_CONFIG).is_file() and not (folder / "config.json").is_file()


def adapter_to_load(checkpoint: Path, prefer_adapter: bool = False) -> Path | None:
    """The peft folder to load a checkpoint from: its own adapter when it holds nothing else, the
    adapter/ of a LoRA run's best/ or last/ when `prefer_adapter` (their merged weights load
    anyway otherwise), else None (load the full weights)."""
    checkpoint = Path(checkpoint)
    if is_adapter_only(checkpoint):
        return checkpoint
    if prefer_adapter and (checkpoint / ADAPTER_DIR / ADAPTER_CONFIG).is_file():
        return checkpoint / ADAPTER_DIR
    return None


@dataclass(frozen=True)
class AdapterCheckpoint:
    """What loading an adapter checkpoint needs, read from its files alone."""

    adapter: Path  # the peft folder (adapter_config.json, adapter_model.safetensors)
    files: Path  # where its trainer_state.json and tokenizer are: itself, or best/ for best/adapter
    base: str  # the base model as the adapter names it (a folder or a Hub id)
    task: str
    label_names: tuple[str, ...]
    alternatives: tuple[str, ...] = ()  # the run's own model spec, when it differs from `base`
    state: dict[str, Any] | None = None  # trainer_state.json


def read_adapter_checkpoint(folder: str | Path) -> AdapterCheckpoint:
    """The base model, task and labels of an adapter folder; CheckpointError when it is not a
    complete adapter or does not say what it classifies."""
    from ftstudio.engine.runs.lineage import run_of_checkpoint

    adapter = Path(folder)
    config = read_adapter_config(adapter)
    if not (adapter / ADAPTER_WEIGHTS).is_file():
        raise CheckpointError(f"{adapter} has no {ADAPTER_WEIGHTS}: not a complete adapter checkpoint.")
    base = str(config.get("base_model_name_or_path") or "").strip()
    if not base:
        raise CheckpointError(f"{adapter / ADAPTER_CONFIG} does not name its base model (base_model_name_or_path).")
    files = adapter.parent if adapter.name == ADAPTER_DIR and (adapter.parent / _TRAINER_STATE).is_file() else adapter
    state = read_json_object(files / _TRAINER_STATE)
    run = run_of_checkpoint(files)
    run_settings = read_json_object(run / "settings.json") if run is not None else {}
    saved_task = state.get("task") if isinstance(state.get("task"), dict) else {}
    task = saved_task.get("name") or (run_settings.get("data") or {}).get("task") \
        or (run_settings.get("settings") or {}).get("task")
    labels = state.get("label_names") or run_settings.get("label_names")
    if not isinstance(task, str) or task == "auto" or not isinstance(labels, list):
        raise CheckpointError(
            f"{adapter} holds a LoRA adapter without ftstudio's {_TRAINER_STATE}, so its task and labels are unknown. "
            "Load it with peft (e.g. AutoPeftModelForSequenceClassification.from_pretrained(folder, num_labels=N))."
        )
    model = (run_settings.get("model") or {}) if isinstance(run_settings.get("model"), dict) else {}
    others = [str(s) for s in (model.get("repo_id"), model.get("spec")) if isinstance(s, str) and s and s != base]
    return AdapterCheckpoint(adapter, files, base, task, tuple(str(n) for n in labels),
                             tuple(dict.fromkeys(others)), state)


# ------------------------------------------------------------------ shared bases
class SharedBase:
    """One base model in memory and the adapters attached to it, by name. Every use of the model
    holds `lock` with its adapter made active, so predictors on several threads take turns."""

    def __init__(self, model: Any, tokenizer: Any, task: Any, display: str) -> None:
        self.model = model  # the transformers model; peft injects the adapters into it in place
        self.tokenizer = tokenizer
        self.task = task
        self.display = display
        self.peft: Any = None  # peft's PeftModel around `model`, once an adapter is attached
        self.lock = threading.RLock()
        self.active: str | None = None
        self._names = itertools.count(1)
        self._depth = 0  # uses in progress on the thread holding `lock` (nested calls)
        self._retired: list[str] = []  # adapters whose predictors are gone, removed at the next safe point

    def attach(self, folder: Path) -> str:
        """Load the adapter in `folder` beside the others; its new adapter name."""
        from peft import PeftModel

        from ftstudio.engine.models.loading import quiet_transformers

        with self.lock:
            if self._depth == 0:
                self._drop_retired()
            name = f"adapter-{next(self._names)}"
            try:
                with quiet_transformers():
                    if self.peft is None:
                        self.peft = PeftModel.from_pretrained(self.model, str(folder), adapter_name=name)
                    else:
                        self.peft.load_adapter(str(folder), adapter_name=name)
            except (OSError, ValueError, KeyError, RuntimeError) as exc:
                raise CheckpointError(f"Cannot load the adapter in {folder} onto {self.display}: "
                                      f"{first_line(exc)}") from None
            self.model.eval()
            self.active = None  # (loading may change which adapter peft has active)
            return name

    @contextlib.contextmanager
    def using(self, name: str) -> Iterator[None]:
        """Hold the base with adapter `name` active. Adapters retired meanwhile are removed here,
        before the outermost use: never while a forward pass runs (a garbage collection on the
        running thread may drop a predictor at any moment)."""
        with self.lock:
            if self._depth == 0:
                self._drop_retired()
            if self.active != name:
                self.peft.set_adapter(name, inference_mode=True)
                self.active = name
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1

    def release(self, name: str) -> None:
        """An adapter whose predictor is gone: removed at the next use (the last one goes with the
        base). Called by the predictor's finalizer, on any thread, so it only takes note."""
        self._retired.append(name)  # (a list append is atomic)

    def _drop_retired(self) -> None:
        while self._retired and self.peft is not None and len(self.peft.peft_config) > 1:
            name = self._retired.pop()
            if name not in self.peft.peft_config:
                continue
            with contextlib.suppress(ValueError, KeyError, AttributeError), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ("adapter X was active...": it is made active again when used)
                self.peft.delete_adapter(name)
            self.active = None


_bases: dict[tuple, weakref.ref[SharedBase]] = {}
_bases_lock = threading.Lock()


class AttachedAdapter:
    """One adapter on a shared base: what a predictor holds. `active()` makes it the adapter the
    base runs with, for the duration of a forward pass. `reused` says the base was already in
    memory (only the adapter was loaded)."""

    def __init__(self, base: SharedBase, name: str, checkpoint: AdapterCheckpoint, reused: bool) -> None:
        self.base, self.name, self.checkpoint, self.reused = base, name, checkpoint, reused
        self.model, self.task = base.model, base.task
        weakref.finalize(self, base.release, name).atexit = False  # (at exit everything goes anyway)

    def active(self) -> contextlib.AbstractContextManager[None]:
        return self.base.using(self.name)

    @property
    def note(self) -> str:
        """What loading did, for people: 'LoRA adapter on tiny-bert: adapter switched, base model
        reused'."""
        what = REUSED_NOTE if self.reused else "base model loaded"
        return f"LoRA adapter on {self.base.display}: {what}"


class AdapterUse:
    """Mixed into the predictors: `active()` wraps every use of the model (a no-op for a full
    checkpoint); `adapter` is the AttachedAdapter of an adapter checkpoint, else None."""

    adapter: AttachedAdapter | None = None

    def active(self) -> contextlib.AbstractContextManager[Any]:
        """Hold the shared base with this predictor's adapter active (nothing for full weights)."""
        return self.adapter.active() if self.adapter is not None else contextlib.nullcontext()

    @property
    def load_note(self) -> str | None:
        """How the model was loaded, for people, when it is an adapter (None: full weights)."""
        return self.adapter.note if self.adapter is not None else None


def load_base_model(spec: str, label_names: tuple[str, ...], task_name: str, device: str) -> SharedBase:
    """The base an adapter names, loaded as training loaded it (a head for the run's labels;
    the adapter brings its trained copy). Tests count calls to this."""
    import torch

    from ftstudio.engine.models.loading import load_model_and_tokenizer
    from ftstudio.engine.models.sources import resolve_model_source
    from ftstudio.engine.tasks.registry import get_task

    source = resolve_model_source(spec)
    torch.manual_seed(0)  # (the fresh head is replaced by the adapter's; seeded all the same)
    loaded = load_model_and_tokenizer(source, list(label_names), task=get_task(task_name))
    model = loaded.model.to(torch.device(device)).eval()
    return SharedBase(model, loaded.tokenizer, loaded.task, source.display)


def attach_adapter(folder: str | Path, device: str = "cpu") -> AttachedAdapter:
    """The adapter in `folder` on its base model: the base in memory when a predictor already
    uses it for the same task and labels, else loaded now."""
    checkpoint = read_adapter_checkpoint(folder)
    key_tail = (checkpoint.task, checkpoint.label_names, str(device))
    with _bases_lock:
        base, spec = _cached_base(checkpoint, key_tail)
    reused = base is not None
    if base is None:
        base, spec = _load_base(checkpoint, device)
        with _bases_lock:  # (two threads loading the same base at once: the later one is kept)
            _bases[(spec, *key_tail)] = weakref.ref(base)
            for gone in [key for key, ref in _bases.items() if ref() is None]:
                del _bases[gone]
    name = base.attach(checkpoint.adapter)
    attached = AttachedAdapter(base, name, checkpoint, reused)
    log.info("%s (%s)", attached.note, checkpoint.adapter)
    return attached


def _cached_base(checkpoint: AdapterCheckpoint, key_tail: tuple) -> tuple[SharedBase | None, str]:
    """A base in memory for this adapter, looked up by the spellings of its model (a folder is
    keyed resolved, so two spellings of one folder share a base)."""
    for spec in (checkpoint.base, *checkpoint.alternatives):
        ref = _bases.get((_key_spec(spec), *key_tail))
        base = ref() if ref is not None else None
        if base is not None:
            return base, spec
    return None, checkpoint.base


def _key_spec(spec: str) -> str:
    path = Path(spec).expanduser()
    try:
        return str(path.resolve()) if path.is_dir() else spec
    except OSError:
        return spec


def _load_base(checkpoint: AdapterCheckpoint, device: str) -> tuple[SharedBase, str]:
    """The base by the adapter's own reference, else by the run's model spec (a run copied from
    another machine: the cache folder the adapter names is not here, the Hub id may be cached);
    one message naming what the adapter needs when neither loads."""
    problem: FtStudioError | None = None
    for spec in (checkpoint.base, *checkpoint.alternatives):
        try:
            return load_base_model(spec, checkpoint.label_names, checkpoint.task, device), _key_spec(spec)
        except FtStudioError as exc:
            problem = problem or exc
    raise _base_problem(checkpoint, problem)


def _base_problem(checkpoint: AdapterCheckpoint, problem: FtStudioError | None) -> CheckpointError:
    where = checkpoint.adapter
    base = checkpoint.base
    merged = (" Or use the run's best/ or last/, which hold the merged weights and load without it."
              if checkpoint.files.parent.name == "checkpoints" else "")
    looks_like_folder = base.startswith(("/", "~", ".", "\\")) or (len(base) > 1 and base[1] == ":")
    if looks_like_folder and not Path(base).expanduser().exists():
        return CheckpointError(f"{where} is a LoRA adapter of the base model {base}, which is not there any more "
                               f"(moved or deleted). Put the model back at that path.{merged}")
    if isinstance(problem, ModelError) and "Hugging Face Hub" in str(problem):
        from ftstudio.engine.hub import offline_reason

        return CheckpointError(f"{where} is a LoRA adapter of {base}, which is not in the Hugging Face cache and cannot "
                               f"be downloaded now: {offline_reason()}. Download it once while online.{merged}")
    return CheckpointError(f"{where} is a LoRA adapter of {base}, which cannot be loaded: "
                           f"{first_line(problem) if problem else 'unknown error'}{merged}")


def shared_bases() -> int:
    """How many base models adapters share right now (for tests and the log)."""
    with _bases_lock:
        return sum(1 for ref in _bases.values() if ref() is not None)


__all__ = ["AdapterCheckpoint", "AdapterUse", "AttachedAdapter", "REUSED_NOTE", "adapter_to_load", "attach_adapter",
           "is_adapter_only", "load_base_model", "read_adapter_checkpoint", "shared_bases"]
