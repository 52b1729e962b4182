"""Loading a model for sequence classification: its config with the user's labels, the weights
with a fresh head, and its tokenizer, each failure as one readable line.

Where a model comes from (a spec resolved to a folder, the HF cache or the Hub) is `sources.py`;
the files it is made of are `files.py`. Loading imports torch and transformers inside the
functions, so importing this module stays light.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import FtStudioError, ModelError, first_line
from ftstudio.engine.models.head import head_is_new
from ftstudio.engine.models.sources import (
    ModelSource,
    as_source,
    ensure_local,
)

log = logging.getLogger(__name__)

# The attribute each model type reads its classifier dropout from (default: classifier_dropout).
_DROPOUT_ATTR = {
    "distilbert": "seq_classif_dropout",
    "albert": "classifier_dropout_prob",
    "deberta": "cls_dropout",
    "deberta-v2": "cls_dropout",
}


@dataclass
class LoadedModel:
    """A model with a fresh classification head, its tokenizer, and what happened while loading."""

    model: Any
    tokenizer: Any
    notes: list[str] = field(default_factory=list)
    new_head: bool = True  # the head's weights are untrained (not the checkpoint's own head)
    task: Any = None  # the task the model was loaded for (pre-training's objective resolved from the model)


# ------------------------------------------------------------------ loading
@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load report, warnings and "Loading weights" bar; we report what
    matters ourselves (and a console bar inside the app is noise)."""
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)
        if bars:
            hf_logging.enable_progress_bar()



def load_tokenizer(source: ModelSource | str | Path, trust_remote_code: bool = False) -> Any:
    """The model's (fast) tokenizer, with a pad token guaranteed (batches are padded)."""
    source = as_source(source, allow_pickle=True)  # a tokenizer never unpickles model weights
    folder = ensure_local(source)
    if trust_remote_code:
        _warn_remote_code(source)
    return _tokenizer_from(folder, source, trust_remote_code)


def _tokenizer_from(folder: Path, source: ModelSource, trust_remote_code: bool, words: bool = False) -> Any:
    """The folder's tokenizer; with `words` (token classification: text arrives split into words)
    a byte-level BPE one (RoBERTa, DeBERTa, GPT-2 style) marks every word as following a space,
    as the word appears inside a text: otherwise training would see other token ids than the
    pipeline does on plain text. The setting is saved with the tokenizer in each checkpoint."""
    try:
        from transformers import AutoTokenizer

        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
            if words and getattr(tokenizer, "add_prefix_space", None) is False:
                tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=trust_remote_code,
                                                          add_prefix_space=True)
    except FtStudioError:
        raise
    except Exception as exc:  # noqa: BLE001 - every loader failure becomes one readable line
        log.debug("tokenizer load failed", exc_info=True)
        raise ModelError(
            f"Cannot load the tokenizer of {source.display}: {first_line(exc)}. "
            "Check that the folder holds the tokenizer files saved with the model."
        ) from None
    ensure_pad_token(tokenizer, source.display)
    return tokenizer


def ensure_pad_token(tokenizer: Any, name: str) -> None:
    """Borrow eos/unk as the pad token when the tokenizer has none (GPT-style vocabularies)."""
    if tokenizer.pad_token is not None:
        return
    for candidate in (tokenizer.eos_token, tokenizer.unk_token, tokenizer.sep_token):
        if candidate is not None:
            tokenizer.pad_token = candidate
            return
    raise ModelError(
        f"The tokenizer of {name} has no pad, eos or unk token to pad batches with. Pick another model."
    )


def load_for_classification(
    source: ModelSource | str | Path,
    label_names: Sequence[str],
    classifier_dropout: float = 0.1,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
    log_fn: Callable[[str], None] | None = None,
) -> tuple[Any, Any]:
    """(model, tokenizer): a *ForSequenceClassification with a fresh head for `label_names`.

    Notes about newly initialised weights go to the `ftstudio` logger and to `log_fn` (e.g. a
    Reporter's on_log); use load_model_and_tokenizer to receive them as a list instead.
    """
    loaded = load_model_and_tokenizer(source, label_names, classifier_dropout, trust_remote_code, allow_pickle)
    for note in loaded.notes:
        log.info(note)
        if log_fn is not None:
            log_fn(note)
    return loaded.model, loaded.tokenizer


