"""Curvature of the loss at the weights: top Hessian eigenpairs, trace, spectral density, per tensor.

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
when an op lacks forward AD (CPU bf16 autocast does, in torch 2.13). The model is called
through `metrics.call_with`, so the user's model is never modified; it runs in eval mode
(BatchNorm uses its running statistics), which is what makes L a fixed function of θ.

- Top-K eigenpairs ("top" = largest algebraic eigenvalues): Lanczos with full
  reorthogonalization (`lanczos_top`).
- Trace: Hutchinson's estimator with Rademacher probes, E[zᵀHz] = tr H (`hutchinson`).
- Spectral density: stochastic Lanczos quadrature, as PyHessian computes it (Ghorbani et al.
  2019, "An Investigation into Neural Net Optimization via Hessian Eigenvalue Density", sec. 2;
  Yao et al. 2020, "PyHessian", sec. 3): the Ritz values of several Lanczos runs from random
  starts, weighted by the squared first components of the tridiagonal's eigenvectors, each
  smoothed by a Gaussian kernel (`slq_density`).
- Per tensor (`per_layer`): the Hessian block of each parameter tensor, its top eigenvalue
  (Lanczos over that tensor alone) and its trace (the same Hutchinson probes, restricted).
- `extreme_eigenvalues`: λmax and λmin at given weights with few steps, for the convexity maps
  |λmin/λmax| of Li et al. 2018, sec. 7 (`eigen_map`; `eigen_map_values` serves
  `compute --eigen-map` from its evaluator).

The Lanczos scalars and the Krylov basis are kept in float64 on the weights' device: the basis
takes steps × parameters × 8 bytes there (100 steps of an 0.85 M-parameter ResNet-56: 0.7 GB).
Only the Lanczos scalars come to the host during a run (and, with `trace_rtol`, the running
trace once per pass of probes).

`write_hessian` stores a result in one HDF5 file whose top two eigenvectors are a plane in the
surface file's direction layout (`store.read_directions` reads it as is).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch import nn
from torch.func import grad, jvp, vmap

from landscape import store
from landscape.choices import HvpMode
from landscape.plane.directions import Direction, Directions, check_seed
from landscape.engine.device import OOM_ERRORS
from landscape.errors import LandscapeError
from landscape.store.files import replacing
from landscape.inputs.objective import EvalChecks, EvalFn, call_with

Progress = Callable[[int, int], None]
"""`progress(done, total)`: Hessian-vector products done and planned (the plan shrinks when
Lanczos converges early)."""

FORMAT = "landscape-hessian"
FORMAT_VERSION = 1


AUTOCAST_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


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
    hvp_mode: HvpMode = HvpMode.forward
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
                raise LandscapeError(f"Hessian setting {name} must be a whole number ≥ 1, got {value!r}")
        if self.max_steps < self.top_k:
            raise LandscapeError(f"Hessian max_steps ({self.max_steps}) must be at least top_k ({self.top_k})")
        if self.density_points < 3:
            raise LandscapeError(f"Hessian density_points must be ≥ 3, got {self.density_points}")
        for name in ("tol", "density_sigma"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise LandscapeError(f"Hessian setting {name} must be a positive number, got {value!r}")
        if not (math.isfinite(self.trace_rtol) and self.trace_rtol >= 0):
            raise LandscapeError(f"Hessian trace_rtol must be ≥ 0 (0: use every probe), got {self.trace_rtol!r}")
        if self.autocast is not None and self.autocast not in AUTOCAST_DTYPES.values():
            raise LandscapeError(f"Hessian autocast must be torch.bfloat16, torch.float16 or None, "
                                 f"got {self.autocast!r}")
        object.__setattr__(self, "hvp_mode", HvpMode(self.hvp_mode))
        object.__setattr__(self, "seed", check_seed(self.seed))
        if self.params is not None:
            object.__setattr__(self, "params", tuple(self.params))

    def attributes(self) -> dict[str, Any]:
        """The settings as HDF5 attribute values: numbers as numbers, choices as text."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "autocast":
                v = "none" if v is None else str(v).removeprefix("torch.")
            elif f.name == "params":
                continue  # written as the resolved names, see write_hessian
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
    hvp_mode: HvpMode = HvpMode.forward  # the one used (forward falls back to reverse when an op lacks forward AD)
    vectors_per_pass: int = 1  # the one used (vmap falls back to fewer vectors when it fails or runs out of memory)
    seconds: float = 0.0

    def label(self, i: int) -> str:
        return f"Hessian eigenvector {i + 1} (λ={self.eigenvalues[i]:.4g})"


