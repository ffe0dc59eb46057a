"""What a command loads, from what the user names: the model (a checkpoint, or a Hugging Face
model or adapter folder), the data (arrays, or text cut into token sequences with the model
folder's tokenizer) and what a point measures. The one place that knows every kind of input, so
the readers of each kind (`checkpoint`, `hf`, `data`, `text`) need not know each other."""

from __future__ import annotations

import hashlib
from pathlib import Path

from torch import nn

from landscape.inputs import checkpoint, data, hf, text
from landscape.inputs.checkpoint import ModelSpec
from landscape.inputs.data import Data, DataSpec
from landscape.inputs.objective import Loss, Objective

FOLDER_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json",
                "adapter_model.safetensors", "adapter_model.bin")


def model_folder(path: str | Path) -> Path | None:
    """The Hugging Face folder of a checkpoint path: the folder itself, or the folder of its weights file."""
    path = Path(path)
    return hf.model_folder(path) or (hf.model_folder(path.parent) if path.name in FOLDER_FILES else None)


def checkpoint_sha256(path: str | Path) -> str:
    """What a resume compares the checkpoint by: the file's SHA-256; for a Hugging Face folder, a
    digest of its config and every weights file (each shard of an index), and for a peft adapter
    its base model's too, so that retrained weights in the same layout are told apart."""
    folder = model_folder(path)
    if folder is None:
        return checkpoint.sha256(checkpoint.resolve_checkpoint(path))
    h = hashlib.sha256()
    for f in _weights_files(folder):
        h.update(f.name.encode() + checkpoint.sha256(f).encode())
    base = hf.base_folder(folder) if hf.is_adapter(folder) else None
    if base is not None:
        h.update(checkpoint_sha256(base).encode())
    return h.hexdigest()


def _weights_files(folder: Path) -> list[Path]:
    names = ["config.json", hf.ADAPTER_CONFIG, *FOLDER_FILES]
    files = [folder / n for n in names if (folder / n).is_file()]
    for index in [f for f in files if f.name.endswith(checkpoint.SHARD_INDEXES)]:
        files += checkpoint.shard_files(index)
    return files


def load_model(path: str | Path, spec: ModelSpec = ModelSpec(), trust: bool = False,
               precision: str | None = None) -> nn.Module:
    """A fresh model in eval mode on the CPU: a Hugging Face folder (or its weights file) built
    with transformers when no factory is given, in the folder's dtype or `precision`'s (see
    `inputs.hf`); any other checkpoint as `checkpoint.load_model` reads it."""
    folder = model_folder(path) if not spec.factory else None
    if folder is not None:
        return hf.load_pretrained(folder, precision, spec.merge_adapter)
    return checkpoint.load_model(path, spec, trust)


def load_data(spec: DataSpec, model: str | Path | None = None, vocab_size: int | None = None) -> Data:
    """The data of `spec`: text and token ids as `TokenData` (tokenized with `spec.tokenizer`, else
    the tokenizer of the model folder `model`; ids checked against `vocab_size`), anything else as
    `data.load_data` reads it; then the seeded subset of `spec.samples`."""
    if not text.is_text_source(spec.source):
        return data.load_data(spec)
    folder = hf.tokenizer_folder(model) if model is not None else None
    tokens = text.load_tokens(spec.source, text.TextSpec(spec.seq_len, spec.text_field, spec.tokenizer), spec.split,
                              folder, vocab_size)
    return data.seeded_subset(tokens, spec)


def load_all(path: str | Path, spec: ModelSpec, data_spec: DataSpec, loss: Loss, trust: bool = False,
             precision: str | None = None) -> tuple[nn.Module, Data, Objective]:
    """The model, the data and what a point measures (`hf.objective_for`), as every command loads them."""
    model = load_model(path, spec, trust, precision)
    loaded = load_data(data_spec, model_folder(path), hf.vocab_size(model))
    return model, loaded, hf.objective_for(model, loss, loaded)
