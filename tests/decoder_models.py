"""Tiny random decoder checkpoints (GPT-2, Llama, Qwen2, Mistral, Gemma) built in the test.

Each is saved as its family's causal-LM checkpoint (as users bring them: the classification
head `score` is new when loaded for classification), with a byte-level BPE tokenizer over the
words of tests/conftest.py whose special tokens follow the family: GPT-2, Llama and Mistral have NO
pad token (the loader must borrow one), Qwen2 pads with <|endoftext|>, Gemma has its own <pad>;
Llama, Mistral and Gemma prepend their bos token. A few hundred parameters' worth of layers, so
a run takes a second or two.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import FILLER, NEGATIVE_WORDS, NEUTRAL_WORDS, POSITIVE_WORDS

# family -> (special tokens in id order, their roles, whether bos is prepended)
_SPECIALS: dict[str, tuple[list[str], dict[str, str], bool]] = {
    "gpt2": (["<|endoftext|>"], {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                                  "unk_token": "<|endoftext|>"}, False),
    "llama": (["<unk>", "<s>", "</s>"], {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}, True),
    "mistral": (["<unk>", "<s>", "</s>"], {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}, True),
    "qwen2": (["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
              {"eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}, False),
    "gemma": (["<pad>", "<eos>", "<bos>", "<unk>"],
              {"pad_token": "<pad>", "eos_token": "<eos>", "bos_token": "<bos>", "unk_token": "<unk>"}, True),
}
FAMILIES = tuple(_SPECIALS)
# Where each family's classifier keeps its transformer layers, and its projections (what LoRA's auto adapts).
LAYER_LISTS = {"gpt2": "transformer.h", "llama": "model.layers", "mistral": "model.layers", "qwen2": "model.layers",
               "gemma": "model.layers"}
LLAMA_PROJECTIONS = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                     "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}
PROJECTIONS = {"gpt2": {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"}, "llama": LLAMA_PROJECTIONS,
               "mistral": LLAMA_PROJECTIONS, "qwen2": LLAMA_PROJECTIONS, "gemma": LLAMA_PROJECTIONS}


def _tokenizer(family: str) -> Any:
    """A byte-level BPE (as these families use) trained on the test words in a blink."""
    from tokenizers import ByteLevelBPETokenizer, processors
    from transformers import PreTrainedTokenizerFast

    specials, roles, add_bos = _SPECIALS[family]
    words = sorted(set(POSITIVE_WORDS + NEGATIVE_WORDS + NEUTRAL_WORDS + FILLER))
    core = ByteLevelBPETokenizer()
    core.train_from_iterator([" ".join(words)] * 4, vocab_size=400, min_frequency=1, special_tokens=specials,
                             show_progress=False)
    if add_bos:
        bos = roles["bos_token"]
        core.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A $B",
                                                            special_tokens=[(bos, core.token_to_id(bos))])
    # (Llama's own tokenizers pad on the left: the loader must turn that round for a classifier.)
    return PreTrainedTokenizerFast(tokenizer_object=core._tokenizer, padding_side="left" if family == "llama"
                                   else "right", **roles)


def _config(family: str, tokenizer: Any) -> Any:
    import transformers

    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
           "pad_token_id": tokenizer.pad_token_id}
    if family == "gpt2":
        return transformers.GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=2, n_positions=64,
                                       **ids)
    shared = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, **ids)
    if family == "gemma":
        return transformers.GemmaConfig(head_dim=8, **shared)
    return {"llama": transformers.LlamaConfig, "mistral": transformers.MistralConfig,
            "qwen2": transformers.Qwen2Config}[family](**shared)


def build_decoder(folder: Path, family: str, dropout: float | None = None) -> Path:
    """A random `family` causal LM with its tokenizer saved in `folder` (seeded: the same
    weights every time). `dropout` sets every dropout the config has (GPT-2: 0.1 by default)."""
    import torch
    from transformers import AutoModelForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _tokenizer(family)
    tokenizer.save_pretrained(folder)
    config = _config(family, tokenizer)
    if dropout is not None:
        for name in ("resid_pdrop", "embd_pdrop", "attn_pdrop", "attention_dropout"):
            if hasattr(config, name):
                setattr(config, name, dropout)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    return folder
