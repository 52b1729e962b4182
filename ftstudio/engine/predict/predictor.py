"""Predictor: a checkpoint in, the task's predictions out.

Accepts a checkpoint folder, a run folder (its best/, else last/), or a model spec for the
untrained base model (to show what fine-tuning changed). Weights load from safetensors only.
The task (and what it saved: a pair model's second text, multi-label thresholds, a score's
name) comes from the checkpoint's trainer_state.json, or from transformers' `problem_type` for
a checkpoint made elsewhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import CheckpointError, DatasetError, FtStudioError, first_line
from ftstudio.engine.predict.adapter_checkpoints import AdapterUse
from ftstudio.engine.predict.entities import entity_prediction_fields


@dataclass
class Prediction:
    """One row's prediction. Every task fills `label` and `score` (the top class and its
    probability; the chosen labels joined and the highest probability; the score's name and the
    predicted value); the rest is what the task adds."""

    text: str
    label: str
    score: float
    probabilities: dict[str, float] = field(default_factory=dict)  # classes and multi-label
    text_pair: str | None = None
    labels: list[str] | None = None  # multi-label: the labels at or above their threshold
    thresholds: dict[str, float] | None = None  # multi-label
    value: float | None = None  # regression: the predicted score, in the data's units
    # token classification: {"text", "type", "score", "start", "end"} per entity, in text order
    entities: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        found = {"text": self.text, "text_pair": self.text_pair, "label": self.label, "score": self.score,
                 "labels": self.labels, "value": self.value, "probabilities": self.probabilities or None,
                 "thresholds": self.thresholds, "entities": self.entities}
        return {k: v for k, v in found.items() if v is not None}


def resolve_checkpoint(path: str | Path) -> Path:
    """A loadable checkpoint folder from a checkpoint or a run folder (its best/, else last/,
    else its newest step folder: a LoRA run stopped before its first best/ has only those). A
    LoRA run's step folder, which holds only the adapter, is a checkpoint too."""
    from ftstudio.engine.predict.adapter_checkpoints import is_adapter_only
    from ftstudio.engine.runs.checkpoints import recover_run
    from ftstudio.engine.runs.folder import is_run_dir

    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(f"{path} does not exist. Give a checkpoint folder or a run folder.")
    if is_run_dir(path):
        recover_run(path)
        for name in ("best", "last"):
            if (path / name / "config.json").is_file():
                return path / name
        newest = _newest_step(path)
        if newest is not None:
            return newest
        raise CheckpointError(f"Run {path.name} has no checkpoint yet (it stopped before the first save).")
    if (path / "config.json").is_file():
        if not (path / "model.safetensors").is_file() and not (path / "model.safetensors.index.json").is_file():
            raise CheckpointError(f"{path} has no model.safetensors: not a complete checkpoint.")
        _check_is_classifier(path)
        return path
    if is_adapter_only(path):
        return path
    raise CheckpointError(f"{path} is neither a checkpoint folder (config.json, or a LoRA adapter) nor an ftstudio "
                          "run folder.")


def _newest_step(run: Path) -> Path | None:
    from ftstudio.engine.runs.checkpoints import is_complete
    from ftstudio.engine.runs.listing import list_checkpoints

    complete = [c.path for c in list_checkpoints(run) if is_complete(c.path)]
    return complete[-1] if complete else None


def _check_is_classifier(path: Path) -> None:
    """Refuse a checkpoint with no head we predict with: loading a QA or headless checkpoint as a
    classifier silently adds a random head, and its 'predictions' would be noise with
    LABEL_0/LABEL_1. Classifiers and language models (masked or causal LM heads) pass."""
    from ftstudio.engine.models.objectives import LANGUAGE_MODEL_HEADS

    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"config.json in {path} is unreadable ({exc}).") from None
    architectures = config.get("architectures") if isinstance(config, dict) else None
    heads = ("ForSequenceClassification", "ForTokenClassification", *LANGUAGE_MODEL_HEADS)
    if not architectures or not any(str(a).endswith(heads) for a in architectures):
        kind = architectures[0] if architectures else "model without a task head"
        raise CheckpointError(
            f"{path} is a {kind} checkpoint, not a text or token classifier or a language model. Fine-tune it "
            "first (ftstudio train --model ...), or give a run folder or one of its checkpoints."
        )


def load_predictor(path: str | Path, device: str = "cpu") -> Any:
    """The predictor a checkpoint or run folder calls for: a LanguageModelPredictor for a
    pre-training run or any masked/causal language model, else a (classification) Predictor."""
    from ftstudio.engine.predict.language_checkpoints import checkpoint_objective

    folder = resolve_checkpoint(path)
    if checkpoint_objective(folder) is not None:
        from ftstudio.engine.predict.language_model import LanguageModelPredictor

        return LanguageModelPredictor(folder, device=device)
    return Predictor(folder, device=device)


