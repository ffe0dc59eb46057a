"""The data a landscape is measured on, materialized once: a pair of tensors (`TensorData`),
or, for an `--eval` function, the batches as the source gave them (`BatchData`).

Sources: the bundled scikit-learn digits, a `.npz`/`.pt` file, a `pkg.module:factory`
returning a Dataset, a DataLoader, an (x, y) pair or any iterable of batches, or CIFAR-10 /
MNIST / Fashion-MNIST through torchvision from `--data-root` (downloaded only with
`--download`). `--split` picks the training or test part where the source has both and is
refused where it has not; which arrays are inputs is never guessed.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

from landscape.choices import Split
from landscape.errors import LandscapeError, arg
from landscape.inputs.checkpoint import check_archive, regular_file
from landscape.inputs.importing import import_object


TORCHVISION_SETS = {
    "cifar10": ("CIFAR10", (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "mnist": ("MNIST", (0.1307,), (0.3081,)),
    "fashion-mnist": ("FashionMNIST", (0.2860,), (0.3530,)),
}
DIGITS_TEST_FRACTION = 0.2
DATA_SUFFIXES = (".npz", ".pt", ".pth")


@dataclass(frozen=True)
class DataSpec:
    """Where the data comes from and which part of it is used."""

    source: str = "digits"
    split: Split | None = None  # None: the training part, or the only part a source has
    samples: int | None = None  # a fixed, seeded subset of this many samples
    seed: int = 0
    root: str = "data"
    download: bool = False
    seq_len: int = 128  # text: tokens per sequence
    text_field: str = "text"  # text: the field of a .jsonl record holding it
    tokenizer: str | None = None  # text: a tokenizer folder (None: the model folder's)


def _digest(tensors: Iterable[torch.Tensor], h: Any) -> None:
    for t in tensors:
        h.update(str((t.dtype, tuple(t.shape))).encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")


@dataclass
class TensorData:
    """Inputs and targets, index-aligned, on the CPU."""

    x: torch.Tensor  # (N, ...)
    y: torch.Tensor  # (N,) integer labels, or (N, ...) regression targets
    split: str | None = None  # "train" or "test", for the value names; None: unnamed

    def __len__(self) -> int:
        return len(self.x)

    def sha256(self) -> str:
        """A digest of inputs and targets: a resumed run must see the same data."""
        h = hashlib.sha256()
        _digest((self.x, self.y), h)
        return h.hexdigest()

    @property
    def nbytes(self) -> int:
        return self.x.nbytes + self.y.nbytes

    @property
    def is_classification(self) -> bool:
        return not self.y.is_floating_point() and self.y.dim() == 1

    def subset(self, lo: int, hi: int) -> "TensorData":
        return TensorData(self.x[lo:hi], self.y[lo:hi], self.split)

    def take(self, idx: torch.Tensor) -> "TensorData":
        """The samples at `idx`, in that order."""
        return TensorData(self.x[idx], self.y[idx], self.split)


def tensors_of(batch: Any) -> list[torch.Tensor]:
    """The tensors inside a batch (a tensor, or dicts, tuples and lists of them), in a fixed order."""
    if isinstance(batch, torch.Tensor):
        return [batch]
    if isinstance(batch, dict):
        return [t for k in sorted(batch, key=str) for t in tensors_of(batch[k])]
    if isinstance(batch, (tuple, list)):
        return [t for item in batch for t in tensors_of(item)]
    return []


def to_device(batch: Any, device: torch.device, non_blocking: bool = False) -> Any:
    """The batch with every tensor inside it on `device`."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, dict):
        return {k: to_device(v, device, non_blocking) for k, v in batch.items()}
    if isinstance(batch, tuple):
        return tuple(to_device(v, device, non_blocking) for v in batch)
    if isinstance(batch, list):
        return [to_device(v, device, non_blocking) for v in batch]
    return batch


