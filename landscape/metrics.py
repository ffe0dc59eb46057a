"""What is measured at a point: the loss (mean over samples) and, for classification, accuracy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import LandscapeError
from .importing import import_object

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


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
class Loss:
    """A named loss: 'cross-entropy', 'mse', or 'pkg.module:fn' taking (outputs, targets) and
    returning the batch mean."""

    name: str = "cross-entropy"

    def function(self) -> LossFn:
        if self.name in BUILTIN:
            return BUILTIN[self.name]
        if ":" in self.name:
            return import_object(self.name, "--loss")
        raise LandscapeError(f"unknown --loss {self.name!r}: use cross-entropy, mse or pkg.module:fn")


def correct_count(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Number of samples whose arg-max class equals the label (a device tensor, no sync)."""
    return (outputs.argmax(dim=-1) == targets).sum()
