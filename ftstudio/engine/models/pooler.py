"""Keeping an encoder's pooler through masked-language modelling.

BERT-style encoders carry a pooler (a dense layer on the [CLS] token) that sequence
classification reads. transformers' ForMaskedLM classes build their encoder without it, so
loading a model for pre-training drops its pretrained pooler, the checkpoints lack it, and a
fine-tune started from them would get a random one: pre-training would silently cost the
classifier a trained layer. So the pooler is put back on the encoder with its pretrained
weights. Masked-LM's loss never reads it (it trains no further: no gradient reaches it), every
checkpoint saves it under the encoder's name (`bert.pooler.*`, as Google's BERT checkpoints do),
fine-tuning finds it, and stock ForMaskedLM loading ignores it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def restore_pooler(model: Any, folder: Path, unexpected: list[str]) -> str | None:
    """Give the encoder of `model` back the pooler its checkpoint in `folder` holds (the
    `unexpected` keys of loading); a line for the log, or None when there was none to keep."""
    import torch

    base = getattr(model, "base_model", None)
    if base is None or getattr(base, "pooler", "absent") is not None:
        return None  # no pooler slot, or the model kept its pooler itself
    prefix = getattr(model, "base_model_prefix", "")
    wanted = {key.split("pooler.", 1)[1]: key for key in unexpected
              if key.startswith(("pooler.", f"{prefix}.pooler."))}
    pooler_class = _pooler_class(base)
    if not wanted or pooler_class is None:
        return None
    tensors = _read_tensors(folder, set(wanted.values()))
    pooler = pooler_class(model.config)
    state = {name: tensors[key] for name, key in wanted.items() if key in tensors}
    if set(state) != set(pooler.state_dict()):
        return None
    pooler.load_state_dict(state)
    pooler.requires_grad_(False)  # masked-LM's loss never reads it: keep it exactly as pretrained
    base.pooler = pooler.to(next(model.parameters()).dtype)
    torch.nn.Module.train(pooler, model.training)
    return "The encoder's pretrained pooler is kept with the checkpoints, for fine-tuning to read later."


def _pooler_class(base: Any) -> Any:
    module = sys.modules.get(type(base).__module__)
    stem = type(base).__name__.removesuffix("Model")
    return getattr(module, f"{stem}Pooler", None) if module is not None else None


def _read_tensors(folder: Path, names: set[str]) -> dict[str, Any]:
    from safetensors import safe_open

    found: dict[str, Any] = {}
    for path in sorted(Path(folder).glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as handle:
            for name in names & set(handle.keys()):
                found[name] = handle.get_tensor(name)
    return found
