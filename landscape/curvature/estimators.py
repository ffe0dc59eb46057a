"""Stochastic estimators over the Hessian operator (scipy's `_traceest.py`, PyHessian's `trace`
and `density`): the trace by Hutchinson's estimator (`hutchinson`) and the spectral density by
stochastic Lanczos quadrature (`slq_density`). With `trace_rtol`, the running trace comes to the
host once per pass of probes."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from landscape.curvature.lanczos import Krylov, full_apply, run_lanczos
from landscape.curvature.operator import HessianOperator
from landscape.curvature.random_vectors import DENSITY_STARTS, TRACE_PROBES, generator, rademacher


@dataclass
class Trace:
    value: float
    stderr: float  # standard error of the mean over probes
    probes: int
    blocks: np.ndarray  # (tensors,) estimate of each tensor's block trace
    block_stderr: np.ndarray  # (tensors,)


def hutchinson(op: HessianOperator, probes: int, rtol: float = 0.0, seed: int = 0, min_probes: int = 10,
               after: Callable[[], None] | None = None) -> Trace:
    """Hutchinson's estimate of tr H with Rademacher probes z: the mean of zᵀHz, its standard
    error, and the same for each tensor's block (z_tᵀ(Hz)_t has mean tr H_tt).

    With rtol > 0, stops once the standard error is below rtol · |mean| (after `min_probes`)."""
    gen = generator(seed, TRACE_PROBES)
    block_of = torch.repeat_interleave(torch.arange(len(op.names), device=op.work_device),
                                       torch.as_tensor(np.diff(op.offsets), device=op.work_device))
    samples: list[torch.Tensor] = []  # (m, tensors) per pass, on the device
    done = 0
    while done < probes:
        m = min(op.vectors_per_pass, probes - done)
        z = rademacher(m, op.dim, gen, op.work_device)
        zhz = z * op.matmat(z)  # (m, dim)
        per_tensor = torch.zeros(m, len(op.names), dtype=torch.float64, device=op.work_device)
        samples.append(per_tensor.index_add_(1, block_of, zhz))
        done += m
        if after is not None:
            after()
        if rtol > 0 and done >= min(min_probes, probes):
            total = torch.cat(samples).sum(1)
            if done > 1 and float(total.std() / math.sqrt(done)) <= rtol * abs(float(total.mean())):
                break
    per = torch.cat(samples).cpu().numpy()  # (probes, tensors)
    total = per.sum(1)
    count = len(total)

    def stderr(x: np.ndarray) -> np.ndarray:
        return x.std(axis=0, ddof=1) / math.sqrt(count) if count > 1 else np.full(x.shape[1:], np.nan)

    return Trace(float(total.mean()), float(stderr(total[:, None])[0]), count, per.mean(0), stderr(per))


def slq_density(op: HessianOperator, runs: int, steps: int, sigma: float, points: int, seed: int = 0,
                after: Callable[[], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The spectral density of H by stochastic Lanczos quadrature: (grid, density), each (points,).

    As PyHessian computes it (Ghorbani et al. 2019, "An Investigation into Neural Net
    Optimization via Hessian Eigenvalue Density", sec. 2; Yao et al. 2020, "PyHessian", sec. 3):
    each run starts from a normalized Rademacher vector v; the eigenvalues θ_i of its
    tridiagonal T and the squared first components τ_i of T's eigenvectors are the nodes and
    weights of the Gauss quadrature of vᵀ f(H) v, whose mean over v is tr f(H) / n. The
    density is Σ τ_i N(t; θ_i, σ²) averaged over runs, σ = `sigma` × (spread of all Ritz
    values), on `points` grid points reaching 5σ past the extreme Ritz values, normalized so
    its trapezoid integral is 1 (PyHessian normalizes its Riemann sum the same way).
    """
    gen = generator(seed, DENSITY_STARTS)
    starts = [rademacher(1, op.dim, gen, op.work_device)[0] for _ in range(runs)]
    done = run_lanczos(full_apply(op), [Krylov(q, steps) for q in starts], after=after)
    nodes, weights = [], []
    for r in done:
        theta, s, _ = r.ritz()
        nodes.append(theta)
        weights.append(s[0, :] ** 2)
    lo = min(float(t.min()) for t in nodes)
    hi = max(float(t.max()) for t in nodes)
    spread = hi - lo if hi > lo else max(abs(hi), 1.0)
    width = sigma * spread
    grid = np.linspace(lo - 5 * width, hi + 5 * width, points)
    density = np.zeros(points)
    for theta, tau in zip(nodes, weights):
        z = (grid[:, None] - theta[None, :]) / width  # (points, ritz values)
        density += (np.exp(-0.5 * z**2) / (width * math.sqrt(2 * math.pi))) @ tau
    density /= len(nodes)
    density /= np.trapezoid(density, grid) if hasattr(np, "trapezoid") else np.trapz(density, grid)
    return grid, density
