"""Writing files: `render_file` and `render_compare` draw each kind asked for and write it as
`<stem>.<kind>.<format>` (the exports `<stem>.<kind>`, by `export`), atomically, checking
before anything is written that every output may be written; `save_figure` writes one figure.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
from matplotlib.figure import Figure

from landscape import export, store
from landscape.errors import LandscapeError, arg
from landscape.plot.figures import draw
from landscape.plot.options import FIGURES, Format, Kind, PlotOptions, choice
from landscape.plot.style import STYLE
from landscape.plot.surfaces import check_kind, clip_height, kinds_to_write, metric_values, stem_of
from landscape.store import Surface, files


class Outputs(list[Path]):
    """The files a render wrote, in order (a plain list of Paths), and `replaced`: those among
    them that existed before and were overwritten, for the caller to report ("replaced ...")."""

    def __init__(self, written: Iterable[Path] = (), replaced: Iterable[Path] = ()):
        super().__init__(written)
        self.replaced: list[Path] = list(replaced)


def compare_stem(surfaces: Sequence[Surface]) -> str:
    """The file stem of a comparison: the inputs' stems joined by "+" (the first one and a count
    when that is long), then 6 hex digits of a hash of the inputs' resolved paths in order, so that
    different inputs never share a name: "small-batch+large-batch.3f9a2c"."""
    stems = [stem_of(s) for s in surfaces]
    joined = "+".join(stems)
    if len(joined) > 48:
        joined = f"{stems[0][:32]}+{len(stems) - 1}-more"
    key = "\n".join(str(s.path.resolve()) if s.path is not None else s.name for s in surfaces)
    return f"{joined}.{hashlib.sha1(key.encode()).hexdigest()[:6]}"


def output_name(stem: str, kind: Kind, fmt: Format = Format.png) -> str:
    """`<stem>.<kind>.<format>` for a figure, `<stem>.<kind>` (vtk, html, obj, ply) for an export."""
    return f"{stem}.{kind.value}" if kind not in FIGURES else f"{stem}.{kind.value}.{fmt.value}"


def _out_dir(out_dir: str | Path | None, default: Path | None) -> Path:
    if out_dir is None and default is None:
        raise LandscapeError(f"a surface computed in memory has no folder; give {arg('out_dir')}", field="out_dir")
    out = Path(out_dir) if out_dir is not None else default
    assert out is not None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LandscapeError(f"cannot create output folder {str(out)!r}: {e.strerror or e}; "
                             f"choose another {arg('out_dir')}", field="out_dir") from None
    return out


def _write(target: Path, write: Callable[[Any], object]) -> Path:
    """Write through `files.replacing` (a temporary file renamed over the target), so a failure
    never leaves a half-written file; `write` gets the open binary file."""
    try:
        with files.replacing(target) as f:
            write(f)
    except OSError as e:
        raise LandscapeError(f"cannot write {str(target)!r}: {e.strerror or e}; choose another {arg('out_dir')}",
                             field="out_dir") from None
    return target


def _by_path(write_path: Callable[[Path], object]) -> Callable[[Any], None]:
    """Adapt a writer that takes a path (the exports) to `_write`'s open file: it writes into a
    private temporary folder, whose file is then copied into the file being replaced."""
    def write(f: Any) -> None:
        with tempfile.TemporaryDirectory(prefix="landscape-") as folder:
            tmp = Path(folder) / "export"
            write_path(tmp)
            with open(tmp, "rb") as src:
                while chunk := src.read(1 << 20):
                    f.write(chunk)
    return write


def _exporter(kind: Kind, s: Surface, o: PlotOptions) -> Callable[[Path], object]:
    """The writer of an export, cut at the figures' clip height (`clip_height`)."""
    zmax = clip_height(s, o)
    metric = o.metric.value
    if kind is Kind.vtk:
        metric_values(s, o)  # nothing to draw: the figures' own message, whatever zmax
        return lambda p: export.write_vtk(p, s, metric, o.log, zmax)
    if kind is Kind.html:
        return lambda p: export.write_html(p, s, metric=metric, log=o.log, zmax=zmax, title=o.title)
    if kind is Kind.obj:
        return lambda p: export.write_obj(p, s, metric, o.log, zmax)
    if kind is Kind.ply:
        return lambda p: export.write_ply(p, s, metric, o.log, zmax)
    raise AssertionError(f"no exporter for {kind}")