# ------------------------------------------------------------------------------ evaluation helpers


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """The model in eval mode for the block; each module's own mode is restored after it."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def autocast_context(device: torch.device, dtype: torch.dtype | None) -> Any:
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


@dataclass
class Evaluation:
    loss: float  # mean over samples
    accuracy: float  # percent; NaN when fn gives no correct counts
    samples: int


def evaluate(model: nn.Module, batches: Sequence[Any], fn: EvalFn, tensors: Mapping[str, torch.Tensor] | None = None,
             autocast: torch.dtype | None = None) -> Evaluation:
    """Mean loss (and accuracy) over the batches, with the model's named tensors replaced by
    `tensors` (functionally); sums stay on the device, one synchronization at the end."""
    if not batches:
        raise LandscapeError("no data to evaluate the loss on; give a data set with at least one sample")
    device = _model_device(model, tensors)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    count: Any = 0
    correct: Any = 0
    have_correct = True
    checks = EvalChecks(fn)
    where = "the model's weights" if tensors is None else "the weights given"
    with torch.no_grad(), eval_mode(model), autocast_context(device, autocast):
        for k, batch in enumerate(batches):
            out = checks.run(lambda: call_with(model, dict(tensors or {}), fn, batch), k, where)
            loss_sum += out.loss.double() if isinstance(out.loss, torch.Tensor) else out.loss
            count = count + out.count
            if out.correct is not None:
                correct = correct + out.correct
            else:
                have_correct = False
    checks.finish()
    n = int(count)
    if n <= 0:
        raise LandscapeError("the evaluation function counted no samples; check the data and the --eval function")
    acc = 100.0 * float(correct) / n if have_correct else float("nan")
    return Evaluation(float(loss_sum) / n, acc, n)


def _model_device(model: nn.Module, tensors: Mapping[str, torch.Tensor] | None) -> torch.device:
    for t in (tensors or {}).values():
        return t.device
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def resolve_params(model: nn.Module, params: Sequence[str] | None) -> list[str]:
    """The parameter names a Hessian is over, in model order (None: every floating-point one)."""
    named = dict(model.named_parameters())
    if params is None:
        names = [n for n, p in named.items() if p.is_floating_point()]
    else:
        wanted = list(params)
        unknown = [n for n in wanted if n not in named]
        if unknown:
            sample = ", ".join(list(named)[:6]) + (", …" if len(named) > 6 else "")
            raise LandscapeError(f"the model has no parameter {unknown[0]!r}; its parameters are named like: {sample}")
        if len(set(wanted)) != len(wanted):
            raise LandscapeError("a parameter is named twice in the Hessian's parameter list; name each once")
        names = [n for n in named if n in set(wanted)]
        bad = [n for n in names if not named[n].is_floating_point()]
        if bad:
            raise LandscapeError(f"parameter {bad[0]!r} is not floating point; it has no Hessian")
    if not names:
        raise LandscapeError("the model has no floating-point parameters: there is no Hessian to compute")
    return names


class NonFiniteLoss(LandscapeError):
    """The loss (or its curvature) is inf or NaN at the weights asked about: no Hessian there."""


def _is_oom(e: BaseException) -> bool:
    return isinstance(e, OOM_ERRORS) or "out of memory" in str(e).lower()  # the text: MPS and older builds


# ----------------------------------------------------------------------------------- the operator


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
            raise LandscapeError("no data to compute the Hessian on; give a data set with at least one sample")
        self.names = resolve_params(model, params)
        own = dict(model.named_parameters())
        source = {n: p.detach() for n, p in own.items()}
        source.update({n: t.detach() for n, t in (at or {}).items()})
        for n in self.names:
            if tuple(source[n].shape) != tuple(own[n].shape):
                raise LandscapeError(f"weights for {n!r} have shape {tuple(source[n].shape)}, the model's "
                                     f"{tuple(own[n].shape)}")
        self.theta = {n: source[n] for n in self.names}
        self.fixed = {n: t for n, t in source.items() if n not in self.theta}
        self.shapes = [tuple(self.theta[n].shape) for n in self.names]
        sizes = [self.theta[n].numel() for n in self.names]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.dim = int(self.offsets[-1])
        self.device = self.theta[self.names[0]].device
        self.work_device = self.device if self.device.type != "mps" else torch.device("cpu")  # no float64 on MPS
        self.hvps = 0
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

    def _pass(self, vs: dict[str, torch.Tensor], m: int) -> torch.Tensor:
        """One pass over the data for m vectors: (m, dim) float64, summed over batches on the device."""
        acc = torch.zeros(m, self.dim, dtype=torch.float64, device=self.work_device)
        for batch in self.batches:
            if self.mode == HvpMode.reverse:
                hv = dict(zip(self.names, self._hvp_reverse(batch, vs, m)))
            elif m == 1:
                hv = {n: t.unsqueeze(0) for n, t in self._hvp_forward(batch, {n: t[0] for n, t in vs.items()}).items()}
            else:
                hv = vmap(lambda v, b=batch: self._hvp_forward(b, v))(vs)
            acc += self.flatten(hv, m)
        return acc

    def count(self) -> int:
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
        without forward AD), reverse-over-reverse is used from then on."""
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
                        raise LandscapeError("out of memory computing a Hessian-vector product; use a smaller "
                                             "--batch-size (the HVP needs about 3× a forward pass's memory)") from None
                    if self.mode == HvpMode.forward and not self._worked:
                        self.mode = HvpMode.reverse
                        continue
                    raise
                self._worked = True
                self.hvps += m
                start += m
        return out / n

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        """H v for one flat float64 vector (dim,)."""
        return self.matmat(v.reshape(1, -1))[0]


