"""What is measured at a point: the loss (mean over samples) and, for classification, accuracy."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from landscape.errors import LandscapeError
from landscape.inputs.importing import import_object

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
EvalFn = Callable[[nn.Module, Any], Sequence[Any]]
"""`fn(model, batch)` -> (loss sum, sample count) or (loss sum, sample count, correct count): the
`--eval` form of a loss, for models that are not f(x) -> logits. The mean loss of a point is the
sum of the loss sums over the sum of the counts."""


def cross_entropy(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(outputs, targets)


def mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """With integer labels, MSE between softmax outputs and one-hot targets, as the paper's code does;
    with float targets, plain MSE."""
    if not targets.is_floating_point() and outputs.dim() == 2:
        one_hot = F.one_hot(targets, outputs.shape[1]).to(outputs.dtype)
        return F.mse_loss(F.softmax(outputs, dim=1), one_hot)
    return F.mse_loss(outputs, targets.to(outputs.dtype).view_as(outputs))


BUILTIN = {"cross-entropy": cross_entropy, "mse": mse}


@dataclass(frozen=True)
class Objective:
    """What is measured at a point: a loss of (outputs, targets), the batch mean, with accuracy
    for classification; or an --eval function `fn(model, batch)` returning sums itself."""

    loss: LossFn | None = None
    eval_fn: EvalFn | None = None
    classification: bool = False  # accuracy: arg-max outputs against integer labels

    def __post_init__(self) -> None:
        if (self.loss is None) == (self.eval_fn is None):
            raise ValueError("an Objective has either a loss or an eval function")


@dataclass(frozen=True)
class Loss:
    """A named loss: 'cross-entropy', 'mse', or 'pkg.module:fn' taking (outputs, targets) and
    returning the batch mean; or, with `eval`, 'pkg.module:fn' taking (model, batch) and
    returning (loss sum, count[, correct])."""

    name: str = "cross-entropy"
    eval: str | None = None  # --eval pkg.module:fn

    def function(self) -> LossFn:
        if self.name in BUILTIN:
            return BUILTIN[self.name]
        if ":" in self.name:
            return import_object(self.name, "--loss")
        raise LandscapeError(f"unknown --loss {self.name!r}: use cross-entropy, mse or pkg.module:fn")

    def objective(self) -> Objective:
        if self.eval is not None:
            return Objective(eval_fn=import_object(self.eval, "--eval"))
        return Objective(loss=self.function())

    @property
    def label(self) -> str:
        """What the file records as the loss."""
        return f"--eval {self.eval}" if self.eval else self.name


# ------------------------------------------------------------------ what an --eval function returns


def eval_name(fn: Any) -> str:
    """How messages name a user's function: module:qualname."""
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', getattr(fn, '__name__', repr(fn)))}"


def _describe(v: Any) -> str:
    if isinstance(v, torch.Tensor):
        return f"a {v.dtype} tensor of shape {tuple(v.shape)}"
    if isinstance(v, (str, bytes)):
        return f"the text {v[:40]!r}"
    return f"a {type(v).__name__}"


def _scalar(v: Any, what: str) -> Any:
    """A real number as float, or a one-element real tensor (left on its device: no sync)."""
    if isinstance(v, (int, float)) or (hasattr(v, "dtype") and not isinstance(v, torch.Tensor)
                                        and getattr(v, "shape", None) == () and getattr(v.dtype, "kind", "") in "biuf"):
        return float(v)
    if isinstance(v, torch.Tensor) and v.numel() == 1 and not v.is_complex() and v.dtype != torch.bool:
        return v.detach().reshape(())
    raise LandscapeError(f"its {what} is {_describe(v)}, not a number or a one-element tensor")


@dataclass
class EvalBatch:
    """One batch's (loss sum, count, correct) from an --eval function: real numbers (floats) or
    one-element device tensors. Values held by tensors are checked by `check_values` once the
    caller has synchronized (checking them here would stall a GPU on every batch)."""

    loss: Any
    count: Any
    correct: Any = None


def eval_batch(result: Any) -> EvalBatch:
    """Check the structure of an --eval function's result (and its Python numbers) at once."""
    if not isinstance(result, (tuple, list)) or len(result) not in (2, 3):
        raise LandscapeError(f"it returned {_describe(result)}; it must return (loss sum, count) or "
                             "(loss sum, count, correct)")
    out = EvalBatch(_scalar(result[0], "loss sum"), _scalar(result[1], "count"),
                    None if len(result) < 3 or result[2] is None else _scalar(result[2], "correct count"))
    if not isinstance(out.count, torch.Tensor) and (out.correct is None or not isinstance(out.correct, torch.Tensor)):
        check_values(out.count, out.correct)
    return out


