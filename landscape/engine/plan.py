"""The evaluation plan: every choice of how points are evaluated, made once, by stated rules,
before the first point — then recorded in the surface file, reused by a resume, and sent
from rank 0 to every torchrun process. No other place decides.

A choice that can change the values (precision, batch size, points per pass, BatchNorm
folding, memory layout, first-layer maps, compile) never depends on timing, load or free
memory: the rules read only the user's settings, facts measured deterministically about the
model and data (`Probe`) and what the device is (`DeviceProfile`). So the same command on
the same machine writes the same bits, and a single process and a torchrun world agree.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from landscape.choices import Compile, Launch
from landscape.engine.device import DeviceProfile, Precision
from landscape.errors import LandscapeError, arg


@dataclass(frozen=True)
class EvalSettings:
    """What the user asked for; `auto` or None leaves the choice to the plan's rules."""

    device: str = "auto"
    precision: Precision = Precision.auto
    batch_size: int | None = None
    launch: Launch = Launch.auto
    points_per_launch: int | None = None
    fold_bn: bool | None = None  # fold eval-mode BatchNorm into the preceding conv (exact)
    channels_last: bool | None = None  # NHWC activations for 4-D inputs
    compile: Compile = Compile.auto
    first_layer: bool | None = None  # precompute the input layer's three linear maps
    stream_data: bool | None = None  # copy batches from host memory per pass
    lean: bool | None = None  # make each point's weights at use: 3× the weights' memory, not 5-6×

    def __post_init__(self) -> None:
        if self.batch_size is not None and self.batch_size < 1:
            raise LandscapeError(f"{arg('batch_size')} must be at least 1, got {self.batch_size}")
        if self.points_per_launch is not None and self.points_per_launch < 1:
            raise LandscapeError(f"{arg('points_per_launch')} must be at least 1, got {self.points_per_launch}")


@dataclass(frozen=True)
class Probe:
    """Facts about the model and data that the rules read, measured deterministically once."""

    samples: int  # samples each process evaluates per point (0: unknown, custom batches)
    input_dims: int  # dimensions of a batch of inputs (4 for images; 0 for custom batches)
    data_bytes: int
    model_bytes: int
    flops_per_sample: float  # of one forward pass (0: unknown)
    activation_bytes: float = 0.0  # peak GPU memory of a forward pass per sample (0: not measured)
    foldable: bool = False  # Conv/Linear → BatchNorm pairs were found
    first_layer_macs: int = 0  # multiply-adds per output value of the single input layer (0: none)
    first_layer_map_bytes: int = 0  # memory its three precomputed maps would take
    scripted: bool = False  # a TorchScript module: no functional call, no fast paths
    custom_eval: bool = False  # an --eval function: the model is not f(x) -> outputs
    batches: int = 0  # custom batches: how many


FIRST_LAYER_PAYS_FROM = 64  # multiply-adds per output value above which the maps are cheaper than the layer
CPU_BATCH_VALUES = 1 << 22  # input values per batch on a CPU (a few MB: the caches' scale)
GPU_MEMORY_SHARE = 0.4  # of the GPU's total memory, for activations of one batch
HVP_MEMORY = 4  # a Hessian-vector product holds about this many forward passes' activations
LEAN_FROM = 1 << 28  # bytes of weights (256 MiB, a 64M-parameter fp32 model) from which points are made at use
CPU_BATCH_FLOPS = 4e9  # FLOPs of one batch of an --eval function on a CPU (a second's work or less)


