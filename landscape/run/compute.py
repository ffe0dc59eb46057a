"""Computing a surface: checkpoint + data → directions → plan → grid evaluation → surface file.

`evaluate` is the in-memory version for notebooks (model, data, plane, grid in; a `Surface`
out); `compute` is what `landscape compute` runs: it writes the file as it goes and resumes an
interrupted run, in one process or under torchrun (one fill loop for both); `dry_run` says
what `compute` would do without writing anything.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import platform
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from landscape import store

from landscape.run import distributed

from landscape.store import journal
from landscape._version import __version__
from landscape.inputs.checkpoint import ModelSpec, load_model, resolve_checkpoint, sha256
from landscape.inputs.data import Data, DataSpec, describe, load_data, materialize
from landscape.plane.directions import Directions, DirectionSpec
from landscape.engine import Compile, EvalSettings, Evaluator, Plan, plan_for, profile_of, resolve_device
from landscape.engine.probe import check_objective
from landscape.errors import LandscapeError, arg
from landscape.plane.grid import AutoRange, Grid
from landscape.inputs.importing import source_file
from landscape.inputs.objective import EvalFn, LossFn, Loss, Objective
from landscape.choices import Scale
from landscape.plane.sources import FilePlane, GivenPlane, TargetPlane, make_plane
from landscape.run.job import ComputeJob

Progress = Callable[[int, int], None]  # (points done, points in total)
Note = Callable[[str], None]


@dataclass
class ComputeResult:
    path: Path
    computed: int  # points computed by this run
    total: int
    nonfinite: int  # computed points (in the whole file) whose loss is inf or NaN
    seconds: float
    plan: Plan | None = None
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------- in memory


def evaluate(
    model: nn.Module,
    data: Any,
    plane: Directions,
    grid: Grid,
    loss: LossFn = F.cross_entropy,
    eval: EvalFn | None = None,  # noqa: A002 (the --eval form: fn(model, batch) -> (loss sum, count[, correct]))
    settings: EvalSettings = EvalSettings(),
    on_note: Note | None = None,
) -> store.Surface:
    """The loss (and accuracy) of `model` over `grid` in the plane of `plane`, in memory.

    `data`: an (x, y) pair of tensors, a Dataset, a DataLoader, or (with `eval`) any iterable of
    batches. `loss(outputs, targets)` returns the batch mean; `eval(model, batch)` returns (loss
    sum, count[, correct]) for models that are not f(x) -> outputs. The model is left as it was.
    Returns the same `Surface` that `read_surface` gives for a file, ready for `plot.draw`.
    """
    data = materialize(data)
    objective = Objective(eval_fn=eval) if eval is not None else Objective(loss=loss)
    device = resolve_device(settings.device)
    plan, objective = plan_for(model, data, objective, settings, device, grid.size)
    ev = Evaluator(model, data, plane, objective, plan, device, on_note or (lambda m: None))
    loss_v, acc_v = ev.evaluate(grid.coords(np.arange(grid.size)))
    prefix = f"{data.split}_" if data.split else ""
    values = {f"{prefix}loss": loss_v.reshape(grid.shape)}
    if objective.classification:
        values[f"{prefix}acc"] = acc_v.reshape(grid.shape)
    attrs = {"dir_kind": plane.kind, "dir_type": plane.dir_type.value, "xlabel": plane.labels[0],
             "ylabel": plane.labels[1], **({"split": data.split} if data.split else {}),
             **{k: v for k, v in plane.extra.items() if isinstance(v, (str, int, float))}}
    return store.Surface(None, np.asarray(grid.x), None if grid.y is None else np.asarray(grid.y), values,
                         np.ones(grid.shape, dtype=bool), attrs, dict(plane.tracks), plan.to_dict())


# ---------------------------------------------------------------------------------- the file's record


def model_sha256(model: nn.Module, spec: ModelSpec) -> str:
    """A digest of the model's structure (tensor names, shapes, dtypes) and of the source files
    of its own classes and factory: a resumed run must evaluate the same network."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
    files = set()
    for m in model.modules():
        module = sys.modules.get(type(m).__module__)
        if module is not None and not type(m).__module__.startswith("torch") and getattr(module, "__file__", None):
            files.add(module.__file__)
    source = source_file(spec.factory) if spec.factory else None
    if source is not None:  # the factory's own file, `pkg.module:name` or `path/to/file.py:name`
        files.add(source)
    return _digest_files(h, files)


