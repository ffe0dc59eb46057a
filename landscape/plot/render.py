"""Writing files: `render_file` and `render_compare` draw each kind asked for and write it as
`<stem>.<kind>.<format>` (the exports `<stem>.<kind>`, by `export`), atomically, checking
before anything is written that every output may be written; `save_figure` writes one figure.

A figure of another metric or scale than the loss's default is named for it
(`<stem>.acc.contour.png`, `<stem>.log.contour.png`, `<stem>.eig_max.heatmap.png`), so that it
never replaces the loss figure. Beside each figure go its caption, plain and LaTeX
(`<name>.caption.txt`, `<name>.caption.tex`: what it shows, its key and its notes). A Hessian
file (`landscape hessian`) draws its spectral density (`<stem>.density.<format>`).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from landscape import export, store
from landscape.errors import LandscapeError, arg
from landscape.plot.figures import density_figure, draw, latex, made_of
from landscape.plot.options import FIGURES, Format, Kind, Metric, PlotOptions, choice
from landscape.plot.scales import fmt_value, scale_of
from landscape.plot.style import STYLE, using
from landscape.plot.surfaces import check_kind, check_labels, clip_height, kinds_to_write, metric_values, stem_of
from landscape.store import Surface, files
from landscape.store.training_log import is_training_log


class Outputs(list[Path]):
    """The files a render wrote, in order (a plain list of Paths: figures and exports), `captions`:
    the caption files written beside the figures, and `replaced`: those among all of them that
    existed before and were overwritten, for the caller to report ("replaced ...")."""

    def __init__(self, written: Iterable[Path] = (), replaced: Iterable[Path] = (), captions: Iterable[Path] = ()):
        super().__init__(written)
        self.replaced: list[Path] = list(replaced)
        self.captions: list[Path] = list(captions)


def compare_stem(surfaces: Sequence[Surface]) -> str:
    """The file stem of a comparison: the inputs' stems joined by "+" (the first one and a count
    when that is long), then 6 hex digits of a hash of the inputs' resolved paths in order, so that
    different inputs never share a name: "small-batch+large-batch.3f9a2c"."""
    return joined_stem([stem_of(s) for s in surfaces],
                       [str(s.path.resolve()) if s.path is not None else s.name for s in surfaces])


def joined_stem(stems: Sequence[str], keys: Sequence[str]) -> str:
    """`compare_stem`'s rule for any inputs: their stems joined by "+", and a hash of `keys`."""
    joined = "+".join(stems)
    if len(joined) > 48:
        joined = f"{stems[0][:32]}+{len(stems) - 1}-more"
    return f"{joined}.{hashlib.sha1(chr(10).join(keys).encode()).hexdigest()[:6]}"


def variant(o: PlotOptions) -> str:
    """What a file name adds for a metric or scale other than the linear loss: ".acc", ".log", ""."""
    return ("" if o.metric is Metric.loss else f".{o.metric.value}") + (".log" if o.log else "")


def output_name(stem: str, kind: Kind, fmt: Format = Format.png, o: PlotOptions | None = None) -> str:
    """`<stem>[.<metric>][.log].<kind>.<format>` for a figure, `<stem>[...].<kind>` (vtk, html,
    obj, ply) for an export; the metric and `log` only when `o` has them (see `variant`)."""
    stem = stem + (variant(o) if o is not None else "")
    return f"{stem}.{kind.value}" if kind not in FIGURES else f"{stem}.{kind.value}.{fmt.value}"


def caption_names(image: str) -> tuple[str, str]:
    """The caption files of an image name: `x.contour.png` -> `x.contour.caption.txt`, `.tex`."""
    base = image.rsplit(".", 1)[0]
    return f"{base}.caption.txt", f"{base}.caption.tex"


def caption_files(fig: Figure) -> tuple[bytes, bytes]:
    """A figure's caption as plain text and as LaTeX source (`figures.latex`)."""
    text = made_of(fig).caption or " ".join(made_of(fig).notes)
    return (text + "\n").encode(), ("% a figure's caption, written by landscape: paste it into \\caption{...}\n"
                                    + latex(text) + "\n").encode()


