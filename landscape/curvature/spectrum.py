"""The Hessian's spectrum at the weights, as one call: what to compute (`HessianSettings`), the
numbers (`HessianResult`, `LayerCurvature`), and the driver (`hessian`) that runs the solvers and
estimators over one operator, in PyHessian's manner: numbers and lists out, no file, no figure.

- Top-K eigenpairs ("top" = largest algebraic eigenvalues): Lanczos with full
  reorthogonalization (`lanczos.lanczos_top`).
- Trace: Hutchinson's estimator with Rademacher probes, E[zᵀHz] = tr H (`estimators.hutchinson`).
- Spectral density: stochastic Lanczos quadrature (`estimators.slq_density`).
- Per tensor (`per_layer`): the Hessian block of each parameter tensor, its top eigenvalue
  (Lanczos over that tensor alone) and its trace (the same Hutchinson probes, restricted).

The Hessian file that holds a result is `landscape.store.hessian_file`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import torch
from torch import nn

from landscape.choices import HvpMode
from landscape.curvature.estimators import hutchinson, slq_density
from landscape.curvature.lanczos import lanczos_top, per_tensor_top
from landscape.curvature.operator import HessianOperator
from landscape.engine.functional import AUTOCAST_DTYPES
from landscape.errors import LandscapeError, arg
from landscape.inputs.objective import EvalFn
from landscape.plane.directions import Direction, check_seed

Progress = Callable[[int, int], None]
"""`progress(done, total)`: Hessian-vector products done and planned (the plan shrinks when
Lanczos converges early)."""


@dataclass(frozen=True)
class HessianSettings:
    """What to compute about the Hessian and how; validated when built.

    `params`: names of the parameter tensors the Hessian is over (None: every floating-point
    parameter, in `model.named_parameters()` order). The others stay fixed at their values.
    """

    top_k: int = 5  # eigenpairs with the largest (algebraic) eigenvalues
    max_steps: int = 100  # Lanczos steps at most; it stops once the top-K Ritz pairs converge
    tol: float = 1e-3  # a Ritz pair (λ, y) has converged when ‖H y − λ y‖ ≤ tol · max |λ|
    trace: bool = False  # Hutchinson's trace estimate
    probes: int = 100  # Rademacher probes of the trace (at most, with trace_rtol)
    trace_rtol: float = 0.0  # > 0: stop probing once the standard error is below trace_rtol · |trace|
    density: bool = False  # spectral density by stochastic Lanczos quadrature
    density_runs: int = 4  # Lanczos runs from random starts, averaged
    density_steps: int = 64  # Lanczos steps of each run (Ritz values per run)
    density_sigma: float = 0.005  # Gaussian kernel width, as a fraction of the spread of the Ritz values
    density_points: int = 2001  # grid points of the density
    per_layer: bool = False  # top eigenvalue and trace of each parameter tensor's Hessian block (implies the trace)
    per_layer_steps: int = 20  # Lanczos steps at most per tensor
    params: tuple[str, ...] | None = None
    hvp_mode: HvpMode = HvpMode.auto  # the faster exact mode on the device (`operator.exact_mode`)
    vectors_per_pass: int = 1  # vectors per HVP pass over the data, for probes, density runs, tensors (> 1: batched)
    seed: int = 0
    autocast: torch.dtype | None = None  # bfloat16 / float16 autocast of the model; the Lanczos math stays float64

    def __post_init__(self) -> None:
        positive = {"top_k": self.top_k, "max_steps": self.max_steps, "probes": self.probes,
                    "density_runs": self.density_runs, "density_steps": self.density_steps,
                    "per_layer_steps": self.per_layer_steps, "vectors_per_pass": self.vectors_per_pass,
                    "density_points": self.density_points}
        for name, value in positive.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise LandscapeError(f"Hessian setting {arg(name)} must be a whole number ≥ 1, got {value!r}",
                                     field=name)
        if self.max_steps < self.top_k:
            raise LandscapeError(f"Hessian {arg('max_steps')} ({self.max_steps}) must be at least {arg('top_k')} "
                                 f"({self.top_k})", field="max_steps")
        if self.density_points < 3:
            raise LandscapeError(f"Hessian {arg('density_points')} must be ≥ 3, got {self.density_points}",
                                 field="density_points")
        for name in ("tol", "density_sigma"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise LandscapeError(f"Hessian setting {arg(name)} must be a positive number, got {value!r}",
                                     field=name)
        if not (math.isfinite(self.trace_rtol) and self.trace_rtol >= 0):
            raise LandscapeError(f"Hessian {arg('trace_rtol')} must be ≥ 0 (0: use every probe), got "
                                 f"{self.trace_rtol!r}", field="trace_rtol")
        if self.autocast is not None and self.autocast not in AUTOCAST_DTYPES.values():
            raise LandscapeError(f"Hessian {arg('autocast')} must be torch.bfloat16, torch.float16 or None, "
                                 f"got {self.autocast!r}", field="autocast")
        object.__setattr__(self, "hvp_mode", HvpMode(self.hvp_mode))
        object.__setattr__(self, "seed", check_seed(self.seed))
        if self.params is not None:
            object.__setattr__(self, "params", tuple(self.params))

    def attributes(self) -> dict[str, Any]:
        """The settings as plain attribute values (numbers as numbers, choices as text), all but
        `params` (the Hessian file writes it as the names given and the names resolved)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "autocast":
                v = "none" if v is None else str(v).removeprefix("torch.")
            elif f.name == "params":
                continue
            elif isinstance(v, Enum):
                v = v.value
            out[f.name] = v
        return out