def _refuse_language_model(path: Path) -> None:
    """A language model loaded as a classifier would get a random head: say what to use instead."""
    from ftstudio.engine.predict.language_checkpoints import checkpoint_objective

    objective = checkpoint_objective(path)
    if objective is not None:
        what = "fills masked words" if objective == "masked" else "continues text"
        raise CheckpointError(
            f"{path} is a language model (it {what}), not a classifier: load it with "
            "load_predictor() or LanguageModelPredictor, or fine-tune it on labelled data first."
        )


def _max_length(saved: dict[str, Any], given: int | None) -> int:
    """The window the model was trained on (trainer_state.json), unless the caller gives one."""
    try:
        return given or int(saved["max_length"])
    except (KeyError, TypeError, ValueError):
        return given or 512


def _adapter_tokenizer(folder: Path, fallback: Any) -> Any:
    """The tokenizer saved with an adapter checkpoint (the run's, with its padding side and
    prefix-space setting), else the base model's."""
    from transformers import AutoTokenizer

    from ftstudio.engine.models.loading import quiet_transformers

    if not (folder / "tokenizer_config.json").is_file():
        return fallback
    try:
        with quiet_transformers():
            return AutoTokenizer.from_pretrained(str(folder))
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"Cannot load the tokenizer saved in {folder}: {first_line(exc)}") from None


