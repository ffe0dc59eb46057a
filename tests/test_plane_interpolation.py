"""plane/interpolation.py: the line between two models and the plane through three, whose
marked points are exactly those models."""

from __future__ import annotations

import numpy as np
import torch

from conftest import naive_loop, tiny_data, tiny_model
from landscape import store
from landscape.inputs.data import DataSpec
from landscape.plane.directions import DirectionSpec, DirType, random_directions
from landscape.run.job import interpolation_job
from landscape.plane.sources import RandomPlane
from landscape.run.compute import compute
from test_run_job import template


def test_interpolation_endpoints_equal_each_models_loss(tmp_path):
    a, b = tiny_model(seed=1), tiny_model(seed=2)
    pa, pb = tmp_path / "a.pt", tmp_path / "b.pt"
    torch.save(a.state_dict(), pa)
    torch.save(b.state_dict(), pb)
    job = interpolation_job(template(tmp_path, plane=RandomPlane(DirectionSpec(DirType.states))), [pa, pb], (-0.5, 0, 0.5, 1, 1.5))
    s = store.read_surface(compute(job).path)
    data = __import__("landscape").load_data(DataSpec("digits", samples=48))
    own = lambda m: naive_loop(m, data, random_directions(m, two=False), [(0.0, 0.0)])[0][0]  # noqa: E731
    np.testing.assert_allclose(s.values["train_loss"][[1, 3]], [own(a), own(b)], rtol=1e-5)
    np.testing.assert_array_equal(s.tracks["models"].x, [0, 1])
    # with weights only, BatchNorm statistics stay A's: the note says so
    job_w = interpolation_job(template(tmp_path, "w.h5", plane=RandomPlane(DirectionSpec(DirType.weights))), [pa, pb], (0, 1))
    assert "BatchNorm" in job_w.plane.directions.extra["note"]


def test_plane_through_three_models(tmp_path):
    a = tiny_model(seed=1)
    pa, pb, pc = (tmp_path / f"{n}.pt" for n in "abc")
    sd_a = a.state_dict()
    g = torch.Generator().manual_seed(3)
    d1 = {k: torch.randn(v.shape, generator=g) if v.is_floating_point() else v for k, v in sd_a.items()}
    d2 = {k: torch.randn(v.shape, generator=g) if v.is_floating_point() else v for k, v in sd_a.items()}
    params = {n for n, _ in a.named_parameters()}
    torch.save({k: v + d1[k] if k in params else v for k, v in sd_a.items()}, pb)
    torch.save({k: v + 0.3 * d1[k] + d2[k] if k in params else v for k, v in sd_a.items()}, pc)
    torch.save(sd_a, pa)
    job = interpolation_job(template(tmp_path, plane=RandomPlane(DirectionSpec(DirType.weights))), [pa, pb, pc], resolution=5)
    t = job.plane.directions.tracks["models"]
    flat = lambda d: torch.cat([d[n].flatten() for n in sorted(params)]).double()  # noqa: E731
    alpha = float(flat(d2) @ flat(d1) / (flat(d1) @ flat(d1))) + 0.3
    np.testing.assert_allclose(t.x, [0, 1, alpha], atol=1e-5)
    np.testing.assert_allclose(t.y, [0, 0, 1], atol=1e-6)
    s = store.read_surface(compute(job).path)
    assert s.x.min() < 0 and s.x.max() > max(1, alpha) and s.y.max() > 1  # fitted around A, B, C
    # the point (alpha, 1) of the plane is model C itself
    from conftest import make_evaluator
    data = tiny_data()
    ev = make_evaluator(a, data, job.plane.directions)
    c = tiny_model(seed=1)
    c.load_state_dict(torch.load(pc, weights_only=True))
    want = naive_loop(c, data, random_directions(c, two=False), [(0.0, 0.0)])[0]
    np.testing.assert_allclose(ev.evaluate(np.array([[t.x[2], t.y[2]]]))[0], want, rtol=1e-5)