@dataclass
class LayerCurvature:
    """The Hessian block of one parameter tensor: ∂²L/∂θ_t² with the other tensors fixed."""

    name: str
    size: int  # number of entries of the tensor
    top_eigenvalue: float
    trace: float  # Hutchinson, from the probes of the whole trace restricted to this tensor
    trace_stderr: float


@dataclass
class HessianResult:
    """Everything `hessian` computed, with the settings it used."""

    eigenvalues: np.ndarray  # (K,) largest first
    eigenvectors: list[Direction]  # K unit vectors over all model.named_parameters() (0 outside `params`), CPU
    residuals: np.ndarray  # (K,) ‖H y − λ y‖ of each Ritz pair
    smallest_ritz: float  # the smallest Ritz value of the same Krylov space: an estimate of λmin, not converged
    lanczos_steps: int
    converged: bool  # all K residuals within tol · max |λ|
    params: tuple[str, ...]  # the tensors the Hessian is over
    loss: float  # mean loss at θ
    accuracy: float  # percent; NaN without class labels
    samples: int
    settings: HessianSettings
    trace: float | None = None
    trace_stderr: float | None = None
    probes: int = 0  # probes used for the trace
    density_grid: np.ndarray | None = None  # (P,) eigenvalue axis
    density: np.ndarray | None = None  # (P,) integrates to 1 over the grid (trapezoid rule)
    per_layer: list[LayerCurvature] = field(default_factory=list)
    hvps: int = 0  # Hessian-vector products computed
    hvp_mode: HvpMode = HvpMode.forward  # the one used (auto resolved; an exact mode falls back when it fails)
    vectors_per_pass: int = 1  # the one used (vmap falls back to fewer vectors when it fails or runs out of memory)
    seconds: float = 0.0

    def label(self, i: int) -> str:
        return f"Hessian eigenvector {i + 1} (λ={self.eigenvalues[i]:.4g})"


class _Counter:
    """Calls `progress(done, planned)` after each batch of products."""

    def __init__(self, op: HessianOperator, planned: int, progress: Progress | None):
        self.op, self.planned, self.progress = op, planned, progress

    def __call__(self) -> None:
        if self.progress is not None:
            self.progress(self.op.hvps, max(self.planned, self.op.hvps))

    def unplan(self, products: int) -> None:
        self.planned -= products


def hessian(model: nn.Module, batches: Sequence[Any], fn: EvalFn, settings: HessianSettings = HessianSettings(),
            at: Mapping[str, torch.Tensor] | None = None, progress: Progress | None = None) -> HessianResult:
    """Top-K eigenpairs of the Hessian of the mean loss over `batches` at the model's weights (or
    `at`), and, as `settings` asks, its trace, spectral density and per-tensor blocks.

    `batches`: a list of whatever `fn` takes, already on the weights' device. The model and its
    tensors are left as they were."""
    t0 = time.perf_counter()
    op = HessianOperator(model, batches, fn, settings.params, at, settings.autocast, settings.hvp_mode,
                         settings.vectors_per_pass)
    want_trace = settings.trace or settings.per_layer
    planned = (min(settings.max_steps, op.dim) + (settings.probes if want_trace else 0)
               + (settings.density_runs * min(settings.density_steps, op.dim) if settings.density else 0)
               + (sum(min(settings.per_layer_steps, int(s)) for s in np.diff(op.offsets)) if settings.per_layer else 0))
    counter = _Counter(op, planned, progress)

    values, vectors, residuals, run = lanczos_top(op, settings.top_k, settings.max_steps, settings.tol, settings.seed,
                                                  counter)
    counter.unplan(min(settings.max_steps, op.dim) - run.steps)
    theta = run.ritz()[0]
    result = HessianResult(
        eigenvalues=values, eigenvectors=[op.full(v) for v in vectors], residuals=residuals,
        smallest_ritz=float(theta.min()), lanczos_steps=run.steps,
        converged=bool(np.all(residuals <= settings.tol * max(float(np.abs(theta).max()), 1e-30))),
        params=tuple(op.names), loss=op.evaluation.loss, accuracy=op.evaluation.accuracy,
        samples=op.evaluation.samples, settings=settings)
    del run, vectors  # the basis

    if want_trace:
        tr = hutchinson(op, settings.probes, settings.trace_rtol, settings.seed, after=counter)
        counter.unplan(settings.probes - tr.probes)
        result.trace, result.trace_stderr, result.probes = tr.value, tr.stderr, tr.probes
    if settings.density:
        result.density_grid, result.density = slq_density(op, settings.density_runs, settings.density_steps,
                                                          settings.density_sigma, settings.density_points,
                                                          settings.seed, counter)
    if settings.per_layer:
        tops = per_tensor_top(op, settings.per_layer_steps, settings.tol, settings.seed, counter)
        result.per_layer = [LayerCurvature(n, int(op.offsets[i + 1] - op.offsets[i]), float(tops[i]),
                                           float(tr.blocks[i]), float(tr.block_stderr[i]))
                            for i, n in enumerate(op.names)]
    result.hvps, result.hvp_mode, result.vectors_per_pass = op.hvps, op.mode, op.vectors_per_pass
    result.seconds = time.perf_counter() - t0
    counter.planned = op.hvps
    counter()
    return result
