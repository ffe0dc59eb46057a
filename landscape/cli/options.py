"""The options several commands share, each declared once as a typed alias
(`model: opt.Model = opt.MODEL.model`), and the frozen values the commands build from them:
`ModelOptions` (model, data, loss, evaluation: every command that loads a checkpoint) and
`SurfaceOptions` (every command that computes a surface). The library's settings
(`ModelSpec`, `DataSpec`, `Loss`, `EvalSettings`, `DirectionSpec`, `CurvatureJob`) are made
from these values in one place each.

An option whose help differs by command (`--x`, `--seed`, `--params` of `hessian`) is declared
by its command."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from landscape import choices

if TYPE_CHECKING:
    from landscape.engine import EvalSettings
    from landscape.inputs.checkpoint import ModelSpec
    from landscape.inputs import objective
    from landscape.inputs.data import DataSpec
    from landscape.inputs.params import ParamSelection
    from landscape.plane.directions import DirectionSpec
    from landscape.run.curvature import CurvatureJob

# ---------------------------------------------------------------------------------- model, data, evaluation

Model = Annotated[Optional[str], typer.Option(
    "--model", metavar="PKG.MOD:NAME", help="Model factory: a class or function, pkg.module:name or "
                                            "path/to/file.py:name.")]
ModelKwargs = Annotated[str, typer.Option(
    "--model-kwargs", metavar="JSON", help="Keyword arguments for --model, as a JSON object.")]
TrustCheckpoint = Annotated[bool, typer.Option(
    "--trust-checkpoint", help="Allow checkpoints that run code as they load (pickled modules, TorchScript).")]
Data = Annotated[str, typer.Option(
    "--data", metavar="SOURCE", help="digits, cifar10, mnist, fashion-mnist, FILE.npz/.pt, pkg.module:factory; text: "
                                     "FILE.txt/.jsonl, token ids FILE.npy/.pt, a datasets.save_to_disk folder.")]
DataRoot = Annotated[str, typer.Option("--data-root", metavar="DIR", help="Folder holding torchvision data sets.")]
Download = Annotated[bool, typer.Option("--download", help="Let torchvision download the data set.")]
Split = Annotated[Optional[choices.Split], typer.Option(
    "--split", help="train or test, where the data has both (default: train).")]
Samples = Annotated[Optional[int], typer.Option("--samples", metavar="N", help="A fixed, seeded subset of N samples.")]
BatchSize = Annotated[Optional[int], typer.Option(
    "--batch-size", metavar="N", help="Evaluation batch size (default: by the plan).")]
Loss = Annotated[str, typer.Option(
    "--loss", metavar="NAME", help="cross-entropy, mse, or pkg.module:fn(outputs, targets) -> batch mean.")]
Eval = Annotated[Optional[str], typer.Option(
    "--eval", metavar="PKG.MOD:FN", help="fn(model, batch) -> (loss sum, count[, correct]) for models that are not "
                                         "f(x) -> outputs; replaces --loss.")]
Device = Annotated[str, typer.Option("--device", metavar="DEVICE", help="auto, cpu, cuda or cuda:N.")]
Precision = Annotated[choices.Precision, typer.Option(
    "--precision", help="auto (surfaces: fp32 on a CPU, tf32 on a GPU; curvature: fp32), fp32 (exact), tf32, "
                        "bf16, fp16.")]
SeqLen = Annotated[int, typer.Option("--seq-len", metavar="N", help="Text: tokens per sequence.")]
TextField = Annotated[str, typer.Option("--text-field", metavar="NAME", help="Text: the field of a .jsonl record "
                                                                             "(or dataset column) holding it.")]
Tokenizer = Annotated[Optional[str], typer.Option(
    "--tokenizer", metavar="DIR", help="Text: a tokenizer folder (default: the model folder's).")]
MergeAdapter = Annotated[bool, typer.Option(
    "--merge-adapter", help="A peft adapter folder: move the base weights with the adapter merged in (default: "
                            "the adapter's weights alone move).")]
Out = Annotated[Optional[Path], typer.Option("--out", metavar="FILE", help="Output file.")]
Quiet = Annotated[bool, typer.Option("--quiet", help="No progress, notes or warnings.")]


@dataclass(frozen=True)
class ModelOptions:
    """How a command loads the model and the data and evaluates the loss: the options of every
    command that reads a checkpoint, as one value (the fields' defaults are the options')."""

    model: Optional[str] = None
    model_kwargs: str = "{}"
    trust_checkpoint: bool = False
    data: str = "digits"
    data_root: str = "data"
    download: bool = False
    split: Optional[choices.Split] = None
    samples: Optional[int] = None
    batch_size: Optional[int] = None
    loss: str = "cross-entropy"
    eval_fn: Optional[str] = None
    device: str = "auto"
    precision: choices.Precision = choices.Precision.auto
    seq_len: int = 128
    text_field: str = "text"
    tokenizer: Optional[str] = None
    merge_adapter: bool = False

    @classmethod
    def of(cls, arguments: dict[str, Any]) -> Any:
        """This group's options among a command's arguments (its `locals()`)."""
        return cls(**{f.name: arguments[f.name] for f in dataclasses.fields(cls)})

    def user_code(self) -> tuple[Optional[str], ...]:
        """What may name the user's own code: `--model`, `--data`, `--loss`, `--eval`."""
        return (self.model, self.data, self.loss, self.eval_fn)

    def model_spec(self) -> ModelSpec:
        from landscape.inputs.checkpoint import ModelSpec

        return ModelSpec(self.model, self.model_kwargs, self.merge_adapter)

    def data_spec(self) -> DataSpec:
        from landscape.inputs.data import DataSpec

        return DataSpec(self.data, self.split, self.samples, root=self.data_root, download=self.download,
                        seq_len=self.seq_len, text_field=self.text_field, tokenizer=self.tokenizer)

    def loss_spec(self) -> objective.Loss:
        from landscape.inputs.objective import Loss

        return Loss(self.loss, self.eval_fn)

    def evaluation(self, surface: SurfaceOptions | None = None) -> EvalSettings:
        """The evaluation settings; a surface's also say how points are launched and compiled."""
        from landscape.engine import EvalSettings

        if surface is None:
            return EvalSettings(self.device, self.precision, self.batch_size)
        return EvalSettings(self.device, self.precision, self.batch_size, surface.launch, surface.points_per_launch,
                            surface.fold_bn, surface.channels_last, surface.compile, lean=surface.lean)

    def curvature_job(self, subset: ParamSelection) -> CurvatureJob:
        """The job of `hessian` and `sharpness`: the Hessian over the tensors of `subset`."""
        from landscape.run.curvature import CurvatureJob

        return CurvatureJob(model=self.model_spec(), data=self.data_spec(), loss=self.loss_spec(),
                            evaluation=self.evaluation(), subset=subset, trust_checkpoint=self.trust_checkpoint,
                            command=" ".join(sys.argv))


