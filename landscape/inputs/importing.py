"""Importing the user's own code named by a spec (the model factory, a data factory, a loss
or an eval function): `pkg.module:name`, or a file, `path/to/nets.py:name`.

Importing never changes `sys.path`: where user code is searched for is the caller's decision,
made once. The command line makes it with `user_code_importable` before any command runs: the
working folder and the folders of the files it names are searched after the installed packages,
never before them, so a folder there named like one of landscape's own dependencies (a
`sklearn/` checkout, say) cannot shadow it. In a notebook, `sys.path` is the notebook's.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from landscape.errors import LandscapeError, arg


def user_code_importable(specs: list[str | None] | tuple[str | None, ...] = ()) -> None:
    """Make the working folder importable behind the installed packages, and with it the folder
    of every file that `specs` name (`path/to/nets.py:factory` imports its siblings). For the
    command line, once, before user code is imported; idempotent."""
    cwd = os.path.abspath(os.getcwd())
    ahead = [p for p in sys.path if p in ("", ".", cwd) or os.path.abspath(p or ".") == cwd]
    if not (ahead == [cwd] and sys.path[-1] == cwd):
        sys.path[:] = [p for p in sys.path if p not in ahead] + [cwd]
    for spec in specs:
        module_name = (spec or "").rpartition(":")[0]
        if module_name and _is_file_spec(module_name):
            folder = str(Path(module_name).resolve().parent)
            if folder not in sys.path:
                sys.path.append(folder)
    importlib.invalidate_caches()


def _module_from_file(path: Path, what: str, spec: str) -> Any:
    """Import a .py file as a module (its own imports are found where `sys.path` says: see
    `user_code_importable`)."""
    if not path.is_file():
        there = path.exists()
        raise LandscapeError(f"{arg(what)} {spec!r}: {str(path)!r} " + ("is not a regular file" if there else "does not exist"))
    path = path.resolve()
    for name, module in list(sys.modules.items()):
        if getattr(module, "__file__", None) and Path(module.__file__).resolve() == path:
            return module
    # a private name: the file must not stand in for a module of the same name imported later
    name = f"landscape_user_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise LandscapeError(f"{arg(what)} {spec!r}: {str(path)!r} is not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise LandscapeError(f"{arg(what)} {spec!r}: importing {str(path)!r} failed: {type(e).__name__}: {e}") from e
    return module


def _import_module(module_name: str, what: str, spec: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.split(".")[0] == e.name.split(".")[0] and module_name.startswith(e.name):
            raise LandscapeError(
                f"{arg(what)} {spec!r}: no module named {e.name!r} in the working folder ({os.getcwd()}) or the "
                f"installed packages; run from the folder that holds it, or name the file: path/to/{module_name.split('.')[-1]}.py:"
                f"{spec.partition(':')[2]}"
            ) from None
        raise LandscapeError(f"cannot import {arg(what)} module {module_name!r}: {type(e).__name__}: {e}") from e
    except Exception as e:  # an error raised while importing the user's module
        raise LandscapeError(f"cannot import {arg(what)} module {module_name!r}: {type(e).__name__}: {e}") from e


def _is_file_spec(module_name: str) -> bool:
    return module_name.endswith(".py") or "/" in module_name or os.sep in module_name


def source_file(spec: str) -> str | None:
    """The source file that `spec` (`pkg.module:name` or `path/to/file.py:name`) was imported
    from, for digests that notice an edit; None if it is not imported or has no file."""
    module_name = spec.rpartition(":")[0]
    if _is_file_spec(module_name):
        path = Path(module_name)
        return str(path.resolve()) if path.is_file() else None
    module = sys.modules.get(module_name)
    return getattr(module, "__file__", None) if module is not None else None


def import_object(spec: str, what: str) -> Any:
    """Import `pkg.module:name` or `path/to/file.py:name` (dots after the colon walk attributes);
    `what` is the argument that named it ("model", "data", "loss", "eval"), for errors."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise LandscapeError(f"{arg(what)} {spec!r} is not of the form 'pkg.module:name' or 'path/to/file.py:name'")
    if _is_file_spec(module_name):
        obj: Any = _module_from_file(Path(module_name), what, spec)
    else:
        obj = _import_module(module_name, what, spec)
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise LandscapeError(f"{arg(what)} {spec!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise LandscapeError(f"{arg(what)} {spec!r} is not callable (it is a {type(obj).__name__})")
    return obj
