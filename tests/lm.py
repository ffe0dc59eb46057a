"""A tiny GPT-2 saved as Hugging Face saves it (config, safetensors with the head tied to the
embedding, a tokenizer), built here in a second: no download."""

from __future__ import annotations

from pathlib import Path

import torch

WORDS = ("the river runs past the old mill and the town sleeps while rain falls on the roofs of the "
         "houses near the bridge where a boat waits for the morning light to come over the hills").split()


def corpus(n: int = 400, seed: int = 0) -> str:
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, len(WORDS), (n,), generator=g)
    return " ".join(WORDS[i] for i in idx.tolist()) + "\n"


def tokenizer():
    """A word-level tokenizer of WORDS, wrapped as transformers wraps a fast tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<|endoftext|>", "<unk>", *sorted(set(WORDS))])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                   unk_token="<unk>")


def gpt2(seed: int = 0, layers: int = 2, cls: str = "GPT2LMHeadModel"):
    import transformers

    torch.manual_seed(seed)
    config = transformers.GPT2Config(n_layer=layers, n_head=2, n_embd=16, n_positions=64, vocab_size=len(tokenizer()),
                                     bos_token_id=0, eos_token_id=0, pad_token_id=0)
    return getattr(transformers, cls)(config).eval()


def save_gpt2(folder: Path, seed: int = 0, layers: int = 2, cls: str = "GPT2LMHeadModel", **save) -> Path:
    """`save_pretrained` of a tiny GPT-2 and its tokenizer into `folder`."""
    model = gpt2(seed, layers, cls)
    model.save_pretrained(folder, **save)
    tokenizer().save_pretrained(folder)
    return folder
