"""How well a language model predicts the texts of a file: perplexity and token accuracy.

The measure is the one pre-training reports for its validation split, computed by the same code
(the texts packed into blocks as the run packed them, an encoder's tokens masked once with a
fixed seed, training's evaluation loop), so a number here compares with the run's curves and
the base model's number with its "before".
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import DatasetError

BATCH_SIZE = 16


def read_texts(path: str | Path) -> list[str]:
    """The texts of a plain-text file (one per line) or a folder of .txt files, every split."""
    from ftstudio.engine.data.plain_text import is_plain_text, read_plain_text

    path = Path(path).expanduser()
    if not path.exists():
        raise DatasetError(f"{path} does not exist. Give a plain-text file, one text per line.")
    if not is_plain_text(path):
        raise DatasetError(f"{path.name} is not plain text: measuring a language model takes a .txt file (one text "
                           "per line) or a folder of .txt files.")
    splits, _notes = read_plain_text(path)
    return [text for split in splits.values() for text in split["text"]]


def text_perplexity(predictor: Any, path: str | Path, control: Any = None, progress: Any = None) -> dict[str, Any]:
    """{"task": "pretrain", "rows" (texts), "perplexity", "token_accuracy", "loss",
    "predicted_tokens"} of `predictor` (a LanguageModelPredictor) on the texts of `path`."""
    from ftstudio.engine.data.text_blocks import language_model_split
    from ftstudio.engine.tasks.language_modeling import LANGUAGE_MODEL_TASKS
    from ftstudio.engine.training.evaluation import evaluate

    texts = read_texts(path)
    state = dict(getattr(predictor, "task_state", {}) or {})
    tokenizer = predictor.tokenizer
    split = language_model_split(
        texts, tokenizer, objective=predictor.objective, max_length=predictor.max_length,
        pack=bool(state.get("pack_texts", True)), mlm_probability=float(state.get("mlm_probability", 0.15)),
        whole_words=bool(state.get("whole_word_masking", False)) and getattr(tokenizer, "is_fast", False),
        training=False, seed=0, control=control)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    reporter = _Progress(progress) if progress is not None else None
    with getattr(predictor, "active", contextlib.nullcontext)():  # (an adapter's base runs with its adapter)
        outputs, loss = evaluate(predictor.model, split, task=LANGUAGE_MODEL_TASKS[predictor.objective],
                                 task_state=state, device=predictor.device, autocast=contextlib.nullcontext,
                                 batch_size=BATCH_SIZE, pad_token_id=pad, label_names=[], control=control,
                                 reporter=reporter)
    return {"task": "pretrain", "rows": len(texts), **outputs.metrics, "loss": loss, **outputs.details}


def format_perplexity(value: float) -> str:
    """A perplexity for people: four significant digits, whole numbers with separators from
    1,000 up (a fresh head's perplexity runs to tens of thousands)."""
    return f"{value:,.0f}" if value >= 1000 else f"{value:.4g}"


class _Progress:
    """The evaluation loop reports progress to a reporter; callers here pass a plain function."""

    def __init__(self, progress: Any) -> None:
        self._progress = progress

    def on_progress(self, phase: str, done: int, total: int) -> None:
        self._progress(done, total)
