"""Where a run's model came from: the chain of runs back to the base model.

A fine-tune started from a pre-training run has `settings.model` = that run's checkpoint folder
(`<run>/best`, `<run>/last` or `<run>/checkpoints/step-N`); that run's own settings name the model
it started from, and so on back to a base model (the embedded default, a Hub id, a plain folder).
Everything is read from settings.json, status.json and trainer_state.json: no model is loaded, so
the Runs tab and `ftstudio runs` can show a lineage for every run. A run folder deleted since is
shown as gone, never an error; a chain that loops (folders copied over each other) ends where it
would repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftstudio.engine.runs.folder import CHECKPOINTS_DIR, STEP_RE, _read_json, is_run_dir, read_status

RUN, GONE, CHECKPOINT, BASE = "run", "gone", "checkpoint", "base"
MAX_DEPTH = 32  # no real chain is this long; a guard besides the cycle check
# Titles this module must say the same way whichever version of the task registry is installed.
_TITLES = {"pretrain": "Continued pre-training"}


@dataclass(frozen=True)
class Ancestor:
    """One link of a lineage. `kind`: RUN (a run folder), GONE (a run folder deleted since: only
    its path is known), CHECKPOINT (an ftstudio checkpoint folder outside any run) or BASE (the
    model the chain started from, always last when known).

    `spec` is what the younger link named as its model (a checkpoint path, or the base's spec);
    `name` is for people (run id, folder name, or the base's display name); `checkpoint` is the
    folder used (None for a base)."""

    kind: str
    spec: str
    name: str
    run_dir: Path | None = None
    checkpoint: Path | None = None
    task: str = ""
    title: str = ""
    data: str = ""
    status: str = ""
    missing: bool = False  # a base folder that no longer exists

    @property
    def is_run(self) -> bool:
        return self.kind in (RUN, GONE)


def task_title(task: str) -> str:
    """'pretrain' -> 'Continued pre-training', 'single-label' -> 'Single-label classification'."""
    if task in _TITLES:
        return _TITLES[task]
    from ftstudio.engine.errors import SettingsError
    from ftstudio.engine.tasks.registry import get_task

    try:
        return get_task(task or "single-label").title or task
    except SettingsError:
        return task


def _checkpoint_shape(path: Path) -> Path | None:
    """The run folder `path` would belong to by its name alone: <run>/best, <run>/last,
    <run>/checkpoints/step-N."""
    if path.name in ("best", "last"):
        return path.parent
    if STEP_RE.match(path.name) and path.parent.name == CHECKPOINTS_DIR:
        return path.parent.parent
    return None


def _as_path(spec: Any) -> Path | None:
    text = str(spec or "").strip()
    if text.lower() in ("", "default"):
        return None
    return Path(text).expanduser()


def run_of_checkpoint(path: str | Path | None) -> Path | None:
    """The run folder a checkpoint folder belongs to (<run>/best, <run>/last,
    <run>/checkpoints/step-N, links resolved), or None for anything else: a plain model folder,
    a Hub id, "default", a folder that does not exist."""
    candidate = _as_path(path)
    if candidate is None or not candidate.is_dir():
        return None
    spellings = [candidate.absolute()]
    try:
        spellings.append(candidate.resolve())
    except OSError:
        pass
    for spelling in spellings:
        run = _checkpoint_shape(spelling)
        if run is not None and is_run_dir(run):
            return run
    return None


def parent_run_id(model_spec: str) -> str:
    """The id of the run whose checkpoint `model_spec` names, also when that run folder is gone
    ("" when the model is not a run's checkpoint). Cheap: for the runs list."""
    run = run_of_checkpoint(model_spec)
    if run is not None:
        return run.name
    path = _as_path(model_spec)
    if path is not None and not path.exists():
        gone = _checkpoint_shape(path.absolute())
        if gone is not None and gone.name:
            return gone.name
    return ""


def _trainer_state(checkpoint: Path) -> dict[str, Any]:
    state = _read_json(checkpoint / "trainer_state.json")
    return state if isinstance(state, dict) else {}


def _saved_task(state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    task = state.get("task") if isinstance(state.get("task"), dict) else {}
    inner = task.get("state") if isinstance(task.get("state"), dict) else {}
    return str(task.get("name") or ""), inner


def _base(spec: str) -> Ancestor:
    from ftstudio.engine.models.sources import DEFAULT_DISPLAY

    path = _as_path(spec)
    if path is None:
        return Ancestor(BASE, str(spec or "default"), DEFAULT_DISPLAY)
    looks_like_path = path.is_absolute() or str(spec).startswith((".", "~")) or str(spec).count("/") >= 2
    if path.exists() or looks_like_path:
        name = path.name or str(spec)
        return Ancestor(BASE, str(spec), name, checkpoint=None, missing=not path.exists())
    return Ancestor(BASE, str(spec), str(spec))  # a Hub id


def _link(spec: str) -> tuple[Ancestor, str | None]:
    """The ancestor `spec` names, and the spec of its own model (None: the chain ends here)."""
    run = run_of_checkpoint(spec)
    path = _as_path(spec)
    if run is not None:
        assert path is not None
        state = _trainer_state(path)
        saved_task, saved = _saved_task(state)
        info = _read_json(run / "settings.json")
        settings = info.get("settings") if isinstance(info, dict) and isinstance(info.get("settings"), dict) else {}
        task = str(settings.get("task") or saved_task or "")
        task = saved_task if task == "auto" and saved_task else task
        parent = settings.get("model") or saved.get("base_model")
        ancestor = Ancestor(RUN, spec, run.name, run_dir=run, checkpoint=path, task=task, title=task_title(task),
                            data=str(settings.get("data") or ""), status=str(read_status(run).get("status", "")))
        return ancestor, (str(parent) if parent else None)
    if path is not None and not path.exists():
        gone = _checkpoint_shape(path.absolute())
        if gone is not None and gone.name:
            return Ancestor(GONE, spec, gone.name, run_dir=gone, checkpoint=path), None
    if path is not None and (path / "trainer_state.json").is_file():
        saved_task, saved = _saved_task(_trainer_state(path))
        if saved_task:  # an ftstudio checkpoint copied out of its run folder
            parent = saved.get("base_model")
            return (Ancestor(CHECKPOINT, spec, path.name, checkpoint=path, task=saved_task,
                             title=task_title(saved_task)), str(parent) if parent else None)
    return _base(spec), None


def _key(ancestor: Ancestor) -> str:
    where = ancestor.run_dir or ancestor.checkpoint
    if where is None:
        return f"spec:{ancestor.spec}"
    try:
        return str(Path(where).resolve())
    except OSError:
        return str(where)


def lineage(run_dir: str | Path) -> list[Ancestor]:
    """The chain from this run back to its base model, the run's parent first and the base last
    (a chain ending in a deleted run has no base). [] when settings.json cannot be read."""
    run_dir = Path(run_dir)
    info = _read_json(run_dir / "settings.json")
    if not isinstance(info, dict) or not isinstance(info.get("settings"), dict):
        return []
    seen = {_key(Ancestor(RUN, "", run_dir.name, run_dir=run_dir))}
    chain: list[Ancestor] = []
    spec: str | None = str(info["settings"].get("model") or "default")
    while spec is not None and len(chain) < MAX_DEPTH:
        ancestor, spec = _link(spec)
        key = _key(ancestor)
        if key in seen:  # a loop: the chain has already named this folder
            break
        seen.add(key)
        chain.append(ancestor)
    return chain


def started_from_run(chain: list[Ancestor]) -> bool:
    """Whether the model came from another run (or an ftstudio checkpoint), not a base model."""
    return bool(chain) and chain[0].kind != BASE


def ancestor_label(ancestor: Ancestor) -> str:
    """'run 20261129-1830-...', 'checkpoint my-folder', or the base's display name."""
    if ancestor.is_run:
        return f"run {ancestor.name}"
    if ancestor.kind == CHECKPOINT:
        return f"checkpoint {ancestor.name}"
    return ancestor.name


def ancestor_note(ancestor: Ancestor) -> str:
    """What follows the label: '(continued pre-training on corpus.txt)', '(run folder gone: PATH)'."""
    if ancestor.kind == GONE:
        return f"(run folder gone: {ancestor.run_dir})"
    if ancestor.kind == BASE:
        return f"(folder gone: {ancestor.spec})" if ancestor.missing else ""
    parts = [ancestor.title.lower() or ancestor.task]
    if ancestor.data:
        parts[0] += f" on {short_spec(ancestor.data)}"
    if ancestor.kind == RUN and ancestor.checkpoint is not None and ancestor.checkpoint.name != "best":
        parts.append(f"its {ancestor.checkpoint.name} checkpoint")
    if ancestor.kind == CHECKPOINT:
        parts.append(str(ancestor.checkpoint))
    return f"({', '.join(p for p in parts if p)})"


def describe_ancestor(ancestor: Ancestor) -> str:
    note = ancestor_note(ancestor)
    return f"{ancestor_label(ancestor)} {note}" if note else ancestor_label(ancestor)


def describe_lineage(chain: list[Ancestor], task: str = "") -> str:
    """One line: 'fine-tuned from run X (continued pre-training on corpus.txt) <- all-MiniLM-L6-v2
    (embedded default)'. `task` is the described run's own (pretrain reads 'continued
    pre-training of ...')."""
    if not chain:
        return ""
    verb = "continued pre-training of" if task == "pretrain" else "fine-tuned from"
    return f"{verb} " + " <- ".join(describe_ancestor(a) for a in chain)


def short_spec(spec: str) -> str:
    """A data or model spec as a user recognises it: a file or folder by its name."""
    text = str(spec).rstrip("/\\")
    return Path(text).name if ("/" in text or "\\" in text) and Path(text).name else text


def finetune_checkpoint(run_dir: str | Path, status: str, task: str) -> Path | None:
    """The checkpoint a fine-tune of this run starts from: a finished pre-training run's best/
    (else last/), a stopped one's best/; None for other runs (the caller says why)."""
    from ftstudio.engine.runs.checkpoints import is_complete

    if task != "pretrain":
        return None
    run_dir = Path(run_dir)
    names = {"finished": ("best", "last"), "stopped": ("best",)}.get(status, ())
    return next((run_dir / n for n in names if is_complete(run_dir / n)), None)


def finetune_settings(settings: Any, checkpoint: str | Path) -> Any:
    """`settings` (TrainSettings) for a fine-tune starting from `checkpoint`: the model is that
    folder; a pretrain task goes back to auto (the labelled data decides the task), and with it
    a best-checkpoint metric only pre-training reports."""
    changes: dict[str, Any] = {"model": str(checkpoint)}
    if settings.task == "pretrain":
        changes["task"] = "auto"
        if settings.metric_for_best in ("perplexity", "token_accuracy"):
            changes["metric_for_best"] = "auto"
    return settings.replace(**changes)


def describe_checkpoint(checkpoint: str | Path) -> str:
    """"run 20261129-1830-...'s best/" for a run's checkpoint, else the folder as given."""
    run = run_of_checkpoint(checkpoint)
    return f"run {run.name}'s {Path(checkpoint).name}/" if run is not None else str(checkpoint)
