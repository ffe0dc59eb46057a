"""`landscape hessian` and `sharpness`: curvature numbers of checkpoints, loaded the way
`compute` loads them, by `landscape.run.curvature`. The first Ctrl-C stops the work at its
next step, so what is finished is saved and said."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from landscape.choices import HvpMode
from landscape.cli import options as opt
from landscape.cli.console import note, say, tell
from landscape.cli.flags import flagged
from landscape.cli.interrupts import on_interrupt, stoppable
from landscape.cli.outputs import OUTPUTS, check_outputs, stem, wrote
from landscape.cli.progress import Progress
from landscape.errors import LandscapeError
from landscape.inputs.importing import user_code_importable

Probes = Annotated[int, typer.Option("--probes", metavar="N", help="Rademacher probes of the trace.")]


def hessian(
    checkpoint: Annotated[Path, typer.Argument(metavar="CHECKPOINT", help="The model whose Hessian to compute.")],
    top_k: Annotated[int, typer.Option("--top-k", metavar="K", help="Top eigenvalues and eigenvectors (Lanczos).")] = 5,
    steps: Annotated[int, typer.Option("--steps", metavar="N",
                     help="Lanczos steps at most (it stops when the top K converge).")] = 100,
    trace: Annotated[bool, typer.Option("--trace", help="Hutchinson's trace estimate, with its standard "
                                                        "error.")] = False,
    probes: Probes = 100,
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
                                                       "reverse), reverse (double backward; measured faster on "
                                                       "CPUs), auto (reverse on CPUs, forward elsewhere) or fd "
                                                       "(finite differences of gradients: no double backward, "
                                                       "for fused attention).")] = HvpMode.auto,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")] = False,
    plot: Annotated[bool, typer.Option("--plot", help="Draw the spectral density (with --density).")] = False,
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
) -> None:
    """Top Hessian eigenvalues and eigenvectors, trace, spectral density; written to an HDF5 file."""
    loading = opt.ModelOptions.of(locals())
    user_code_importable(loading.user_code())
    from landscape.curvature import HessianSettings
    from landscape.inputs.params import ParamSelection
    from landscape.run.curvature import density_figure_path, describe_result, hessian_file

    settings = HessianSettings(top_k=top_k, max_steps=steps, trace=trace, probes=probes, density=density,
                               density_steps=density_steps, per_layer=per_layer, seed=seed, hvp_mode=hvp)
    out = out or OUTPUTS / f"{stem(checkpoint)}.hessian.h5"
    replaced = check_outputs([out], overwrite)
    figure_path = density_figure_path(out)
    replaced |= check_outputs([figure_path] if plot and density else [], overwrite)
    on_interrupt(lambda: "nothing was saved (the Hessian file is written when all of it is done)")

    with stoppable() as check, Progress(quiet) as progress:
        tick = progress.task("Hessian-vector products")

        def update(done: int, total: int) -> None:
            check()
            tick(done, total)

        result = hessian_file(loading.curvature_job(ParamSelection(params, trainable_only)), checkpoint, settings, out,
                              update)
        progress.stop()
        on_interrupt(lambda: f"the Hessian is complete and saved in {out}")
    if not quiet:
        say("\n".join(describe_result(result, render=flagged)))
        say(wrote(out, replaced))
    if plot and density:
        from landscape import plot as plotting

        on_interrupt(lambda: f"{out} is saved; the density figure was not drawn")
        written = plotting.render_hessian(out, out_dir=figure_path.parent)  # as `landscape plot FILE.hessian.h5`
        if not quiet:
            for path in written:
                say(wrote(path, replaced))
    elif plot and not quiet:
        note("--plot draws the spectral density: add --density")


def sharpness(
    checkpoints: Annotated[list[Path], typer.Argument(metavar="CHECKPOINTS", help="One row per checkpoint.")],
    epsilon: Annotated[float, typer.Option("--epsilon", metavar="EPS",
                       help="ε-sharpness box: |δ_i| ≤ ε(|θ_i| + 1) (Keskar et al. 2017).")] = 1e-3,
    ascent_steps: Annotated[int, typer.Option("--ascent-steps", metavar="N",
                            help="Projected gradient-ascent steps inside the box.")] = 10,
    radius: Annotated[float, typer.Option("--radius", metavar="R",
                      help="Radius of the random filter-normalized directions.")] = 0.1,
    directions: Annotated[int, typer.Option("--directions", metavar="N", help="Random directions (0: none).")] = 10,
    probes: Probes = 100,
    params: Annotated[Optional[str], typer.Option("--params", metavar="REGEX",
                      help="Only the parameters whose names match.")] = None,
    trainable_only: Annotated[bool, typer.Option("--trainable-only", help="Only parameters that require "
                                                                          "grad.")] = False,
    seed: Annotated[int, typer.Option("--seed", metavar="N", help="Seed of the directions and the "
                                                                  "ascent's start.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing table files.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", metavar="PREFIX", help="Writes PREFIX.csv, .md and .tex "
                                                "(default: outputs/sharpness).")] = None,
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
    quiet: opt.Quiet = False,
) -> None:
    """A table of sharpness numbers, one row per checkpoint: PREFIX.csv, .md and .tex (booktabs)."""
    loading = opt.ModelOptions.of(locals())
    user_code_importable(loading.user_code())
    from landscape.curvature import HessianSettings, SharpnessSettings
    from landscape.inputs.params import ParamSelection
    from landscape.plane.directions import DirectionSpec
    from landscape.run.curvature import sharpness_table

    settings = SharpnessSettings(epsilon=epsilon, ascent_steps=ascent_steps, seed=seed, radius=radius,
                                 directions=directions, direction_spec=DirectionSpec(seed=seed),
                                 hessian=HessianSettings(top_k=1, trace=True, probes=probes, seed=seed))
    prefix = out or OUTPUTS / "sharpness"
    if prefix.name in ("", ".", ".."):
        raise LandscapeError(f"--out {str(out)!r} must be a prefix of file names, such as outputs/sharpness "
                             "(it writes PREFIX.csv, PREFIX.md and PREFIX.tex)")
    tables = [prefix.with_name(prefix.name + s) for s in (".csv", ".md", ".tex")]
    replaced = check_outputs(tables, overwrite)
    finished: list[Any] = []

    def on_row(row: Any) -> None:
        finished.append(row)
        if not quiet:
            tell(f"{row.name}: loss {row.loss:.4g}, top eigenvalue {row.top_eigenvalue:.4g}, trace "
                 f"{row.trace:.4g} ± {row.trace_stderr:.2g}, ε-sharpness {row.eps_sharpness:.3g}")

    on_interrupt(lambda: (f"the {len(finished)} finished row(s) of {len(checkpoints)} are saved in "
                          f"{prefix}.csv, .md and .tex (run again with --overwrite for every row)" if finished
                          else "nothing was saved (no row was finished)"))
    with stoppable() as check:
        table = sharpness_table(loading.curvature_job(ParamSelection(params, trainable_only)), checkpoints, settings,
                                prefix, on_row, check)
    if not quiet:
        say(table.markdown)
        for path in table.paths:
            say(wrote(path, replaced))
