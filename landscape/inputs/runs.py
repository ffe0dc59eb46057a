"""A run recorded by `landscape.callbacks`: a folder of checkpoints named by step, with `run.json`
beside them saying how to rebuild the network, which data to measure on, and the optimizer and
learning rate of each step. `landscape trajectory FOLDER` reads it with no further flags.

What `run.json` may make this process do is limited, because a folder can come from anyone:
- the network is built only from a class (a subclass of `torch.nn.Module`) of an installed or
  working-folder module, never from a function, never from a file path, never from a module
  inside the run's folder, and only with keyword arguments that are JSON values; a model saved
  as a Hugging Face folder needs no code at all;
- the data is one of the names `--data` takes, or a tensor file inside the folder, read with
  `weights_only` like every tensor file.
Anything else in the file is refused with one line that says which flag to pass instead.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from landscape.errors import LandscapeError, arg
from landscape.inputs.checkpoint import ModelSpec, resolve_checkpoint
from landscape.inputs.importing import import_object

RUN_FILE = "run.json"
RUN_FORMAT = "landscape-run"
CLASS_SPEC = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
PLAIN_NAME = re.compile(r"^[\w][\w.\-]*$")  # a file or folder name inside the run's folder, no path
DATASET_NAME = re.compile(r"^[a-z0-9][a-z0-9\-]*$")  # a --data name with no path or suffix: digits, cifar10


@dataclass
class RecordedRun:
    """What `run.json` says, checked."""

    folder: Path
    checkpoints: list[Path]  # in the order saved (by step)
    steps: list[int]
    epochs: list[int | None]
    model_class: str | None = None  # "pkg.module:Class"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    data: str | None = None  # a --data name, or a file in the folder (as a path)
    extra: dict[str, Path] = field(default_factory=dict)  # other weights by name (an SWA average): not on the path
    settings: dict[str, Any] = field(default_factory=dict)  # the whole file, for `info` and the curious


def _whole(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _inside(folder: Path, name: str) -> Path:
    """`folder / name`, refused where a link leads it out of the folder."""
    p = folder / name
    if os.path.lexists(p) and folder.resolve() not in p.resolve().parents:
        raise _refuse(folder, f"names {name!r}, a link that leads out of the run's folder")
    return p


def is_recorded_run(folder: str | Path) -> bool:
    return (Path(folder) / RUN_FILE).is_file()


def _refuse(folder: Path, what: str) -> LandscapeError:
    return LandscapeError(f"{str(folder / RUN_FILE)!r}: {what}")


def read_run(folder: str | Path) -> RecordedRun:
    """The run recorded in `folder` (see the module's docstring for what is accepted)."""
    folder = Path(folder)
    path = folder / RUN_FILE
    try:
        raw = path.read_bytes()
        if len(raw) > 16 << 20:
            raise _refuse(folder, "is larger than 16 MB; it is not a run file landscape wrote")
        info = json.loads(raw)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _refuse(folder, f"cannot be read ({type(e).__name__}: {e}); record the run again, or name the "
                              "checkpoints as files") from None
    if not isinstance(info, dict) or info.get("format") != RUN_FORMAT:
        raise _refuse(folder, f"is not a run file written by landscape (no \"format\": \"{RUN_FORMAT}\")")
    entries = info.get("checkpoints", [])
    if not isinstance(entries, list):
        raise _refuse(folder, "its \"checkpoints\" is not a list")
    paths, steps, epochs = [], [], []
    for e in entries:
        name = e.get("file") if isinstance(e, dict) else None
        if not isinstance(name, str) or not PLAIN_NAME.match(name) or name in (".", ".."):
            raise _refuse(folder, f"names a checkpoint {name!r} that is not a plain name inside the folder")
        step, epoch = e.get("step", 0), e.get("epoch")
        if not _whole(step) or not (epoch is None or _whole(epoch)):
            raise _refuse(folder, f"gives checkpoint {name!r} a step or epoch that is not a whole number")
        p = _inside(folder, name)
        if not p.exists():
            continue  # removed by hand since: the others still make a path
        paths.append(resolve_checkpoint(p) if p.is_dir() else p)
        steps.append(step)
        epochs.append(epoch)
    model = info.get("model") or {}
    if not isinstance(model, dict):
        raise _refuse(folder, f"its \"model\" is not a JSON object; pass {arg('model')}")
    cls, kwargs = model.get("class"), model.get("kwargs")
    if cls is not None and (not isinstance(cls, str) or not CLASS_SPEC.match(cls)):
        raise _refuse(folder, f"its model class {cls!r} is not of the form pkg.module:Class; pass {arg('model')}")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise _refuse(folder, f"its model kwargs are not a JSON object; pass {arg('model_kwargs')}")
    data = info.get("data")
    if data is not None:
        if not isinstance(data, str) or not data:
            raise _refuse(folder, f"its data {data!r} is not a name; pass {arg('data')}")
        if data.startswith("./"):  # a file the recorder saved in the folder
            name = data[2:]
            if not PLAIN_NAME.match(name) or name in (".", ".."):
                raise _refuse(folder, f"its data file {data!r} is not a plain name inside the folder; pass {arg('data')}")
            data = str(_inside(folder, name))
        elif not DATASET_NAME.match(data):
            raise _refuse(folder, f"its data {data!r} is neither a data set's name nor a file in the run's folder "
                                  f"(./NAME); pass {arg('data')} yourself")
    extra = {}
    for key, name in (info.get("extra") or {}).items() if isinstance(info.get("extra"), dict) else ():
        if not isinstance(name, str) or not PLAIN_NAME.match(name):
            raise _refuse(folder, f"names extra weights {name!r} that are not a plain name inside the folder")
        if _inside(folder, name).is_file():
            extra[str(key)] = folder / name
    return RecordedRun(folder, paths, steps, epochs, cls, dict(kwargs or {}), data, extra, info)


def _locations(module_name: str) -> list[Path]:
    """Where each package on the way to `module_name` would be imported from, found without
    importing any of them (importlib.util.find_spec imports the parents of a dotted name, and a
    crafted folder's `__init__.py` would run)."""
    found: list[Path] = []
    search: list[str] | None = None
    parts = module_name.split(".")
    for i in range(len(parts)):
        name = ".".join(parts[: i + 1])
        module = sys.modules.get(name)
        if module is not None:  # already imported: nothing more runs
            spec = getattr(module, "__spec__", None)
        else:
            try:
                spec = importlib.machinery.PathFinder.find_spec(name, search)
            except (ImportError, ValueError):
                spec = None
            if spec is None and i == 0:
                return found  # a built-in or frozen module, or none: import_object says which
        if spec is None:
            return found
        if spec.origin and spec.has_location:
            found.append(Path(spec.origin).resolve())
        locations = list(spec.submodule_search_locations or [])
        found += [Path(p).resolve() for p in locations]
        search = locations
    return found


def model_spec(run: RecordedRun) -> ModelSpec:
    """How to build the run's network: its class with its keyword arguments, after checking that
    the class is a `torch.nn.Module` found outside the run's folder."""
    if run.model_class is None:
        raise LandscapeError(f"the run in {str(run.folder)!r} does not say how to build its network; pass "
                             f"{arg('model', 'pkg.module:factory')}")
    module_name = run.model_class.partition(":")[0]
    inside = [where for where in _locations(module_name) if run.folder.resolve() in where.parents
              or where == run.folder.resolve()]
    if inside:
        raise LandscapeError(f"the run's network class {run.model_class} is code inside the run's folder, which "
                             f"landscape does not run on a file's word; pass {arg('model', run.model_class)} if you "
                             "trust it")
    cls = import_object(run.model_class, "model")
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise LandscapeError(f"the run names {run.model_class} as its network, which is not a torch.nn.Module class; "
                             f"pass {arg('model')}")
    return ModelSpec(run.model_class, run.model_kwargs)
