"""Hessian eigenpairs, trace, density and per-tensor blocks against closed forms; HVPs against
finite differences of gradients; the Hessian file against the surface file's reader."""

from __future__ import annotations

import copy

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import tiny_data, tiny_model
from landscape import store
from landscape.errors import LandscapeError
from landscape.plane.directions import Directions, DirectionSpec, DirType, random_directions
from landscape.curvature.hessian import (
    HessianOperator, HessianSettings, HvpMode, eigen_map, eigen_map_values, extreme_eigenvalues, hessian, hutchinson,
    read_hessian, write_hessian,
)
from landscape.inputs.objective import batch_loss, mse


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from threads, and on a busy 2-core machine two threads per
    process contend badly (an HVP went from 17 to 80+ ms)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def sum_squares(model, batch):
    """Σ (f(x) − y)² and the count: with the mean taken over samples, H = 2 XᵀX / n."""
    x, y = batch
    return ((model(x) - y) ** 2).sum(), x.shape[0]


def least_squares(eigenvalues=None, n=48, d=10, seed=0, dtype=torch.float64):
    """(model, batches, H) for bias-free linear least squares; with `eigenvalues`, X is built so
    that H = 2 XᵀX / n has exactly those, else X is random and correlated."""
    g = torch.Generator().manual_seed(seed)
    if eigenvalues is None:
        x = torch.randn(n, d, generator=g, dtype=torch.float64) @ torch.randn(d, d, generator=g, dtype=torch.float64)
    else:
        lam = torch.as_tensor(eigenvalues, dtype=torch.float64)
        d = len(lam)
        u, _ = torch.linalg.qr(torch.randn(n, d, generator=g, dtype=torch.float64))
        v, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
        x = (n / 2) ** 0.5 * u @ torch.diag(lam.sqrt()) @ v.T
    y = torch.randn(n, 1, generator=g, dtype=torch.float64)
    torch.manual_seed(seed)
    model = nn.Linear(d, 1, bias=False).to(dtype).eval()
    x, y = x.to(dtype), y.to(dtype)
    batches = [(x[:20], y[:20]), (x[20:], y[20:])]  # two batches of different sizes
    h = (2 * x.double().T @ x.double() / n).numpy()
    return model, batches, h


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_unchanged(model, before, training=False):
    after = model.state_dict()
    assert list(after) == list(before)
    for k in before:
        assert torch.equal(after[k], before[k]), k
    assert model.training == training
    assert all(m.training == training for m in model.modules())


# ------------------------------------------------------------------------------- eigenpairs


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_top_eigenpairs_match_eigh(dtype):
    model, batches, h = least_squares(dtype=dtype)
    fn = sum_squares if dtype == torch.float64 else batch_loss(mse)  # the library's MSE: batch mean × n
    r = hessian(model, batches, fn, HessianSettings(top_k=5, tol=1e-6))
    w, u = np.linalg.eigh(h)
    w, u = w[::-1], u[:, ::-1]
    np.testing.assert_allclose(r.eigenvalues, w[:5], rtol=1e-5)
    assert r.smallest_ritz <= r.eigenvalues[-1]
    for i, vec in enumerate(r.eigenvectors):
        assert list(vec) == ["weight"]
        y = vec["weight"].double().numpy().ravel()
        assert abs(np.linalg.norm(y) - 1) < 1e-5
        assert abs(abs(y @ u[:, i]) - 1) < 1e-5  # equal up to sign
    assert r.converged and r.lanczos_steps <= 10


def test_lanczos_stops_when_the_top_converges():
    """A spectrum like a network's: three outliers over a bulk; the top three converge long
    before the dimension, and the residual check is what stops Lanczos."""
    rng = np.random.default_rng(0)
    lam = np.concatenate([[100.0, 50.0, 25.0], rng.uniform(0.0, 1.0, 77)])
    model, batches, h = least_squares(lam, n=120)
    r = hessian(model, batches, sum_squares, HessianSettings(top_k=3, tol=1e-6))
    assert r.converged and r.lanczos_steps < 40
    np.testing.assert_allclose(r.eigenvalues, [100.0, 50.0, 25.0], rtol=1e-8)
    assert np.all(r.residuals <= 1e-6 * 100.0)


