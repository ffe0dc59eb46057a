"""BatchNorm folding: in eval mode, BN(conv(x, W, b)) = conv(x, W·s, (b − μ)·s + β) with
s = γ / sqrt(σ² + ε), exactly (up to rounding). Folding removes a whole pass over every
activation map per BatchNorm layer.

Pairs are found by tracing the model with torch.fx: a Conv or Linear module whose output
feeds only a BatchNorm module, each called once. The folded network is a copy of the model
with those BatchNorm modules replaced by identities and the convs given biases, so the
model's own forward code still runs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import fx, nn

FOLDABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@dataclass(frozen=True)
class Pair:
    conv: str  # qualified module names
    bn: str
    eps: float
    has_bias: bool


def find_pairs(model: nn.Module) -> list[Pair]:
    """Conv/Linear → BatchNorm pairs that can be folded; [] if the model cannot be traced."""
    try:
        graph = fx.symbolic_trace(model).graph
    except Exception:  # data-dependent control flow and the like: no folding
        return []
    modules = dict(model.named_modules())
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules.get(node.target), NORMS):
            continue
        bn = modules[node.target]
        src = node.args[0] if node.args else None
        if not (isinstance(src, fx.Node) and src.op == "call_module" and isinstance(modules.get(src.target), FOLDABLE)):
            continue
        if len(src.users) != 1 or calls[src.target] != 1 or calls[node.target] != 1:
            continue
        if not (bn.track_running_stats and bn.running_mean is not None and bn.affine):
            continue
        conv = modules[src.target]
        if isinstance(conv, nn.Linear) and not isinstance(bn, nn.BatchNorm1d):
            continue
        pairs.append(Pair(src.target, node.target, bn.eps, conv.bias is not None))
    return pairs


def folded_model(model: nn.Module, pairs: list[Pair]) -> nn.Module:
    """A copy of `model` with each pair's BatchNorm replaced by an identity and its conv
    holding the folded weight and bias."""
    net = copy.deepcopy(model)
    folded = fold({k: v.detach() for k, v in model.state_dict().items()}, pairs)
    with torch.no_grad():
        for p in pairs:
            conv = net.get_submodule(p.conv)
            if conv.bias is None:
                conv.bias = nn.Parameter(torch.empty(conv.weight.shape[0], dtype=conv.weight.dtype, device=conv.weight.device))
            conv.weight.copy_(folded[f"{p.conv}.weight"])
            conv.bias.copy_(folded[f"{p.conv}.bias"])
            parent, _, name = p.bn.rpartition(".")
            setattr(net.get_submodule(parent) if parent else net, name, nn.Identity())
    return net


def pair_names(p: Pair) -> list[str]:
    """The tensors of the original model that a pair's folded weight and bias depend on."""
    names = [f"{p.conv}.weight"] + ([f"{p.conv}.bias"] if p.has_bias else [])
    return names + [f"{p.bn}.{t}" for t in ("weight", "bias", "running_mean", "running_var")]


def bn_names(pairs: list[Pair]) -> set[str]:
    """Names of the tensors that disappear in the folded model."""
    return {f"{p.bn}.{t}" for p in pairs for t in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")}


def fold(tensors: dict[str, torch.Tensor], pairs: list[Pair], linear_part: bool = False) -> dict[str, torch.Tensor]:
    """Map tensors of the original model (by name) to those of the folded model.

    `tensors` must hold every tensor of each pair. With `linear_part=True` the tensors are a
    direction, not weights: only the conv weight and bias move, so the folded direction is
    the linear part of the map (W·s, b·s), which is exact when γ, β, μ, σ² stay fixed.
    """
    out = {k: v for k, v in tensors.items() if k not in bn_names(pairs)}
    for p in pairs:
        w = tensors[f"{p.conv}.weight"]
        scale = tensors[f"{p.bn}.weight"] / torch.sqrt(tensors[f"{p.bn}.running_var"] + p.eps)  # (C,)
        out[f"{p.conv}.weight"] = w * scale.view((-1,) + (1,) * (w.dim() - 1))
        bias = tensors[f"{p.conv}.bias"] if p.has_bias else torch.zeros_like(scale)
        if linear_part:
            out[f"{p.conv}.bias"] = bias * scale
        else:
            out[f"{p.conv}.bias"] = (bias - tensors[f"{p.bn}.running_mean"]) * scale + tensors[f"{p.bn}.bias"]
    return out
