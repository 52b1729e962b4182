"""Model files on disk, read without torch: folder checks, the HF cache, config and safetensors
headers, and the per-layer parameter counts derived from tensor names.

Kept apart from loading.py, which needs torch: everything here is cheap enough for the window to
call as the user types.
"""

from __future__ import annotations

import json
import os
import re
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftstudio.engine.errors import ModelError

if TYPE_CHECKING:
    from ftstudio.engine.models.sources import ModelSource

SAFETENSORS_FILES = ("model.safetensors", "model.safetensors.index.json")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "spiece.model", "sentencepiece.bpe.model")
# Integer/bool tensors in a checkpoint are buffers (position_ids, token_type_ids), not parameters.
_BUFFER_DTYPES = {"I64", "I32", "I16", "BOOL", "int64", "int32", "int16", "bool"}
# "<prefix>encoder.layer.3." and the like; the text before the match is the base model's prefix.
_LAYER_RE = re.compile(r"(?:^|(?<=\.))(?:encoder\.|transformer\.)?(?:layers?|albert_layer_groups)\.(\d+)\.")
# Top-level names of pretraining / task heads when a checkpoint's base model has no prefix.
_HEAD_NAMES = {
    "cls", "lm_head", "classifier", "pre_classifier", "qa_outputs", "vocab_transform", "vocab_layer_norm",
    "vocab_projector", "generator_predictions", "generator_lm_head", "discriminator_predictions",
    "predictions", "score", "head", "sop_classifier", "mask_predictions", "lm_predictions",
}
_MAX_HEADER_BYTES = 100 * 1024 * 1024
# Config fields that only image or audio models have (text models all have a vocab_size).
_AUDIO_FIELDS = ("num_mel_bins", "conv_dim", "feat_extract_norm")
_IMAGE_FIELDS = ("image_size", "num_channels", "patch_size")
TEXT_MODEL_EXAMPLES = "BERT, RoBERTa, DistilBERT, ELECTRA or DeBERTa"


@dataclass
class CachedModel:
    """A model repository in the local Hugging Face cache (only those with a config.json)."""

    repo_id: str
    path: Path  # the snapshot folder
    size_bytes: int
    model_type: str
    architecture: str
    complete: bool = True  # config, safetensors weights and tokenizer are all there


@dataclass
class ModelInfo:
    """What a model is and how its parameters split into embeddings / layers / the rest."""

    source: ModelSource | None
    architecture: str
    model_type: str
    num_layers: int
    hidden_size: int
    num_heads: int
    vocab_size: int
    max_position_embeddings: int
    num_parameters: int  # every parameter tensor in the checkpoint (buffers excluded)
    embedding_params: int = 0  # the base model outside its layers and pooler
    layer_params: list[int] = field(default_factory=list)  # per encoder layer, bottom first
    pooler_params: int = 0  # trains with the new head (see freezing.layer_groups)
    other_params: int = 0  # pretraining heads (MLM, ...), dropped when loading for classification
    intermediate_size: int = 0  # feed-forward width (estimates when there is no safetensors header)
    weights: str = "safetensors"  # safetensors | pickle | none (counts are 0 without safetensors)


