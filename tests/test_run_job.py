"""run/job.py: a surface run as one value (`ComputeJob`) and the jobs built from checkpoints
(`trajectory_job`, `interpolation_job`); `template` here serves the plane tests."""

from __future__ import annotations

import pytest
import torch

from conftest import tiny_model
from landscape.inputs.checkpoint import ModelSpec
from landscape.inputs.data import DataSpec
from landscape.errors import LandscapeError, for_cli
from landscape.plane.grid import Grid
from landscape.plane.directions import DirectionSpec, DirType
from landscape.plane.sources import GivenPlane, RandomPlane
from landscape.run.job import interpolation_job, trajectory_job
from landscape.run.job import ComputeJob

SPEC = ModelSpec("landscape.models:digits_cnn", '{"width": 4}')


def template(tmp_path, name="t.h5", **kw):
    return ComputeJob(checkpoint=tmp_path, grid=Grid((0.0,)), model=SPEC, data=DataSpec("digits", samples=48),
                      out=tmp_path / name, **kw)


def test_interpolation_argument_checks(tmp_path):
    pa, pb = tmp_path / "a.pt", tmp_path / "b.pt"
    torch.save(tiny_model(seed=1).state_dict(), pa)
    torch.save(tiny_model(seed=2).state_dict(), pb)
    with pytest.raises(LandscapeError, match="^y needs a third model") as e:
        interpolation_job(template(tmp_path), [pa, pb], None, (-1, 0, 1))
    assert for_cli(e.value.message).startswith("--y needs a third model") and e.value.field == "y"
    with pytest.raises(LandscapeError, match="^resolution") as e:
        interpolation_job(template(tmp_path), [pa, pb, pa], resolution=1)
    assert for_cli(e.value.message).startswith("--resolution")


def test_a_compute_job_takes_only_a_plane_source(tmp_path):
    job = ComputeJob(str(tmp_path / "m.pt"), Grid((0.0,)), str(tmp_path / "s.h5"),
                     plane=RandomPlane(DirectionSpec(DirType.states, seed=4)))
    assert job.checkpoint == tmp_path / "m.pt" and job.out == tmp_path / "s.h5"  # paths, whatever was given
    assert job.spec == DirectionSpec(DirType.states, seed=4)  # the run's direction settings are its plane's
    with pytest.raises(TypeError, match="plane must be a RandomPlane, TargetPlane, FilePlane or GivenPlane, not str"):
        ComputeJob(tmp_path / "m.pt", Grid((0.0,)), tmp_path / "s.h5", plane="random")
    with pytest.raises(TypeError, match="not DirectionSpec"):
        ComputeJob(tmp_path / "m.pt", Grid((0.0,)), tmp_path / "s.h5", plane=DirectionSpec())


def test_trajectory_and_interpolation_jobs_need_their_checkpoints(tmp_path):
    with pytest.raises(LandscapeError, match="a trajectory needs checkpoints") as e:
        trajectory_job(template(tmp_path), [])
    assert e.value.field == "checkpoints"
    with pytest.raises(LandscapeError, match="a trajectory needs checkpoints"):
        trajectory_job(template(tmp_path), [[tmp_path / "a.pt"], []])
    with pytest.raises(LandscapeError, match="interpolate takes two or three checkpoints, got 1") as e:
        interpolation_job(template(tmp_path), [tmp_path / "a.pt"])
    assert e.value.field == "models"


def test_a_line_between_two_models_spans_the_usual_range(tmp_path):
    pa, pb = tmp_path / "a.pt", tmp_path / "b.pt"
    torch.save(tiny_model(seed=1).state_dict(), pa)
    torch.save(tiny_model(seed=2).state_dict(), pb)
    line = interpolation_job(template(tmp_path, plane=RandomPlane(DirectionSpec(DirType.states))), [pa, pb])
    assert line.checkpoint == pa and line.grid.y is None and isinstance(line.plane, GivenPlane)
    assert (line.grid.x[0], line.grid.x[-1], len(line.grid.x)) == (-0.5, 1.5, 41)
    assert line.spec.dir_type == DirType.states and line.out == template(tmp_path).out