def test_eigenvectors_cover_every_parameter_and_subset_is_respected():
    model, batches, h = least_squares()
    d = model.in_features
    model = nn.Linear(d, 1).double().eval()  # with a bias, left out of the Hessian
    r = hessian(model, batches, sum_squares, HessianSettings(top_k=2, params=("weight",), tol=1e-8))
    assert r.params == ("weight",)
    np.testing.assert_allclose(r.eigenvalues, np.linalg.eigh(h)[0][::-1][:2], rtol=1e-6)
    for vec in r.eigenvectors:
        assert list(vec) == ["weight", "bias"]
        assert torch.count_nonzero(vec["bias"]) == 0
    with pytest.raises(LandscapeError, match="no parameter 'nope'"):
        hessian(model, batches, sum_squares, HessianSettings(params=("nope",)))


def test_repeated_eigenvalues_are_all_found():
    """A rank-2 Hessian with top-4 asked: the Krylov space of one start vector is invariant
    after 3 steps; restarting finds the zero eigenvalue's other copies."""
    model, batches, _ = least_squares([9.0, 4.0, 0.0, 0.0, 0.0])
    r = hessian(model, batches, sum_squares, HessianSettings(top_k=4, tol=1e-8))
    np.testing.assert_allclose(r.eigenvalues, [9.0, 4.0, 0.0, 0.0], atol=1e-7)


# ------------------------------------------------------------------------------- trace


def test_hutchinson_error_shrinks_like_one_over_sqrt_probes():
    model, batches, h = least_squares(d=12)
    true = float(np.trace(h))
    op = HessianOperator(model, batches, sum_squares, vectors_per_pass=16)

    def mean_error(probes):
        return np.mean([abs(hutchinson(op, probes, seed=s).value - true) for s in range(24)])

    ratio = mean_error(16) / mean_error(256)
    assert 2.4 < ratio < 7.0, ratio  # √(256/16) = 4
    for s in range(3):
        t = hutchinson(op, 256, seed=s)
        assert t.probes == 256 and abs(t.value - true) <= 3 * t.stderr


def test_trace_tolerance_stops_early():
    model, batches, h = least_squares(d=12)
    r = hessian(model, batches, sum_squares,
                HessianSettings(top_k=1, trace=True, probes=2000, trace_rtol=0.05, vectors_per_pass=8))
    assert 10 <= r.probes < 2000
    assert r.trace_stderr <= 0.05 * abs(r.trace)
    assert abs(r.trace - np.trace(h)) <= 4 * r.trace_stderr


# ------------------------------------------------------------------------------- density


def test_density_integrates_to_one_with_mass_at_the_eigenvalues():
    lam = np.array([1.0, 3.0, 5.0, 8.0, 12.0, 20.0])
    model, batches, _ = least_squares(lam)
    s = HessianSettings(top_k=1, density=True, density_runs=4, density_steps=6, density_sigma=0.01, density_points=4001)
    r = hessian(model, batches, sum_squares, s)
    grid, dens = r.density_grid, r.density
    assert np.trapezoid(dens, grid) == pytest.approx(1.0, abs=1e-9)
    sigma = 0.01 * (lam.max() - lam.min())
    step = grid[1] - grid[0]
    peaks = grid[1:-1][(dens[1:-1] > dens[:-2]) & (dens[1:-1] > dens[2:])]
    assert len(peaks) == len(lam)
    np.testing.assert_allclose(peaks, lam, atol=2 * step)
    masses = [np.trapezoid(dens[np.abs(grid - x) < 5 * sigma], grid[np.abs(grid - x) < 5 * sigma]) for x in lam]
    assert sum(masses) == pytest.approx(1.0, abs=1e-3)  # nothing between the eigenvalues
    assert min(masses) > 0.02  # every eigenvalue carries weight (1/6 on average over starts)


# ------------------------------------------------------------------------------- per tensor


def test_per_layer_blocks():
    """Least squares with a bias: the weight block is 2XᵀX/n, the bias block is exactly 2."""
    model, batches, h = least_squares()
    d = model.in_features
    torch.manual_seed(1)
    model = nn.Linear(d, 1).double().eval()
    r = hessian(model, batches, sum_squares,
                HessianSettings(top_k=1, per_layer=True, probes=400, vectors_per_pass=8, per_layer_steps=d, tol=1e-8))
    rows = {row.name: row for row in r.per_layer}
    assert list(rows) == ["weight", "bias"] and rows["weight"].size == d and rows["bias"].size == 1
    assert rows["weight"].top_eigenvalue == pytest.approx(np.linalg.eigh(h)[0][-1], rel=1e-8)
    assert rows["bias"].top_eigenvalue == pytest.approx(2.0, rel=1e-10)
    assert abs(rows["weight"].trace - np.trace(h)) <= 4 * rows["weight"].trace_stderr
    assert abs(rows["bias"].trace - 2.0) <= 4 * rows["bias"].trace_stderr
    assert r.trace == pytest.approx(rows["weight"].trace + rows["bias"].trace)


