"""Directions in weight space: random filter-normalized ones (Li et al. 2018, sec. 4),
differences to target models, and the helpers over "one tensor per parameter" they use.

Every plane maker (random, toward targets, an earlier file, the PCA of a training run, the
plane through models, Hessian eigenvectors) returns a `Directions`: d1, d2, what they are,
and the points (`tracks`) to mark in that plane.

A direction is a dict from tensor name to tensor, in the order of `model.parameters()`
(dir type "weights") or `model.state_dict()` (dir type "states", BatchNorm running
statistics included), which is also the order the paper's code stores them in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from landscape.choices import DirType, Norm
from landscape.errors import LandscapeError, arg
from landscape.inputs.params import ParamSelection

Direction = dict[str, torch.Tensor]
MAX_SEED = 2**63 - 1  # a seed is stored as a 64-bit signed attribute


def check_seed(seed: object, what: str = "seed") -> int:
    """A seed as an int in [0, 2^63 - 1] (what an HDF5 attribute and torch.Generator both hold)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) <= MAX_SEED:
        raise LandscapeError(f"{what} must be a whole number from 0 to 2^63 - 1, got {seed!r}")
    return int(seed)


@dataclass(frozen=True)
class DirectionSpec:
    """How random directions are drawn and normalized."""

    dir_type: DirType = DirType.weights
    norm: Norm = Norm.filter
    ignore_biasbn: bool = True  # 1-D tensors (biases, BatchNorm) get a zero direction
    seed: int = 0
    select: ParamSelection = ParamSelection()  # which tensors move; the rest get a zero direction

    def __post_init__(self) -> None:
        object.__setattr__(self, "seed", check_seed(self.seed))


@dataclass
class Track:
    """Named points in the plane: training paths ("trajectory", in training order) or a few models
    marked on the figure ("models").

    Stored as a group with `proj_xcoord`, `proj_ycoord` (the paper's projection-file names),
    `projection_residual` and `run` datasets, and string / integer array attributes `names`,
    `epochs` (-1 where unknown) and `run_names`.
    """

    x: np.ndarray  # (n,)
    y: np.ndarray  # (n,), zeros for a 1-D surface
    names: list[str]
    epochs: list[int | None]
    run: np.ndarray | None = None  # (n,) int: index into run_names of each point; None: a single run
    run_names: list[str] = field(default_factory=list)
    residual: np.ndarray | None = None  # (n,) share of each point's displacement off the plane, 0..1; None: unknown

    def runs(self) -> list[tuple[str, np.ndarray]]:
        """(name, point indices) of each run, in order; one unnamed run when `run` is None."""
        if self.run is None:
            return [("", np.arange(len(self.x)))]
        return [(self.run_names[k] if k < len(self.run_names) else f"run {k + 1}", np.flatnonzero(self.run == k))
                for k in range(int(self.run.max()) + 1 if len(self.run) else 0)]


@dataclass
class Directions:
    """The plane (or line) of a surface: d1 and optionally d2, over the same tensor names, with
    what they are and the points to mark in the plane."""

    x: Direction
    y: Direction | None
    dir_type: DirType
    kind: str  # "random", "target", "pca", "interpolation", "plane", "file" or "hessian"
    labels: tuple[str, str] = ("direction 1", "direction 2")
    extra: dict[str, object] = field(default_factory=dict)  # numbers, arrays or text: explained variance, a note
    tracks: dict[str, Track] = field(default_factory=dict)  # "trajectory" and/or "models"

    @property
    def names(self) -> list[str]:
        return list(self.x)

    def moving(self) -> list[str]:
        """The tensors some direction moves."""
        return [n for n in self.x if bool(self.x[n].any()) or (self.y is not None and bool(self.y[n].any()))]


def chosen(model: nn.Module, spec: DirectionSpec) -> set[str] | None:
    """Names of the tensors that may move under `spec` (None: all); a user error if none does."""
    if spec.select.everything:  # a peft adapter's own weights, else all
        from landscape.inputs.hf import adapter_names

        return adapter_names(model)
    return spec.select.names(model, base_tensors(model, spec.dir_type, copy=False))


def base_tensors(model: nn.Module, dir_type: DirType, copy: bool = True) -> Direction:
    """The tensors a direction of this type perturbs, on the model's device: detached copies, or
    with `copy=False` the model's own (read-only use: no memory). A tensor registered under two
    names (tied weights: an output head sharing the embedding) is one tensor, under its first name."""
    items = model.named_parameters() if dir_type == DirType.weights else model.state_dict(keep_vars=True).items()
    out: Direction = {}
    seen: set[int] = set()
    for n, t in items:
        if id(t) not in seen:
            seen.add(id(t))
            out[n] = t.detach().clone() if copy else t.detach()
    return out