def _saved_state(path: Path) -> dict[str, Any]:
    from ftstudio.engine.runs.checkpoints import TRAINER_STATE

    try:
        state = json.loads((path / TRAINER_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


class Predictor(AdapterUse):
    """Loads once, predicts many. Thread-confined: use one Predictor per thread.

    A LoRA run's step folder loads its base model and the adapter (adapter_checkpoints.py), the
    base shared with the other adapters of that base in use; `prefer_adapter` loads best/ and
    last/ of a LoRA run that way too (the tester does, to switch checkpoints without loading
    models), instead of their merged weights. `load_note` says which way it loaded (None: a
    full checkpoint)."""

    def __init__(self, path: str | Path, device: str = "cpu", max_length: int | None = None,
                 prefer_adapter: bool = False) -> None:
        import torch
        from transformers import AutoConfig, AutoTokenizer

        from ftstudio.engine.models.loading import (
            auto_model_class,
            ensure_pad_token,
            match_padding,
            quiet_transformers,
        )
        from ftstudio.engine.predict.adapter_checkpoints import adapter_to_load
        from ftstudio.engine.tasks.registry import task_of_config

        self.path = resolve_checkpoint(path)
        _refuse_language_model(self.path)
        self.device = torch.device(device)
        self._entity_finder: Any = None
        adapter = adapter_to_load(self.path, prefer_adapter)
        if adapter is not None:
            try:
                self._load_adapter(adapter, device, max_length)
                return
            except CheckpointError:
                if adapter == self.path:
                    raise
                # (best/ or last/ holds the merged weights too: they load without the base)
        saved = _saved_state(self.path)
        saved_task = saved.get("task") if isinstance(saved.get("task"), dict) else {}
        try:
            with quiet_transformers():
                config = AutoConfig.from_pretrained(self.path)
                self.task = task_of_config(config, saved_task)
                self.model = auto_model_class(self.task.model_kind).from_pretrained(
                    self.path, config=config, use_safetensors=True)
                self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        except (OSError, ValueError, KeyError) as exc:
            raise CheckpointError(f"Cannot load checkpoint {self.path}: {first_line(exc)}") from None
        # A decoder classifier reads its last real token: pad as training did (on the right, with
        # the pad id the model knows), also a checkpoint made elsewhere (no pad token, left padding).
        ensure_pad_token(self.tokenizer, str(self.path))
        match_padding(self.model, self.tokenizer, classifier=True)
        self.model.to(self.device).eval()
        self.task_state: dict[str, Any] = dict(saved_task.get("state") or {})
        id2label = self.model.config.id2label
        self.label_names = [str(id2label[i]) for i in range(len(id2label))]
        self.max_length = _max_length(saved, max_length)

    def _load_adapter(self, folder: Path, device: str, max_length: int | None) -> None:
        """The adapter in `folder` on its (shared) base model, with the checkpoint's tokenizer."""
        from ftstudio.engine.predict.adapter_checkpoints import attach_adapter

        attached = attach_adapter(folder, device)
        checkpoint = attached.checkpoint
        saved = checkpoint.state or {}
        saved_task = saved.get("task") if isinstance(saved.get("task"), dict) else {}
        from ftstudio.engine.models.loading import ensure_pad_token, match_padding

        self.tokenizer = _adapter_tokenizer(checkpoint.files, attached.base.tokenizer)
        self.adapter, self.model, self.task = attached, attached.model, attached.task
        ensure_pad_token(self.tokenizer, str(folder))  # (a decoder classifier: as training padded)
        match_padding(self.model, self.tokenizer, classifier=not self.task.language_model)
        self.task_state = dict(saved_task.get("state") or {})
        id2label = self.model.config.id2label  # (the base was given the run's labels)
        self.label_names = [str(id2label[i]) for i in range(len(id2label))]
        self.max_length = _max_length(saved, max_length)

    @classmethod
    def base_model(cls, model_spec: str, label_names: list[str], device: str = "cpu", seed: int = 0,
                   task: str = "single-label", task_state: dict[str, Any] | None = None) -> Predictor:
        """The pretrained model with a fresh, untrained head: the 'before' of a fine-tune (a
        regression head in the data's units, as a checkpoint holds it)."""
        import torch

        from ftstudio.engine.models.loading import load_model_and_tokenizer
        from ftstudio.engine.models.sources import resolve_model_source
        from ftstudio.engine.tasks.registry import get_task

        self = cls.__new__(cls)
        torch.manual_seed(seed)
        self.task, self.task_state = get_task(task), dict(task_state or {})
        loaded = load_model_and_tokenizer(resolve_model_source(model_spec), label_names, task=self.task)
        # The head as a checkpoint stores it (a regression's scale folded in), for good: copy the
        # folded tensors out inside the context and back in after it. (Entering the context and
        # dropping it undid the fold at once: the generator's cleanup restores the head.)
        with self.task.saved_weights(loaded.model, self.task_state):
            folded = self.task.exact_weights(loaded.model, self.task_state)
        self.task.training_weights(loaded.model, self.task_state, exact=folded)
        self.path = Path(str(model_spec))
        self.device = torch.device(device)
        self.model, self.tokenizer = loaded.model.to(self.device).eval(), loaded.tokenizer
        self.label_names = list(label_names)
        self.max_length = 128
        self._entity_finder = None
        self.adapter = None
        return self

    @property
    def takes_pairs(self) -> bool:
        """Whether the model was trained on pairs of texts (then predictions need both)."""
        return bool(self.task_state.get("text_pair"))

    def entities(self, text: str) -> list[dict[str, Any]]:
        """A token classifier's entities in `text` (any length), with character offsets."""
        from ftstudio.engine.predict.entities import EntityFinder

        with self.active():
            if self._entity_finder is None:
                self._entity_finder = EntityFinder(self.model, self.tokenizer, self.max_length)
            return self._entity_finder(text)

    def logits(self, texts: list[str], pairs: list[str] | None = None) -> Any:
        """The model's raw outputs for one batch, as a float numpy array [rows, outputs]."""
        import torch

        with torch.inference_mode(), self.active():
            encoded = self.tokenizer(texts, pairs, truncation=True, max_length=self.max_length, padding=True,
                                     return_tensors="pt").to(self.device)
            return self.model(**encoded).logits.float().cpu().numpy()

    def predict(self, texts: list[str] | str, batch_size: int = 64,
                pairs: list[str] | str | None = None) -> list[Prediction]:
        """Predictions for `texts` (and their second texts, for a pair model)."""
        texts = [texts] if isinstance(texts, str) else [str(t) for t in texts]
        if self.task.token_level:
            return [Prediction(text=text, **entity_prediction_fields(self.entities(text))) for text in texts]
        if isinstance(pairs, str):
            pairs = [pairs]
        if pairs is not None and len(pairs) != len(texts):
            raise DatasetError(f"{len(texts)} texts but {len(pairs)} second texts: give one second text per text.")
        if self.takes_pairs and pairs is None:
            raise DatasetError("This model compares pairs of texts: give a second text for each text.")
        results: list[Prediction] = []
        for start in range(0, len(texts), batch_size):
            chunk = texts[start : start + batch_size]
            second = [str(p) for p in pairs[start : start + batch_size]] if pairs is not None else None
            found = self.task.predict(self.logits(chunk, second), self.label_names, self.task_state)
            for i, (text, fields) in enumerate(zip(chunk, found, strict=True)):
                results.append(Prediction(text=text, text_pair=second[i] if second else None, **fields))
        return results


__all__ = ["Prediction", "Predictor", "load_predictor", "resolve_checkpoint", "FtStudioError"]
