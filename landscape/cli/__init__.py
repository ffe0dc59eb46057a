"""The `landscape` command: each command declares its options, turns command-line syntax
("auto", `min:max:num`, default output files) into values, and calls one library function.
User errors (`LandscapeError`) are caught once, in `_Group.invoke`; so are interruptions
(Ctrl-C, SIGTERM), which end every command with exit code 130 and one true line.

Only the option choices (`choices.py`) are imported up front: PyTorch, NumPy and matplotlib
load inside the command that needs them, so `--help`, `--version` and a usage mistake answer
at once."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import re
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from landscape._version import __version__
from landscape.choices import Compile, DirType, HvpMode, Launch, Norm, Precision, Scale, Split
from landscape.errors import LandscapeError
from landscape.inputs.importing import user_code_importable

if TYPE_CHECKING:
    from landscape.plane.directions import DirectionSpec
    from landscape.engine import EvalSettings
    from landscape.plane.grid import AutoRange, Grid
    from landscape.run.compute import ComputeResult
    from landscape.run.job import ComputeJob

# User text (paths, messages) is printed as it is: no markup, no emoji codes.
out_console = Console(markup=False, emoji=False, highlight=False)
err_console = Console(stderr=True, markup=False, emoji=False, highlight=False)

# Typer raises click's exceptions (its own vendored copy in recent releases): find the base class.
CLICK_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
PLAIN_WORDS = (  # the coercion library's phrasing of a bad value, in plain words
    (re.compile(r"Value error, "), ""),
    (re.compile(r"Input should be a valid integer[^.;]*"), "expected a whole number"),
    (re.compile(r"Input should be a valid number[^.;]*"), "expected a number"),
    (re.compile(r"Input should be a valid boolean[^.;]*"), "expected true or false"),
)


def _plain(message: str) -> str:
    for pattern, words in PLAIN_WORDS:
        message = pattern.sub(words, message)
    return message


class _Group(typer.core.TyperGroup):
    def main(self, *args, standalone_mode: bool = True, **kwargs):  # type: ignore[no-untyped-def]
        """Usage mistakes (an unknown option, a bad choice) as one line too, exit code 2."""
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except CLICK_ERROR as e:
            if e.format_message().strip():  # empty when the help was shown for a bare command
                err_console.print(Text("error: ", style="bold red") + Text(f"{_plain(e.format_message())} (see --help)"),
                                  soft_wrap=True)
            code = e.exit_code
        except typer.Abort:
            code = 1
        if standalone_mode:
            sys.exit(code if isinstance(code, int) else 0)
        return code

    def invoke(self, ctx):  # type: ignore[no-untyped-def]
        ON_INTERRUPT.clear()
        try:
            with _terminate_as_interrupt(), _one_line_warnings():
                return super().invoke(ctx)
        except LandscapeError as e:
            if os.environ.get("RANK", "0") == "0":  # under torchrun, one rank says it
                err_console.print(Text("error: ", style="bold red") + Text(str(e)), soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            raise typer.Exit(_interrupted()) from None
        except RuntimeError as e:  # PyTorch's C++ code wraps a KeyboardInterrupt raised inside a callback
            if "KeyboardInterrupt" not in str(e):
                raise
            raise typer.Exit(_interrupted()) from None


FIGURES_WHOLE = "no figure is half-written (each file is written whole), and any not written yet are missing"
ON_INTERRUPT: list[Callable[[], str]] = []  # what is true of the outputs if the running command stops now


def _interrupted() -> int:
    """Say, in one line, what an interruption left behind; exit code 130."""
    said = ON_INTERRUPT[-1]() if ON_INTERRUPT else "nothing was written"
    if _rank0():
        err_console.print(f"interrupted: {said}", highlight=False, soft_wrap=True)
    return 130


def _on_interrupt(say: Callable[[], str]) -> None:
    ON_INTERRUPT[:] = [say]


def _resumable(out: Path) -> Callable[[], str]:
    """For surface files: the points computed so far are saved (and resumed) once the file exists."""
    return lambda: (f"the points computed so far are saved in {out}; run the same command again to resume"
                    if out.exists() else "nothing was written")


class _Command(typer.core.TyperCommand):
    """Arguments named by their metavar alone: no type placeholders such as `<list[Path]>`, no braces."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for p in self.params:
            if isinstance(p, typer.core.TyperArgument):
                name = p.display_name_raw + ("..." if p.nargs != 1 else "")
                p.display_type_rich = lambda ctx: ""  # type: ignore[method-assign]
                p._usage_display_name = (lambda n=name, req=p.required: n if req else f"[{n}]")  # type: ignore
                p._rich_display_name = (lambda n=name: n)  # type: ignore[method-assign]


def _version(value: bool) -> None:
    if value:
        out_console.print(f"landscape {__version__}")
        raise typer.Exit(0)


app = typer.Typer(
    cls=_Group,
    help="Loss-landscape surfaces of trained networks (Li et al., arXiv:1712.09913).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: option names and help read whole at 80 columns
)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", callback=_version,
                                          is_eager=True)] = False,
) -> None:
    """Loss-landscape surfaces of trained networks (Li et al., arXiv:1712.09913)."""


class Ignore(str, Enum):
    biasbn = "biasbn"
    none = "none"


