"""Lean points: each point's weights made tensor by tensor, at the moment an operation reads them.

The plain point model holds θ, d1, d2 and a whole set of point weights θ + a·d1 + b·d2 beside
a private copy of the network: about five times the weights. A lean point holds only θ (the
network's own tensors, shared with the caller's model when it is already on the device), d1
and d2 in the model's dtype, 3·P·D in all, and a `TorchFunctionMode` that replaces a moving
tensor wherever an operation reads it (a layer's forward, a tied output head reading the
embedding, a parent module reading a child's weight) by θ + a·d1 + b·d2 computed for that
operation and freed after it. θ is never written, so nothing drifts and nothing needs
restoring; the values equal the plain model's (`torch.add` then `add_`, the same rounding).

The price is the combination made again for every batch rather than once per point: three
reads and a write of the weights per batch, small beside a forward pass of a model large
enough to need this (the plan's rule).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

Tensors = dict[str, torch.Tensor]

# Tensor methods that read only a tensor's metadata: no point value is made for them.
METADATA = frozenset({"__get__", "dim", "size", "numel", "nelement", "ndimension", "is_floating_point",
                      "is_complex", "element_size", "data_ptr", "stride", "is_contiguous", "get_device",
                      "__len__", "untyped_storage", "storage_offset", "__hash__", "__format__", "__repr__"})

VALUE_PROPERTIES = frozenset({"T", "mT", "H", "mH", "data", "real", "imag"})


def shared_copy(model: nn.Module, device: torch.device) -> nn.Module:
    """The module structure of `model` copied, in eval mode, with its tensors shared where they
    already are on `device` and moved there otherwise (ties kept: a tensor registered twice
    stays one tensor). The caller's model is not changed: not its mode, device or tensors."""
    tensors = list(model.parameters()) + list(model.buffers())
    net = copy.deepcopy(model, memo={id(t): t for t in tensors})
    moved: dict[int, torch.Tensor] = {}
    for module in net.modules():
        for group in (module._parameters, module._buffers):
            for name, t in list(group.items()):
                if t is None or t.device == device:
                    continue
                if id(t) not in moved:
                    data = t.detach().to(device)
                    moved[id(t)] = nn.Parameter(data, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) \
                        else data
                if isinstance(t, nn.Parameter):
                    setattr(module, name, moved[id(t)])  # through the module: an RNN's flat weights follow
                else:
                    group[name] = moved[id(t)]
    return net.eval()


def named_tensors(net: nn.Module) -> Tensors:
    """The net's parameters and buffers by name, each tensor once (a tied tensor under its first name)."""
    out: Tensors = {}
    seen: set[int] = set()
    for name, t in list(net.named_parameters()) + list(net.named_buffers()):
        if id(t) not in seen:
            seen.add(id(t))
            out[name] = t
    return out


class LeanWeights(TorchFunctionMode):
    """Replaces the net's moving tensors, wherever an operation reads them, by θ + a·d1 + b·d2."""

    def __init__(self, net: nn.Module, d1: Tensors, d2: Tensors | None):
        super().__init__()
        tensors = named_tensors(net)
        self.base = {n: tensors[n].detach() for n in d1}  # θ: the net's own tensors, not copies
        self.moving = {id(tensors[n]): n for n in d1}
        self.d1, self.d2 = d1, d2
        self.a = self.b = 0.0

    def value(self, name: str) -> torch.Tensor:
        """θ + a·d1 + b·d2 of one tensor, as the plain point model computes it."""
        t = torch.add(self.base[name], self.d1[name], alpha=self.a)
        if self.d2 is not None and self.b != 0.0:
            t = t.add_(self.d2[name], alpha=self.b)
        return t

    def _swap(self, v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            name = self.moving.get(id(v))
            return v if name is None else self.value(name)
        if isinstance(v, (list, tuple)) and any(isinstance(u, torch.Tensor) and id(u) in self.moving for u in v):
            return type(v)(self._swap(u) for u in v)
        return v

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name == "__get__":  # a property: `weight.T` and `weight.data` are values, `weight.shape` is not
            name = getattr(getattr(func, "__self__", None), "__name__", "")
            name = "__get__" if name not in VALUE_PROPERTIES else name
        if name not in METADATA:
            args = tuple(self._swap(v) for v in args)
            kwargs = {k: self._swap(v) for k, v in kwargs.items()}
        return func(*args, **kwargs)

    @contextmanager
    def at(self, a: float, b: float) -> Iterator[None]:
        """Operations inside read the point (a, b)."""
        self.a, self.b = float(a), float(b)
        with self:
            yield


class Point(dict):
    """The "tensors" of a lean point: none are made ahead; the mode makes them at use from (a, b)."""

    def __init__(self, a: float, b: float):
        super().__init__()
        self.a, self.b = float(a), float(b)