def _render(ss: list[Surface], o: PlotOptions, out: Path, stem: str, overwrite: bool) -> Outputs:
    kinds = kinds_to_write(ss, o)
    for kind in kinds:
        check_kind(ss, kind, o)
    for s in ss:  # a metric the file lacks is an error before anything is written
        s.metric(o.metric.value)
    targets = [(kind, fmt, out / output_name(stem, kind, fmt))
               for kind in kinds for fmt in (o.formats if kind in FIGURES else (None,))]
    existing = [p for _, _, p in targets if p.exists()]
    if existing and not overwrite:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise LandscapeError(f"{str(existing[0])!r}{more} already exist{'s' if not more else ''}; "
                             f"allow replacing them ({arg('overwrite', True)}) or choose another {arg('out_dir')}",
                             field="overwrite")
    written = []
    with mpl.rc_context(dict(STYLE.rc)):
        for kind in kinds:
            if kind not in FIGURES:
                written.append(_write(out / output_name(stem, kind), _by_path(_exporter(kind, ss[0], o))))
                continue
            fig = draw(ss, kind, o)
            for fmt in o.formats:
                written.append(_write(out / output_name(stem, kind, fmt),
                                      lambda f, fmt=fmt: fig.savefig(f, format=fmt.value, dpi=o.dpi)))
    return Outputs(written, [p for p in written if p in set(existing)])


def render_file(path: str | Path | Surface, options: PlotOptions = PlotOptions(),
                out_dir: str | Path | None = None, *, overwrite: bool = True) -> Outputs:
    """Write each kind of `options` for one surface (a file, or a `Surface` in memory with
    `out_dir`) as `<stem>.<kind>.<fmt>` (exports: `<stem>.<kind>`) next to it or under `out_dir`;
    stem: the file name without `.h5` and a trailing `.surface`. Default kinds: contour, filled,
    surface (2-D) or line (1-D). Returns the paths written; `.replaced` lists those that existed.
    `overwrite` False: raise LandscapeError, before writing anything, if any output exists."""
    s = path if isinstance(path, Surface) else store.read_surface(path)
    return _render([s], options, _out_dir(out_dir, None if s.path is None else s.path.parent), stem_of(s), overwrite)


def render_compare(paths: Sequence[str | Path], options: PlotOptions = PlotOptions(),
                   out_dir: str | Path | None = None, *, overwrite: bool = True) -> Outputs:
    """Several surfaces side by side on one shared color scale (1-D: overlaid lines), written to
    `<compare_stem>.<kind>.<fmt>` (e.g. `a+b.3f9a2c.filled.png`) in `out_dir` (default: the
    first file's folder). Returns the paths written, with `.replaced` as in `render_file`."""
    if len(paths) < 2:
        raise LandscapeError("compare needs at least two surface files", field="paths")
    ss = [store.read_surface(p) for p in paths]
    return _render(ss, options, _out_dir(out_dir, ss[0].path.parent if ss[0].path else None), compare_stem(ss),
                   overwrite)


def save_figure(fig: Figure, target: str | Path, dpi: int = 150) -> Path:
    """Write a figure atomically (its format from the file's suffix)."""
    target = Path(target)
    fmt = target.suffix.lstrip(".") or "png"
    choice(Format, fmt, "format", "target")
    return _write(target, lambda f: fig.savefig(f, format=fmt, dpi=dpi))