# ------------------------------------------------------------------------------- HVPs


def cross_entropy_sum(model, batch):
    x, y = batch
    return F.cross_entropy(model(x), y, reduction="sum"), y.shape[0]


def gradient(model, batches, theta):
    """The gradient of the mean loss by plain autograd on a copy holding the weights `theta`."""
    m = copy.deepcopy(model)
    with torch.no_grad():
        for n, p in m.named_parameters():
            p.copy_(theta[n])
    total = sum(F.cross_entropy(m(x), y, reduction="sum") for x, y in batches) / sum(len(y) for _, y in batches)
    grads = torch.autograd.grad(total, list(m.parameters()))
    return torch.cat([g.reshape(-1) for g in grads])


@pytest.mark.parametrize("mode,per_pass", [(m, k) for k in (1, 3) for m in HvpMode])
def test_hvp_equals_finite_differences_of_gradients(mode, per_pass):
    model = tiny_model().double().eval()  # BatchNorm in eval mode, perturbed running statistics
    data = tiny_data(40)
    batches = [(data.x[:25].double(), data.y[:25]), (data.x[25:].double(), data.y[25:])]
    before = state(model)
    op = HessianOperator(model, batches, cross_entropy_sum, mode=mode, vectors_per_pass=per_pass)
    g = torch.Generator().manual_seed(0)
    vs = torch.randn(3, op.dim, generator=g, dtype=torch.float64)
    vs /= torch.linalg.vector_norm(vs, dim=1, keepdim=True)
    hv = op.matmat(vs)
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    h = 1e-6  # small, so that no ReLU or max-pool switches within ±h v (float64 keeps the rounding error ~1e-10)
    for v, got in zip(vs, hv):
        step = op.unflatten(v.reshape(1, -1))
        plus = {n: base[n] + h * step[n][0] for n in base}
        minus = {n: base[n] - h * step[n][0] for n in base}
        fd = (gradient(model, batches, plus) - gradient(model, batches, minus)) / (2 * h)
        assert torch.linalg.vector_norm(got - fd) <= 1e-6 * torch.linalg.vector_norm(fd)
    assert op.hvps == 3 and op.mode == mode
    assert_unchanged(model, before)


