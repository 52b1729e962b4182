"""The `strategy` setting's small language: full | head | embeddings | bottom-N | gradual | lora.

It is the one setting whose text has a syntax rather than a list of choices, so it has its own
parser; its rules (the syntax and N's range) are checked by `validation.py` like any other.
The first five freeze parts of the model (engine/models/freezing.py); `lora` freezes all of it
and trains low-rank adapters beside it (engine/models/adapters.py), configured by the lora_*
settings.
"""

from __future__ import annotations

import re

from ftstudio.engine.errors import SettingsError

STRATEGY_KINDS = ("full", "head", "embeddings", "bottom", "gradual", "lora")
# The deepest encoder we expect; bounds bottom-N and reinit_top_layers alike. A shallower model
# narrows both at training time, with a message naming its own depth.
MAX_LAYERS = 128
FROZEN_LAYERS_RANGE = (0, MAX_LAYERS)  # N of bottom-N (bottom-0 freezes the embeddings only)
STRATEGY_SYNTAX = "full, head, embeddings, bottom-N (e.g. bottom-4), gradual or lora"
_BOTTOM_RE = re.compile(r"^bottom-(\d+)$")


def parse_strategy(value: str) -> tuple[str, int]:
    """Split a strategy string into (kind, N); 'bottom-4' -> ('bottom', 4). Raises SettingsError."""
    text = str(value).strip().lower()
    match = _BOTTOM_RE.match(text)
    if match:
        return "bottom", int(match.group(1))
    if text in STRATEGY_KINDS and text != "bottom":
        return text, 0
    raise SettingsError(f"strategy: '{value}' is not a strategy. Use {STRATEGY_SYNTAX}.", "strategy")


def strategy_problem(value: str) -> str | None:
    """Why `value` is not a usable strategy (its syntax, or N out of range), or None."""
    try:
        kind, layers = parse_strategy(value)
    except SettingsError as exc:
        return str(exc)
    low, high = FROZEN_LAYERS_RANGE
    if kind == "bottom" and not low <= layers <= high:
        return f"strategy: bottom-N needs N between {low} and {high} layers (got {value!r})."
    return None
