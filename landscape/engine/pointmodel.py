"""The prepared point model: a private copy of the network and the tensors θ, d1, d2 whose
combination θ + a·d1 + b·d2 makes one grid point, applied functionally
(`torch.func.functional_call`), so the user's model is never touched and nothing drifts.

The fast paths are transformations of one point model into another (BatchNorm folding,
channels-last, first-layer maps, weights cast to the autocast dtype, torch.compile). Each is
checked once against the plain model at a test point and dropped with a note when a model
defeats it (a weight used twice, a Linear→BatchNorm1d over a sequence, reflect padding).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from landscape.engine.checks import EvalChecks
from landscape.engine.device import Precision, precision_context
from landscape.engine import lean as lean_points
from landscape.engine.firstlayer import apply_layer, find_first_layer, macs_per_output, replace_with_precomputed
from landscape.engine.fold import Pair, bn_names, find_pairs, fold, folded_model, pair_names
from landscape.engine.plan import Compile
from landscape.inputs.objective import EvalFn, call_with
from landscape.plane.directions import Directions, base_tensors

Tensors = dict[str, torch.Tensor]
TEST_POINT = (0.37, -0.21)  # where a fast path must reproduce the plain model


@dataclass
class FirstMaps:
    """The input layer's outputs for θ, d1 (and d2) over the whole (padded) data: M0, M1, M2."""

    name: str  # the tensor the precomputed layer reads ("<layer>.value")
    maps: list[torch.Tensor]  # each (n_pad, ...)
    batch: int

    def value(self, start: int, n: int, a: Any, b: Any) -> torch.Tensor:
        """M0 + a·M1 + b·M2 for the samples [start, start + n); a, b scalars or (P,) tensors."""
        m0, m1, *m2 = self.maps
        sl = slice(start, start + n)
        if isinstance(a, torch.Tensor):  # several points: (P, n, ...)
            shape = (-1,) + (1,) * m0.dim()
            out = m0[sl].unsqueeze(0) + a.to(m0.dtype).view(shape) * m1[sl].unsqueeze(0)
            return out + b.to(m0.dtype).view(shape) * m2[0][sl].unsqueeze(0) if m2 else out
        out = torch.add(m0[sl], m1[sl], alpha=a)
        return out.add_(m2[0][sl], alpha=b) if m2 and b != 0.0 else out


