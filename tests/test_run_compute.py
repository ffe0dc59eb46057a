"""run/compute.py: `compute` end to end: the file against a naive loop, non-finite values, the
command line, and bad input refused in one line with no file. `job` here serves other run tests."""

from __future__ import annotations

import re

import h5py
import numpy as np
import torch
from typer.testing import CliRunner

from conftest import naive_loop
from landscape import store
from landscape.run.info import summary
from landscape.inputs.checkpoint import ModelSpec
from landscape.cli import app
from landscape.inputs.data import DataSpec
from landscape.plane.grid import Grid
from landscape.run.compute import compute
from landscape.run.job import ComputeJob

MODEL = ["--model", "landscape.models:digits_cnn", "--model-kwargs", '{"width": 4}']
runner = CliRunner()


def job(checkpoint, out, **kw):
    args = dict(checkpoint=checkpoint, grid=Grid.linspace((-1, 1, 7), (-1, 1, 5)), out=out,
                model=ModelSpec("landscape.models:digits_cnn", '{"width": 4}'), data=DataSpec("digits", samples=64))
    args.update(kw)
    return ComputeJob(**args)


def test_file_layout_matches_naive_loop(checkpoint, tmp_path, model):
    out = tmp_path / "s.h5"
    result = compute(job(checkpoint, out))
    assert result.computed == 35 and result.nonfinite == 0
    s = store.read_surface(out)
    assert s.values["train_loss"].shape == (5, 7) and s.computed.all()
    with h5py.File(out) as f:
        assert list(f["xcoordinates"]) == list(np.linspace(-1, 1, 7))
        assert f.attrs["norm"] == "filter" and f.attrs["ignore"] == "biasbn" and f.attrs["samples"] == 64
        assert len(f.attrs["checkpoint_sha256"]) == 64 and "torch" in f.attrs["versions"]
        assert list(f["xdirection"].attrs["names"])[0] == "conv1.weight"  # a string array, not JSON
        assert not f["xdirection"]["1"][()].any()  # bn1.weight: 1-D, ignored
    dirs = store.read_directions(out)
    from landscape.inputs.data import load_data
    d = load_data(DataSpec("digits", samples=64))
    ref, acc = naive_loop(model, d, dirs, s.grid.coords(np.arange(35)))
    np.testing.assert_allclose(s.values["train_loss"].ravel(), ref, rtol=1e-5)
    np.testing.assert_allclose(s.values["train_acc"].ravel(), acc)
    assert re.search(r"progress +35/35", summary(out))


def test_nonfinite_values_are_stored_and_counted(checkpoint, tmp_path):
    out = tmp_path / "s.h5"
    result = compute(job(checkpoint, out, grid=Grid.linspace((-1e30, 1e30, 3))))
    s = store.read_surface(out)
    assert s.computed.all() and result.nonfinite == 2 and np.isfinite(s.values["train_loss"][1])
    assert "non-finite" in summary(out)


