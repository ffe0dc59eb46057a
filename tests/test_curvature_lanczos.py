"""Lanczos with full reorthogonalization against `numpy.linalg.eigh` on linear least squares,
whose Hessian is 2XᵀX/n: the top eigenpairs, the stop on convergence, repeated eigenvalues, and
the top eigenvalue of each tensor's block."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from landscape.curvature.lanczos import Krylov, converged, full_apply, lanczos_top, per_tensor_top, run_lanczos
from landscape.curvature.operator import HessianOperator, NonFiniteLoss
from landscape.curvature.spectrum import HessianSettings, hessian
from landscape.errors import for_cli
from landscape.inputs.objective import batch_loss, mse
from test_curvature_operator import least_squares, single_thread, sum_squares


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    yield from single_thread()


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


def test_repeated_eigenvalues_are_all_found():
    """A rank-2 Hessian with top-4 asked: the Krylov space of one start vector is invariant
    after 3 steps; restarting finds the zero eigenvalue's other copies."""
    model, batches, _ = least_squares([9.0, 4.0, 0.0, 0.0, 0.0])
    r = hessian(model, batches, sum_squares, HessianSettings(top_k=4, tol=1e-8))
    np.testing.assert_allclose(r.eigenvalues, [9.0, 4.0, 0.0, 0.0], atol=1e-7)


def test_lanczos_top_directly_and_its_sign_convention():
    model, batches, h = least_squares()
    op = HessianOperator(model, batches, sum_squares)
    values, vectors, residuals, run = lanczos_top(op, 2, 20, 1e-8, seed=3)
    np.testing.assert_allclose(values, np.linalg.eigh(h)[0][::-1][:2], rtol=1e-8)
    assert vectors.shape == (2, op.dim) and run.steps <= 20 and np.all(residuals <= 1e-8 * values[0])
    assert all(float(v[v.abs().argmax()]) > 0 for v in vectors)  # the largest entry of each is positive
    with pytest.raises(NonFiniteLoss) as e:  # the Ritz values of a run whose products overflowed
        bad = Krylov(torch.ones(3, dtype=torch.float64), 3)
        bad.step(torch.full((3,), float("inf"), dtype=torch.float64))
        bad.ritz()
    assert "precision='fp32'" in str(e.value) and "--precision fp32" in for_cli(e.value.message)


def test_runs_in_lockstep_each_stop_on_their_own():
    """Two runs over one operator, one batched product per step: each converges at its own step."""
    model, batches, h = least_squares([5.0, 1.0, 1.0, 1.0])
    op = HessianOperator(model, batches, sum_squares, vectors_per_pass=2)
    g = torch.Generator().manual_seed(0)
    runs = [Krylov(torch.randn(op.dim, generator=g, dtype=torch.float64), 4) for _ in range(2)]
    passes = []
    run_lanczos(full_apply(op), runs, lambda r: converged(r, 1, 1e-10), after=lambda: passes.append(op.hvps))
    assert all(r.done for r in runs) and len(passes) == max(r.steps for r in runs)  # one pass per step
    assert op.hvps == sum(r.steps for r in runs) == passes[-1]
    for r in runs:
        assert r.ritz()[0][-1] == pytest.approx(5.0, rel=1e-10)


def test_per_tensor_top_of_a_weight_and_a_bias():
    """Least squares with a bias: the weight block is 2XᵀX/n, the bias block is exactly 2."""
    model, batches, h = least_squares()
    torch.manual_seed(1)
    model = nn.Linear(model.in_features, 1).double().eval()
    op = HessianOperator(model, batches, sum_squares, vectors_per_pass=2)
    tops = per_tensor_top(op, model.in_features, 1e-10)
    assert tops[0] == pytest.approx(np.linalg.eigh(h)[0][-1], rel=1e-8) and tops[1] == pytest.approx(2.0, rel=1e-10)
