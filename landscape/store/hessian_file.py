"""The Hessian file: one HDF5 file per `HessianResult` (`landscape hessian`).

Layout: `eigenvalues` (K,), `residuals` (K,), the top two eigenvectors as the groups
`xdirection` and `ydirection` (the surface file's direction layout, so `read_directions` reads
them as a plane), the others as `eigenvector_3` … `eigenvector_K`; `trace`, `trace_stderr`,
`density_grid`, `density` when computed; the group `per_layer` (datasets `size`,
`top_eigenvalue`, `trace`, `trace_stderr`, tensor names in the attribute `names`); and root
attributes: what the caller knows (checkpoint, model, data, ...), every setting (`params` is
"all" or the names given; `param_names` the tensors the Hessian is over), the outcome (loss,
steps, products, ...), `dir_kind`, `dir_type`, `xlabel`, `ylabel`.

The reader checks every attribute and dataset (present, of its type and shape, backed by the
file) before any data is read, so a damaged or hostile file is a one-line user error, never a
traceback or a huge allocation. Only the reading is guarded (`store.guarded`): what is made of
what was read is ordinary code, and a bug there stays a bug.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from landscape import store
from landscape.choices import HvpMode
from landscape.curvature.spectrum import HessianResult, HessianSettings, LayerCurvature
from landscape.engine.functional import AUTOCAST_DTYPES
from landscape.errors import LandscapeError, arg
from landscape.store.files import replacing

FORMAT = "landscape-hessian"
FORMAT_VERSION = 1
WHAT = "a Hessian file"
AGAIN = "landscape hessian ..."  # how to make a Hessian file anew

__all__ = ["FORMAT", "FORMAT_VERSION", "read_hessian", "write_hessian"]


def vector_group(i: int) -> str:
    """The group of eigenvector i (from 0): the surface file's `xdirection`, `ydirection`, then
    `eigenvector_3`, ..."""
    return ("xdirection", "ydirection")[i] if i < 2 else f"eigenvector_{i + 1}"


def write_hessian(path: Path, result: HessianResult, attrs: Mapping[str, Any] | None = None) -> Path:
    """`result` as a Hessian file at `path` (see the module's docstring), with `attrs` (what the
    caller knows: checkpoint, model, data, ...) as root attributes. Written to a temporary file
    and renamed over `path`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with replacing(path) as tmp, h5py.File(tmp, "w") as f:
            for k, v in (attrs or {}).items():
                f.attrs[k] = store.attribute(v)
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            for k, v in result.settings.attributes().items():
                f.attrs[k] = v
            # `params`: as asked ("all": every floating-point parameter); `param_names`: the tensors it meant
            given = result.settings.params
            f.attrs["params"] = "all" if given is None else np.array(list(given), dtype=h5py.string_dtype())
            f.attrs["param_names"] = np.array(list(result.params), dtype=h5py.string_dtype())
            outcome = {"loss": result.loss, "accuracy": result.accuracy, "samples": result.samples,
                       "smallest_ritz": result.smallest_ritz, "lanczos_steps": result.lanczos_steps,
                       "converged": result.converged, "hvps": result.hvps, "hvp_mode_used": result.hvp_mode.value,
                       "vectors_per_pass_used": result.vectors_per_pass, "seconds": result.seconds}
            for k, v in outcome.items():
                f.attrs[k] = v
            k = len(result.eigenvalues)
            f.attrs["dir_kind"] = "hessian"
            f.attrs["dir_type"] = "weights"
            f.attrs["xlabel"] = result.label(0)
            f.attrs["ylabel"] = result.label(1) if k > 1 else "direction 2"
            f.attrs["eigenvalues"] = np.asarray(result.eigenvalues, dtype=np.float64)  # read_directions keeps it
            f.create_dataset("eigenvalues", data=np.asarray(result.eigenvalues, dtype=np.float64))
            f.create_dataset("residuals", data=np.asarray(result.residuals, dtype=np.float64))
            for i, v in enumerate(result.eigenvectors):
                group = f.create_group(vector_group(i))
                group.attrs["eigenvalue"] = float(result.eigenvalues[i])
                store.write_direction(group, v)
            if result.trace is not None:
                f.create_dataset("trace", data=float(result.trace))
                f.create_dataset("trace_stderr", data=float(result.trace_stderr))
                f.attrs["probes_used"] = result.probes  # `probes` is the setting (the most probes)
            if result.density is not None:
                f.create_dataset("density_grid", data=np.asarray(result.density_grid, dtype=np.float64))
                f.create_dataset("density", data=np.asarray(result.density, dtype=np.float64))
            if result.per_layer:
                g = f.create_group("per_layer")
                rows = result.per_layer
                g.attrs["names"] = np.array([r.name for r in rows], dtype=h5py.string_dtype())
                g.create_dataset("size", data=np.array([r.size for r in rows], dtype=np.int64))
                for key in ("top_eigenvalue", "trace", "trace_stderr"):
                    g.create_dataset(key, data=np.array([getattr(r, key) for r in rows], dtype=np.float64))
    except OSError as e:
        raise LandscapeError(f"cannot write {str(path)!r}: {e.strerror or e}; choose another {arg('out')}",
                             field="out") from None
    return path