def test_cli_compute_info_and_python_cli(checkpoint, tmp_path):
    out = tmp_path / "cli.h5"
    r = runner.invoke(app, ["compute", str(checkpoint), *MODEL, "--x", "-1:1:3", "--y", "-1:1:3", "--samples", "32",
                            "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["info", str(out)])
    assert r.exit_code == 0 and "9/9 points" in r.output


def _bad(tmp_path, checkpoint):
    module = tmp_path / "pickled.pt"
    torch.save(torch.nn.Linear(2, 2), module)
    notckpt = tmp_path / "notes.pt"
    notckpt.write_text("just text")
    wrong = tmp_path / "wrong.pt"
    torch.save({"a.weight": torch.zeros(2)}, wrong)
    (tmp_path / "emptydata.py").write_text(
        "import torch\ndef d(): return torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.long)\n")
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    np.savez(tmp_path / "labels.npz", x=np.zeros((20, 1, 8, 8), np.float32), y=np.arange(20) % 11)
    np.savez(tmp_path / "scalar.npz", x=np.zeros((20, 1, 8, 8), np.float32), y=np.array(3))
    (tmp_path / "badloss.py").write_text(
        "import torch.nn.functional as F\ndef per_sample(out, y): return F.cross_entropy(out, y, reduction='none')\n")
    (tmp_path / "tuplenet.py").write_text(
        "import torch\nfrom landscape.models import DigitsCNN\n"
        "class Tuple(DigitsCNN):\n    def forward(self, x): return super().forward(x), None\n"
        "def make(): return Tuple(width=4)\n")
    odd = tmp_path / "runs" / "[/v2]"
    odd.mkdir(parents=True)
    c = str(checkpoint)
    return {
        "missing checkpoint": ([str(tmp_path / "nope.pt"), *MODEL], "does not exist"),
        "not a checkpoint": ([str(notckpt), *MODEL], "not a checkpoint"),
        "pickled module": ([str(module)], "--trust-checkpoint"),
        "key mismatch": ([str(wrong), *MODEL], "missing"),
        "model not importable": ([c, "--model", "nosuchpkg.nets:f"], "no module named 'nosuchpkg'"),
        "model not callable": ([c, "--model", "landscape.models:__doc__"], "not callable"),
        "data shape": ([c, *MODEL, "--data", "shapedata:wrong"], "rejects the data"),
        "unknown data": ([c, *MODEL, "--data", "nonsense"], "unknown --data"),
        "grid two parts": ([c, *MODEL, "--x", "-1:1"], "min:max:num"),
        "grid letters": ([c, *MODEL, "--x", "a:b:c"], "numbers"),
        "grid num": ([c, *MODEL, "--x", "-1:1:0"], "at least 1"),
        "grid order": ([c, *MODEL, "--y", "1:-1:3"], "larger than max"),
        "unwritable out": ([c, *MODEL, "--out", str(blocker / "s.h5")], "cannot create output folder"),
        "empty data": ([c, *MODEL, "--data", "emptydata:d"], "empty"),
        "labels out of range": ([c, *MODEL, "--data", str(tmp_path / "labels.npz")], "labels run from 0 to 10"),
        "scalar labels": ([c, *MODEL, "--data", str(tmp_path / "scalar.npz")], "not scalars"),
        "loss per sample": ([c, *MODEL, "--loss", "badloss:per_sample"], "0-d tensor"),
        "missing directions": ([c, *MODEL, "--directions", str(tmp_path / "nope.h5")], "is not a file"),
        "markup in a path": ([str(odd / "m.pt"), *MODEL], "[/v2]"),
        "tuple outputs": ([c, "--model", "tuplenet:make"], "returns a tuple"),
    }


def test_bad_input_one_line_exit_2_no_file(tmp_path, checkpoint, monkeypatch):
    (tmp_path / "shapedata.py").write_text("import torch\ndef wrong(): return torch.zeros(4, 3, 5, 5), torch.arange(4)\n")
    monkeypatch.chdir(tmp_path)
    for name, (args, match) in _bad(tmp_path, checkpoint).items():
        out = tmp_path / "out" / f"{name.replace(' ', '_')}.h5"
        if "--out" not in args:
            args = [*args, "--out", str(out)]
        r = runner.invoke(app, ["compute", *args, "--x", "-1:1:2"] if "--x" not in args else ["compute", *args])
        assert r.exit_code == 2, (name, r.output)
        text = r.output.strip()
        assert match in text and "Traceback" not in text and len(text.splitlines()) <= 2, (name, text)
        assert not out.exists() and not list((tmp_path / "out").glob("*.tmp")) if (tmp_path / "out").exists() else True


def test_notes_name_python_arguments_unless_the_caller_renders_them(checkpoint, tmp_path):
    """A notebook's `on_note` reads argument names (`x auto: ...`), the command line its flags."""
    from landscape.errors import for_cli
    from landscape.plane.grid import AutoRange

    said: list[str] = []
    result = compute(job(checkpoint, tmp_path / "a.h5", grid=AutoRange(nx=3, ny=3)), on_note=said.append)
    assert any(n.startswith("x auto: the loss") for n in said), said
    assert not [n for n in said + result.notes if "‹" in n or "--x" in n]
    flagged: list[str] = []
    compute(job(checkpoint, tmp_path / "b.h5", grid=AutoRange(nx=3, ny=3)), on_note=flagged.append, render=for_cli)
    assert any(n.startswith("--x auto: the loss") for n in flagged), flagged
