"""Which tensors of a model take part: all of them, those whose name matches a pattern, the
trainable ones (LoRA adapters), or both. One small type used by random directions, target
directions, the Hessian and trajectories alike."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from landscape.errors import LandscapeError, arg


@dataclass(frozen=True)
class ParamSelection:
    """`pattern`: a regular expression; only tensors whose name it matches (`re.search`) take
    part. `trainable_only`: only parameters that require grad."""

    pattern: str | None = None
    trainable_only: bool = False

    @property
    def everything(self) -> bool:
        return not self.pattern and not self.trainable_only

    def describe(self) -> str:
        """How the tensors were chosen, for the file and `info` ("" when all take part)."""
        parts = ([f"matching {self.pattern!r}"] if self.pattern else []) + (["trainable only"] if self.trainable_only else [])
        return ", ".join(parts)

    def names(self, model: nn.Module, tensors: Mapping[str, torch.Tensor]) -> set[str] | None:
        """The names among `tensors` (floating point) that take part (None: all); a user error
        if none does."""
        if self.everything:
            return None
        names = [n for n in tensors if tensors[n].is_floating_point()]
        if self.trainable_only:
            trainable = {n for n, p in model.named_parameters() if p.requires_grad}
            names = [n for n in names if n in trainable]
        if self.pattern:
            try:
                pattern = re.compile(self.pattern)
            except re.error as e:
                raise LandscapeError(f"{arg('params')} {self.pattern!r} is not a regular expression ({e})",
                                     field="params") from None
            names = [n for n in names if pattern.search(n)]
        if not names:
            sample = ", ".join(list(tensors)[:6]) + (", …" if len(tensors) > 6 else "")
            raise LandscapeError(f"no parameter is {self.describe()}; the model's tensors are named like: {sample}",
                                 field="params")
        return set(names)
