"""What users of the existing tools ask for: their own evaluation function, parameter subsets,
several runs on one plane, a time estimate and a dry run, an automatic range, one-call notebook use."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from typer.testing import CliRunner

import landscape as ls
from conftest import naive_loop, tiny_model
from landscape import store
from landscape.cli import app
from landscape.errors import LandscapeError

MODEL = ["--model", "landscape.models:digits_cnn", "--model-kwargs", '{"width": 4}']
runner = CliRunner()

LM_MODULE = '''
import torch
import torch.nn.functional as F
from torch import nn

VOCAB, CTX = 13, 8


class TinyLM(nn.Module):
    """A one-block causal transformer language model: input_ids -> next-token logits."""

    def __init__(self, d=16):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, d)
        self.pos = nn.Parameter(torch.randn(CTX, d) * 0.1)
        self.block = nn.TransformerEncoderLayer(d, 2, 32, dropout=0.0, batch_first=True)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, VOCAB)

    def forward(self, input_ids, attention_mask=None):
        t = input_ids.shape[1]
        mask = torch.triu(torch.full((t, t), float("-inf")), diagonal=1)
        h = self.block(self.emb(input_ids) + self.pos[:t], src_mask=mask)
        return self.head(self.norm(h))


def make():
    torch.manual_seed(0)
    return TinyLM()


def batches():
    g = torch.Generator().manual_seed(1)
    return [{"input_ids": torch.randint(0, VOCAB, (4, CTX), generator=g)} for _ in range(3)]


def lm_loss(model, batch):
    ids = batch["input_ids"]
    logits = model(ids, attention_mask=torch.ones_like(ids))
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), ids[:, 1:].reshape(-1), reduction="sum")
    return loss, ids[:, 1:].numel()
'''


@pytest.fixture
def lm(tmp_path, monkeypatch):
    (tmp_path / "tinylm.py").write_text(LM_MODULE)
    monkeypatch.chdir(tmp_path)
    import importlib
    import sys

    from landscape.inputs.importing import user_code_importable

    user_code_importable()
    sys.modules.pop("tinylm", None)
    module = importlib.import_module("tinylm")
    model = module.make().eval()
    torch.save(model.state_dict(), tmp_path / "lm.pt")
    return module, model


def plain_lm_loop(model, batches, fn, directions, coords):
    """The plain reference: weights written into a copy, every batch, loss sum over token count."""
    m = copy.deepcopy(model).eval()
    params = dict(m.named_parameters())
    base = {k: v.detach().clone() for k, v in params.items()}
    out = []
    with torch.no_grad():
        for a, b in coords:
            for k, p in params.items():
                p.copy_(base[k] + a * directions.x[k] + (b * directions.y[k] if directions.y is not None else 0))
            total, count = 0.0, 0
            for batch in batches:
                s, n = fn(m, batch)
                total, count = total + float(s), count + int(n)
            out.append(total / count)
    return np.array(out)


def test_own_evaluation_function_on_a_language_model(lm, tmp_path):
    module, model = lm
    batches = module.batches()
    plane = ls.random_directions(model, ls.DirectionSpec(seed=2))
    grid = ls.Grid.linspace((-0.5, 0.5, 3), (-0.5, 0.5, 2))
    surface = ls.evaluate(model, batches, plane, grid, eval=module.lm_loss)
    want = plain_lm_loop(model, batches, module.lm_loss, plane, grid.coords(np.arange(grid.size)))
    np.testing.assert_allclose(surface.values["train_loss"].ravel(), want, rtol=1e-5)
    # the same from the command line: --eval, dict batches from a factory
    out = tmp_path / "lm.h5"
    r = runner.invoke(app, ["compute", str(tmp_path / "lm.pt"), "--model", "tinylm:make", "--data", "tinylm:batches",
                            "--eval", "tinylm:lm_loss", "--x", "-0.5:0.5:3", "--y", "-0.5:0.5:2", "--seed", "2",
                            "--out", str(out),
                            "--quiet", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    s = store.read_surface(out)
    np.testing.assert_allclose(s.values["train_loss"].ravel(), want, rtol=1e-5)
    assert "train_acc" not in s.values and s.plan["batch_size"] == 0 and s.attrs["loss"] == "--eval tinylm:lm_loss"


def test_evaluation_function_errors_are_one_line(lm, tmp_path):
    (tmp_path / "badeval.py").write_text("def wrong(model, batch): return 3.0\n")
    r = runner.invoke(app, ["compute", str(tmp_path / "lm.pt"), "--model", "tinylm:make", "--data", "tinylm:batches",
                            "--eval", "badeval:wrong", "--x", "-1:1:2", "--out", str(tmp_path / "x.h5")])
    assert r.exit_code == 2 and "must return (loss sum, count)" in r.output, r.output
    r = runner.invoke(app, ["compute", str(tmp_path / "lm.pt"), "--model", "tinylm:make", "--data", "tinylm:batches",
                            "--x", "-1:1:2", "--out", str(tmp_path / "x.h5")])
    assert r.exit_code == 2 and "give --eval" in r.output, r.output


def test_directions_on_a_subset_of_parameters(checkpoint, tmp_path, model):
    plane = ls.random_directions(model, ls.DirectionSpec(seed=1, select=ls.ParamSelection(r"^conv2\.")))
    full = ls.random_directions(model, ls.DirectionSpec(seed=1))
    for name in plane.x:
        if name.startswith("conv2."):
            assert torch.equal(plane.x[name], full.x[name])  # the chosen ones: filter-normalized as before
        else:
            assert not plane.x[name].any() and not plane.y[name].any()
    out = tmp_path / "sub.h5"
    r = runner.invoke(app, ["compute", str(checkpoint), *MODEL, "--params", "^conv2", "--x", "-1:1:3", "--samples", "30",
                            "--out", str(out), "--quiet", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert store.read_surface(out).attrs["subset"] == "matching '^conv2'"
    assert "matching '^conv2'" in runner.invoke(app, ["info", str(out)]).output
    r = runner.invoke(app, ["compute", str(checkpoint), *MODEL, "--params", "lora_", "--x", "-1:1:3",
                            "--out", str(tmp_path / "none.h5")])
    assert r.exit_code == 2 and "no parameter is matching 'lora_'" in r.output and "conv1.weight" in r.output


def test_trainable_only(model):
    frozen = copy.deepcopy(model)
    for name, p in frozen.named_parameters():
        p.requires_grad_(name.startswith("fc."))
    plane = ls.random_directions(frozen, ls.DirectionSpec(seed=3, select=ls.ParamSelection(trainable_only=True)))
    assert plane.moving() == ["fc.weight"]  # fc.bias is 1-D: ignored as biases are


def _run_dirs(tmp_path: Path) -> tuple[list[Path], np.ndarray, float]:
    """Two runs whose checkpoints lie in a known plane around the final model, except one that
    leaves it by a known amount."""
    final = tiny_model()
    names = [n for n, p in final.named_parameters() if p.dim() > 1]
    sizes = [dict(final.named_parameters())[n].numel() for n in names]
    q, _ = torch.linalg.qr(torch.randn(sum(sizes), 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    coords = {"seed1": [(-2.0, 0.0, 0.0), (-1.0, -1.0, 0.0), (0.0, 0.0, 0.0)],
              "seed2": [(2.0, 0.0, 0.0), (1.0, 1.0, 0.5), (0.5, 0.5, 0.0)]}
    folders = []
    for run, points in coords.items():
        folder = tmp_path / run
        folder.mkdir()
        for k, (a, b, c) in enumerate(points):
            sd = {key: v.clone() for key, v in final.state_dict().items()}
            flat = a * q[:, 0] + b * q[:, 1] + c * q[:, 2]
            for n, part in zip(names, torch.split(flat, sizes)):
                sd[n] = sd[n] + part.view(sd[n].shape).float()
            torch.save({"state_dict": sd, "epoch": k + 1}, folder / f"epoch_{k + 1}.pt")
        folders.append(folder)
    # the residuals, independently: PCA of the 3-D coordinates (the directions are orthonormal), each
    # checkpoint's displacement from the final model against its part in the top-two plane
    r = np.array(coords["seed1"] + coords["seed2"])
    _, _, vt = np.linalg.svd(r - r.mean(0))
    on = r @ vt[:2].T
    norms = np.linalg.norm(r, axis=1)
    residual = np.where(norms > 0, np.sqrt(np.clip(norms**2 - (on**2).sum(1), 0, None)) / np.where(norms > 0, norms, 1), 0)
    return folders, q.numpy(), residual


def test_several_runs_on_one_plane_with_residuals(tmp_path):
    folders, _, expected = _run_dirs(tmp_path)
    out = tmp_path / "runs.h5"
    r = runner.invoke(app, ["trajectory", *map(str, folders), *MODEL, "--samples", "30", "--resolution", "4",
                            "--out", str(out), "--quiet", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    s = store.read_surface(out)
    track = s.tracks["trajectory"]
    assert track.run_names == ["seed1", "seed2"] and track.run.tolist() == [0, 0, 0, 1, 1, 1]
    np.testing.assert_allclose(track.residual, expected, atol=1e-4)
    assert track.residual[4] > 0.1  # the checkpoint that leaves the plane shows it
    import h5py
    with h5py.File(out) as f:  # the paper's layout too, numbers as numbers
        assert f["trajectory/projection_residual"].shape == (6,) and f["explained_variance_ratio_"].shape == (2,)
        assert f["proj_xcoord"].shape == (3,)
    text = " ".join(runner.invoke(app, ["info", str(out)]).output.split())
    assert "seed1 (3 checkpoints), seed2 (3 checkpoints)" in text and "off plane" in text


def test_time_estimate_before_a_long_grid(checkpoint, tmp_path, monkeypatch):
    from landscape.run import fill

    monkeypatch.setattr(fill, "FORECAST_FROM", 0.0)  # any grid counts as long
    notes = []
    ls.compute(ls.ComputeJob(checkpoint, ls.Grid.linspace((-1, 1, 6), (-1, 1, 6)), tmp_path / "s.h5",
                             ls.ModelSpec("landscape.models:digits_cnn", '{"width": 4}'), ls.DataSpec(samples=100),
                             evaluation=ls.EvalSettings(device="cpu")), on_note=notes.append)
    assert any(re.search(r"ms a point: about .* for the [\d,]+ points left", n) for n in notes), notes


def test_automatic_range_reaches_the_rise(checkpoint, tmp_path):
    out = tmp_path / "auto.h5"
    r = runner.invoke(app, ["compute", str(checkpoint), *MODEL, "--x", "auto:5", "--y", "auto:3", "--rise", "3",
                            "--samples", "40", "--out", str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    s = store.read_surface(out)
    assert s.attrs["auto_rise"] == 3 and len(s.x) == 5 and len(s.y) == 3
    rx = s.attrs["auto_radius_x"]
    assert s.x[0] == pytest.approx(-rx) and s.x[-1] == pytest.approx(rx)
    centre = store.center_value(s, s.values["train_loss"])
    edges = s.values["train_loss"][1, [0, -1]]  # (±rx, 0)
    assert edges.max() >= 3 * centre * 0.999  # the worse side reaches the rise
    from conftest import make_evaluator
    dirs = store.read_directions(out)
    half, _ = make_evaluator(ls.load_model(checkpoint, ls.ModelSpec("landscape.models:digits_cnn", '{"width": 4}')),
                             ls.load_data(ls.DataSpec(samples=40)), dirs).evaluate(np.array([[rx / 2, 0], [-rx / 2, 0]]))
    assert half.max() < 3 * centre  # the range is not wider than it needs
    assert "--x auto: the loss rises 3×" in " ".join(r.output.split())
    again = runner.invoke(app, ["compute", str(checkpoint), *MODEL, "--x", "auto:5", "--y", "auto:3", "--rise", "3",
                                "--samples", "40", "--out", str(out), "--device", "cpu"])
    assert again.exit_code == 0 and "0 points computed" in " ".join(again.output.split())  # resumes, no new search


class Unseen(nn.Module):
    """A model the library never saw: GELU, LayerNorm, a residual, no BatchNorm."""

    def __init__(self):
        super().__init__()
        self.inp, self.norm, self.mid, self.out = nn.Linear(5, 12), nn.LayerNorm(12), nn.Linear(12, 12), nn.Linear(12, 3)

    def forward(self, x):
        h = F.gelu(self.inp(x))
        return self.out(h + self.mid(self.norm(h)))


def test_notebook_api_in_one_call():
    torch.manual_seed(0)
    model = Unseen().train()  # left in train mode on purpose: evaluate uses eval mode and restores nothing it did not touch
    x, y = torch.randn(50, 5), torch.randint(0, 3, (50,))
    plane = ls.random_directions(model, ls.DirectionSpec(seed=4))
    grid = ls.Grid.linspace((-1, 1, 4), (-1, 1, 3))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    surface = ls.evaluate(model, (x, y), plane, grid, loss=F.cross_entropy)
    assert isinstance(surface, ls.Surface) and surface.values["train_loss"].shape == (3, 4) and model.training
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    ref, acc = naive_loop(model, ls.TensorData(x, y), plane, grid.coords(np.arange(grid.size)))
    np.testing.assert_allclose(surface.values["train_loss"].ravel(), ref, rtol=1e-5)
    np.testing.assert_allclose(surface.values["train_acc"].ravel(), acc)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    again = ls.evaluate(model, loader, plane, grid)  # a DataLoader, the default loss
    np.testing.assert_allclose(again.values["train_loss"], surface.values["train_loss"], rtol=1e-6)
    from landscape import plot
    fig = plot.draw(surface, "contour")
    assert fig.axes[0].get_xlabel().startswith("random direction")
    with pytest.raises(LandscapeError):
        ls.evaluate(model, "not data", plane, grid)


def test_the_readme_python_example_runs():
    """The README's one-call example, exactly as printed there."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("## In Python", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["loss"].shape == (21, 21) and namespace["fig"].axes


