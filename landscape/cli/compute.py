"""`landscape compute`, `trajectory` and `interpolate`: a surface around a checkpoint, in a
plane of random or target directions, of training runs' principal directions, or through
models. Each command turns its syntax into a `ComputeJob` and calls `landscape.run.compute`."""

from __future__ import annotations

import dataclasses
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from landscape.choices import DirType, Norm, Scale
from landscape.cli import options as opt
from landscape.cli import syntax
from landscape.cli.console import note, rank0, say
from landscape.cli.flags import flagged
from landscape.cli.interrupts import FIGURES_WHOLE, on_interrupt, resumable
from landscape.cli.outputs import OUTPUTS, stem, wrote
from landscape.cli.progress import Progress
from landscape.errors import LandscapeError
from landscape.inputs.importing import user_code_importable

if TYPE_CHECKING:
    from landscape.plane.directions import DirectionSpec
    from landscape.run.compute import ComputeResult
    from landscape.run.job import ComputeJob


class Ignore(str, Enum):
    biasbn = "biasbn"
    none = "none"


Resolution = Annotated[int, typer.Option("--resolution", metavar="N", help="Points per fitted axis.")]


def compute(
    checkpoint: Annotated[Path, typer.Argument(metavar="CHECKPOINT",
                          help="A state dict (.pt/.pth/.ckpt), .safetensors, TorchScript, a folder, or a "
                               "Hugging Face model or peft adapter folder (built with no code).")],
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
    fsdp: Annotated[bool, typer.Option("--fsdp", help="Under torchrun: shard the model across the ranks (FSDP), for "
                                                      "models larger than one device; splits the data too.")] = False,
    model: opt.Model = opt.MODEL.model,
    model_kwargs: opt.ModelKwargs = opt.MODEL.model_kwargs,
    trust_checkpoint: opt.TrustCheckpoint = opt.MODEL.trust_checkpoint,
    data: opt.Data = opt.MODEL.data,
    data_root: opt.DataRoot = opt.MODEL.data_root,
    download: opt.Download = opt.MODEL.download,
    split: opt.Split = opt.MODEL.split,
    samples: opt.Samples = opt.MODEL.samples,
    batch_size: opt.BatchSize = opt.MODEL.batch_size,
    loss: opt.Loss = opt.MODEL.loss,
    eval_fn: opt.Eval = opt.MODEL.eval_fn,
    device: opt.Device = opt.MODEL.device,
    precision: opt.Precision = opt.MODEL.precision,
    seq_len: opt.SeqLen = opt.MODEL.seq_len,
    text_field: opt.TextField = opt.MODEL.text_field,
    tokenizer: opt.Tokenizer = opt.MODEL.tokenizer,
    merge_adapter: opt.MergeAdapter = opt.MODEL.merge_adapter,
    out: opt.Out = None,
    quiet: opt.Quiet = False,
    dir_type: opt.DirType = opt.SURFACE.dir_type,
    params: opt.Params = opt.SURFACE.params,
    trainable_only: opt.TrainableOnly = opt.SURFACE.trainable_only,
    launch: opt.Launch = opt.SURFACE.launch,
    points_per_launch: opt.PointsPerLaunch = opt.SURFACE.points_per_launch,
    compile: opt.Compile = opt.SURFACE.compile,
    fold_bn: opt.FoldBn = opt.SURFACE.fold_bn,
    channels_last: opt.ChannelsLast = opt.SURFACE.channels_last,
    lean: opt.Lean = opt.SURFACE.lean,
    overwrite: opt.Overwrite = opt.SURFACE.overwrite,
    plot: opt.Plot = opt.SURFACE.plot,
    dry_run: opt.DryRun = opt.SURFACE.dry_run,
) -> None:
    """Compute the loss surface around CHECKPOINT and write it to an HDF5 file (resumable)."""
    grid = syntax.grid(x, y, rise)  # syntax first: a mistake there answers before PyTorch loads
    if directions is not None and (x_target is not None or y_target is not None):
        raise LandscapeError("--directions gives the whole plane: drop --x-target/--y-target, or --directions")
    if y_target is not None and x_target is None:
        raise LandscapeError("--y-target needs --x-target")
    if direction_scale != Scale.unit and directions is None:
        raise LandscapeError("--direction-scale applies to a Hessian file's eigenvectors only: add --directions FILE")
    loading = opt.ModelOptions.of(locals())
    user_code_importable(loading.user_code())
    surface = opt.SurfaceOptions.of(locals())
    spec = surface.direction_spec(DirType.weights, norm=norm, ignore_biasbn=ignore == Ignore.biasbn and not no_ignore,
                                  seed=seed)
    from landscape.plane.sources import FilePlane, RandomPlane, TargetPlane

    plane = (FilePlane(directions, direction_scale, spec) if directions is not None
             else TargetPlane(x_target, y_target, spec) if x_target is not None else RandomPlane(spec))
    job = job_template(loading, surface, checkpoint, out or OUTPUTS / f"{stem(checkpoint)}.surface.h5", spec)
    finish(dataclasses.replace(job, grid=grid, plane=plane, split_data=split_data, eigen_map=eigen_map,
                               fsdp=fsdp), surface,
           quiet)