# ------------------------------------------------------------------ folders
def read_config(folder: Path) -> dict[str, Any]:
    """config.json as a dict, or a ModelError saying what is wrong with it."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise ModelError(
            f"{folder} has no config.json, so it is not a transformers model folder. "
            "Pick the folder written by save_pretrained."
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelError(
            f"config.json in {folder} is not valid JSON ({exc.msg} at line {exc.lineno}). Restore it from the original model."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"Cannot read config.json in {folder}: {exc}. Check the file's permissions.") from None
    if not isinstance(data, dict) or not data.get("model_type"):
        raise ModelError(
            f"config.json in {folder} has no model_type, so transformers cannot tell what model it is. "
            "Restore it from the original model."
        )
    return data


def check_model_folder(folder: Path, allow_pickle: bool = False) -> str:
    """Refuse a folder that cannot be loaded, saying why; return its weights kind.

    Checks config.json, weights (safetensors; pickles only when allowed, since unpickling runs
    code) and tokenizer files, so problems show when the model is picked, not mid-run.
    """
    folder = Path(folder)
    try:
        names = set(os.listdir(folder))
    except OSError as exc:
        raise ModelError(f"Cannot read model folder {folder}: {exc.strerror or exc}. Check its permissions.") from None
    if not names:
        raise ModelError(f"Model folder {folder} is empty. Pick a folder with config.json, model.safetensors and tokenizer files.")
    if "config.json" not in names and _has_tokenizer(names) and _weights_kind(names) == "none":
        raise ModelError(
            f"{folder} holds only tokenizer files (no config.json, no weights): a tokenizer, not a model. "
            "Pick the folder saved with the whole model (config.json, model.safetensors and the tokenizer)."
        )
    _refuse_non_text(folder, read_config(folder))
    weights = _weights_kind(names)
    if weights == "pickle" and not allow_pickle:
        raise ModelError(
            f"{folder} has only pickle weights; convert to safetensors or allow pickle loading (--allow-pickle) "
            "if you trust where it came from."
        )
    if weights == "none":
        raise ModelError(f"{folder} has no model weights (model.safetensors). Copy the weights into it or pick another model.")
    if not _has_tokenizer(names):
        raise ModelError(
            f"{folder} has no tokenizer files (tokenizer.json, vocab.txt, ...). "
            "Copy the tokenizer files saved with the model into it."
        )
    return weights


def _refuse_non_text(folder: Path, config: dict[str, Any]) -> None:
    """An image or audio model (ViT, Wav2Vec2, ...) has no text classifier to fine-tune: say so
    when it is picked, rather than "no tokenizer files" or a loader error later."""
    if any(name in config for name in _AUDIO_FIELDS):
        modality = "an audio"
    elif "vocab_size" not in config and "text_config" not in config and any(n in config for n in _IMAGE_FIELDS):
        modality = "an image"
    else:
        return
    arch = (config.get("architectures") or [config.get("model_type")])[0]
    raise ModelError(
        f"{folder} holds {modality} model ({arch}, model type {config.get('model_type')}), not a text model: "
        f"ftstudio fine-tunes text encoders. Pick a text model such as {TEXT_MODEL_EXAMPLES}."
    )


def _weights_kind(names: set[str]) -> str:
    if any(name in names for name in SAFETENSORS_FILES):
        return "safetensors"
    if any(name.endswith(PICKLE_SUFFIXES) for name in names):
        return "pickle"
    return "none"


def _has_tokenizer(names: set[str]) -> bool:
    return any(name in names for name in TOKENIZER_FILES) or {"vocab.json", "merges.txt"} <= names


# ------------------------------------------------------------------ the Hugging Face cache
def hub_cache_dir() -> Path:
    """The HF hub cache, read from the environment at each call (HF_HUB_CACHE, then HF_HOME)."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(name):
            return Path(os.environ[name]).expanduser()
    home = os.environ.get("HF_HOME")
    if not home:
        home = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def cached_snapshot(repo_id: str, cache_dir: Path | None = None) -> Path | None:
    """The snapshot folder of `repo_id` that has a config.json: refs/main first, else the newest."""
    repo_dir = (cache_dir or hub_cache_dir()) / ("models--" + repo_id.replace("/", "--"))
    return _repo_snapshot(repo_dir)


def _repo_snapshot(repo_dir: Path) -> Path | None:
    snapshots = repo_dir / "snapshots"
    try:
        main = (repo_dir / "refs" / "main").read_text(encoding="utf-8").strip()
        if main and (snapshots / main / "config.json").is_file():
            return snapshots / main
    except (OSError, UnicodeDecodeError):
        pass
    try:
        found = [d for d in snapshots.iterdir() if (d / "config.json").is_file()]
    except OSError:
        return None
    return max(found, key=lambda d: d.stat().st_mtime) if found else None


def list_cached_models(cache_dir: Path | None = None) -> list[CachedModel]:
    """Model repositories in the HF cache whose snapshot has a config.json, sorted by id.

    Reads the cache layout directly (models--owner--name/snapshots/<rev>/) rather than through
    huggingface_hub's scanner, which raises on a cache it finds odd; unreadable entries are skipped.
    """
    root = cache_dir or hub_cache_dir()
    try:
        repo_dirs = sorted(d for d in root.iterdir() if d.name.startswith("models--") and d.is_dir())
    except OSError:
        return []
    found = []
    for repo_dir in repo_dirs:
        entry = _cached_entry(repo_dir)
        if entry is not None:
            found.append(entry)
    return found


def _cached_entry(repo_dir: Path) -> CachedModel | None:
    snapshot = _repo_snapshot(repo_dir)
    if snapshot is None:
        return None
    repo_id = repo_dir.name[len("models--"):].replace("--", "/")
    try:
        config = read_config(snapshot)
    except ModelError:
        config = {}
    try:
        check_model_folder(snapshot)
        complete = True
    except ModelError:
        complete = False
    return CachedModel(
        repo_id=repo_id,
        path=snapshot,
        size_bytes=_folder_size(repo_dir / "blobs") or _folder_size(snapshot),
        model_type=str(config.get("model_type", "unknown")),
        architecture=str((config.get("architectures") or ["unknown"])[0]),
        complete=complete,
    )


def _folder_size(folder: Path) -> int:
    total = 0
    try:
        for path in folder.rglob("*"):
            if path.is_file():  # follows the snapshot's symlinks to blobs
                total += path.stat().st_size
    except OSError:
        pass
    return total


