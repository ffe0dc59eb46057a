"""store/surface_file.py: a new surface file (every point missing, its settings, directions and
plan), filled through its journal and merged when the run ends; the plan it records (numbers as
numbers), which `info` shows."""

from __future__ import annotations

import h5py
import numpy as np
import torch
from typer.testing import CliRunner

from landscape import store
from landscape.cli import app
from landscape.plane.directions import DirectionSpec, random_directions
from landscape.plane.grid import Grid
from landscape.store.files import journal_path

MODEL = ["--model", "landscape.models:digits_cnn", "--model-kwargs", '{"width": 4}']
runner = CliRunner()


def test_the_plan_is_in_the_file_and_in_info(tmp_path, checkpoint):
    out = tmp_path / "s.h5"
    r = runner.invoke(app, ["compute", str(checkpoint), *MODEL, "--x", "-1:1:3", "--samples", "30", "--out", str(out),
                            "--quiet", "--device", "cpu", "--batch-size", "7"])
    assert r.exit_code == 0, r.output
    s = store.read_surface(out)
    assert s.plan["batch_size"] == 7 and s.plan["precision"] == "fp32" and s.plan["device"] == "cpu"
    with h5py.File(out) as f:  # numbers as numbers
        assert f["plan"].attrs["batch_size"] == 7 and isinstance(f["plan"].attrs["fold_bn"], (bool, np.bool_))
    r = runner.invoke(app, ["info", str(out)])
    assert "plan batch_size" in r.output and "plan precision" in r.output and "exact, the CPU default" in r.output


def test_a_new_file_fills_through_its_journal(tmp_path, model):
    path = tmp_path / "run" / "s.h5"
    grid = Grid.linspace((-1, 1, 3), (0, 1, 2))
    plane = random_directions(model, DirectionSpec(seed=1))
    store.create(path, grid, ["train_loss", "train_acc"], plane, {"split": "train", "samples": 30},
                 {"norm": "filter", "seed": 1}, {"batch_size": 7, "fold_bn": True})
    assert store.read_settings(path) == {"norm": "filter", "seed": 1}
    s = store.read_surface(path)
    assert s.values["train_loss"].shape == (2, 3) and not s.computed.any() and np.isnan(s.values["train_loss"]).all()
    assert s.plan == {"batch_size": 7, "fold_bn": True} and s.attrs["samples"] == 30
    stored = store.read_directions(path)
    assert stored.names == list(plane.x) and all(torch.equal(stored.y[n], plane.y[n].float()) for n in plane.x)
    with store.Writer(path) as w:
        w.write(np.array([4, 0]), {"train_loss": np.array([2.5, 1.5]), "train_acc": np.array([50.0, 60.0])})
        running = store.read_surface(path)  # a reader applies the journal of a running computation
        assert running.computed.sum() == 2 and running.values["train_loss"][1, 1] == 2.5
        assert journal_path(path).exists()
    assert not journal_path(path).exists()  # merged into the file when the run ends
    s = store.read_surface(path)
    np.testing.assert_array_equal(s.computed, [[True, False, False], [False, True, False]])
    assert s.values["train_loss"][0, 0] == 1.5 and s.values["train_acc"][1, 1] == 50.0
    with h5py.File(path) as f:  # the paper's layout: coordinates as datasets, [row = y, column = x]
        assert list(f["ycoordinates"]) == [0.0, 1.0] and f["train_loss"].shape == (2, 3)
