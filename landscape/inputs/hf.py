"""Hugging Face folders as checkpoints, with no code: a folder written by `save_pretrained`
(`config.json` and safetensors weights, one file or an index of shards) is built with
`transformers`, offline, in the folder's dtype unless a precision is given; a folder written
by `peft` (`adapter_config.json`) is its base model with the adapter loaded, moving the adapter
weights, or with `merge=True` the base weights with the adapter merged into them.

Nothing here runs code from the folder: `trust_remote_code` stays off, so an architecture must be
one that transformers ships; weights load from safetensors, or from `.bin` files through
`torch.load(weights_only=True)`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from torch import nn

from landscape.errors import LandscapeError, arg
from landscape.inputs.checkpoint import regular_file
from landscape.inputs.data import Data
from landscape.inputs.objective import Loss, Objective, causal_lm

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
ADAPTER_CONFIG = "adapter_config.json"
CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")
DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
INSTALL = "pip install 'landscape-viz[lm]'"
# what transformers and peft raise for a folder they cannot read (a damaged file, a missing key)
LOAD_ERRORS = (OSError, ValueError, RuntimeError, KeyError, TypeError, SafetensorError)


def model_folder(path: str | Path) -> Path | None:
    """`path` when it is a Hugging Face model folder (config.json beside weights) or a peft
    adapter folder; None otherwise (a checkpoint file, or a folder of other files)."""
    p = Path(path)
    if not p.is_dir():
        return None
    if (p / ADAPTER_CONFIG).is_file():
        return p
    if (p / "config.json").is_file() and any((p / name).is_file() for name in WEIGHT_FILES):
        return p
    return None


def is_adapter(folder: Path) -> bool:
    return (folder / ADAPTER_CONFIG).is_file()


def tokenizer_folder(path: str | Path) -> Path | None:
    """Where the tokenizer of a model folder is: the folder, or an adapter's base model folder."""
    folder = model_folder(path)
    if folder is None:
        return None
    if is_adapter(folder) and not any((folder / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json")):
        base = base_folder(folder)
        return base if base is not None else folder
    return folder


def base_folder(adapter: Path) -> Path | None:
    """The local folder of an adapter's base model (None: not found on disk)."""
    base = _json(adapter / ADAPTER_CONFIG).get("base_model_name_or_path")
    if not isinstance(base, str) or not base:
        return None
    return next((p for p in (Path(base), adapter / base, adapter.parent / base)
                 if model_folder(p) is not None and not is_adapter(p)), None)


def weights_precision(precision: Any) -> str | None:
    """The dtype a Hugging Face folder loads in: the folder's own (None) unless a precision is given."""
    value = getattr(precision, "value", precision)
    return None if value in (None, "auto") else str(value)


def _json(path: Path) -> dict[str, Any]:
    regular_file(path, "file")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LandscapeError(f"{str(path)!r} is not readable JSON ({e}); save the folder again") from None
    if not isinstance(value, dict):
        raise LandscapeError(f"{str(path)!r} does not hold a JSON object; save the folder again")
    return value


def _transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise LandscapeError(f"a Hugging Face model folder needs transformers: {INSTALL}") from None
    transformers.logging.set_verbosity_error()  # its load reports and bars are not the user's concern
    transformers.logging.disable_progress_bar()
    return transformers


def architecture(folder: Path) -> str:
    """The model class that config.json names (its first `architectures` entry)."""
    config = _json(folder / "config.json")
    names = config.get("architectures") or []
    if not isinstance(names, list) or not names or not isinstance(names[0], str):
        raise LandscapeError(f"{str(folder / 'config.json')!r} names no architecture; pass {arg('model')} "
                             "pkg.module:factory to build the network")
    return names[0]


def is_causal_lm(model: nn.Module) -> bool:
    """A causal language model of transformers (or a peft model around one)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return type(inner).__name__.endswith(CAUSAL_SUFFIXES) and hasattr(inner, "config")


def load_pretrained(folder: Path, precision: str | None = None, merge: bool = False) -> nn.Module:
    """The model of a Hugging Face folder (or a peft adapter on its base), in eval mode on the CPU.
    `precision` ("fp32", "tf32", "bf16", "fp16"; None: the folder's own dtype) sets the weights' dtype."""
    if is_adapter(folder):
        return _with_adapter(folder, precision, merge)
    transformers = _transformers()
    name = architecture(folder)
    cls = getattr(transformers, name, None)
    if cls is None or not hasattr(cls, "from_pretrained"):
        raise LandscapeError(f"{str(folder)!r} is a {name}, which this transformers ({transformers.__version__}) "
                             f"does not ship; pass {arg('model')} pkg.module:factory to build it (code from the folder is "
                             "never run)")
    dtype = DTYPES.get(precision or "", "auto")
    try:
        model = cls.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False, dtype=dtype)
    except LOAD_ERRORS as e:
        raise LandscapeError(f"cannot load the model folder {str(folder)!r}: {_first_line(e)}") from None
    return model.eval()


def _with_adapter(folder: Path, precision: str | None, merge: bool) -> nn.Module:
    base = _json(folder / ADAPTER_CONFIG).get("base_model_name_or_path")
    if not isinstance(base, str) or not base:
        raise LandscapeError(f"{str(folder / ADAPTER_CONFIG)!r} names no base model; set its base_model_name_or_path "
                             "to the base model's folder")
    found = base_folder(folder)
    if found is None:
        raise LandscapeError(f"the adapter {str(folder)!r} is for base model {base!r}, which is not a model folder here "
                             "(models are never downloaded); set base_model_name_or_path in its adapter_config.json "
                             "to the base model's local folder")
    model = load_pretrained(found, precision)
    try:
        import peft
    except ImportError:
        raise LandscapeError(f"a peft adapter folder needs peft: {INSTALL}") from None
    try:
        model = peft.PeftModel.from_pretrained(model, str(folder), is_trainable=False)
    except LOAD_ERRORS as e:
        raise LandscapeError(f"cannot load the adapter {str(folder)!r} onto {str(found)!r}: {_first_line(e)}") from None
    if merge:
        return model.merge_and_unload().eval()
    for name, p in model.named_parameters():  # the adapter's weights are the ones that move
        p.requires_grad_(".lora_" in name or "modules_to_save" in name)
    return model.eval()


def adapter_names(model: nn.Module) -> set[str] | None:
    """The tensors of a loaded (unmerged) adapter; None for a model without one."""
    if not hasattr(model, "peft_config"):
        return None
    return {n for n, p in model.named_parameters() if p.requires_grad}


def describe(model: nn.Module) -> str:
    """How the model was evaluated, for the file and `info`."""
    if not is_causal_lm(model):
        return ""
    return ("mean next-token cross-entropy over every predicted token (each token whose predecessor is in the "
            "same sequence), as model(input_ids, labels=input_ids).loss for full sequences; perplexity = exp(loss); "
            "accuracy: the share of tokens predicted by the arg-max")


def objective_for(model: nn.Module, loss: Loss, data: Data) -> Objective:
    """What a point measures: the user's --eval or --loss; for a causal language model of
    transformers with no --eval, the next-token loss (`objective.causal_lm`). Token data with a
    model that is neither is refused with the fix."""
    from landscape.inputs.text import TokenData

    if loss.eval is not None:
        return loss.objective()
    if is_causal_lm(model) and isinstance(data, TokenData):
        return Objective(eval_fn=causal_lm)
    tokens = isinstance(data, TokenData)
    if tokens or hasattr(model, "config") and hasattr(model, "can_generate"):
        kind = type(model.get_base_model() if hasattr(model, "get_base_model") else model).__name__
        need = "a causal language model" if tokens else "token data (.txt, .jsonl, token arrays)"
        raise LandscapeError(f"a {kind} with {'token sequences' if tokens else 'this data'}: landscape measures {need} with no code; for this "
                             f"model and data pass {arg('eval')} pkg.module:fn, a function (model, batch) -> (loss sum, "
                             "count[, correct])")
    return loss.objective()


def vocab_size(model: nn.Module) -> int | None:
    """The model's vocabulary, where its config says (token ids must lie below it)."""
    config = getattr(model, "config", None)
    value = getattr(config, "vocab_size", None) if config is not None else None
    if value is None and config is not None and hasattr(config, "get_text_config"):
        value = getattr(config.get_text_config(), "vocab_size", None)
    return value if isinstance(value, int) else None


def _first_line(e: BaseException) -> str:
    text = " ".join((str(e).strip().splitlines() or [type(e).__name__])[0].split())
    return text[:200]
