"""`landscape demo` (landscape/cli/demo.py) end to end."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from landscape import store
from landscape.cli import app

runner = CliRunner()


def ok(args: list[str]) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    return r.output


def test_demo_writes_checkpoints_surfaces_and_figures(tmp_path):
    out = ok(["demo", "--out-dir", str(tmp_path / "demo"), "--epochs", "3"])
    for name in ("epoch_1.pt", "epoch_3.pt", "demo.surface.h5", "demo.trajectory.h5", "demo.interpolation.h5",
                 "demo.contour.png", "demo.surface.png", "demo.trajectory.contour.png", "demo.interpolation.line.png"):
        assert (tmp_path / "demo" / name).exists(), name
    assert "test accuracy" in out
    s = store.read_surface(tmp_path / "demo" / "demo.surface.h5")
    assert s.computed.all() and np.nanmin(s.values["train_loss"]) < 0.5
