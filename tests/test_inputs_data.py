"""inputs/data.py: the data sources (arrays, files, factories, the digits, torchvision's sets)
and the errors for what does not load."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.inputs.data import DataSpec, Split, load_data
from landscape.errors import LandscapeError, for_cli


def test_data_sources(tmp_path, monkeypatch):
    x = np.random.rand(10, 1, 8, 8).astype(np.float32)
    y = np.arange(10) % 3
    np.savez(tmp_path / "d.npz", x=x, y=y)
    np.savez(tmp_path / "anon.npz", x, y)
    torch.save({"x": torch.from_numpy(x), "y": torch.from_numpy(y)}, tmp_path / "d.pt")
    for name in ("d.npz", "d.pt"):
        d = load_data(DataSpec(str(tmp_path / name)))
        assert d.x.shape == (10, 1, 8, 8) and d.y.dtype == torch.int64 and d.is_classification
    with pytest.raises(LandscapeError, match="must hold arrays named x and y.*arr_0, arr_1"):
        load_data(DataSpec(str(tmp_path / "anon.npz")))  # which array is the input is never guessed
    (tmp_path / "loadingdata.py").write_text(
        "import torch\nfrom torch.utils.data import TensorDataset, DataLoader\n"
        "def ds(): return TensorDataset(torch.zeros(5, 2), torch.arange(5))\n"
        "def dl(): return DataLoader(ds(), batch_size=2)\n"
        "def pair(): return torch.zeros(4, 2), torch.arange(4)\n"
        "def empty(): return TensorDataset(torch.zeros(0, 2), torch.zeros(0))\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # a notebook's own folder is on its path; the library adds none
    assert len(load_data(DataSpec("loadingdata:ds"))) == 5
    assert len(load_data(DataSpec("loadingdata:dl"))) == 5
    assert len(load_data(DataSpec("loadingdata:pair"))) == 4
    with pytest.raises(LandscapeError, match="empty"):
        load_data(DataSpec("loadingdata:empty"))


def test_digits_split_and_subset():
    train, test = load_data(DataSpec("digits")), load_data(DataSpec("digits", Split.test))
    assert len(train) + len(test) == 1797 and len(test) == 359
    a = load_data(DataSpec("digits", samples=100, seed=1))
    b = load_data(DataSpec("digits", samples=100, seed=1))
    assert len(a) == 100 and torch.equal(a.x, b.x)
    assert not torch.equal(a.x, load_data(DataSpec("digits", samples=100, seed=2)).x)


@pytest.mark.parametrize("source,match", [
    ("imagenet-nonsense", "unknown --data"),
    ("cifar10", "torchvision|not under --data-root"),
])
def test_bad_data(source, match):
    with pytest.raises(LandscapeError) as e:
        load_data(DataSpec(source, root="/nonexistent"))
    assert re.search(match, for_cli(e.value.message)) and "--" not in str(e.value)


def test_torchvision_sets_through_a_stand_in(monkeypatch, tmp_path):
    """The conversion of torchvision's CIFAR-10 / MNIST arrays, with a stand-in module (CI has no torchvision)."""
    import sys
    import types

    class Fake:
        def __init__(self, root, train, download):
            if not (Path(root) / "present").exists() and not download:
                raise RuntimeError("Dataset not found. You can use download=True to download it")
            n = 6 if train else 4
            self.data = self.shape(n)
            self.targets = list(range(n))

    class CIFAR10(Fake):
        shape = staticmethod(lambda n: np.full((n, 32, 32, 3), 255, dtype=np.uint8))  # NHWC uint8

    class MNIST(Fake):
        shape = staticmethod(lambda n: torch.zeros(n, 28, 28, dtype=torch.uint8))  # NHW uint8 tensor

    fake = types.ModuleType("torchvision")
    fake.datasets = types.SimpleNamespace(CIFAR10=CIFAR10, MNIST=MNIST, FashionMNIST=MNIST)
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    with pytest.raises(LandscapeError, match="download=True") as e:
        load_data(DataSpec("cifar10", root=str(tmp_path)))
    assert "--download" in for_cli(e.value.message)
    (tmp_path / "present").write_text("")
    c = load_data(DataSpec("cifar10", root=str(tmp_path)))
    assert c.x.shape == (6, 3, 32, 32) and c.y.tolist() == list(range(6))
    np.testing.assert_allclose(c.x[0, :, 0, 0], (1 - np.array([0.4914, 0.4822, 0.4465])) / np.array([0.2023, 0.1994, 0.2010]),
                               rtol=1e-5)
    m = load_data(DataSpec("mnist", Split.test, root=str(tmp_path)))
    assert m.x.shape == (4, 1, 28, 28) and np.allclose(m.x, -0.1307 / 0.3081)