def save(fig: Figure, f: Any, fmt: str, dpi: int) -> None:
    """Write a figure in its look (`figures.made_of`: rc settings, background, transparency)."""
    made = made_of(fig)
    quiet = logging.getLogger("fontTools")  # it reports every font it subsets into a PDF
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with using(made.style):
            fig.savefig(f, format=fmt, dpi=dpi, transparent=made.transparent, metadata=_metadata(fmt))
    finally:
        quiet.setLevel(level)


def _metadata(fmt: str) -> dict[str, Any]:
    """No creation date in vector files: the same figure makes the same bytes."""
    return {"pdf": {"CreationDate": None}, "svg": {"Date": None}}.get(fmt, {})


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


def write_file(target: Path, write: Callable[[Any], object]) -> Path:
    """Write through `files.replacing` (a temporary file renamed over the target), so a failure
    never leaves a half-written file; `write` gets the open binary file. An OSError is a
    LandscapeError naming the file."""
    try:
        with files.replacing(target) as f:
            write(f)
    except OSError as e:
        raise LandscapeError(f"cannot write {str(target)!r}: {e.strerror or e}; choose another {arg('out_dir')}",
                             field="out_dir") from None
    return target


def _by_path(write_path: Callable[[Path], object]) -> Callable[[Any], None]:
    """Adapt a writer that takes a path (the exports) to `write_file`'s open file: it writes into a
    private temporary folder, whose file is then copied into the file being replaced."""
    def write(f: Any) -> None:
        with tempfile.TemporaryDirectory(prefix="landscape-") as folder:
            tmp = Path(folder) / "export"
            write_path(tmp)
            with open(tmp, "rb") as src:
                while chunk := src.read(1 << 20):
                    f.write(chunk)
    return write


def html_look(s: Surface, o: PlotOptions, out: Path) -> dict[str, Any]:
    """What the web page shares with the figures: the camera, the contour levels (in the
    metric's units), the colours, and one plotly.js file per folder (`out`)."""
    name, z = metric_values(s, o)
    scale = scale_of(z.ravel(), name, o, bool(s.tracks))
    levels = 10.0 ** scale.levels if o.log else scale.levels
    colorscale = [[float(t), mpl.colors.to_hex(scale.cmap(float(t)))] for t in np.linspace(0.0, 1.0, 17)]
    return {"elev": STYLE.elev if o.elev is None else o.elev, "azim": STYLE.azim if o.azim is None else o.azim,
            "levels": np.asarray(levels, dtype=np.float64) if len(levels) else None, "colorscale": colorscale,
            "js_folder": out}


def _exporter(kind: Kind, s: Surface, o: PlotOptions, out: Path) -> Callable[[Path], object]:
    """The writer of an export, cut at the figures' clip height (`clip_height`)."""
    zmax = clip_height(s, o)
    metric = o.metric.value
    if kind is Kind.vtk:
        metric_values(s, o)  # nothing to draw: the figures' own message, whatever zmax
        return lambda p: export.write_vtk(p, s, metric, o.log, zmax)
    if kind is Kind.html:
        return lambda p: export.write_html(p, s, metric=metric, log=o.log, zmax=zmax, title=o.title,
                                           **html_look(s, o, out))
    if kind is Kind.obj:
        return lambda p: export.write_obj(p, s, metric, o.log, zmax)
    if kind is Kind.ply:
        return lambda p: export.write_ply(p, s, metric, o.log, zmax)
    raise AssertionError(f"no exporter for {kind}")


