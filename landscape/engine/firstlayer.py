"""The first-layer trick: the layer that reads the input is linear in its weights, so

    layer(x, W + a·D1 + b·D2) = layer(x, W) + a·layer(x, D1) + b·layer(x, D2)

(biases included). The three maps are computed once for the whole data set; each point
then costs two multiply-adds over the maps instead of the layer. It pays when the layer
does much more arithmetic than it writes (an MLP on 784 pixels), and costs more memory
traffic than it saves when it does little (a 3-channel conv stem), so "auto" uses it only
in the first case.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx, nn

LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


class Precomputed(nn.Module):
    """Stands in for the first layer: returns the `value` buffer it is handed functionally."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("value", torch.zeros(0), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value


@dataclass
class FirstLayer:
    name: str  # qualified module name
    module: nn.Module  # the original layer
    flatten: bool = False  # the layer reads x.flatten(1)

    def input(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) if self.flatten else x


def find_first_layer(model: nn.Module) -> FirstLayer | None:
    """The Linear/Conv module that alone reads the model's only input, if tracing finds one."""
    try:
        graph = fx.symbolic_trace(model).graph
    except Exception:
        return None
    inputs = [n for n in graph.nodes if n.op == "placeholder"]
    if len(inputs) != 1 or len(inputs[0].users) != 1:
        return None
    user = next(iter(inputs[0].users))
    modules = dict(model.named_modules())
    flatten = _is_flatten(user, modules)
    if flatten:  # x.flatten(1) before an MLP's first layer
        if len(user.users) != 1:
            return None
        user = next(iter(user.users))
    if user.op != "call_module" or not isinstance(modules.get(user.target), LAYERS):
        return None
    if sum(1 for n in graph.nodes if n.op == "call_module" and n.target == user.target) != 1:
        return None
    return FirstLayer(user.target, modules[user.target], flatten)


def _is_flatten(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    """x.flatten(1), torch.flatten(x, 1) or an nn.Flatten() module."""
    if node.op == "call_module":
        m = modules.get(node.target)
        return isinstance(m, nn.Flatten) and m.start_dim == 1 and m.end_dim == -1
    start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
    if node.op == "call_method" and node.target == "flatten":
        return start == 1 and len(node.args) <= 2 and not node.kwargs.get("end_dim")
    if node.op == "call_function" and node.target is torch.flatten:
        return start == 1 and len(node.args) <= 2 and not node.kwargs.get("end_dim")
    return False


def macs_per_output(layer: nn.Module) -> int:
    """Multiply-adds per output value: in_features for Linear, C_in/groups · kernel for a conv."""
    if isinstance(layer, nn.Linear):
        return layer.in_features
    return layer.in_channels // layer.groups * int(torch.tensor(layer.kernel_size).prod())


def apply_layer(layer: nn.Module, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """The layer's operation with the given weight and bias."""
    if isinstance(layer, nn.Linear):
        return F.linear(x, weight, bias)
    conv = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}[type(layer)]
    if layer.padding_mode != "zeros":
        raise ValueError("padded convolutions other than zero padding are not supported by the first-layer trick")
    return conv(x, weight, bias, layer.stride, layer.padding, layer.dilation, layer.groups)


def replace_with_precomputed(net: nn.Module, name: str) -> None:
    parent, _, attr = name.rpartition(".")
    setattr(net.get_submodule(parent) if parent else net, attr, Precomputed())