# ---------------------------------------------------------------------------------- syntax → values


def parse_axis(text: str, name: str) -> tuple[float, ...]:
    """'min:max:num' → num evenly spaced coordinates (one point needs min = max)."""
    from landscape.plane.grid import Grid, check_axis

    parts = text.split(":")
    if len(parts) != 3:
        raise LandscapeError(f"--{name} {text!r} must be min:max:num, for example -1:1:51")
    try:
        lo, hi, num = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise LandscapeError(f"--{name} {text!r} must be min:max:num with numbers, for example -1:1:51") from None
    check_axis(lo, hi, num, name)
    return Grid.linspace((lo, hi, num)).x


def _auto_points(text: str, name: str, default: int) -> int | None:
    """`auto` or `auto:NUM` → NUM (default `default`); None if `text` is not auto."""
    if not text.startswith("auto"):
        return None
    head, sep, num = text.partition(":")
    try:
        if head != "auto" or (sep and not num):
            raise ValueError
        points = int(num) if sep else default
    except ValueError:
        raise LandscapeError(f"--{name} {text!r}: write auto or auto:NUM, for example auto:51") from None
    if points < 2:
        raise LandscapeError(f"--{name} {text!r}: an automatic range needs at least 2 points, for example auto:51")
    return points


def _grid(x: str, y: Optional[str], rise: float) -> Grid | AutoRange:
    from landscape.plane.grid import AutoRange, Grid

    nx = _auto_points(x, "x", 51)
    ny = _auto_points(y, "y", 51) if y is not None else None
    if nx is not None or ny is not None:
        if (nx is None) != (ny is None) and y is not None:
            raise LandscapeError("--x auto and --y auto go together: give both as auto, or both as min:max:num")
        return AutoRange(rise, nx if nx is not None else 51, ny)
    return Grid(parse_axis(x, "x"), parse_axis(y, "y") if y is not None else None)


def _maybe_axis(text: Optional[str], name: str) -> tuple[float, ...] | None:
    """min:max:num, or None for "auto"/absent (fitted by the library)."""
    return None if text is None or text == "auto" else parse_axis(text, name)


def _csv(text: Optional[str]) -> Optional[tuple[str, ...]]:
    return None if text is None else tuple(t.strip() for t in text.split(",") if t.strip())


def _stem(path: Path) -> str:
    return path.name if path.is_dir() else path.stem


# ---------------------------------------------------------------------------------- running


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler's kill) ends a run like Ctrl-C: the file is flushed and closed."""

    def handler(signum, frame):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _one_line_warnings() -> Iterator[None]:
    """A warning from a library (NumPy, PyTorch) as one line, "warning: ...", without the source
    line Python prints under it; each text once."""
    seen: set[str] = set()
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        text = (str(message).splitlines() or [""])[0].strip()
        if text not in seen and _rank0():
            seen.add(text)
            err_console.print(f"warning: {text}", highlight=False, soft_wrap=True)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


@contextmanager
def _stoppable() -> Iterator[Callable[[], None]]:
    """SIGINT or SIGTERM during `hessian` and `sharpness`: the first asks the work to stop at its
    next step, where the check it is given raises KeyboardInterrupt (raised inside PyTorch's C++
    code instead, it comes out wrapped in a RuntimeError, or is lost); a second stops at once."""
    asked: list[int] = []

    def handler(signum, frame):  # type: ignore[no-untyped-def]
        if asked:
            raise KeyboardInterrupt
        asked.append(signum)

    def check() -> None:
        if asked:
            raise KeyboardInterrupt

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield check
        check()  # a signal during the last step: the command has said what is saved by now
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextmanager
def _quiet_warnings(quiet: bool) -> Iterator[None]:
    """With --quiet, no Python warnings either (PyTorch's deprecation notes, say)."""
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        yield


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err_console,
        disable=quiet,
        transient=False,
    )


def _rank0() -> bool:
    return os.environ.get("RANK", "0") == "0"


def _run_with_progress(job: ComputeJob, quiet: bool) -> ComputeResult:
    """Run `compute`; the progress bar appears once evaluation starts (after every check passed)."""
    from landscape.engine import tune_cpu_allocator
    from landscape.run.compute import compute

    quiet = quiet or not _rank0()
    _on_interrupt(_resumable(Path(job.out)))
    bar = _progress(quiet)
    state: dict[str, float] = {}

    def update(done: int, total: int) -> None:
        now = time.perf_counter()
        if not state:
            bar.start()
            state.update(task=bar.add_task("points", total=total, rate=""), t=now, done=done)
        elapsed = now - state["t"]
        rate = f"{(done - state['done']) / elapsed:.1f} points/s" if elapsed > 0 and done > state["done"] else ""
        bar.update(int(state["task"]), completed=done, total=total, rate=rate)

    def note(message: str) -> None:
        if not quiet:
            (bar.console if state else err_console).print(f"note: {message}", highlight=False, soft_wrap=True)

    tune_cpu_allocator()
    try:
        return compute(job, progress=update, on_note=note)
    finally:
        if state:
            bar.stop()


