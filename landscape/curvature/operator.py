"""The Hessian as a linear operator: v ↦ H v for the mean loss over the batches, on flat float64
vectors (scipy's `LinearOperator`, PyHessian's `hessian.hv_product`). The solvers (lanczos.py)
and estimators (estimators.py) see the Hessian only through `HessianOperator.matmat`.

The Hessian H of the mean loss L(θ) = Σ_b loss_sum_b(θ) / N over the batches is never formed;
everything is built from Hessian-vector products (HVPs), accumulated over the batches on the
device (each batch weighted by its share of the N samples), with no host synchronization per
batch. Two ways (`HvpMode`): forward-over-reverse with torch.func, H v = jvp(grad(L), (θ,), (v,))
(the default; several vectors at once through `vmap`), and reverse-over-reverse, the double
backward PyHessian uses, with plain autograd on leaf copies of θ (several vectors at once through
`is_grads_batched`: the gradient graph is built once per batch for all of them). On the project's
2-core CPU, reverse-over-reverse measured 2.0× faster per HVP than forward-over-reverse for the
demo's digits CNN and 1.1× for ResNet-20 (forward-mode AD of a convolution's backward runs
extra convolutions); see benchmarks/RESULTS.md. Forward-over-reverse falls back to reverse-over-reverse by itself
when an op lacks forward AD (CPU bf16 autocast does, in torch 2.13). A third way needs no
second derivative at all, for models whose kernels have none (fused attention, pytorch#116350)
or whose weights are sharded: `HvpMode.fd`, central differences of gradients,
H v ≈ (∇L(θ + h v) − ∇L(θ − h v)) / 2h, two backward passes per vector, with the step
h = 0.1 · ε^(1/3) · max(1, ‖θ‖) / ‖v‖ for the compute dtype's ε: a tenth of the step that
balances the O(h²) truncation against the O(ε/h) rounding, because across a ReLU's kink a
difference picks up a jump (measured in float32 on a transformer layer: relative error 1.3 at
the balanced step, 1.5e-4 at a tenth of it, 1.5e-3 at a hundredth). Its error is measured
against exact products in tests/test_curvature_operator.py; exact modes that fail before any
product fall back to it. The model is called
through `objective.call_with`, so the user's model is never modified; it runs in eval mode
(BatchNorm uses its running statistics), which is what makes L a fixed function of θ.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import grad, jvp, vmap

from landscape.choices import HvpMode
from landscape.engine.device import OOM_ERRORS
from landscape.engine.functional import Evaluation, autocast_context, eval_mode, evaluate, resolve_params
from landscape.errors import LandscapeError, arg
from landscape.inputs.objective import EvalFn, call_with
from landscape.plane.directions import Direction

__all__ = ["HessianOperator", "HvpMode", "NonFiniteLoss", "exact_mode"]


class NonFiniteLoss(LandscapeError):
    """The loss (or its curvature) is inf or NaN at the weights asked about: no Hessian there."""


def _is_oom(e: BaseException) -> bool:
    return isinstance(e, OOM_ERRORS) or "out of memory" in str(e).lower()  # the text: MPS and older builds


def exact_mode(device: torch.device) -> HvpMode:
    """The faster exact mode on a device (`HvpMode.auto`): reverse-over-reverse on a CPU, measured
    1.1 to 2.0 times faster per product than forward-over-reverse on the project's 2-core CPU
    (ResNet-20, the digits CNN; benchmarks/RESULTS.md); forward-over-reverse elsewhere (its
    vmap batches vectors; the GPU comparison is not measured yet)."""
    return HvpMode.reverse if torch.device(device).type == "cpu" else HvpMode.forward


class HessianOperator:
    """v ↦ H v for the mean loss over `batches` at weights θ, on flat float64 vectors.

    θ is the model's own parameters, or `at` where given (a dict of tensors by name, such as
    the weights of a grid point; it may hold buffers too). The Hessian is over `params`; flat
    vectors concatenate those tensors in model order (`offsets`). Nothing runs until the first
    product, which first evaluates the loss once to count the samples.
    """

    def __init__(self, model: nn.Module, batches: Sequence[Any], fn: EvalFn, params: Sequence[str] | None = None,
                 at: Mapping[str, torch.Tensor] | None = None, autocast: torch.dtype | None = None,
                 mode: HvpMode = HvpMode.forward, vectors_per_pass: int = 1):
        self.model, self.batches, self.fn, self.autocast = model, list(batches), fn, autocast
        self.mode, self.vectors_per_pass = HvpMode(mode), max(1, int(vectors_per_pass))
        if not self.batches:
            raise LandscapeError("no data to compute the Hessian on; give a data set with at least one sample",
                                 field="data")
        self.names = resolve_params(model, params)
        own = dict(model.named_parameters())
        source = {n: p.detach() for n, p in own.items()}
        source.update({n: t.detach() for n, t in (at or {}).items()})
        for n in self.names:
            if tuple(source[n].shape) != tuple(own[n].shape):
                raise LandscapeError(f"weights for {n!r} have shape {tuple(source[n].shape)}, the model's "
                                     f"{tuple(own[n].shape)}", field="at")
        self.theta = {n: source[n] for n in self.names}
        self.fixed = {n: t for n, t in source.items() if n not in self.theta}
        self.shapes = [tuple(self.theta[n].shape) for n in self.names]
        sizes = [self.theta[n].numel() for n in self.names]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.dim = int(self.offsets[-1])
        self.device = self.theta[self.names[0]].device
        self.mode = exact_mode(self.device) if self.mode == HvpMode.auto else self.mode
        self.work_device = self.device if self.device.type != "mps" else torch.device("cpu")  # no float64 on MPS
        self.hvps = 0
        self._theta_norm: float | None = None  # for the finite-difference step
        self.evaluation: Evaluation | None = None
        self._worked = False  # a product has succeeded: fallbacks are decided

    # flat ⟷ per-tensor
    def unflatten(self, v: torch.Tensor) -> dict[str, torch.Tensor]:
        """(m, dim) float64 → {name: (m, *shape)} in each tensor's dtype, on the weights' device."""
        m = v.shape[0]
        v = v.to(self.device)
        return {n: v[:, a:b].reshape(m, *s).to(self.theta[n].dtype)
                for n, s, a, b in zip(self.names, self.shapes, self.offsets[:-1], self.offsets[1:])}

    def flatten(self, d: Mapping[str, torch.Tensor], m: int) -> torch.Tensor:
        """{name: (m, *shape)} → (m, dim) float64 on the work device."""
        return torch.cat([d[n].reshape(m, -1).to(self.work_device, torch.float64) for n in self.names], dim=1)

    def block(self, i: int) -> slice:
        """The entries of tensor `names[i]` in a flat vector."""
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def full(self, flat: torch.Tensor) -> Direction:
        """A flat vector as a direction over every model.named_parameters() tensor (zeros outside
        `names`), in the parameters' dtypes, on the CPU."""
        parts = self.unflatten(flat.reshape(1, -1))
        return {n: (parts[n][0].detach().cpu() if n in parts else torch.zeros_like(p, device="cpu"))
                for n, p in self.model.named_parameters()}

    # products
    def _loss_sum(self, theta: dict[str, torch.Tensor], batch: Any) -> torch.Tensor:
        with autocast_context(self.device, self.autocast):
            loss = call_with(self.model, {**self.fixed, **theta}, self.fn, batch)[0]
        return loss.to(torch.promote_types(loss.dtype, torch.float32))

    def _hvp_forward(self, batch: Any, v: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """H_b v of one batch's loss sum, forward-over-reverse: jvp(grad(loss_b), θ, v)."""
        return jvp(lambda theta: grad(self._loss_sum)(theta, batch), (self.theta,), (v,))[1]

    def _hvp_reverse(self, batch: Any, vs: dict[str, torch.Tensor], m: int) -> list[torch.Tensor]:
        """H_b vᵢ for m vectors (m, *shape), reverse-over-reverse with plain autograd on leaf
        copies of θ: the loss and its gradient graph are built once, and the second backward is
        batched over the vectors (`is_grads_batched`, vmap inside autograd)."""
        leaves = [self.theta[n].detach().requires_grad_() for n in self.names]
        with torch.enable_grad():
            loss = self._loss_sum(dict(zip(self.names, leaves)), batch)
            g = torch.autograd.grad(loss, leaves, create_graph=True, allow_unused=True)
            # a tensor the loss never reaches, or whose gradient is constant, has a zero Hessian block
            live = [i for i, gi in enumerate(g) if gi is not None and gi.requires_grad]
            second = torch.autograd.grad([g[i] for i in live], leaves,
                                         grad_outputs=[vs[self.names[i]] if m > 1 else vs[self.names[i]][0] for i in live],
                                         is_grads_batched=m > 1, allow_unused=True) if live else [None] * len(leaves)
            out = list(second)
        return [torch.zeros(m, *s, dtype=t.dtype, device=t.device) if h is None else h.reshape(m, *s)
                for h, s, t in zip(out, self.shapes, leaves)]

    def _gradient(self, batch: Any, theta: Mapping[str, torch.Tensor]) -> list[torch.Tensor]:
        """∇ of one batch's loss sum at `theta`, per tensor (zeros where the loss does not reach)."""
        leaves = [theta[n].detach().requires_grad_() for n in self.names]
        with torch.enable_grad():
            g = torch.autograd.grad(self._loss_sum(dict(zip(self.names, leaves)), batch), leaves, allow_unused=True)
        return [torch.zeros_like(t) if gi is None else gi.detach() for gi, t in zip(g, leaves)]

    def fd_step(self, v: Mapping[str, torch.Tensor]) -> float:
        """The finite-difference step along v: 0.1 · ε^(1/3) · max(1, ‖θ‖) / ‖v‖, ε of the compute
        dtype (the autocast dtype if any, else the weights'); see the module's docstring."""
        dtype = self.autocast or self.theta[self.names[0]].dtype
        eps = torch.finfo(dtype if dtype.is_floating_point else torch.float32).eps
        if self._theta_norm is None:  # θ is fixed: its norm once, not once per vector
            self._theta_norm = math.sqrt(sum(float(t.double().pow(2).sum()) for t in self.theta.values()))
        norm = math.sqrt(sum(float(t.double().pow(2).sum()) for t in v.values()))
        return 0.1 * eps ** (1 / 3) * max(1.0, self._theta_norm) / max(norm, 1e-300)

    def _hvp_fd(self, batch: Any, vs: dict[str, torch.Tensor], m: int) -> list[torch.Tensor]:
        """H_b vᵢ for m vectors by central differences of gradients: no double backward."""
        out = [torch.zeros(m, *s, dtype=self.theta[n].dtype, device=self.device) for n, s in zip(self.names, self.shapes)]
        for i in range(m):
            v = {n: vs[n][i] for n in self.names}
            h = self.fd_step(v)
            plus = self._gradient(batch, {n: self.theta[n] + h * v[n] for n in self.names})
            minus = self._gradient(batch, {n: self.theta[n] - h * v[n] for n in self.names})
            for k, (gp, gm) in enumerate(zip(plus, minus)):
                out[k][i] = (gp.double() - gm.double()).div_(2 * h).to(out[k].dtype)
        return out

    def _pass(self, vs: dict[str, torch.Tensor], m: int) -> torch.Tensor:
        """One pass over the data for m vectors: (m, dim) float64, summed over batches on the device."""
        acc = torch.zeros(m, self.dim, dtype=torch.float64, device=self.work_device)
        for batch in self.batches:
            if self.mode == HvpMode.fd:
                hv = dict(zip(self.names, self._hvp_fd(batch, vs, m)))
            elif self.mode == HvpMode.reverse:
                hv = dict(zip(self.names, self._hvp_reverse(batch, vs, m)))
            elif m == 1:
                hv = {n: t.unsqueeze(0) for n, t in self._hvp_forward(batch, {n: t[0] for n, t in vs.items()}).items()}
            else:
                hv = vmap(lambda v, b=batch: self._hvp_forward(b, v))(vs)
            acc += self.flatten(hv, m)
        return acc

    def count(self) -> int:
        """The samples the mean is over (the loss at θ is evaluated once, on the first call)."""
        if self.evaluation is None:
            self.evaluation = evaluate(self.model, self.batches, self.fn, {**self.fixed, **self.theta}, self.autocast)
            if not math.isfinite(self.evaluation.loss):
                raise NonFiniteLoss(f"the loss at these weights is {self.evaluation.loss} (the model diverged there): "
                                    "its Hessian is undefined; use a checkpoint whose loss is finite")
        return self.evaluation.samples

    def matmat(self, v: torch.Tensor) -> torch.Tensor:
        """H vᵢ for each row of v (m, dim) float64: (m, dim) float64 on the work device.

        Rows go `vectors_per_pass` at a time; if vmap fails or runs out of memory, fewer go per
        pass, down to one; if forward-over-reverse fails before any product has worked (an op
        without forward AD), reverse-over-reverse is used from then on, and if that fails too
        (no double backward), finite differences (`mode` says which was used)."""
        n = self.count()
        out = torch.empty(v.shape[0], self.dim, dtype=torch.float64, device=self.work_device)
        start = 0
        with eval_mode(self.model):
            while start < v.shape[0]:
                m = min(self.vectors_per_pass, v.shape[0] - start)
                try:
                    out[start:start + m] = self._pass(self.unflatten(v[start:start + m]), m)
                except (RuntimeError, NotImplementedError) as e:
                    if self.device.type == "cuda":
                        torch.cuda.empty_cache()
                    if m > 1:  # vmap could not batch an op, or the batch did not fit: fewer per pass
                        self.vectors_per_pass = m // 2 if _is_oom(e) else 1
                        continue
                    if _is_oom(e):
                        raise LandscapeError(f"out of memory computing a Hessian-vector product; use a smaller "
                                             f"{arg('batch_size')} (the HVP needs about 3× a forward pass's memory)",
                                             field="batch_size") from None
                    if self.mode == HvpMode.forward and not self._worked:
                        self.mode = HvpMode.reverse
                        continue
                    if self.mode == HvpMode.reverse and not self._worked:  # no double backward: differences
                        self.mode = HvpMode.fd
                        continue
                    raise
                self._worked = True
                self.hvps += m
                start += m
        return out / n

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        """H v for one flat float64 vector (dim,)."""
        return self.matmat(v.reshape(1, -1))[0]
