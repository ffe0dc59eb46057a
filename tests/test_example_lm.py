"""The README's language-model example: examples/lm/train_tiny_gpt2.py trains, learns and saves a loadable model."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("tokenizers", reason="the example needs tokenizers (pip install transformers)")
transformers = pytest.importorskip("transformers", reason="the example needs transformers (pip install transformers)")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "lm" / "train_tiny_gpt2.py"


def test_train_tiny_gpt2_learns_and_saves(tmp_path):
    out = tmp_path / "tiny-gpt2"
    # One thread: two OpenMP threads on a busy 2-core machine can be ten times slower per step.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), "--seconds", "1"],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stdout + r.stderr

    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "train.txt", "heldout.txt"):
        assert (out / name).is_file(), f"{name} missing from {sorted(p.name for p in out.iterdir())}"

    model = transformers.GPT2LMHeadModel.from_pretrained(out, local_files_only=True)
    assert model.lm_head.weight is model.transformer.wte.weight
    tokenizer = transformers.AutoTokenizer.from_pretrained(out, local_files_only=True)
    vocab = len(tokenizer)
    assert vocab == model.config.vocab_size and 512 <= vocab <= 1024
    assert tokenizer.eos_token == tokenizer.pad_token == "<|endoftext|>"

    heldout = (out / "heldout.txt").read_text(encoding="utf-8")
    corpus = (SCRIPT.parent / "corpus.txt").read_text(encoding="utf-8")
    assert heldout.strip() and corpus.rstrip().endswith(heldout.strip())  # the tail, cut between paragraphs
    assert 0.05 < len(heldout) / len(corpus) < 0.15

    printed = re.search(r"held-out loss ([0-9.]+)\s+perplexity", r.stdout)
    assert printed, r.stdout
    assert float(printed.group(1)) < math.log(vocab) - 0.3, r.stdout  # it learned something in its 60 steps