MODEL = ModelOptions()

# ---------------------------------------------------------------------------------- surfaces

DirType = Annotated[Optional[choices.DirType], typer.Option(
    "--dir-type", help="weights: parameters; states: BatchNorm running statistics too (default: weights; "
                       "interpolate: states).")]
Params = Annotated[Optional[str], typer.Option(
    "--params", metavar="REGEX", help="Move only the tensors whose names match (e.g. 'lora_|layer3').")]
TrainableOnly = Annotated[bool, typer.Option("--trainable-only", help="Move only parameters that require grad.")]
Launch = Annotated[choices.Launch, typer.Option("--launch", help="Points per pass: auto (one), point or vmap.")]
PointsPerLaunch = Annotated[Optional[int], typer.Option(
    "--points-per-launch", metavar="N", help="Points per vmapped pass (default 8).")]
Compile = Annotated[choices.Compile, typer.Option(
    "--compile", help="torch.compile: auto (when it pays), off, default, max-autotune, reduce-overhead "
                      "(CUDA graphs).")]
FoldBn = Annotated[Optional[bool], typer.Option(
    "--fold-bn/--no-fold-bn", help="Fold eval-mode BatchNorm into the preceding convolution (default: on).")]
ChannelsLast = Annotated[Optional[bool], typer.Option(
    "--channels-last/--no-channels-last", help="NHWC activations (default: by device and precision).")]
Lean = Annotated[Optional[bool], typer.Option(
    "--lean/--no-lean", help="Make each point's weights as they are used: 3× the weights' memory, not 5-6× "
                             "(default: for large models, by the plan).")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing file made with other settings.")]
Plot = Annotated[bool, typer.Option("--plot", help="Draw the default figures when done.")]

# the look of figures and animations (`plot`, `animate`)
Metric = Annotated[str, typer.Option("--metric", metavar="NAME", help="loss, acc, eig_max, eig_min or eig_ratio.")]
Log = Annotated[bool, typer.Option("--log", help="Log scale for the loss.")]
Elev = Annotated[Optional[float], typer.Option("--elev", metavar="DEG", help="3-D view elevation.")]
Style = Annotated[str, typer.Option("--style", metavar="STYLE",
                                    help="paper, slide (16:9, large type) or dark (for dark slides).")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the plan, the time and the file size; write "
                                                        "nothing.")]


@dataclass(frozen=True)
class SurfaceOptions:
    """What every command that computes a surface adds: the tensors that move, how points are
    launched, and what happens to the file."""

    dir_type: Optional[choices.DirType] = None  # None: the command's own default
    params: Optional[str] = None
    trainable_only: bool = False
    launch: choices.Launch = choices.Launch.auto
    points_per_launch: Optional[int] = None
    compile: choices.Compile = choices.Compile.auto
    fold_bn: Optional[bool] = None
    channels_last: Optional[bool] = None
    lean: Optional[bool] = None
    overwrite: bool = False
    plot: bool = False
    dry_run: bool = False

    @classmethod
    def of(cls, arguments: dict[str, Any]) -> Any:
        """This group's options among a command's arguments (its `locals()`)."""
        return cls(**{f.name: arguments[f.name] for f in dataclasses.fields(cls)})

    def select(self) -> ParamSelection:
        from landscape.inputs.params import ParamSelection

        return ParamSelection(self.params, self.trainable_only)

    def direction_spec(self, default: choices.DirType, **settings: Any) -> DirectionSpec:
        """The direction settings: the dir type (`default` unless --dir-type), the tensors that
        move, and the command's own `settings` (norm, seed, ...)."""
        from landscape.plane.directions import DirectionSpec

        return DirectionSpec(self.dir_type or default, select=self.select(), **settings)


SURFACE = SurfaceOptions()
