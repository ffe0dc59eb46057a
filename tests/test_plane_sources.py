"""plane/sources.py: where a plane comes from: the plane of an earlier file reproduces its surface,
a target plane points at another model; planes that move nothing or are parallel are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import tiny_model
from landscape import store
from landscape.errors import LandscapeError
from landscape.plane.directions import DirectionSpec, Directions, DirType
from landscape.plane.sources import FilePlane, GivenPlane, RandomPlane, TargetPlane, check_plane, directions_of
from landscape.plane.grid import Grid
from landscape.run.compute import compute
from test_run_compute import job


def test_directions_file_and_targets(checkpoint, tmp_path):
    first = tmp_path / "a.h5"
    compute(job(checkpoint, first, plane=RandomPlane(DirectionSpec(seed=3))))
    again = tmp_path / "b.h5"
    compute(job(checkpoint, again, plane=FilePlane(first)))
    np.testing.assert_array_equal(store.read_surface(first).values["train_loss"],
                                  store.read_surface(again).values["train_loss"])
    other = tmp_path / "other.pt"
    from conftest import tiny_model
    torch.save(tiny_model(seed=9).state_dict(), other)
    line = tmp_path / "line.h5"
    compute(job(checkpoint, line, grid=Grid.linspace((0, 1, 2)), plane=TargetPlane(other)))
    s = store.read_surface(line)
    assert s.values["train_loss"].shape == (2,) and s.attrs["dir_kind"] == "target"


def _plane(x, y):
    return Directions({"w": torch.tensor(x)}, None if y is None else {"w": torch.tensor(y)}, DirType.weights, "target")


def test_a_plane_that_is_flat_or_a_line_is_refused():
    assert check_plane(_plane([1.0, 0.0], [0.0, 1.0]), two=True).y is not None
    with pytest.raises(LandscapeError, match="first direction is zero") as e:
        check_plane(_plane([0.0, 0.0], [0.0, 1.0]), two=True)
    assert e.value.field == "x_target"
    with pytest.raises(LandscapeError, match="second direction is zero") as e:
        check_plane(_plane([1.0, 0.0], [0.0, 0.0]), two=True)
    assert e.value.field == "y_target"
    with pytest.raises(LandscapeError, match="the two directions are parallel") as e:
        check_plane(_plane([1.0, 2.0], [-2.0, -4.0]), two=True)
    assert e.value.field == "y_target"
    assert check_plane(_plane([1.0, 2.0], [2.0, 4.0]), two=False).x is not None  # a line: y is not looked at
    with pytest.raises(LandscapeError, match="move no tensor, so the surface would be flat"):
        check_plane(Directions({}, None, DirType.weights, "random"), two=False)


def test_each_source_gives_its_directions(tmp_path, model):
    line = directions_of(RandomPlane(DirectionSpec(seed=1)), model, two=False)
    assert line.kind == "random" and line.y is None
    again = directions_of(RandomPlane(DirectionSpec(seed=1)), model, two=False)
    assert all(torch.equal(line.x[n], again.x[n]) for n in line.x)  # the seed decides
    other = tmp_path / "other.pt"
    torch.save(tiny_model(seed=9).state_dict(), other)
    toward = directions_of(TargetPlane(other), model, two=True)
    assert toward.kind == "target" and toward.labels == ("toward other.pt (θ₂ − θ)", "random direction, filter-normalized")
    theirs = dict(tiny_model(seed=9).named_parameters())
    for n, p in model.named_parameters():
        torch.testing.assert_close(toward.x[n], theirs[n].detach() - p.detach())
    with pytest.raises(LandscapeError, match="y_target needs a 2-D grid") as e:
        directions_of(TargetPlane(other, other), model, two=False)
    assert e.value.field == "y_target"
    with pytest.raises(TypeError, match="read from its file"):
        directions_of(FilePlane(tmp_path / "s.h5"), model, two=True)
    given = directions_of(GivenPlane(toward), model, two=True)
    assert given is toward
