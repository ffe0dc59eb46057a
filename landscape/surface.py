"""Computing a surface: checkpoint + data → directions → grid evaluation → surface file.

`evaluate_grid` is the in-memory version for notebooks; `compute` is what
`landscape compute` runs: it writes the file as it goes and resumes an interrupted run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import datetime
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import __version__, distributed, journal, store
from .checkpoint import ModelSpec, load_model, load_state_for, resolve_checkpoint, sha256
from .data import DataSpec, TensorData, load_data
from .directions import (
    Directions,
    DirectionSpec,
    DirType,
    base_tensors,
    check_compatible,
    random_direction,
    random_directions,
    target_direction,
)
from .engine import Compile, EvalSettings, Evaluator, Launch, Toggle, resolve_device
from .errors import LandscapeError
from .grid import Grid
from .store import Track
from .metrics import Loss

Progress = Callable[[int, int], None]  # (points done, points in total)


@dataclass(frozen=True)
class ComputeJob:
    """Everything `landscape compute` needs; built once from the command line or a notebook."""

    checkpoint: Path
    grid: Grid
    model: ModelSpec = ModelSpec()
    data: DataSpec = DataSpec()
    directions: DirectionSpec = DirectionSpec()
    loss: Loss = Loss()
    evaluation: EvalSettings = EvalSettings()
    out: Path | None = None
    x_target: Path | None = None
    y_target: Path | None = None
    directions_file: Path | None = None
    plane: Directions | None = None  # precomputed directions (trajectory PCA, model-to-model planes)
    tracks: dict[str, Track] = field(default_factory=dict)  # points drawn on the figures
    trust_checkpoint: bool = False
    overwrite: bool = False
    split_data: bool = False  # under torchrun: every rank evaluates every point on its shard of the data

    def out_path(self) -> Path:
        """The output file: --out, else outputs/<checkpoint stem>.surface.h5."""
        if self.out is not None:
            return self.out
        stem = self.checkpoint.name if self.checkpoint.is_dir() else self.checkpoint.stem
        return Path("outputs") / f"{stem}.surface.h5"


@dataclass
class ComputeResult:
    path: Path
    computed: int  # points computed by this run
    total: int
    nonfinite: int  # computed points (in the whole file) whose loss is inf or NaN
    seconds: float
    notes: list[str] = field(default_factory=list)


def evaluate_grid(
    model: nn.Module,
    data: TensorData,
    directions: Directions,
    grid: Grid,
    loss: Loss = Loss(),
    settings: EvalSettings = EvalSettings(),
) -> tuple[np.ndarray, np.ndarray]:
    """Loss and accuracy over a grid, in memory: arrays of shape (ny, nx) ([row = y, column = x])
    or (nx,) for a 1-D grid. The model is left as it was."""
    ev = Evaluator(model, data, directions, loss.function(), settings)
    loss_v, acc_v = ev.evaluate(grid.coords(np.arange(grid.size)))
    return loss_v.reshape(grid.shape), acc_v.reshape(grid.shape)


def make_directions(job: ComputeJob, model: nn.Module) -> Directions:
    """The plane of the job: from an earlier file, toward target models, or random."""
    if job.plane is not None:
        return job.plane
    base = base_tensors(model, job.directions.dir_type)
    if job.directions_file is not None:
        dirs = store.read_directions(job.directions_file)
        if dirs.names == [str(i) for i in range(len(dirs.names))]:
            dirs = _by_position(dirs, model, job.directions_file)
        check_compatible(dirs, base_tensors(model, dirs.dir_type), f"--directions {job.directions_file}")
        if not job.grid.is_2d:
            dirs.y = None
        elif dirs.y is None:
            raise LandscapeError(f"--directions {job.directions_file} holds one direction; omit --y for a 1-D run")
        return dirs
    if job.y_target is not None and job.x_target is None:
        raise LandscapeError("--y-target needs --x-target")
    if job.x_target is not None:
        dx = target_direction(base, load_state_for(model, job.x_target, job.trust_checkpoint))
        labels = [f"toward {job.x_target.name} (θ₂ − θ)", "direction 2"]
        dy = None
        if job.grid.is_2d:
            if job.y_target is not None:
                dy = target_direction(base, load_state_for(model, job.y_target, job.trust_checkpoint))
                labels[1] = f"toward {job.y_target.name} (θ₃ − θ)"
            else:
                gen = torch.Generator().manual_seed(job.directions.seed)
                dy = random_direction(base, job.directions, gen)
                labels[1] = f"random direction, {job.directions.norm.value}-normalized"
        elif job.y_target is not None:
            raise LandscapeError("--y-target needs a 2-D grid: add --y")
        return Directions(dx, dy, job.directions.dir_type, "target", (labels[0], labels[1]))
    return random_directions(model, job.directions, two=job.grid.is_2d)


def _by_position(dirs: Directions, model: nn.Module, where: Path) -> Directions:
    """A direction file of the paper's code names its tensors "0", "1", ...: match them by
    position to `model.parameters()` (dir type weights) or `model.state_dict()` (states)."""
    for dir_type in (DirType.weights, DirType.states):
        base = base_tensors(model, dir_type)
        shapes = [tuple(t.shape) for t in base.values()]
        if shapes == [tuple(t.shape) for t in dirs.x.values()]:
            rename = lambda d: dict(zip(base, d.values())) if d is not None else None  # noqa: E731
            return Directions(rename(dirs.x), rename(dirs.y), dir_type, "file", dirs.labels)
    raise LandscapeError(f"--directions {where}: its {len(dirs.x)} unnamed tensors match neither the model's "
                         "parameters nor its state dict in order and shape; use directions made for this architecture")


def _fingerprint(job: ComputeJob, checkpoint_sha: str, n_samples: int, data_sha: str) -> dict:
    """The settings a resumed run must share with the file (device and batch size may differ)."""

    def file_sha(p: Path | None) -> str | None:
        return sha256(resolve_checkpoint(p)) if p is not None else None

    return {
        "checkpoint_sha256": checkpoint_sha,
        "model": job.model.factory,
        "model_kwargs": job.model.kwargs_dict(),
        "data": job.data.source,
        "data_sha256": data_sha,
        "split": job.data.split.value,
        "samples": n_samples,
        "data_seed": job.data.seed,
        "loss": job.loss.name,
        "dir_type": job.directions.dir_type.value,
        "norm": job.directions.norm.value,
        "ignore": "biasbn" if job.directions.ignore_biasbn else "none",
        "seed": job.directions.seed,
        "x_target_sha256": file_sha(job.x_target),
        "y_target_sha256": file_sha(job.y_target),
        "directions_sha256": sha256(job.directions_file) if job.directions_file else None,
        "plane_sha256": _tensors_sha(job.plane) if job.plane is not None else None,
        "precision": job.evaluation.precision.value,
        "xcoordinates": list(job.grid.x),
        "ycoordinates": list(job.grid.y) if job.grid.y is not None else None,
    }


def _attributes(job: ComputeJob, settings: dict, directions: Directions, n_samples: int) -> dict:
    """Root attributes of a new file: everything needed to reproduce the run."""
    attrs = {
        "checkpoint": str(job.checkpoint),
        "checkpoint_sha256": settings["checkpoint_sha256"],
        "model": job.model.factory or "(from checkpoint)",
        "model_kwargs": job.model.kwargs,
        "data": job.data.describe(),
        "data_source": job.data.source,
        "split": job.data.split.value,
        "samples": n_samples,
        "loss": job.loss.name,
        "norm": settings["norm"] if directions.kind == "random" else "none",
        "ignore": settings["ignore"],
        "dir_type": directions.dir_type.value,
        "seed": job.directions.seed,
        "precision": job.evaluation.precision.value,
        "versions": _versions(),
        "command": " ".join(sys.argv),
        "started": _now(),
    }
    for key in ("x_target", "y_target", "directions_file"):
        if getattr(job, key) is not None:
            attrs[key] = str(getattr(job, key))
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


def compute(
    job: ComputeJob,
    progress: Progress | None = None,
    on_note: Callable[[str], None] | None = None,
) -> ComputeResult:
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

    world = distributed.world_from_env()
    if world is not None:
        result = _compute_distributed(job, world, progress, note)
    else:
        out = job.out_path()
        store.check_writable(out)
        with journal.Lock(out):  # one writer per file, from the first check to the last write
            job, evaluator = _open_surface(job, out, note)
            result = fill(out, evaluator, job.grid, progress)
    result.seconds = time.perf_counter() - t0
    result.notes = notes
    return result


def _open_surface(job: ComputeJob, out: Path, note: Callable[[str], None],
                  shard: tuple[int, int] | None = None, must_exist: bool = False) -> tuple[ComputeJob, Evaluator]:
    """Check everything, then create the file (or check it matches, to resume); returns the
    job with the evaluation settings the file was started with, and a ready evaluator
    (over the samples [lo, hi) of `shard`, if given)."""
    checkpoint = resolve_checkpoint(job.checkpoint)
    resolve_device(job.evaluation.device)  # a bad --device fails before any loading
    model = load_model(checkpoint, job.model, trust=job.trust_checkpoint)
    data = load_data(job.data)
    loss_fn = job.loss.function()
    if job.directions_file is not None and not job.directions_file.is_file():
        raise LandscapeError(f"--directions {str(job.directions_file)!r} is not a file; give an earlier surface file")
    settings = _fingerprint(job, sha256(checkpoint), len(data), data.sha256())

    if out.exists() and not job.overwrite:
        try:
            stored_settings = store.read_settings(out)
        except LandscapeError as e:
            raise LandscapeError(f"--out: {e}; pass --overwrite to replace it, or choose another --out") from None
        diff = store.settings_difference(stored_settings, settings)
        if diff is not None:
            raise LandscapeError(f"{out} was computed with other settings ({diff}); pass --overwrite to replace it, or --out")
        directions = store.read_directions(out)  # the stored directions, bit for bit
        if not job.grid.is_2d:
            directions.y = None
        new_file = False
        stored = store.read_surface(out).attrs  # evaluating as before gives identical values
        ev = job.evaluation
        if ev.launch == Launch.auto and stored.get("launch") in (Launch.point.value, Launch.vmap.value):
            ev = dataclasses.replace(ev, launch=Launch(stored["launch"]))
        if ev.compile == Compile.auto and stored.get("compile") in {c.value for c in Compile} - {"auto"}:
            ev = dataclasses.replace(ev, compile=Compile(stored["compile"]))
        if ev.batch_size is None and int(stored.get("batch_size", 0)) > 0:
            ev = dataclasses.replace(ev, batch_size=int(stored["batch_size"]))
        if ev.first_layer == Toggle.auto and stored.get("first_layer") in ("on", "off"):
            ev = dataclasses.replace(ev, first_layer=Toggle(stored["first_layer"]))
        job = dataclasses.replace(job, evaluation=ev)
    elif must_exist:
        raise LandscapeError(f"{out} is not visible to every rank: put --out on a filesystem that all nodes share")
    else:
        directions = make_directions(job, model)
        new_file = True
    part = data if shard is None else TensorData(data.x[shard[0] : shard[1]], data.y[shard[0] : shard[1]])
    evaluator = Evaluator(model, part, directions, loss_fn, job.evaluation, note)
    evaluator.prepare()  # checks the model accepts the data before any file is written
    if new_file:
        split = job.data.split.value
        metrics = [f"{split}_loss"] + ([f"{split}_acc"] if evaluator.classification else [])
        attrs = _attributes(job, settings, directions, len(data))
        store.create(out, job.grid, metrics, directions, attrs, settings, job.tracks)
    return job, evaluator


def _compute_distributed(job: ComputeJob, world: distributed.World, progress: Progress | None,
                         note: Callable[[str], None]) -> ComputeResult:
    """One rank's part of a torchrun computation; rank 0 holds the lock and writes."""
    device = distributed.init(world, job.evaluation.device)
    ev = job.evaluation
    # Every rank must evaluate a point the same way: no timing-based choices.
    ev = dataclasses.replace(ev, device=device, launch=Launch.point if ev.launch == Launch.auto else ev.launch,
                             compile=Compile.off if ev.compile == Compile.auto else ev.compile)
    job = dataclasses.replace(job, evaluation=ev)
    out = job.out_path()
    lock = journal.Lock(out)
    error = None
    if world.is_writer:  # checks, directions and the file, once
        try:
            store.check_writable(out)
            lock.__enter__()
            job, _ = _open_surface(job, out, note)
        except LandscapeError as e:
            error = str(e)
    error = distributed.share(error)
    try:
        if error is not None:
            raise LandscapeError(error)
        job = distributed.share(job)  # the settings the file was started with
        job = dataclasses.replace(job, evaluation=dataclasses.replace(job.evaluation, device=device))
        evaluator, error = None, None
        try:
            n = len(load_data(job.data))
            if job.split_data and n < world.size:
                raise LandscapeError(f"--split-data needs at least one sample per rank: {n} samples, {world.size} ranks")
            shard = (world.rank * n // world.size, (world.rank + 1) * n // world.size) if job.split_data else None
            job, evaluator = _open_surface(dataclasses.replace(job, overwrite=False), out, lambda m: None, shard,
                                           must_exist=not world.is_writer)
        except LandscapeError as e:
            error = f"rank {world.rank}: {e}"
        errors = [e for e in distributed.all_gather(error) if e is not None]
        if errors:  # every rank stops, and rank 0 says why
            raise LandscapeError(errors[0])
        before = store.read_surface(out)
        distributed.barrier()
        return _fill_distributed(out, evaluator, job, before, world, n, progress)
    finally:
        if world.is_writer and lock.fd is not None:
            lock.__exit__()
        distributed.finish()


def _fill_distributed(out: Path, evaluator: Evaluator, job: ComputeJob, before: store.Surface,
                      world: distributed.World, n: int, progress: Progress | None) -> ComputeResult:
    grid = job.grid
    split = str(before.attrs.get("split", "train"))
    missing = np.flatnonzero(~before.computed.ravel())
    total_points, done = grid.size, grid.size - len(missing)
    mine = missing if job.split_data else missing[world.rank :: world.size]
    coords = grid.coords(mine)
    chunks = ((s, s + 1, None, None) for s in range(len(mine))) if job.split_data else evaluator.stream(coords)
    writer = store.Writer(out) if world.is_writer else None
    if writer is not None:
        writer.__enter__()
        writer.set_attrs(finished="", device=f"{world.size} x {evaluator.device}", launch=evaluator.launch.value,
                         batch_size=evaluator.batch_size, first_layer="on" if evaluator.first is not None else "off")
        if progress:
            progress(done, total_points)
    try:
        while True:
            item = next(chunks, None)
            payload = None
            if item is not None:
                start, stop, loss, acc = item
                if job.split_data:  # every rank has the same point; sum the shards' sums
                    loss, acc = evaluator.means(distributed.sum_arrays(evaluator.sums(coords[start:stop])), n)
                payload = (mine[start:stop], loss, acc)
            gathered = [payload] if job.split_data else distributed.gather(payload)
            if writer is not None:
                for part in gathered or []:
                    if part is None:
                        continue
                    values = {f"{split}_loss": part[1]}
                    if f"{split}_acc" in writer.metrics:
                        values[f"{split}_acc"] = part[2]
                    writer.write(part[0], values)
                    done += len(part[0])
                if progress:
                    progress(done, total_points)
            if distributed.total(0 if item is None else 1) == 0:
                break
        if writer is not None:
            writer.set_attrs(finished=_now())
    finally:
        if writer is not None:
            writer.__exit__(None, None, None)
    computed = len(missing)
    nonfinite = 0
    if world.is_writer:
        s = store.read_surface(out)
        nonfinite = int((~np.isfinite(s.metric("loss")[1][s.computed])).sum())
    return ComputeResult(out, computed, total_points, nonfinite, 0.0)


def fill(path: Path, evaluator: Evaluator, grid: Grid, progress: Progress | None = None) -> ComputeResult:
    """Evaluate the points of `path` that are not computed yet, writing each chunk as it finishes."""
    before = store.read_surface(path)  # the journal of a killed run counts as computed
    split = str(before.attrs.get("split", "train"))
    missing = np.flatnonzero(~before.computed.ravel())
    total = grid.size
    done = total - len(missing)
    if progress:
        progress(done, total)
    with store.Writer(path) as w:
        has_acc = f"{split}_acc" in w.metrics
        if len(missing):
            w.set_attrs(finished="", device=str(evaluator.device), batch_size=evaluator.batch_size,
                        first_layer="on" if evaluator.first is not None else "off",
                        launch=evaluator.choose_launch(grid.coords(missing)).value)
        for start, stop, loss, acc in evaluator.stream(grid.coords(missing)):
            values = {f"{split}_loss": loss}
            if has_acc:
                values[f"{split}_acc"] = acc
            w.write(missing[start:stop], values)
            if w.attrs.get("compile") != evaluator.compiled_as.value:
                w.set_attrs(compile=evaluator.compiled_as.value)
            done += stop - start
            if progress:
                progress(done, total)
        if len(missing):
            w.set_attrs(finished=_now())
    s = store.read_surface(path)
    _, loss_all = s.metric("loss")
    nonfinite = int((~np.isfinite(loss_all[s.computed])).sum())
    return ComputeResult(path, len(missing), total, nonfinite, 0.0)