def _whole(v: Any) -> int:
    """An integer attribute as int: a float with a fraction, text or a bool is refused."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer, float, np.floating)) or v != int(v):
        raise ValueError(f"{v!r} is not a whole number")
    return int(v)


def _flag(v: Any) -> bool:
    """A boolean attribute as bool: only true/false or 0/1 (bool("False") would be True)."""
    if isinstance(v, (bool, np.bool_)) or (isinstance(v, (int, np.integer)) and v in (0, 1)):
        return bool(v)
    raise ValueError(f"{v!r} is not true or false")


@dataclass(frozen=True)
class Plan:
    """How every point of a surface is evaluated. `reasons` says why, for `info` and `--dry-run`."""

    device: str  # "cpu" or "cuda" (each process uses its own GPU)
    precision: Precision
    batch_size: int  # 0: the data's own batches (custom batches)
    launch: Launch
    points_per_launch: int
    fold_bn: bool
    channels_last: bool
    compile: Compile
    first_layer: bool
    cast_weights: bool  # conv/linear weights of a point cast to the autocast dtype once per point
    stream_data: bool
    hvp_batch: int = 0  # the batch of a Hessian-vector product (eigenvalue maps): it holds several forward passes
    split_data: bool = False  # every process evaluates every point on its shard of the data ...
    shards: int = 1  # ... of `shards` shards (the sum of shard sums depends on their number)
    lean: bool = False  # each point's weights made at use (`engine.lean`), no fast paths
    fsdp: bool = False  # the model sharded across the processes (`engine.sharded`), no fast paths
    reasons: tuple[tuple[str, str], ...] = ()

    CHOICES = ("device", "precision", "batch_size", "launch", "points_per_launch", "fold_bn", "channels_last",
               "compile", "first_layer", "cast_weights", "stream_data", "hvp_batch", "split_data", "shards", "lean", "fsdp")
    DEVICES = ("cpu", "cuda", "mps")

    def __post_init__(self) -> None:
        """The same limits for a plan made here and one read back from a file or a journal."""
        counts = {"batch_size": (self.batch_size, 0), "points_per_launch": (self.points_per_launch, 1),
                  "hvp_batch": (self.hvp_batch, 0), "shards": (self.shards, 1)}
        for name, (value, least) in counts.items():
            if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= 1 << 40:
                raise LandscapeError(f"the evaluation plan's {name} must be a whole number ≥ {least}, got {value!r}")
        if self.device not in self.DEVICES:
            raise LandscapeError(f"the evaluation plan's device must be one of {', '.join(self.DEVICES)}, "
                                 f"got {self.device!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain values, as the file's `plan` group stores them."""
        out = {k: (v.value if isinstance(v, Enum) else v) for k, v in dataclasses.asdict(self).items()
               if k != "reasons"}
        out["reasons"] = [f"{k}: {why}" for k, why in self.reasons]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Plan":
        missing = [k for k in cls.CHOICES[:11] if k not in d]
        if missing:
            raise LandscapeError(f"the file's evaluation plan lacks {', '.join(missing)}; it is damaged or older "
                                 f"than this version: pass {arg('overwrite', True)} to compute it again")
        try:
            reasons = tuple(tuple(str(r).split(": ", 1)) for r in (d.get("reasons") or []))
            return cls(str(d["device"]), Precision(str(d["precision"])), _whole(d["batch_size"]),
                       Launch(str(d["launch"])), _whole(d["points_per_launch"]), _flag(d["fold_bn"]),
                       _flag(d["channels_last"]), Compile(str(d["compile"])), _flag(d["first_layer"]),
                       _flag(d["cast_weights"]), _flag(d["stream_data"]), _whole(d.get("hvp_batch", 0)),
                       _flag(d.get("split_data", False)), _whole(d.get("shards", 1)), _flag(d.get("lean", False)),
                       _flag(d.get("fsdp", False)), tuple(r for r in reasons if len(r) == 2))  # type: ignore[misc]
        except (ValueError, TypeError, OverflowError) as e:
            raise LandscapeError(f"the file's evaluation plan is not readable ({e}); pass {arg('overwrite', True)}") from None
        except LandscapeError as e:
            raise LandscapeError(f"the file's evaluation plan is damaged ({e.message}); pass {arg('overwrite', True)} to compute it "
                                 "again") from None

    def conflict(self, settings: EvalSettings, world: int | None = None, split_data: bool | None = None,
                 fsdp: bool | None = None) -> str | None:
        """The first explicit setting that differs from this plan, as a sentence (None: none)."""
        asked: dict[str, Any] = {
            "device": None if settings.device == "auto" else settings.device.split(":")[0],
            "precision": None if settings.precision == Precision.auto else settings.precision,
            "batch_size": settings.batch_size,
            "launch": None if settings.launch == Launch.auto else settings.launch,
            "points_per_launch": settings.points_per_launch,
            "fold_bn": settings.fold_bn,
            "channels_last": settings.channels_last,
            "compile": None if settings.compile == Compile.auto else settings.compile,
            "first_layer": settings.first_layer,
            "stream_data": settings.stream_data,
            "lean": settings.lean,
        }
        if self.split_data and world is not None and world != self.shards:
            return (f"the data is split into {self.shards} shards in the file's plan but this run has {world} "
                    f"processes; resume with torchrun --nproc-per-node {self.shards}")
        if fsdp is not None and fsdp != self.fsdp:
            return f"fsdp is {self.fsdp} in the file's plan but {fsdp} in this run"
        if split_data is not None and split_data != self.split_data:
            return f"split_data is {self.split_data} in the file's plan but {split_data} in this run"
        for key, want in asked.items():
            have = getattr(self, key)
            if want is not None and want != have:
                show = lambda v: v.value if isinstance(v, Enum) else v  # noqa: E731
                return f"{key} is {show(have)!r} in the file's plan but {show(want)!r} in this run"
        return None

    def explain(self) -> list[str]:
        """Lines "choice  value  (why)" for `info` and `--dry-run`."""
        why = dict(self.reasons)
        rows = []
        for key in self.CHOICES:
            value = getattr(self, key)
            value = value.value if isinstance(value, Enum) else value
            if key == "batch_size" and value == 0:
                value = "the data's own batches"
            rows.append(f"{key:<17} {value}" + (f"  ({why[key]})" if key in why else ""))
        return rows


