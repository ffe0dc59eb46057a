"""The data a landscape is measured on, materialized once as a pair of tensors.

Sources: the bundled scikit-learn digits, a `.npz`/`.pt` file, a `pkg.module:factory`
returning a Dataset, DataLoader or (x, y) pair, or CIFAR-10 / MNIST / Fashion-MNIST
through torchvision from `--data-root` (downloaded only with `--download`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import LandscapeError
from .importing import import_object


class Split(str, Enum):
    train = "train"
    test = "test"


TORCHVISION_SETS = {
    "cifar10": ("CIFAR10", (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "mnist": ("MNIST", (0.1307,), (0.3081,)),
    "fashion-mnist": ("FashionMNIST", (0.2860,), (0.3530,)),
}
DIGITS_TEST_FRACTION = 0.2


@dataclass(frozen=True)
class DataSpec:
    """Where the data comes from and which part of it is used."""

    source: str = "digits"
    split: Split = Split.train
    samples: int | None = None  # a fixed, seeded subset of this many samples
    seed: int = 0
    root: str = "data"
    download: bool = False

    def describe(self) -> str:
        return f"{self.source} ({self.split.value})"


@dataclass
class TensorData:
    """Inputs and targets, index-aligned, on the CPU."""

    x: torch.Tensor  # (N, ...)
    y: torch.Tensor  # (N,) integer labels, or (N, ...) regression targets

    def __len__(self) -> int:
        return len(self.x)

    def sha256(self) -> str:
        """A digest of inputs and targets: a resumed run must see the same data."""
        import hashlib

        h = hashlib.sha256()
        for t in (self.x, self.y):
            h.update(str((t.dtype, tuple(t.shape))).encode())
            h.update(t.contiguous().numpy().tobytes())
        return h.hexdigest()

    @property
    def is_classification(self) -> bool:
        return not self.y.is_floating_point() and self.y.dim() == 1


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
    return TensorData(x[idx], y[idx])


def _from_arrays(a: Any, b: Any, where: str) -> TensorData:
    try:
        x = torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a)
        y = torch.as_tensor(np.asarray(b) if not isinstance(b, torch.Tensor) else b)
    except (TypeError, ValueError) as e:
        raise LandscapeError(f"{where}: inputs and labels must be arrays ({e})") from None
    if x.dim() == 0 or y.dim() == 0:
        raise LandscapeError(f"{where}: inputs and labels must be arrays with one entry per sample, not scalars")
    if len(x) != len(y):
        raise LandscapeError(f"{where}: {len(x)} inputs but {len(y)} labels")
    if x.is_floating_point():
        x = x.float()
    elif x.dtype in (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64):
        x = x.float()
    if not y.is_floating_point():
        y = y.long()
    else:
        y = y.float()
    return TensorData(x.contiguous(), y.contiguous())


def _from_file(path: Path) -> TensorData:
    where = f"--data {str(path)!r}"
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                keys = list(z.keys())
                if "x" in keys and "y" in keys:
                    return _from_arrays(z["x"], z["y"], where)
                if len(keys) < 2:
                    raise LandscapeError(f"{where} must hold inputs and labels (keys 'x' and 'y'); found {keys}")
                return _from_arrays(z[keys[0]], z[keys[1]], where)
        except (OSError, ValueError) as e:
            raise LandscapeError(f"{where} is not a readable .npz file ({e})") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise LandscapeError(f"{where} is not a readable tensor file ({type(e).__name__})") from None
    if isinstance(obj, dict):
        if "x" in obj and "y" in obj:
            return _from_arrays(obj["x"], obj["y"], where)
        values = list(obj.values())
    elif isinstance(obj, (list, tuple)):
        values = list(obj)
    else:
        values = []
    if len(values) < 2:
        raise LandscapeError(f"{where} must hold inputs and labels: a dict with 'x' and 'y' or an (x, y) pair")
    return _from_arrays(values[0], values[1], where)


def _materialize(obj: Any, where: str) -> TensorData:
    """Turn a Dataset, a DataLoader or an (x, y) pair into tensors (iterating once)."""
    from torch.utils.data import DataLoader, Dataset

    if isinstance(obj, (tuple, list)) and len(obj) == 2 and not isinstance(obj, Dataset):
        return _from_arrays(obj[0], obj[1], where)
    if isinstance(obj, Dataset) and not isinstance(obj, DataLoader):
        obj = DataLoader(obj, batch_size=512, shuffle=False)
    if not isinstance(obj, DataLoader):
        raise LandscapeError(f"{where} returned a {type(obj).__name__}; return a Dataset, a DataLoader or an (x, y) pair")
    xs, ys = [], []
    try:
        for batch in obj:
            if not isinstance(batch, (tuple, list)) or len(batch) < 2:
                raise LandscapeError(f"{where}: each item must be an (input, label) pair")
            xs.append(torch.as_tensor(batch[0]))
            ys.append(torch.as_tensor(batch[1]))
    except LandscapeError:
        raise
    except Exception as e:
        raise LandscapeError(f"{where}: reading the data failed: {type(e).__name__}: {e}") from None
    if not xs:
        raise LandscapeError(f"{where} is empty")
    try:
        x, y = torch.cat(xs), torch.cat(ys)
    except RuntimeError as e:
        raise LandscapeError(f"{where}: samples of different shapes cannot be stacked ({str(e).splitlines()[0][:100]})") from None
    return _from_arrays(x, y, where)


def _from_torchvision(name: str, spec: DataSpec) -> TensorData:
    try:
        import torchvision
    except ImportError:
        raise LandscapeError(f"--data {name} needs torchvision: pip install torchvision") from None
    cls_name, mean, std = TORCHVISION_SETS[name]
    cls = getattr(torchvision.datasets, cls_name)
    try:
        ds = cls(spec.root, train=spec.split == Split.train, download=spec.download)
    except RuntimeError:
        raise LandscapeError(
            f"{name} is not under --data-root {spec.root!r}; pass --download to fetch it, or --data-root where it is"
        ) from None
    data = torch.as_tensor(np.asarray(ds.data))
    x = data.float() / 255.0
    x = x.permute(0, 3, 1, 2) if x.dim() == 4 else x.unsqueeze(1)  # (N, C, H, W)
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    return TensorData(((x - m) / s).contiguous(), torch.as_tensor(np.asarray(ds.targets)).long())


def load_data(spec: DataSpec) -> TensorData:
    """Load the data named by `spec`, then take its seeded subset if `samples` is set."""
    source = spec.source
    if source == "digits":
        data = load_digits_split(spec.split)
    elif source.lower() in TORCHVISION_SETS:
        data = _from_torchvision(source.lower(), spec)
    elif Path(source).suffix in (".npz", ".pt", ".pth") and Path(source).exists():
        data = _from_file(Path(source))
    elif ":" in source and not Path(source).exists():
        factory = import_object(source, "--data")
        try:
            obj = factory()
        except Exception as e:
            raise LandscapeError(f"--data {source} failed: {type(e).__name__}: {e}") from None
        data = _materialize(obj, f"--data {source}")
    elif Path(source).exists():
        raise LandscapeError(f"--data {source!r}: unsupported file type; use a .npz or .pt file with 'x' and 'y'")
    else:
        raise LandscapeError(
            f"unknown --data {source!r}: use digits, cifar10, mnist, fashion-mnist, a .npz/.pt file, or pkg.module:factory"
        )
    if len(data) == 0:
        raise LandscapeError(f"--data {source!r} is empty")
    if spec.samples is not None:
        if spec.samples < 1:
            raise LandscapeError(f"--samples must be at least 1, got {spec.samples}")
        if spec.samples < len(data):
            idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(spec.seed))[: spec.samples]
            idx, _ = torch.sort(idx)
            data = TensorData(data.x[idx], data.y[idx])
    return data
