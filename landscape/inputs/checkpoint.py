"""Loading models and weights from checkpoints, safely by default.

Every `torch.load` uses `weights_only=True`, and TorchScript archives (which carry code that
runs while they load) are refused, unless the user passes `trust=True` (`--trust-checkpoint`):
an untrusted file can hold tensors but cannot run code. This holds wherever a checkpoint is
read: the model, `--x-target`/`--y-target`, the checkpoints of a trajectory or interpolation.

Before anything is unpickled, a checkpoint must be a regular file with bytes in it (a device such
as /dev/zero reads without end, a FIFO blocks), and every member of a zip checkpoint (torch.save's
format) must match its recorded CRC-32, checked while streaming: PyTorch's reader does not check
them, so a damaged file would otherwise load with altered weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import pickletools
import re
import stat
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import torch
from torch import nn

from landscape.errors import LandscapeError, arg
from landscape.inputs.importing import import_object, user_code_importable

# Containers that training scripts and frameworks wrap a state dict in (Lightning uses "state_dict").
CONTAINER_KEYS = ("state_dict", "model_state_dict", "model", "net", "module", "state", "weights")
# Prefixes added by DataParallel/DDP, torch.compile and Lightning-style wrappers.
KEY_PREFIXES = ("module.", "_orig_mod.", "model.")
# File names tried, in order, when a checkpoint path is a directory.
DIRECTORY_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json",
                   "model.pt", "model.pth", "checkpoint.pt", "adapter_model.safetensors")
SHARD_INDEXES = (".safetensors.index.json", ".bin.index.json")  # Hugging Face's index of a model saved in shards
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors", ".tar")


@dataclass(frozen=True)
class ModelSpec:
    """How to rebuild the network: `pkg.module:factory` called with keyword arguments."""

    factory: str | None = None
    kwargs: str | Mapping[str, Any] = "{}"  # JSON text (a dict is turned into it), recorded in the file as given
    merge_adapter: bool = False  # a peft adapter folder: its weights merged into the base's (else they move alone)

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
            raise LandscapeError(f"{arg('model_kwargs')} is not valid JSON ({e.msg}): {self.kwargs!r}") from None
        if not isinstance(value, dict):
            raise LandscapeError(f"{arg('model_kwargs')} must be a JSON object like '{{\"num_classes\": 10}}', got {self.kwargs!r}")
        return value


def sha256(path: Path) -> str:
    regular_file(path, "file")
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


FILE_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
              (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"))


def regular_file(path: Path, what: str) -> os.stat_result:
    """Refuse, before it is opened, what is not a regular file holding some bytes: a device such
    as /dev/zero reads without end, a FIFO blocks until something writes to it, and a file of
    0 bytes (or a /proc file, which claims 0) is no checkpoint. `what` names the file in errors."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise LandscapeError(f"{what} {str(path)!r} does not exist") from None
    except OSError as e:
        raise LandscapeError(f"cannot read {what} {str(path)!r}: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in FILE_KINDS if test(st.st_mode)), "a special file")
        raise LandscapeError(f"{what} {str(path)!r} is {kind}, not a regular file; name a file saved on disk")
    if st.st_size == 0:
        raise LandscapeError(f"{what} {str(path)!r} is empty (0 bytes); it was not written completely, "
                             "save it again or name another file")
    return st


def resolve_checkpoint(path: str | Path) -> Path:
    """The checkpoint file for `path`, choosing the weights file inside a directory; only a
    regular file is accepted (see `regular_file`)."""
    path = Path(path)
    try:
        is_dir = stat.S_ISDIR(os.stat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        raise LandscapeError(f"checkpoint {str(path)!r} does not exist") from None
    except OSError as e:
        raise LandscapeError(f"cannot read checkpoint {str(path)!r}: {e.strerror or e}") from None
    if is_dir:
        path = _weights_in_folder(path)
    regular_file(path, "checkpoint")
    return path


def _weights_in_folder(path: Path) -> Path:
    for name in DIRECTORY_FILES:
        if (path / name).is_file():  # follows links, and is False for devices and FIFOs
            return path / name
    found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in CHECKPOINT_SUFFIXES)
    if len(found) == 1:
        return found[0]
    listing = (", ".join(p.name for p in found[:5]) + (", …" if len(found) > 5 else "")) or "none"
    raise LandscapeError(
        f"directory {str(path)!r} holds {len(found)} checkpoint files ({listing}); name the file to load"
    )


ZIP_MAGIC = b"PK\x03\x04"  # how torch.load tells its zip format from the legacy pickle stream
LEGACY_MAGIC = b"\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"  # the pickled magic number that opens a legacy torch.save file
# What the members of a zip may claim to hold beyond the archive's own size: torch.save stores them
# uncompressed; a compressed member may expand, but not without bound (a "zip bomb").
MAX_EXPANSION, MAX_EXTRA_BYTES = 32, 1 << 30


def _damaged(path: Path, what: str, detail: str) -> LandscapeError:
    return LandscapeError(f"{what} {str(path)!r} is damaged ({detail}); save it again, or copy it again from where it "
                          "was made")


def check_archive(path: Path, what: str = "checkpoint") -> list[str]:
    """The member names of a zip-format file (torch.save's format) after checking the CRC-32 of
    every member, streamed: memory stays bounded and the cost is one more read of the file. [] for
    a file in another format. A member recorded with CRC 0 was saved without one
    (`torch.serialization.set_crc32_options(False)`) and is not checked."""
    with open(path, "rb") as f:
        if f.read(4) != ZIP_MAGIC:
            return []
    size = os.stat(path).st_size
    member = None
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            claimed = sum(i.file_size for i in infos)
            if claimed > MAX_EXPANSION * size + MAX_EXTRA_BYTES:
                raise _damaged(path, what, f"its members claim {claimed:,} bytes, more than its {size:,} bytes "
                                           "can hold")
            for info in infos:
                if info.is_dir() or (info.CRC == 0 and info.file_size > 0):
                    continue
                member = info.filename
                with z.open(info) as stream:  # zipfile compares the CRC when the member's end is read
                    while stream.read(1 << 20):
                        pass
            return [i.filename for i in infos]
    except zipfile.BadZipFile as e:
        if member is not None and "CRC" in str(e):
            raise _damaged(path, what, f"CRC mismatch in member {member}") from None
        raise _damaged(path, what, _zip_detail(member, e)) from None
    except (EOFError, zlib.error, NotImplementedError, RuntimeError, ValueError, OverflowError) as e:
        raise _damaged(path, what, _zip_detail(member, e)) from None
    except OSError as e:
        raise LandscapeError(f"cannot read {what} {str(path)!r}: {e.strerror or e}") from None


def _zip_detail(member: str | None, e: BaseException) -> str:
    where = f"member {member} is unreadable" if member is not None else "its zip directory is unreadable"
    return f"{where}: {_reason(e)}" if _reason(e) else f"{where}, it ends too early"


def _reason(e: BaseException, limit: int = 160) -> str:
    """The first sentence of an exception's message, on one line, cut at a word if long."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()
    text = " ".join((text.splitlines() or [""])[0].split())
    first = re.match(r"(.+?)[.!?](\s|$)", text)
    text = first.group(1) if first else text
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + " …"
    return text


class _Bounded:
    """The next `left` bytes of a stream, for `pickletools.genops`: no read asks for more than is
    there, so a bogus length inside a pickle cannot allocate beyond the file."""

    def __init__(self, f: IO[bytes], left: int):
        self.f, self.left = f, left

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(self.left if n is None or n < 0 else min(n, self.left))
        self.left -= len(data)
        return data

    def readline(self) -> bytes:
        data = self.f.readline(min(self.left, 1 << 20))
        self.left -= len(data)
        return data


def _pickles_complete(stream: IO[bytes], size: int, count: int) -> bool:
    """Whether `stream` starts with `count` complete pickles (parsed, never run)."""
    bounded = _Bounded(stream, size)
    try:
        for _ in range(count):
            for _op in pickletools.genops(bounded):
                pass
    except Exception:  # pickletools raises ValueError and others on bytes that are no pickle
        return False
    return True


def _torch_pickle(path: Path, head: bytes, names: list[str]) -> bool | None:
    """For a file that torch.load refused: True if it is a complete torch.save file (loading it with
    code may work), False if it is one but damaged, None if torch.save did not write it."""
    if names:  # a zip, its CRCs checked
        pkl = next((n for n in names if n.endswith("data.pkl")), None)
        if pkl is None:
            return None
        with zipfile.ZipFile(path) as z, z.open(pkl) as stream:
            return _pickles_complete(stream, z.getinfo(pkl).file_size, 1)
    if LEGACY_MAGIC not in head[:32]:
        return None
    with open(path, "rb") as f:  # the magic number, protocol, system info, the object, the storage keys
        return _pickles_complete(f, os.stat(path).st_size, 5)


def _is_pickle(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5  # the PROTO opcode of protocols 2 to 5


def _refusal(path: Path, head: bytes, names: list[str], e: Exception, trust: bool) -> LandscapeError:
    """The one-line error for a checkpoint that torch could not load."""
    name = str(path)
    if isinstance(e, PermissionError):
        return LandscapeError(f"cannot read checkpoint {name!r}: permission denied")
    if isinstance(e, (AttributeError, ModuleNotFoundError)):
        return LandscapeError(f"{name!r} pickles a class that cannot be imported here ({_reason(e)}); run from the "
                              "folder that holds its module, or save the state_dict() instead")
    try:
        made_by_torch = _torch_pickle(path, head, names)
    except (OSError, zipfile.BadZipFile, EOFError, ValueError, RuntimeError, zlib.error):
        made_by_torch = False
    if made_by_torch is None:
        if _is_pickle(head):
            return LandscapeError(f"{name!r} is a Python pickle not written by torch.save, not a PyTorch checkpoint; "
                                  "load it and save its state_dict() with torch.save")
        return LandscapeError(f"{name!r} is not a PyTorch checkpoint ({_kind_and_reason(e)})")
    if not made_by_torch:
        return _damaged(path, "checkpoint", "its pickled data is cut short or garbled")
    if not trust and isinstance(e, pickle.UnpicklingError) and "Weights only load failed" in str(e):
        return LandscapeError(
            f"{name!r} needs code to load: it pickles Python objects (such as a whole nn.Module) or uses pickle "
            f"features that loading weights alone cannot read; pass {arg('trust_checkpoint', True)} if you trust the file, "
            "or save its state_dict() instead"
        )
    return _damaged(path, "checkpoint", _kind_and_reason(e))


def _kind_and_reason(e: BaseException) -> str:
    return f"{type(e).__name__}: {_reason(e)}" if _reason(e) else type(e).__name__


def read_checkpoint(path: str | Path, trust: bool = False) -> Any:
    """Read a checkpoint file: a state dict (possibly wrapped), a TorchScript module, or,
    with `trust=True` only, a whole pickled module."""
    path = resolve_checkpoint(path)
    if path.name.endswith(SHARD_INDEXES):
        return _read_shards(path, trust)
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as e:
            raise LandscapeError(f"{str(path)!r} is not a readable safetensors file: {e}") from None
    head = _head(path)
    kind = _other_file_kind(head)
    if kind:
        raise LandscapeError(f"{str(path)!r} is {kind}, not a checkpoint")
    names = check_archive(path)
    scripted = any(n.endswith("constants.pkl") or "/code/" in n for n in names)
    if scripted and not trust:
        raise LandscapeError(
            f"{str(path)!r} is a TorchScript archive, which runs code from the file as it loads; "
            f"pass {arg('trust_checkpoint', True)} if you trust the file, or save its state_dict() instead"
        )
    if trust:
        user_code_importable()  # a pickled module's classes may live in the working folder
    try:
        with warnings.catch_warnings():  # torch's notes on TorchScript and pickle protocols are not the user's concern
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*TorchScript.*")
            warnings.filterwarnings("ignore", message=".*pickle protocol.*")
            if scripted:
                return torch.jit.load(str(path), map_location="cpu")
            return torch.load(path, map_location="cpu", weights_only=not trust)
    except Exception as e:  # torch.load raises many types for files that are not checkpoints
        raise _refusal(path, head, names, e, trust) from None


def shard_files(index: Path) -> list[Path]:
    """The files an index's weight_map names, each a plain file name beside it (.safetensors or .bin)."""
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as e:
        raise LandscapeError(f"{str(index)!r} is not a readable shard index ({e}); save the model again") from None
    if not isinstance(weight_map, dict) or not weight_map:
        raise LandscapeError(f"{str(index)!r} has no weight_map; save the model again")
    files = sorted({str(f) for f in weight_map.values()})
    bad = [f for f in files if Path(f).name != f or not f.endswith((".safetensors", ".bin"))]
    if bad:
        raise LandscapeError(f"{str(index)!r} names {bad[0]!r}, not a weights file beside it; save the model again")
    return [index.parent / f for f in files]


def _read_shards(index: Path, trust: bool = False) -> dict[str, torch.Tensor]:
    """The tensors of a sharded checkpoint: every file its index names (`shard_files`)."""
    state: dict[str, torch.Tensor] = {}
    for f in shard_files(index):
        state.update(read_checkpoint(f, trust=trust))
    return state


MAGIC = {b"\x89HDF": "an HDF5 file (a surface file?)", b"\x89PNG": "a PNG image", b"%PDF": "a PDF document",
         b"<svg": "an SVG image", b"<?xm": "an XML file"}


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(512)
    except OSError as e:
        raise LandscapeError(f"cannot read checkpoint {str(path)!r}: {e.strerror or e}") from None


def _other_file_kind(head: bytes) -> str | None:
    """What a file that is surely not a checkpoint is, from its first bytes."""
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
    for name, alias in _tied(expected).items():  # a tied tensor is saved once (save_pretrained, safetensors)
        if name not in candidate and alias in candidate:
            candidate[name] = candidate[alias]
    if set(candidate) != want:
        # Report against whichever form is closer to the model.
        best = max((state, candidate), key=lambda s: len(want & set(s)))
        missing = sorted(want - set(best))
        unexpected = sorted(set(best) - want)
        raise LandscapeError(
            f"checkpoint keys do not match the model: {len(missing)} missing "
            f"({', '.join(missing[:4])}{', ...' if len(missing) > 4 else ''}), {len(unexpected)} unexpected "
            f"({', '.join(unexpected[:4])}{', ...' if len(unexpected) > 4 else ''}); check {arg('model')} and {arg('model_kwargs')}"
        )
    bad = [k for k, v in expected.items() if tuple(v.shape) != tuple(candidate[k].shape)]
    if bad:
        k = bad[0]
        raise LandscapeError(
            f"checkpoint shapes do not match the model for {len(bad)} tensors, e.g. {k}: checkpoint "
            f"{tuple(candidate[k].shape)} vs model {tuple(expected[k].shape)}; check {arg('model')} and {arg('model_kwargs')}"
        )
    return {k: candidate[k] for k in expected}


def _tied(expected: Mapping[str, torch.Tensor]) -> dict[str, str]:
    """{name: the first name of the same tensor} for each tensor a model registers twice."""
    first: dict[tuple, str] = {}
    out = {}
    for name, t in expected.items():
        if t.numel() == 0:
            continue
        key = (t.data_ptr(), t.dtype, tuple(t.shape), tuple(t.stride()))
        if key in first:
            out[name] = first[key]
            out.setdefault(first[key], name)  # either name may be the one saved
        else:
            first[key] = name
    return out


def build_model(spec: ModelSpec) -> nn.Module:
    """Call the user's factory (a class or function) and check it made a module."""
    if not spec.factory:
        raise LandscapeError(f"this checkpoint holds only weights: pass {arg('model', 'pkg.module:factory')} to build the network")
    factory = import_object(spec.factory, "model")
    kwargs = spec.kwargs_dict()
    try:
        model = factory(**kwargs)
    except Exception as e:
        raise LandscapeError(f"{arg('model')} {spec.factory} failed with {kwargs}: {type(e).__name__}: {e}") from None
    if not isinstance(model, nn.Module):
        raise LandscapeError(f"{arg('model')} {spec.factory} returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def load_model(checkpoint: str | Path, spec: ModelSpec = ModelSpec(), trust: bool = False) -> nn.Module:
    """A fresh model in eval mode on the CPU, with the checkpoint's weights.

    TorchScript archives and (with `trust`) pickled modules carry their own architecture;
    a state dict needs `spec.factory` (Hugging Face folders: `inputs.loading.load_model`).
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
        raise LandscapeError(f"{checkpoint}: {e.message}", e.field) from None
