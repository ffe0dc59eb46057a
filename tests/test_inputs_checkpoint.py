"""inputs/checkpoint.py: loading models and weights from checkpoints (containers, prefixes,
safetensors, TorchScript and pickled modules only when trusted), and the errors for what does not load."""

from __future__ import annotations

import re

import pytest
import torch
from safetensors.torch import save_file

from conftest import tiny_model
from landscape.inputs.checkpoint import ModelSpec, load_model, load_state_for, read_checkpoint
from landscape.errors import LandscapeError, for_cli

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
    with pytest.raises(LandscapeError, match="TorchScript archive.*trust_checkpoint=True") as e:
        load_model(ts)  # TorchScript is code: refused unless trusted
    assert re.search("TorchScript archive.*--trust-checkpoint", for_cli(e.value.message))
    assert isinstance(load_model(ts, trust=True), torch.jit.ScriptModule)  # no --model needed


def test_pickled_module_needs_trust(tmp_path, model):
    path = tmp_path / "whole.pt"
    torch.save(model, path)
    with pytest.raises(LandscapeError, match="trust_checkpoint=True") as e:
        load_model(path, SPEC)
    assert "--trust-checkpoint" in for_cli(e.value.message)
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
    with pytest.raises(LandscapeError) as e:
        load_model(checkpoint, spec)
    assert re.search(match, for_cli(e.value.message))  # as the command line says it
    assert "--" not in str(e.value)  # a notebook reads argument names, not flags


def test_load_state_for_and_untouched_checkpoint(tmp_path, model, checkpoint):
    raw = torch.load(checkpoint, weights_only=True)["state_dict"]
    copy = {k: v.clone() for k, v in raw.items()}
    m = load_model(checkpoint, SPEC)
    with torch.no_grad():
        m.fc.weight.add_(1.0)
    state = load_state_for(m, checkpoint)
    assert all(torch.equal(state[k], copy[k]) for k in copy)


def test_a_folder_of_many_checkpoints_lists_a_few_and_says_so(tmp_path):
    for e in range(8):
        torch.save({}, tmp_path / f"epoch_{e}.pt")
    with pytest.raises(LandscapeError, match=r"holds 8 checkpoint files \(epoch_0.pt, .*, …\); name the file"):
        read_checkpoint(tmp_path)
