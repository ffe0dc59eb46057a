"""What a recorder writes into its folder: checkpoints named by step (safetensors; a Hugging Face
model as its own folder with `config.json`, so that no code is needed to rebuild it), the data
to measure on, and `run.json` (`inputs.runs` reads it). Under DDP or FSDP every rank takes part
in gathering the weights, and only rank 0 writes."""

from __future__ import annotations

import inspect
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from landscape.errors import LandscapeError
from landscape.inputs.runs import RUN_FILE, RUN_FORMAT
from landscape.store.files import reason, replacing, write_bytes

DATA_FILE = "data.pt"


def rank() -> int:
    """This process's rank under torch.distributed (0 without it)."""
    dist = torch.distributed
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def unwrap(model: nn.Module) -> nn.Module:
    """The network inside DDP/DataParallel and torch.compile wrappers (FSDP's modules are the network)."""
    for _ in range(4):
        inner = getattr(model, "module", None) if type(model).__name__ in ("DistributedDataParallel",
                                                                             "DataParallel") else None
        inner = inner if inner is not None else getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            break
        model = inner
    return model


def is_sharded(model: nn.Module) -> bool:
    """Whether the weights are split across ranks (FSDP2's DTensors, or an FSDP1 wrapper)."""
    if any(type(m).__name__ == "FullyShardedDataParallel" for m in model.modules()):
        return True
    return any(type(p).__name__ == "DTensor" for p in model.parameters())


def full_state(model: nn.Module) -> dict[str, torch.Tensor] | None:
    """The whole state dict on the CPU on rank 0 (None on the others). Sharded weights are
    gathered by every rank together (a collective: every rank must call this)."""
    if is_sharded(model):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return dict(state) if rank() == 0 else None
    if rank() != 0:
        return None
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def is_hf_model(model: nn.Module) -> bool:
    return callable(getattr(model, "save_pretrained", None)) and hasattr(getattr(model, "config", None), "to_dict")


def _plain_tensors(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Tensors safetensors can write: a tensor registered twice (tied weights) once, under its
    first name (the loader restores the alias); views of a shared storage copied apart."""
    out: dict[str, torch.Tensor] = {}
    seen: dict[tuple, str] = {}
    storages: set[int] = set()
    for k, v in state.items():
        if v.numel() == 0:
            out[k] = v.contiguous()
            continue
        key = (v.untyped_storage().data_ptr(), v.storage_offset(), tuple(v.shape), tuple(v.stride()), v.dtype)
        if key in seen:
            continue
        seen[key] = k
        ptr = v.untyped_storage().data_ptr()
        out[k] = v.clone() if ptr in storages or not v.is_contiguous() else v
        storages.add(ptr)
    return out


def checkpoint_name(step: int, hf: bool) -> str:
    return f"step_{step:06d}" + ("" if hf else ".safetensors")


def save_checkpoint(folder: Path, model: nn.Module, state: Mapping[str, torch.Tensor], step: int,
                    epoch: int | None) -> Path:
    """Write one checkpoint (rank 0): `step_000100.safetensors`, or for a Hugging Face model a
    `step_000100/` folder from `save_pretrained`; through a temporary name, renamed when whole."""
    hf = is_hf_model(model)
    target = folder / checkpoint_name(step, hf)
    meta = {"format": "pt", "step": str(step), **({"epoch": str(epoch)} if epoch is not None else {})}
    try:
        if hf:
            tmp = Path(tempfile.mkdtemp(dir=folder, prefix=f".{target.name}."))
            try:
                with _quiet_transformers():
                    model.save_pretrained(tmp, state_dict=dict(state))
                if target.exists():
                    shutil.rmtree(target)
                os.replace(tmp, target)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        else:
            save_weights(target, state, meta)
    except OSError as e:
        raise LandscapeError(f"cannot save a checkpoint in {str(folder)!r}: {reason(e)}") from None
    return target


def save_weights(path: Path, state: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> Path:
    """A state dict as one safetensors file, replaced whole."""
    from safetensors.torch import save

    return write_bytes(path, save(_plain_tensors(state), metadata=dict(metadata)), sync=False)


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No progress bar of transformers' while a checkpoint is written (its setting restored after)."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()


def save_data(folder: Path, data: Any) -> str:
    """Tensors to measure the landscape on, saved in the folder as data.pt: an (x, y) pair, or a
    dict of tensors (token batches: input_ids, attention_mask). Returns the name run.json gives it."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        tensors = {"x": data[0], "y": data[1]}
    elif isinstance(data, Mapping) and data and all(isinstance(t, torch.Tensor) for t in data.values()):
        tensors = {k: data[k] for k in ("input_ids", "attention_mask") if k in data} or dict(data)
    else:
        raise LandscapeError("data to keep must be an (inputs, labels) pair of tensors or a dict of tensors "
                             f"(input_ids, attention_mask), got {type(data).__name__}")
    try:
        with replacing(folder / DATA_FILE, sync=False) as f:
            torch.save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, f)
    except OSError as e:
        raise LandscapeError(f"cannot save the data in {str(folder)!r}: {reason(e)}") from None
    return f"./{DATA_FILE}"


def class_path(model: nn.Module) -> str:
    return f"{type(model).__module__}:{type(model).__qualname__}"


def json_kwargs(kwargs: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """The keyword arguments that are JSON values, and the names of those left out."""
    kept, dropped = {}, []
    for k, v in (kwargs or {}).items():
        try:
            json.dumps(v)
            kept[str(k)] = v
        except (TypeError, ValueError):
            dropped.append(str(k))
    return kept, dropped


def needs_arguments(model: nn.Module, kwargs: Mapping[str, Any]) -> list[str]:
    """The constructor's required arguments that `kwargs` does not give (the class cannot be rebuilt without them)."""
    try:
        params = inspect.signature(type(model).__init__).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in list(params)[1:] if p.default is inspect.Parameter.empty and p.name not in kwargs
            and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]


def optimizer_settings(optimizer: torch.optim.Optimizer | None) -> dict[str, Any]:
    """The optimizer's class and each parameter group's settings (no tensors)."""
    if optimizer is None:
        return {}
    groups = []
    for g in optimizer.param_groups:
        settings = {}
        for k, v in g.items():
            if k == "params":
                settings["parameters"] = sum(p.numel() for p in v)
                continue
            try:
                json.dumps(v)
                settings[k] = v
            except (TypeError, ValueError):
                settings[k] = repr(v)
        groups.append(settings)
    return {"class": f"{type(optimizer).__module__}.{type(optimizer).__qualname__}", "param_groups": groups}


def scheduler_settings(scheduler: Any) -> dict[str, Any]:
    if scheduler is None:
        return {}
    state = {}
    for k, v in getattr(scheduler, "state_dict", lambda: {})().items():
        try:
            json.dumps(v)
            state[k] = v
        except (TypeError, ValueError):
            continue
    return {"class": f"{type(scheduler).__module__}.{type(scheduler).__qualname__}", "state": state}


def write_run(folder: Path, info: Mapping[str, Any]) -> None:
    """run.json, replaced whole."""
    try:
        write_bytes(folder / RUN_FILE, (json.dumps({"format": RUN_FORMAT, **info}, indent=1, default=str) + "\n").encode(),
                    sync=False)
    except OSError as e:
        raise LandscapeError(f"cannot write {str(folder / RUN_FILE)!r}: {reason(e)}") from None