@dataclass
class PointModel:
    """A network and the tensors of a plane, ready to evaluate any point (a, b) of it."""

    net: nn.Module
    base: Tensors  # θ of the tensors some direction moves
    d1: Tensors
    d2: Tensors | None
    refold: Callable[[Tensors], Tensors] | None = None  # point tensors → the folded net's, when not linear
    first: FirstMaps | None = None
    cast: torch.dtype | None = None  # the conv/linear weights named in cast_names are cast to it per point
    cast_names: frozenset[str] = frozenset()
    scripted: bool = False
    eval_fn: EvalFn | None = None  # --eval: fn(net, batch) instead of net(x)
    compiled: Callable[..., Any] | None = None
    batch: int = 0  # the input batch a compiled forward was built for (the last batch is padded to it)
    pairs: tuple[Pair, ...] = ()
    applied: tuple[str, ...] = ()  # the fast paths in use, for notes and tests
    lean: lean_points.LeanWeights | None = None  # point weights made at use (`lean`)
    sharded: Any = None  # FSDP: a point written into this rank's shards (`engine.sharded.ShardedWeights`)

    def tensors(self, a: float, b: float) -> Tensors:
        """θ + a·d1 + b·d2 for every moving tensor, in the net's terms (lean: made later, at use)."""
        if self.lean is not None:
            return lean_points.Point(a, b)
        if self.sharded is not None:
            self.sharded.write(a, b)
            return lean_points.Point(a, b)
        out = {}
        for n, w in self.base.items():
            t = torch.add(w, self.d1[n], alpha=a)
            if self.d2 is not None and b != 0.0:
                t = t.add_(self.d2[n], alpha=b)
            out[n] = t
        return self._finish(self.refold(out) if self.refold is not None else out)

    def stacked(self, a: torch.Tensor, b: torch.Tensor) -> Tensors:
        """(P, ...) point tensors of P points, for vmap."""
        out = {}
        for n, w in self.base.items():
            shape = (-1,) + (1,) * w.dim()
            t = w.unsqueeze(0) + a.to(w.dtype).view(shape) * self.d1[n].unsqueeze(0)
            if self.d2 is not None:
                t = t + b.to(w.dtype).view(shape) * self.d2[n].unsqueeze(0)
            out[n] = t
        if self.refold is not None:
            out = torch.func.vmap(self.refold)(out)
        return self._finish(out)

    def _finish(self, tensors: Tensors) -> Tensors:
        if self.cast is None:
            return tensors
        return {n: (t.to(self.cast) if n in self.cast_names else t) for n, t in tensors.items()}

    def forward(self, tensors: Tensors, xb: torch.Tensor, start: int = 0, a: Any = 0.0, b: Any = 0.0) -> torch.Tensor:
        """The outputs for one batch of inputs at the point whose tensors are given."""
        if self.scripted:  # TorchScript has no functional call: write the point into the private copy
            state = dict(self.net.named_parameters()) | dict(self.net.named_buffers())
            for n, t in tensors.items():
                state[n].copy_(t)
            return self.net(xb)
        if isinstance(tensors, lean_points.Point):  # the point is in the weights (sharded) or made at use (lean)
            with self.lean.at(tensors.a, tensors.b) if self.lean is not None else contextlib.nullcontext():
                return self.net(xb)
        n = len(xb)
        if self.first is not None:
            tensors = {**tensors, self.first.name: self.first.value(start, n, a, b)}
        if self.compiled is not None:
            if n < self.batch:  # pad the last batch: one input shape, one compiled graph
                xb = torch.cat([xb, xb.new_zeros((self.batch - n,) + xb.shape[1:])])
                if self.first is not None:
                    v = tensors[self.first.name]
                    tensors[self.first.name] = torch.cat([v, v.new_zeros((self.batch - n,) + v.shape[1:])])
            return self.compiled(tensors, xb)[:n]
        return functional_call(self.net, tensors, (xb,))

    def run_eval(self, tensors: Tensors, batch: Any) -> Any:
        """The --eval function at the point whose tensors are given."""
        assert self.eval_fn is not None
        if isinstance(tensors, lean_points.Point):
            with self.lean.at(tensors.a, tensors.b) if self.lean is not None else contextlib.nullcontext():
                return self.eval_fn(self.net, batch)
        return call_with(self.net, tensors, self.eval_fn, batch)


def plain(model: nn.Module, directions: Directions, device: torch.device, eval_fn: EvalFn | None = None) -> PointModel:
    """The plain point model: a private copy on `device`, and θ, d1, d2 of the tensors some direction moves."""
    net = copy.deepcopy(model).to(device).eval()
    scripted = isinstance(net, torch.jit.ScriptModule)
    base = base_tensors(net, directions.dir_type)
    d1, d2 = directions.x, directions.y
    active = _moving(base, directions)
    return PointModel(
        net, {n: base[n] for n in active}, {n: d1[n].to(device, base[n].dtype) for n in active},
        {n: d2[n].to(device, base[n].dtype) for n in active} if d2 is not None else None,
        scripted=scripted, eval_fn=eval_fn,
    )


def _moving(tensors: Tensors, directions: Directions) -> list[str]:
    """The names among the net's `tensors` that some direction moves (floating point), in the net's order."""
    moving = set(directions.moving())
    return [n for n in tensors if n in moving and tensors[n].is_floating_point()]


def lean(model: nn.Module, directions: Directions, device: torch.device, eval_fn: EvalFn | None = None) -> PointModel:
    """The lean point model: θ shared with `model` where it is already on `device`, d1 and d2 in
    the model's dtype, and each point's weights made at use (`engine.lean`): 3·P·D of memory."""
    net = lean_points.shared_copy(model, device)
    tensors = lean_points.named_tensors(net)
    active = _moving(tensors, directions)
    d1 = {n: directions.x[n].to(device, tensors[n].dtype) for n in active}
    d2 = {n: directions.y[n].to(device, tensors[n].dtype) for n in active} if directions.y is not None else None
    weights = lean_points.LeanWeights(net, d1, d2)
    return PointModel(net, weights.base, d1, d2, eval_fn=eval_fn, lean=weights, applied=("lean points",))