def _print_result(result: ComputeResult, quiet: bool) -> None:
    if quiet or not _rank0():
        return
    rate = result.computed / result.seconds if result.seconds > 0 else 0.0
    out_console.print(
        f"wrote {result.path}: {result.computed} points computed in {result.seconds:.1f} s ({rate:.1f} points/s), "
        f"{result.total} in the grid",
        highlight=False, soft_wrap=True,
    )
    if result.nonfinite:
        out_console.print(f"note: {result.nonfinite} computed points have an inf or NaN loss (stored as they are)")


def _print_dry_run(job: ComputeJob, quiet: bool) -> None:
    from landscape.store.files import size_text
    from landscape.run.compute import dry_run, duration

    report = dry_run(job, on_note=None if quiet else (lambda m: err_console.print(f"note: {m}", soft_wrap=True)))
    what = "resume" if report.resumes else "compute"
    lines = [f"would {what} {job.out}: {report.points:,} of {report.total:,} points on {report.device}",
             f"estimated {duration(report.seconds)} (timed on a few points), file about {size_text(report.file_bytes)}",
             "plan:"] + [f"  {row}" for row in report.plan.describe()] + ["nothing was written (--dry-run)"]
    out_console.print("\n".join(lines), highlight=False, soft_wrap=True)


# ---------------------------------------------------------------------------------- shared options


def _model_options(
    model: Annotated[Optional[str], typer.Option("--model", metavar="PKG.MOD:NAME",
                     help="Model factory: a class or function, pkg.module:name or path/to/file.py:name.")] = None,
    model_kwargs: Annotated[str, typer.Option("--model-kwargs", metavar="JSON",
                            help="Keyword arguments for --model, as a JSON object.")] = "{}",
    trust_checkpoint: Annotated[bool, typer.Option("--trust-checkpoint",
                                help="Allow checkpoints that run code as they load (pickled modules, "
                                     "TorchScript).")] = False,
    data: Annotated[str, typer.Option("--data", metavar="SOURCE",
                    help="digits, cifar10, mnist, fashion-mnist, FILE.npz/.pt or pkg.module:factory.")] = "digits",
    data_root: Annotated[str, typer.Option("--data-root", metavar="DIR",
                         help="Folder holding torchvision data sets.")] = "data",
    download: Annotated[bool, typer.Option("--download", help="Let torchvision download the data set.")] = False,
    split: Annotated[Optional[Split], typer.Option("--split",
                     help="train or test, where the data has both (default: train).")] = None,
    samples: Annotated[Optional[int], typer.Option("--samples", metavar="N",
                       help="A fixed, seeded subset of N samples.")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", metavar="N",
                          help="Evaluation batch size (default: by the plan).")] = None,
    loss: Annotated[str, typer.Option("--loss", metavar="NAME",
                    help="cross-entropy, mse, or pkg.module:fn(outputs, targets) -> batch mean.")] = "cross-entropy",
    eval_fn: Annotated[Optional[str], typer.Option("--eval", metavar="PKG.MOD:FN",
                       help="fn(model, batch) -> (loss sum, count[, correct]) for models that are not "
                            "f(x) -> outputs; replaces --loss.")] = None,
    device: Annotated[str, typer.Option("--device", metavar="DEVICE", help="auto, cpu, cuda or cuda:N.")] = "auto",
    precision: Annotated[Precision, typer.Option("--precision",
                         help="auto (surfaces: fp32 on a CPU, tf32 on a GPU; curvature: fp32), fp32 (exact), "
                              "tf32, bf16, fp16.")] = Precision.auto,
    out: Annotated[Optional[Path], typer.Option("--out", metavar="FILE", help="Output file.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress, notes or warnings.")] = False,
) -> None:
    """The options of every command that loads a model and data: a signature, never called."""


def _surface_options(
    dir_type: Annotated[Optional[DirType], typer.Option("--dir-type",
                        help="weights: parameters; states: BatchNorm running statistics too (default: "
                             "weights; interpolate: states).")] = None,
    params: Annotated[Optional[str], typer.Option("--params", metavar="REGEX",
                      help="Move only the tensors whose names match (e.g. 'lora_|layer3').")] = None,
    trainable_only: Annotated[bool, typer.Option("--trainable-only",
                              help="Move only parameters that require grad.")] = False,
    launch: Annotated[Launch, typer.Option("--launch", help="Points per pass: auto (one), point or vmap.")] = Launch.auto,
    points_per_launch: Annotated[Optional[int], typer.Option("--points-per-launch", metavar="N",
                                 help="Points per vmapped pass (default 8).")] = None,
    compile: Annotated[Compile, typer.Option("--compile",
                       help="torch.compile: auto (when it pays), off, default, max-autotune, reduce-overhead "
                            "(CUDA graphs).")] = Compile.auto,
    fold_bn: Annotated[Optional[bool], typer.Option("--fold-bn/--no-fold-bn",
                       help="Fold eval-mode BatchNorm into the preceding convolution (default: on).")] = None,
    channels_last: Annotated[Optional[bool], typer.Option("--channels-last/--no-channels-last",
                             help="NHWC activations (default: by device and precision).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing file made with other "
                                                               "settings.")] = False,
    plot: Annotated[bool, typer.Option("--plot", help="Draw the default figures when done.")] = False,
    dry: Annotated[bool, typer.Option("--dry-run", help="Print the plan, the time and the file size; write "
                                                        "nothing.")] = False,
) -> None:
    """The options of every command that computes a surface: a signature, never called."""