def load_model_and_tokenizer(
    source: ModelSource | str | Path,
    label_names: Sequence[str],
    classifier_dropout: float = 0.1,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
    task: Any = None,
    quantization: dict[str, Any] | None = None,
) -> LoadedModel:
    """Like load_for_classification, returning the notes instead of logging them. `task` (a
    tasks.base.Task; single-label when None) sets the head's width and the loss (problem_type).
    `quantization`: from_pretrained arguments that quantize the frozen weights as they load
    (QLoRA: adapters.four_bit_loading)."""
    from ftstudio.engine.tasks.registry import TASKS

    task = task or TASKS["single-label"]
    labels = [str(name) for name in label_names]
    if task.num_outputs(labels) > 1 and (len(labels) < 2 or len(set(labels)) != len(labels)):
        raise ModelError(
            f"Classification needs at least two distinct label names (got {labels[:5]}). Check the label column."
        )
    source = as_source(source, allow_pickle)
    folder = ensure_local(source, allow_pickle=allow_pickle)
    notes: list[str] = []
    if trust_remote_code:
        notes.append(_warn_remote_code(source))
    if task.language_model:  # the objective follows the model; its head is the vocabulary
        config = _language_model_config(folder, source, trust_remote_code)
        task = task.for_model(config)
    else:
        config = _classification_config(folder, source, labels, classifier_dropout, trust_remote_code, notes,
                                        task.num_outputs(labels), task.problem_type, task.model_kind)
    saved_as = list(getattr(config, "architectures", None) or [])  # what the checkpoint was trained as
    model, info = _load_weights(folder, source, config, trust_remote_code, allow_pickle, task.model_kind,
                                quantization)
    if task.language_model:  # a masked-LM class drops the encoder's pooler: keep it for fine-tuning later
        from ftstudio.engine.models.pooler import restore_pooler

        kept = restore_pooler(model, folder, list(info.get("unexpected_keys") or []))
        notes.extend([kept] if kept else [])
    else:
        notes.extend(_load_notes(info, config.num_labels))
    tokenizer = _tokenizer_from(folder, source, trust_remote_code, words=task.token_level)  # the folder is local by now
    notes.extend(match_padding(model, tokenizer, classifier=not task.language_model))
    # A head of another kind (a token classifier loaded for texts) matches in shape yet is untrained
    # here; a language model's head is judged by its weights alone (BertForPreTraining holds the MLM head).
    new_head = head_is_new(model, info) or (not task.language_model and type(model).__name__ not in saved_as)
    return LoadedModel(model, tokenizer, notes, new_head=new_head, task=task)


def match_padding(model: Any, tokenizer: Any, classifier: bool = True) -> list[str]:
    """Make the model's pad id the one batches are padded with; returns notes for the log.

    Decoder classifiers (GPT-2, Llama, Qwen2, Mistral, Gemma) read the row's label at its last
    token that is not `config.pad_token_id` (transformers' own pooling, which finds the rightmost
    non-pad token whichever side was padded). Batches are padded with the tokenizer's pad token
    (borrowed from eos where the vocabulary has none), so the two must agree: a config without a
    pad id, or one naming another token, gets the tokenizer's. Classifiers pad on the right, also
    in the saved tokenizer (a Llama tokenizer pads left): position embeddings such as GPT-2's
    would otherwise shift with the padding, and predictions of a batch would differ from one text's.
    """
    config = model.config
    wanted, had = tokenizer.pad_token_id, getattr(config, "pad_token_id", None)
    notes = []
    if had != wanted and wanted is not None:
        config.pad_token_id = wanted
        if had is not None:
            notes.append(f"The model's pad token id ({had}) differs from its tokenizer's ({tokenizer.pad_token!r}, "
                         f"id {wanted}); the tokenizer's is used, as batches are padded with it.")
    if classifier and getattr(tokenizer, "padding_side", "right") != "right":
        tokenizer.padding_side = "right"
    return notes


def _warn_remote_code(source: ModelSource) -> str:
    message = f"trust_remote_code is on: running Python code shipped with {source.repo_id or source.ref}."
    log.warning(message)
    return message


def _language_model_config(folder: Path, source: ModelSource, trust: bool) -> Any:
    """The model's config as it is: a language model's head is its vocabulary, so nothing is
    set (ModelError for a model that cannot continue pre-training)."""
    from transformers import AutoConfig

    from ftstudio.engine.models.objectives import language_model_objective

    try:
        with quiet_transformers():
            config = AutoConfig.from_pretrained(str(folder), trust_remote_code=trust)
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"Cannot read the configuration of {source.display}: {first_line(exc)}. "
                         "Update transformers or pick another model.") from None
    language_model_objective(config.model_type, getattr(config, "architectures", None),
                             bool(getattr(config, "is_encoder_decoder", False)), source.display)
    return config


