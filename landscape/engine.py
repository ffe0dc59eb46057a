"""The evaluation engine: loss and accuracy of a model at points θ + x·d1 + y·d2.

The weights of a point are computed from the base weights and the directions, then
applied functionally (`torch.func.functional_call`) to a private copy of the model: the
user's model is never touched and nothing drifts from point to point. Data is moved to
the device once when it fits; loss sums and correct counts accumulate on the device and
reach the host once per chunk of points.
"""

from __future__ import annotations

import contextlib
import copy
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from .data import TensorData
from .directions import Directions, base_tensors
from .errors import LandscapeError
from .firstlayer import PAYS_FROM, apply_layer, find_first_layer, macs_per_output, replace_with_precomputed
from .fold import bn_names, find_pairs, fold, folded_model, pair_names
from .metrics import LossFn, correct_count, cross_entropy, mse

OOM_ERRORS: tuple[type[BaseException], ...] = tuple(
    {getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError), torch.cuda.OutOfMemoryError}
)


class Precision(str, Enum):
    fp32 = "fp32"  # exact: TF32 off
    tf32 = "tf32"  # TF32 matmuls and convolutions on GPUs that have them
    bf16 = "bf16"  # autocast to bfloat16
    fp16 = "fp16"  # autocast to float16


class Launch(str, Enum):
    """How many grid points one forward pass evaluates."""

    auto = "auto"  # measure both on the first points, keep the faster
    point = "point"  # one point per pass (the data is the batch)
    vmap = "vmap"  # several points per pass with torch.func.vmap


class Toggle(str, Enum):
    auto = "auto"
    on = "on"
    off = "off"


COMPILE_PAYS_AFTER = 300.0  # seconds of eager evaluation left; compiling takes ~20-60 s and saves ~25-50%


class Compile(str, Enum):
    """torch.compile of the per-point forward; point weights are graph inputs (one compile per grid)."""

    auto = "auto"  # compile when the eager estimate for the grid exceeds COMPILE_PAYS_AFTER seconds
    off = "off"
    default = "default"
    max_autotune = "max-autotune"
    cudagraphs = "reduce-overhead"  # CUDA graphs on a GPU


@dataclass(frozen=True)
class EvalSettings:
    """Where and how points are evaluated; none of these change the values beyond rounding."""

    device: str = "auto"
    precision: Precision = Precision.fp32
    batch_size: int | None = None  # None: chosen from the data and device
    launch: Launch = Launch.auto
    points_per_launch: int = 8
    fold_bn: bool = True  # fold eval-mode BatchNorm into the preceding conv (exact)
    channels_last: bool = True  # NHWC activations for 4-D inputs
    compile: Compile = Compile.auto
    first_layer: Toggle = Toggle.auto  # precompute the input layer's three linear maps
    stream_data: Toggle = Toggle.auto  # copy batches from host memory per pass (auto: when they do not fit)


def resolve_device(name: str) -> torch.device:
    """'auto' → the first CUDA GPU if there is one, else the CPU; checks that a named GPU exists."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise LandscapeError(f"unknown --device {name!r}: use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise LandscapeError(f"--device {name}: no CUDA GPU is visible here; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise LandscapeError(f"--device {name}: only {torch.cuda.device_count()} GPU(s) are visible")
    elif dev.type != "cpu":
        raise LandscapeError(f"--device {name}: only cpu and cuda devices are supported")
    return dev


@contextmanager
def precision_context(precision: Precision, device: torch.device) -> Iterator[None]:
    """Autocast for bf16/fp16; TF32 switched on only for tf32 (and restored afterwards)."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == Precision.tf32
    try:
        if precision in (Precision.bf16, Precision.fp16):
            dtype = torch.bfloat16 if precision == Precision.bf16 else torch.float16
            with torch.autocast(device.type, dtype=dtype):
                yield
        else:
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