def trajectory(
    ctx: typer.Context,
    checkpoints: Annotated[list[str], typer.Argument(metavar="CHECKPOINTS",
                           help="The checkpoints of a run (files or globs), or one folder per run (a folder "
                                "recorded by landscape.callbacks needs no --model or --data).")],
    final: Annotated[Optional[Path], typer.Option("--final", metavar="CKPT",
                     help="The model at the centre (default: the first run's last checkpoint).")] = None,
    ignore: Annotated[Ignore, typer.Option("--ignore", help="biasbn: leave 1-D tensors out of the PCA.")] = Ignore.biasbn,
    x: Annotated[Optional[str], typer.Option("--x", metavar="MIN:MAX:NUM",
                 help="Coordinates, or auto: fitted around the paths.")] = "auto",
    y: Annotated[Optional[str], typer.Option("--y", metavar="MIN:MAX:NUM",
                 help="Coordinates, or auto: fitted around the paths.")] = "auto",
    resolution: Resolution = 31,
    model: opt.Model = opt.MODEL.model,
    model_kwargs: opt.ModelKwargs = opt.MODEL.model_kwargs,
    trust_checkpoint: opt.TrustCheckpoint = opt.MODEL.trust_checkpoint,
    data: opt.Data = opt.MODEL.data,
    data_root: opt.DataRoot = opt.MODEL.data_root,
    download: opt.Download = opt.MODEL.download,
    split: opt.Split = opt.MODEL.split,
    samples: opt.Samples = opt.MODEL.samples,
    batch_size: opt.BatchSize = opt.MODEL.batch_size,
    loss: opt.Loss = opt.MODEL.loss,
    eval_fn: opt.Eval = opt.MODEL.eval_fn,
    device: opt.Device = opt.MODEL.device,
    precision: opt.Precision = opt.MODEL.precision,
    seq_len: opt.SeqLen = opt.MODEL.seq_len,
    text_field: opt.TextField = opt.MODEL.text_field,
    tokenizer: opt.Tokenizer = opt.MODEL.tokenizer,
    merge_adapter: opt.MergeAdapter = opt.MODEL.merge_adapter,
    out: opt.Out = None,
    quiet: opt.Quiet = False,
    dir_type: opt.DirType = opt.SURFACE.dir_type,
    params: opt.Params = opt.SURFACE.params,
    trainable_only: opt.TrainableOnly = opt.SURFACE.trainable_only,
    launch: opt.Launch = opt.SURFACE.launch,
    points_per_launch: opt.PointsPerLaunch = opt.SURFACE.points_per_launch,
    compile: opt.Compile = opt.SURFACE.compile,
    fold_bn: opt.FoldBn = opt.SURFACE.fold_bn,
    channels_last: opt.ChannelsLast = opt.SURFACE.channels_last,
    lean: opt.Lean = opt.SURFACE.lean,
    overwrite: opt.Overwrite = opt.SURFACE.overwrite,
    plot: opt.Plot = opt.SURFACE.plot,
    dry_run: opt.DryRun = opt.SURFACE.dry_run,
) -> None:
    """Project training runs onto their two principal directions and compute the surface in that plane."""
    loading = opt.ModelOptions.of(locals())
    user_code_importable(loading.user_code())
    loading = recorded_defaults(loading, checkpoints, ctx.get_parameter_source("data").name == "DEFAULT")
    surface = opt.SurfaceOptions.of(locals())
    from landscape.inputs.checkpoints import find_runs
    from landscape.run.job import trajectory_job

    runs, names = find_runs(checkpoints)
    centre = Path(final) if final is not None else runs[0][-1]
    template = job_template(loading, surface, centre, out or OUTPUTS / f"{centre.stem}.trajectory.h5",
                            surface.direction_spec(DirType.weights))
    job = trajectory_job(template, runs, names, final, syntax.fitted_axis(x, "x"), syntax.fitted_axis(y, "y"),
                         resolution, ignore == Ignore.biasbn)
    finish(job, surface, quiet)