def _digest_files(h: Any, files: set[str]) -> str:
    """`h` updated with each file's bytes (its name where it cannot be read), in a fixed order."""
    for f in sorted(files):
        try:
            h.update(Path(f).read_bytes())
        except OSError:
            h.update(f.encode())
    return h.hexdigest()


def code_sha256(*functions: Any) -> str | None:
    """A digest of the source files of the user's own functions (a `--loss` or `--eval`
    function): a resumed run must measure with the same code. None for landscape's own."""
    files = set()
    for fn in functions:
        module = sys.modules.get(getattr(fn, "__module__", "") or "")
        name = getattr(module, "__name__", "")
        if module is None or name.startswith(("landscape.", "torch")) or not getattr(module, "__file__", None):
            continue
        files.add(module.__file__)
    return _digest_files(hashlib.sha256(), files) if files else None


def _fingerprint(job: ComputeJob, checkpoint_sha: str, model_sha: str, data: Data, objective: Objective) -> dict:
    """The settings a resumed run must share with the file (the plan is compared on its own)."""

    def file_sha(p: Path | None) -> str | None:
        return sha256(resolve_checkpoint(p)) if p is not None else None

    grid, plane, spec = job.grid, job.plane, job.spec
    return {
        "checkpoint_sha256": checkpoint_sha,
        "model": job.model.factory,
        "model_kwargs": job.model.kwargs_dict(),
        "model_sha256": model_sha,
        "data": job.data.source,
        "data_sha256": data.sha256(),
        "split": data.split,
        "samples": len(data),
        "data_seed": job.data.seed,
        "loss": job.loss.label,
        "loss_sha256": code_sha256(objective.loss, objective.eval_fn),
        "dir_type": spec.dir_type.value,
        "norm": spec.norm.value,
        "ignore": "biasbn" if spec.ignore_biasbn else "none",
        "params": spec.select.pattern,
        "trainable_only": spec.select.trainable_only,
        "seed": spec.seed,
        "x_target_sha256": file_sha(plane.x) if isinstance(plane, TargetPlane) else None,
        "y_target_sha256": file_sha(plane.y) if isinstance(plane, TargetPlane) else None,
        "directions_sha256": sha256(plane.path) if isinstance(plane, FilePlane) else None,
        "direction_scale": (plane.scale if isinstance(plane, FilePlane) else Scale.unit).value,
        "plane_sha256": _tensors_sha(plane.directions) if isinstance(plane, GivenPlane) else None,
        "eigen_map": job.eigen_map,
        "xcoordinates": list(grid.x) if isinstance(grid, Grid) else f"auto: rise {grid.rise:g}, {grid.nx} points",
        "ycoordinates": (list(grid.y) if grid.y is not None else None) if isinstance(grid, Grid)
        else (f"auto: rise {grid.rise:g}, {grid.ny} points" if grid.ny else None),
    }


def _attributes(job: ComputeJob, settings: dict, directions: Directions, data: Data) -> dict:
    """Root attributes of a new file: everything needed to reproduce the run."""
    attrs: dict[str, Any] = {
        "checkpoint": str(job.checkpoint),
        "checkpoint_sha256": settings["checkpoint_sha256"],
        "model": job.model.factory or "(from checkpoint)",
        "model_kwargs": job.model.kwargs,
        "model_sha256": settings["model_sha256"],
        "data": describe(job.data, data),
        "data_source": job.data.source,
        "split": data.split or "train",
        "samples": len(data),
        "loss": job.loss.label,
        "norm": settings["norm"] if directions.kind == "random" else "none",
        "ignore": settings["ignore"],
        "dir_type": directions.dir_type.value,
        "seed": job.spec.seed,
        "versions": _versions(),
        "command": job.command,
        "started": _now(),
    }
    plane = job.plane
    given = {"x_target": plane.x, "y_target": plane.y} if isinstance(plane, TargetPlane) else \
        {"directions_file": plane.path} if isinstance(plane, FilePlane) else {}
    attrs.update({key: str(value) for key, value in given.items() if value is not None})
    return attrs


