"""Checkpoints, data sources and grid specs: what loads, and the errors for what does not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from conftest import tiny_model
from landscape.inputs.checkpoint import ModelSpec, load_model, load_state_for, read_checkpoint
from landscape.inputs.data import DataSpec, Split, load_data
from landscape.errors import LandscapeError
from landscape.cli import parse_axis
from landscape.plane.grid import Grid

SPEC = ModelSpec("landscape.models:digits_cnn", '{"width": 4}')


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("wrap", [
    lambda sd: sd,
    lambda sd: {"state_dict": sd, "epoch": 3},
    lambda sd: {"model_state_dict": sd, "optimizer_state_dict": {}},
    lambda sd: {"net": {f"module.{k}": v for k, v in sd.items()}},
    lambda sd: {f"_orig_mod.{k}": v for k, v in sd.items()},
    lambda sd: {"state_dict": {f"model.{k}": v for k, v in sd.items()}, "pytorch-lightning_version": "2.0"},
    lambda sd: {f"module._orig_mod.{k}": v for k, v in sd.items()},
])
def test_state_dict_containers_and_prefixes(tmp_path, model, wrap):
    path = tmp_path / "c.pt"
    torch.save(wrap(model.state_dict()), path)
    assert _same(load_model(path, SPEC), model)


def test_safetensors_directory_and_torchscript(tmp_path, model):
    folder = tmp_path / "hf"
    folder.mkdir()
    save_file(model.state_dict(), folder / "model.safetensors")
    assert _same(load_model(folder, SPEC), model)
    assert _same(load_model(folder / "model.safetensors", SPEC), model)
    ts = tmp_path / "m.ts"
    torch.jit.save(torch.jit.script(model), ts)
    with pytest.raises(LandscapeError, match="TorchScript archive.*--trust-checkpoint"):
        load_model(ts)  # TorchScript is code: refused unless trusted
    assert isinstance(load_model(ts, trust=True), torch.jit.ScriptModule)  # no --model needed


def test_pickled_module_needs_trust(tmp_path, model):
    path = tmp_path / "whole.pt"
    torch.save(model, path)
    with pytest.raises(LandscapeError, match="--trust-checkpoint"):
        load_model(path, SPEC)
    assert _same(load_model(path, trust=True), model)


@pytest.mark.parametrize("content,match", [
    (None, "does not exist"),
    (b"hello, not a checkpoint", "is a text file, not a checkpoint"),
    (bytes(range(256)) * 4, "not a PyTorch checkpoint"),
    (b"\x89HDF\r\n\x1a\n" + bytes(100), "an HDF5 file"),
])
def test_bad_checkpoint_files(tmp_path, content, match):
    path = tmp_path / "bad.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(LandscapeError, match=match):
        read_checkpoint(path)


def test_key_mismatch_lists_keys(tmp_path, model):
    sd = model.state_dict()
    sd["extra.weight"] = torch.zeros(1)
    del sd["fc.bias"]
    path = tmp_path / "c.pt"
    torch.save(sd, path)
    with pytest.raises(LandscapeError, match=r"1 missing \(fc.bias\), 1 unexpected \(extra.weight\)"):
        load_model(path, SPEC)
    torch.save(tiny_model().state_dict(), path)
    with pytest.raises(LandscapeError, match="shapes do not match"):
        load_model(path, ModelSpec("landscape.models:digits_cnn", '{"width": 8}'))


@pytest.mark.parametrize("spec,match", [
    (ModelSpec(None), "pass --model"),
    (ModelSpec("no_such_module_xyz:f"), "no module named 'no_such_module_xyz'.*path/to/no_such_module_xyz.py:f"),
    (ModelSpec("landscape.models"), "pkg.module:name"),
    (ModelSpec("landscape.models:nothing"), "no attribute"),
    (ModelSpec("landscape.models:__doc__"), "not callable"),
    (ModelSpec("landscape.models:digits_cnn", "{bad json"), "not valid JSON"),
    (ModelSpec("landscape.models:digits_cnn", '{"depth": 3}'), "failed"),
])
def test_bad_model_specs(checkpoint, spec, match):
    with pytest.raises(LandscapeError, match=match):
        load_model(checkpoint, spec)


def test_load_state_for_and_untouched_checkpoint(tmp_path, model, checkpoint):
    raw = torch.load(checkpoint, weights_only=True)["state_dict"]
    copy = {k: v.clone() for k, v in raw.items()}
    m = load_model(checkpoint, SPEC)
    with torch.no_grad():
        m.fc.weight.add_(1.0)
    state = load_state_for(m, checkpoint)
    assert all(torch.equal(state[k], copy[k]) for k in copy)


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
    with pytest.raises(LandscapeError, match=match):
        load_data(DataSpec(source, root="/nonexistent"))


@pytest.mark.parametrize("text,match", [
    ("-1:1", "min:max:num"), ("a:b:c", "numbers"), ("-1:1:0", "at least 1"), ("1:-1:5", "larger than max"),
    ("0:0:3", "min < max"), ("-1:1:1", "one point cannot span"), ("1e308:1.7e308:3", "within"),
])
def test_bad_grid(text, match):
    with pytest.raises(LandscapeError, match=match):
        parse_axis(text, "x")


def test_grid_order_is_rows_of_y():
    g = Grid.linspace((0, 2, 3), (10, 11, 2))
    assert g.shape == (2, 3)
    np.testing.assert_array_equal(g.coords(np.arange(6)), [[0, 10], [1, 10], [2, 10], [0, 11], [1, 11], [2, 11]])
    X, Y = np.meshgrid(g.x, g.y)
    np.testing.assert_array_equal(g.coords(np.arange(6)), np.stack([X.ravel(), Y.ravel()], 1))


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
    with pytest.raises(LandscapeError, match="--download"):
        load_data(DataSpec("cifar10", root=str(tmp_path)))
    (tmp_path / "present").write_text("")
    c = load_data(DataSpec("cifar10", root=str(tmp_path)))
    assert c.x.shape == (6, 3, 32, 32) and c.y.tolist() == list(range(6))
    np.testing.assert_allclose(c.x[0, :, 0, 0], (1 - np.array([0.4914, 0.4822, 0.4465])) / np.array([0.2023, 0.1994, 0.2010]),
                               rtol=1e-5)
    m = load_data(DataSpec("mnist", Split.test, root=str(tmp_path)))
    assert m.x.shape == (4, 1, 28, 28) and np.allclose(m.x, -0.1307 / 0.3081)


def test_a_folder_of_many_checkpoints_lists_a_few_and_says_so(tmp_path):
    for e in range(8):
        torch.save({}, tmp_path / f"epoch_{e}.pt")
    with pytest.raises(LandscapeError, match=r"holds 8 checkpoint files \(epoch_0.pt, .*, …\); name the file"):
        read_checkpoint(tmp_path)
