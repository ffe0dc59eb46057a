"""λmax, λmin and the convexity map |λmin/λmax| at given weights and over a plane, against the
closed form of a cubic (whose Hessian is diag(θ)); the map `compute --eigen-map` asks of its
evaluator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import tiny_data, tiny_model
from landscape.curvature.eigenmap import eigen_map, eigen_map_values, extreme_eigenvalues
from landscape.inputs.objective import batch_loss
from landscape.plane.directions import Directions, DirectionSpec, DirType, random_directions
from test_curvature_operator import single_thread


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    yield from single_thread()


class Cubic(nn.Module):
    """L(θ) = Σ θ_i³ / 6, whose Hessian is diag(θ): indefinite, and different at every point."""

    def __init__(self, theta):
        super().__init__()
        self.theta = nn.Parameter(torch.as_tensor(theta, dtype=torch.float64))


def cubic(model, batch):
    return (model.theta**3).sum() / 6, 1


def test_extreme_eigenvalues_at_given_weights():
    model = Cubic([1.0, 2.0, 3.0]).eval()
    rng = np.random.default_rng(0)
    point = np.concatenate([[-2.5, 7.0], rng.uniform(-2.0, 5.0, 8)])
    model = Cubic(np.zeros(10) + 0.5)
    hi, lo = extreme_eigenvalues(model, [None], cubic, at={"theta": torch.tensor(point)}, steps=10, tol=1e-10)
    assert hi == pytest.approx(7.0, rel=1e-9) and lo == pytest.approx(-2.5, rel=1e-9)
    assert torch.equal(model.theta.detach(), torch.full((10,), 0.5, dtype=torch.float64))


def test_eigen_map_of_a_cubic():
    """At θ + x·d1 + y·d2 the Hessian of Σ θ_i³/6 is diag(θ + x·d1 + y·d2)."""
    rng = np.random.default_rng(1)
    theta, d1, d2 = (torch.tensor(rng.uniform(-1, 1, 6)) for _ in range(3))
    model = Cubic(theta)
    dirs = Directions({"theta": d1}, {"theta": d2}, DirType.weights, "random")
    coords = np.array([[0.0, 0.0], [0.5, -1.0], [-2.0, 1.5]])
    out = eigen_map(model, [None], cubic, dirs, coords, steps=6, tol=1e-12)
    diag = [theta + a * d1 + b * d2 for a, b in coords]
    np.testing.assert_allclose(out["eig_max"], [float(h.max()) for h in diag], rtol=1e-10)
    np.testing.assert_allclose(out["eig_min"], [float(h.min()) for h in diag], rtol=1e-10)
    np.testing.assert_allclose(out["eig_ratio"], np.abs(out["eig_min"] / out["eig_max"]))
    assert torch.equal(model.theta.detach(), theta)


def test_a_point_where_the_loss_diverges_is_nan():
    model = Cubic([1.0, 2.0])
    dirs = Directions({"theta": torch.tensor([1.0, 0.0], dtype=torch.float64)}, None, DirType.weights, "random")
    out = eigen_map(model, [None], cubic, dirs, np.array([[0.0, 0.0], [1e300, 0.0]]), steps=2)
    assert out["eig_max"][0] == pytest.approx(2.0) and np.isnan(out["eig_max"][1]) and np.isnan(out["eig_ratio"][1])


def test_eigen_map_values_from_an_evaluator():
    """`compute --eigen-map` asks the evaluator's model, data, loss and plane."""
    from conftest import make_evaluator

    model, data = tiny_model(), tiny_data(48)
    dirs = random_directions(model, DirectionSpec(seed=1))
    ev = make_evaluator(model, data, dirs)
    coords = np.array([[0.0, 0.0], [0.3, -0.2]])
    got = eigen_map_values(ev, steps=6)(coords)
    want = eigen_map(model, [(data.x, data.y)], batch_loss(F.cross_entropy, classification=True), dirs, coords,
                     steps=6)
    for key in ("eig_max", "eig_min", "eig_ratio"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-4)
    assert got["eig_max"][0] > 0


def test_the_evaluator_gives_its_data_in_the_batches_of_a_hessian_vector_product():
    from conftest import make_evaluator

    model, data = tiny_model(), tiny_data(48)
    ev = make_evaluator(model, data, random_directions(model, DirectionSpec(seed=1)))
    batches = ev.hvp_batches()
    size = ev.plan.hvp_batch or len(data)
    assert [len(y) for _, y in batches] == [min(size, len(data) - s) for s in range(0, len(data), size)]
    assert torch.equal(torch.cat([x for x, _ in batches]), data.x) and all(x.device == ev.device for x, _ in batches)