def options(*groups: Callable) -> Callable[[Callable], Callable]:
    """Give `command(..., **opts)` the options of `groups` after its own, so Typer (and --help)
    lists them; `opts` arrives as a dict of their values."""

    def decorate(command: Callable) -> Callable:
        own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.kind is not p.VAR_KEYWORD]
        names = {p.name for p in own}
        shared = [p for g in groups for p in inspect.signature(g, eval_str=True).parameters.values()
                  if p.name not in names]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> None:
            with _quiet_warnings(bool(kwargs.get("quiet"))):
                command(**kwargs)

        wrapper.__signature__ = inspect.Signature(own + shared)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in own + shared}
        return wrapper

    return decorate


def _settings(opts: dict) -> EvalSettings:
    from landscape.engine import EvalSettings

    return EvalSettings(opts["device"], opts["precision"], opts["batch_size"], opts.get("launch", Launch.auto),
                        opts.get("points_per_launch"), opts.get("fold_bn"), opts.get("channels_last"),
                        opts.get("compile", Compile.auto))


def _template(checkpoint: Path, out: Path, dir_spec: DirectionSpec, opts: dict) -> ComputeJob:
    """A job from the shared options (the grid is set by each command)."""
    from landscape.inputs.checkpoint import ModelSpec
    from landscape.inputs.data import DataSpec
    from landscape.plane.grid import Grid
    from landscape.inputs.objective import Loss
    from landscape.plane.sources import RandomPlane
    from landscape.run.job import ComputeJob

    return ComputeJob(
        checkpoint=checkpoint,
        grid=Grid((0.0,)),
        out=opts["out"] or out,
        model=ModelSpec(opts["model"], opts["model_kwargs"]),
        data=DataSpec(opts["data"], opts["split"], opts["samples"], root=opts["data_root"], download=opts["download"]),
        plane=RandomPlane(dir_spec),
        command=" ".join(sys.argv),
        loss=Loss(opts["loss"], opts["eval_fn"]),
        evaluation=_settings(opts),
        trust_checkpoint=opts["trust_checkpoint"],
        overwrite=opts["overwrite"],
    )


def _spec(opts: dict, default: DirType, **kw: Any) -> DirectionSpec:
    from landscape.plane.directions import DirectionSpec

    from landscape.inputs.params import ParamSelection

    return DirectionSpec(opts["dir_type"] or default, select=ParamSelection(opts["params"], opts["trainable_only"]), **kw)


def _finish(job: ComputeJob, opts: dict) -> None:
    if opts["dry"]:
        _print_dry_run(job, opts["quiet"])
        return
    result = _run_with_progress(job, opts["quiet"])
    _print_result(result, opts["quiet"])
    _on_interrupt(lambda: f"{result.path} is complete; {FIGURES_WHOLE}")
    if opts["plot"] and _rank0():
        _plot_defaults(result.path, opts["quiet"])


# ---------------------------------------------------------------------------------- commands


@app.command("compute", cls=_Command)
@options(_model_options, _surface_options)
def compute_cmd(
    checkpoint: Annotated[Path, typer.Argument(metavar="CHECKPOINT",
                          help="A state dict (.pt/.pth/.ckpt), .safetensors, TorchScript, or a folder.")],
    x: Annotated[str, typer.Option("--x", metavar="MIN:MAX:NUM",
                 help="First-direction coordinates, or auto[:NUM]: where the loss rises --rise times.")] = "-1:1:51",
    y: Annotated[Optional[str], typer.Option("--y", metavar="MIN:MAX:NUM",
                 help="Second-direction coordinates, or auto[:NUM] (omit for 1-D).")] = None,
    rise: Annotated[float, typer.Option("--rise", metavar="FACTOR",
                    help="With auto axes: the loss at the edges over the loss at the centre.")] = 10.0,
    norm: Annotated[Norm, typer.Option("--norm", help="Direction normalization.")] = Norm.filter,
    ignore: Annotated[Ignore, typer.Option("--ignore", help="biasbn: zero direction for biases and "
                                                            "BatchNorm.")] = Ignore.biasbn,
    no_ignore: Annotated[bool, typer.Option("--no-ignore", help="Perturb biases and BatchNorm too.")] = False,
    seed: Annotated[int, typer.Option("--seed", metavar="N", help="Seed of the random directions.")] = 0,
    x_target: Annotated[Optional[Path], typer.Option("--x-target", metavar="CKPT",
                        help="d1 = θ(CKPT) − θ: toward another model.")] = None,
    y_target: Annotated[Optional[Path], typer.Option("--y-target", metavar="CKPT", help="d2 = θ(CKPT) − θ.")] = None,
    directions: Annotated[Optional[Path], typer.Option("--directions", metavar="FILE",
                          help="The plane of an earlier surface file or of a Hessian file.")] = None,
    direction_scale: Annotated[Scale, typer.Option("--direction-scale",
                               help="Hessian eigenvectors: unit norm, or scaled to the weights' norm.")] = Scale.unit,
    eigen_map: Annotated[bool, typer.Option("--eigen-map",
                         help="Also the largest and smallest Hessian eigenvalue at every point.")] = False,
    split_data: Annotated[bool, typer.Option("--split-data",
                          help="Under torchrun: split each point's data across the ranks.")] = False,
    **opts: Any,
) -> None:
    """Compute the loss surface around CHECKPOINT and write it to an HDF5 file (resumable)."""
    grid = _grid(x, y, rise)  # syntax first: a mistake there answers before PyTorch loads
    spec = _spec(opts, DirType.weights, norm=norm, ignore_biasbn=ignore == Ignore.biasbn and not no_ignore, seed=seed)
    from landscape.plane.sources import FilePlane, RandomPlane, TargetPlane

    if y_target is not None and x_target is None:
        raise LandscapeError("--y-target needs --x-target")
    plane = (FilePlane(directions, direction_scale, spec) if directions is not None
             else TargetPlane(x_target, y_target, spec) if x_target is not None else RandomPlane(spec))
    if direction_scale != Scale.unit and directions is None:
        raise LandscapeError("--direction-scale applies to a Hessian file's eigenvectors only")
    job = dataclasses.replace(_template(checkpoint, Path("outputs") / f"{_stem(checkpoint)}.surface.h5", spec, opts),
                              grid=grid, plane=plane, split_data=split_data, eigen_map=eigen_map)
    _finish(job, opts)


