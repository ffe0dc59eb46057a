"""Loading models and weights from checkpoints, safely by default.

Every `torch.load` uses `weights_only=True`, and TorchScript archives (which carry code that
runs while they load) are refused, unless the user passes `trust=True` (`--trust-checkpoint`):
an untrusted file can hold tensors but cannot run code. This holds wherever a checkpoint is
read: the model, `--x-target`/`--y-target`, the checkpoints of a trajectory or interpolation.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import LandscapeError
from .importing import import_object, user_code_importable

# Containers that training scripts and frameworks wrap a state dict in (Lightning uses "state_dict").
CONTAINER_KEYS = ("state_dict", "model_state_dict", "model", "net", "module", "state", "weights")
# Prefixes added by DataParallel/DDP, torch.compile and Lightning-style wrappers.
KEY_PREFIXES = ("module.", "_orig_mod.", "model.")
# File names tried, in order, when a checkpoint path is a directory.
DIRECTORY_FILES = ("model.safetensors", "pytorch_model.bin", "model.pt", "model.pth", "checkpoint.pt")
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors", ".tar")


@dataclass(frozen=True)
class ModelSpec:
    """How to rebuild the network: `pkg.module:factory` called with keyword arguments."""

    factory: str | None = None
    kwargs: str | Mapping[str, Any] = "{}"  # JSON text (a dict is turned into it), recorded in the file as given

    def __post_init__(self) -> None:
        if isinstance(self.kwargs, Mapping):
            try:
                object.__setattr__(self, "kwargs", json.dumps(dict(self.kwargs)))
            except (TypeError, ValueError) as e:
                raise LandscapeError(f"model kwargs must be JSON values (numbers, strings, lists, dicts): {e}") from None
        elif not isinstance(self.kwargs, str):
            raise LandscapeError(f"model kwargs must be a dict or JSON text, got {type(self.kwargs).__name__}")

    def kwargs_dict(self) -> dict[str, Any]:
        try:
            value = json.loads(self.kwargs or "{}")
        except json.JSONDecodeError as e:
            raise LandscapeError(f"--model-kwargs is not valid JSON ({e.msg}): {self.kwargs!r}") from None
        if not isinstance(value, dict):
            raise LandscapeError(f"--model-kwargs must be a JSON object like '{{\"num_classes\": 10}}', got {self.kwargs!r}")
        return value


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def resolve_checkpoint(path: str | Path) -> Path:
    """The checkpoint file for `path`, choosing the weights file inside a directory."""
    path = Path(path)
    if not path.exists():
        raise LandscapeError(f"checkpoint {str(path)!r} does not exist")
    if path.is_dir():
        for name in DIRECTORY_FILES:
            if (path / name).is_file():
                return path / name
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in CHECKPOINT_SUFFIXES)
        if len(found) == 1:
            return found[0]
        listing = (", ".join(p.name for p in found[:5]) + (", …" if len(found) > 5 else "")) or "none"
        raise LandscapeError(
            f"directory {str(path)!r} holds {len(found)} checkpoint files ({listing}); name the file to load"
        )
    return path


def _is_torchscript(path: Path) -> bool:
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):  # a damaged archive: torch.load will say so
        return False


def read_checkpoint(path: str | Path, trust: bool = False) -> Any:
    """Read a checkpoint file: a state dict (possibly wrapped), a TorchScript module, or,
    with `trust=True` only, a whole pickled module."""
    path = resolve_checkpoint(path)
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as e:
            raise LandscapeError(f"{str(path)!r} is not a readable safetensors file: {e}") from None
    kind = _other_file_kind(path)
    if kind:
        raise LandscapeError(f"{str(path)!r} is {kind}, not a checkpoint")
    scripted = _is_torchscript(path)
    if scripted and not trust:
        raise LandscapeError(
            f"{str(path)!r} is a TorchScript archive, which runs code from the file as it loads; "
            "pass --trust-checkpoint if you trust the file, or save its state_dict() instead"
        )
    if trust:
        user_code_importable()  # a pickled module's classes may live in the working folder
    try:
        with warnings.catch_warnings():  # torch's deprecation notes about TorchScript are not the user's concern
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*TorchScript.*")
            if scripted:
                return torch.jit.load(str(path), map_location="cpu")
            return torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as e:
        text = str(e)
        if "Weights only load failed" in text and ("GLOBAL" in text or "global" in text):
            raise LandscapeError(
                f"{str(path)!r} holds pickled Python objects (such as a whole nn.Module); loading them can run "
                "code from the file, so it is off by default. Pass --trust-checkpoint if you trust the file"
            ) from None
        raise LandscapeError(f"{str(path)!r} is not a PyTorch checkpoint ({text.splitlines()[0][:120]})") from None
    except Exception as e:  # torch.load raises many types for files that are not checkpoints
        first = (str(e).splitlines() or [""])[0][:160]
        if isinstance(e, PermissionError):
            raise LandscapeError(f"cannot read checkpoint {str(path)!r}: permission denied") from None
        if isinstance(e, (AttributeError, ModuleNotFoundError)):
            raise LandscapeError(f"{str(path)!r} pickles a class that cannot be imported here ({first}); run from the "
                                 "folder that holds its module, or save the state_dict() instead") from None
        raise LandscapeError(f"{str(path)!r} is not a PyTorch checkpoint ({type(e).__name__}: {first})") from None


MAGIC = {b"\x89HDF": "an HDF5 file (a surface file?)", b"\x89PNG": "a PNG image", b"%PDF": "a PDF document",
         b"<svg": "an SVG image", b"<?xm": "an XML file"}


def _other_file_kind(path: Path) -> str | None:
    """What a file that is surely not a checkpoint is, from its first bytes."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as e:
        raise LandscapeError(f"cannot read checkpoint {str(path)!r}: {e.strerror or e}") from None
    for magic, kind in MAGIC.items():
        if head.startswith(magic):
            return kind
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "a text file"
    return None


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    )


