"""ε-sharpness against its closed form on a quadratic, the random-direction rise against a direct
computation, a whole row on a small CNN, and the table files."""

from __future__ import annotations

import copy
import csv
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import tiny_data, tiny_model
from landscape.plane.directions import DirectionSpec, random_direction, random_directions
from landscape.errors import LandscapeError
from landscape.curvature.hessian import HessianSettings
from landscape.inputs.objective import batch_loss
from landscape.curvature.sharpness import (
    AscentStart, SharpnessRow, SharpnessSettings, _pm, epsilon_sharpness, random_rise, sharpness, write_table,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from threads; on a busy 2-core machine two threads contend."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
    with pytest.raises(LandscapeError, match="epsilon"):
        SharpnessSettings(epsilon=0)
    with pytest.raises(LandscapeError, match="directions"):
        SharpnessSettings(directions=-1)


def rows():
    common = dict(epsilon=1e-3, radius=0.1, directions=10, probes=100)
    return [
        SharpnessRow("small_batch", 0.0123456, 99.5, 12.3456, 1234.5678, 12.345, eps_sharpness=0.5678,
                     eps_rise=0.0057, random_rise=0.012345, random_rise_std=0.00067, **common),
        SharpnessRow("large|batch", 0.2, 97.25, 345.6, 123456.0, 2345.0, eps_sharpness=12.5, eps_rise=0.15,
                     random_rise=2.5e-5, random_rise_std=1e-6, **common),
    ]


def test_table_files(tmp_path):
    paths = write_table(rows(), tmp_path / "tables" / "sharp")
    assert [p.name for p in paths] == ["sharp.csv", "sharp.md", "sharp.tex"]
    csv_path, md_path, tex_path = paths

    with open(csv_path, newline="", encoding="utf-8") as f:
        back = list(csv.DictReader(f))
    assert list(back[0]) == ["checkpoint", "loss", "accuracy (%)", "top eigenvalue", "trace", "trace stderr",
                             "ε-sharpness (ε=0.001)", "loss rise in ε-box (ε=0.001)", "random rise (r=0.1, N=10)",
                             "random rise (r=0.1, N=10) std"]
    for got, want in zip(back, rows()):
        assert got["checkpoint"] == want.name
        assert float(got["trace"]) == want.trace and float(got["trace stderr"]) == want.trace_stderr
        assert float(got["ε-sharpness (ε=0.001)"]) == want.eps_sharpness
        assert float(got["random rise (r=0.1, N=10) std"]) == want.random_rise_std

    md = md_path.read_text(encoding="utf-8").splitlines()
    assert md[0].startswith("| checkpoint | loss |") and md[0].endswith("|")
    assert md[1].startswith("| --- | ---: |")
    assert len(md) == 4 and all(line.count(" | ") == md[0].count(" | ") for line in md)
    assert "1235 ± 12" in md[2] and "123500 ± 2300" in md[3] and "large\\|batch" in md[3]

    tex = tex_path.read_text(encoding="utf-8")
    for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}{lrrrrrrr}", r"\end{tabular}"):
        assert rule in tex
    assert r"small\_batch" in tex and r"large\textbar{}batch" in tex
    assert r"$\varepsilon$-sharpness" in tex and r"1235 $\pm$ 12" in tex
    assert r"$2.50\times 10^{-5}$ $\pm$ $1.0\times 10^{-6}$" in tex


def test_rounding_of_values_with_errors():
    assert _pm(1234.5678, 12.345) == ("1235", "12")
    assert _pm(0.5, 0.0123) == ("0.500", "0.012")
    assert _pm(123456.0, 2345.0) == ("123500", "2300")
    assert _pm(3.0, float("nan")) == ("3", "")
    assert _pm(2.5e-5, 1e-6) == ("2.50e-05", "1.0e-06")


def test_rows_measured_differently_do_not_share_a_table(tmp_path):
    a, b = rows()
    b.epsilon = 1e-2
    with pytest.raises(LandscapeError, match="different"):
        write_table([a, b], tmp_path / "t")