def inner(a: Direction, b: Direction) -> float:
    return float(sum((a[k].double() * b[k].double()).sum() for k in a if a[k].is_floating_point()))


def norm(a: Direction) -> float:
    return inner(a, a) ** 0.5


def add(a: Direction, b: Direction, alpha: float = 1.0) -> Direction:
    """a + alpha * b, new tensors (non-float tensors are taken from a)."""
    return {k: (a[k] + alpha * b[k]) if a[k].is_floating_point() else a[k].clone() for k in a}


def scale(a: Direction, alpha: float) -> Direction:
    return {k: (a[k] * alpha) if a[k].is_floating_point() else a[k].clone() for k in a}


def filter_axes(model: nn.Module) -> dict[str, int]:
    """The axis of each weight that indexes its output units, its "filters", where it is not 0.

    A filter is one output unit's weights: a row of a Linear weight (out, in), an output channel
    of a ConvNd weight (out, in/groups, *k), a token's vector of an Embedding (num, dim): all
    dim 0, as in the paper's code. Two layouts put the outputs on dim 1: ConvTransposeNd
    (in, out/groups, *k) and Hugging Face's Conv1D of the GPT-2 family (in, out; recognised by
    its `nf` output width, without importing transformers). Returns {tensor name: 1} for those."""
    axes = {}
    for prefix, module in model.named_modules():
        weight = getattr(module, "weight", None)
        if not isinstance(weight, torch.Tensor) or weight.dim() < 2:
            continue
        hf_conv1d = type(module).__name__ == "Conv1D" and getattr(module, "nf", None) == weight.shape[-1]
        if isinstance(module, nn.modules.conv._ConvTransposeNd) or (hf_conv1d and weight.dim() == 2):
            axes[f"{prefix}.weight" if prefix else "weight"] = 1
    return axes


def normalize_(d: torch.Tensor, w: torch.Tensor, how: Norm, axis: int = 0) -> torch.Tensor:
    """Rescale one float32 direction tensor against its weight tensor, in place (reference:
    d *= |w| / (|d| + 1e-10)); `axis`: the one indexing the filters (output units; see
    `filter_axes`). The weight's norms are taken in float32 without a float32 copy of it, so
    drawing a direction needs no memory beyond the direction itself."""
    norm = lambda t, dims=None: torch.linalg.vector_norm(t, dim=dims, keepdim=dims is not None,  # noqa: E731
                                                         dtype=torch.float32)
    dims = tuple(k for k in range(d.dim()) if k != axis)
    if how == Norm.filter:  # each filter (slice along `axis`) gets the norm of the matching weight filter
        return d.mul_(norm(w, dims) / (norm(d, dims) + 1e-10))
    if how == Norm.layer:
        return d.mul_(norm(w) / norm(d))
    if how == Norm.weight:
        return d.mul_(w)
    if how == Norm.dfilter:
        return d.div_(norm(d, dims) + 1e-10)
    if how == Norm.dlayer:
        return d.div_(norm(d))
    if how == Norm.none:
        return d
    raise ValueError(f"unknown normalization {how!r}")


def random_direction(base: Mapping[str, torch.Tensor], spec: DirectionSpec, generator: torch.Generator,
                     only: set[str] | None = None, axes: Mapping[str, int] | None = None) -> Direction:
    """A Gaussian direction, normalized per tensor as in the paper's code.

    Draws on the CPU from `generator` in tensor order, so the same seed gives the same
    direction on every device; the result has each weight's device and dtype. Tensors not in
    `only` (when given) get a zero direction, after their draw, so a subset keeps the values
    the full direction has there. `axes`: the filter axis of the tensors whose output units are
    not dim 0 (`filter_axes`).
    """
    out: Direction = {}
    for name, w in base.items():
        if not w.is_floating_point():
            out[name] = torch.zeros_like(w, dtype=torch.float32)
            continue
        d = torch.randn(w.shape, generator=generator, dtype=torch.float32)
        if only is not None and name not in only:  # a zero that takes no memory (an adapter's base stays put)
            out[name] = torch.zeros((), dtype=w.dtype, device=w.device).expand(w.shape)
            continue
        if w.dim() <= 1:
            d = torch.zeros_like(d) if spec.ignore_biasbn else w.detach().float().cpu().clone()
        else:
            d = normalize_(d, w.detach().cpu(), spec.norm, (axes or {}).get(name, 0))
        out[name] = d.to(device=w.device, dtype=w.dtype)
        del d  # the float32 draw of a bf16 weight: freed before the next tensor's
    return out