def choose_precision(settings: EvalSettings, profile: DeviceProfile) -> tuple[Precision, str]:
    """The precision rule (and why): exact fp32 on a CPU, tf32 on a GPU with TF32 units."""
    if settings.precision != Precision.auto:
        if settings.precision == Precision.bf16 and not profile.bf16:
            if profile.kind == "cuda":
                raise LandscapeError(f"{arg('precision', 'bf16')}: {profile.name} has no bfloat16 support; use fp16 or fp32")
            return settings.precision, "given; this CPU has no native bfloat16, so it runs slower than fp32 here"
        return settings.precision, "given"
    if profile.kind == "cuda" and profile.tf32:
        return Precision.tf32, "the GPU default: TF32 convolutions, as PyTorch's own default"
    return Precision.fp32, "exact, the CPU default" if profile.kind == "cpu" else "exact (this GPU has no TF32 units)"


def resolve_plan(settings: EvalSettings, probe: Probe, profile: DeviceProfile, points: int, world: int = 1,
                 split_data: bool = False, fsdp: bool = False) -> Plan:
    """The plan for `points` grid points computed by `world` processes (each on a shard of the
    data with `split_data`), by the rules below.

    - precision: exact fp32 on a CPU; on a GPU with TF32 units tf32, PyTorch's own default for
      convolutions (5e-4 relative from exact fp32 on ResNet-56, 2× its speed on an H100).
    - channels-last activations for 4-D inputs: on a CPU (measured faster), on a GPU only in
      bf16/fp16 (tensor cores want NHWC; in fp32/tf32 it measured 2.6× slower on an H100).
    - BatchNorm folding: always (exact in eval mode); checked against the plain model at set-up.
    - batch size: on a CPU a few million input values a batch; on a GPU the samples whose measured
      activation memory fills 40% of the GPU's total (not free) memory.
    - data: resident on the device unless it takes more than half of the GPU's memory.
    - one point per pass; first-layer maps when the input layer does ≥ 64 multiply-adds per output.
    - compile when the estimated eager time × the device's compile saving exceeds its compile cost.
    - lean points (each point's weights made at use, no fast path) from 256 MiB of weights where no
      fast path pays (an --eval function, no BatchNorm to fold), or where whole points (5-6× the
      weights) would take half the device's memory.
    - batches of an --eval function over tensors on a CPU: about 4 GFLOPs each (a language model's
      logits grow with its FLOPs, not with its integer inputs).
    """
    reasons: dict[str, str] = {}
    kind = profile.kind
    custom = probe.custom_eval or probe.scripted

    def pick(name: str, given: Any, rule: Any, why: str) -> Any:
        if given is not None:
            reasons[name] = "given"
            return given
        reasons[name] = why
        return rule

    precision, reasons["precision"] = choose_precision(settings, profile)
    low = precision in (Precision.bf16, Precision.fp16)
    # whole points cost 5-6× the weights: made at use from 256 MiB where no fast path would pay (a language
    # model, a network without BatchNorm), or wherever whole points would take half the device's memory
    big = probe.model_bytes >= LEAN_FROM and (probe.custom_eval or not probe.foldable)
    crowded = 6 * probe.model_bytes > 0.5 * profile.memory
    lean = bool(pick("lean", settings.lean, (big or crowded) and not probe.scripted,
                     f"the weights take {probe.model_bytes / 2**20:,.0f} MiB: each point's weights made at use, "
                     "3× their memory in all" if big or crowded
                     else f"a whole point at once (weights under {LEAN_FROM >> 20} MiB, or fast paths pay)"))
    if lean and probe.scripted:
        lean, reasons["lean"] = False, "not for TorchScript modules"

    image = probe.input_dims == 4 and not custom
    cl_rule = image and (kind == "cpu" or low)
    channels_last = pick("channels_last", settings.channels_last, cl_rule,
                         "not an image batch" if not image else "faster on a CPU" if kind == "cpu"
                         else "NHWC for the tensor cores in bf16/fp16" if low else "slower than NCHW in fp32/tf32 on GPUs")
    if channels_last and (custom or probe.input_dims != 4):
        channels_last = False
        reasons["channels_last"] = "needs 4-D image inputs and a plain model"
    fold_bn = pick("fold_bn", settings.fold_bn, probe.foldable and not probe.scripted,
                   "exact in eval mode, saves a pass per BatchNorm" if probe.foldable else "no Conv→BatchNorm pairs")
    if fold_bn and probe.scripted:
        fold_bn, reasons["fold_bn"] = False, "not for TorchScript modules"

    stream_rule = kind == "cuda" and probe.data_bytes > 0.5 * profile.memory
    stream_data = pick("stream_data", settings.stream_data, stream_rule,
                       f"the data ({probe.data_bytes / 2**30:.1f} GiB) does not fit on the GPU" if stream_rule
                       else "resident on the device")

    if probe.custom_eval and probe.batches:
        batch_rule, batch_why = 0, "the data's own batches"
    elif kind == "cuda" and probe.activation_bytes > 0:
        budget = (GPU_MEMORY_SHARE * profile.memory - (0 if stream_data else probe.data_bytes)
                  - (3 if lean else 4) * probe.model_bytes)
        fit = int(max(1, budget // probe.activation_bytes))
        batch_rule = probe.samples if fit >= probe.samples else (fit - fit % 64 if fit >= 64 else fit)
        batch_why = f"{GPU_MEMORY_SHARE:.0%} of the GPU's {profile.memory / 2**30:.0f} GiB for activations"
    elif probe.custom_eval and probe.flops_per_sample > 0:  # token sequences: activations grow with the FLOPs
        batch_rule = int(max(1, min(probe.samples or 1, CPU_BATCH_FLOPS // probe.flops_per_sample)))
        batch_why = "the whole data" if batch_rule >= probe.samples else f"about {CPU_BATCH_FLOPS:.0e} FLOPs a batch"
    else:
        per_sample = max(1.0, probe.data_bytes / max(probe.samples, 1) / 4)
        batch_rule = int(max(1, min(probe.samples or 1, max(64, CPU_BATCH_VALUES // per_sample))))
        batch_why = "the whole data" if batch_rule >= probe.samples else "about 4 M input values a batch"
    batch_size = pick("batch_size", settings.batch_size, batch_rule, batch_why)

    launch = pick("launch", None if settings.launch == Launch.auto else settings.launch, Launch.point,
                  "one point per pass (vmap over points measured slower on CPU and GPU)")
    if launch == Launch.vmap and custom:
        raise LandscapeError(f"{arg('launch', 'vmap')} needs a plain f(x) -> outputs model (not {arg('eval')} or TorchScript)")
    points_per_launch = pick("points_per_launch", settings.points_per_launch, 8, "vmap's default")

    maps_fit = probe.first_layer_map_bytes <= (0.25 * profile.memory if kind == "cuda" else max(4 * probe.data_bytes, 1 << 30))
    first_rule = (probe.first_layer_macs >= FIRST_LAYER_PAYS_FROM and maps_fit and not stream_data and not custom)
    first_layer = pick("first_layer", settings.first_layer, first_rule,
                       "no single input layer" if probe.first_layer_macs == 0
                       else f"the input layer does {probe.first_layer_macs} multiply-adds per output"
                       + (f" (pays from {FIRST_LAYER_PAYS_FROM})" if probe.first_layer_macs < FIRST_LAYER_PAYS_FROM else "")
                       + ("" if maps_fit else "; its maps would not fit in memory"))
    if first_layer and (custom or stream_data):
        first_layer, reasons["first_layer"] = False, "needs a plain model and resident data"

    # the whole grid, whatever the number of processes: one process and a torchrun world decide alike
    work = probe.flops_per_sample * max(probe.samples, 1) * points
    eager = work / profile.throughput(precision)
    saving = eager * profile.compile_saving
    compile_rule = (saving > profile.compile_seconds and not custom and probe.flops_per_sample > 0)
    mode = Compile.cudagraphs if kind == "cuda" else Compile.default
    compile_mode = pick("compile", None if settings.compile == Compile.auto else settings.compile,
                        mode if compile_rule else Compile.off,
                        # no duration here: the dry run's timing (and the file's own times) are the one estimate
                        f"by its FLOPs, the grid's evaluation is {'long enough' if compile_rule else 'too short'} "
                        f"to repay a ~{profile.compile_seconds:.0f} s compile")
    if compile_mode != Compile.off and probe.scripted:
        compile_mode, reasons["compile"] = Compile.off, "not for TorchScript modules"
    if compile_mode == Compile.cudagraphs and kind != "cuda":
        compile_mode, reasons["compile"] = Compile.default, "CUDA graphs need a GPU: default mode"

    cast_weights = low and not probe.scripted
    reasons["cast_weights"] = ("conv/linear weights cast once per point, as autocast would per batch" if cast_weights
                               else "full-precision weights")
    if fsdp:
        lean, reasons["lean"] = False, "the weights are sharded across the processes (FSDP)"
        split_data = True
    if lean or fsdp:  # the fast paths transform a whole point's tensors, which neither makes
        if launch == Launch.vmap:
            raise LandscapeError(f"{arg('launch', 'vmap')} needs whole points: not with "
                                 f"{arg('fsdp' if fsdp else 'lean', True)}")
        off = ("not with FSDP (each rank writes points into its shards)" if fsdp
               else "not with lean points (each point's weights are made at use)")
        for name, on in (("fold_bn", fold_bn), ("channels_last", channels_last), ("first_layer", first_layer),
                         ("cast_weights", cast_weights)):
            reasons[name] = off if on else reasons[name]
        fold_bn = channels_last = first_layer = cast_weights = False
        if compile_mode != Compile.off:
            compile_mode, reasons["compile"] = Compile.off, off
    reasons["device"] = profile.name
    hvp_batch = max(1, int(batch_size) // HVP_MEMORY) if kind == "cuda" and settings.batch_size is None else int(batch_size)
    reasons["hvp_batch"] = (f"a quarter of the batch: a Hessian-vector product holds about {HVP_MEMORY} forward passes"
                            if hvp_batch != batch_size else "the batch")
    reasons["split_data"] = f"the data split into {world} shards, one per process" if split_data else "every sample"
    reasons["fsdp"] = f"the weights sharded across {world} processes" if fsdp else "every process holds the whole model"
    return Plan(kind, precision, int(batch_size), launch, int(points_per_launch), bool(fold_bn), bool(channels_last),
                compile_mode, bool(first_layer), cast_weights, bool(stream_data), hvp_batch, split_data,
                world if split_data else 1, lean, fsdp, tuple((k, reasons[k]) for k in Plan.CHOICES if k in reasons))