def test_a_tensor_the_loss_never_reaches_has_a_zero_block_in_both_modes():
    class WithSpare(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = tiny_model()
            self.spare = nn.Linear(3, 2)  # never called: no gradient at all
            self.shift = nn.Parameter(torch.zeros(()))  # enters linearly: a constant gradient

        def forward(self, x):
            return self.net(x) + self.shift

    model = WithSpare().double().eval()
    data = tiny_data(30)
    batches = [(data.x.double(), data.y)]
    vs = torch.randn(2, sum(p.numel() for p in model.parameters()), generator=torch.Generator().manual_seed(1),
                     dtype=torch.float64)
    results = [HessianOperator(model, batches, cross_entropy_sum, mode=mode, vectors_per_pass=k).matmat(vs)
               for mode in HvpMode for k in (1, 2)]
    for hv in results[1:]:
        torch.testing.assert_close(hv, results[0], rtol=1e-9, atol=1e-12)
    op = HessianOperator(model, batches, cross_entropy_sum, mode=HvpMode.reverse)
    block = op.unflatten(results[0])
    assert all(float(block[n].abs().max()) == 0.0 for n in ("spare.weight", "spare.bias"))


def test_model_is_unchanged_by_every_call(tmp_path):
    model = tiny_model()
    data = tiny_data(64)
    batches = [(data.x[:32], data.y[:32]), (data.x[32:], data.y[32:])]
    fn = batch_loss(F.cross_entropy, classification=True)
    before = state(model)
    grads_before = [p.requires_grad for p in model.parameters()]
    s = HessianSettings(top_k=2, max_steps=4, trace=True, probes=2, density=True, density_runs=2, density_steps=2,
                        per_layer=True, per_layer_steps=2, vectors_per_pass=2)
    r = hessian(model, batches, fn, s)
    assert_unchanged(model, before)
    assert 0 <= r.accuracy <= 100 and r.samples == 64 and r.loss > 0
    at = {n: p.detach() * 1.1 for n, p in model.named_parameters()}
    extreme_eigenvalues(model, batches, fn, at=at, steps=5)
    assert_unchanged(model, before)
    write_hessian(tmp_path / "h.h5", r)
    assert_unchanged(model, before)
    assert [p.requires_grad for p in model.parameters()] == grads_before
    model.train()  # a model handed over in train mode is evaluated in eval mode and handed back in train mode
    extreme_eigenvalues(model, batches, fn, steps=3)
    assert_unchanged(model, before, training=True)


# ------------------------------------------------------------------------------- extremes


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


# ------------------------------------------------------------------------------- precision


def test_autocast_runs_and_is_close():
    model = tiny_model()
    data = tiny_data(64)
    fn = batch_loss(F.cross_entropy, classification=True)
    exact = hessian(model, [(data.x, data.y)], fn, HessianSettings(top_k=1, tol=1e-4))
    low = hessian(model, [(data.x, data.y)], fn, HessianSettings(top_k=1, tol=1e-4, autocast=torch.bfloat16))
    assert low.eigenvalues[0] == pytest.approx(exact.eigenvalues[0], rel=0.05)


def test_settings_are_checked():
    with pytest.raises(LandscapeError, match="top_k"):
        HessianSettings(top_k=0)
    with pytest.raises(LandscapeError, match="max_steps"):
        HessianSettings(top_k=6, max_steps=5)
    with pytest.raises(LandscapeError, match="autocast"):
        HessianSettings(autocast=torch.float64)
    model, batches, _ = least_squares(d=4)
    with pytest.raises(LandscapeError, match="top_k 5 exceeds"):
        hessian(model, batches, sum_squares, HessianSettings(top_k=5))


# ------------------------------------------------------------------------------- the file


def test_hessian_file_round_trips_and_reads_as_a_plane(tmp_path):
    model = tiny_model()
    data = tiny_data(48)
    fn = batch_loss(F.cross_entropy, classification=True)
    s = HessianSettings(top_k=3, max_steps=12, trace=True, probes=6, density=True, density_runs=2, density_steps=5,
                        per_layer=True, per_layer_steps=3, vectors_per_pass=3, seed=4)
    calls = []
    r = hessian(model, [(data.x, data.y)], fn, s, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (r.hvps, r.hvps) and all(a <= b for a, b in calls)
    assert [a for a, _ in calls] == sorted(a for a, _ in calls)
    path = write_hessian(tmp_path / "out" / "model.hessian.h5", r, {"checkpoint": "tiny.pt", "samples_requested": 48})
    back = read_hessian(path)
    assert back.settings == s
    for key in ("eigenvalues", "residuals", "density_grid", "density"):
        np.testing.assert_array_equal(getattr(back, key), getattr(r, key))
    for key in ("trace", "trace_stderr", "probes", "smallest_ritz", "lanczos_steps", "converged", "loss", "accuracy",
                "samples", "hvps", "hvp_mode", "vectors_per_pass", "params", "per_layer"):
        assert getattr(back, key) == getattr(r, key), key
    for a, b in zip(back.eigenvectors, r.eigenvectors):
        assert list(a) == list(b) == [n for n, _ in model.named_parameters()]
        assert all(torch.equal(a[n], b[n]) for n in a)

    dirs = store.read_directions(path)
    assert dirs.dir_type.value == "weights"
    assert all(torch.equal(dirs.x[n], r.eigenvectors[0][n]) for n in dirs.x)
    assert all(torch.equal(dirs.y[n], r.eigenvectors[1][n]) for n in dirs.y)
    assert dirs.labels[0] == f"Hessian eigenvector 1 (λ={r.eigenvalues[0]:.4g})"
    with h5py.File(path) as f:
        assert f.attrs["dir_kind"] == "hessian" and f.attrs["checkpoint"] == "tiny.pt"
        assert isinstance(f.attrs["top_k"], np.integer) and isinstance(f.attrs["tol"], np.floating)
        assert "eigenvector_3" in f and "eigenvector_4" not in f
        assert list(f["per_layer"].attrs["names"]) == [n for n, _ in model.named_parameters()]
