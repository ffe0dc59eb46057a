"""run/fill.py: the fill loop records an out-of-memory back-off in the file's plan as it
happens, and says times as people say them."""

from __future__ import annotations

import pytest
import torch

from landscape import store
from landscape.cli import app
from landscape.engine import EvalSettings
from landscape.run.fill import duration
from test_run_compute import MODEL, runner


def test_out_of_memory_back_off_is_recorded_in_the_plan(tmp_path, checkpoint, monkeypatch):
    from landscape.engine import pointmodel

    real = pointmodel.PointModel.forward

    def forward(self, tensors, xb, *args):
        if len(xb) > 10:
            raise torch.OutOfMemoryError("injected")
        return real(self, tensors, xb, *args)

    monkeypatch.setattr(pointmodel.PointModel, "forward", forward)
    out = tmp_path / "s.h5"
    r = runner.invoke(app, ["compute", str(checkpoint), *MODEL, "--x", "-1:1:3", "--samples", "30", "--out", str(out),
                            "--device", "cpu"])
    assert r.exit_code == 0 and "batch size 15" in r.output, r.output
    assert store.read_surface(out).plan["batch_size"] == 7
    # killed right after the back-off: the file already says so, and a resume goes on at batch 7
    from landscape import ComputeJob, DataSpec, Grid, ModelSpec, compute

    def killed(done, total):
        if done >= 2:
            raise KeyboardInterrupt

    job = ComputeJob(checkpoint, Grid.linspace((-1, 1, 5)), tmp_path / "k.h5",
                     ModelSpec("landscape.models:digits_cnn", '{"width": 4}'), DataSpec(samples=30),
                     evaluation=EvalSettings(device="cpu"))
    with pytest.raises(KeyboardInterrupt):
        compute(job, progress=killed)
    assert store.read_surface(tmp_path / "k.h5").plan["batch_size"] == 7


def test_duration_as_people_say_it():
    assert [duration(s) for s in (0.4, 40, 89)] == ["0 s", "40 s", "89 s"]
    assert [duration(s) for s in (90, 720, 5399)] == ["2 min", "12 min", "90 min"]
    assert [duration(s) for s in (5400, 12_600, 86_400)] == ["1.5 h", "3.5 h", "24.0 h"]
