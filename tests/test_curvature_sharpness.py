"""ε-sharpness against its closed form on a quadratic, the random-direction rise against a direct
computation, a whole row on a small CNN, and the settings checked where they are built."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import tiny_data, tiny_model
from landscape.curvature.sharpness import (AscentStart, SharpnessSettings, epsilon_sharpness, random_rise,
                                           sharpness)
from landscape.curvature.spectrum import HessianSettings
from landscape.errors import LandscapeError, for_cli
from landscape.inputs.objective import batch_loss
from landscape.plane.directions import DirectionSpec, random_direction, random_directions
from test_curvature_operator import single_thread


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    yield from single_thread()


class Quadratic(nn.Module):
    """f(θ) = ½ Σ a_i θ_i² (as the loss, through an EvalFn)."""

    def __init__(self, theta, a):
        super().__init__()
        self.theta = nn.Parameter(torch.as_tensor(theta, dtype=torch.float64))
        self.register_buffer("a", torch.as_tensor(a, dtype=torch.float64))


def quadratic(model, batch):
    return 0.5 * (model.a * model.theta**2).sum(), 1


def box_max_rise(theta, a, eps):
    """The box max of a convex separable function is at a vertex: each θ_i moves away from 0 by r_i."""
    r = eps * (np.abs(theta) + 1)
    return float(np.sum(a * ((np.abs(theta) + r) ** 2 - theta**2)) / 2)


@pytest.mark.parametrize("eps", [1e-3, 0.5])
@pytest.mark.parametrize("start", [AscentStart.zero, AscentStart.random])
def test_epsilon_sharpness_of_a_quadratic_reaches_the_vertex(eps, start):
    rng = np.random.default_rng(0)
    theta = rng.uniform(0.2, 2.0, 12) * rng.choice([-1, 1], 12)
    a = rng.uniform(0.5, 3.0, 12)
    model = Quadratic(theta, a)
    out = epsilon_sharpness(model, [None], quadratic, epsilon=eps, steps=10, start=start)
    want = box_max_rise(theta, a, eps)
    loss = 0.5 * float(np.sum(a * theta**2))
    assert out.loss == pytest.approx(loss, rel=1e-12)
    assert out.rise == pytest.approx(want, rel=1e-10)
    assert out.phi == pytest.approx(100 * want / (1 + loss), rel=1e-10)  # Keskar et al., eq. 3
    assert torch.equal(model.theta.detach(), torch.as_tensor(theta))


def test_a_zero_start_leaves_coordinates_with_zero_gradient_where_they_are():
    theta, a, eps = np.array([0.0, 1.0, -0.5]), np.array([2.0, 1.0, 1.0]), 0.1
    model = Quadratic(theta, a)
    zero = epsilon_sharpness(model, [None], quadratic, epsilon=eps, start=AscentStart.zero)
    rand = epsilon_sharpness(model, [None], quadratic, epsilon=eps, start=AscentStart.random)
    assert rand.rise == pytest.approx(box_max_rise(theta, a, eps), rel=1e-10)
    assert zero.rise == pytest.approx(box_max_rise(theta, a, eps) - 2.0 * eps**2 / 2, rel=1e-10)


def direct_loss(model, x, y, tensors):
    m = copy.deepcopy(model).eval()
    with torch.no_grad():
        for n, p in m.named_parameters():
            p.copy_(tensors[n])
        return float(F.cross_entropy(m(x), y))


def test_random_rise_equals_a_direct_computation():
    model, data = tiny_model(), tiny_data(64)
    fn = batch_loss(F.cross_entropy, classification=True)
    batches = [(data.x[:40], data.y[:40]), (data.x[40:], data.y[40:])]
    spec = DirectionSpec(seed=3)
    rises = random_rise(model, batches, fn, radius=0.5, count=3, spec=spec)
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    gen = torch.Generator().manual_seed(3)
    l0 = direct_loss(model, data.x, data.y, base)
    want = []
    for _ in range(3):
        d = random_direction(base, spec, gen)
        want.append(direct_loss(model, data.x, data.y, {n: base[n] + 0.5 * d[n] for n in base}) - l0)
    np.testing.assert_allclose(rises, want, rtol=1e-5, atol=1e-6)
    dirs = random_directions(model, spec)  # the first two are a surface's d1 and d2 for the same spec
    assert all(torch.equal(dirs.x[n], random_direction(base, spec, torch.Generator().manual_seed(3))[n]) for n in base)


def test_random_rise_moves_only_the_chosen_tensors():
    model, data = tiny_model(), tiny_data(64)
    fn = batch_loss(F.cross_entropy, classification=True)
    spec, only = DirectionSpec(seed=3), {"fc.weight"}
    assert only <= {n for n, _ in model.named_parameters()}
    rises = random_rise(model, [(data.x, data.y)], fn, radius=0.5, count=2, spec=spec, only=only)
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    gen = torch.Generator().manual_seed(3)
    l0 = direct_loss(model, data.x, data.y, base)
    want = [direct_loss(model, data.x, data.y, {n: base[n] + 0.5 * d[n] for n in base}) - l0
            for d in (random_direction(base, spec, gen, only) for _ in range(2))]
    np.testing.assert_allclose(rises, want, rtol=1e-5, atol=1e-6)
    everything = random_rise(model, [(data.x, data.y)], fn, radius=0.5, count=2, spec=spec)
    assert not np.allclose(rises, everything)


def test_a_whole_row_leaves_the_model_alone():
    model, data = tiny_model(), tiny_data(64)
    fn = batch_loss(F.cross_entropy, classification=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    s = SharpnessSettings(ascent_steps=3, directions=2, radius=0.2,
                          hessian=HessianSettings(top_k=1, max_steps=6, trace=True, probes=3))
    row = sharpness(model, [(data.x, data.y)], fn, s, name="epoch_3")
    assert row.name == "epoch_3" and row.loss > 0 and 0 <= row.accuracy <= 100
    assert row.probes == 3 and row.directions == 2 and row.epsilon == 1e-3
    for v in (row.top_eigenvalue, row.trace, row.trace_stderr, row.eps_sharpness, row.eps_rise, row.random_rise,
              row.random_rise_std):
        assert math.isfinite(v)
    assert row.eps_rise >= 0
    assert not model.training and all(torch.equal(model.state_dict()[k], before[k]) for k in before)


def test_settings_are_checked():
    with pytest.raises(LandscapeError, match="epsilon") as e:
        SharpnessSettings(epsilon=0)
    assert e.value.field == "epsilon" and "--epsilon" in for_cli(e.value.message)
    with pytest.raises(LandscapeError, match="directions") as e:
        SharpnessSettings(directions=-1)
    assert e.value.field == "directions" and "--directions" in for_cli(e.value.message)
    with pytest.raises(LandscapeError, match="ascent_steps") as e:
        SharpnessSettings(ascent_steps=0)
    assert "--ascent-steps" in for_cli(e.value.message)


def test_random_directions_that_move_nothing_are_refused():
    model, data = tiny_model(), tiny_data(16)
    fn = batch_loss(F.cross_entropy, classification=True)
    with pytest.raises(LandscapeError, match=r"directions=0") as e:
        random_rise(model, [(data.x, data.y)], fn, count=1, only={"fc.bias"})
    assert e.value.field == "directions" and "(--directions 0)" in for_cli(e.value.message)