def interpolate(
    models: Annotated[list[Path], typer.Argument(metavar="MODELS",
                      help="Two checkpoints A B (the line A→B) or three A B C (the plane through them).")],
    x: Annotated[Optional[str], typer.Option("--x", metavar="MIN:MAX:NUM",
                 help="Coordinates (default -0.5:1.5:41, or fitted for three models).")] = None,
    y: Annotated[Optional[str], typer.Option("--y", metavar="MIN:MAX:NUM",
                 help="Coordinates for three models (default: fitted).")] = None,
    resolution: Resolution = 31,
    model: opt.Model = opt.MODEL.model,
    model_kwargs: opt.ModelKwargs = opt.MODEL.model_kwargs,
    trust_checkpoint: opt.TrustCheckpoint = opt.MODEL.trust_checkpoint,
    data: opt.Data = opt.MODEL.data,
    data_root: opt.DataRoot = opt.MODEL.data_root,
    download: opt.Download = opt.MODEL.download,
    split: opt.Split = opt.MODEL.split,
    samples: opt.Samples = opt.MODEL.samples,
    batch_size: opt.BatchSize = opt.MODEL.batch_size,
    loss: opt.Loss = opt.MODEL.loss,
    eval_fn: opt.Eval = opt.MODEL.eval_fn,
    device: opt.Device = opt.MODEL.device,
    precision: opt.Precision = opt.MODEL.precision,
    seq_len: opt.SeqLen = opt.MODEL.seq_len,
    text_field: opt.TextField = opt.MODEL.text_field,
    tokenizer: opt.Tokenizer = opt.MODEL.tokenizer,
    merge_adapter: opt.MergeAdapter = opt.MODEL.merge_adapter,
    out: opt.Out = None,
    quiet: opt.Quiet = False,
    dir_type: opt.DirType = opt.SURFACE.dir_type,
    params: opt.Params = opt.SURFACE.params,
    trainable_only: opt.TrainableOnly = opt.SURFACE.trainable_only,
    launch: opt.Launch = opt.SURFACE.launch,
    points_per_launch: opt.PointsPerLaunch = opt.SURFACE.points_per_launch,
    compile: opt.Compile = opt.SURFACE.compile,
    fold_bn: opt.FoldBn = opt.SURFACE.fold_bn,
    channels_last: opt.ChannelsLast = opt.SURFACE.channels_last,
    lean: opt.Lean = opt.SURFACE.lean,
    overwrite: opt.Overwrite = opt.SURFACE.overwrite,
    plot: opt.Plot = opt.SURFACE.plot,
    dry_run: opt.DryRun = opt.SURFACE.dry_run,
) -> None:
    """Loss along the line from model A (x=0) to B (x=1), or over the plane through A, B and C."""
    loading = opt.ModelOptions.of(locals())
    user_code_importable(loading.user_code())
    surface = opt.SurfaceOptions.of(locals())
    from landscape.run.job import interpolation_job

    if len(models) not in (2, 3):
        raise LandscapeError(f"interpolate takes two or three checkpoints, got {len(models)}")
    default = OUTPUTS / ("_".join(m.stem for m in models) + ".interpolation.h5")
    template = job_template(loading, surface, models[0], out or default, surface.direction_spec(DirType.states))
    job = interpolation_job(template, models, syntax.fitted_axis(x, "x"), syntax.fitted_axis(y, "y"), resolution)
    said = job.plane.directions.extra.get("note")
    if said and not quiet:
        note(str(said))
    finish(job, surface, quiet)