def _render(ss: list[Surface], o: PlotOptions, out: Path, stem: str, overwrite: bool) -> Outputs:
    check_labels(ss, o)
    kinds = kinds_to_write(ss, o)
    for kind in kinds:
        check_kind(ss, kind, o)
    for s in ss:  # a metric the file lacks is an error before anything is written
        s.metric(o.metric.value)
    targets = [(kind, fmt, out / output_name(stem, kind, fmt, o))
               for kind in kinds for fmt in (o.formats if kind in FIGURES else (None,))]
    captions = [out / c for kind in kinds if kind in FIGURES for c in caption_names(output_name(stem, kind, Format.png, o))]
    targets += [(None, None, c) for c in captions]
    existing = [p for _, _, p in targets if p.exists()]
    if existing and not overwrite:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise LandscapeError(f"{str(existing[0])!r}{more} already exist{'s' if not more else ''}; "
                             f"allow replacing them ({arg('overwrite', True)}) or choose another {arg('out_dir')}",
                             field="overwrite")
    written, notes = [], []
    for kind in kinds:
        if kind not in FIGURES:
            shared = set(out.glob("plotly-*.min.js"))
            written.append(write_file(out / output_name(stem, kind, o=o), _by_path(_exporter(kind, ss[0], o, out))))
            written += sorted(set(out.glob("plotly-*.min.js")) - shared)  # the page's plotly.js, written once a folder
            continue
        fig = draw(ss, kind, o)
        for fmt in o.formats:
            written.append(write_file(out / output_name(stem, kind, fmt, o), lambda f, fmt=fmt: save(fig, f, fmt.value, o.dpi)))
        notes += _write_captions(fig, out / output_name(stem, kind, Format.png, o))
    return Outputs(written, [p for p in written + notes if p in set(existing)], notes)


def _write_captions(fig: Figure, image: Path) -> list[Path]:
    """Write a figure's caption files beside `image`; returns their paths."""
    plain, tex = caption_files(fig)
    txt_name, tex_name = caption_names(image.name)
    return [write_file(image.with_name(txt_name), lambda f: f.write(plain)),
            write_file(image.with_name(tex_name), lambda f: f.write(tex))]


def render_file(path: str | Path | Surface, options: PlotOptions = PlotOptions(),
                out_dir: str | Path | None = None, *, overwrite: bool = True) -> Outputs:
    """Write each kind of `options` for one surface (a file, or a `Surface` in memory with
    `out_dir`) as `<stem>.<kind>.<fmt>` (exports: `<stem>.<kind>`) next to it or under `out_dir`;
    stem: the file name without `.h5` and a trailing `.surface`. Default kinds: contour, filled,
    surface (2-D) or line (1-D). Returns the paths written; `.replaced` lists those that existed.
    `overwrite` False: raise LandscapeError, before writing anything, if any output exists."""
    if not isinstance(path, Surface) and is_hessian_file(path):
        return render_hessian(path, options, out_dir, overwrite=overwrite)
    if not isinstance(path, Surface) and is_training_log(path):
        return render_training([path], options, out_dir, overwrite=overwrite)
    s = path if isinstance(path, Surface) else store.read_surface(path)
    return _render([s], options, _out_dir(out_dir, None if s.path is None else s.path.parent), stem_of(s), overwrite)


def is_hessian_file(path: str | Path) -> bool:
    """Whether `path` is a Hessian file written by `landscape hessian` (False for anything else,
    which the surface reader then judges)."""
    from landscape.store.hessian_file import FORMAT

    try:
        return store.read_attrs(Path(path)).get("format") == FORMAT
    except LandscapeError:
        return False


def render_hessian(path: str | Path, options: PlotOptions = PlotOptions(), out_dir: str | Path | None = None, *,
                   overwrite: bool = True) -> Outputs:
    """Draw a Hessian file's spectral density (with its top eigenvalues) in each format of
    `options`, as `<stem>.density.<fmt>` with its caption files; the file must hold a density
    (`landscape hessian --density`)."""
    from landscape.store.hessian_file import read_hessian

    path = Path(path)
    kinds = [k for k in options.kinds or () if k is not Kind.all]
    if kinds:
        raise LandscapeError(f"a Hessian file draws its spectral density only; drop {arg('kinds')}", field="kinds")
    result = read_hessian(path)
    if result.density is None:
        raise LandscapeError(f"{str(path)!r} holds no spectral density; compute it again with "
                             f"{arg('density', True)}", field="density")
    targets, existing = _one_figure(_out_dir(out_dir, path.parent), f"{path.name.removesuffix('.h5')}.density",
                                    options, overwrite)
    top = np.asarray(result.eigenvalues, dtype=np.float64)
    notes = [f"spectral density of the Hessian by stochastic Lanczos quadrature; ticks: the top {len(top)} "
             f"eigenvalues ({', '.join(fmt_value(float(v)) for v in top[:5])}{', ...' if len(top) > 5 else ''})"]
    fig = density_figure(result.density_grid, result.density, top, options=options, notes=notes)
    return _write_one(fig, targets, existing, options)


