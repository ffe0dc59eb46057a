"""The fill loop: evaluate the points of a file not computed yet, in one process or shared among
torchrun's ranks, rank 0 journaling every chunk as it finishes; the time estimate printed
after the first points."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from landscape import store
from landscape.run import distributed
from landscape.run.job import Note, Progress
from landscape.run.provenance import timestamp
from landscape.run.resume import Prepared

SPLIT_DATA_CHUNK = 16  # points per all-reduce under --split-data (the same on every rank)


def fill(out: Path, p: Prepared, world: distributed.World, progress: Progress | None, note: Note) -> tuple[int, int]:
    """Evaluate the points of `out` not computed yet, every rank its share, rank 0 writing each
    chunk as it finishes. Returns (points computed now, points in the grid)."""
    ev, grid = p.evaluator, p.grid
    before = store.read_surface(out) if world.is_writer else None
    missing = world.share(np.flatnonzero(~before.computed.ravel()) if before is not None else None)
    split = str(before.attrs.get("split", "train")) if before is not None else "train"
    total_points = grid.size
    done = total_points - len(missing)
    mine = missing if p.job.split_data else missing[world.rank :: world.size]
    coords = grid.coords(mine)
    if p.job.split_data:  # every rank the same points, each on its shard: sum the shards' sums, a chunk at a time
        k = SPLIT_DATA_CHUNK
        chunks = ((s, min(s + k, len(mine)), *ev.means(world.sum_arrays(ev.sums(coords[s : s + k]))))
                  for s in range(0, len(mine), k))
    else:
        chunks = ev.stream(coords)
    eigen = _eigen_map(p) if p.job.eigen_map else None
    with ExitStack() as stack:
        writer = stack.enter_context(store.Writer(out)) if world.is_writer else None
        if writer is not None:
            if len(missing):
                writer.set_attrs(finished="", device=f"{world.size} x {ev.device}" if world.size > 1 else str(ev.device))
            if progress:
                progress(done, total_points)
        timer = _Estimate(len(mine), world, note)
        while True:
            item = next(chunks, None)
            payload = None
            if item is not None:
                start, stop, loss, acc = item
                values = dict(zip(store.value_names(split, classification=True), (loss, acc)))
                if eigen is not None:
                    values.update(eigen(coords[start:stop]))
                payload = (mine[start:stop], values)
                timer.chunk(stop)
            smallest = world.minimum(ev.batch_size)  # after an out-of-memory back-off every rank uses the smallest
            if smallest < ev.batch_size:
                ev.shrink_batch(smallest)
            gathered = [payload] if p.job.split_data else world.gather(payload)
            if writer is not None:
                for part in gathered or []:
                    if part is not None:
                        writer.write(part[0], {k: v for k, v in part[1].items() if k in writer.metrics})
                        done += len(part[0])
                if progress:
                    progress(done, total_points)
                now = ev.plan_now()
                if now != p.plan:  # a back-off, or a fast path dropped at run time: recorded at once
                    writer.set_plan(now.to_dict())
                    p.plan = now
            if world.total(0 if item is None else 1) == 0:
                break
        if writer is not None:
            if len(missing):
                writer.set_attrs(finished=timestamp())
    return len(missing), total_points


FORECAST_FROM = 10.0  # seconds left below which no time estimate is printed


class _Estimate:
    """After the first points: "about N min for the M points left" (timing here never changes a value)."""

    def __init__(self, points: int, world: distributed.World, note: Note):
        self.points, self.world, self.note = points, world, note
        self.t0 = time.perf_counter()
        self.first: tuple[int, float] | None = None
        self.said = points < 4 or not world.is_writer

    def chunk(self, done: int) -> None:
        if self.said:
            return
        now = time.perf_counter()
        if self.first is None:  # the first point pays for warm-up (and a compile): time from after it
            self.first = (done, now)
            return
        n, seconds = done - self.first[0], now - self.first[1]
        if n >= 2 and (seconds >= 0.2 or n >= 20):
            left = (self.points - done) * seconds / n
            if left >= FORECAST_FROM:  # a run of seconds needs no forecast
                self.note(f"{1e3 * seconds / n:.0f} ms a point: about {duration(left)} for the "
                          f"{self.points - done:,} points left" + (" on this rank" if self.world.size > 1 else ""))
            self.said = True


def duration(seconds: float) -> str:
    """A time as people say it: 40 s, 12 min, 3.5 h."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _eigen_map(p: Prepared) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    from landscape.curvature.eigenmap import eigen_map_values

    return eigen_map_values(p.evaluator)