@dataclass
class BatchData:
    """Batches as the source gave them (dicts of tensors, tuples, ...), for an `--eval` function
    `fn(model, batch)`; evaluated in the order given, each batch whole."""

    batches: list[Any]
    split: str | None = None

    def __len__(self) -> int:
        return len(self.batches)

    def sha256(self) -> str:
        h = hashlib.sha256()
        for batch in self.batches:
            _digest(tensors_of(batch), h)
        return h.hexdigest()

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for b in self.batches for t in tensors_of(b))

    def subset(self, lo: int, hi: int) -> "BatchData":
        return BatchData(self.batches[lo:hi], self.split)


Data = Union[TensorData, BatchData]


def load_digits_split(split: Split) -> TensorData:
    """scikit-learn's 8x8 digits as (N, 1, 8, 8) floats in [0, 1]; a fixed 80/20 train/test split."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(d.target, dtype=torch.int64)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    n_test = int(round(len(x) * DIGITS_TEST_FRACTION))
    idx = order[n_test:] if split == Split.train else order[:n_test]
    idx, _ = torch.sort(idx)
    return TensorData(x[idx], y[idx], split.value)


DTYPE_KINDS = {"U": "text", "S": "bytes", "O": "Python objects", "M": "dates", "m": "time spans",
               "V": "records", "c": "complex numbers"}


def _numbers(a: Any, what: str, where: str) -> torch.Tensor:
    """`a` as a tensor of real numbers (bool, integer or float); any other dtype is named."""
    if isinstance(a, torch.Tensor):
        if a.is_complex():
            raise LandscapeError(f"{where}: {what} are complex numbers ({str(a.dtype).removeprefix('torch.')}), "
                                 "not real numbers; give real inputs and labels")
        return a
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError) as e:
        raise LandscapeError(f"{where}: {what} must be an array ({str(e).splitlines()[0][:100]})") from None
    if arr.dtype.kind not in "biuf":
        words = DTYPE_KINDS.get(arr.dtype.kind, "of another kind")
        real = "real " if arr.dtype.kind == "c" else ""
        raise LandscapeError(f"{where}: {what} are {words} ({arr.dtype}), not {real}numbers; store {what} as an "
                             "array of numbers")
    return torch.as_tensor(arr)


def _from_arrays(a: Any, b: Any, where: str, split: str | None = None) -> TensorData:
    x = _numbers(a, "inputs", where)
    y = _numbers(b, "labels", where)
    if x.dim() == 0 or y.dim() == 0:
        raise LandscapeError(f"{where}: inputs and labels must be arrays with one entry per sample, not scalars")
    if len(x) != len(y):
        raise LandscapeError(f"{where}: {len(x)} inputs but {len(y)} labels; give one label per input")
    x = x.float()  # bool, integer and half inputs alike: the model's weights are float
    y = y.float() if y.is_floating_point() else y.long()  # regression targets, or class indices
    return TensorData(x.contiguous(), y.contiguous(), split)


SPLIT_KEYS = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}


def _pick_arrays(keys: list[str], get: Any, split: Split | None, where: str) -> TensorData:
    """Inputs and labels from named arrays: `x`, `y`, or `x_train`, `y_train`, `x_test`, `y_test`."""
    wanted = (split or Split.train).value
    if all(k in keys for k in SPLIT_KEYS[wanted]):
        x, y = SPLIT_KEYS[wanted]
        return _from_arrays(get(x), get(y), where, wanted)
    if "x" in keys and "y" in keys:
        if split is not None:
            raise LandscapeError(f"{arg('split')} {split.value}: {where} holds one set of data (x, y); drop {arg('split')}, "
                                 f"or store x_{split.value} and y_{split.value} in it")
        return _from_arrays(get("x"), get("y"), where, "train")
    if split is not None and any(k in keys for k in (*SPLIT_KEYS["train"], *SPLIT_KEYS["test"])):
        raise LandscapeError(f"{arg('split')} {split.value}: {where} has no x_{split.value} and y_{split.value} "
                             f"(it holds {', '.join(keys)})")
    raise LandscapeError(f"{where} must hold arrays named x and y (or x_train, y_train, x_test, y_test); "
                         f"it holds {', '.join(keys) or 'nothing'}")


def _from_file(path: Path, split: Split | None) -> TensorData:
    where = f"{arg('data')} {str(path)!r}"
    regular_file(path, f"{arg('data')}")  # a device reads without end, a FIFO blocks
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                return _pick_arrays(list(z.keys()), lambda k: z[k], split, where)
        except LandscapeError:
            raise
        except Exception as e:  # a damaged archive: BadZipFile, a bad CRC, a truncated array
            raise LandscapeError(f"{where} is not a readable .npz file ({type(e).__name__}: {e})") from None
    check_archive(path, f"{arg('data')}")  # torch.load does not check the CRCs of a zip's members
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise LandscapeError(f"{where} is not a readable tensor file ({type(e).__name__}); save a dict of tensors "
                             "with torch.save") from None
    if isinstance(obj, dict):
        return _pick_arrays([str(k) for k in obj], lambda k: obj[k], split, where)
    if isinstance(obj, (list, tuple)) and len(obj) == 2:
        if split is not None:
            raise LandscapeError(f"{arg('split')} {split.value}: {where} holds one (x, y) pair; drop {arg('split')}")
        return _from_arrays(obj[0], obj[1], where, "train")
    raise LandscapeError(f"{where} must hold inputs and labels: a dict with x and y (or x_train, y_train, x_test, "
                         "y_test) or an (x, y) pair")


def _is_pair(obj: Any) -> bool:
    """An (inputs, labels) pair of arrays (not a list of two batches): one entry per sample in
    each, or arrays of different sample shapes, which cannot be two batches of one source."""
    if not isinstance(obj, (tuple, list)) or len(obj) != 2:
        return False
    a, b = obj
    if not all(isinstance(v, (torch.Tensor, np.ndarray)) and v.ndim > 0 for v in (a, b)):
        return False
    return len(a) == len(b) or tuple(a.shape[1:]) != tuple(b.shape[1:])


def materialize(obj: Any, where: str = "the data", split: str | None = None) -> Data:
    """Tensors from a Dataset, a DataLoader, an (x, y) pair or any iterable of batches (iterating
    once): a `TensorData` when every batch is an (input, label) pair of tensors, else the batches
    as they are (`BatchData`, for an --eval function)."""
    from torch.utils.data import DataLoader, Dataset

    if isinstance(obj, (TensorData, BatchData)):
        return obj
    if _is_pair(obj):
        return _from_arrays(obj[0], obj[1], where, split)
    if isinstance(obj, Dataset) and not isinstance(obj, DataLoader):
        obj = DataLoader(obj, batch_size=512, shuffle=False)
    if isinstance(obj, (str, bytes, torch.Tensor)) or not isinstance(obj, Iterable):
        raise LandscapeError(f"{where} is a {type(obj).__name__}; give a Dataset, a DataLoader, an (x, y) pair "
                             "or an iterable of batches")
    try:
        batches = list(obj)
    except Exception as e:
        raise LandscapeError(f"{where}: reading the data failed: {type(e).__name__}: {e}") from None
    if not batches:
        raise LandscapeError(f"{where} is empty")
    pairs = all(isinstance(b, (tuple, list)) and len(b) >= 2 and all(isinstance(t, torch.Tensor) for t in b[:2])
                for b in batches)
    if not pairs:
        return BatchData(batches, split)
    try:
        x = torch.cat([torch.as_tensor(b[0]) if b[0].dim() else b[0].view(1) for b in batches])
        y = torch.cat([torch.as_tensor(b[1]) if b[1].dim() else b[1].view(1) for b in batches])
    except RuntimeError as e:
        raise LandscapeError(f"{where}: samples of different shapes cannot be stacked ({str(e).splitlines()[0][:100]})") from None
    return _from_arrays(x, y, where, split)


def _from_torchvision(name: str, spec: DataSpec) -> TensorData:
    try:
        import torchvision
    except ImportError:
        raise LandscapeError(f"{arg('data')} {name} needs torchvision: pip install torchvision") from None
    cls_name, mean, std = TORCHVISION_SETS[name]
    cls = getattr(torchvision.datasets, cls_name)
    try:
        ds = cls(spec.root, train=spec.split != Split.test, download=spec.download)
    except RuntimeError:
        raise LandscapeError(
            f"{name} is not under {arg('data_root')} {spec.root!r}; pass {arg('download', True)} to fetch it, or {arg('data_root')} where it is"
        ) from None
    data = torch.as_tensor(np.asarray(ds.data))
    x = data.float() / 255.0
    x = x.permute(0, 3, 1, 2) if x.dim() == 4 else x.unsqueeze(1)  # (N, C, H, W)
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    return TensorData(((x - m) / s).contiguous(), torch.as_tensor(np.asarray(ds.targets)).long(),
                      (spec.split or Split.train).value)


def _from_factory(spec: DataSpec) -> Data:
    factory = import_object(spec.source, "data")
    kwargs: dict[str, Any] = {}
    try:
        takes_split = "split" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        takes_split = False
    if takes_split:
        kwargs["split"] = (spec.split or Split.train).value
    elif spec.split is not None:
        raise LandscapeError(f"{arg('split')} {spec.split.value}: {spec.source} takes no split argument; give it a "
                             f"`split` parameter (\"train\" or \"test\"), or drop {arg('split')}")
    try:
        obj = factory(**kwargs)
    except Exception as e:
        raise LandscapeError(f"{arg('data')} {spec.source} failed: {type(e).__name__}: {e}") from None
    return materialize(obj, f"{arg('data')} {spec.source}", kwargs.get("split", "train"))


def load_data(spec: DataSpec) -> Data:
    """Load the data named by `spec`, then take its seeded subset if `samples` is set (text:
    `inputs.loading.load_data`)."""
    source = spec.source
    if source == "digits":
        data = load_digits_split(spec.split or Split.train)
    elif source.lower() in TORCHVISION_SETS:
        data = _from_torchvision(source.lower(), spec)
    elif Path(source).suffix in DATA_SUFFIXES:
        if not os.path.lexists(source):
            raise LandscapeError(f"{arg('data')} {source!r}: no such file; check the path")
        data = _from_file(Path(source), spec.split)
    elif ":" in source and not Path(source).exists():
        data = _from_factory(spec)
    elif Path(source).exists():
        raise LandscapeError(f"{arg('data')} {source!r}: unsupported file type; use a .npz or .pt file with x and y")
    elif "/" in source or os.sep in source:
        raise LandscapeError(f"{arg('data')} {source!r}: no such file; check the path, or name a dataset or "
                             "pkg.module:factory")
    else:
        raise LandscapeError(
            f"unknown {arg('data')} {source!r}: use digits, cifar10, mnist, fashion-mnist, a .npz/.pt file, or pkg.module:factory"
        )
    return seeded_subset(data, spec)


def seeded_subset(data: Data, spec: DataSpec) -> Data:
    """`spec.samples` of the data's samples, a fixed subset drawn with `spec.seed` (all: None)."""
    if len(data) == 0:
        raise LandscapeError(f"{arg('data')} {spec.source!r} is empty")
    if spec.samples is not None:
        if spec.samples < 1:
            raise LandscapeError(f"{arg('samples')} must be at least 1, got {spec.samples}")
        if isinstance(data, BatchData):
            raise LandscapeError(f"{arg('samples')} needs (input, label) data; with batches of other kinds, give fewer batches")
        if spec.samples < len(data):
            idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(spec.seed))[: spec.samples]
            idx, _ = torch.sort(idx)
            data = data.take(idx)
    return data


def data_label(spec: DataSpec, data: Data) -> str:
    """"digits (train)": the source and the part of it used."""
    return f"{spec.source} ({data.split})" if data.split else spec.source
