"""What is measured at a point: the loss (mean over samples) and, for classification, accuracy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from landscape.errors import LandscapeError, arg
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
            return import_object(self.name, "loss")
        raise LandscapeError(f"unknown {arg('loss')} {self.name!r}: use cross-entropy, mse or pkg.module:fn")

    def objective(self) -> Objective:
        if self.eval is not None:
            return Objective(eval_fn=import_object(self.eval, "eval"))
        return Objective(loss=self.function())

    @property
    def label(self) -> str:
        """What the file records as the loss."""
        return f"--eval {self.eval}" if self.eval else self.name  # recorded in files: a resumed run compares it


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


def causal_lm(model: nn.Module, batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The `EvalFn` of a causal language model over (input_ids, attention_mask) batches: the sum of
    next-token cross-entropies over every predicted token (a token whose predecessor and itself
    are real, not padding), their count, and how many the arg-max predicts. The mean over a
    point is the per-token loss that `model(input_ids, labels=input_ids).loss` gives for full
    sequences, and exp of it the perplexity."""
    ids, mask = batch
    out = model(input_ids=ids, attention_mask=mask)
    logits = (out.logits if hasattr(out, "logits") else out[0])[:, :-1].float()
    target = ids[:, 1:]
    keep = (mask[:, 1:] * mask[:, :-1]).bool()
    losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="none")
    keep = keep.reshape(-1)
    correct = (logits.argmax(dim=-1).reshape(-1) == target.reshape(-1)) & keep
    return torch.where(keep, losses, 0.0).sum(), keep.sum(), correct.sum()


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
