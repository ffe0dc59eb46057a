"""store/planes.py: the plane of an earlier file matched to a model: the paper's unnamed
direction tensors by position, a Hessian file's eigenvectors unit or scaled to the weights."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from landscape import store
from landscape.choices import Scale
from landscape.cli.flags import FLAGS
from landscape.errors import LandscapeError, for_cli
from landscape.plane.directions import norm
from landscape.store.planes import read_plane
from landscape.store.surface_file import write_direction
from landscape.plane.sources import FilePlane
from landscape.run.compute import compute
from test_run_compute import job


def test_paper_direction_file_is_matched_by_position(checkpoint, tmp_path, model):
    paper = tmp_path / "paper_dirs.h5"
    with h5py.File(paper, "w") as f:  # the paper's code: datasets "0", "1", ... in parameter order, no names
        for group, seed in (("xdirection", 1), ("ydirection", 2)):
            g = f.create_group(group)
            gen = torch.Generator().manual_seed(seed)
            for i, p in enumerate(model.parameters()):
                g.create_dataset(str(i), data=torch.randn(p.shape, generator=gen).numpy() * 0.01)
    out = tmp_path / "s.h5"
    compute(job(checkpoint, out, plane=FilePlane(paper)))
    dirs = store.read_directions(out)
    assert dirs.names[0] == "conv1.weight"
    with h5py.File(paper) as f:
        np.testing.assert_array_equal(dirs.y["fc.bias"].numpy(), f["ydirection"][str(len(dirs.names) - 1)][()])


def _hessian_like(path, model, two=True, kind="hessian"):
    """A file laid out as the Hessian file's top eigenvectors: unit vectors over the parameters."""
    g = torch.Generator().manual_seed(0)
    with h5py.File(path, "w") as f:
        f.attrs["dir_kind"] = kind
        f.attrs["dir_type"] = "weights"
        for group in ("xdirection", "ydirection")[: 2 if two else 1]:
            d = {n: torch.randn(p.shape, generator=g) for n, p in model.named_parameters()}
            length = torch.sqrt(sum((t**2).sum() for t in d.values()))
            write_direction(f.create_group(group), {n: t / length for n, t in d.items()})
    return path


def test_hessian_eigenvectors_unit_or_scaled_to_the_weights(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    path = _hessian_like(tmp_path / "h.h5", model)
    theta = float(torch.sqrt(sum((p.detach().double() ** 2).sum() for p in model.parameters())))
    unit = read_plane(path, model)
    assert unit.kind == "hessian" and unit.extra["scale"] == "unit norm" and "unit norm" in unit.extra["note"]
    assert norm(unit.x) == pytest.approx(1.0, rel=1e-6) and norm(unit.y) == pytest.approx(1.0, rel=1e-6)
    scaled = read_plane(path, model, scale=Scale.weights)
    assert scaled.extra["scale"] == "to the norm of the weights" and "scaled to |θ|" in scaled.extra["note"]
    assert norm(scaled.x) == pytest.approx(theta, rel=1e-6) and norm(scaled.y) == pytest.approx(theta, rel=1e-6)
    for n in unit.x:
        torch.testing.assert_close(scaled.x[n], unit.x[n] * theta)
    assert read_plane(path, model, two=False).y is None


def test_read_plane_refusals_name_their_argument(tmp_path):
    model = torch.nn.Linear(3, 2)
    with pytest.raises(LandscapeError, match="^path '.*nope.h5' is not a file") as e:
        read_plane(tmp_path / "nope.h5", model)
    assert e.value.field == "path"
    line = _hessian_like(tmp_path / "line.h5", model, two=False)
    with pytest.raises(LandscapeError, match="holds one direction; omit y") as e:
        read_plane(line, model)
    assert e.value.field == "path"
    surface = _hessian_like(tmp_path / "file.h5", model, kind="random")
    assert read_plane(surface, model).kind == "file"
    with pytest.raises(LandscapeError, match="scale applies to a Hessian file") as e:
        read_plane(surface, model, scale=Scale.weights)
    assert e.value.field == "scale" and "--direction-scale" in for_cli(e.value.message, FLAGS)
    with pytest.raises(LandscapeError, match="path"):
        read_plane(line, torch.nn.Linear(4, 2), two=False)  # made for another architecture