def tune_cpu_allocator() -> None:
    """Keep large freed blocks in glibc's heap instead of returning them to the OS.

    Each forward pass allocates activation maps of megabytes; by default glibc maps and
    unmaps each one, and every first touch of a fresh page faults. Measured on a 2-core
    CPU for the demo's CNN: 7.6 → 4.0 ms per point. Process-wide; the CLI calls it.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name or sys.platform != "linux":
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: serve blocks up to 1 GiB from the heap
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: keep up to 1 GiB of freed heap
    except (OSError, AttributeError):  # not glibc
        pass


def batch_for_memory(free_bytes: float, per_sample_bytes: float, n: int, share: float = 0.5) -> int:
    """The batch that fills `share` of the free memory, given the memory one sample's pass takes."""
    return int(max(1, min(n, share * free_bytes // max(per_sample_bytes, 1.0))))


def default_batch_size(data: TensorData, device: torch.device) -> int:
    """The whole data set as one batch when it is small; otherwise a few million input values."""
    per_sample = max(1, data.x[0].numel())
    budget = (1 << 25) if device.type == "cuda" else (1 << 22)
    return max(1, min(len(data), max(64, budget // per_sample)))


class Evaluator:
    """Evaluates points (x, y) of one plane for one model and data set.

    Construction only records its inputs; the model copy, device data and directions are
    set up on first use (`prepare`).
    """

    def __init__(
        self,
        model: nn.Module,
        data: TensorData,
        directions: Directions,
        loss: LossFn,
        settings: EvalSettings = EvalSettings(),
        on_note: Callable[[str], None] = lambda message: None,
    ):
        self.model = model
        self.data = data
        self.directions = directions
        self.loss = loss
        self.settings = settings
        self.on_note = on_note
        self.launch = settings.launch
        self.points_per_launch = max(1, settings.points_per_launch)
        self.classification = data.is_classification
        self._ready = False

    # ---- set-up -------------------------------------------------------------------------
    def prepare(self) -> None:
        if self._ready:
            return
        dev = self.device = resolve_device(self.settings.device)
        net = copy.deepcopy(self.model).to(dev).eval()  # a private copy: the user's model stays as it is
        self.scripted = isinstance(net, torch.jit.ScriptModule)
        base = base_tensors(net, self.directions.dir_type)
        d1, d2 = self.directions.x, self.directions.y
        # Only tensors that some direction moves are recomputed per point.
        active = [
            n for n in base
            if base[n].is_floating_point() and (bool(d1[n].any()) or (d2 is not None and bool(d2[n].any())))
        ]
        d1 = {n: d1[n].to(dev, base[n].dtype) for n in active}
        d2 = {n: d2[n].to(dev, base[n].dtype) for n in active} if d2 is not None else None
        base = {n: base[n] for n in active}
        self.refold = None  # maps point tensors to the folded network's, when that is not linear
        self.pairs, self.first, self._compiled, self.compiled_as = [], None, None, Compile.off
        self.net, self.base, self.d1, self.d2 = net, base, d1, d2
        plain = (net, base, d1, d2)
        if self.settings.batch_size is not None and self.settings.batch_size < 1:
            raise LandscapeError(f"--batch-size must be at least 1, got {self.settings.batch_size}")
        self.batch_size = self.settings.batch_size or default_batch_size(self.data, dev)
        self.channels_last = self.settings.channels_last and self.data.x.dim() == 4 and not self.scripted
        self._place_data(dev)
        self._check_model_accepts_data()  # on the model as it is, so its own errors are what the user sees
        if self.settings.fold_bn and not self.scripted:
            self.pairs = find_pairs(net)
            if self.pairs:
                self._try("BatchNorm folding", plain, lambda: self._fold_plane(net, base, d1, d2))
        if self.channels_last:
            fmt = lambda t: t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t  # noqa: E731
            self.net = self.net.to(memory_format=torch.channels_last)
            self.base, self.d1 = {n: fmt(t) for n, t in self.base.items()}, {n: fmt(t) for n, t in self.d1.items()}
            self.d2 = {n: fmt(t) for n, t in self.d2.items()} if self.d2 is not None else None
        if self.settings.batch_size is None:
            self.batch_size = self._auto_batch_size()
        if self.settings.first_layer != Toggle.off and not self.scripted and not self.streaming:
            self._try("the first-layer maps", plain, lambda: self._set_up_first_layer(self.settings.first_layer == Toggle.on))
        if self.settings.compile not in (Compile.off, Compile.auto):
            self._compile(self.settings.compile)
        self._ready = True

    def _try(self, name: str, plain: tuple, set_up: Callable[[], object]) -> None:
        """Apply a fast path, keeping it only if it builds and gives the plain model's outputs
        at a test point (a model can defeat what tracing sees: a weight used twice, say)."""
        kept = (self.net, self.base, self.d1, self.d2, self.refold, self.first)
        try:
            result = set_up()
            if isinstance(result, tuple):
                self.net, self.base, self.d1, self.d2 = result
            if self._agrees_with(plain):
                return
            reason = "it does not reproduce the model's outputs"
        except Exception as e:  # an unusual model the fast path does not cover
            reason = f"{type(e).__name__}: {str(e).splitlines()[0][:80] if str(e) else ''}"
        self.net, self.base, self.d1, self.d2, self.refold, self.first = kept
        if name == "BatchNorm folding":
            self.pairs = []
        self.on_note(f"{name} skipped for this model ({reason}); evaluating without it")

    def _agrees_with(self, plain: tuple) -> bool:
        """Outputs of the current set-up and of the plain model at one point, on a few samples."""
        net, base, d1, d2 = plain
        a, b = 0.37, -0.21
        k = min(8, len(self.x))
        xb = self.x[:k].to(self.device)
        tensors = {n: w + a * d1[n] + (b * d2[n] if d2 is not None else 0) for n, w in base.items()}
        with torch.no_grad(), precision_context(Precision.fp32, self.device):  # exact math on both sides
            want = functional_call(net, tensors, (xb,)).double()
            point = self.point_tensors(a, b)
            if self.first is not None:
                point[self.first[0]] = self._first_value(0, a, b)[:k]
            got = self._call(point, xb).double()
        if got.shape != want.shape or not torch.equal(torch.isfinite(got), torch.isfinite(want)):
            return False
        finite = torch.isfinite(want)
        scale = float(want[finite].abs().max()) if finite.any() else 1.0
        half = next(iter(base.values())).dtype in (torch.float16, torch.bfloat16) if base else False
        tol = 3e-2 if half else 1e-4  # folding rounds differently; a wrong fold is off by far more
        return bool(torch.allclose(got[finite], want[finite], rtol=tol, atol=tol * max(scale, 1e-6))
                    and torch.equal(got[~finite].nan_to_num(), want[~finite].nan_to_num()))

    def _fold_plane(self, net: nn.Module, base: dict, d1: dict, d2: dict | None) -> tuple[nn.Module, dict, dict, dict | None]:
        """The folded network, and θ, d1, d2 in its terms (or `self.refold` when that is not linear)."""
        pairs, active = self.pairs, set(base)
        state = {k: v.detach() for k, v in net.state_dict().items()}
        net = folded_model(net, pairs)
        affected = [p for p in pairs if any(n in active for n in pair_names(p))]
        feed = sorted((active - bn_names(pairs)) | {f"{p.conv}.{t}" for p in affected for t in ("weight", "bias")})
        constants = {n: state[n] for p in affected for n in pair_names(p)}
        if active & bn_names(pairs):
            # γ, β, μ or σ² move: fold every point (exact, but not linear in x and y)
            self.refold = lambda t: {n: v for n, v in fold({**constants, **t}, affected).items() if n in feed}
            return net, base, d1, d2

        # only conv weights and biases move: folding is linear, so fold θ, d1 and d2 once
        def linear(d: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            zeros = {n: torch.zeros_like(constants[n]) for p in affected for n in pair_names(p)[:2]}
            keep = {n: constants[n] for p in affected for n in pair_names(p)[-4:]}
            f = fold({**zeros, **keep, **d}, affected, linear_part=True)
            return {n: f[n] for n in feed}

        folded = fold({**constants, **base}, affected)
        return net, {n: folded[n] for n in feed}, linear(d1), (linear(d2) if d2 is not None else None)

    def _compile(self, mode: Compile) -> None:
        """Compile the per-point forward once: point weights are graph inputs, so no recompiles."""
        if not self.scripted:
            self._compiled = torch.compile(self._call, mode=None if mode == Compile.default else mode.value, dynamic=False)
            self.compiled_as = mode

    def _set_up_first_layer(self, force: bool) -> None:
        """Precompute layer(x, θ), layer(x, d1), layer(x, d2) over the (padded) data set, if it pays."""
        found = find_first_layer(self.net)
        if found is None or self.refold is not None:
            if force:
                self.on_note("first-layer maps not applicable to this model (no single input layer, or folding is not linear)")
            return
        name, layer, inp = found.name, found.module, found.input
        w, bias = f"{name}.weight", f"{name}.bias"
        n, bs = len(self.x), self.batch_size
        n_pad = -(-n // bs) * bs
        with torch.no_grad():
            out_shape = layer(inp(self.x[:1])).shape[1:]
        out_numel = int(np.prod(out_shape))
        maps_bytes = 3 * n_pad * out_numel * self.x.element_size()
        limit = (0.25 * torch.cuda.mem_get_info(self.device)[0] if self.device.type == "cuda"
                 else max(4 * self.x.nbytes, 1 << 30))
        if not force and (macs_per_output(layer) < PAYS_FROM or maps_bytes > limit):
            return
        state = {k: v.detach() for k, v in self.net.named_parameters()}
        parts = []
        for source in (None, self.d1, self.d2):
            if source is None:
                weight, b = self.base.get(w, state[w]), self.base.get(bias, state.get(bias))
            else:  # the linear part: no bias unless the direction moves it
                weight, b = source.get(w, torch.zeros_like(state[w])), source.get(bias)
            maps = torch.empty((n_pad,) + tuple(out_shape), device=self.device, dtype=self.x.dtype)
            with torch.no_grad(), precision_context(Precision.fp32, self.device):
                for s in range(0, n, bs):
                    maps[s : min(s + bs, n)] = apply_layer(layer, inp(self.x[s : s + bs]), weight, b)
            maps[n:] = 0.0
            parts.append(maps)
            if self.d2 is None and len(parts) == 2:
                break
        self.net = copy.deepcopy(self.net)  # the original stays intact in case the maps are not kept
        replace_with_precomputed(self.net, name)
        drop = lambda t: {k: v for k, v in t.items() if k not in (w, bias)}  # noqa: E731
        self.base, self.d1 = drop(self.base), drop(self.d1)
        self.d2 = drop(self.d2) if self.d2 is not None else None
        self.first = (f"{name}.value", parts)

    def _first_value(self, start: int, a: torch.Tensor | float, b: torch.Tensor | float) -> torch.Tensor:
        """The first layer's output for the batch at `start`: M0 + a·M1 + b·M2 (a, b scalars or (P,))."""
        _, (m0, m1, *m2) = self.first
        sl = slice(start, start + self.batch_size)
        if isinstance(a, torch.Tensor):  # several points: (P, B, ...)
            shape = (-1,) + (1,) * m0.dim()
            out = m0[sl].unsqueeze(0) + a.to(m0.dtype).view(shape) * m1[sl].unsqueeze(0)
            return out + b.to(m0.dtype).view(shape) * m2[0][sl].unsqueeze(0) if m2 else out
        out = torch.add(m0[sl], m1[sl], alpha=a)
        return out.add_(m2[0][sl], alpha=b) if m2 and b != 0.0 else out

    def _call(self, tensors: dict[str, torch.Tensor], xb: torch.Tensor) -> torch.Tensor:
        return functional_call(self.net, tensors, (xb,))

    def _place_data(self, dev: torch.device) -> None:
        x, y = self.data.x, self.data.y
        self.streaming = self.settings.stream_data == Toggle.on
        if dev.type == "cuda" and self.settings.stream_data == Toggle.auto:
            free, _ = torch.cuda.mem_get_info(dev)
            if x.nbytes + y.nbytes > 0.5 * free:  # leave room for activations
                self.streaming = True
                self.on_note(f"data ({(x.nbytes + y.nbytes) / 2**30:.1f} GiB) does not fit on the GPU: streaming it")
        if self.streaming:  # batches are copied from (pinned) host memory as they are needed
            self.x, self.y = (x.pin_memory(), y.pin_memory()) if dev.type == "cuda" else (x, y)
            return
        self.x, self.y = x.to(dev), y.to(dev)
        if self.channels_last:
            self.x = self.x.contiguous(memory_format=torch.channels_last)

    def _auto_batch_size(self) -> int:
        """On a GPU: as many samples as half the free memory holds, measured on a small batch."""
        if self.device.type != "cuda":
            return default_batch_size(self.data, self.device)
        probe = min(64, len(self.data))
        xb, _ = next(self._batches(probe))
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        before = torch.cuda.memory_allocated(self.device)
        with torch.no_grad(), precision_context(self.settings.precision, self.device):
            self._call(self.point_tensors(0.0, 0.0), xb)
        per_sample = (torch.cuda.max_memory_allocated(self.device) - before) / probe
        return batch_for_memory(torch.cuda.mem_get_info(self.device)[0], per_sample, len(self.data))

    def _check_model_accepts_data(self) -> None:
        xb, yb = next(self._batches(2))
        try:
            with torch.no_grad(), precision_context(self.settings.precision, self.device):
                out = self.net(xb)
        except Exception as e:
            first = (str(e).strip().splitlines() or [""])[0][:200]
            raise LandscapeError(
                f"the model rejects the data (inputs of shape {tuple(self.data.x.shape[1:])} per sample): "
                f"{type(e).__name__}: {first}"
            ) from None
        if not isinstance(out, torch.Tensor):
            raise LandscapeError(
                f"the model returns a {type(out).__name__}, not a tensor of outputs; wrap it so that forward returns the logits"
            )
        if self.classification and (out.dim() != 2 or out.shape[0] != len(yb)):
            self.classification = False  # integer targets but not class scores: no accuracy
        if self.classification:
            lo, hi = int(self.data.y.min()), int(self.data.y.max())
            if (lo < 0 or hi >= out.shape[1]) and self.loss in (cross_entropy, mse):
                raise LandscapeError(
                    f"labels run from {lo} to {hi} but the model has {out.shape[1]} outputs; labels must be 0..{out.shape[1] - 1}"
                )
            self.classification = 0 <= lo and hi < out.shape[1]  # else integer targets of a custom loss
        try:
            value = self.loss(out.float(), yb)
        except Exception as e:
            first = (str(e).strip().splitlines() or [""])[0][:200]
            raise LandscapeError(f"the loss fails on the model's outputs: {type(e).__name__}: {first}") from None
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            raise LandscapeError(
                f"the loss must return the batch mean as a 0-d tensor, got {type(value).__name__}"
                + (f" of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else "")
            )

    def _batches(self, batch_size: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        bs = batch_size or self.batch_size
        n = len(self.x)
        if not self.streaming:
            for s in range(0, n, bs):
                yield self.x[s : s + bs], self.y[s : s + bs]
            return
        # Copy the next batch (on a GPU: on a side stream) while the current one is computed.
        cuda = self.device.type == "cuda"
        stream = torch.cuda.Stream(self.device) if cuda else None

        def fetch(s: int) -> tuple[torch.Tensor, torch.Tensor]:
            with torch.cuda.stream(stream) if cuda else contextlib.nullcontext():
                xb = self.x[s : s + bs].to(self.device, non_blocking=True)
                if self.channels_last:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                return xb, self.y[s : s + bs].to(self.device, non_blocking=True)

        nxt = fetch(0)
        for s in range(0, n, bs):
            cur = nxt
            if cuda:
                torch.cuda.current_stream(self.device).wait_stream(stream)
                for t in cur:
                    t.record_stream(torch.cuda.current_stream(self.device))
            if s + bs < n:
                nxt = fetch(s + bs)
            yield cur

    # ---- one point per pass ---------------------------------------------------------------
    def point_tensors(self, a: float, b: float) -> dict[str, torch.Tensor]:
        """θ + a·d1 + b·d2 for every tensor a direction moves (of the folded network, if folded)."""
        out = {}
        for n, w in self.base.items():
            t = torch.add(w, self.d1[n], alpha=a)
            if self.d2 is not None and b != 0.0:
                t = t.add_(self.d2[n], alpha=b)
            out[n] = t
        return self.refold(out) if self.refold is not None else out

    def _forward(self, tensors: dict[str, torch.Tensor], xb: torch.Tensor) -> torch.Tensor:
        if self.scripted:  # TorchScript has no functional call: write the point into the private copy
            state = dict(self.net.named_parameters()) | dict(self.net.named_buffers())
            for n, t in tensors.items():
                state[n].copy_(t)
            return self.net(xb)
        if self._compiled is not None:
            n = len(xb)
            if n < self.batch_size:  # pad the last batch: one input shape, one compiled graph
                xb = torch.cat([xb, xb.new_zeros((self.batch_size - n,) + xb.shape[1:])])
            return self._compiled(tensors, xb)[:n]
        if self.first is not None:
            tensors = {**tensors, self.first[0]: tensors[self.first[0]][: len(xb)]}
        return self._call(tensors, xb)

    def _point(self, a: float, b: float) -> torch.Tensor:
        """(loss sum, correct count) of one point as a float64 device tensor; no host sync."""
        tensors = self.point_tensors(a, b)
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.float64, device=self.device)
        for start, (xb, yb) in zip(range(0, len(self.x), self.batch_size), self._batches()):
            if self.first is not None:
                tensors[self.first[0]] = self._first_value(start, a, b)
            out = self._forward(tensors, xb).float()
            loss_sum += self.loss(out, yb).double() * len(yb)
            if self.classification:
                correct += correct_count(out, yb)
        return torch.stack([loss_sum, correct])

    # ---- several points per pass --------------------------------------------------------------
    def _vmap_points(self, coords: np.ndarray) -> torch.Tensor:
        """(P, 2) loss sums and correct counts of P points in one vmapped pass per batch."""
        a = torch.as_tensor(coords[:, 0], device=self.device)
        b = torch.as_tensor(coords[:, 1], device=self.device)
        stacked = {}
        for n, w in self.base.items():
            shape = (-1,) + (1,) * w.dim()
            t = w.unsqueeze(0) + a.to(w.dtype).view(shape) * self.d1[n].unsqueeze(0)
            if self.d2 is not None:
                t = t + b.to(w.dtype).view(shape) * self.d2[n].unsqueeze(0)
            stacked[n] = t
        if self.refold is not None:
            stacked = torch.func.vmap(self.refold)(stacked)

        def one(tensors: dict[str, torch.Tensor], xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
            out = functional_call(self.net, tensors, (xb,)).float()
            c = correct_count(out, yb).double() if self.classification else out.new_zeros((), dtype=torch.float64)
            return torch.stack([self.loss(out, yb).double() * len(yb), c])

        total = torch.zeros(len(coords), 2, dtype=torch.float64, device=self.device)
        batched = torch.func.vmap(one, in_dims=(0, None, None))
        with warnings.catch_warnings():  # vmap's "no batching rule" notes: the timing says what it costs
            warnings.filterwarnings("ignore", message="There is a performance drop")
            for start, (xb, yb) in zip(range(0, len(self.x), self.batch_size), self._batches()):
                if self.first is not None:
                    stacked[self.first[0]] = self._first_value(start, a, b)[:, : len(xb)]
                total += batched(stacked, xb, yb)
        return total

    # ---- public ------------------------------------------------------------------------------
    def evaluate(self, coords: np.ndarray, launch: Launch | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Mean loss and accuracy (percent; NaN without class labels) at each (x, y) row of coords."""
        return self.means(self.sums(coords, launch), len(self.data))

    def means(self, sums: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(loss, accuracy) from (P, 2) loss sums and correct counts over `n` samples."""
        acc = 100.0 * sums[:, 1] / n if self.classification else np.full(len(sums), np.nan)
        return sums[:, 0] / n, acc

    def sums(self, coords: np.ndarray, launch: Launch | None = None) -> np.ndarray:
        """(P, 2) float64 loss sums and correct counts over this evaluator's data."""
        self.prepare()
        coords = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
        launch = launch or (self.launch if self.launch != Launch.auto else Launch.point)
        while True:
            try:
                with torch.no_grad(), precision_context(self.settings.precision, self.device):
                    if launch == Launch.vmap:
                        sums = torch.cat([
                            self._vmap_points(coords[s : s + self.points_per_launch])
                            for s in range(0, len(coords), self.points_per_launch)
                        ])
                    else:
                        sums = torch.stack([self._point(float(a), float(b)) for a, b in coords])
                return sums.cpu().numpy()  # the one host sync for this chunk
            except OOM_ERRORS:
                self._back_off(launch)

    def _back_off(self, launch: Launch) -> None:
        """After an out-of-memory error: fewer points per pass, else a smaller batch, else give up."""
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        if launch == Launch.vmap and self.points_per_launch > 1:
            self.points_per_launch //= 2
            self.on_note(f"out of memory: retrying with {self.points_per_launch} points per pass")
        elif self.batch_size > 1:
            self.batch_size //= 2
            self.on_note(f"out of memory: retrying with batch size {self.batch_size}")
        else:
            raise LandscapeError("out of memory even with batch size 1; use a smaller model, --device cpu or fewer --samples")

    def choose_launch(self, coords: np.ndarray) -> Launch:
        """Resolve launch "auto": time one point per pass and vmap on the first few points
        (results discarded) and keep the faster. Too small a grid does not repay the test."""
        self.prepare()
        if self.launch != Launch.auto:
            return self.launch
        p = self.points_per_launch
        self.launch = Launch.point
        if self.scripted or len(coords) < 8 * p:
            return self.launch
        sample = np.asarray(coords, dtype=np.float64).reshape(-1, 2)[:p]
        timings = {}
        for way in (Launch.point, Launch.vmap):
            try:
                self.evaluate(sample, way)  # warm-up
            except Exception as e:  # vmap cannot batch every model
                self.on_note(f"vmap unavailable for this model ({type(e).__name__}); one point per pass")
                return self.launch
            t0 = time.perf_counter()
            self.evaluate(sample, way)
            timings[way] = (time.perf_counter() - t0) / p
        self.launch = min(timings, key=timings.__getitem__)
        self.on_note(
            f"one point per pass {1e3 * timings[Launch.point]:.1f} ms/point, vmap over {p} points "
            f"{1e3 * timings[Launch.vmap]:.1f} ms/point: using {self.launch.value}"
        )
        return self.launch

    def stream(
        self, coords: np.ndarray, seconds: float = 1.0, max_chunk: int = 256
    ) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
        """Evaluate coords in chunks of about `seconds` each, yielding (start, stop, loss, acc)
        as each chunk finishes (so a caller can save and report progress)."""
        coords = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
        launch = self.choose_launch(coords)
        start, chunk = 0, 1
        if self.settings.compile == Compile.auto and launch == Launch.point and self._compiled is None and len(coords) > 2:
            t0 = time.perf_counter()
            loss, acc = self.evaluate(coords[:2], launch)
            estimate = (time.perf_counter() - t0) / 2 * (len(coords) - 2)
            yield 0, 2, loss, acc
            start = 2
            if estimate > COMPILE_PAYS_AFTER:
                self.on_note(f"about {estimate / 60:.0f} min of evaluation left: compiling the forward (torch.compile)")
                self._compile(Compile.default if self.device.type == "cpu" else Compile.cudagraphs)
        while start < len(coords):
            stop = min(len(coords), start + chunk)
            t0 = time.perf_counter()
            loss, acc = self.evaluate(coords[start:stop], launch)
            per_point = (time.perf_counter() - t0) / (stop - start)
            yield start, stop, loss, acc
            start = stop
            chunk = int(np.clip(seconds / max(per_point, 1e-6), 1, max_chunk))