# ------------------------------------------------------------------ safetensors headers
def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a .safetensors file: tensor name -> {dtype, shape, data_offsets}."""
    try:
        with open(path, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > _MAX_HEADER_BYTES:
                raise ValueError("header too large")
            header = json.loads(handle.read(length))
    except (OSError, ValueError, struct.error) as exc:
        raise ModelError(
            f"{path.name} in {path.parent} is not a readable safetensors file ({exc}). Copy or download it again."
        ) from None
    header.pop("__metadata__", None)
    return header


def local_tensor_shapes(folder: Path) -> dict[str, tuple[str, list[int]]]:
    """Tensor name -> (dtype, shape) over model.safetensors or every shard of its index."""
    folder = Path(folder)
    files = [folder / "model.safetensors"]
    index = folder / "model.safetensors.index.json"
    if not files[0].is_file() and index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{index.name} in {folder} is malformed ({exc}). Download the model again.") from None
        files = [folder / name for name in sorted(set(weight_map.values()))]
    shapes: dict[str, tuple[str, list[int]]] = {}
    for file in files:
        if not file.is_file():
            if file.name == "model.safetensors":
                return {}
            raise ModelError(f"Shard {file.name} is missing from {folder}. Download the model again.")
        for name, meta in read_safetensors_header(file).items():
            shapes[name] = (str(meta.get("dtype", "")), list(meta.get("shape", [])))
    return shapes


# ------------------------------------------------------------------ model info
def model_info_from_files(folder: Path, source: ModelSource | None = None) -> ModelInfo:
    """ModelInfo for a local folder (config.json plus safetensors headers)."""
    config = read_config(folder)
    weights = _weights_kind(set(os.listdir(folder)))
    shapes = local_tensor_shapes(folder) if weights == "safetensors" else {}
    info = model_info_from_tensors(config, shapes, source)
    info.weights = weights if shapes or weights != "safetensors" else "none"
    return info


def model_info_from_tensors(
    config: dict[str, Any], shapes: dict[str, tuple[str, list[int]]], source: ModelSource | None = None
) -> ModelInfo:
    """Combine config fields and per-tensor shapes into a ModelInfo."""
    counts = split_parameter_counts(shapes)
    return ModelInfo(
        source=source,
        architecture=str((config.get("architectures") or [config.get("model_type", "unknown")])[0]),
        model_type=str(config.get("model_type", "unknown")),
        num_layers=_first_int(config, "num_hidden_layers", "n_layers", "num_layers", "n_layer"),
        hidden_size=_first_int(config, "hidden_size", "dim", "d_model", "n_embd"),
        num_heads=_first_int(config, "num_attention_heads", "n_heads", "num_heads", "n_head"),
        vocab_size=_first_int(config, "vocab_size"),
        max_position_embeddings=_first_int(config, "max_position_embeddings", "n_positions", "max_seq_len"),
        num_parameters=counts["total"],
        embedding_params=counts["embeddings"],
        layer_params=counts["layers"],
        pooler_params=counts["pooler"],
        other_params=counts["other"],
        intermediate_size=_first_int(config, "intermediate_size", "hidden_dim", "ffn_dim"),
        weights="safetensors" if shapes else "none",
    )


def _first_int(config: dict[str, Any], *names: str) -> int:
    for name in names:
        value = config.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def split_parameter_counts(shapes: dict[str, tuple[str, list[int]]]) -> dict[str, Any]:
    """Sort tensors into embeddings / layer i / pooler / other by name, counting elements.

    The base model's prefix ("bert.", "distilbert.", "" for a bare encoder) is the one most layer
    tensors share; base tensors outside layers and pooler count as embeddings (this matches
    freezing.layer_groups), tensors outside the base model (MLM heads...) as other.
    """
    params = {name: _numel(shape) for name, (dtype, shape) in shapes.items() if not _is_buffer(name, dtype)}
    matches = {name: _LAYER_RE.search(name) for name in params}
    prefixes = Counter(name[: m.start()] for name, m in matches.items() if m)
    base = prefixes.most_common(1)[0][0] if prefixes else ""
    layers: dict[int, int] = {}
    counts = {"embeddings": 0, "pooler": 0, "other": 0}
    for name, numel in params.items():
        match = matches[name]
        if match and name[: match.start()] == base:
            layers[int(match.group(1))] = layers.get(int(match.group(1)), 0) + numel
        elif _in_base(name, base):
            counts["pooler" if name[len(base):].startswith("pooler.") else "embeddings"] += numel
        else:
            counts["other"] += numel
    layer_list = [layers.get(i, 0) for i in range(max(layers) + 1)] if layers else []
    return {**counts, "layers": layer_list, "total": sum(params.values())}


def _in_base(name: str, base: str) -> bool:
    if base:
        return name.startswith(base)
    return name.split(".", 1)[0] not in _HEAD_NAMES


def _is_buffer(name: str, dtype: str) -> bool:
    return dtype in _BUFFER_DTYPES or name.endswith(("position_ids", "token_type_ids"))


def _numel(shape: list[int]) -> int:
    total = 1
    for dim in shape:
        total *= int(dim)
    return total