def test_the_readme_figure_example_runs(checkpoint, tmp_path, monkeypatch):
    """The README's notebook figures, exactly as printed there, on a file computed first."""
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    ls.compute(ls.ComputeJob(checkpoint, ls.Grid.linspace((-1, 1, 5), (-1, 1, 4)), "outputs/model.surface.h5",
                             ls.ModelSpec("landscape.models:digits_cnn", '{"width": 4}'), ls.DataSpec(samples=40)))
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("## Figures", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    drawn = namespace["drawn"]
    assert isinstance(drawn, ls.plot.Drawing) and drawn.artist is not None and drawn.contour_labels
    assert len(namespace["fig"].axes) >= 2  # both panels (and their colorbars) in the caller's figure
    import matplotlib.pyplot as plt

    plt.close("all")


def test_model_spec_takes_a_dict_as_a_notebook_user_writes_it():
    spec = ls.ModelSpec("landscape.models:digits_cnn", {"width": 4})
    assert spec.kwargs_dict() == {"width": 4} and spec == ls.ModelSpec("landscape.models:digits_cnn", '{"width": 4}')
    for bad in ({"width": object()}, 4):
        with pytest.raises(LandscapeError, match="model kwargs"):
            ls.ModelSpec("landscape.models:digits_cnn", bad)
