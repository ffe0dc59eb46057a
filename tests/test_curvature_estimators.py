"""Hutchinson's trace and the spectral density by stochastic Lanczos quadrature against closed
forms on linear least squares: the trace's error shrinking as 1/√probes, the early stop of a
trace tolerance, the density's mass at the true eigenvalues."""

from __future__ import annotations

import numpy as np
import pytest

from landscape.curvature.estimators import hutchinson, slq_density
from landscape.curvature.operator import HessianOperator
from landscape.curvature.spectrum import HessianSettings, hessian
from test_curvature_operator import least_squares, single_thread, sum_squares


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    yield from single_thread()


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


def test_block_traces_add_up_to_the_trace():
    model, batches, h = least_squares(d=6)
    op = HessianOperator(model, batches, sum_squares, vectors_per_pass=4)
    t = hutchinson(op, 40, seed=1)
    assert t.blocks.shape == (1,) and t.blocks[0] == pytest.approx(t.value) and t.block_stderr[0] == pytest.approx(t.stderr)
    one = hutchinson(op, 1)
    assert one.probes == 1 and np.isnan(one.stderr)  # one probe has no standard error


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


def test_slq_density_directly_is_the_drivers():
    lam = np.array([1.0, 2.0, 4.0])
    model, batches, _ = least_squares(lam)
    op = HessianOperator(model, batches, sum_squares)
    grid, dens = slq_density(op, runs=2, steps=3, sigma=0.05, points=101, seed=7)
    r = hessian(model, batches, sum_squares, HessianSettings(top_k=1, density=True, density_runs=2, density_steps=3,
                                                             density_sigma=0.05, density_points=101, seed=7))
    np.testing.assert_array_equal(grid, r.density_grid)
    np.testing.assert_array_equal(dens, r.density)  # the same starts: the density draws from its own generator
    assert grid[0] < 1.0 and grid[-1] > 4.0 and len(grid) == 101
