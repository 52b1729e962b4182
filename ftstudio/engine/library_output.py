"""Keep the Hugging Face libraries' own progress output out of ftstudio's: the reporter is the
progress (the window's bars, the CLI's lines), so tqdm bars and tqdm's monitor thread are off."""

from __future__ import annotations

import os


def quiet_progress_bars_early() -> None:
    """The cheap part, safe at startup before any data or model work: environment switches the
    HF libraries read on import, and no tqdm monitor thread (tqdm itself imports fast)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    try:
        import tqdm

        tqdm.tqdm.monitor_interval = 0
    except ImportError:
        pass


def quiet_training_libraries() -> None:
    """Everything, for the process that trains (it imports datasets and transformers anyway)."""
    quiet_progress_bars_early()
    try:
        import datasets

        datasets.disable_progress_bars()
    except ImportError:
        pass
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass
