"""Tiny language models and hand-written pre-training runs for the prediction tests.

Models are built in the test: a 2-layer BERT with a masked-LM head over the word vocabulary of
tests/conftest.py (also saved without its head, like the embedded model), a 2-layer Llama with a
byte-level BPE tokenizer, and one with a word-level tokenizer over that vocabulary (for training
on `write_corpus` text). `teach=True` trains either
for a fraction of a second on one sentence, so "after pre-training" predicts something known
("great" for the mask, the rest of the sentence for the continuation) while the untrained copy
does not. Run folders follow the pre-training contract (settings.json, metrics.jsonl,
best/last/checkpoints with trainer_state.json) without running the trainer.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from tests.conftest import FILLER, NEGATIVE_WORDS, NEUTRAL_WORDS, POSITIVE_WORDS, build_tiny_model

MASKED_SENTENCE = "the flight was great today"
MASKED_PROMPT = "the flight was [MASK] today"
CAUSAL_SENTENCE = "the flight was great and the crew was lovely"


def _train(model, batches, steps: int = 60, lr: float = 1e-2) -> None:
    import torch

    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    # One thread: these matrices are tiny, and on a busy machine several threads wait on each
    # other (seconds instead of a fraction of one).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(steps):
            for batch in batches:
                model(**batch).loss.backward()
                optimizer.step()
                optimizer.zero_grad()
    finally:
        torch.set_num_threads(threads)
    model.eval()


def build_masked_lm(folder: Path, teach: bool = False) -> Path:
    """A tiny BertForMaskedLM (random); with `teach`, trained to put "great" in MASKED_PROMPT."""
    build_tiny_model(folder)
    if teach:
        from transformers import AutoTokenizer, BertForMaskedLM

        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = BertForMaskedLM.from_pretrained(folder)
        inputs = tokenizer(MASKED_PROMPT, return_tensors="pt")
        labels = tokenizer(MASKED_SENTENCE, return_tensors="pt")["input_ids"]
        labels[inputs["input_ids"] != tokenizer.mask_token_id] = -100
        _train(model, [{**inputs, "labels": labels}])
        model.save_pretrained(folder)
    return folder


def build_causal_lm(folder: Path, teach: bool = False) -> Path:
    """A tiny LlamaForCausalLM with a byte-level BPE tokenizer; with `teach`, trained on
    CAUSAL_SENTENCE so it continues "the flight" with the rest of it."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Tokenizer, LlamaConfig, LlamaForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([CAUSAL_SENTENCE, "a plane seat ticket gate bag"] * 10, vocab_size=300,
                            min_frequency=1, special_tokens=["<|endoftext|>"])
    files = folder / "bpe"
    files.mkdir(exist_ok=True)
    bpe.save_model(str(files))
    tokenizer = GPT2Tokenizer(vocab=str(files / "vocab.json"), merges=str(files / "merges.txt"))
    shutil.rmtree(files)
    tokenizer.save_pretrained(folder)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=40, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    if teach:
        ids = tokenizer(CAUSAL_SENTENCE + tokenizer.eos_token, return_tensors="pt")["input_ids"]
        _train(model, [{"input_ids": ids, "labels": ids}])
    model.save_pretrained(folder)
    return folder


def write_pretrain_run(runs_dir: Path, checkpoint: Path, base_model: str, objective: str,
                       name: str = "20260101-120000-pretrain", step: int = 10, state_base: bool = True,
                       new_head: bool | None = None) -> Path:
    """A finished pre-training run whose best/, last/ and checkpoints/step-N are copies of
    `checkpoint`, started from `base_model`. `state_base=False` leaves base_model out of the
    checkpoint's task state (the run's settings.json still names it); `new_head` records whether
    the base lacked its head (None: not recorded)."""
    run = runs_dir / name
    run.mkdir(parents=True)
    now = time.time()
    settings = {"task": "pretrain", "model": base_model, "data": "texts.txt", "max_length": 32,
                "metric_for_best": "perplexity"}
    (run / "settings.json").write_text(json.dumps({"settings": settings, "created": now}), encoding="utf-8")
    (run / "status.json").write_text(json.dumps({"status": "finished", "message": "", "updated": now}),
                                     encoding="utf-8")
    records = [
        {"event": "info", "task": "pretrain", "objective": objective, "label_names": [],
         "metrics": ["perplexity", "token_accuracy"], "best_metric": "perplexity", "total_steps": step},
        {"event": "eval", "task": "pretrain", "step": 0, "loss": 5.0, "perplexity": 148.4, "token_accuracy": 0.01},
        {"event": "eval", "task": "pretrain", "step": step, "loss": 1.0, "perplexity": 2.72, "token_accuracy": 0.8},
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    task_state = {"objective": objective, "text_column": "text", "mlm_probability": 0.15,
                  "whole_word_masking": False, "pack_texts": True}
    if state_base:
        task_state["base_model"] = base_model
    if new_head is not None:
        task_state["new_head"] = new_head
    trainer_state = {"global_step": step, "last_eval_step": step, "label_names": [], "max_length": 32,
                     "metrics": {"perplexity": 2.72, "token_accuracy": 0.8},
                     "task": {"name": "pretrain", "state": task_state}}
    folder = run / "checkpoints" / f"step-{step}"
    shutil.copytree(checkpoint, folder)
    (folder / "trainer_state.json").write_text(json.dumps(trainer_state), encoding="utf-8")
    for published in ("best", "last"):
        shutil.copytree(folder, run / published)
    return run


WORDS = sorted(set(POSITIVE_WORDS + NEGATIVE_WORDS + NEUTRAL_WORDS + FILLER))


def build_tiny_decoder(folder: Path) -> Path:
    """A 2-layer random LlamaForCausalLM and a fast word-level tokenizer (<s> first, </s> last)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    specials = ["<pad>", "<unk>", "<s>", "</s>"]
    vocab = {word: i for i, word in enumerate(specials + WORDS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", vocab["<s>"])])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>",
                                        unk_token="<unk>", pad_token="<pad>")
    tokenizer.save_pretrained(folder)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
                         bos_token_id=vocab["<s>"], eos_token_id=vocab["</s>"], pad_token_id=vocab["<pad>"],
                         tie_word_embeddings=False)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def build_headless_encoder(folder: Path, source: Path) -> Path:
    """The tiny BERT of `source` saved as a bare BertModel (no masked-LM head), with its tokenizer."""
    from transformers import AutoTokenizer, BertModel

    folder.mkdir(parents=True, exist_ok=True)
    BertModel.from_pretrained(source).save_pretrained(folder)
    AutoTokenizer.from_pretrained(source).save_pretrained(folder)
    return folder


def write_corpus(path: Path, lines: int = 300, seed: int = 3) -> Path:
    """A plain-text corpus, one text per line, from the test vocabulary."""
    from tests.conftest import make_texts

    path.write_text("\n".join(text for text, _ in make_texts(lines, seed=seed)) + "\n", encoding="utf-8")
    return path
