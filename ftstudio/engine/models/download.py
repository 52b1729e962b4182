"""Talking to the Hugging Face Hub for models: downloads into the HF cache with byte progress,
remote inspection (config.json and safetensors headers, no weights), and huggingface_hub errors
turned into one-line ModelErrors. huggingface_hub is imported inside each function.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import ModelError, first_line
from ftstudio.engine.models.files import hub_cache_dir, read_config

ProgressFn = Callable[[int, int], None]

# What a classification fine-tune needs from a Hub repository; never pickles unless allowed.
_HUB_PATTERNS = [
    "config.json", "*.safetensors", "model.safetensors.index.json", "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.txt",
    "vocab.json", "merges.txt", "spiece.model", "sentencepiece.bpe.model", "*.tiktoken",
]
_PICKLE_PATTERNS = ["pytorch_model*.bin", "pytorch_model.bin.index.json"]


def hub_patterns(allow_pickle: bool) -> list[str]:
    """The files a classification fine-tune needs from a repository (pickles only when allowed)."""
    return _HUB_PATTERNS + (_PICKLE_PATTERNS if allow_pickle else [])


def download_snapshot(repo_id: str, patterns: list[str], progress: ProgressFn | None) -> Path:
    """Download the matching files of `repo_id` into the HF cache; return the snapshot folder."""
    from huggingface_hub import snapshot_download

    kwargs: dict[str, Any] = {}
    if progress is not None:
        kwargs["tqdm_class"] = byte_progress_class(progress)
    path = snapshot_download(repo_id, cache_dir=str(hub_cache_dir()), allow_patterns=patterns, **kwargs)
    return Path(path)


def byte_progress_class(progress: ProgressFn) -> type:
    """A silent tqdm subclass that forwards the byte counter of a download to `progress`.

    huggingface_hub drives byte bars (unit "B") through the class it is given; the latest byte
    bar created is the aggregate one, so only its updates are forwarded.
    """
    import io

    from tqdm.auto import tqdm

    state: dict[str, Any] = {"bar": None}

    class _ByteProgress(tqdm):  # type: ignore[misc, valid-type]
        monitor_interval = 0  # no tqdm monitor thread inside the app

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.pop("name", None)
            kwargs["file"] = io.StringIO()
            kwargs["disable"] = False  # a disabled tqdm stops counting
            super().__init__(*args, **kwargs)
            if self.unit == "B":
                state["bar"] = self

        def update(self, n: float | None = 1) -> bool | None:
            result = super().update(n)
            if self is state["bar"]:
                with contextlib.suppress(Exception):  # a GUI callback must not break a download
                    progress(int(self.n), int(self.total or 0))
            return result

        def display(self, *args: Any, **kwargs: Any) -> None:
            return None

    return _ByteProgress


def hub_call(repo_id: str, call: Callable[[], Any]) -> Any:
    """Run a huggingface_hub call, turning its errors into one-line ModelErrors."""
    from huggingface_hub import errors as hub_errors

    from ftstudio.engine.hub import offline_reason

    try:
        return call()
    except hub_errors.GatedRepoError:  # a subclass of RepositoryNotFoundError: test it first
        raise ModelError(
            f"'{repo_id}' is gated: accept its terms on huggingface.co and log in (hf auth login), or pick another model."
        ) from None
    except hub_errors.RepositoryNotFoundError:
        raise ModelError(
            f"'{repo_id}' was not found on the Hugging Face Hub (or it is private). "
            "Check the spelling, e.g. 'google-bert/bert-base-uncased'."
        ) from None
    except hub_errors.RevisionNotFoundError:
        raise ModelError(f"'{repo_id}' has no main revision on the Hub. Pick another model.") from None
    except hub_errors.HFValidationError:
        raise ModelError(f"'{repo_id}' is not a valid Hugging Face model id. Use owner/name.") from None
    except OSError as exc:
        if getattr(exc, "errno", None) == 28:  # ENOSPC
            raise ModelError(
                f"Not enough disk space to download '{repo_id}' into {hub_cache_dir()}. "
                "Free some space or point HF_HOME at a larger disk."
            ) from None
        # LocalEntryNotFoundError, HTTP and connection errors are all OSErrors here.
        reason = offline_reason() if "offline" in str(exc).lower() else first_line(exc)
        raise ModelError(
            f"Cannot download '{repo_id}' from the Hugging Face Hub: {reason}. "
            "Check your connection, or pick the embedded default, a cached model or a local folder."
        ) from None
    except ModelError:
        raise
    except Exception as exc:  # e.g. a raw connection error from the HTTP client: still one line
        raise ModelError(
            f"Cannot download '{repo_id}' from the Hugging Face Hub: {first_line(exc)}. "
            "Check your connection, or pick the embedded default, a cached model or a local folder."
        ) from None


def hub_config(repo_id: str) -> dict[str, Any]:
    from huggingface_hub import hf_hub_download

    path = hf_hub_download(repo_id, "config.json", cache_dir=str(hub_cache_dir()))
    return read_config(Path(path).parent)


def hub_tensor_shapes(repo_id: str) -> dict[str, tuple[str, list[int]]]:
    """Tensor name -> (dtype, shape) read remotely from the safetensors headers ({} when none)."""
    from huggingface_hub import HfApi
    from huggingface_hub import errors as hub_errors

    try:
        meta = HfApi().get_safetensors_metadata(repo_id)
    except (hub_errors.NotASafetensorsRepoError, hub_errors.SafetensorsParsingError):
        return {}
    shapes: dict[str, tuple[str, list[int]]] = {}
    for file_meta in meta.files_metadata.values():
        for name, info in file_meta.tensors.items():
            shapes[name] = (str(info.dtype), list(info.shape))
    return shapes
