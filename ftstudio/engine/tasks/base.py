"""What every task type provides, so the data, the loop, evaluation, checkpoints and prediction
stay generic.

A task type turns a label column (or several) into training targets and back: it says how many
outputs the model's head has and which transformers `problem_type` gives the right loss, how rows
are stratified when splits are held out, which metrics an evaluation reports (and which of them
picks the "best" checkpoint), and what a prediction looks like. The loop never asks which task it
runs; it calls these methods. A new task type is a subclass registered in `registry.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import datasets
    import torch

# Metrics where smaller is better; every other metric is better when larger.
LOWER_IS_BETTER = frozenset({"loss", "mse", "rmse", "mae", "perplexity"})


def is_better(metric: str, value: float, best: float | None) -> bool:
    """Whether `value` improves on `best` for `metric` (None: nothing to beat yet)."""
    if best is None:
        return True
    return value < best if metric in LOWER_IS_BETTER else value > best


@dataclass
class LabelSpec:
    """Where the labels are: one column, or several 0/1 columns read together (multi-label),
    and the separator of a delimited label string (None: not delimited)."""

    columns: list[str]
    separator: str | None = None

    @property
    def display(self) -> str:
        return ",".join(self.columns)


@dataclass
class Targets:
    """A task's encoding of the labels: names (classes, labels, or the score's name), the targets
    per split as the model trains on them, and the task's state (what prediction needs later,
    e.g. a regression's target scale), saved with every checkpoint."""

    label_names: list[str]
    encoded: dict[str, np.ndarray]
    state: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the user should know (tags repaired, ...)


@dataclass
class Outputs:
    """One evaluation's results: scalar metrics (plotted, compared, picked for "best") and
    details (confusion matrix, per-class or per-label tables, tuned thresholds)."""

    metrics: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)