def unwrap_state_dict(obj: Any) -> dict[str, torch.Tensor]:
    """Find the state dict inside the usual containers (training-script dicts, Lightning)."""
    if isinstance(obj, nn.Module):
        return dict(obj.state_dict())
    if _is_tensor_dict(obj):
        return dict(obj)
    if isinstance(obj, Mapping):
        for key in CONTAINER_KEYS:
            if key in obj:
                inner = obj[key]
                if isinstance(inner, nn.Module) or _is_tensor_dict(inner) or isinstance(inner, Mapping):
                    try:
                        return unwrap_state_dict(inner)
                    except LandscapeError:
                        continue
        # A dict mixing tensors with other entries (a step counter, say): keep the tensors.
        tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise LandscapeError(
        f"found no weights in the checkpoint (a {type(obj).__name__}"
        + (f" with keys {', '.join(map(str, list(obj)[:6]))}" if isinstance(obj, Mapping) else "")
        + "); save model.state_dict() or a dict holding it under 'state_dict'"
    )


def match_keys(expected: Mapping[str, torch.Tensor], state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return `state` with keys matching `expected`, stripping wrapper prefixes if needed."""
    want = set(expected)
    candidate = dict(state)
    for _ in range(4):  # prefixes can nest, e.g. module._orig_mod.
        if set(candidate) == want:
            break
        stripped = candidate
        for prefix in KEY_PREFIXES:
            if any(k.startswith(prefix) for k in stripped):
                stripped = {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in stripped.items()}
        if stripped == candidate:
            break
        candidate = stripped
    if set(candidate) != want:
        # Report against whichever form is closer to the model.
        best = max((state, candidate), key=lambda s: len(want & set(s)))
        missing = sorted(want - set(best))
        unexpected = sorted(set(best) - want)
        raise LandscapeError(
            f"checkpoint keys do not match the model: {len(missing)} missing "
            f"({', '.join(missing[:4])}{', ...' if len(missing) > 4 else ''}), {len(unexpected)} unexpected "
            f"({', '.join(unexpected[:4])}{', ...' if len(unexpected) > 4 else ''}); check --model and --model-kwargs"
        )
    bad = [k for k, v in expected.items() if tuple(v.shape) != tuple(candidate[k].shape)]
    if bad:
        k = bad[0]
        raise LandscapeError(
            f"checkpoint shapes do not match the model for {len(bad)} tensors, e.g. {k}: checkpoint "
            f"{tuple(candidate[k].shape)} vs model {tuple(expected[k].shape)}; check --model and --model-kwargs"
        )
    return {k: candidate[k] for k in expected}


def build_model(spec: ModelSpec) -> nn.Module:
    """Call the user's factory (a class or function) and check it made a module."""
    if not spec.factory:
        raise LandscapeError("this checkpoint holds only weights: pass --model pkg.module:factory to build the network")
    factory = import_object(spec.factory, "--model")
    kwargs = spec.kwargs_dict()
    try:
        model = factory(**kwargs)
    except Exception as e:
        raise LandscapeError(f"--model {spec.factory} failed with {kwargs}: {type(e).__name__}: {e}") from None
    if not isinstance(model, nn.Module):
        raise LandscapeError(f"--model {spec.factory} returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def load_model(checkpoint: str | Path, spec: ModelSpec = ModelSpec(), trust: bool = False) -> nn.Module:
    """A fresh model in eval mode on the CPU, with the checkpoint's weights.

    TorchScript archives and (with `trust`) pickled modules carry their own architecture;
    a state dict needs `spec.factory`.
    """
    obj = read_checkpoint(checkpoint, trust=trust)
    if isinstance(obj, torch.jit.ScriptModule):
        return obj.eval()
    if isinstance(obj, nn.Module):
        return obj.float().eval()
    if isinstance(obj, Mapping) and not _is_tensor_dict(obj):
        for key in CONTAINER_KEYS:
            if isinstance(obj.get(key), nn.Module):
                return obj[key].float().eval()
    state = unwrap_state_dict(obj)
    model = build_model(spec)
    model.load_state_dict(match_keys(model.state_dict(), state))
    return model.eval()


def load_state_for(model: nn.Module, checkpoint: str | Path, trust: bool = False) -> dict[str, torch.Tensor]:
    """The state dict of another checkpoint of the same architecture, keyed like `model`."""
    try:
        return match_keys(model.state_dict(), unwrap_state_dict(read_checkpoint(checkpoint, trust=trust)))
    except LandscapeError as e:
        raise LandscapeError(f"{checkpoint}: {e}") from None