def _classification_config(
    folder: Path, source: ModelSource, labels: list[str], dropout: float, trust: bool, notes: list[str],
    outputs: int, problem_type: str, kind: str = "sequence-classification",
) -> Any:
    """The model's config with the head's width, id2label/label2id, the problem type (which
    selects the loss in transformers and the output function in its pipelines) and the
    classifier dropout set. A regression head's one output is named after the score column."""
    from transformers import AutoConfig

    names = labels[:outputs]
    try:
        with quiet_transformers():
            config = AutoConfig.from_pretrained(
                str(folder),
                num_labels=outputs,
                id2label=dict(enumerate(names)),
                label2id={name: i for i, name in enumerate(names)},
                problem_type=problem_type or None,
                trust_remote_code=trust,
            )
    except Exception as exc:  # noqa: BLE001
        if not trust and "custom code" in str(exc):
            raise ModelError(
                f"{source.display} ships its own Python code ({source.repo_id or source.ref}). It runs only if you "
                "turn on trust_remote_code (--trust-remote-code), and only do that for a repository you trust."
            ) from None
        raise ModelError(
            f"Cannot read the configuration of {source.display}: {first_line(exc)}. "
            "Update transformers or pick another model."
        ) from None
    attr = _DROPOUT_ATTR.get(config.model_type, "classifier_dropout")
    if hasattr(config, attr):
        setattr(config, attr, float(dropout))
    else:  # e.g. MPNet reuses hidden_dropout_prob; changing that would alter the encoder too
        notes.append(f"{config.model_type} has no separate classifier dropout; its own default is used.")
    _check_has_head(config, source, trust, kind)
    return config


# The transformers auto class, and its table of model types, for each kind of task head.
_HEADS = {
    "sequence-classification": ("AutoModelForSequenceClassification", "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES"),
    "token-classification": ("AutoModelForTokenClassification", "MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES"),
    "masked-lm": ("AutoModelForMaskedLM", "MODEL_FOR_MASKED_LM_MAPPING_NAMES"),
    "causal-lm": ("AutoModelForCausalLM", "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES"),
}


def auto_model_class(kind: str) -> Any:
    """transformers' AutoModelFor... class of a task head kind (see Task.model_kind)."""
    import transformers

    return getattr(transformers, _HEADS[kind][0])


def _check_has_head(config: Any, source: ModelSource, trust: bool, kind: str) -> None:
    from transformers.models.auto import modeling_auto

    auto_class, table = _HEADS[kind]
    if config.model_type in getattr(modeling_auto, table):
        return
    if trust and auto_class in (getattr(config, "auto_map", None) or {}):
        return
    arch = (getattr(config, "architectures", None) or [config.model_type])[0]
    raise ModelError(
        f"{source.display} is a {arch} ({config.model_type}), which has no {kind} "
        "head in transformers. Pick an encoder such as BERT, RoBERTa, DistilBERT, ELECTRA or DeBERTa."
    )


def _load_weights(folder: Path, source: ModelSource, config: Any, trust: bool, allow_pickle: bool,
                  kind: str = "sequence-classification", quantization: dict[str, Any] | None = None,
                  ) -> tuple[Any, Any]:
    """The weights in float32 whatever dtype the checkpoint was saved in: transformers 5 would
    keep a bf16 checkpoint (most decoders are published so) in bf16, and the optimizer would then
    update bf16 weights directly, losing every update smaller than bf16's resolution. The
    trainer's mixed precision is autocast over float32 weights (training/optimization.py)."""
    import torch

    try:
        with quiet_transformers():
            return auto_model_class(kind).from_pretrained(
                str(folder),
                config=config,
                ignore_mismatched_sizes=True,  # another task's head is replaced by a fresh one
                # True refuses pickles; None prefers safetensors and falls back to an allowed .bin.
                use_safetensors=None if allow_pickle else True,
                trust_remote_code=trust,
                output_loading_info=True,
                dtype=torch.float32,
                **(quantization or {}),
            )
    except FtStudioError:
        raise
    except Exception as exc:  # noqa: BLE001
        log.debug("model load failed", exc_info=True)
        if "weights only load failed" in str(exc).lower():
            raise ModelError(
                f"The pickle weights of {source.display} hold more than tensors (loading them could run code), "
                "so they were refused. Use a safetensors copy of the model."
            ) from None
        raise ModelError(
            f"Cannot load the weights of {source.display}: {first_line(exc)}. "
            "The files may be incomplete or corrupt; copy or download them again."
        ) from None


def _load_notes(info: dict[str, Any], num_labels: int) -> list[str]:
    """Readable lines about which weights were newly initialised while loading."""
    missing = sorted(info.get("missing_keys") or [])
    mismatched = sorted(str(item[0] if isinstance(item, tuple) else item) for item in info.get("mismatched_keys") or [])
    notes = []
    if mismatched:
        notes.append(
            f"The checkpoint's own classification head was replaced by a fresh one for {num_labels} labels "
            f"({', '.join(mismatched)})."
        )
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        notes.append(f"Newly initialised (trained from scratch): {shown}.")
    return notes
