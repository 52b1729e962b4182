"""Predictor: a checkpoint in, labels and every class's probability out.

Accepts a checkpoint folder, a run folder (its best/, else last/), or a model spec for the
untrained base model (to show what fine-tuning changed). Weights load from safetensors only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import CheckpointError, DatasetError, FtStudioError, first_line


@dataclass
class Prediction:
    """The top label, its probability, and every class's probability (label order)."""

    text: str
    label: str
    score: float
    probabilities: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "label": self.label, "score": self.score, "probabilities": self.probabilities}


def resolve_checkpoint(path: str | Path) -> Path:
    """A loadable checkpoint folder from a checkpoint or a run folder."""
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
        raise CheckpointError(f"Run {path.name} has no checkpoint yet (it stopped before the first save).")
    if (path / "config.json").is_file():
        if not (path / "model.safetensors").is_file() and not (path / "model.safetensors.index.json").is_file():
            raise CheckpointError(f"{path} has no model.safetensors: not a complete checkpoint.")
        _check_is_classifier(path)
        return path
    raise CheckpointError(f"{path} is neither a checkpoint folder (config.json) nor an ftstudio run folder.")


def _check_is_classifier(path: Path) -> None:
    """Refuse a checkpoint of another task: loading a masked-LM or QA checkpoint as a classifier
    silently adds a random head, and its 'predictions' would be noise with LABEL_0/LABEL_1."""
    import json

    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"config.json in {path} is unreadable ({exc}).") from None
    architectures = config.get("architectures") if isinstance(config, dict) else None
    if not architectures or not any(str(a).endswith("ForSequenceClassification") for a in architectures):
        kind = architectures[0] if architectures else "model without a task head"
        raise CheckpointError(
            f"{path} is a {kind} checkpoint, not a text classifier. Fine-tune it first "
            "(ftstudio train --model ...), or give a run folder or one of its checkpoints."
        )


class Predictor:
    """Loads once, predicts many. Thread-confined: use one Predictor per thread."""

    def __init__(self, path: str | Path, device: str = "cpu", max_length: int | None = None) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from ftstudio.engine.models.loading import quiet_transformers

        self.path = resolve_checkpoint(path)
        self.device = torch.device(device)
        try:
            with quiet_transformers():
                self.model = AutoModelForSequenceClassification.from_pretrained(self.path, use_safetensors=True)
                self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        except (OSError, ValueError, KeyError) as exc:
            raise CheckpointError(f"Cannot load checkpoint {self.path}: {first_line(exc)}") from None
        self.model.to(self.device).eval()
        id2label = self.model.config.id2label
        self.label_names = [str(id2label[i]) for i in range(len(id2label))]
        self.max_length = max_length or _saved_max_length(self.path) or 512

    @classmethod
    def base_model(cls, model_spec: str, label_names: list[str], device: str = "cpu", seed: int = 0) -> Predictor:
        """The pretrained model with a fresh, untrained head: the 'before' of a fine-tune."""
        import torch

        from ftstudio.engine.models.loading import load_model_and_tokenizer
        from ftstudio.engine.models.sources import resolve_model_source

        self = cls.__new__(cls)
        torch.manual_seed(seed)
        loaded = load_model_and_tokenizer(resolve_model_source(model_spec), label_names)
        self.path = Path(str(model_spec))
        self.device = torch.device(device)
        self.model, self.tokenizer = loaded.model.to(self.device).eval(), loaded.tokenizer
        self.label_names = list(label_names)
        self.max_length = 128
        return self

    def predict(self, texts: list[str] | str, batch_size: int = 64) -> list[Prediction]:
        import torch

        if isinstance(texts, str):
            texts = [texts]
        results: list[Prediction] = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                chunk = [str(t) for t in texts[start : start + batch_size]]
                encoded = self.tokenizer(chunk, truncation=True, max_length=self.max_length, padding=True,
                                         return_tensors="pt").to(self.device)
                probs = torch.softmax(self.model(**encoded).logits.float(), dim=-1).cpu().numpy()
                for text, row in zip(chunk, probs):
                    top = int(row.argmax())
                    results.append(Prediction(text, self.label_names[top], float(row[top]),
                                              {name: float(p) for name, p in zip(self.label_names, row)}))
        return results


def _saved_max_length(path: Path) -> int | None:
    from ftstudio.engine.runs.checkpoints import TRAINER_STATE

    try:
        import json

        return int(json.loads((path / TRAINER_STATE).read_text(encoding="utf-8"))["max_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def evaluate_file(
    predictor: Predictor,
    data_spec: str,
    text_column: str | None = None,
    label_column: str | None = None,
    control: Any = None,
    progress: Any = None,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Accuracy, macro F1 and the confusion matrix of `predictor` on a labelled file (all splits)."""
    import numpy as np

    from ftstudio.engine.data.columns import detect_columns
    from ftstudio.engine.data.sources import load_raw, resolve_data_source
    from ftstudio.engine.tasks.classification import classification_metrics

    splits = load_raw(resolve_data_source(data_spec))
    texts: list[str] = []
    gold: list[str] = []
    for split in splits.values():
        text_col, label_col = detect_columns(split, text_column, label_column)
        for text, label in zip(split[text_col], split[label_col]):
            if text is None or label is None or str(text).strip() == "":
                continue
            texts.append(str(text))
            gold.append(str(label))
    if not texts:
        raise DatasetError(f"{data_spec} has no rows with both a text and a label.")
    index = {name: i for i, name in enumerate(predictor.label_names)}
    unknown = sorted(set(gold) - set(index))
    if unknown:
        raise DatasetError(
            f"Label '{unknown[0]}' in {Path(data_spec).name} is unknown to the model, whose labels are "
            f"{', '.join(predictor.label_names)}. Use a file labelled like the training data."
        )
    predicted: list[int] = []
    for start in range(0, len(texts), batch_size):
        if control is not None:
            control.check()
        for p in predictor.predict(texts[start : start + batch_size], batch_size=batch_size):
            predicted.append(index[p.label])
        if progress is not None:
            progress(min(start + batch_size, len(texts)), len(texts))
    labels = np.array([index[g] for g in gold])
    metrics = classification_metrics(labels, np.array(predicted), len(predictor.label_names), predictor.label_names)
    metrics["rows"] = len(texts)
    metrics["label_names"] = list(predictor.label_names)
    return metrics


__all__ = ["Prediction", "Predictor", "evaluate_file", "resolve_checkpoint", "FtStudioError"]
