"""The evaluation engine: loss and accuracy of a model at points θ + x·d1 + y·d2.

The weights of a point are computed from the base weights and the directions, then
applied functionally (`torch.func.functional_call`) to a private copy of the model: the
user's model is never touched and nothing drifts from point to point. Data is moved to
the device once when it fits; loss sums and correct counts accumulate on the device and
reach the host once per chunk of points.
"""

from __future__ import annotations

import copy
import time
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
from .metrics import LossFn, correct_count

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


@dataclass(frozen=True)
class EvalSettings:
    """Where and how points are evaluated; none of these change the values beyond rounding."""

    device: str = "auto"
    precision: Precision = Precision.fp32
    batch_size: int | None = None  # None: chosen from the data and device
    launch: Launch = Launch.auto
    points_per_launch: int = 8


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
        self.net = copy.deepcopy(self.model).to(dev).eval()  # a private copy: the user's model stays as it is
        self.scripted = isinstance(self.net, torch.jit.ScriptModule)
        base = base_tensors(self.net, self.directions.dir_type)
        d1, d2 = self.directions.x, self.directions.y
        # Only tensors that some direction moves are recomputed per point.
        self.active = [
            n for n in base
            if base[n].is_floating_point() and (bool(d1[n].any()) or (d2 is not None and bool(d2[n].any())))
        ]
        self.base = {n: base[n] for n in self.active}
        self.d1 = {n: d1[n].to(dev, base[n].dtype) for n in self.active}
        self.d2 = {n: d2[n].to(dev, base[n].dtype) for n in self.active} if d2 is not None else None
        self.batch_size = self.settings.batch_size or default_batch_size(self.data, dev)
        if self.batch_size < 1:
            raise LandscapeError(f"--batch-size must be at least 1, got {self.batch_size}")
        self._place_data(dev)
        self._check_model_accepts_data()
        self._ready = True

    def _place_data(self, dev: torch.device) -> None:
        x, y = self.data.x, self.data.y
        self.streaming = False
        if dev.type == "cuda":
            free, _ = torch.cuda.mem_get_info(dev)
            if x.nbytes + y.nbytes > 0.5 * free:  # leave room for activations: stream from pinned memory
                self.streaming = True
                self.on_note(f"data ({(x.nbytes + y.nbytes) / 2**30:.1f} GiB) does not fit on the GPU: streaming it")
                self.x, self.y = x.pin_memory(), y.pin_memory()
                return
        self.x, self.y = x.to(dev), y.to(dev)

    def _check_model_accepts_data(self) -> None:
        xb, yb = next(self._batches(2))
        try:
            with torch.no_grad(), precision_context(self.settings.precision, self.device):
                out = self.net(xb)
                self.loss(out.float(), yb)
        except Exception as e:
            first = (str(e).strip().splitlines() or [""])[0][:200]
            raise LandscapeError(
                f"the model rejects the data (inputs of shape {tuple(self.data.x.shape[1:])} per sample): "
                f"{type(e).__name__}: {first}"
            ) from None
        if self.classification and (out.dim() != 2 or out.shape[0] != len(yb)):
            self.classification = False  # integer targets but not class scores: no accuracy

    def _batches(self, batch_size: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        bs = batch_size or self.batch_size
        n = len(self.x)
        if not self.streaming:
            for s in range(0, n, bs):
                yield self.x[s : s + bs], self.y[s : s + bs]
            return
        # Copy the next batch on a side stream while the current one is computed.
        stream = torch.cuda.Stream(self.device)

        def fetch(s: int) -> tuple[torch.Tensor, torch.Tensor]:
            with torch.cuda.stream(stream):
                return (self.x[s : s + bs].to(self.device, non_blocking=True),
                        self.y[s : s + bs].to(self.device, non_blocking=True))

        nxt = fetch(0)
        for s in range(0, n, bs):
            torch.cuda.current_stream(self.device).wait_stream(stream)
            cur = nxt
            for t in cur:
                t.record_stream(torch.cuda.current_stream(self.device))
            if s + bs < n:
                nxt = fetch(s + bs)
            yield cur

    # ---- one point per pass ---------------------------------------------------------------
    def point_tensors(self, a: float, b: float) -> dict[str, torch.Tensor]:
        """θ + a·d1 + b·d2 for every tensor a direction moves."""
        out = {}
        for n, w in self.base.items():
            t = torch.add(w, self.d1[n], alpha=a)
            if self.d2 is not None and b != 0.0:
                t = t.add_(self.d2[n], alpha=b)
            out[n] = t
        return out

    def _forward(self, tensors: dict[str, torch.Tensor], xb: torch.Tensor) -> torch.Tensor:
        if self.scripted:  # TorchScript has no functional call: write the point into the private copy
            state = dict(self.net.named_parameters()) | dict(self.net.named_buffers())
            for n, t in tensors.items():
                state[n].copy_(t)
            return self.net(xb)
        return functional_call(self.net, tensors, (xb,))

    def _point(self, a: float, b: float) -> torch.Tensor:
        """(loss sum, correct count) of one point as a float64 device tensor; no host sync."""
        tensors = self.point_tensors(a, b)
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.float64, device=self.device)
        for xb, yb in self._batches():
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

        def one(tensors: dict[str, torch.Tensor], xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
            out = functional_call(self.net, tensors, (xb,)).float()
            c = correct_count(out, yb).double() if self.classification else out.new_zeros((), dtype=torch.float64)
            return torch.stack([self.loss(out, yb).double() * len(yb), c])

        total = torch.zeros(len(coords), 2, dtype=torch.float64, device=self.device)
        batched = torch.func.vmap(one, in_dims=(0, None, None))
        for xb, yb in self._batches():
            total += batched(stacked, xb, yb)
        return total

    # ---- public ------------------------------------------------------------------------------
    def evaluate(self, coords: np.ndarray, launch: Launch | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Mean loss and accuracy (percent; NaN without class labels) at each (x, y) row of coords."""
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
                sums = sums.cpu().numpy()  # the one host sync for this chunk
                break
            except OOM_ERRORS:
                self._back_off(launch)
        n = len(self.data)
        acc = 100.0 * sums[:, 1] / n if self.classification else np.full(len(coords), np.nan)
        return sums[:, 0] / n, acc

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
        while start < len(coords):
            stop = min(len(coords), start + chunk)
            t0 = time.perf_counter()
            loss, acc = self.evaluate(coords[start:stop], launch)
            per_point = (time.perf_counter() - t0) / (stop - start)
            yield start, stop, loss, acc
            start = stop
            chunk = int(np.clip(seconds / max(per_point, 1e-6), 1, max_chunk))