def _one_figure(out: Path, name: str, options: PlotOptions, overwrite: bool) -> tuple[list[Path], list[Path]]:
    """The files of one figure `<name>.<fmt>` in `out` and those of them and their captions that
    exist; refused before anything is drawn if they exist and `overwrite` is False."""
    targets = [out / f"{name}.{fmt.value}" for fmt in options.formats]
    captions = [out / c for c in caption_names(targets[0].name)]
    existing = [p for p in targets + captions if p.exists()]
    if existing and not overwrite:
        raise LandscapeError(f"{str(existing[0])!r} already exists; allow replacing it ({arg('overwrite', True)}) "
                             f"or choose another {arg('out_dir')}", field="overwrite")
    return targets, existing


def _write_one(fig: Figure, targets: list[Path], existing: list[Path], options: PlotOptions) -> Outputs:
    written = [write_file(t, lambda f, t=t: save(fig, f, t.suffix.lstrip("."), options.dpi)) for t in targets]
    caps = _write_captions(fig, targets[0])
    return Outputs(written, [p for p in written + caps if p in set(existing)], caps)


def render_training(paths: Sequence[str | Path], options: PlotOptions = PlotOptions(),
                    out_dir: str | Path | None = None, *, overwrite: bool = True) -> Outputs:
    """Training logs (`training.h5`, or the run folders holding them) as the edge-of-stability
    figure, one column per run: `<run>.sharpness.<fmt>` beside one log, or for several
    `<run1+run2...>.<hash>.sharpness.<fmt>` beside the first run's folder."""
    from landscape.plot.training import training_figure
    from landscape.store.training_log import read_log

    kinds = [k for k in options.kinds or () if k is not Kind.all]
    if kinds:
        raise LandscapeError(f"a training log draws its sharpness figure only; drop {arg('kinds')}", field="kinds")
    logs = [read_log(p) for p in paths]
    if len(logs) == 1:
        out, stem = _out_dir(out_dir, logs[0].path.parent), logs[0].name
    else:
        out = _out_dir(out_dir, logs[0].path.parent.parent)
        stem = joined_stem([log.name for log in logs], [str(log.path.resolve()) for log in logs])
    targets, existing = _one_figure(out, f"{stem}.sharpness", options, overwrite)
    return _write_one(training_figure(logs, options), targets, existing, options)


def render_compare(paths: Sequence[str | Path], options: PlotOptions = PlotOptions(),
                   out_dir: str | Path | None = None, *, overwrite: bool = True) -> Outputs:
    """Several surfaces side by side on one shared color scale (1-D: overlaid lines), written to
    `<compare_stem>.<kind>.<fmt>` (e.g. `a+b.3f9a2c.filled.png`) in `out_dir` (default: the
    first file's folder). Returns the paths written, with `.replaced` as in `render_file`."""
    if len(paths) < 2:
        raise LandscapeError("compare needs at least two surface files", field="paths")
    if all(is_training_log(p) for p in paths):
        return render_training(paths, options, out_dir, overwrite=overwrite)
    ss = [store.read_surface(p) for p in paths]
    return _render(ss, options, _out_dir(out_dir, ss[0].path.parent if ss[0].path else None), compare_stem(ss),
                   overwrite)


def save_figure(fig: Figure, target: str | Path, dpi: int = 150) -> Path:
    """Write a figure atomically (its format from the file's suffix)."""
    target = Path(target)
    fmt = target.suffix.lstrip(".") or "png"
    choice(Format, fmt, "format", "target")
    return write_file(target, lambda f: save(fig, f, fmt, dpi))
