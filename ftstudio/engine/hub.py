"""Is the Hugging Face Hub reachable? Answered within seconds, never by hanging on a download.

Both model and dataset loading ask before going online, so an offline user gets one clear
message instead of a long retry loop inside huggingface_hub.
"""

from __future__ import annotations

import os
import socket
import time
from urllib.parse import urlparse

_CACHE: dict[str, tuple[float, bool]] = {}
_CACHE_SECONDS = 30.0


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def offline_mode() -> bool:
    """True when the user (or our tests) told Hugging Face libraries to stay offline."""
    return any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
               for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"))


def hub_reachable(timeout: float = 3.0) -> bool:
    """Open a TCP connection to the Hub endpoint; cached briefly so repeated checks are free."""
    if offline_mode():
        return False
    url = urlparse(hub_endpoint())
    host = url.hostname or "huggingface.co"
    port = url.port or (443 if url.scheme == "https" else 80)
    now = time.monotonic()
    cached = _CACHE.get(host)
    if cached and now - cached[0] < _CACHE_SECONDS:
        return cached[1]
    try:
        with socket.create_connection((host, port), timeout=timeout):
            ok = True
    except OSError:
        ok = False
    _CACHE[host] = (now, ok)
    return ok


def offline_reason() -> str:
    """Why the Hub cannot be used, in words, for messages."""
    if offline_mode():
        return "offline mode is on (HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE is set)"
    return f"{urlparse(hub_endpoint()).hostname} cannot be reached (no internet connection?)"
