"""The checks of every batch an evaluation function returns (the `eval` form of a loss): its
structure at once, the values it holds in tensors after the caller's host sync (no GPU wait per
batch), and errors that name the function, the point and the batch. Running out of memory is
not the function's fault: it passes through for the caller's back-off."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from landscape.engine.device import OOM_ERRORS
from landscape.errors import LandscapeError, arg


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
        self.fn = fn
        self.oom = OOM_ERRORS
        self.pending: list[tuple[str, int, EvalBatch]] = []

    def error(self, where: str, batch: int, problem: str) -> LandscapeError:
        return LandscapeError(f"the {arg('eval')} function {eval_name(self.fn)} at {where}, batch {batch}: {problem}")

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
            raise self.error(where, batch, e.message) from None
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
                raise self.error(where, batch, e.message) from None
