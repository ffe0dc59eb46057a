"""What a surface file records about its origin: the settings a resumed run must match
(`fingerprint`, compared by `settings_difference`, which names what differs in words), the
attributes that reproduce the run (`attributes`), and the digests of code, data and planes."""

from __future__ import annotations

import datetime
import hashlib
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from landscape._version import __version__
from landscape.choices import Scale
from landscape.errors import arg
from landscape.inputs.checkpoint import ModelSpec, resolve_checkpoint, sha256
from landscape.inputs.data import BatchData, Data, data_label, tensors_of
from landscape.inputs.importing import source_file
from landscape.inputs.objective import Objective
from landscape.plane.directions import Directions
from landscape.plane.grid import Grid
from landscape.plane.sources import FilePlane, GivenPlane, TargetPlane
from landscape.run.job import ComputeJob


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


def fingerprint(job: ComputeJob, checkpoint_sha: str, model_sha: str, data: Data, objective: Objective) -> dict:
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


def attributes(job: ComputeJob, settings: dict, directions: Directions, data: Data) -> dict:
    """Root attributes of a new file: everything needed to reproduce the run."""
    attrs: dict[str, Any] = {
        "checkpoint": str(job.checkpoint),
        "checkpoint_sha256": settings["checkpoint_sha256"],
        "model": job.model.factory or "(from checkpoint)",
        "model_kwargs": job.model.kwargs,
        "model_sha256": settings["model_sha256"],
        "data": data_label(job.data, data),
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
        "started": timestamp(),
    }
    attrs.update(data_counts(data))
    plane = job.plane
    given = {"x_target": plane.x, "y_target": plane.y} if isinstance(plane, TargetPlane) else \
        {"directions_file": plane.path} if isinstance(plane, FilePlane) else {}
    attrs.update({key: str(value) for key, value in given.items() if value is not None})
    return attrs


def data_counts(data: Data) -> dict[str, Any]:
    """What was evaluated, counted as the data's kind counts it: sequences and tokens of token
    data (with the tokenizer and length that cut them), batches and their rows of custom batches."""
    from landscape.inputs.text import TokenData

    if isinstance(data, TokenData):
        return {"sequences": len(data), "tokens": data.tokens, "predicted_tokens": data.predicted,
                "seq_len": data.seq_len, "tokenizer": data.tokenizer}
    if isinstance(data, BatchData):
        rows = sum(int(ts[0].shape[0]) if ts and ts[0].dim() else 1 for ts in map(tensors_of, data.batches))
        return {"batches": len(data), "samples": rows}
    return {}


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


def timestamp() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


DIGESTS = {  # settings recorded as digests, named by what they stand for
    "checkpoint_sha256": "the checkpoint's contents", "model_sha256": "the model's code or structure",
    "data_sha256": "the data", "loss_sha256": f"the code of the loss (or {arg('eval')}) function",
    "x_target_sha256": f"the {arg('x_target')} checkpoint", "y_target_sha256": f"the {arg('y_target')} checkpoint",
    "directions_sha256": f"the {arg('directions')} file", "plane_sha256": "the plane's directions",
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