# ---------------------------------------------------------------------------------- running a job


def recorded_defaults(loading: opt.ModelOptions, items: list[str], data_default: bool) -> opt.ModelOptions:
    """The network and the data a run recorded by `landscape.callbacks` names (its run.json), where
    the command line does not name them: the first such folder among `items` speaks for all."""
    from landscape.inputs.runs import is_recorded_run, model_spec, read_run

    runs = [read_run(c) for c in items if Path(c).is_dir() and is_recorded_run(c)]
    if not runs:
        return loading
    run, changes = runs[0], {}
    if loading.model is None and run.model_class is not None:
        spec = model_spec(run)
        changes.update(model=spec.factory, model_kwargs=spec.kwargs)
    if data_default and run.data is not None:
        changes["data"] = run.data
    if changes:
        note(f"from {run.folder / 'run.json'}: " + ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in changes.items()
                                                           if v != "{}"))
    return dataclasses.replace(loading, **changes)


def job_template(loading: opt.ModelOptions, surface: opt.SurfaceOptions, checkpoint: Path, out: Path,
                 spec: DirectionSpec) -> ComputeJob:
    """A job from the shared options, in a random plane of `spec` over one point: each command
    sets its grid and plane (the trajectory and interpolation jobs, from this template)."""
    from landscape.plane.grid import Grid
    from landscape.plane.sources import RandomPlane
    from landscape.run.job import ComputeJob

    return ComputeJob(
        checkpoint=checkpoint,
        grid=Grid((0.0,)),
        out=out,
        model=loading.model_spec(),
        data=loading.data_spec(),
        plane=RandomPlane(spec),
        command=" ".join(sys.argv),
        loss=loading.loss_spec(),
        evaluation=loading.evaluation(surface),
        trust_checkpoint=loading.trust_checkpoint,
        overwrite=surface.overwrite,
    )


def finish(job: ComputeJob, surface: opt.SurfaceOptions, quiet: bool) -> None:
    """Run the job (or, with --dry-run, say what it would do), report it, draw its figures."""
    if surface.dry_run:
        print_dry_run(job, quiet)
        return
    result = run(job, quiet)
    print_result(result, quiet)
    on_interrupt(lambda: f"{result.path} is complete; {FIGURES_WHOLE}")
    if surface.plot and rank0():
        plot_defaults(result.path, quiet)


def run(job: ComputeJob, quiet: bool) -> ComputeResult:
    """Run `compute`; the progress bar appears once evaluation starts (after every check passed)."""
    from landscape.engine import tune_cpu_allocator
    from landscape.run.compute import compute

    on_interrupt(resumable(Path(job.out)))
    tune_cpu_allocator()
    with Progress(quiet or not rank0()) as progress:
        return compute(job, progress=progress.task("points", unit="points"), on_note=progress.note, render=flagged)


def print_result(result: ComputeResult, quiet: bool) -> None:
    if quiet or not rank0():
        return
    rate = result.computed / result.seconds if result.seconds > 0 else 0.0
    say(f"wrote {result.path}: {result.computed} points computed in {result.seconds:.1f} s ({rate:.1f} points/s), "
        f"{result.total} in the grid")
    if result.nonfinite:
        say(f"note: {result.nonfinite} computed points have an inf or NaN loss (stored as they are)", soft_wrap=False)


def print_dry_run(job: ComputeJob, quiet: bool) -> None:
    from landscape.run.dry_run import dry_run
    from landscape.run.fill import duration
    from landscape.store.files import size_text

    report = dry_run(job, on_note=None if quiet else note, render=flagged)
    what = "resume" if report.resumes else "compute"
    lines = [f"would {what} {job.out}: {report.points:,} of {report.total:,} points on {report.device}",
             f"estimated {duration(report.seconds)} (timed on a few points), file about {size_text(report.file_bytes)}",
             "plan:"] + [f"  {row}" for row in report.plan.explain()] + ["nothing was written (--dry-run)"]
    say("\n".join(lines))


def plot_defaults(path: Path, quiet: bool) -> None:
    """`--plot`: the default figures of the file just written."""
    from landscape.plot import PlotOptions, render_file

    written = render_file(path, PlotOptions())
    for p in written:
        if not quiet:
            say(wrote(p, written.replaced))
