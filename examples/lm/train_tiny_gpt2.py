"""Train a tiny GPT-2 on a small English corpus, on the CPU, in about a minute.

This is the model of the README's "Language models" worked example::

    python examples/lm/train_tiny_gpt2.py --out outputs/tiny-gpt2
    landscape compute outputs/tiny-gpt2 --data outputs/tiny-gpt2/train.txt --samples 64 ...

Everything is built here, nothing is downloaded. A byte-level BPE tokenizer (512 tokens) is
trained on the first 90% of ``corpus.txt`` (original prose written for this example), and a
2-layer GPT-2 (64 wide, 2 heads, tied input and output embeddings, dropout 0.2 against the
small corpus) is trained with AdamW on random 64-token windows of that text for ``--seconds``
of wall time (and at least 60 steps). Its mean next-token cross-entropy on the last 10%, cut
from the rest at a paragraph boundary, is printed at the end. The output folder holds what
``GPT2LMHeadModel.from_pretrained`` and ``AutoTokenizer.from_pretrained`` load
(``config.json``, ``model.safetensors``, ``tokenizer.json``, ``tokenizer_config.json``) and
``train.txt`` and ``heldout.txt``, the training and the held-out text.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tokenizers import ByteLevelBPETokenizer
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

EOT = "<|endoftext|>"
SEQ_LEN = 64
BATCH = 16
PEAK_LR = 3e-3
WARMUP_STEPS = 30
MIN_STEPS = 60  # a busy machine still gets this many steps, whatever --seconds says
PRINT_EVERY_S = 10.0


def split_corpus(text: str, train_fraction: float = 0.9) -> tuple[str, str]:
    """Training text and held-out text, split at the paragraph boundary nearest the fraction."""
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    total = sum(len(p) for p in paragraphs)
    k, seen = 0, 0
    while k < len(paragraphs) - 1 and seen + len(paragraphs[k]) / 2 < train_fraction * total:
        seen += len(paragraphs[k])
        k += 1
    return "\n\n".join(paragraphs[:k]) + "\n", "\n\n".join(paragraphs[k:]) + "\n"


def train_tokenizer(text: str, vocab_size: int = 512) -> PreTrainedTokenizerFast:
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(text.split("\n\n"), vocab_size=vocab_size, min_frequency=2,
                            special_tokens=[EOT], show_progress=False)
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token=EOT,
                                   eos_token=EOT, pad_token=EOT, unk_token=EOT)


@torch.no_grad()
def heldout_loss(model: GPT2LMHeadModel, ids: torch.Tensor) -> float:
    """Mean next-token cross-entropy over ``ids``, read in consecutive 64-token sequences."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(ids) - 1, SEQ_LEN):
        chunk = ids[start:start + SEQ_LEN + 1]  # 64 inputs and the token after each
        logits = model(chunk[:-1][None]).logits[0]
        total += F.cross_entropy(logits, chunk[1:], reduction="sum").item()
        count += len(chunk) - 1
    model.train()
    return total / count


def main(argv: list[str] | None = None) -> dict:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder for the model, tokenizer, train.txt and heldout.txt")
    ap.add_argument("--seconds", type=float, default=60.0, help="wall time to train (default 60)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--corpus", default=str(here / "corpus.txt"), help="plain text, paragraphs separated by blank lines")
    args = ap.parse_args(argv)

    train_text, heldout_text = split_corpus(Path(args.corpus).read_text(encoding="utf-8"))
    tokenizer = train_tokenizer(train_text)
    train_ids = torch.tensor(tokenizer(train_text)["input_ids"])
    heldout_ids = torch.tensor(tokenizer(heldout_text)["input_ids"])
    vocab = len(tokenizer)
    print(f"vocabulary {vocab}, {len(train_ids)} training tokens, {len(heldout_ids)} held-out tokens")

    torch.manual_seed(args.seed)
    config = GPT2Config(n_layer=2, n_head=2, n_embd=64, n_positions=128, vocab_size=vocab,
                        tie_word_embeddings=True, resid_pdrop=0.2, embd_pdrop=0.2, attn_pdrop=0.2,
                        bos_token_id=tokenizer.bos_token_id,
                        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    model = GPT2LMHeadModel(config)
    print(f"{sum(p.numel() for p in model.parameters())} parameters; "
          f"held-out loss before training {heldout_loss(model, heldout_ids):.3f} (ln {vocab} = {math.log(vocab):.3f})")

    opt = torch.optim.AdamW(model.parameters(), lr=PEAK_LR, weight_decay=0.1)
    gen = torch.Generator().manual_seed(args.seed)
    step, recent, t0 = 0, [], time.perf_counter()
    next_print = PRINT_EVERY_S
    # Progress is the fraction of the time budget used, or of MIN_STEPS if that is behind.
    while (progress := min((time.perf_counter() - t0) / max(args.seconds, 1e-9), step / MIN_STEPS)) < 1:
        # Linear warm-up over the first steps, then a cosine decay to zero at the end.
        lr = PEAK_LR * min(1.0, (step + 1) / WARMUP_STEPS) * 0.5 * (1 + math.cos(math.pi * progress))
        for group in opt.param_groups:
            group["lr"] = lr
        starts = torch.randint(0, len(train_ids) - SEQ_LEN, (BATCH,), generator=gen)
        batch = torch.stack([train_ids[s:s + SEQ_LEN] for s in starts.tolist()])
        loss = model(batch, labels=batch).loss  # the labels are shifted inside the model
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        recent.append(loss.item())
        if time.perf_counter() - t0 >= next_print:
            print(f"{time.perf_counter() - t0:5.1f}s  step {step:5d}  train loss {sum(recent) / len(recent):.3f}", flush=True)
            recent, next_print = [], next_print + PRINT_EVERY_S

    print(f"trained {step} steps in {time.perf_counter() - t0:.1f}s")
    loss = heldout_loss(model, heldout_ids)
    print(f"held-out loss {loss:.4f}  perplexity {math.exp(loss):.2f}")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "train.txt").write_text(train_text, encoding="utf-8")
    (out / "heldout.txt").write_text(heldout_text, encoding="utf-8")
    print(f"saved to {out}")
    return {"steps": step, "heldout_loss": loss, "vocab_size": vocab}


if __name__ == "__main__":
    main()