def _tensors_sha(directions: Directions) -> str:
    h = hashlib.sha256()
    for d in (directions.x, directions.y):
        for name, t in (d or {}).items():
            h.update(name.encode())
            h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _versions() -> str:
    import h5py

    return (f"landscape {__version__}, torch {torch.__version__}, numpy {np.__version__}, h5py {h5py.__version__}, "
            f"python {platform.python_version()}")


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------- to the file


def output_path(out: Path, note: Note, overwrite: bool = False) -> Path:
    """The file to write: `out`, or the file a symbolic link at `out` points to (written through,
    so the points it holds are resumed, not lost; never replaced through it)."""
    out = Path(out)
    if out.is_symlink() and overwrite:
        raise LandscapeError(f"--out {out} is a symbolic link: with --overwrite landscape would replace the file it "
                             "points to; give that file's own path")
    if out.is_symlink():
        target = out.resolve()
        note(f"{out} is a symbolic link: writing through it to {target}")
        return target
    return out


@dataclass
class _Prepared:
    """What a rank needs to evaluate: the job as the file has it, the plan, its evaluator."""

    job: ComputeJob
    grid: Grid
    plan: Plan
    evaluator: Evaluator
    eigen: Any = None


def _load(job: ComputeJob) -> tuple[Path, nn.Module, Data, Objective]:
    checkpoint = resolve_checkpoint(job.checkpoint)
    model = load_model(checkpoint, job.model, trust=job.trust_checkpoint)
    data = load_data(job.data)
    return checkpoint, model, data, job.loss.objective()


