"""Tiny language models built by the tests: a decoder (Llama architecture) with a word-level
fast tokenizer, and an encoder saved without its masked-LM head (like the embedded model)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import FILLER, NEGATIVE_WORDS, NEUTRAL_WORDS, POSITIVE_WORDS

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