def sharded(model: nn.Module, directions: Directions, device: torch.device, eval_fn: EvalFn | None = None
            ) -> PointModel:
    """The point model of a network sharded by FSDP over the ranks (`engine.sharded`): each rank
    keeps θ, d1, d2 of its shards and writes each point into them."""
    from landscape.engine import sharded as fsdp

    net = fsdp.shard(model, device)
    active = _moving(lean_points.named_tensors(net), directions)
    weights = fsdp.ShardedWeights(net, {n: directions.x[n] for n in active},
                                  {n: directions.y[n] for n in active} if directions.y is not None else None)
    return PointModel(net, weights.base, weights.d1, weights.d2, eval_fn=eval_fn, sharded=weights,
                      applied=("FSDP shards",))


def fold_batchnorm(pm: PointModel) -> PointModel | None:
    """BatchNorm folded into the preceding conv; θ, d1, d2 folded once when only conv weights
    move (folding is then linear in them), else every point is folded (`refold`)."""
    pairs = find_pairs(pm.net)
    if not pairs:
        return None
    active = set(pm.base)
    state = {k: v.detach() for k, v in pm.net.state_dict().items()}
    net = folded_model(pm.net, pairs)
    affected = [p for p in pairs if any(n in active for n in pair_names(p))]
    feed = sorted((active - bn_names(pairs)) | {f"{p.conv}.{t}" for p in affected for t in ("weight", "bias")})
    constants = {n: state[n] for p in affected for n in pair_names(p)}
    out = dataclasses.replace(pm, net=net, pairs=tuple(pairs), applied=pm.applied + ("BatchNorm folding",))
    if active & bn_names(pairs):  # γ, β, μ or σ² move: fold every point (exact, but not linear in x and y)
        return dataclasses.replace(
            out, refold=lambda t: {n: v for n, v in fold({**constants, **t}, affected).items() if n in feed})

    def linear(d: Tensors) -> Tensors:
        zeros = {n: torch.zeros_like(constants[n]) for p in affected for n in pair_names(p)[:2]}
        keep = {n: constants[n] for p in affected for n in pair_names(p)[-4:]}
        f = fold({**zeros, **keep, **d}, affected, linear_part=True)
        return {n: f[n] for n in feed}

    folded = fold({**constants, **pm.base}, affected)
    return dataclasses.replace(out, base={n: folded[n] for n in feed}, d1=linear(pm.d1),
                               d2=linear(pm.d2) if pm.d2 is not None else None)


def to_channels_last(pm: PointModel) -> PointModel:
    """NHWC memory layout for the net and its 4-D tensors (the inputs are converted by the caller)."""
    fmt = lambda t: t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t  # noqa: E731
    net = pm.net.to(memory_format=torch.channels_last)
    return dataclasses.replace(pm, net=net, base={n: fmt(t) for n, t in pm.base.items()},
                               d1={n: fmt(t) for n, t in pm.d1.items()},
                               d2={n: fmt(t) for n, t in pm.d2.items()} if pm.d2 is not None else None,
                               applied=pm.applied + ("channels-last",))