def random_directions(model: nn.Module, spec: DirectionSpec = DirectionSpec(), two: bool = True) -> Directions:
    """d1 (and d2) drawn with `spec.seed`: the first direction, then the second, from one generator."""
    base = base_tensors(model, spec.dir_type, copy=False)  # read only: no second copy of the weights
    only = chosen(model, spec)
    gen = torch.Generator().manual_seed(spec.seed)
    axes = filter_axes(model)
    dx = random_direction(base, spec, gen, only, axes)
    dy = random_direction(base, spec, gen, only, axes) if two else None
    label = f"random direction, {spec.norm.value}-normalized" if spec.norm != Norm.none else "random direction"
    extra = {"subset": spec.select.describe() or f"the adapter's {len(only)} tensors"} if only is not None else {}
    extra.update(filters_note(axes, spec, only))
    return Directions(dx, dy, spec.dir_type, "random", (f"{label} (d1)", f"{label} (d2)"), extra)


def filters_note(axes: Mapping[str, int], spec: DirectionSpec, only: set[str] | None = None) -> dict[str, str]:
    """{"filters": what a filter is} for the file and `info`, where some tensor's filters are
    not its rows (a ConvTranspose or a Hugging Face Conv1D moved with filter normalization)."""
    moved = [n for n in axes if only is None or n in only]
    if not moved or spec.norm not in (Norm.filter, Norm.dfilter):
        return {}
    return {"filters": f"output units: dim 0 of each weight (Linear rows, ConvNd output channels, embedding "
                       f"vectors), dim 1 of {len(moved)} transposed weight{'s' if len(moved) > 1 else ''} "
                       f"(ConvTranspose, Hugging Face Conv1D: {', '.join(moved[:3])}{', ...' if len(moved) > 3 else ''})"}


def target_direction(base: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor],
                     only: set[str] | None = None) -> Direction:
    """θ_target − θ for every tensor (no normalization, biases and BatchNorm included), zero
    outside `only` when given."""
    out: Direction = {}
    for name, w in base.items():
        if only is not None and name not in only:
            out[name] = torch.zeros_like(w, dtype=w.dtype if w.is_floating_point() else torch.float32)
            continue
        if name not in target:
            raise LandscapeError(f"target checkpoint has no tensor {name!r}")
        t = target[name]
        if tuple(t.shape) != tuple(w.shape):
            raise LandscapeError(f"target tensor {name!r} has shape {tuple(t.shape)}, the model {tuple(w.shape)}")
        if w.is_floating_point():
            out[name] = t.to(device=w.device, dtype=w.dtype) - w
        else:
            out[name] = torch.zeros_like(w, dtype=torch.float32)
    return out


def check_compatible(directions: Directions, base: Mapping[str, torch.Tensor], where: str) -> None:
    """Raise a user error unless the directions fit the model's tensors name by name."""
    if list(directions.x) != list(base):
        missing = [n for n in base if n not in directions.x]
        extra = [n for n in directions.x if n not in base]
        raise LandscapeError(
            f"{where}: the directions do not fit this model ({len(missing)} tensors missing, {len(extra)} extra"
            + (f", e.g. {(missing or extra)[0]!r}" if missing or extra else ", different order")
            + f"); use directions made for the same architecture and {arg('dir_type')}"
        )
    for d in (directions.x, directions.y):
        if d is None:
            continue
        for n, w in base.items():
            if tuple(d[n].shape) != tuple(w.shape):
                raise LandscapeError(
                    f"{where}: direction tensor {n!r} has shape {tuple(d[n].shape)}, the model {tuple(w.shape)}"
                )


def plane_of_models(
    base: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor], c: Mapping[str, torch.Tensor] | None
) -> tuple[Direction, Direction | None, list[tuple[float, float]]]:
    """Directions through models A (= base), B and, optionally, C, and their coordinates.

    d1 = θ_B − θ_A; d2 = θ_C − θ_A with its d1 component removed (Gram–Schmidt), so A is
    at (0, 0), B at (1, 0) and C at (<θ_C − θ_A, d1>/|d1|², 1).
    """
    d1 = target_direction(base, b)
    if norm(d1) == 0.0:
        raise LandscapeError("models A and B are identical: there is no direction between them")
    if c is None:
        return d1, None, [(0.0, 0.0), (1.0, 0.0)]
    dc = target_direction(base, c)
    alpha = inner(dc, d1) / inner(d1, d1)
    d2 = add(dc, d1, -alpha)
    if norm(d2) <= 1e-9 * norm(dc):
        raise LandscapeError("models A, B and C lie on one line: there is no plane through them")
    return d1, d2, [(0.0, 0.0), (1.0, 0.0), (alpha, 1.0)]
