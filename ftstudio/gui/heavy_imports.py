"""One import of transformers for the window's background threads, never beside datasets work.

datasets' fingerprinting looks up transformers.PreTrainedTokenizerBase whenever transformers is
in sys.modules; while another thread is still importing transformers (the tester loading a model,
the Setup tab's tokenizer) that lookup fails ("module 'transformers' has no attribute ..."). So
preparing data (`DATA_WORK`) and importing transformers (`import_transformers`) share one lock,
and once transformers is whole the import no longer waits for anything.
"""

from __future__ import annotations

import threading

DATA_WORK = threading.Lock()  # held while datasets works, and while transformers is imported
_ready = threading.Event()


def import_transformers() -> None:
    """Import transformers whole (its tokenizer base resolved), outside any datasets work."""
    if _ready.is_set():
        return
    with DATA_WORK:
        import transformers

        transformers.PreTrainedTokenizerBase  # noqa: B018 - resolves the lazy module while holding the lock
        _ready.set()