class Task:
    """Base class of the task types. Subclasses set the class attributes and implement the
    methods that raise NotImplementedError."""

    name: str = ""  # the settings value: single-label, multi-label, regression
    title: str = ""  # for people: "Single-label classification"
    problem_type: str = ""  # transformers' config.problem_type, which selects the model's loss
    metric_names: tuple[str, ...] = ()  # scalar metrics of an evaluation, in display order
    best_metric: str = ""  # the natural "best" metric of the task
    headline: tuple[str, ...] = ()  # the two or three metrics shown first (CLI line, plots)
    token_level: bool = False  # a label per token (token classification) rather than per text
    # Which transformers head the model gets: "sequence-classification", "token-classification",
    # "masked-lm" or "causal-lm" (models/loading.py maps each to its AutoModelFor... class).
    model_kind: str = "sequence-classification"
    # Pre-training: the text is its own target (no labels), and the objective follows the model.
    language_model: bool = False
    # Evaluate once before the first step (the "before" a run improves on; pre-training's perplexity).
    evaluate_before_training: bool = False

    def for_model(self, config: Any) -> Task:
        """The task as it trains this model (pre-training picks its objective from the model's
        config); ModelError when the model cannot; default: itself."""
        return self

    # ---------------------------------------------------------------- labels
    def is_missing(self, value: Any) -> bool:
        """A row without a usable label (dropped before training)."""
        from ftstudio.engine.data.columns import is_blank

        return is_blank(value)

    def encode(self, train: datasets.Dataset, labels: LabelSpec, values: dict[str, list[Any]]) -> Targets:
        """Label names and per-split targets from the raw label values of each split."""
        raise NotImplementedError

    def encode_with(self, values: list[Any], label_names: list[str], state: dict[str, Any],
                    where: str) -> np.ndarray:
        """Targets of rows labelled like the training data (a test file for a trained model),
        in the user's units; refuses labels the model does not know."""
        raise NotImplementedError

    def num_outputs(self, label_names: list[str]) -> int:
        """Width of the model's head."""
        return len(label_names)

    def strata(self, targets: np.ndarray) -> tuple[np.ndarray, int]:
        """A class id per row for stratified hold-out and sub-sampling, and how many there are."""
        raise NotImplementedError

    def training_targets(self, targets: np.ndarray, state: dict[str, Any]) -> np.ndarray:
        """The targets as the loss sees them (regression standardises them); default: as they are."""
        return targets

    def tokenize(self, split: datasets.Dataset, targets: np.ndarray, tokenizer: Any, settings: Any,
                 label_names: list[str], control: Any = None, reporter: Any = None,
                 phase: str = "tokenizing", training: bool = False) -> Any:
        """The split as the model reads it (a batching.TokenizedSplit): each text, or pair of
        texts, tokenized once, with `targets` as the loss sees them (`training`: the split the
        model trains on, which a task may label differently from the ones it is measured on)."""
        from ftstudio.engine.data.batching import tokenize_texts

        pairs = list(split["text_pair"]) if "text_pair" in split.column_names else None
        return tokenize_texts(list(split["text"]), targets, tokenizer, settings.max_length, control, reporter,
                              phase=phase, pairs=pairs)

    # ---------------------------------------------------------------- the forward pass
    def batch_loss(self, model: Any, batch: dict[str, Any]) -> torch.Tensor:
        """The training loss of one batch (inputs and "labels" on the model's device): the
        model's own loss, the one transformers computes from the labels."""
        return model(**batch).loss

    def batch_outputs(self, model: Any, inputs: dict[str, Any], labels: torch.Tensor) -> tuple[Any, Any]:
        """What an evaluation measures for one batch: (logits, labels) as `loss_sum` and the
        evaluation collector read them; default: the model's logits and the labels as they are."""
        return model(**inputs).logits, labels

    def collector(self, rows: int) -> Any:
        """What keeps an evaluation's outputs batch by batch (training/collectors.py): the logits
        of every row by default."""
        from ftstudio.engine.training.collectors import LogitRows

        return LogitRows(rows)

    # ---------------------------------------------------------------- evaluation
    def loss_count(self, labels: torch.Tensor) -> Any:
        """What the evaluation loss is averaged over in a batch with these labels: its rows."""
        return labels.shape[0]

    def loss_sum(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The model's training loss summed over the rows (the mean over rows is what training
        minimises), in float32."""
        raise NotImplementedError

    def evaluate(self, logits: np.ndarray, targets: np.ndarray, label_names: list[str],
                 state: dict[str, Any]) -> Outputs:
        """Metrics of `logits` against `targets` (training space, as `training_targets` gives)."""
        raise NotImplementedError

    def evaluate_checkpoint(self, logits: np.ndarray, targets: np.ndarray, label_names: list[str],
                            state: dict[str, Any]) -> Outputs:
        """Metrics of a saved checkpoint's `logits` (a checkpoint predicts in the user's units)
        against targets in the user's units, with what a test-file report shows besides."""
        return self.evaluate(logits, targets, label_names, state)

    def state_for_testing(self, state: dict[str, Any]) -> dict[str, Any]:
        """The state to measure a split other than validation with: what was learned on
        validation, frozen (multi-label does not tune thresholds on a test split)."""
        return state

    def state_after_evaluation(self, outputs: Outputs, state: dict[str, Any]) -> dict[str, Any]:
        """The task state to save with a checkpoint after this evaluation (multi-label keeps
        the thresholds it tuned); default: unchanged."""
        return state

    # ---------------------------------------------------------------- checkpoints
    def prepare_model(self, model: Any, state: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Adjust the task state to the loaded model (regression checks that its head can hold
        the target scale); returns the state and notes for the log."""
        return state, []

    def initial_head_bias(self, targets: np.ndarray, label_names: list[str]) -> tuple[np.ndarray, str] | None:
        """The bias a fresh head's output layer starts from, given the training targets, and a
        line for the log saying why; None keeps the model's own initialisation (the default)."""
        return None

    def saved_weights(self, model: Any, state: dict[str, Any]) -> Any:
        """A context in which the model's weights are as a checkpoint stores them (regression
        folds its target scale into the head, so stock transformers predicts in the user's
        units); default: as they are."""
        import contextlib

        return contextlib.nullcontext()

    def training_weights(self, model: Any, state: dict[str, Any], exact: dict[str, Any] | None = None) -> None:
        """Turn weights loaded from a checkpoint back into the ones training uses (the inverse of
        `saved_weights`), from `exact` (what `exact_weights` saved in the resume state) when
        given, so a resumed run continues bit for bit; default: nothing to do."""

    def exact_weights(self, model: Any, state: dict[str, Any]) -> dict[str, Any]:
        """The training-space tensors `saved_weights` changes, for the resume state; default: none."""
        return {}

    # ---------------------------------------------------------------- prediction
    def predict(self, logits: np.ndarray, label_names: list[str], state: dict[str, Any]) -> list[dict[str, Any]]:
        """One result per row: {"label", "score", ...task fields} in the user's terms."""
        raise NotImplementedError

    # ---------------------------------------------------------------- description
    def summarize(self, targets: np.ndarray, label_names: list[str], state: dict[str, Any]) -> dict[str, Any]:
        """What the data panel and the CLI show about one split's labels (plain data)."""
        raise NotImplementedError

    def describe(self, summary: dict[str, Any]) -> str:
        """One line for the CLI about one split's label summary."""
        raise NotImplementedError

    def check_metric(self, metric: str) -> str | None:
        """Why `metric` cannot pick this task's best checkpoint, or None when it can."""
        allowed = ("loss", *self.metric_names)
        if metric in allowed:
            return None
        return (f"metric_for_best: '{metric}' is not a metric of {self.title.lower()}; choose auto or one of "
                f"{', '.join(allowed)}.")

    def resolve_metric(self, metric: str) -> str:
        """The metric that picks the best checkpoint ('auto' is the task's natural one)."""
        return self.best_metric if metric == "auto" else metric