@app.command(cls=_Command)
@options(_model_options, _surface_options)
def trajectory(
    checkpoints: Annotated[list[str], typer.Argument(metavar="CHECKPOINTS",
                           help="The checkpoints of a run (files or globs), or one folder per run.")],
    final: Annotated[Optional[Path], typer.Option("--final", metavar="CKPT",
                     help="The model at the centre (default: the first run's last checkpoint).")] = None,
    ignore: Annotated[Ignore, typer.Option("--ignore", help="biasbn: leave 1-D tensors out of the PCA.")] = Ignore.biasbn,
    x: Annotated[Optional[str], typer.Option("--x", metavar="MIN:MAX:NUM",
                 help="Coordinates, or auto: fitted around the paths.")] = "auto",
    y: Annotated[Optional[str], typer.Option("--y", metavar="MIN:MAX:NUM",
                 help="Coordinates, or auto: fitted around the paths.")] = "auto",
    resolution: Annotated[int, typer.Option("--resolution", metavar="N", help="Points per fitted axis.")] = 31,
    **opts: Any,
) -> None:
    """Project training runs onto their two principal directions and compute the surface in that plane."""
    from landscape.inputs.checkpoints import find_runs
    from landscape.run.job import trajectory_job

    runs, names = find_runs(checkpoints)
    centre = Path(final) if final is not None else runs[0][-1]
    template = _template(centre, Path("outputs") / f"{centre.stem}.trajectory.h5", _spec(opts, DirType.weights), opts)
    job = trajectory_job(template, runs, names, final, _maybe_axis(x, "x"), _maybe_axis(y, "y"), resolution,
                         ignore == Ignore.biasbn)
    _finish(job, opts)


@app.command(cls=_Command)
@options(_model_options, _surface_options)
def interpolate(
    models: Annotated[list[Path], typer.Argument(metavar="MODELS",
                      help="Two checkpoints A B (the line A→B) or three A B C (the plane through them).")],
    x: Annotated[Optional[str], typer.Option("--x", metavar="MIN:MAX:NUM",
                 help="Coordinates (default -0.5:1.5:41, or fitted for three models).")] = None,
    y: Annotated[Optional[str], typer.Option("--y", metavar="MIN:MAX:NUM",
                 help="Coordinates for three models (default: fitted).")] = None,
    resolution: Annotated[int, typer.Option("--resolution", metavar="N", help="Points per fitted axis.")] = 31,
    **opts: Any,
) -> None:
    """Loss along the line from model A (x=0) to B (x=1), or over the plane through A, B and C."""
    from landscape.run.job import interpolation_job

    if len(models) not in (2, 3):
        raise LandscapeError(f"interpolate takes two or three checkpoints, got {len(models)}")
    out = Path("outputs") / ("_".join(m.stem for m in models) + ".interpolation.h5")
    job = interpolation_job(_template(models[0], out, _spec(opts, DirType.states), opts), models,
                            _maybe_axis(x, "x"), _maybe_axis(y, "y"), resolution)
    note = job.plane.directions.extra.get("note")
    if note and not opts["quiet"]:
        err_console.print(f"note: {note}", soft_wrap=True)
    _finish(job, opts)


def _check_outputs(paths: list[Path], overwrite: bool) -> set[Path]:
    """Before any work: each output can be written (its folder made and writable, not a folder
    itself) and is new, or `overwrite` allows replacing it. Returns those that will be replaced."""
    from landscape.store.surface_file import check_writable

    there = set()
    for p in paths:
        check_writable(p)
        if p.exists() or p.is_symlink():
            if not overwrite:
                raise LandscapeError(f"{p} already exists; pass --overwrite to replace it, or choose another --out")
            there.add(p)
    return there


def _wrote(path: Path, replaced: set[Path]) -> str:
    return f"{'replaced' if path in replaced else 'wrote'} {path}"