def first_layer_macs(model: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """(multiply-adds per output value, bytes of the three maps over `x`) of the single input layer; (0, 0) if none."""
    found = find_first_layer(model)
    if found is None or (isinstance(found.module, nn.Conv2d) and found.module.padding_mode != "zeros"):
        return 0, 0
    with torch.no_grad():
        out = found.module(found.input(x[:1]))
    return macs_per_output(found.module), 3 * len(x) * int(np.prod(out.shape[1:])) * x.element_size()


def with_first_layer(pm: PointModel, x: torch.Tensor, batch: int) -> PointModel | None:
    """The input layer replaced by precomputed maps layer(x, θ), layer(x, d1), layer(x, d2)
    (linear in its weights, biases included) over the padded data `x` on the device."""
    if pm.refold is not None:
        return None
    found = find_first_layer(pm.net)
    if found is None:
        return None
    name, layer, inp = found.name, found.module, found.input
    w, bias = f"{name}.weight", f"{name}.bias"
    n = len(x)
    n_pad = -(-n // batch) * batch
    state = {k: v.detach() for k, v in pm.net.named_parameters()}
    maps = []
    with torch.no_grad(), precision_context(Precision.fp32, x.device):
        out_shape = layer(inp(x[:1])).shape[1:]
        for k, source in enumerate([pm.base, pm.d1] + ([pm.d2] if pm.d2 is not None else [])):
            if k == 0:
                weight, b = pm.base.get(w, state[w]), pm.base.get(bias, state.get(bias))
            else:  # the linear part: no bias unless the direction moves it
                weight, b = source.get(w, torch.zeros_like(state[w])), source.get(bias)
            m = torch.zeros((n_pad,) + tuple(out_shape), device=x.device, dtype=x.dtype)
            for s in range(0, n, batch):
                m[s : min(s + batch, n)] = apply_layer(layer, inp(x[s : s + batch]), weight, b)
            maps.append(m)
    net = copy.deepcopy(pm.net)
    replace_with_precomputed(net, name)
    drop = lambda t: {k: v for k, v in t.items() if k not in (w, bias)}  # noqa: E731
    return dataclasses.replace(pm, net=net, base=drop(pm.base), d1=drop(pm.d1),
                               d2=drop(pm.d2) if pm.d2 is not None else None,
                               first=FirstMaps(f"{name}.value", maps, batch),
                               applied=pm.applied + ("first-layer maps",))


def with_cast(pm: PointModel, precision: Precision) -> PointModel:
    """Conv/linear weights and biases of each point cast to the autocast dtype once per point
    (autocast would cast them on every batch; the values are the same)."""
    dtype = precision.autocast_dtype
    if dtype is None or pm.scripted:
        return pm
    layers = {name for name, m in pm.net.named_modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))}
    names = frozenset(n for n in pm.base if n.rpartition(".")[0] in layers)
    return dataclasses.replace(pm, cast=dtype, cast_names=names, applied=pm.applied + ("weights cast per point",))


def compiled(pm: PointModel, mode: Compile, batch: int) -> PointModel:
    """torch.compile of the per-batch forward; the point's tensors are graph inputs, so one
    compile serves the whole grid (the last batch is padded to `batch`)."""
    if pm.scripted or pm.eval_fn is not None or mode in (Compile.off, Compile.auto):
        return pm
    net = pm.net
    fn = torch.compile(lambda tensors, xb: functional_call(net, tensors, (xb,)),
                       mode=None if mode == Compile.default else mode.value, dynamic=False)
    return dataclasses.replace(pm, compiled=fn, batch=batch, applied=pm.applied + (f"torch.compile ({mode.value})",))


def outputs_at_test_point(pm: PointModel, xb: Any) -> torch.Tensor:
    """The model's outputs (or, for --eval, its loss sum) at TEST_POINT on one batch, in exact fp32."""
    a, b = TEST_POINT
    with torch.no_grad(), precision_context(Precision.fp32, _device(pm)):
        tensors = pm.tensors(a, b)
        if pm.eval_fn is not None:
            checks = EvalChecks(pm.eval_fn)
            loss = checks.run(lambda: pm.run_eval(tensors, xb), 0, "a test point of its first batch").loss
            checks.finish()
            return torch.as_tensor(loss, dtype=torch.float64).reshape(1)
        return pm.forward(tensors, xb, 0, a, b).double()


def agrees(candidate: PointModel, reference: torch.Tensor, xb: Any) -> bool:
    """Whether `candidate` reproduces the plain model's outputs `reference` at the test point."""
    got = outputs_at_test_point(candidate, xb)
    want = reference
    if got.shape != want.shape or not torch.equal(torch.isfinite(got), torch.isfinite(want)):
        return False
    finite = torch.isfinite(want)
    scale = float(want[finite].abs().max()) if finite.any() else 1.0
    low = any(t.dtype in (torch.float16, torch.bfloat16) for t in candidate.base.values())
    tol = 3e-2 if low else 1e-4  # folding rounds differently; a wrong fold is off by far more
    return bool(torch.allclose(got[finite], want[finite], rtol=tol, atol=tol * max(scale, 1e-6))
                and torch.equal(got[~finite].nan_to_num(), want[~finite].nan_to_num()))


def _device(pm: PointModel) -> torch.device:
    t = next(iter(pm.base.values()), None)
    if t is None:
        t = next(iter(pm.net.parameters()), torch.zeros(()))
    return t.device
