"""Evaluating a model functionally: its named tensors replaced for one call (`call_with`), in
eval mode, the user's model left as it was. The kit the curvature estimators and the sharpness
ascent are built on: the mean loss over batches at given weights (`evaluate`), the parameters a
Hessian is over (`resolve_params`), and the data as batches on a device (`device_batches`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from landscape.engine.checks import EvalChecks
from landscape.errors import LandscapeError, arg
from landscape.inputs.data import Data, TensorData, to_device
from landscape.inputs.objective import EvalFn, Objective, batch_loss, call_with

AUTOCAST_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}  # the autocast a functional evaluation takes


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
    """bfloat16/float16 autocast on `device`, or nothing where `dtype` is None."""
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
        raise LandscapeError("no data to evaluate the loss on; give a data set with at least one sample", field="data")
    device = model_device(model, tensors)
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
        raise LandscapeError(f"the evaluation function counted no samples; check the data and the {arg('eval')} "
                             "function", field="eval")
    acc = 100.0 * float(correct) / n if have_correct else float("nan")
    return Evaluation(float(loss_sum) / n, acc, n)


def model_device(model: nn.Module, tensors: Mapping[str, torch.Tensor] | None = None) -> torch.device:
    """The device of the first of `tensors`, else of the model's first parameter, else the CPU."""
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
            raise LandscapeError(f"the model has no parameter {unknown[0]!r}; its parameters are named like: {sample}",
                                 field="params")
        if len(set(wanted)) != len(wanted):
            raise LandscapeError("a parameter is named twice in the Hessian's parameter list; name each once",
                                 field="params")
        names = [n for n in named if n in set(wanted)]
        bad = [n for n in names if not named[n].is_floating_point()]
        if bad:
            raise LandscapeError(f"parameter {bad[0]!r} is not floating point; it has no Hessian", field="params")
    if not names:
        raise LandscapeError("the model has no floating-point parameters: there is no Hessian to compute",
                             field="params")
    return names


def objective_fn(objective: Objective) -> EvalFn:
    """The objective as one function of (model, batch): its `eval_fn`, or its loss over the
    model's outputs (`batch_loss`)."""
    return objective.eval_fn if objective.eval_fn is not None else batch_loss(objective.loss, objective.classification)


def device_batches(data: Data, size: int | None, device: torch.device) -> list[Any]:
    """The data as a list of batches on `device`: tensor data in batches of `size` samples (all
    of it in one where `size` is None or 0), batch data as its own batches."""
    if isinstance(data, TensorData):
        size = size or len(data)
        return [(data.x[s : s + size].to(device), data.y[s : s + size].to(device)) for s in range(0, len(data), size)]
    return [to_device(b, device) for b in data.batches]