def _curvature_job(opts: dict, params: Optional[str], trainable_only: bool) -> Any:
    from landscape.inputs.checkpoint import ModelSpec
    from landscape.run.curvature import CurvatureJob
    from landscape.inputs.data import DataSpec
    from landscape.inputs.params import ParamSelection
    from landscape.engine import EvalSettings
    from landscape.inputs.objective import Loss

    return CurvatureJob(
        model=ModelSpec(opts["model"], opts["model_kwargs"]),
        data=DataSpec(opts["data"], opts["split"], opts["samples"], root=opts["data_root"], download=opts["download"]),
        loss=Loss(opts["loss"], opts["eval_fn"]),
        evaluation=EvalSettings(opts["device"], opts["precision"], opts["batch_size"]),
        subset=ParamSelection(params, trainable_only),
        trust_checkpoint=opts["trust_checkpoint"],
    )


@app.command(cls=_Command)
@options(_model_options)
def hessian(
    checkpoint: Annotated[Path, typer.Argument(metavar="CHECKPOINT", help="The model whose Hessian to compute.")],
    top_k: Annotated[int, typer.Option("--top-k", metavar="K", help="Top eigenvalues and eigenvectors (Lanczos).")] = 5,
    steps: Annotated[int, typer.Option("--steps", metavar="N",
                     help="Lanczos steps at most (it stops when the top K converge).")] = 100,
    trace: Annotated[bool, typer.Option("--trace", help="Hutchinson's trace estimate, with its standard "
                                                        "error.")] = False,
    probes: Annotated[int, typer.Option("--probes", metavar="N", help="Rademacher probes of the trace.")] = 100,
    density: Annotated[bool, typer.Option("--density", help="Spectral density by stochastic Lanczos "
                                                            "quadrature.")] = False,
    density_steps: Annotated[int, typer.Option("--density-steps", metavar="N",
                             help="Lanczos steps of each of the density's 4 runs.")] = 64,
    per_layer: Annotated[bool, typer.Option("--per-layer", help="Top eigenvalue and trace of each parameter "
                                                                "tensor.")] = False,
    params: Annotated[Optional[str], typer.Option("--params", metavar="REGEX",
                      help="The Hessian over the parameters whose names match only.")] = None,
    trainable_only: Annotated[bool, typer.Option("--trainable-only", help="Over parameters that require grad "
                                                                          "only.")] = False,
    seed: Annotated[int, typer.Option("--seed", metavar="N", help="Seed of the random start and probes.")] = 0,
    hvp: Annotated[HvpMode, typer.Option("--hvp", help="Hessian-vector products: forward (forward-over-"
                                                       "reverse) or reverse (double backward; measured faster "
                                                       "on CPUs).")] = HvpMode.forward,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")] = False,
    plot: Annotated[bool, typer.Option("--plot", help="Draw the spectral density (with --density).")] = False,
    **opts: Any,
) -> None:
    """Top Hessian eigenvalues and eigenvectors, trace, spectral density; written to an HDF5 file."""
    from landscape.run.curvature import describe_result, hessian_file
    from landscape.curvature.hessian import HessianSettings

    settings = HessianSettings(top_k=top_k, max_steps=steps, trace=trace, probes=probes, density=density,
                               density_steps=density_steps, per_layer=per_layer, seed=seed, hvp_mode=hvp)
    out = opts["out"] or Path("outputs") / f"{_stem(checkpoint)}.hessian.h5"
    replaced = _check_outputs([out], overwrite)
    figure_path = out.with_name(out.name.removesuffix(".h5") + ".density.png")
    replaced |= _check_outputs([figure_path] if plot and density else [], overwrite)
    quiet = opts["quiet"]
    bar = _progress(quiet)
    task: dict[str, int] = {}
    _on_interrupt(lambda: "nothing was saved (the Hessian file is written when all of it is done)")

    with _stoppable() as check:
        def progress(done: int, total: int) -> None:
            check()
            if not task:
                bar.start()
                task["id"] = bar.add_task("Hessian-vector products", total=total, rate="")
            bar.update(task["id"], completed=done, total=total)

        try:
            result = hessian_file(_curvature_job(opts, params, trainable_only), checkpoint, settings, out, progress)
        finally:
            if task:
                bar.stop()
        _on_interrupt(lambda: f"the Hessian is complete and saved in {out}")
    if not quiet:
        out_console.print("\n".join(describe_result(result)), highlight=False, soft_wrap=True)
        out_console.print(_wrote(out, replaced), highlight=False, soft_wrap=True)
    if plot and density:
        from landscape import plot as plotting

        _on_interrupt(lambda: f"{out} is saved; the density figure was not drawn")
        figure = plotting.density_figure(result.density_grid, result.density, result.eigenvalues)
        path = plotting.save_figure(figure, figure_path)
        if not quiet:
            out_console.print(_wrote(path, replaced), highlight=False, soft_wrap=True)
    elif plot and not quiet:
        err_console.print("note: --plot draws the spectral density: add --density")


