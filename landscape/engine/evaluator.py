"""The evaluator: the loops over points and batches of one plan, and the out-of-memory back-off.

Data is moved to the device once when it fits; loss sums, sample counts and correct counts
accumulate on the device and reach the host once per chunk of points.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from landscape.engine import pointmodel as pmod
from landscape.engine.checks import EvalChecks
from landscape.engine.device import OOM_ERRORS, precision_context
from landscape.engine.functional import device_batches
from landscape.engine.plan import Compile, Launch, Plan
from landscape.errors import LandscapeError, arg
from landscape.inputs.data import BatchData, Data, TensorData, to_device
from landscape.inputs.objective import Objective, correct_count
from landscape.plane.directions import Directions

Note = Callable[[str], None]


class Evaluator:
    """Evaluates points (x, y) of one plane for one model and data set, as `plan` says.

    Construction only records its inputs; the private model copy, the device data and the
    fast paths are set up on first use (`prepare`).
    """

    def __init__(self, model: nn.Module, data: Data, directions: Directions, objective: Objective, plan: Plan,
                 device: torch.device | str | None = None, on_note: Note = lambda message: None):
        self.model, self.data, self.directions, self.objective, self.plan = model, data, directions, objective, plan
        self.device = torch.device(device if device is not None else plan.device)
        self.on_note = on_note
        self.batch_size = plan.batch_size
        self.points_per_launch = plan.points_per_launch
        self.checks = EvalChecks(objective.eval_fn)  # every batch of an --eval function
        if isinstance(data, TensorData) and self.batch_size < 1:
            raise LandscapeError(f"the evaluation plan's batch size is {self.batch_size}, but this data is split into "
                                 f"batches by it: the plan is damaged; pass {arg('overwrite', True)} to compute the file again")
        self._ready = False

    # ---- set-up -------------------------------------------------------------------------
    def prepare(self) -> None:
        if self._ready:
            return
        plan, dev = self.plan, self.device
        self._place_data()
        self.idle_batches = 0
        if plan.fsdp:  # sharded: every rank runs as many forward passes as the rank with the most batches
            from landscape.engine import sharded

            self.pm = pmod.sharded(self.model, self.directions, dev, self.objective.eval_fn)
            mine = len(self.batches) if isinstance(self.data, BatchData) else sharded.batches_of(len(self.x), self.batch_size)
            self.idle_batches, self._ready = sharded.most_batches(mine, dev) - mine, True
            return
        if plan.lean:  # no fast path: they transform whole points, which a lean point never makes
            self.pm, self._ready = pmod.lean(self.model, self.directions, dev, self.objective.eval_fn), True
            return
        pm = pmod.plain(self.model, self.directions, dev, self.objective.eval_fn)
        probe_batch = self._probe_batch()
        reference = pmod.outputs_at_test_point(pm, probe_batch)
        if plan.fold_bn and not pm.scripted:
            pm = self._checked("BatchNorm folding", pm, lambda: pmod.fold_batchnorm(pm), reference, probe_batch)
        if plan.channels_last and pm.eval_fn is None and not pm.scripted:
            pm = pmod.to_channels_last(pm)
        if plan.first_layer and isinstance(self.data, TensorData) and not self.streaming:
            pm = self._checked("the first-layer maps", pm,
                               lambda: pmod.with_first_layer(pm, self.x, self.batch_size), reference, probe_batch)
        if plan.cast_weights:
            pm = pmod.with_cast(pm, plan.precision)
        if plan.compile not in (Compile.off, Compile.auto):
            pm = pmod.compiled(pm, plan.compile, self.batch_size)
        self.pm = pm
        self._ready = True

    def _checked(self, name: str, pm: pmod.PointModel, make: Callable[[], pmod.PointModel | None],
                 reference: torch.Tensor, probe_batch: Any) -> pmod.PointModel:
        """A fast path, kept only if it builds and gives the plain model's outputs at the test point."""
        try:
            candidate = make()
            if candidate is None:
                return pm
            if pmod.agrees(candidate, reference, probe_batch):
                return candidate
            reason = "it does not reproduce the model's outputs"
        except Exception as e:  # an unusual model the fast path does not cover
            reason = f"{type(e).__name__}: {str(e).splitlines()[0][:80] if str(e) else ''}"
        self.on_note(f"{name} skipped for this model ({reason}); evaluating without it")
        return pm

    def _probe_batch(self) -> Any:
        if isinstance(self.data, BatchData):
            return self._device_batch(0)
        k = min(8, len(self.data))
        return self.x[:k].to(self.device) if self.objective.eval_fn is None else (
            self.x[:k].to(self.device), self.y[:k].to(self.device))

    def _place_data(self) -> None:
        self.streaming = self.plan.stream_data
        dev = self.device
        if isinstance(self.data, BatchData):
            self.batches = self.data.batches if self.streaming else [to_device(b, dev) for b in self.data.batches]
            return
        x, y = self.data.x, self.data.y
        if self.streaming:  # batches are copied from (pinned) host memory as they are needed
            self.x, self.y = (x.pin_memory(), y.pin_memory()) if dev.type == "cuda" else (x, y)
            return
        self.x, self.y = x.to(dev), y.to(dev)
        if self.plan.channels_last and self.x.dim() == 4 and self.objective.eval_fn is None:
            self.x = self.x.contiguous(memory_format=torch.channels_last)

    def _device_batch(self, k: int) -> Any:
        batch = self.batches[k]
        return to_device(batch, self.device, non_blocking=True) if self.streaming else batch

    def _batches(self) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """(start, inputs, labels) of each batch of tensor data, on the device."""
        bs, n = self.batch_size, len(self.x)
        if not self.streaming:
            for s in range(0, n, bs):
                yield s, self.x[s : s + bs], self.y[s : s + bs]
            return
        # Copy the next batch (on a GPU: on a side stream) while the current one is computed.
        cuda = self.device.type == "cuda"
        stream = torch.cuda.Stream(self.device) if cuda else None

        def fetch(s: int) -> tuple[torch.Tensor, torch.Tensor]:
            with torch.cuda.stream(stream) if cuda else contextlib.nullcontext():
                xb = self.x[s : s + bs].to(self.device, non_blocking=True)
                if self.plan.channels_last and xb.dim() == 4 and self.objective.eval_fn is None:
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
            yield s, cur[0], cur[1]

    # ---- one point per pass ---------------------------------------------------------------
    def _point(self, a: float, b: float) -> torch.Tensor:
        """(loss sum, count, correct count) of one point as a float64 device tensor; no host sync."""
        tensors = self.pm.tensors(a, b)
        total = torch.zeros(3, dtype=torch.float64, device=self.device)
        if self.objective.eval_fn is not None:
            batches = (self._device_batch(k) for k in range(len(self.batches))) if isinstance(self.data, BatchData) \
                else ((xb, yb) for _, xb, yb in self._batches())
            where = f"point (x={a:g}, y={b:g})"
            for k, batch in enumerate(batches):
                checked = self.checks.run(lambda: self.pm.run_eval(tensors, batch), k, where)
                for i, r in enumerate((checked.loss, checked.count, checked.correct)):
                    if r is not None:  # a Python number is added as a scalar: copying it to a GPU would sync
                        total[i] += (r.to(device=self.device, dtype=torch.float64)
                                     if isinstance(r, torch.Tensor) else r)
            self._idle(lambda batch: self.pm.run_eval(tensors, batch))
            return total
        loss, classification = self.objective.loss, self.objective.classification
        for start, xb, yb in self._batches():
            out = self.pm.forward(tensors, xb, start, a, b).float()
            total[0] += loss(out, yb).double() * len(yb)
            total[1] += len(yb)
            if classification:
                total[2] += correct_count(out, yb)
        self._idle(lambda batch: self.pm.forward(tensors, batch[0]))
        return total

    def _idle(self, run: Callable[[Any], Any]) -> None:
        """Forward passes whose results are dropped, on a rank with fewer batches than another
        (FSDP gathers weights collectively: every rank runs as many passes)."""
        if self.idle_batches:
            batch = self._probe_batch()
            for _ in range(self.idle_batches):
                run(batch if self.objective.eval_fn is not None or isinstance(self.data, BatchData) else (batch,))

    # ---- several points per pass --------------------------------------------------------------
    def _vmap_points(self, coords: np.ndarray) -> torch.Tensor:
        """(P, 3) sums of P points in one vmapped pass per batch."""
        a = torch.as_tensor(coords[:, 0], device=self.device)
        b = torch.as_tensor(coords[:, 1], device=self.device)
        stacked = self.pm.stacked(a, b)
        loss, classification, net = self.objective.loss, self.objective.classification, self.pm.net

        def one(tensors: dict[str, torch.Tensor], xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
            out = functional_call(net, tensors, (xb,)).float()
            c = correct_count(out, yb).double() if classification else out.new_zeros((), dtype=torch.float64)
            return torch.stack([loss(out, yb).double() * len(yb), out.new_full((), len(yb), dtype=torch.float64), c])

        total = torch.zeros(len(coords), 3, dtype=torch.float64, device=self.device)
        batched = torch.func.vmap(one, in_dims=(0, None, None))
        with warnings.catch_warnings():  # vmap's "no batching rule" notes
            warnings.filterwarnings("ignore", message="There is a performance drop")
            for start, xb, yb in self._batches():
                if self.pm.first is not None:
                    stacked[self.pm.first.name] = self.pm.first.value(start, len(xb), a, b)
                total += batched(stacked, xb, yb)
        return total

    # ---- public ------------------------------------------------------------------------------
    def sums(self, coords: np.ndarray) -> np.ndarray:
        """(P, 3) float64 loss sums, sample counts and correct counts over this evaluator's data."""
        self.prepare()
        coords = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
        while True:
            try:
                with torch.no_grad(), precision_context(self.plan.precision, self.device):
                    if self.plan.launch == Launch.vmap:
                        sums = torch.cat([self._vmap_points(coords[s : s + self.points_per_launch])
                                          for s in range(0, len(coords), self.points_per_launch)])
                    else:
                        self.checks.pending.clear()  # of a try that ran out of memory
                        sums = torch.stack([self._point(float(a), float(b)) for a, b in coords])
                values = sums.cpu().numpy()  # the one host sync for this chunk
                self.checks.finish()
                return values
            except OOM_ERRORS:
                if self.plan.fsdp:  # every rank must run as many passes: no rank may back off alone
                    raise LandscapeError(f"out of memory on this rank under {arg('fsdp', True)}: give a smaller "
                                         f"{arg('batch_size')}, or more processes") from None
                self._back_off()
            except Exception as e:
                if self.pm.compiled is None or not type(e).__module__.startswith(("torch._dynamo", "torch._inductor")):
                    raise
                # no C compiler, an operator inductor cannot lower, ...: eager from here on (it rounds a little
                # differently from a compiled graph; the file's plan records the change, see plan_now)
                self.on_note(f"torch.compile failed ({type(e).__name__}); evaluating without it")
                self.pm = dataclasses.replace(self.pm, compiled=None)

    def means(self, sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(loss, accuracy in percent; NaN without class labels) from (P, 3) sums."""
        count = np.where(sums[:, 1] > 0, sums[:, 1], np.nan)
        acc = 100.0 * sums[:, 2] / count if self.objective.classification else np.full(len(sums), np.nan)
        return sums[:, 0] / count, acc

    def evaluate(self, coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean loss and accuracy (percent; NaN without class labels) at each (x, y) row of coords."""
        return self.means(self.sums(coords))

    def _back_off(self) -> None:
        """After an out-of-memory error: fewer points per pass, else a smaller batch, else give up.
        The plan changes; the caller records it (`plan_now`)."""
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        if self.plan.launch == Launch.vmap and self.points_per_launch > 1:
            self.points_per_launch //= 2
            self.on_note(f"out of memory: retrying with {self.points_per_launch} points per pass")
        elif self.batch_size > 1 and isinstance(self.data, TensorData):
            self.on_note(f"out of memory: retrying with batch size {self.batch_size // 2}")
            self.shrink_batch(self.batch_size // 2)
        else:
            raise LandscapeError(f"out of memory even with batch size 1; use a smaller model, {arg('device', 'cpu')} or fewer {arg('samples')}")

    def shrink_batch(self, size: int) -> None:
        """A smaller batch from now on (an out-of-memory back-off, here or on another rank)."""
        self.batch_size = size
        if self._ready and (self.pm.first is not None or self.pm.compiled is not None):  # built for one batch size
            self._ready = False
            del self.pm, self.x, self.y  # free them before they are made again, just after running out of memory
            self.prepare()

    def hvp_batches(self) -> list[Any]:
        """This evaluator's data on its device in the plan's batches of a Hessian-vector product
        (`Plan.hvp_batch`: an HVP holds 3-4× a forward pass's memory), for curvature at its points."""
        return device_batches(self.data, self.plan.hvp_batch, self.device)

    def plan_now(self) -> Plan:
        """The plan as it stands: an out-of-memory back-off may have shrunk the batch, and a fast
        path the model defeated (or a compile that failed) is off. The file records this.
        Sharded (FSDP), the plan has no fast path to drop and preparing is collective: as planned."""
        if self.plan.fsdp:
            return self.plan
        self.prepare()
        applied = self.pm.applied
        return dataclasses.replace(
            self.plan, batch_size=self.batch_size, points_per_launch=self.points_per_launch,
            fold_bn=self.plan.fold_bn and "BatchNorm folding" in applied,
            first_layer=self.plan.first_layer and self.pm.first is not None,
            compile=self.plan.compile if self.pm.compiled is not None or self.plan.compile == Compile.off
            else Compile.off)

    def stream(self, coords: np.ndarray, seconds: float = 1.0, max_chunk: int = 256
               ) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
        """Evaluate coords in chunks of about `seconds` each (timing sets only the chunk size,
        never a value), yielding (start, stop, loss, acc) as each chunk finishes."""
        coords = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
        group = self.points_per_launch if self.plan.launch == Launch.vmap else 1  # vmapped passes: whole groups
        start, chunk = 0, group
        while start < len(coords):
            stop = min(len(coords), start + chunk)
            t0 = time.perf_counter()
            loss, acc = self.evaluate(coords[start:stop])
            per_point = (time.perf_counter() - t0) / (stop - start)
            yield start, stop, loss, acc
            start = stop
            chunk = int(np.clip(seconds / max(per_point, 1e-6), 1, max_chunk))
            chunk = max(group, chunk - chunk % group)
