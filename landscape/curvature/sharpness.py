"""Sharpness numbers of a trained model, one row per checkpoint, for a paper's table.

- the loss and accuracy at θ;
- the top Hessian eigenvalue and Hutchinson's trace ± its standard error (spectrum.py);
- ε-sharpness (Keskar et al. 2017, "On Large-Batch Training for Deep Learning: Generalization
  Gap and Sharp Minima", sec. 2.2.2, eq. 3): the largest rise of the loss within the box
  |δ_i| ≤ ε(|θ_i| + 1), as φ = 100 · (max L(θ+δ) − L(θ)) / (1 + L(θ)), and the raw rise;
- the mean (± std) rise L(θ + r·d) − L(θ) over N random filter-normalized directions d
  (Li et al. 2018, sec. 4: the same directions as a surface's, from `directions.random_direction`).

Numbers only: tables.py formats the rows as text; `landscape.run.curvature` writes the files.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import grad_and_value

from landscape.curvature.spectrum import HessianSettings, hessian
from landscape.engine.functional import autocast_context, eval_mode, evaluate, resolve_params
from landscape.errors import LandscapeError, arg
from landscape.inputs.objective import EvalFn, call_with
from landscape.plane.directions import DirectionSpec, add, base_tensors, check_seed, filter_axes, random_direction


class AscentStart(str, Enum):
    zero = "zero"  # δ = 0: a coordinate whose gradient is exactly 0 never moves
    random = "random"  # δ uniform in a tenth of the box: every coordinate starts with a direction


@dataclass(frozen=True)
class SharpnessSettings:
    """How each number of a row is measured; validated when built.

    The Hessian numbers use `hessian` (its `params`, `autocast` and `hvp_mode` also serve the
    ascent and the loss evaluations; top_k 1 is enough for the table)."""

    epsilon: float = 1e-3  # box half-width per coordinate, relative: ε(|θ_i| + 1)
    ascent_steps: int = 10  # projected sign-gradient ascent steps
    ascent_step: float = 0.25  # each step moves every coordinate by this fraction of its half-width
    ascent_start: AscentStart = AscentStart.random
    seed: int = 0  # of the random start
    radius: float = 0.1  # r of the random directions
    directions: int = 10  # N; 0 skips the random rise
    direction_spec: DirectionSpec = field(default_factory=DirectionSpec)  # filter-normalized, biases/BN ignored, seed
    hessian: HessianSettings = field(default_factory=lambda: HessianSettings(top_k=1, trace=True, probes=100))

    def __post_init__(self) -> None:
        for name in ("epsilon", "ascent_step", "radius"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise LandscapeError(f"sharpness setting {arg(name)} must be a positive number, got {v!r}", field=name)
        if not isinstance(self.ascent_steps, int) or self.ascent_steps < 1:
            raise LandscapeError(f"sharpness {arg('ascent_steps')} must be a whole number ≥ 1, got {self.ascent_steps!r}",
                                 field="ascent_steps")
        if not isinstance(self.directions, int) or self.directions < 0:
            raise LandscapeError(f"sharpness {arg('directions')} must be a whole number ≥ 0 (0 skips them), "
                                 f"got {self.directions!r}", field="directions")
        object.__setattr__(self, "ascent_start", AscentStart(self.ascent_start))
        object.__setattr__(self, "seed", check_seed(self.seed))


@dataclass
class SharpnessRow:
    """One checkpoint's numbers (NaN where not measured)."""

    name: str
    loss: float
    accuracy: float  # percent; NaN without class labels
    top_eigenvalue: float
    trace: float
    trace_stderr: float
    probes: int
    epsilon: float
    eps_sharpness: float  # Keskar's φ, percent
    eps_rise: float  # max L(θ+δ) − L(θ) over the box
    radius: float
    directions: int
    random_rise: float  # mean over directions of L(θ + r·d) − L(θ)
    random_rise_std: float  # their standard deviation (n − 1)


@dataclass
class EpsilonSharpness:
    rise: float  # max L(θ+δ) − L(θ) found
    phi: float  # 100 · rise / (1 + L(θ))
    loss: float  # L(θ)