@app.command(cls=_Command)
@options(_model_options)
def sharpness(
    checkpoints: Annotated[list[Path], typer.Argument(metavar="CHECKPOINTS", help="One row per checkpoint.")],
    epsilon: Annotated[float, typer.Option("--epsilon", metavar="EPS",
                       help="ε-sharpness box: |δ_i| ≤ ε(|θ_i| + 1) (Keskar et al. 2017).")] = 1e-3,
    ascent_steps: Annotated[int, typer.Option("--ascent-steps", metavar="N",
                            help="Projected gradient-ascent steps inside the box.")] = 10,
    radius: Annotated[float, typer.Option("--radius", metavar="R",
                      help="Radius of the random filter-normalized directions.")] = 0.1,
    directions: Annotated[int, typer.Option("--directions", metavar="N", help="Random directions (0: none).")] = 10,
    probes: Annotated[int, typer.Option("--probes", metavar="N", help="Rademacher probes of the trace.")] = 100,
    params: Annotated[Optional[str], typer.Option("--params", metavar="REGEX",
                      help="Only the parameters whose names match.")] = None,
    trainable_only: Annotated[bool, typer.Option("--trainable-only", help="Only parameters that require "
                                                                          "grad.")] = False,
    seed: Annotated[int, typer.Option("--seed", metavar="N", help="Seed of the directions and the "
                                                                  "ascent's start.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing table files.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", metavar="PREFIX", help="Writes PREFIX.csv, .md and .tex "
                                                "(default: outputs/sharpness).")] = None,
    **opts: Any,
) -> None:
    """A table of sharpness numbers, one row per checkpoint: PREFIX.csv, .md and .tex (booktabs)."""
    from landscape.run.curvature import sharpness_table
    from landscape.plane.directions import DirectionSpec
    from landscape.curvature.hessian import HessianSettings
    from landscape.curvature.sharpness import SharpnessSettings

    settings = SharpnessSettings(epsilon=epsilon, ascent_steps=ascent_steps, seed=seed, radius=radius,
                                 directions=directions, direction_spec=DirectionSpec(seed=seed),
                                 hessian=HessianSettings(top_k=1, trace=True, probes=probes, seed=seed))
    prefix = out or Path("outputs") / "sharpness"
    if prefix.name in ("", ".", ".."):
        raise LandscapeError(f"--out {str(out)!r} must be a prefix of file names, such as outputs/sharpness "
                             "(it writes PREFIX.csv, PREFIX.md and PREFIX.tex)")
    tables = [prefix.with_name(prefix.name + s) for s in (".csv", ".md", ".tex")]
    replaced = _check_outputs(tables, overwrite)
    quiet = opts["quiet"]
    finished: list[Any] = []

    def on_row(row: Any) -> None:
        finished.append(row)
        if not quiet:
            err_console.print(f"{row.name}: loss {row.loss:.4g}, top eigenvalue {row.top_eigenvalue:.4g}, trace "
                              f"{row.trace:.4g} ± {row.trace_stderr:.2g}, ε-sharpness {row.eps_sharpness:.3g}",
                              highlight=False, soft_wrap=True)

    _on_interrupt(lambda: (f"the {len(finished)} finished row(s) of {len(checkpoints)} are saved in "
                           f"{prefix}.csv, .md and .tex (run again with --overwrite for every row)" if finished
                           else "nothing was saved (no row was finished)"))
    with _stoppable() as check:
        written = sharpness_table(_curvature_job(opts, params, trainable_only), checkpoints, settings, prefix, on_row,
                                  check)
    if not quiet:
        out_console.print(Path(written[1]).read_text(), highlight=False, soft_wrap=True)
        for path in written:
            out_console.print(_wrote(path, replaced), highlight=False, soft_wrap=True)


