"""run/demo.py: `landscape demo`'s settings, and its run: after training, the surface around the last
epoch, the training path in its PCA plane and the line from the first epoch to the last, each
computed once and drawn by the caller's `draw` (the run never imports plotting). Training and the
grid evaluations are stood in for here (the command-line test runs the whole demo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from landscape.inputs.data import DataSpec
from landscape.models import DigitsCNN
from landscape.plane.directions import DirType
from landscape.plane.grid import Grid
from landscape.plane.sources import GivenPlane, RandomPlane
from landscape.run import demo
from landscape.run.compute import ComputeResult


def test_demo_settings_defaults():
    s = demo.DemoSettings()
    assert s.out_dir == Path("outputs/demo") and s.epochs == 8 and s.seed == 0 and s.trajectory_resolution == 21
    assert s.grid == Grid.linspace((-1, 1, 31), (-1, 1, 31))
    assert demo.DEMO_MODEL == "landscape.models:digits_cnn"


def _stand_ins(tmp_path, monkeypatch):
    """Three epochs' checkpoints instead of training; a record of each computation instead of it."""
    paths = []
    for epoch in (1, 2, 3):
        torch.manual_seed(epoch)
        path = tmp_path / f"epoch_{epoch}.pt"
        torch.save({"state_dict": DigitsCNN().state_dict(), "epoch": epoch, "model": demo.DEMO_MODEL}, path)
        paths.append(path)
    trained, computed = [], []

    def train(settings, on_epoch=None):
        trained.append((settings, on_epoch))
        return paths, 91.5

    def compute(job, progress=None):
        computed.append((job, progress))
        return ComputeResult(job.out, job.grid.size, job.grid.size, 0, 0.0)

    monkeypatch.setattr(demo, "train", train)
    monkeypatch.setattr(demo, "compute", compute)
    return paths, trained, computed


def test_run_demo_computes_three_views_and_leaves_drawing_to_the_caller(tmp_path, monkeypatch):
    paths, trained, computed = _stand_ins(tmp_path, monkeypatch)
    settings = demo.DemoSettings(out_dir=tmp_path, epochs=3, grid=Grid.linspace((-1, 1, 3), (-1, 1, 3)),
                                 trajectory_resolution=4)
    on_epoch = lambda epoch, loss, acc: None  # noqa: E731
    callbacks = {}
    drawn = []

    def draw(path):
        drawn.append(path)
        return [path.with_suffix(".png"), path.with_suffix(".pdf")]

    result = demo.run_demo(settings, on_epoch, progress=lambda name: callbacks.setdefault(name, lambda d, t: None),
                           draw=draw)
    assert trained == [(settings, on_epoch)]
    surface, trajectory, line = (job for job, _ in computed)
    assert [p for _, p in computed] == [callbacks["surface"], callbacks["trajectory"], callbacks["interpolation"]]
    assert [job.out.name for job, _ in computed] == ["demo.surface.h5", "demo.trajectory.h5", "demo.interpolation.h5"]
    assert all(job.out.parent == tmp_path and job.overwrite for job, _ in computed)
    assert all(job.model.factory == demo.DEMO_MODEL and job.data == DataSpec("digits") for job, _ in computed)
    # the surface around the last epoch, in the paper's random plane
    assert surface.checkpoint == paths[-1] and surface.grid == settings.grid and surface.plane == RandomPlane()
    # the training path in its PCA plane, fitted at the demo's resolution
    assert isinstance(trajectory.plane, GivenPlane) and trajectory.plane.directions.kind == "pca"
    assert trajectory.checkpoint == paths[-1] and trajectory.grid.shape == (4, 4)
    assert list(trajectory.plane.directions.tracks["trajectory"].epochs) == [1, 2, 3]
    # the line from the first epoch to the last, the whole state moving (so its ends are those models)
    assert line.checkpoint == paths[0] and line.grid.y is None and line.spec.dir_type == DirType.states
    np.testing.assert_array_equal(line.plane.directions.tracks["models"].x, [0, 1])
    assert drawn == [job.out for job, _ in computed]
    assert result.figures == [p.with_suffix(s) for p in drawn for s in (".png", ".pdf")]
    assert result.checkpoints == paths and result.test_accuracy == 91.5
    assert (result.surface.path, result.trajectory.path, result.interpolation.path) == tuple(drawn)


def test_without_draw_nothing_is_drawn(tmp_path, monkeypatch):
    _stand_ins(tmp_path, monkeypatch)
    settings = demo.DemoSettings(out_dir=tmp_path, epochs=3, grid=Grid.linspace((-1, 1, 2)), trajectory_resolution=2)
    assert demo.run_demo(settings).figures == []