def epsilon_sharpness(model: nn.Module, batches: Sequence[Any], fn: EvalFn, epsilon: float = 1e-3, steps: int = 10,
                      step: float = 0.25, start: AscentStart = AscentStart.random, seed: int = 0,
                      params: Sequence[str] | None = None, autocast: torch.dtype | None = None,
                      tick: Callable[[], None] | None = None) -> EpsilonSharpness:
    """Keskar et al.'s ε-sharpness in the full parameter space (their A = I): the largest loss
    within the box C_ε = {δ : |δ_i| ≤ ε(|θ_i| + 1)}, searched by projected sign-gradient ascent
    (δ ← clip(δ + step · r ⊙ sign ∇L(θ+δ), −r, r), r_i = ε(|θ_i| + 1)) instead of their
    L-BFGS-B; the best loss seen over all iterates counts, so more steps never lower it.
    Sign steps suit the box: its maximum of a separable convex loss lies at a vertex, which
    they reach in 1/step steps. `tick()` is called after each step (a place to stop)."""
    names = resolve_params(model, params)
    own = dict(model.named_parameters())
    theta = {n: own[n].detach() for n in names}
    fixed = {n: p.detach() for n, p in own.items() if n not in theta}
    device = theta[names[0]].device
    base = evaluate(model, batches, fn, None, autocast)
    l0 = base.loss
    r = {n: epsilon * (t.abs() + 1) for n, t in theta.items()}
    if start == AscentStart.random:
        gen = torch.Generator().manual_seed(seed)
        delta = {n: (torch.rand(t.shape, generator=gen, dtype=t.dtype).to(device) * 2 - 1) * 0.1 * r[n]
                 for n, t in theta.items()}
    else:
        delta = {n: torch.zeros_like(t) for n, t in theta.items()}

    def loss_sum(d: dict[str, torch.Tensor], batch: Any) -> torch.Tensor:
        with autocast_context(device, autocast):
            out = call_with(model, {**fixed, **{n: theta[n] + d[n] for n in names}}, fn, batch)[0]
        return out.to(torch.promote_types(out.dtype, torch.float32))

    best = torch.full((), -math.inf, dtype=torch.float64, device=device)  # on the device: no sync per step
    with eval_mode(model):
        for _ in range(steps):
            g = {n: torch.zeros_like(t) for n, t in theta.items()}
            total = torch.zeros((), dtype=torch.float64, device=device)
            for batch in batches:
                gb, value = grad_and_value(loss_sum)(delta, batch)
                total += value.detach().double()
                for n in names:
                    g[n] += gb[n]
            best = torch.maximum(best, total / base.samples)
            delta = {n: torch.clamp(delta[n] + step * r[n] * torch.sign(g[n]), -r[n], r[n]) for n in names}
            if tick is not None:
                tick()
        last = evaluate(model, batches, fn, {**fixed, **{n: theta[n] + delta[n] for n in names}}, autocast)
    top = max(float(best), last.loss)
    rise = top - l0
    return EpsilonSharpness(rise, 100.0 * rise / (1.0 + l0), l0)


def random_rise(model: nn.Module, batches: Sequence[Any], fn: EvalFn, radius: float = 0.1, count: int = 10,
                spec: DirectionSpec = DirectionSpec(), autocast: torch.dtype | None = None,
                loss: float | None = None, only: set[str] | None = None,
                tick: Callable[[], None] | None = None) -> np.ndarray:
    """L(θ + r·d) − L(θ) for `count` random directions d drawn one after another from one
    generator seeded with `spec.seed` (so the first two are the d1, d2 of a surface with the
    same spec), normalized per `spec` (filter normalization, biases and BatchNorm ignored, by
    default). `loss`: L(θ), if already known; `only`: move these tensors only; `tick()` after each."""
    base = base_tensors(model, spec.dir_type)
    l0 = evaluate(model, batches, fn, None, autocast).loss if loss is None else loss
    gen = torch.Generator().manual_seed(spec.seed)
    axes = filter_axes(model)
    rises = []
    for _ in range(count):
        d = random_direction(base, spec, gen, only, axes)
        if not any(bool(t.any()) for t in d.values()):
            raise LandscapeError("the random directions move no parameter: the parameters chosen are all 1-D "
                                 "(biases, BatchNorm), which filter-normalized directions keep still; choose "
                                 f"parameters that include weights, or no random directions ({arg('directions', 0)})",
                                 field="directions")
        rises.append(evaluate(model, batches, fn, add(base, d, radius), autocast).loss - l0)
        if tick is not None:
            tick()
    return np.asarray(rises, dtype=np.float64)


def sharpness(model: nn.Module, batches: Sequence[Any], fn: EvalFn, settings: SharpnessSettings = SharpnessSettings(),
              name: str = "", tick: Callable[[], None] | None = None) -> SharpnessRow:
    """Every number of a row for one model (the CLI calls it once per checkpoint).

    `batches`: a list of whatever `fn` takes, already on the weights' device. The model and
    its tensors are left as they were. `tick()` is called between steps of the work (a place
    to stop it)."""
    h = settings.hessian
    hr = hessian(model, batches, fn, h, progress=None if tick is None else lambda done, total: tick())
    eps = epsilon_sharpness(model, batches, fn, settings.epsilon, settings.ascent_steps, settings.ascent_step,
                            settings.ascent_start, settings.seed, h.params, h.autocast, tick)
    rises = (random_rise(model, batches, fn, settings.radius, settings.directions, settings.direction_spec,
                         h.autocast, hr.loss, set(hr.params) if h.params else None, tick)
             if settings.directions else np.array([]))
    nan = float("nan")
    return SharpnessRow(
        name=name, loss=hr.loss, accuracy=hr.accuracy, top_eigenvalue=float(hr.eigenvalues[0]),
        trace=nan if hr.trace is None else hr.trace, trace_stderr=nan if hr.trace_stderr is None else hr.trace_stderr,
        probes=hr.probes, epsilon=settings.epsilon, eps_sharpness=eps.phi, eps_rise=eps.rise,
        radius=settings.radius, directions=len(rises),
        random_rise=float(rises.mean()) if len(rises) else nan,
        random_rise_std=float(rises.std(ddof=1)) if len(rises) > 1 else nan)