def check_values(count: float, correct: float | None) -> None:
    """A count must be finite and ≥ 0; a correct count between 0 and the count."""
    if not math.isfinite(count) or count < 0:
        raise LandscapeError(f"its count is {count:g}; a count is a finite number ≥ 0 of samples (or tokens)")
    if correct is not None and not (math.isfinite(correct) and 0 <= correct <= count):
        raise LandscapeError(f"its correct count is {correct:g} of {count:g}; it must lie between 0 and the count")


class EvalChecks:
    """The checks of every batch of an evaluation: `add(result, batch, where)` per batch and
    `finish()` after the host sync; errors name the function, the point and the batch."""

    def __init__(self, fn: Any):
        from landscape.engine.device import OOM_ERRORS  # (engine imports this module: not at the top)

        self.fn = fn
        self.oom = OOM_ERRORS
        self.pending: list[tuple[str, int, EvalBatch]] = []

    def error(self, where: str, batch: int, problem: str) -> LandscapeError:
        return LandscapeError(f"the --eval function {eval_name(self.fn)} at {where}, batch {batch}: {problem}")

    def run(self, call: Callable[[], Any], batch: int, where: str) -> EvalBatch:
        """`call()` (the user's function on one batch), checked; its failure is a user error that
        names the place, except running out of memory, which the caller handles."""
        try:
            result = call()
        except self.oom:
            raise
        except Exception as e:
            raise self.error(where, batch, f"it raised {type(e).__name__}: "
                                           f"{(str(e).splitlines() or [''])[0][:200]}") from None
        return self.add(result, batch, where)

    def add(self, result: Any, batch: int, where: str) -> EvalBatch:
        try:
            checked = eval_batch(result)
        except LandscapeError as e:
            raise self.error(where, batch, str(e)) from None
        if isinstance(checked.count, torch.Tensor) or isinstance(checked.correct, torch.Tensor):
            self.pending.append((where, batch, checked))
        return checked

    def finish(self) -> None:
        """Check the tensor-held values, with one copy to the host for all of them (after the
        caller's sync, so it costs no wait)."""
        pending, self.pending = self.pending, []
        if not pending:
            return
        device = next(v.device for _, _, b in pending for v in (b.count, b.correct) if isinstance(v, torch.Tensor))
        flat = [torch.as_tensor(-1.0 if v is None else v, dtype=torch.float64, device=device).reshape(())
                for _, _, b in pending for v in (b.count, b.correct)]
        host = torch.stack(flat).cpu().tolist()
        for i, (where, batch, b) in enumerate(pending):
            try:
                check_values(host[2 * i], None if b.correct is None else host[2 * i + 1])
            except LandscapeError as e:
                raise self.error(where, batch, str(e)) from None


def correct_count(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Number of samples whose arg-max class equals the label (a device tensor, no sync)."""
    return (outputs.argmax(dim=-1) == targets).sum()


def batch_loss(loss: LossFn, classification: bool = False) -> EvalFn:
    """The `EvalFn` of an (outputs, targets) loss over (x, y) batches."""

    def fn(model: nn.Module, batch: Any) -> tuple[torch.Tensor, int, torch.Tensor | None]:
        x, y = batch
        out = model(x).float()
        n = int(y.shape[0])
        return loss(out, y) * n, n, (correct_count(out, y) if classification else None)

    return fn


class _Bound(nn.Module):
    """`fn(net, batch)` as a module, so that `functional_call` can swap the net's tensors for a call."""

    def __init__(self, net: nn.Module, fn: EvalFn):
        super().__init__()
        self.net, self.fn = net, fn

    def forward(self, batch: Any) -> Any:
        return self.fn(self.net, batch)


def call_with(net: nn.Module, tensors: dict[str, torch.Tensor], fn: EvalFn, batch: Any) -> Any:
    """`fn(net, batch)` with the named tensors of `net` replaced by `tensors` for this call only
    (functionally: `net` is not modified, and torch.func transforms such as grad and jvp see
    through it). Tensors not named keep the net's own values."""
    return functional_call(_Bound(net, fn), {f"net.{k}": v for k, v in tensors.items()}, (batch,))