# ------------------------------------------------------------------------------------ reading


def _text(v: Any) -> str:
    return v.decode(errors="replace") if isinstance(v, bytes) else str(v)


def _names(value: Any) -> list[str]:
    return [_text(v) for v in np.asarray(value).ravel()]


def _damaged(path: Path, what: str) -> LandscapeError:
    return LandscapeError(f"{str(path)!r}: {what}; the file is damaged: compute it again ({AGAIN})")


@dataclass
class _Stored:
    """What a Hessian file holds, read and checked for shape but not yet interpreted."""

    attrs: dict[str, Any]  # the root attributes as h5py gives them
    columns: dict[str, np.ndarray]  # each numeric dataset as float64 (n,), by its path in the file
    layer_names: list[str]  # the tensors of `per_layer` ([] without it)
    vectors: list[dict[str, torch.Tensor]]  # the eigenvectors, tensors by name


def read_hessian(path: Path) -> HessianResult:
    """A result written by `write_hessian`. A damaged file (an attribute or a dataset missing or
    of the wrong type or shape, or what makes h5py fail) is a one-line `LandscapeError`."""
    path = Path(path)
    stored = store.guarded(path, lambda: _read(path), WHAT, AGAIN)
    return _result(path, stored)


def _read(path: Path) -> _Stored:
    """Only the reading: every dataset checked (numeric, its shape, backed by the file) before
    any is read."""

    def vector(f: h5py.File, name: str, length: int | None = None, scalar: bool = False) -> h5py.Dataset:
        """A numeric dataset: 1-D (of `length` entries) or, with `scalar`, one number."""
        node = f.get(name)
        if not isinstance(node, h5py.Dataset) or node.dtype.kind not in "iuf":
            raise _damaged(path, f"{name} is not an array of numbers")
        if scalar and node.size != 1 or not scalar and (len(node.shape) != 1 or node.shape[0] == 0
                                                       or length is not None and node.shape[0] != length):
            raise _damaged(path, f"{name} has shape {node.shape}, expected "
                           + ("one number" if scalar else f"({length},)" if length is not None else "a list"))
        return node

    with store.open_file(path) as f:
        if _text(f.attrs.get("format", "")) != FORMAT or "eigenvalues" not in f:
            raise LandscapeError(f"{str(path)!r} is not a Hessian file (written by landscape hessian)")
        attrs = dict(f.attrs)
        values = vector(f, "eigenvalues")
        k = values.shape[0]
        columns = {"eigenvalues": values, "residuals": vector(f, "residuals", k)}
        if "trace" in f:
            columns.update(trace=vector(f, "trace", scalar=True), trace_stderr=vector(f, "trace_stderr", scalar=True))
        if "density" in f or "density_grid" in f:
            columns["density_grid"] = vector(f, "density_grid")
            columns["density"] = vector(f, "density", columns["density_grid"].shape[0])
        layer_names: list[str] = []
        if "per_layer" in f:
            g = f["per_layer"]
            if not isinstance(g, h5py.Group) or "names" not in g.attrs:
                raise _damaged(path, "per_layer is not a group with tensor names")
            layer_names = _names(g.attrs["names"])
            for key in ("size", "top_eigenvalue", "trace", "trace_stderr"):
                columns[f"per_layer/{key}"] = vector(f, f"per_layer/{key}", len(layer_names))
        store.check_backed(path, list(columns.items()))  # before `k` is trusted to count anything
        groups = []
        for i in range(k):
            name = vector_group(i)
            if not isinstance(f.get(name), h5py.Group) or "names" not in f[name].attrs:
                raise _damaged(path, f"eigenvector {i + 1} ({name}) is missing or has no tensor names")
            groups.append(store.direction_tensors(f[name], path))
            if [(n, d.shape) for n, d in groups[-1]] != [(n, d.shape) for n, d in groups[0]]:
                raise _damaged(path, f"eigenvector {i + 1} ({name}) holds other tensors than eigenvector 1")
        store.check_backed(path, [(f"{d.name} ({n})", d) for items in groups for n, d in items])
        col = {n: np.asarray(d[()], dtype=np.float64).ravel() for n, d in columns.items()}
        vectors = [{n: torch.from_numpy(store.values(d)) for n, d in items} for items in groups]
    return _Stored(attrs, col, layer_names, vectors)


