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

import importlib.util
import json
import re
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
        p = folder / name
        if not p.exists():
            continue  # removed by hand since: the others still make a path
        paths.append(resolve_checkpoint(p) if p.is_dir() else p)
        steps.append(int(e.get("step", 0)))
        epochs.append(e.get("epoch") if isinstance(e.get("epoch"), int) else None)
    model = info.get("model") or {}
    cls = model.get("class") if isinstance(model, dict) else None
    kwargs = model.get("kwargs") if isinstance(model, dict) else None
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
            if not PLAIN_NAME.match(name):
                raise _refuse(folder, f"its data file {data!r} is not a plain name inside the folder; pass {arg('data')}")
            data = str(folder / name)
        elif ":" in data or "/" in data or "\\" in data:
            raise _refuse(folder, f"its data {data!r} names code or a path outside the run; pass {arg('data')} yourself")
    extra = {}
    for key, name in (info.get("extra") or {}).items() if isinstance(info.get("extra"), dict) else ():
        if not isinstance(name, str) or not PLAIN_NAME.match(name):
            raise _refuse(folder, f"names extra weights {name!r} that are not a plain name inside the folder")
        if (folder / name).is_file():
            extra[str(key)] = folder / name
    return RecordedRun(folder, paths, steps, epochs, cls, dict(kwargs or {}), data, extra, info)


def model_spec(run: RecordedRun) -> ModelSpec:
    """How to build the run's network: its class with its keyword arguments, after checking that
    the class is a `torch.nn.Module` found outside the run's folder."""
    if run.model_class is None:
        raise LandscapeError(f"the run in {str(run.folder)!r} does not say how to build its network; pass "
                             f"{arg('model', 'pkg.module:factory')}")
    module_name = run.model_class.partition(":")[0]
    try:
        found = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        found = None
    origin = Path(found.origin).resolve() if found is not None and found.has_location and found.origin else None
    if origin is not None and run.folder.resolve() in origin.parents:
        raise LandscapeError(f"the run's network class {run.model_class} is code inside the run's folder, which "
                             f"landscape does not run on a file's word; pass {arg('model', run.model_class)} if you "
                             "trust it")
    cls = import_object(run.model_class, "model")
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise LandscapeError(f"the run names {run.model_class} as its network, which is not a torch.nn.Module class; "
                             f"pass {arg('model')}")
    return ModelSpec(run.model_class, run.model_kwargs)