@app.command(cls=_Command)
def plot(
    files: Annotated[list[Path], typer.Argument(metavar="FILES", help="Surface files (several with --compare).")],
    kind: Annotated[Optional[str], typer.Option("--kind", metavar="KINDS",
                    help="Comma-separated: contour, filled, heatmap, surface, line, barcode, vtk, obj, ply, html, "
                         "or all (default: by file).")] = None,
    metric: Annotated[str, typer.Option("--metric", metavar="NAME",
                      help="loss, acc, eig_max, eig_min or eig_ratio.")] = "loss",
    log: Annotated[bool, typer.Option("--log", help="Log scale for the loss.")] = False,
    vmin: Annotated[Optional[float], typer.Option("--vmin", metavar="V", help="Lowest contour level / colour.")] = None,
    vmax: Annotated[Optional[float], typer.Option("--vmax", metavar="V", help="Highest contour level / colour.")] = None,
    levels: Annotated[Optional[int], typer.Option("--levels", metavar="N", help="Number of contour levels.")] = None,
    vlevel: Annotated[Optional[float], typer.Option("--vlevel", metavar="STEP",
                      help="Step between contour levels (the paper: 0.5).")] = None,
    cmap: Annotated[Optional[str], typer.Option("--cmap", metavar="NAME", help="Matplotlib colormap.")] = None,
    format: Annotated[str, typer.Option("--format", metavar="FORMATS", help="png, pdf, svg (comma-separated).")] = "png",
    dpi: Annotated[int, typer.Option("--dpi", metavar="N", help="Resolution of raster images.")] = 150,
    size: Annotated[Optional[str], typer.Option("--size", metavar="W,H", help="Figure size in inches.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", metavar="DIR",
                   help="Folder for the figures (default: next to the file).")] = None,
    title: Annotated[Optional[str], typer.Option("--title", metavar="TEXT", help="Figure title.")] = None,
    elev: Annotated[Optional[float], typer.Option("--elev", metavar="DEG", help="3-D view elevation.")] = None,
    azim: Annotated[Optional[float], typer.Option("--azim", metavar="DEG", help="3-D view azimuth.")] = None,
    zmax: Annotated[Optional[float], typer.Option("--zmax", metavar="V", help="Clip the 3-D surface at this "
                                                                              "value.")] = None,
    epoch_labels: Annotated[bool, typer.Option("--epoch-labels", help="Label trajectory points with their "
                                                                      "epoch.")] = False,
    compare: Annotated[bool, typer.Option("--compare", help="Several surfaces side by side on one colour "
                                                            "scale.")] = False,
    threshold: Annotated[Optional[float], typer.Option("--threshold", metavar="LOSS",
                         help="Barcode: the persistence a basin needs to count (default: 5% of the range).")] = None,
) -> None:
    """Draw figures of surface files: contours, heatmap, 3-D surface, 1-D line, barcode, 3-D exports."""
    from landscape import store
    from landscape.plot import PlotOptions, describe, render_compare, render_file

    try:
        dims = tuple(float(v) for v in _csv(size)) if size else None
    except ValueError:
        raise LandscapeError(f"--size {size!r} must be two numbers W,H in inches, like 6,5") from None
    options = PlotOptions(_csv(kind), metric, log, vmin, vmax, levels, vlevel, cmap, _csv(format), dpi, title,
                          elev, azim, zmax, epoch_labels, dims, threshold)
    if len(files) > 1 and not compare:
        raise LandscapeError(f"{len(files)} files given: add --compare to draw them side by side, or give one")
    _on_interrupt(lambda: FIGURES_WHOLE)
    for f in files:
        missing = describe(store.read_surface(f))
        if missing:
            out_console.print(f"note: {f}: {missing}", highlight=False, soft_wrap=True)
    written = render_compare(files, options, out) if compare else render_file(files[0], options, out)
    for path in written:
        verb = "replaced" if path in written.replaced else "wrote"
        out_console.print(f"{verb} {path}", highlight=False, soft_wrap=True)


@app.command(cls=_Command)
def info(file: Annotated[Path, typer.Argument(metavar="FILE", help="A surface or Hessian file.")]) -> None:
    """Summarize a surface file (grid, settings, plan, progress, loss, basins) or a Hessian file."""
    from landscape.run.info import summary

    out_console.print(summary(file), highlight=False, soft_wrap=True)


@app.command(cls=_Command)
def demo(
    out_dir: Annotated[Path, typer.Option("--out-dir", metavar="DIR",
                       help="Where the demo writes checkpoints, surfaces and figures.")] = Path("outputs/demo"),
    epochs: Annotated[int, typer.Option("--epochs", metavar="N", help="Training epochs.")] = 8,
    quiet: Annotated[bool, typer.Option("--quiet", help="Less output.")] = False,
) -> None:
    """Train a small CNN on the bundled digits (CPU, seconds), then compute its landscape."""
    from landscape import store
    from landscape.run.demo import DemoSettings, run_demo
    from landscape.engine import tune_cpu_allocator

    if epochs < 3:
        raise LandscapeError(f"--epochs must be at least 3 (the trajectory plane needs three checkpoints), got {epochs}")
    store.check_writable(out_dir / "demo.surface.h5")
    settings = DemoSettings(out_dir=out_dir, epochs=epochs)
    before = {p for p in out_dir.iterdir()} if out_dir.is_dir() else set()  # the demo's own folder: replaced, said so
    _on_interrupt(lambda: f"the demo stopped; run it again to start over (it replaces what it wrote in {out_dir})")

    tune_cpu_allocator()
    with _progress(quiet) as bar, _quiet_warnings(quiet):
        def on_epoch(epoch: int, loss: float, acc: float) -> None:
            if not quiet:
                bar.console.print(f"epoch {epoch}: train loss {loss:.4f}, test accuracy {acc:.1f}%", highlight=False)

        def progress(name: str):  # type: ignore[no-untyped-def]
            task = bar.add_task(name, total=None, rate="")
            return lambda done, total: bar.update(task, completed=done, total=total)

        result = run_demo(settings, on_epoch, progress)
    if not quiet:
        for r in (result.surface, result.trajectory, result.interpolation):
            out_console.print(f"{_wrote(r.path, before)} ({r.total} points, {r.seconds:.1f} s)", highlight=False)
        for f in result.figures:
            out_console.print(_wrote(f, before), highlight=False)
        verb = "replaced" if out_dir / "epoch_1.pt" in before else "wrote"
        out_console.print(f"checkpoints ({verb}): {out_dir}/epoch_1.pt ... epoch_{epochs}.pt", highlight=False)
        out_console.print(f"next: landscape info {result.surface.path}", highlight=False)


def _plot_defaults(path: Path, quiet: bool) -> None:
    from landscape.plot import PlotOptions, render_file

    written = render_file(path, PlotOptions())
    for p in written:
        if not quiet:
            out_console.print(f"{'replaced' if p in written.replaced else 'wrote'} {p}", highlight=False, soft_wrap=True)


def main() -> None:
    user_code_importable()  # `python -m` put the working folder first; the installed packages go first
    app(prog_name="landscape")


if __name__ == "__main__":
    sys.exit(main())