# ------------------------------------------------------------------------------------ Lanczos


class Krylov:
    """One Lanczos run with full reorthogonalization: orthonormal basis Q (steps, n) float64,
    tridiagonal T (α on the diagonal, β beside it), with H Q_jᵀ = Q_jᵀ T_j + β_j q_{j+1} e_jᵀ.

    Each new vector is orthogonalized against the whole basis, twice ("twice is enough",
    Kahan–Parlett): without it, rounding makes the basis lose orthogonality as soon as a Ritz
    value converges and copies of converged eigenvalues ("ghosts") appear. If the Krylov space
    becomes invariant (β ≈ 0), a run that may `restart` continues from a random vector
    orthogonal to the basis (β = 0 then decouples the blocks of T), so eigenvalues of
    multiplicity > 1 are found too.
    """

    def __init__(self, q0: torch.Tensor, max_steps: int, generator: torch.Generator | None = None):
        self.n = q0.numel()
        self.max_steps = min(max_steps, self.n)
        self.q = q0 / torch.linalg.vector_norm(q0)
        self.basis = torch.empty(min(self.max_steps, 16), self.n, dtype=torch.float64, device=q0.device)
        self.alpha: list[float] = []
        self.beta: list[float] = []  # couplings between consecutive vectors
        self.next_beta = 0.0  # the coupling to the vector after the last: the residual scale
        self.generator = generator
        self.scale = 0.0
        self.restarted = False  # the last step hit an invariant subspace and restarted
        self.done = False

    @property
    def steps(self) -> int:
        return len(self.alpha)

    def step(self, w: torch.Tensor) -> None:
        """Take w = H q for the current q; leaves the next q ready, or marks the run done."""
        j = self.steps
        if j == self.basis.shape[0]:
            grown = torch.empty(min(2 * j, self.max_steps), self.n, dtype=torch.float64, device=self.basis.device)
            grown[:j] = self.basis
            self.basis = grown
        self.basis[j] = self.q
        q_basis = self.basis[: j + 1]  # (j+1, n)
        a = torch.dot(w, self.q)
        w = w - a * self.q
        if j > 0:
            w = w - self.beta[-1] * self.basis[j - 1]
        for _ in range(2):
            w = w - q_basis.T @ (q_basis @ w)
        b = float(torch.linalg.vector_norm(w))
        self.alpha.append(float(a))
        self.scale = max(self.scale, abs(self.alpha[-1]), b)
        self.next_beta, self.restarted = b, False
        if self.steps >= self.max_steps:
            self.done = True
        elif b <= 1e-10 * self.scale:  # invariant subspace: every Ritz pair so far is exact
            if self.generator is None:
                self.done = True
                return
            r = torch.randn(self.n, generator=self.generator, dtype=torch.float64).to(w.device)
            for _ in range(2):
                r = r - q_basis.T @ (q_basis @ r)
            self.beta.append(0.0)
            self.next_beta, self.restarted = 0.0, True
            self.q = r / torch.linalg.vector_norm(r)
        else:
            self.beta.append(b)
            self.q = w / b

    def tridiagonal(self) -> np.ndarray:
        k = self.steps
        t = np.diag(np.asarray(self.alpha, dtype=np.float64))
        off = np.asarray(self.beta[: k - 1], dtype=np.float64)
        t[np.arange(k - 1), np.arange(1, k)] = off
        t[np.arange(1, k), np.arange(k - 1)] = off
        return t

    def ritz(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(Ritz values ascending, eigenvectors of T as columns, residual norms ‖H y − θ y‖)."""
        t = self.tridiagonal()
        if not np.isfinite(t).all() or not math.isfinite(self.next_beta):
            raise NonFiniteLoss("the Hessian-vector products are not finite (inf or NaN): the loss overflows near "
                                "these weights; use a checkpoint whose loss is finite, or --precision fp32")
        theta, s = np.linalg.eigh(t)
        return theta, s, np.abs(self.next_beta * s[-1, :])

    def vectors(self, s: np.ndarray) -> torch.Tensor:
        """Ritz vectors Qᵀ s for the columns of s: (columns, n) float64."""
        k = self.steps
        return torch.from_numpy(np.ascontiguousarray(s.T)).to(self.basis.device) @ self.basis[:k]


def _converged(run: Krylov, k: int, tol: float, smallest_too: bool = False) -> bool:
    """Whether the k largest Ritz pairs (and the smallest, with `smallest_too`) have residual
    ≤ tol · max |θ|. Never right after a restart: the new block is not explored yet."""
    if run.restarted or run.steps < k:
        return False
    theta, _, res = run.ritz()
    bound = tol * max(float(np.abs(theta).max()), 1e-30)
    return bool(np.all(res[-k:] <= bound) and (not smallest_too or res[0] <= bound))


def run_lanczos(apply: Callable[[list[Krylov]], list[torch.Tensor]], runs: list[Krylov],
                stop: Callable[[Krylov], bool] | None = None, after: Callable[[], None] | None = None) -> list[Krylov]:
    """Advance the runs in lockstep until each is done or `stop` says it has converged;
    `apply(active runs)` returns H q for each run's current q (one batched pass for all)."""
    while True:
        active = [r for r in runs if not r.done]
        if not active:
            return runs
        for r, w in zip(active, apply(active)):
            r.step(w)
            if not r.done and stop is not None and stop(r):
                r.done = True
        if after is not None:
            after()


def _gaussian(n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """A standard normal vector drawn on the CPU (the same on every device), then moved."""
    return torch.randn(n, generator=generator, dtype=torch.float64).to(device)


def _rademacher(m: int, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """(m, n) of ±1, drawn on the CPU as bytes (the same on every device), then moved."""
    bits = torch.randint(0, 2, (m, n), generator=generator, dtype=torch.int8).to(device)
    return bits.to(torch.float64) * 2 - 1


def _generator(seed: int, part: int) -> torch.Generator:
    """Each part of a computation (Lanczos start, probes, density starts, per tensor) draws from
    its own generator, so turning one part on or off does not change the others."""
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + part) % 2**64)


def _full_apply(op: HessianOperator) -> Callable[[list[Krylov]], list[torch.Tensor]]:
    return lambda runs: list(op.matmat(torch.stack([r.q for r in runs])).unbind(0))


def lanczos_top(op: HessianOperator, k: int, max_steps: int, tol: float, seed: int = 0,
                after: Callable[[], None] | None = None) -> tuple[np.ndarray, torch.Tensor, np.ndarray, Krylov]:
    """The k largest eigenvalues of H (descending), their unit eigenvectors (k, dim) float64,
    the residual norms, and the run.

    Lanczos rather than power iteration with deflation (PyHessian's `eigenvalues`): power
    iteration finds one eigenvector at a time, each needing its own tens of HVPs, converging
    at the rate λ_{i+1}/λ_i, and deflating against the earlier ones; one Krylov space holds
    all k Ritz pairs at once and converges faster (Chebyshev-like rate), so k > 1 costs far
    fewer HVPs. Full reorthogonalization costs O(steps × dim) memory and time per step,
    affordable because k is small and the basis fits in memory, and it keeps the Ritz values
    free of spurious copies (ghost eigenvalues) that plain three-term Lanczos produces.
    """
    if k > op.dim:
        raise LandscapeError(f"top_k {k} exceeds the {op.dim} parameters the Hessian is over; ask for at most {op.dim}")
    gen = _generator(seed, 0)
    run = Krylov(_gaussian(op.dim, gen, op.work_device), max_steps, generator=gen)
    run_lanczos(_full_apply(op), [run], lambda r: _converged(r, k, tol), after)
    theta, s, res = run.ritz()
    top = np.argsort(theta)[::-1][:k]
    vectors = run.vectors(s[:, top])
    # a sign convention: the largest entry of each eigenvector is positive
    idx = vectors.abs().argmax(dim=1)
    signs = torch.sign(vectors[torch.arange(len(top)), idx])
    vectors = vectors * torch.where(signs == 0, torch.ones_like(signs), signs)[:, None]
    return theta[top], vectors, res[top], run


def extreme_eigenvalues(model: nn.Module, batches: Sequence[Any], fn: EvalFn,
                        at: Mapping[str, torch.Tensor] | None = None, steps: int = 20, tol: float = 1e-3,
                        settings: HessianSettings = HessianSettings()) -> tuple[float, float]:
    """(λmax, λmin) of the Hessian at the weights `at` (the model's own where not given), by
    Lanczos for at most `steps` products, stopping when both extreme Ritz pairs have residual
    ≤ tol · max |λ|; for the convexity maps |λmin/λmax| of Li et al. 2018 (sec. 7, Fig. 9).

    `settings` gives the parameters, HVP mode, autocast and seed."""
    op = HessianOperator(model, batches, fn, settings.params, at, settings.autocast, settings.hvp_mode)
    gen = _generator(settings.seed, 0)
    run = Krylov(_gaussian(op.dim, gen, op.work_device), steps, generator=gen)
    run_lanczos(_full_apply(op), [run], lambda r: _converged(r, 1, tol, smallest_too=True))
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
    device = torch.device(device) if device is not None else _model_device(model, state)
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


def eigen_map_values(evaluator: Any, steps: int = 20,
                     tol: float = 1e-3) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """For `compute --eigen-map`: a function of a chunk of points (P, 2) giving `eig_max`,
    `eig_min`, `eig_ratio` there, with the evaluator's model (unfolded: the Hessian is over the
    model's own parameters), data, directions, loss and autocast precision. Batches are a
    the plan's `hvp_batch` (a quarter of the evaluator's on a GPU: an HVP holds about 3-4×
    a forward pass's memory)."""
    from landscape.inputs.data import TensorData, to_device
    from landscape.inputs.objective import batch_loss

    ev = evaluator
    device = torch.device(ev.device)
    objective = ev.objective
    fn = objective.eval_fn if objective.eval_fn is not None else batch_loss(objective.loss, objective.classification)
    data = ev.data
    if isinstance(data, TensorData):
        size = ev.plan.hvp_batch or len(data)  # the plan's batch for Hessian-vector products
        batches = [(data.x[s:s + size].to(device), data.y[s:s + size].to(device))
                   for s in range(0, len(data), size)]
    else:
        batches = [to_device(b, device) for b in data.batches]
    settings = HessianSettings(autocast=ev.plan.precision.autocast_dtype)

    def values(coords: np.ndarray) -> dict[str, np.ndarray]:
        from landscape.engine import precision_context

        with precision_context(ev.plan.precision, device):  # the plan's TF32 setting, as for the loss
            return eigen_map(ev.model, batches, fn, ev.directions, coords, steps, tol, settings, device)

    return values


# --------------------------------------------------------------------------- trace and density


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
    gen = _generator(seed, 1)
    block_of = torch.repeat_interleave(torch.arange(len(op.names), device=op.work_device),
                                       torch.as_tensor(np.diff(op.offsets), device=op.work_device))
    samples: list[torch.Tensor] = []  # (m, tensors) per pass, on the device
    done = 0
    while done < probes:
        m = min(op.vectors_per_pass, probes - done)
        z = _rademacher(m, op.dim, gen, op.work_device)
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
    """The spectral density of H by stochastic Lanczos quadrature: (grid, density).

    Each run starts from a normalized Rademacher vector v; the eigenvalues θ_i of its
    tridiagonal T and the squared first components τ_i of T's eigenvectors are the nodes and
    weights of the Gauss quadrature of vᵀ f(H) v, whose mean over v is tr f(H) / n. The
    density is Σ τ_i N(t; θ_i, σ²) averaged over runs, σ = `sigma` × (spread of all Ritz
    values), on `points` grid points reaching 5σ past the extreme Ritz values, normalized so
    its trapezoid integral is 1 (PyHessian normalizes its Riemann sum the same way).
    """
    gen = _generator(seed, 2)
    starts = [_rademacher(1, op.dim, gen, op.work_device)[0] for _ in range(runs)]
    done = run_lanczos(_full_apply(op), [Krylov(q, steps) for q in starts], after=after)
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


def per_tensor_top(op: HessianOperator, steps: int, tol: float, seed: int = 0,
                   after: Callable[[], None] | None = None) -> np.ndarray:
    """The top eigenvalue of each tensor's Hessian block H_tt: Lanczos over that tensor alone,
    `vectors_per_pass` tensors advancing together (one vmapped pass serves them all)."""
    gen = _generator(seed, 3)
    runs = [Krylov(_gaussian(op.block(i).stop - op.block(i).start, gen, op.work_device), steps, generator=gen)
            for i in range(len(op.names))]
    block = {id(r): op.block(i) for i, r in enumerate(runs)}

    def apply(active: list[Krylov]) -> list[torch.Tensor]:
        full = torch.zeros(len(active), op.dim, dtype=torch.float64, device=op.work_device)  # zero outside each block
        for row, r in enumerate(active):
            full[row, block[id(r)]] = r.q
        hq = op.matmat(full)
        return [hq[row, block[id(r)]] for row, r in enumerate(active)]

    # lockstep within groups of vectors_per_pass tensors, so that each pass carries that many vectors
    for g in range(0, len(runs), op.vectors_per_pass):
        run_lanczos(apply, runs[g:g + op.vectors_per_pass], lambda r: _converged(r, 1, tol), after)
    return np.array([float(r.ritz()[0][-1]) for r in runs])


# ------------------------------------------------------------------------------------ all of it


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
    theta, _, res = run.ritz()
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


# ------------------------------------------------------------------------------------ the file


def write_hessian(path: Path, result: HessianResult, attrs: Mapping[str, Any] | None = None) -> Path:
    """One HDF5 file: `eigenvalues` (K,), `residuals` (K,), the top two eigenvectors as the groups
    `xdirection` and `ydirection` (the surface file's direction layout, so `store.read_directions`
    reads them as a plane), the others as `eigenvector_3` … `eigenvector_K`; `trace`,
    `trace_stderr`, `density_grid`, `density` when computed; the group `per_layer` (datasets
    `size`, `top_eigenvalue`, `trace`, `trace_stderr`, tensor names in the attribute `names`);
    and root attributes: `attrs` (what the caller knows: checkpoint, model, data, ...), every
    setting (`params` is "all" or the names given; `param_names` the tensors the Hessian is
    over), the outcome (loss, steps, products, ...), `dir_kind`, `dir_type`, `xlabel`, `ylabel`.
    Written to a temporary file and renamed over `path`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with replacing(path) as tmp, h5py.File(tmp, "w") as f:
            for k, v in (attrs or {}).items():
                f.attrs[k] = store.attribute(v)
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            for k, v in result.settings.attributes().items():
                f.attrs[k] = v
            # `params`: as asked ("all": every floating-point parameter); `param_names`: the tensors it meant
            given = result.settings.params
            f.attrs["params"] = "all" if given is None else np.array(list(given), dtype=h5py.string_dtype())
            f.attrs["param_names"] = np.array(list(result.params), dtype=h5py.string_dtype())
            outcome = {"loss": result.loss, "accuracy": result.accuracy, "samples": result.samples,
                       "smallest_ritz": result.smallest_ritz, "lanczos_steps": result.lanczos_steps,
                       "converged": result.converged, "hvps": result.hvps, "hvp_mode_used": result.hvp_mode.value,
                       "vectors_per_pass_used": result.vectors_per_pass, "seconds": result.seconds}
            for k, v in outcome.items():
                f.attrs[k] = v
            k = len(result.eigenvalues)
            f.attrs["dir_kind"] = "hessian"
            f.attrs["dir_type"] = "weights"
            f.attrs["xlabel"] = result.label(0)
            f.attrs["ylabel"] = result.label(1) if k > 1 else "direction 2"
            f.attrs["eigenvalues"] = np.asarray(result.eigenvalues, dtype=np.float64)  # read_directions keeps it
            f.create_dataset("eigenvalues", data=np.asarray(result.eigenvalues, dtype=np.float64))
            f.create_dataset("residuals", data=np.asarray(result.residuals, dtype=np.float64))
            for i, v in enumerate(result.eigenvectors):
                group = f.create_group(_vector_group(i))
                group.attrs["eigenvalue"] = float(result.eigenvalues[i])
                store.write_direction(group, v)
            if result.trace is not None:
                f.create_dataset("trace", data=float(result.trace))
                f.create_dataset("trace_stderr", data=float(result.trace_stderr))
                f.attrs["probes_used"] = result.probes  # `probes` is the setting (the most probes)
            if result.density is not None:
                f.create_dataset("density_grid", data=np.asarray(result.density_grid, dtype=np.float64))
                f.create_dataset("density", data=np.asarray(result.density, dtype=np.float64))
            if result.per_layer:
                g = f.create_group("per_layer")
                rows = result.per_layer
                g.attrs["names"] = np.array([r.name for r in rows], dtype=h5py.string_dtype())
                g.create_dataset("size", data=np.array([r.size for r in rows], dtype=np.int64))
                for key in ("top_eigenvalue", "trace", "trace_stderr"):
                    g.create_dataset(key, data=np.array([getattr(r, key) for r in rows], dtype=np.float64))
    except OSError as e:
        raise LandscapeError(f"cannot write {str(path)!r}: {e.strerror or e}; choose another --out") from None
    return path


def _vector_group(i: int) -> str:
    return ("xdirection", "ydirection")[i] if i < 2 else f"eigenvector_{i + 1}"


def _text(v: Any) -> str:
    return v.decode(errors="replace") if isinstance(v, bytes) else str(v)


def _names(value: Any) -> list[str]:
    return [_text(v) for v in np.asarray(value).ravel()]


def read_hessian(path: Path) -> HessianResult:
    """A result written by `write_hessian`. Every attribute and dataset is checked (present, of
    its type and shape, backed by the file) before any data is read, so a damaged or hostile
    file is a user error, never a traceback or a huge allocation."""
    path = Path(path)
    return store.guarded(path, lambda: _read_hessian(path), "a Hessian file", "landscape hessian ...")


def _read_hessian(path: Path) -> HessianResult:
    where = repr(str(path))

    def damaged(what: str) -> LandscapeError:
        return LandscapeError(f"{where}: {what}; the file is damaged: compute it again (landscape hessian ...)")

    with store.open_file(path) as f:
        if _text(f.attrs.get("format", "")) != FORMAT or "eigenvalues" not in f:
            raise LandscapeError(f"{where} is not a Hessian file (written by landscape hessian)")
        a = dict(f.attrs)

        def attr(name: str, kind: type, default: Any = None) -> Any:
            """A scalar attribute as `kind` (bool, int, float or str); required unless `default` is given."""
            if name not in a:
                if default is None:
                    raise damaged(f"it lacks the attribute {name!r}")
                return default
            v = a[name]
            v = v[()] if isinstance(v, np.ndarray) and v.shape == () else v
            flag = isinstance(v, (bool, np.bool_))
            whole = isinstance(v, (int, np.integer)) and not flag
            if {bool: flag or whole and v in (0, 1), int: whole, float: whole or isinstance(v, (float, np.floating)),
                    str: isinstance(v, (str, bytes))}[kind]:
                return _text(v) if kind is str else kind(v)
            wanted = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}[kind]
            raise damaged(f"its attribute {name!r} is {_text(v)[:40]!r}, not {wanted}")

        def choice(name: str, choices: dict[str, Any]) -> Any:
            text = attr(name, str)
            if text not in choices:
                raise damaged(f"its attribute {name!r} is {text[:40]!r}, not one of {', '.join(choices)}")
            return choices[text]

        modes = {m.value: m for m in HvpMode}
        kwargs: dict[str, Any] = {}
        for fld in dataclasses.fields(HessianSettings):
            if fld.name not in a or fld.name == "params":
                continue
            if fld.name == "autocast":
                kwargs[fld.name] = choice(fld.name, {"none": None, **AUTOCAST_DTYPES})
            elif fld.name == "hvp_mode":
                kwargs[fld.name] = choice(fld.name, modes)
            else:
                kwargs[fld.name] = attr(fld.name, type(fld.default))
        given = a.get("params", "all")
        try:
            settings = HessianSettings(**kwargs,
                                       params=None if isinstance(given, (str, bytes)) else tuple(_names(given)))
        except LandscapeError as e:
            raise damaged(f"its settings are invalid ({e})") from None
        params = tuple(_names(a["param_names"])) if "param_names" in a else ()

        def vector(name: str, length: int | None = None, scalar: bool = False) -> h5py.Dataset:
            """A numeric dataset: 1-D (of `length` entries) or, with `scalar`, one number."""
            node = f.get(name)
            if not isinstance(node, h5py.Dataset) or node.dtype.kind not in "iuf":
                raise damaged(f"{name} is not an array of numbers")
            if scalar and node.size != 1 or not scalar and (len(node.shape) != 1 or node.shape[0] == 0
                                                           or length is not None and node.shape[0] != length):
                raise damaged(f"{name} has shape {node.shape}, expected "
                              + ("one number" if scalar else f"({length},)" if length is not None else "a list"))
            return node

        values = vector("eigenvalues")
        k = values.shape[0]
        columns = {"eigenvalues": values, "residuals": vector("residuals", k)}
        if "trace" in f:
            columns.update(trace=vector("trace", scalar=True), trace_stderr=vector("trace_stderr", scalar=True))
        if "density" in f or "density_grid" in f:
            columns["density_grid"] = vector("density_grid")
            columns["density"] = vector("density", columns["density_grid"].shape[0])
        layer_names: list[str] = []
        if "per_layer" in f:
            g = f["per_layer"]
            if not isinstance(g, h5py.Group) or "names" not in g.attrs:
                raise damaged("per_layer is not a group with tensor names")
            layer_names = _names(g.attrs["names"])
            for key in ("size", "top_eigenvalue", "trace", "trace_stderr"):
                columns[f"per_layer/{key}"] = vector(f"per_layer/{key}", len(layer_names))
        store.check_backed(path, list(columns.items()))  # before `k` is trusted to count anything
        groups = []
        for i in range(k):
            name = _vector_group(i)
            if not isinstance(f.get(name), h5py.Group) or "names" not in f[name].attrs:
                raise damaged(f"eigenvector {i + 1} ({name}) is missing or has no tensor names")
            groups.append(store.direction_tensors(f[name], path))
            if [(n, d.shape) for n, d in groups[-1]] != [(n, d.shape) for n, d in groups[0]]:
                raise damaged(f"eigenvector {i + 1} ({name}) holds other tensors than eigenvector 1")
        store.check_backed(path, [(f"{d.name} ({n})", d) for items in groups for n, d in items])
        col = {n: np.asarray(d[()], dtype=np.float64).ravel() for n, d in columns.items()}
        vectors = [{n: torch.from_numpy(store.values(d)) for n, d in items} for items in groups]
        result = HessianResult(
            eigenvalues=col["eigenvalues"], eigenvectors=vectors, residuals=col["residuals"],
            smallest_ritz=attr("smallest_ritz", float), lanczos_steps=attr("lanczos_steps", int),
            converged=attr("converged", bool), params=params, loss=attr("loss", float),
            accuracy=attr("accuracy", float), samples=attr("samples", int), settings=settings, hvps=attr("hvps", int),
            hvp_mode=choice("hvp_mode_used", modes), vectors_per_pass=attr("vectors_per_pass_used", int),
            seconds=attr("seconds", float))
        if "trace" in col:
            result.trace, result.trace_stderr = float(col["trace"][0]), float(col["trace_stderr"][0])
            result.probes = attr("probes_used", int, 0) if "probes_used" in f.attrs else attr("probes", int, 0)
        if "density" in col:
            result.density_grid, result.density = col["density_grid"], col["density"]
        if layer_names:
            result.per_layer = [
                LayerCurvature(n, int(col["per_layer/size"][i]), float(col["per_layer/top_eigenvalue"][i]),
                                float(col["per_layer/trace"][i]), float(col["per_layer/trace_stderr"][i]))
                for i, n in enumerate(layer_names)]
    return result
