"""Sharpness as a model trains, numbers only (`landscape.callbacks` measures it every N steps on
one fixed batch and writes the log):

- the top Hessian eigenvalue λmax, by Lanczos warm-started from the previous measurement's
  eigenvector: between measurements the top eigenvector turns slowly, so a few products
  converge where a random start needs tens (`top_eigen`);
- the critical sharpness λc = 2/ηc of the optimizer's step (Kalra et al. 2026, "A Scalable
  Measure of Loss Landscape Curvature", arXiv:2601.16979): ηc is the smallest learning rate at
  which the step the optimizer takes from its current state (momentum, Adam's moments) with the
  batch's gradient raises the loss on that batch; a doubling search from the last ηc, then
  bisection, forward passes only (`critical_lr`; the step itself comes from the caller, which
  owns the optimizer). On a quadratic, a step −η·u raises the
  loss once η > 2 uᵀ∇L / uᵀHu, so λc = uᵀHu / uᵀ∇L: for plain gradient descent (u = ∇L) the
  curvature along the gradient, a lower bound of λmax; for Adam, the curvature its
  preconditioned step sees;
- the stability threshold of the optimizer's learning rate: 2/η for plain SGD, (2 + 2β)/η for
  heavy-ball momentum β and (2 + 2β)/(η(1 + 2β)) for Nesterov's (Cohen et al. 2021, "Gradient
  Descent on Neural Networks Typically Occurs at the Edge of Stability", sec. 3 and app.);
  none for adaptive optimizers, whose raw Hessian has no fixed threshold (`stability_threshold`).

Every loss here is the model in eval mode (BatchNorm on its running statistics), as in
`HessianOperator`: a fixed function of the weights.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from landscape.choices import HvpMode
from landscape.curvature.lanczos import Krylov, converged, full_apply, run_lanczos
from landscape.curvature.operator import HessianOperator
from landscape.curvature.random_vectors import LANCZOS_START, gaussian, generator
from landscape.engine.functional import autocast_context, eval_mode, evaluate
from landscape.errors import LandscapeError
from landscape.inputs.objective import EvalFn, call_with

WARM_NOISE = 1e-2  # the share of a random vector mixed into a warm start: no eigenvector is left out of reach
SEARCH_LIMIT = 40  # doublings of the search before ηc counts as out of range (λc = 0)
DESCENT_LIMIT = 10  # a loss that still rises at 1/1024 of the learning rate means the update does not
# descend on this batch at all (its slope there is ≥ 0), and λc is undefined (NaN)


@dataclass
class TopEigen:
    value: float  # λmax
    vector: torch.Tensor  # its unit eigenvector, flat float64 on the operator's work device
    products: int  # Hessian-vector products it took
    residual: float  # ‖H v − λ v‖


def top_eigen(op: HessianOperator, start: torch.Tensor | None = None, max_steps: int = 30, tol: float = 1e-3,
              seed: int = 0) -> TopEigen:
    """The largest eigenvalue of the operator's H and its eigenvector, by Lanczos from `start`
    (the last eigenvector: a warm start) or from a random vector; stops when the top Ritz pair's
    residual is ≤ tol · |λ|, or after `max_steps` products."""
    gen = generator(seed, LANCZOS_START)
    q0 = gaussian(op.dim, gen, op.work_device)
    if start is not None and start.numel() == op.dim and float(torch.linalg.vector_norm(start)) > 0:
        s = start.reshape(-1).to(op.work_device, torch.float64)
        q0 = s / torch.linalg.vector_norm(s) + WARM_NOISE * q0 / torch.linalg.vector_norm(q0)
    run = Krylov(q0, max_steps, generator=gen)
    before = op.hvps
    run_lanczos(full_apply(op), [run], lambda r: converged(r, 1, tol))
    theta, s, res = run.ritz()
    top = int(np.argmax(theta))
    vector = run.vectors(s[:, [top]])[0]
    return TopEigen(float(theta[top]), vector / torch.linalg.vector_norm(vector), op.hvps - before, float(res[top]))


@dataclass
class CriticalStep:
    lr: float  # ηc: the midpoint of the bracket (inf: no rate up to the search's limit raised the loss;
    # NaN: the update does not lower the loss on this batch at any rate tried)
    lower: float  # the loss did not rise at this rate
    upper: float  # it rose at this one
    passes: int  # forward passes of the search


def critical_lr(loss_at: Callable[[float], float], loss0: float, guess: float, tol_power: int = 4,
                floor: float | None = None) -> CriticalStep:
    """The smallest learning rate η at which `loss_at(η)` (the loss after a step of rate η along
    the update) exceeds `loss0`: doubling or halving from `guess` until the bracket holds it,
    then bisection until 1 − lower/upper ≤ 2^-tol_power (Kalra et al.'s search). If the loss
    still rises below `floor` (default: guess / 2^DESCENT_LIMIT), the step does not descend on
    this batch and ηc is NaN."""
    if not (math.isfinite(guess) and guess > 0):
        raise LandscapeError(f"the critical-rate search needs a positive first guess, got {guess!r}")
    if not math.isfinite(loss0):  # no loss to rise above
        return CriticalStep(math.nan, math.nan, math.nan, 0)
    passes = 0

    def rises(eta: float) -> bool:
        nonlocal passes
        passes += 1
        value = loss_at(eta)
        return not math.isfinite(value) or value > loss0

    eta = guess
    floor = guess / 2**DESCENT_LIMIT if floor is None else floor
    if rises(eta):  # halve until it no longer rises
        lower, upper = 0.0, eta
        while eta / 2 >= floor:
            eta /= 2
            if not rises(eta):
                lower = eta
                break
            upper = eta
        if lower == 0.0:
            return CriticalStep(math.nan, 0.0, upper, passes)  # the update climbs on this batch
    else:  # double until it rises
        lower, upper = eta, math.inf
        for _ in range(SEARCH_LIMIT):
            eta *= 2
            if rises(eta):
                upper = eta
                break
            lower = eta
        else:
            return CriticalStep(math.inf, lower, math.inf, passes)
    while 1 - lower / upper > 2.0 ** -tol_power:
        mid = (lower + upper) / 2
        if rises(mid):
            upper = mid
        else:
            lower = mid
    return CriticalStep((lower + upper) / 2, lower, upper, passes)


def stability_threshold(optimizer: torch.optim.Optimizer) -> float:
    """The sharpness above which the optimizer's step on a quadratic diverges, at its current
    learning rate (first parameter group): 2/η, (2 + 2β)/η with heavy-ball momentum β,
    (2 + 2β)/(η(1 + 2β)) with Nesterov's; NaN for other optimizers (Adam's raw Hessian has none)."""
    group = optimizer.param_groups[0]
    lr = float(group.get("lr", math.nan))
    if not (isinstance(optimizer, torch.optim.SGD) and lr > 0):
        return math.nan
    beta = float(group.get("momentum", 0.0) or 0.0)
    if group.get("nesterov"):
        return (2 + 2 * beta) / (lr * (1 + 2 * beta))
    return (2 + 2 * beta) / lr


def batch_gradient(model: nn.Module, batches: Sequence[Any], fn: EvalFn, names: Sequence[str],
                   autocast: torch.dtype | None = None, buffers: Mapping[str, torch.Tensor] | None = None
                   ) -> dict[str, torch.Tensor]:
    """∇ of the mean loss over the batches at the model's weights, for the tensors `names`
    (functional: the model's own `.grad` are left alone; zeros where the loss does not reach)."""
    own = dict(model.named_parameters())
    leaves = {n: own[n].detach().requires_grad_() for n in names}
    total: dict[str, torch.Tensor] = {n: torch.zeros_like(t) for n, t in leaves.items()}
    count: Any = 0
    with torch.enable_grad(), eval_mode(model):
        for batch in batches:
            with autocast_context(leaves[names[0]].device, autocast):
                out = call_with(model, {**(buffers or {}), **leaves}, fn, batch)
            grads = torch.autograd.grad(out[0], list(leaves.values()), allow_unused=True)
            for n, g in zip(leaves, grads):
                if g is not None:
                    total[n] += g.to(total[n].dtype)
            count = count + out[1]
    return {n: g / float(count) for n, g in total.items()}


class SharpnessProbe:
    """The measurements of one training run on its fixed batches, with what carries from one
    measurement to the next: the last eigenvector (the warm start) and the last ηc (the search's
    first guess)."""

    def __init__(self, batches: Sequence[Any], fn: EvalFn, params: Sequence[str] | None = None,
                 max_steps: int = 30, tol: float = 1e-2, critical: bool = True, seed: int = 0,
                 hvp_mode: HvpMode = HvpMode.auto, autocast: torch.dtype | None = None):
        if not (isinstance(max_steps, int) and max_steps >= 1):
            raise LandscapeError(f"the sharpness's max_products must be a whole number ≥ 1, got {max_steps!r}")
        if not (isinstance(tol, (int, float)) and 0 < tol < 1):
            raise LandscapeError(f"the sharpness's tol must be a number between 0 and 1, got {tol!r}")
        self.batches, self.fn, self.params = list(batches), fn, list(params) if params is not None else None
        self.max_steps, self.tol, self.critical, self.seed = max_steps, tol, critical, seed
        self.hvp_mode, self.autocast = HvpMode(hvp_mode), autocast
        self.vector: torch.Tensor | None = None
        self.eta_c: float | None = None

    def measure(self, model: nn.Module, lr: float,
                update: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor] | None] | None = None,
                buffers: Mapping[str, torch.Tensor] | None = None, eigen: bool = True) -> dict[str, float]:
        """At the model's weights (with `buffers` in place of its own, e.g. BatchNorm statistics
        as a checkpoint holds them): the loss on the batches; with `eigen`, λmax (warm-started
        from the last eigenvector); and, given `update` (the optimizer's step for a gradient, at
        learning rate `lr`), ηc and λc along the step it takes with the batches' gradient. Also
        the products, passes and residual each took (NaN: not measured)."""
        buffers = dict(buffers or {})
        t0 = time.perf_counter()
        names = self.params if self.params is not None else [n for n, p in model.named_parameters() if p.requires_grad]
        op = HessianOperator(model, self.batches, self.fn, names, at=buffers, autocast=self.autocast, mode=self.hvp_mode)
        row = {"lambda_max": math.nan, "products": 0.0, "residual": math.nan}
        if eigen:
            top = top_eigen(op, self.vector, self.max_steps, self.tol, self.seed)
            self.vector = top.vector
            row.update(lambda_max=top.value, products=float(top.products), residual=top.residual)
        op.count()  # the loss at θ, evaluated once (λmax's first product already did)
        assert op.evaluation is not None
        loss0 = op.evaluation.loss
        row.update(loss=loss0, critical_lr=math.nan, critical_sharpness=math.nan, passes=0.0,
                   hessian_seconds=time.perf_counter() - t0, critical_seconds=0.0)
        if not (self.critical and update is not None and lr > 0):
            return row
        t1 = time.perf_counter()
        own = dict(model.named_parameters())
        theta = {n: own[n].detach() for n in op.names}
        moved = update(batch_gradient(model, self.batches, self.fn, op.names, self.autocast, buffers))
        if moved is not None and math.isfinite(loss0) and any(bool(moved[n].any()) for n in op.names if n in moved):
            def loss_at(eta: float) -> float:
                s = eta / lr
                return evaluate(model, self.batches, self.fn, {**buffers, **{
                    n: theta[n] + s * moved[n] if n in moved else theta[n] for n in op.names}}, self.autocast).loss

            step = critical_lr(loss_at, loss0, self.eta_c if self.eta_c and math.isfinite(self.eta_c) else lr,
                               floor=lr / 2**DESCENT_LIMIT)  # from the last ηc, but never below lr/1024
            if 0 < step.lr < math.inf:
                self.eta_c = step.lr
            row.update(critical_lr=step.lr, passes=float(step.passes), critical_sharpness=2.0 / step.lr)  # inf → 0
        row["critical_seconds"] = time.perf_counter() - t1
        return row