def _result(path: Path, stored: _Stored) -> HessianResult:
    """The result a checked file holds; an attribute missing or of the wrong type is a damaged file."""
    a = stored.attrs

    def attr(name: str, kind: type, default: Any = None) -> Any:
        """A scalar attribute as `kind` (bool, int, float or str); required unless `default` is given."""
        if name not in a:
            if default is None:
                raise _damaged(path, f"it lacks the attribute {name!r}")
            return default
        v = a[name]
        v = v[()] if isinstance(v, np.ndarray) and v.shape == () else v
        flag = isinstance(v, (bool, np.bool_))
        whole = isinstance(v, (int, np.integer)) and not flag
        if {bool: flag or whole and v in (0, 1), int: whole, float: whole or isinstance(v, (float, np.floating)),
                str: isinstance(v, (str, bytes))}[kind]:
            return _text(v) if kind is str else kind(v)
        wanted = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}[kind]
        raise _damaged(path, f"its attribute {name!r} is {_text(v)[:40]!r}, not {wanted}")

    def choice(name: str, choices: dict[str, Any]) -> Any:
        text = attr(name, str)
        if text not in choices:
            raise _damaged(path, f"its attribute {name!r} is {text[:40]!r}, not one of {', '.join(choices)}")
        return choices[text]

    modes = {m.value: m for m in HvpMode}
    kwargs: dict[str, Any] = {}
    for fld in dataclasses.fields(HessianSettings):
        if fld.name not in a or fld.name == "params":
            continue
        if fld.name == "autocast":
            kwargs[fld.name] = choice(fld.name, {"none": None, **AUTOCAST_DTYPES})
        elif fld.name == "hvp_mode":
            kwargs[fld.name] = choice(fld.name, modes)
        else:
            kwargs[fld.name] = attr(fld.name, type(fld.default))
    given = a.get("params", "all")
    try:
        settings = HessianSettings(**kwargs, params=None if isinstance(given, (str, bytes)) else tuple(_names(given)))
    except LandscapeError as e:
        raise _damaged(path, f"its settings are invalid ({e.message})") from None
    params = tuple(_names(a["param_names"])) if "param_names" in a else ()
    col = stored.columns
    result = HessianResult(
        eigenvalues=col["eigenvalues"], eigenvectors=stored.vectors, residuals=col["residuals"],
        smallest_ritz=attr("smallest_ritz", float), lanczos_steps=attr("lanczos_steps", int),
        converged=attr("converged", bool), params=params, loss=attr("loss", float),
        accuracy=attr("accuracy", float), samples=attr("samples", int), settings=settings, hvps=attr("hvps", int),
        hvp_mode=choice("hvp_mode_used", modes), vectors_per_pass=attr("vectors_per_pass_used", int),
        seconds=attr("seconds", float))
    if "trace" in col:
        result.trace, result.trace_stderr = float(col["trace"][0]), float(col["trace_stderr"][0])
        result.probes = attr("probes_used", int, 0) if "probes_used" in a else attr("probes", int, 0)
    if "density" in col:
        result.density_grid, result.density = col["density_grid"], col["density"]
    if stored.layer_names:
        sizes = col["per_layer/size"]
        if not (np.isfinite(sizes).all() and (sizes >= 0).all() and (sizes == np.round(sizes)).all()):
            raise _damaged(path, "per_layer/size holds a value that is not a whole number of parameters")
        result.per_layer = [
            LayerCurvature(n, int(col["per_layer/size"][i]), float(col["per_layer/top_eigenvalue"][i]),
                           float(col["per_layer/trace"][i]), float(col["per_layer/trace_stderr"][i]))
            for i, n in enumerate(stored.layer_names)]
    return result
