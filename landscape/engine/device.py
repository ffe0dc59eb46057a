"""The device a surface is evaluated on: resolving `--device`, what the device is good for (a
`DeviceProfile`, the input to the plan's rules), precision contexts and the CPU allocator."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from landscape.choices import Precision
from landscape.errors import LandscapeError, arg

OOM_ERRORS: tuple[type[BaseException], ...] = tuple(
    {getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError), torch.cuda.OutOfMemoryError}
)


def resolve_device(name: str, local_rank: int | None = None) -> torch.device:
    """'auto' → a CUDA GPU if there is one, else the CPU; checks that a named GPU exists.
    Under torchrun (`local_rank` given) a bare 'cuda' means the process's own GPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise LandscapeError(f"unknown {arg('device')} {name!r}: use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise LandscapeError(f"{arg('device')} {name}: no CUDA GPU is visible here; use {arg('device', 'cpu')}")
        count = torch.cuda.device_count()
        if dev.index is None:
            dev = torch.device("cuda", local_rank or 0)
        if dev.index >= count:
            raise LandscapeError(f"{arg('device')} {name}: only {count} GPU(s) are visible")
    elif dev.type != "cpu":
        raise LandscapeError(f"{arg('device')} {name}: only cpu and cuda devices are supported")
    return dev


@dataclass(frozen=True)
class DeviceProfile:
    """What the plan's rules need to know about a device. The throughputs are sustained FLOP/s
    of a convolutional network's forward pass by precision (measured, conservative): they feed
    estimates (when compiling pays, how long a grid takes before any point is timed), never a
    choice that a measurement could make differently from run to run."""

    kind: str  # "cpu" or "cuda"
    name: str
    memory: int  # bytes: the GPU's total memory, or the host's
    tf32: bool  # has TF32 matrix units
    bf16: bool  # computes bfloat16 natively
    flops: dict[str, float] = field(default_factory=dict)  # Precision value -> FLOP/s
    compile_seconds: float = 20.0  # a cold torch.compile of a mid-sized network
    compile_saving: float = 0.25  # share of eager time the compiled forward saves

    def throughput(self, precision: Precision) -> float:
        return self.flops.get(precision.value) or self.flops.get("fp32", 1e11)


# From benchmarks/RESULTS.md and the H100 table of the evaluation-plan issue (2026-11-25):
# ResNet-56 is 251 MFLOP per 32×32 image; on one H100 it ran at 165 ms (fp32), 84 ms (tf32),
# 63 ms (bf16) and 43 ms (bf16 compiled) per 10,000 images; on the 2-core CPU at 462 ms (fp32)
# and 132 ms (bf16) per 512 images, compiled 14–28% faster after a ~18 s cold compile.
CPU_FLOPS_PER_THREAD = {"fp32": 1.2e11, "tf32": 1.2e11, "bf16": 2.4e11, "fp16": 1.2e11}
GPU_FLOPS = {  # by compute capability major
    9: {"fp32": 1.5e13, "tf32": 3.0e13, "bf16": 4.0e13, "fp16": 4.0e13},
    8: {"fp32": 8.0e12, "tf32": 1.5e13, "bf16": 2.0e13, "fp16": 2.0e13},
    0: {"fp32": 4.0e12, "tf32": 4.0e12, "bf16": 4.0e12, "fp16": 8.0e12},
}


def host_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 << 30


def profile_of(device: torch.device) -> DeviceProfile:
    """The profile of a real device (for tests, build a DeviceProfile by hand instead)."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        major = props.major if props.major in GPU_FLOPS else (9 if props.major > 9 else 0)
        return DeviceProfile("cuda", props.name, int(props.total_memory), props.major >= 8, props.major >= 8,
                             dict(GPU_FLOPS[major]), compile_seconds=25.0, compile_saving=0.3)
    # the machine's cores, not this process's threads: torchrun's one-thread ranks and a single
    # process must make the same estimates, hence the same plan
    threads = os.cpu_count() or 1
    flops = {k: v * threads for k, v in CPU_FLOPS_PER_THREAD.items()}
    native_bf16 = cpu_has_bf16()
    if not native_bf16:  # emulated: measured 6x slower than fp32 on a 2-core AVX2 CPU (2026-11-25)
        flops["bf16"] = flops["fp16"] = flops["fp32"] / 6
    return DeviceProfile("cpu", f"cpu ({threads} cores)", host_memory(), False, native_bf16, flops,
                         compile_seconds=20.0, compile_saving=0.25)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX), as oneDNN sees it."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@contextmanager
def precision_context(precision: Precision, device: torch.device) -> Iterator[None]:
    """Autocast for bf16/fp16; TF32 switched on only for tf32 (and restored afterwards)."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == Precision.tf32
    try:
        dtype = precision.autocast_dtype
        if dtype is not None:
            with torch.autocast(device.type, dtype=dtype):
                yield
        else:
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


def tune_cpu_allocator() -> None:
    """Keep large freed blocks in glibc's heap instead of returning them to the OS.

    Each forward pass allocates activation maps of megabytes; by default glibc maps and
    unmaps each one, and every first touch of a fresh page faults. Measured on a 2-core
    CPU for the demo's CNN: 7.6 → 4.0 ms per point. Process-wide; the CLI calls it.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name or sys.platform != "linux":
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: serve blocks up to 1 GiB from the heap
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: keep up to 1 GiB of freed heap
    except (OSError, AttributeError):  # not glibc
        pass
