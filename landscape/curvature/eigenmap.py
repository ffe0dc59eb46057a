"""The convexity maps of Li et al. 2018 (sec. 7, Fig. 9): the largest and smallest Hessian
eigenvalue at points of a plane and |λmin/λmax| (`eigen_map`), from a few Lanczos steps at each
point (`extreme_eigenvalues`); `eigen_map_values` serves `compute --eigen-map` from the
surface's evaluator."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from landscape.curvature.lanczos import Krylov, converged, full_apply, run_lanczos
from landscape.curvature.operator import HessianOperator, NonFiniteLoss
from landscape.curvature.random_vectors import LANCZOS_START, gaussian, generator
from landscape.curvature.spectrum import HessianSettings
from landscape.engine.device import precision_context
from landscape.engine.evaluator import Evaluator
from landscape.engine.functional import model_device, objective_fn
from landscape.inputs.objective import EvalFn
from landscape.plane.directions import Directions

EigenMap = Callable[[np.ndarray], dict[str, np.ndarray]]
"""`values(coords)`: `eig_max`, `eig_min`, `eig_ratio` (each (P,)) at the rows (x, y) of coords (P, 2)."""


def extreme_eigenvalues(model: nn.Module, batches: Sequence[Any], fn: EvalFn,
                        at: Mapping[str, torch.Tensor] | None = None, steps: int = 20, tol: float = 1e-3,
                        settings: HessianSettings = HessianSettings()) -> tuple[float, float]:
    """(λmax, λmin) of the Hessian at the weights `at` (the model's own where not given), by
    Lanczos for at most `steps` products, stopping when both extreme Ritz pairs have residual
    ≤ tol · max |λ|; for the convexity maps |λmin/λmax| of Li et al. 2018 (sec. 7, Fig. 9).

    `settings` gives the parameters, HVP mode, autocast and seed."""
    op = HessianOperator(model, batches, fn, settings.params, at, settings.autocast, settings.hvp_mode)
    gen = generator(settings.seed, LANCZOS_START)
    run = Krylov(gaussian(op.dim, gen, op.work_device), steps, generator=gen)
    run_lanczos(full_apply(op), [run], lambda r: converged(r, 1, tol, smallest_too=True))
    theta = run.ritz()[0]
    return float(theta[-1]), float(theta[0])


def _extremes_or_nan(*args: Any) -> tuple[float, float]:
    """`extreme_eigenvalues`, or NaN where the loss (or its curvature) is not finite."""
    try:
        return extreme_eigenvalues(*args)
    except NonFiniteLoss:
        return float("nan"), float("nan")


def eigen_map(model: nn.Module, batches: Sequence[Any], fn: EvalFn, directions: Directions, coords: np.ndarray,
              steps: int = 20, tol: float = 1e-3, settings: HessianSettings = HessianSettings(),
              device: torch.device | None = None) -> dict[str, np.ndarray]:
    """`eig_max`, `eig_min` and `eig_ratio` = |λmin/λmax| (each (P,)) at the points
    θ + x·d1 + y·d2 of the rows (x, y) of `coords` (P, 2): the convexity maps of Li et al. 2018,
    sec. 7. Every tensor (parameters and buffers) is taken to `device` (the model's if None),
    so the model itself may stay on the CPU."""
    state = {n: t.detach() for n, t in model.state_dict().items()}
    device = torch.device(device) if device is not None else model_device(model, state)
    state = {n: t.to(device) for n, t in state.items()}
    dx = {n: t.to(device) for n, t in directions.x.items()}
    dy = {n: t.to(device) for n, t in directions.y.items()} if directions.y is not None else None
    hi, lo = np.empty(len(coords)), np.empty(len(coords))
    for i, (a, b) in enumerate(np.asarray(coords, dtype=np.float64).reshape(-1, 2)):
        at = dict(state)
        for n, d in dx.items():
            if state[n].is_floating_point():
                at[n] = state[n] + float(a) * d.to(state[n].dtype) + (
                    float(b) * dy[n].to(state[n].dtype) if dy is not None else 0.0)
        hi[i], lo[i] = _extremes_or_nan(model, batches, fn, at, steps, tol, settings)  # NaN where the loss diverged
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.abs(lo / hi)
    return {"eig_max": hi, "eig_min": lo, "eig_ratio": ratio}


def eigen_map_values(evaluator: Evaluator, steps: int = 20, tol: float = 1e-3) -> EigenMap:
    """For `compute --eigen-map`: a function of a chunk of points (P, 2) giving `eig_max`,
    `eig_min`, `eig_ratio` there, with the evaluator's model (unfolded: the Hessian is over the
    model's own parameters), plane, loss and precision, over its data in the plan's batches of a
    Hessian-vector product (`Evaluator.hvp_batches`: a quarter of the evaluator's on a GPU, since
    an HVP holds about 3-4× a forward pass's memory)."""
    device = evaluator.device
    precision = evaluator.plan.precision
    fn = objective_fn(evaluator.objective)
    batches = evaluator.hvp_batches()
    settings = HessianSettings(autocast=precision.autocast_dtype)

    def values(coords: np.ndarray) -> dict[str, np.ndarray]:
        with precision_context(precision, device):  # the plan's TF32 setting, as for the loss
            return eigen_map(evaluator.model, batches, fn, evaluator.directions, coords, steps, tol, settings, device)

    return values