def _shard(data: Data, world: distributed.World, split_data: bool) -> Data:
    if not split_data:
        return data
    n = len(data)
    if n < world.size:
        raise LandscapeError(f"--split-data needs at least one sample per rank: {n} samples, {world.size} ranks")
    return data.subset(world.rank * n // world.size, (world.rank + 1) * n // world.size)


def _open_surface(job: ComputeJob, out: Path, world: distributed.World, note: Note) -> _Prepared:
    """Rank 0: check everything, then create the file with its plan (or check that the file
    matches, to resume, and take its plan); returns a ready evaluator."""
    device = resolve_device(job.evaluation.device, world.local_rank if world.size > 1 else None)
    if world.size > 1:
        device = torch.device(world.device)
    if job.eigen_map and job.split_data:
        raise LandscapeError("--eigen-map needs every sample on every process: drop --split-data")
    checkpoint, model, data, objective = _load(job)
    if isinstance(job.plane, FilePlane) and not job.plane.path.is_file():
        raise LandscapeError(f"{arg('directions')} {str(job.plane.path)!r} is not a file; give an earlier surface file",
                             field="directions")
    settings = _fingerprint(job, sha256(checkpoint), model_sha256(model, job.model), data, objective)
    part = _shard(data, world, job.split_data)
    if out.exists() and not job.overwrite:
        before, plan = _matching_file(out, job, settings, world.size)
        if plan.device == "cuda" and device.type != "cuda":
            raise LandscapeError(f"{out} is being computed on a GPU (its plan says cuda) and none is visible here; "
                                 "resume where one is, or pass --overwrite to start again on this device")
        if plan.device == "cpu":
            device = torch.device("cpu")
        grid = before.grid
        directions = store.read_directions(out)
        if not grid.is_2d:
            directions.y = None
        objective = check_objective(model, part, objective)
        prepared = _Prepared(job, grid, plan, Evaluator(model, part, directions, objective, plan, device, note))
        prepared.evaluator.prepare()
        return prepared
    directions = make_plane(job.plane, model, two=_two(job.grid), trust=job.trust_checkpoint)
    grid = job.grid
    if isinstance(grid, AutoRange):
        grid = _auto_grid(grid, model, data, directions, objective, job.evaluation, device, note)  # all of it, as one process
    plan, objective = plan_for(model, part, objective, job.evaluation, device, grid.size, world.size,
                               split_data=job.split_data)
    evaluator = Evaluator(model, part, directions, objective, plan, device, note)
    evaluator.prepare()  # fast paths checked before any file is written
    if not isinstance(job.grid, AutoRange):  # (the automatic range measured it already)
        check_centre(evaluator)
    plan = evaluator.plan_now()  # the file records the fast paths kept, not only those planned
    split = data.split or "train"
    metrics = [f"{split}_loss"] + ([f"{split}_acc"] if objective.classification else [])
    if job.eigen_map:
        metrics += list(store.EIGEN_METRICS)
    attrs = _attributes(job, settings, directions, data)
    if isinstance(job.grid, AutoRange):
        attrs.update(auto_rise=job.grid.rise, auto_radius_x=max(abs(grid.x[0]), abs(grid.x[-1])),
                     **({"auto_radius_y": max(abs(grid.y[0]), abs(grid.y[-1]))} if grid.y else {}))
    subset = job.spec.select.describe()
    if subset:
        attrs["subset"] = subset
    store.create(out, grid, metrics, directions, attrs, settings, plan.to_dict())
    return _Prepared(job, grid, plan, evaluator)


DIGESTS = {  # settings recorded as digests, named by what they stand for
    "checkpoint_sha256": "the checkpoint's contents", "model_sha256": "the model's code or structure",
    "data_sha256": "the data", "loss_sha256": "the code of the loss (or --eval) function",
    "x_target_sha256": "the --x-target checkpoint", "y_target_sha256": "the --y-target checkpoint",
    "directions_sha256": "the --directions file", "plane_sha256": "the plane's directions",
}


def settings_difference(stored: dict[str, Any], wanted: dict[str, Any]) -> str | None:
    """The first setting in which this run differs from the file, in words (None: it matches):
    settings a user chose first, then digests, which say only that something changed."""
    for key in sorted(set(stored) | set(wanted), key=lambda k: (k in DIGESTS, k)):
        if stored.get(key) != wanted.get(key):
            if key in DIGESTS:
                return f"{DIGESTS[key]} changed since the file was started ({key})"
            return f"{key} is {stored.get(key)!r} in the file but {wanted.get(key)!r} in this run"
    return None


def _matching_file(out: Path, job: ComputeJob, settings: dict[str, Any], world: int | None) -> tuple[store.Surface, Plan]:
    """The existing file `out` and its plan, if this job may resume it; else a user error that
    says what differs (the one decision of `compute` and `dry_run`)."""
    try:
        stored_settings = store.read_settings(out)
    except LandscapeError as e:
        raise LandscapeError(f"--out: {e}; pass --overwrite to replace it, or choose another --out") from None
    diff = settings_difference(stored_settings, settings)
    if diff is not None:
        raise LandscapeError(f"{out} was computed with other settings ({diff}); pass --overwrite to replace it, or --out")
    before = store.read_surface(out)
    plan = Plan.from_dict(before.plan)
    conflict = plan.conflict(job.evaluation, world, job.split_data)
    if conflict is not None:
        raise LandscapeError(f"{out} was started with another evaluation plan ({conflict}); resume without that "
                             "option, or pass --overwrite to start again")
    return before, plan


def _two(grid: Grid | AutoRange) -> bool:
    return grid.is_2d if isinstance(grid, Grid) else grid.ny is not None


def _attach(job: ComputeJob, out: Path, world: distributed.World, plan: Plan, note: Note) -> _Prepared:
    """Ranks other than 0: the model, the data and the plane of the file rank 0 made, and the plan it sent."""
    if not out.exists():
        raise LandscapeError(f"{out} is not visible to every rank: put --out on a filesystem that all nodes share")
    _, model, data, objective = _load(job)
    part = _shard(data, world, job.split_data)
    surface = store.read_surface(out)
    directions = store.read_directions(out)
    if not surface.is_2d:
        directions.y = None
    objective = check_objective(model, part, objective)
    device = torch.device(world.device if plan.device == "cuda" else "cpu")
    ev = Evaluator(model, part, directions, objective, plan, device, note)
    ev.prepare()
    return _Prepared(job, surface.grid, plan, ev)


def compute(job: ComputeJob, progress: Progress | None = None, on_note: Note | None = None) -> ComputeResult:
    """Compute (or finish) the surface file of `job`; returns what was done.

    The file is created atomically and every chunk of points is flushed as it finishes;
    running the same job again computes only the points still missing, with identical
    values. Under torchrun the points are shared among the ranks (see distributed.py).
    """
    t0 = time.perf_counter()
    notes: list[str] = []

    def note(message: str) -> None:
        notes.append(message)
        if on_note is not None:
            on_note(message)

    world = distributed.join(job.evaluation.device)
    try:
        with ExitStack() as stack:
            out, error, plan = None, None, None
            prepared: _Prepared | None = None
            if world.is_writer:  # checks, plan, directions and the file, once
                try:
                    out = output_path(job.out, note, job.overwrite)
                    store.check_writable(out)
                    stack.enter_context(journal.Lock(out))
                    prepared = _open_surface(job, out, world, note)
                    plan = prepared.plan
                except LandscapeError as e:
                    error = str(e)
            error, out, plan = world.share((error, out, plan))  # type: ignore[misc]
            if error is not None:
                raise LandscapeError(error)
            if not world.is_writer:
                try:
                    prepared = _attach(job, out, world, plan, lambda m: None)
                except LandscapeError as e:
                    error = f"rank {world.rank}: {e}"
            errors = [e for e in world.all_gather(error) if e is not None]
            if errors:  # every rank stops, and rank 0 says why
                raise LandscapeError(errors[0])
            assert prepared is not None
            computed, total = _fill(out, prepared, world, progress, note)
    finally:
        distributed.leave(world)
    nonfinite = 0
    if world.is_writer:
        s = store.read_surface(out)
        nonfinite = int((~np.isfinite(s.metric("loss")[1][s.computed])).sum())
    return ComputeResult(out, computed, total, nonfinite, time.perf_counter() - t0, prepared.plan, notes)


SPLIT_DATA_CHUNK = 16  # points per all-reduce under --split-data (the same on every rank)


def _fill(out: Path, p: _Prepared, world: distributed.World, progress: Progress | None, note: Note) -> tuple[int, int]:
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
                values = {f"{split}_loss": loss, f"{split}_acc": acc}
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
                writer.set_attrs(finished=_now())
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


def _eigen_map(p: _Prepared) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    from landscape.curvature.hessian import eigen_map_values

    return eigen_map_values(p.evaluator)


# ---------------------------------------------------------------------------------- before a run


def _auto_grid(auto: AutoRange, model: nn.Module, data: Data, directions: Directions, objective: Objective,
               settings: EvalSettings, device: torch.device, note: Note) -> Grid:
    """The grid of `--x auto`: along each direction the smallest symmetric range whose ends
    (both of them) reach `rise` times the loss at the centre, by doubling then bisection."""
    plan, objective = plan_for(model, data, objective, settings, device, 64)
    ev = Evaluator(model, data, directions, objective, plan, device, note)
    centre = check_centre(ev)
    if not centre > 0:
        raise LandscapeError(f"an automatic range needs a positive loss at the centre to rise from, and it is "
                             f"{centre:g} there; give the range instead, for example --x -1:1:51")
    target = auto.rise * centre

    def radius(axis: int) -> tuple[float, bool]:
        """The radius along one direction, and whether the loss reached the target there."""
        worst = 0.0
        for sign in (1.0, -1.0):
            def rises(r: float) -> bool:
                point = np.zeros((1, 2))
                point[0, axis] = sign * r
                value = float(ev.evaluate(point)[0][0])
                return not np.isfinite(value) or value >= target
            lo, hi = 0.0, 0.05
            while not rises(hi):
                lo, hi = hi, 2 * hi
                if hi > auto.max_radius:
                    return auto.max_radius, False
            for _ in range(8):
                mid = (lo + hi) / 2
                lo, hi = (lo, mid) if rises(mid) else (mid, hi)
            worst = max(worst, hi)
        return float(f"{worst:.3g}"), True

    found = [radius(0)] + ([radius(1)] if auto.ny is not None else [])
    for axis, (r, reached) in enumerate(found):
        name = "xy"[axis]
        note(f"--{name} auto: the loss rises {auto.rise:g}× from {centre:.4g} within ±{r:g} along direction {axis + 1}"
             if reached else f"--{name} auto: the loss does not rise {auto.rise:g}× from {centre:.4g} within "
                             f"±{auto.max_radius:g} along direction {axis + 1}; using ±{auto.max_radius:g}")
    rx, ry = found[0][0], (found[1][0] if len(found) > 1 else None)
    return Grid.linspace((-rx, rx, auto.nx), (-ry, ry, auto.ny) if ry is not None else None)


def check_centre(ev: Evaluator) -> float:
    """The loss at the centre of the plane (the model's own weights): a user error if it is not
    finite, since a landscape around a diverged model shows nothing."""
    centre = float(ev.evaluate(np.zeros((1, 2)))[0][0])
    if not np.isfinite(centre):
        raise LandscapeError(f"the loss at the model's own weights (the centre of the plane) is {centre}: the model "
                             "diverged or the data or loss is broken there; check the checkpoint, --data and --loss")
    return centre


@dataclass
class DryRun:
    """What `compute` would do: the plan, the points it would compute, how long, how big a file."""

    plan: Plan
    device: str
    points: int  # to compute
    total: int
    seconds: float  # estimated, from a few timed points
    file_bytes: int
    resumes: bool
    notes: list[str] = field(default_factory=list)


def dry_run(job: ComputeJob, on_note: Note | None = None) -> DryRun:
    """Check the job and time a few points as `compute` would evaluate them; writes nothing."""
    notes: list[str] = []

    def note(message: str) -> None:
        notes.append(message)
        if on_note is not None:
            on_note(message)

    device = resolve_device(job.evaluation.device)
    checkpoint, model, data, objective = _load(job)
    out = Path(job.out)
    missing, resumes = None, False
    if out.exists() and not job.overwrite:
        settings = _fingerprint(job, sha256(checkpoint), model_sha256(model, job.model), data, objective)
        before, plan = _matching_file(out, job, settings, None)
        directions = store.read_directions(out)
        grid = before.grid
        if not grid.is_2d:
            directions.y = None
        objective = check_objective(model, data, objective)
        missing, resumes = int((~before.computed).sum()), True
    else:
        directions = make_plane(job.plane, model, two=_two(job.grid), trust=job.trust_checkpoint)
        grid = job.grid if isinstance(job.grid, Grid) else Grid.linspace((-1, 1, job.grid.nx),
                                                                          (-1, 1, job.grid.ny) if job.grid.ny else None)
        plan, objective = plan_for(model, data, objective, job.evaluation, device, grid.size)
    timed = dataclasses.replace(plan, compile=Compile.off)  # time eagerly; a compile is estimated
    ev = Evaluator(model, data, directions, objective, timed, device if plan.device == device.type else
                   torch.device(plan.device), note)
    sample = grid.coords(np.arange(min(3, grid.size)))
    ev.evaluate(sample[:1])  # warm-up
    t0 = time.perf_counter()
    ev.evaluate(sample)
    per_point = (time.perf_counter() - t0) / len(sample)
    points = grid.size if missing is None else missing
    seconds = per_point * points
    if plan.compile != Compile.off:
        profile = profile_of(ev.device)
        seconds = seconds * (1 - profile.compile_saving) + profile.compile_seconds
    if job.eigen_map:
        note("the eigenvalue map's Hessian work is not in the estimate")
    tensors = sum(t.numel() for d in (directions.x, directions.y) if d is not None for t in d.values())
    file_bytes = 4 * tensors + grid.size * (8 * 2 + 1) + 16_384
    return DryRun(plan, str(ev.device), points, grid.size, seconds, file_bytes, resumes, notes)
