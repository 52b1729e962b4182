"""Token classification (named entities, part-of-speech tags, slots): a tag per word.

Rows are a list of words and a list of tags of the same length. Whatever scheme the data uses
(BIO, IOB1, BIOES/BILOU, IO), the tags are converted to BIO (IOB2) once, here, so the model's
labels are B-X / I-X / O: stock `pipeline("token-classification", aggregation_strategy=...)`
groups exactly those into entities by type. Conversion keeps the entities; malformed sequences
(an I- that opens an entity) are repaired and said so. Metrics are entity-level (seqeval's strict
IOB2 definition) plus token accuracy; entity F1 picks the best checkpoint.

Tokenization puts each word's tag on its first sub-token (`data/word_alignment.py`); the loss
and the metrics skip the others, so evaluation gets one row of logits per word.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np

from ftstudio.engine.errors import DatasetError
from ftstudio.engine.tasks.base import LabelSpec, Outputs, Targets, Task

if TYPE_CHECKING:
    import datasets
    import torch

_MISSING_ROWS_SHOWN = 5


def _ragged(rows: list[Any]) -> np.ndarray:
    """An object array of int64 arrays: one row of tag ids per sentence."""
    array = np.empty(len(rows), dtype=object)
    array[:] = [np.asarray(r, dtype=np.int64) for r in rows]
    return array


def entity_types(label_names: list[str]) -> list[str]:
    """The entity types behind BIO label names, in label order."""
    return list(dict.fromkeys(name[2:] for name in label_names if name[:2] in ("B-", "I-")))


class TokenClassificationTask(Task):
    name = "token-classification"
    title = "Token classification"
    problem_type = ""  # transformers has none: token classification always uses cross-entropy
    metric_names = ("entity_f1", "entity_precision", "entity_recall", "token_accuracy")
    best_metric = "entity_f1"
    headline = ("entity_f1", "token_accuracy")
    token_level = True
    model_kind = "token-classification"

    # ---------------------------------------------------------------- labels
    def is_missing(self, value: Any) -> bool:
        return value is None or (hasattr(value, "__len__") and len(value) == 0)

    def encode(self, train: datasets.Dataset, labels: LabelSpec, values: dict[str, list[Any]]) -> Targets:
        """`values`: per split, each sentence's tag names (any scheme). The label names are the
        BIO tags of every split's entity types (a type seen only outside training is kept, and
        said so in the notes, with the tag repairs)."""
        from ftstudio.engine.tasks.tag_schemes import bio_label_names, detect_scheme, to_bio

        every = [row for rows in values.values() for row in rows]
        scheme = detect_scheme(every)
        converted: dict[str, list[list[str]]] = {}
        repairs: list[str] = []
        for split, rows in values.items():
            converted[split], found = to_bio([list(r) for r in rows], scheme)
            repairs += [f"{split} split: {line}" for line in found]
        names = bio_label_names(sorted({tag for rows in converted.values() for row in rows for tag in row}))
        if len(entity_types(names)) == 0:
            raise DatasetError(
                f"The tag column '{labels.display}' has no entity tags (every tag is O): nothing to learn. "
                "Check the tag column, or its scheme (B-/I-/O, BIOES or IOB1 tags)."
            )
        index = {name: i for i, name in enumerate(names)}
        encoded = {split: _ragged([[index[t] for t in row] for row in rows]) for split, rows in converted.items()}
        trained = {tag[2:] for row in converted.get("train", []) for tag in row if tag != "O"}
        unseen = [f"Entity type {kind} is not in the training split: the model cannot learn it."
                  for kind in entity_types(names) if kind not in trained]
        return Targets(names, encoded, {"scheme": scheme, "repairs": repairs}, notes=[*repairs, *unseen])

    def encode_with(self, values: list[Any], label_names: list[str], state: dict[str, Any],
                    where: str) -> np.ndarray:
        from ftstudio.engine.tasks.tag_schemes import detect_scheme, to_bio

        rows = [list(r) for r in values]
        converted, _repairs = to_bio(rows, detect_scheme(rows))
        index = {name: i for i, name in enumerate(label_names)}
        unknown = sorted({t for row in converted for t in row if t not in index})
        if unknown:
            raise DatasetError(
                f"Tag '{unknown[0]}' in {where} is unknown to the model, whose entity types are "
                f"{', '.join(entity_types(label_names))}. Use a file tagged like the training data."
            )
        return _ragged([[index[t] for t in row] for row in converted])

    def num_outputs(self, label_names: list[str]) -> int:
        return len(label_names)

    def strata(self, targets: np.ndarray) -> tuple[np.ndarray, int]:
        """Each sentence's rarest entity type (tag id of its B- tag); sentences without entities
        are a stratum of their own, so rare types reach every split."""
        frequency: Counter[int] = Counter(int(t) for row in targets for t in np.unique(row))
        width = max(frequency, default=0) + 1
        strata = np.full(len(targets), width, dtype=np.int64)
        for i, row in enumerate(targets):
            present = [int(t) for t in np.unique(row) if t != 0]  # 0 is "O": the label order puts it first
            if present:
                strata[i] = min(present, key=lambda t: (frequency[t], t))
        return strata, width + 1

    def initial_head_bias(self, targets: np.ndarray, label_names: list[str]) -> tuple[np.ndarray, str] | None:
        """The log of each tag's share of the training words (O is most of them): the head starts
        predicting the tag distribution instead of a uniform one, so the first steps go to telling
        entities apart, not to learning that most words are O (as for multi-label's priors)."""
        rows = [np.asarray(row, dtype=np.int64) for row in targets]
        if not rows:
            return None
        # Smoothed: a tag seen only outside training (or never) keeps a finite, small bias.
        counts = np.bincount(np.concatenate(rows), minlength=len(label_names)).astype(np.float64) + 0.5
        bias = np.log(counts / counts.sum())
        return bias - bias.mean(), "The head starts from the tag priors (each tag's share of the training words)."

    def tokenize(self, split: datasets.Dataset, targets: np.ndarray, tokenizer: Any, settings: Any,
                 label_names: list[str], control: Any = None, reporter: Any = None,
                 phase: str = "tokenizing", training: bool = False) -> Any:
        """Words windowed into sub-tokens; `label_all_subtokens` labels every sub-token of the
        training split only: the others are measured per word, as a test file is."""
        from ftstudio.engine.data.word_alignment import tokenize_words

        every = training and bool(getattr(settings, "label_all_subtokens", False))
        tokenized, _sources = tokenize_words(list(split["text"]), list(targets), tokenizer, settings.max_length,
                                             label_names, label_all_subtokens=every, control=control,
                                             reporter=reporter, phase=phase)
        return tokenized

    # ---------------------------------------------------------------- evaluation
    def collector(self, rows: int) -> Any:
        from ftstudio.engine.training.collectors import TokenLogits

        return TokenLogits()

    def loss_count(self, labels: torch.Tensor) -> Any:
        from ftstudio.engine.data.batching import LABEL_PAD

        return (labels != LABEL_PAD).sum()

    def loss_sum(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        from ftstudio.engine.data.batching import LABEL_PAD

        return F.cross_entropy(logits.float().flatten(0, -2), targets.long().flatten(), ignore_index=LABEL_PAD,
                               reduction="sum")

    def evaluate(self, logits: Any, targets: Any, label_names: list[str], state: dict[str, Any]) -> Outputs:
        """`logits` and `targets` per sentence: [words, labels] and [words]. The sentences behind
        the errors are left to a test file's report (`file_evaluation.py`), which has the words."""
        from ftstudio.engine.tasks.entity_metrics import entity_metrics

        names = np.asarray(label_names, dtype=object)
        true = [names[np.asarray(row, dtype=np.int64)].tolist() for row in targets]
        predicted = [names[np.asarray(row).argmax(axis=-1)].tolist() if len(row) else [] for row in logits]
        found = entity_metrics(true, predicted, max_error_sentences=0)
        found.pop("errors", None)
        return self.outputs(found)

    def outputs(self, found: dict[str, Any]) -> Outputs:
        details = {k: found[k] for k in ("per_type", "confusion", "errors") if k in found}
        return Outputs({k: float(found[k]) for k in self.metric_names}, details)

    # ---------------------------------------------------------------- prediction
    def predict(self, logits: np.ndarray, label_names: list[str], state: dict[str, Any]) -> list[dict[str, Any]]:
        raise NotImplementedError("token classification predicts from text: predict/entities.py")

    # ---------------------------------------------------------------- description
    def summarize(self, targets: np.ndarray, label_names: list[str], state: dict[str, Any]) -> dict[str, Any]:
        from ftstudio.engine.tasks.tag_schemes import entity_spans

        names = np.asarray(label_names, dtype=object)
        tags: Counter[str] = Counter()
        counts: Counter[str] = Counter({t: 0 for t in entity_types(label_names)})
        tokens = 0
        for row in targets:
            row_names = names[np.asarray(row, dtype=np.int64)].tolist()
            tokens += len(row_names)
            tags.update(row_names)
            counts.update(kind for kind, _start, _end in entity_spans(row_names))
        return {"kind": "entities", "rows": len(targets), "sentences": len(targets), "tokens": tokens,
                "counts": dict(counts), "tags": {n: int(tags.get(n, 0)) for n in label_names},
                "scheme": state.get("scheme", "BIO"), "repairs": list(state.get("repairs", []))}

    def describe(self, summary: dict[str, Any]) -> str:
        types = ", ".join(f"{kind} {count}" for kind, count in summary["counts"].items())
        return f"{summary['tokens']} words; entities: {types or 'none'}"
