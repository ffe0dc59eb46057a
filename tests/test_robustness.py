"""Robustness of the command line as a whole (the reliability issue).

A. Every command under random combinations of its options, odd values included (negative,
   zero, huge, NaN/inf text, empty strings, '.', missing paths, garbage JSON, unknown choices),
   on tiny inputs: it ends with exit code 0, 2 or 130 and never a traceback; a refusal (exit 2)
   is one line on stderr starting with "error:" and leaves no file behind that it did not
   report writing; a value that can never be right must be refused; a run that succeeds wrote
   the files it names, and `--dry-run` writes nothing.
   Hypothesis drives the app in-process (CliRunner), each example in a fresh folder holding a
   copy of the tiny inputs, under a memory cap and a time limit so that a value that makes a
   command eat memory or hang fails the test instead of the machine.
B. Ctrl-C (SIGINT) or SIGTERM at seeded random moments of `python cli.py compute`,
   `trajectory`, `hessian` and `sharpness`: exit code 130, exactly one line on stderr (no
   traceback), and that line is true: what it says is saved is there, readable, and bit for
   bit what an uninterrupted run computes (resuming finishes it); what it says was not saved
   left no file; nothing left behind breaks the next run.
"""

from __future__ import annotations

import os
import random
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import tiny_model
from landscape import store
from landscape.cli import app

ROOT = Path(__file__).resolve().parent.parent
BIG = str(2**62)  # 4611686018427387904
EXAMPLE_SECONDS = 60  # one in-process example; longer is a hang (the inputs are tiny)
MEMORY_HEADROOM = 4 << 30  # bytes of address space an in-process example may add


# ================================================================ A: random options, in-process


class Bad(str):
    """An option value that must be refused (exit code 2) whatever else the command line says."""


FLAG = None  # a boolean option: the flag alone
OMIT = "<omit>"  # leave out an option the base command line gives (its default applies)


@dataclass(frozen=True)
class Call:
    """One command line, and why it must be refused (empty: it may succeed)."""

    args: tuple[str, ...]
    refuse: tuple[str, ...] = ()

    def __repr__(self) -> str:  # what Hypothesis prints for a falsifying example
        return "landscape " + shlex.join(self.args) + (f"  # must be refused: {', '.join(self.refuse)}"
                                                       if self.refuse else "")


def call(command: str, positional: Sequence[str], base: dict, drawn: dict, bad_positional: bool = False) -> Call:
    """`command positional... [base options, overridden by the drawn ones]`."""
    args = [command, *positional]
    for flag, value in {**base, **drawn}.items():
        if value is OMIT:
            continue
        args += [flag] if value is FLAG else [flag, str(value)]
    refuse = [f"{command} {shlex.join(positional) or '(no arguments)'}"] if bad_positional else []
    refuse += [f"{command} {flag} {value!r}" for flag, value in drawn.items() if isinstance(value, Bad)]
    return Call(tuple(args), tuple(refuse))


def calls(command: str, positionals: Sequence[tuple[tuple[str, ...], bool]], base: dict, pool: dict,
          shape: Callable[[dict], dict] | None = None, max_options: int = 3) -> st.SearchStrategy[Call]:
    """Command lines: a positional choice, then up to `max_options` options of `pool`, each with
    one of its values (`shape` keeps expensive combinations tiny)."""

    @st.composite
    def draw_call(draw: st.DrawFn) -> Call:
        positional, bad = draw(st.sampled_from(positionals))
        flags = draw(st.lists(st.sampled_from(sorted(pool)), unique=True, min_size=1, max_size=max_options))
        drawn = {flag: draw(value(pool[flag])) for flag in flags}
        return call(command, positional, base, shape(drawn) if shape else drawn, bad)

    return draw_call()


def value(values: Sequence) -> st.SearchStrategy:
    """One of an option's values, a good one two times in three: most examples get past the
    checks, to where tracebacks hide, and the rest try the checks."""
    good = [v for v in values if not isinstance(v, Bad)]
    bad = [v for v in values if isinstance(v, Bad)]
    if not good or not bad:
        return st.sampled_from(values)
    return st.integers(0, 2).flatmap(lambda k: st.sampled_from(good if k else bad))


def fuzz(n: int):  # type: ignore[no-untyped-def]
    return settings(max_examples=n, derandomize=True, database=None, deadline=None,
                    phases=(Phase.explicit, Phase.generate),  # no shrinking: each example is a command run
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.filter_too_much])


def weighted(good: tuple[str, ...], times: int, bad: Sequence[tuple[str, ...]]) -> list[tuple[tuple[str, ...], bool]]:
    """Positional choices: the good one `times` over (so that most examples get past it), then bad ones."""
    return [(good, False)] * times + [(b, True) for b in bad]


# -------------------------------------------------------------------- the tiny inputs

CKPT = "tiny.pt"
RUN = ("runs/epoch_1.pt", "runs/epoch_2.pt", "runs/epoch_3.pt")
MODEL = {"--model": "landscape.models:digits_cnn", "--model-kwargs": '{"width": 4}', "--data": "digits",
         "--samples": "16", "--device": "cpu"}


def make_inputs(folder: Path) -> None:
    """Checkpoints, surface files, a Hessian file and some things that are none of these."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": tiny_model().state_dict(), "epoch": 3}, folder / CKPT)
    for run, seeds in (("runs", (1, 2, 3)), ("runs2", (4, 5, 6))):
        (folder / run).mkdir(exist_ok=True)
        for epoch, seed in enumerate(seeds, 1):
            torch.save({"state_dict": tiny_model(seed=seed).state_dict(), "epoch": epoch},
                       folder / run / f"epoch_{epoch}.pt")
    (folder / "garbage.pt").write_bytes(b"not a checkpoint\n")
    (folder / "existing.txt").write_text("a file that is there\n")
    (folder / "empty.h5").write_bytes(b"")
    (folder / "empty").mkdir(exist_ok=True)
    model = [f"{k}={v}" for k, v in MODEL.items()]
    for args in (["compute", CKPT, "--x", "-1:1:3", "--y", "-1:1:3", "--out", "s2.h5"],
                 ["compute", CKPT, "--x", "-1:1:3", "--y", "-1:1:3", "--seed", "1", "--out", "s2b.h5"],
                 ["compute", CKPT, "--x", "-1:1:3", "--out", "s1.h5"],
                 ["trajectory", *RUN, "--resolution", "3", "--out", "traj.h5"],
                 ["hessian", CKPT, "--steps", "3", "--top-k", "2", "--out", "h.h5"]):
        full = [a if not a.endswith((".pt", ".h5")) else str(folder / a) for a in args] + model + ["--quiet"]
        r = CliRunner().invoke(app, full)
        assert r.exit_code == 0, (full, r.output)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    make_inputs(folder)
    return folder


@pytest.fixture
def memory_cap():
    """Cap this process's address space for the in-process examples, so a value that makes a
    command allocate without bound raises MemoryError (reported) instead of taking the machine.
    Not where CUDA is: its context reserves tens of GB of address space (`--device auto`)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    size = 0 if torch.cuda.is_available() else _address_space()
    cap = size + MEMORY_HEADROOM if size else None
    if cap is not None and hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    if cap is not None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _address_space() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class ExampleTimeout(BaseException):
    """Not an Exception, so that no `except Exception` in the code under test swallows it."""


@contextmanager
def time_limit(seconds: float):
    def expire(signum, frame):  # type: ignore[no-untyped-def]
        raise ExampleTimeout(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def files(folder: Path) -> dict[str, int]:
    """Every file under `folder` (relative path → size)."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}


WROTE = re.compile(r"^(?:wrote|replaced) (\S+?)(?::|,| \(|$)")


def run_example(c: Call, inputs: Path, tmp_path: Path, monkeypatch) -> None:
    """Run one command line in a fresh copy of the inputs and hold it to the rules of part A."""
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    shutil.copytree(inputs, work, dirs_exist_ok=True)
    monkeypatch.chdir(work)
    before = files(work)
    try:
        with time_limit(EXAMPLE_SECONDS):
            result = CliRunner().invoke(app, list(c.args))
    except ExampleTimeout as e:
        pytest.fail(f"{e}: {c!r}", pytrace=False)
    after = files(work)
    monkeypatch.chdir(tmp_path)
    shutil.rmtree(work, ignore_errors=True)
    check(c, result, before, after)


def check(c: Call, result, before: dict[str, int], after: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    shown = f"\n$ {c!r}\nexit code {result.exit_code}\n--- stdout ---\n{result.stdout[-2000:]}--- stderr ---\n" \
            f"{result.stderr[-2000:]}"
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        frames = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:])
        pytest.fail(f"uncaught {type(exc).__name__}: {exc}{shown}\n--- last frames ---\n{frames}", pytrace=False)
    assert "Traceback" not in result.output, f"a traceback was printed{shown}"
    assert result.exit_code in (0, 2, 130), f"exit code must be 0, 2 or 130{shown}"
    named = [os.path.normpath(m.group(1)) for line in result.stdout.splitlines() if (m := WROTE.match(line))]
    if result.exit_code == 2:
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), f"a refusal must be one line starting with " \
                                                                    f"'error:' on stderr{shown}"
        new = sorted(set(after) - set(before) - set(named))
        assert not new, f"a refused command left files behind: {new}{shown}"
    if c.refuse:
        assert result.exit_code == 2, f"must be refused ({'; '.join(c.refuse)}){shown}"
    if result.exit_code == 0:
        missing = [p for p in named if p not in after and not Path(p).is_absolute()]
        assert not missing, f"said it wrote {missing}, which are not there{shown}"
        if "--dry-run" in c.args:
            assert after == before, f"--dry-run wrote {sorted(set(after) - set(before))}{shown}"


# -------------------------------------------------------------------- option pools

ODD_COUNT = [Bad("0"), Bad("-1"), Bad(""), Bad("1e300"), Bad("nan"), Bad("x")]  # a count that is never right
SEEDS = ["0", "7", "-1", BIG, str(2**64), str(-(2**63)), Bad("1e300"), Bad("nan"), Bad("inf"), Bad(""), Bad("x")]

MODEL_POOL = {
    "--model": ["landscape.models:digits_cnn", Bad("landscape.models:nope"), Bad("no_such_module_xyz:f"),
                Bad("landscape.models"), Bad(""), Bad("."), Bad(":"), Bad("garbage.pt:f")],
    "--model-kwargs": ['{"width": 4}', "{}", Bad('{"width": 4'), Bad("[4]"), Bad(""), Bad("NaN"), "null",
                       Bad('{"width": -1}'), Bad('{"width": 0}'), Bad(f'{{"width": {BIG}}}'), Bad('{"depth": 3}')],
    "--trust-checkpoint": [FLAG],
    "--data": ["digits", Bad("missing.npz"), Bad(""), Bad("."), Bad("garbage.pt"), Bad("existing.txt"),
               Bad("landscape.nope:f"), Bad("no_such_module_xyz:f"), Bad("cifar10")],
    "--data-root": ["data", ".", "", "missing"],
    "--download": [FLAG],
    "--split": ["train", "test", Bad("val"), Bad("")],
    "--samples": ["16", "1", "2", OMIT, BIG, *ODD_COUNT],
    "--batch-size": ["4", "1", "0", BIG, Bad("-5"), Bad("inf"), Bad(""), Bad("x")],
    "--loss": ["cross-entropy", "mse", Bad("hinge"), Bad(""), Bad("landscape.nope:f"), Bad("no_such_module_xyz:f")],
    "--eval": [Bad("landscape.nope:f"), Bad(""), Bad("."), Bad("no_such_module_xyz:f")],
    "--device": ["cpu", "auto", Bad("cuda:99"), Bad("tpu"), Bad(""), Bad("cuda:-1"), Bad("cpu:x")],
    "--precision": ["auto", "fp32", "tf32", "bf16", "fp16", Bad("fp8"), Bad("")],
    "--quiet": [FLAG],
}
SURFACE_POOL = {
    "--dir-type": ["weights", "states", Bad("both"), Bad("")],
    "--params": ["conv", "fc|conv2", "", Bad("["), Bad("^nothing$")],
    "--trainable-only": [FLAG],
    "--launch": ["auto", "point", "vmap", Bad("warp"), Bad("")],
    "--points-per-launch": ["2", "1", "0", "-1", BIG, Bad(""), Bad("x")],
    "--compile": ["off", "auto", Bad("bogus"), Bad("")],  # no real compiling: tens of seconds on a CPU
    "--fold-bn": [FLAG], "--no-fold-bn": [FLAG],
    "--channels-last": [FLAG], "--no-channels-last": [FLAG],
    "--overwrite": [FLAG],
    "--plot": [FLAG],
    "--dry-run": [FLAG],
}
SURFACE_OUT = ["out.h5", OMIT, "s2.h5", "existing.txt", "nodir/out.h5", Bad(""), Bad("."), Bad("empty")]
AXIS = ["-1:1:3", "0:0:1", "-1:1:2", "-2:2:5", "auto:3", "auto:2",
        Bad("auto:0"), Bad("auto:1"), Bad("auto:-3"), Bad("autox"), Bad("auto:x"), Bad(""), Bad("."), Bad("-1:1"),
        Bad("-1:1:0"), Bad("1:-1:3"), Bad("0:1:1"), Bad("nan:1:3"), Bad("-inf:inf:3"), Bad("-1:1:2.5"),
        Bad("a:b:c"), Bad(f"-1:1:{BIG}"), Bad("-1e300:1e300:3"), Bad(f"auto:{BIG}")]
X_AXIS = AXIS + [OMIT, "auto", "auto:"]  # up to 51 points on x (the default); y has at most 5
Y_AXIS = AXIS + [OMIT]  # OMIT: a 1-D surface


def _small_grid(drawn: dict) -> dict:
    """--eigen-map computes Hessian eigenvalues at every point: one point is enough."""
    if "--eigen-map" in drawn:
        return {**drawn, "--x": "0:0:1", "--y": OMIT}
    return drawn


COMPUTE_BASE = {**MODEL, "--x": "-1:1:3", "--y": "-1:1:3", "--out": "out.h5"}
COMPUTE_POOL = {
    **MODEL_POOL, **SURFACE_POOL,
    "--x": X_AXIS, "--y": Y_AXIS,
    "--rise": ["10", "2", "1", "0", "-1", "nan", "inf", "1e300", Bad(""), Bad("x")],
    "--norm": ["filter", "layer", "weight", "dfilter", "dlayer", "none", Bad("bogus"), Bad("")],
    "--ignore": ["biasbn", "none", Bad("all")],
    "--no-ignore": [FLAG],
    "--seed": SEEDS,
    "--x-target": ["runs/epoch_1.pt", Bad("missing.pt"), Bad(""), Bad("."), Bad("garbage.pt"), Bad("empty")],
    "--y-target": ["runs/epoch_2.pt", Bad("missing.pt"), Bad(""), Bad("garbage.pt")],
    "--directions": ["s2.h5", "h.h5", "s1.h5", Bad("garbage.pt"), Bad("missing.h5"), Bad(""), Bad("."),
                     Bad("empty.h5"), Bad("existing.txt")],
    "--direction-scale": ["unit", "weights", Bad("bogus")],
    "--eigen-map": [FLAG],
    "--split-data": [FLAG],
    "--out": SURFACE_OUT,
}
COMPUTE_POSITIONAL = weighted((CKPT,), 6, [("missing.pt",), ("",), (".",), ("garbage.pt",), ("empty",), ("s2.h5",),
                                           ("existing.txt",), ()])


def cli(command: str, positional: Sequence[str], base: dict, bad_positional: bool = False, **drawn: str) -> Call:
    """An explicit example: options as keywords, `x=` for `--x`, `model_kwargs=` for `--model-kwargs`."""
    return call(command, positional, base, {"--" + k.replace("_", "-"): v for k, v in drawn.items()}, bad_positional)


@fuzz(25)
@given(c=calls("compute", COMPUTE_POSITIONAL, COMPUTE_BASE, COMPUTE_POOL, _small_grid))
@example(c=cli("compute", [CKPT], COMPUTE_BASE, seed="4611686018427387904"))
@example(c=cli("compute", [CKPT], COMPUTE_BASE, seed=str(2**64)))
@example(c=cli("compute", [CKPT], COMPUTE_BASE, x=Bad("auto:0"), y=OMIT))
@example(c=cli("compute", [CKPT], COMPUTE_BASE, x=Bad("autox"), y=OMIT))
@example(c=cli("compute", [CKPT], COMPUTE_BASE, x="auto", y=OMIT))
@example(c=cli("compute", [CKPT], COMPUTE_BASE, x="auto:3", y="auto:3", rise=Bad("nan")))
@example(c=cli("compute", [CKPT], COMPUTE_BASE, x="auto:3", y="auto:3", rise=Bad("1")))
@example(c=cli("compute", [CKPT], COMPUTE_BASE, x=Bad("-1:1:" + BIG)))
@example(c=cli("compute", [CKPT], COMPUTE_BASE, x=Bad("-1e300:1e300:3")))
@example(c=cli("compute", [CKPT], COMPUTE_BASE, out=Bad("")))
@example(c=cli("compute", [CKPT], COMPUTE_BASE, out=Bad(".")))
@example(c=cli("compute", [CKPT], COMPUTE_BASE, model_kwargs=Bad('{"width": 4')))
@example(c=cli("compute", [CKPT], COMPUTE_BASE, samples=Bad("1e300")))
@example(c=cli("compute", [CKPT], COMPUTE_BASE, samples=BIG))
@example(c=cli("compute", [""], COMPUTE_BASE, True))
@example(c=cli("compute", ["."], COMPUTE_BASE, True))
@example(c=cli("compute", [CKPT], COMPUTE_BASE, dry_run=FLAG))
@example(c=cli("compute", [CKPT], COMPUTE_BASE, launch="vmap", points_per_launch=BIG))
def test_compute_takes_any_options(c, inputs, tmp_path, monkeypatch, memory_cap):
    run_example(c, inputs, tmp_path, monkeypatch)


TRAJECTORY_BASE = {**MODEL, "--resolution": "3", "--out": "out.h5"}
TRAJECTORY_AXIS = ["auto", "-1:1:3", "-0.5:0.5:2", "auto:3", Bad("auto:0"), Bad("autox"), Bad(""), Bad("."),
                   Bad("nan:1:3"), Bad("1:-1:3"), Bad("-1:1:0"), Bad(f"-1:1:{BIG}")]
TRAJECTORY_POOL = {
    **MODEL_POOL, **SURFACE_POOL,
    "--final": ["runs/epoch_3.pt", "runs/epoch_1.pt", CKPT, Bad("missing.pt"), Bad(""), Bad("."), Bad("garbage.pt")],
    "--ignore": ["biasbn", "none", Bad("all")],
    "--x": TRAJECTORY_AXIS, "--y": TRAJECTORY_AXIS,
    "--resolution": ["3", "2", "1", "0", "-1", BIG, Bad(""), Bad("x"), Bad("nan")],
    "--out": SURFACE_OUT,
}
TRAJECTORY_POSITIONAL = weighted(RUN, 4, [("runs/epoch_1.pt",), ("missing*.pt",), ("",), (".",), ("empty",),
                                          ("runs/epoch_1.pt",) * 3, ("garbage.pt", *RUN[:2]), ()]) + [
    (("runs",), False), (("runs/epoch_*.pt",), False), (("runs", "runs2"), False), (RUN[:2], False)]


@fuzz(12)
@given(c=calls("trajectory", TRAJECTORY_POSITIONAL, TRAJECTORY_BASE, TRAJECTORY_POOL))
@example(c=cli("trajectory", RUN, TRAJECTORY_BASE, x=Bad("auto:0")))
@example(c=cli("trajectory", RUN, TRAJECTORY_BASE, y=Bad("autox")))
@example(c=cli("trajectory", RUN, TRAJECTORY_BASE, resolution=Bad(BIG)))
@example(c=cli("trajectory", RUN, TRAJECTORY_BASE, resolution=Bad("0")))
@example(c=cli("trajectory", RUN, TRAJECTORY_BASE, out=Bad("")))
@example(c=cli("trajectory", ["missing*.pt"], TRAJECTORY_BASE, True))
def test_trajectory_takes_any_options(c, inputs, tmp_path, monkeypatch, memory_cap):
    run_example(c, inputs, tmp_path, monkeypatch)


INTERPOLATE_BASE = {**MODEL, "--x": "0:1:3", "--resolution": "3", "--out": "out.h5"}
INTERPOLATE_POOL = {
    **MODEL_POOL, **SURFACE_POOL,
    "--x": ["0:1:3", "-0.5:1.5:5", OMIT, "auto", Bad("autox"), Bad("auto:0"), Bad(""), Bad("nan:1:3"),
            Bad("1:-1:3"), Bad(f"-1:1:{BIG}")],
    "--y": ["0:1:3", OMIT, "auto", Bad("autox"), Bad(""), Bad("nan:1:3")],
    "--resolution": ["3", "2", "0", "-1", BIG, Bad(""), Bad("x")],
    "--out": SURFACE_OUT,
}
INTERPOLATE_POSITIONAL = weighted(RUN[:2], 4, [(RUN[0],), (*RUN, CKPT), (RUN[0], "missing.pt"), (RUN[0], ""),
                                               (RUN[0], "garbage.pt"), ()]) + [
    (RUN, False), (RUN, False), ((RUN[0], RUN[0]), False), ((RUN[0], RUN[0], RUN[1]), False)]


@fuzz(12)
@given(c=calls("interpolate", INTERPOLATE_POSITIONAL, INTERPOLATE_BASE, INTERPOLATE_POOL))
@example(c=cli("interpolate", RUN[:2], INTERPOLATE_BASE, x=Bad("autox")))
@example(c=cli("interpolate", RUN, INTERPOLATE_BASE, x=OMIT, resolution=Bad(BIG)))
@example(c=cli("interpolate", RUN[:2], INTERPOLATE_BASE, out=Bad("")))
def test_interpolate_takes_any_options(c, inputs, tmp_path, monkeypatch, memory_cap):
    run_example(c, inputs, tmp_path, monkeypatch)


CURVATURE_POOL = {**MODEL_POOL, "--samples": ["16", "1", "2", *ODD_COUNT]}  # all 1797 digits: seconds per example


HESSIAN_BASE = {**MODEL, "--steps": "3", "--top-k": "1", "--probes": "2", "--density-steps": "4", "--out": "out.h5"}
HESSIAN_POOL = {
    **CURVATURE_POOL,
    "--top-k": ["1", "2", "3", Bad(BIG), *ODD_COUNT],
    "--steps": ["3", "1", "6", *ODD_COUNT],
    "--trace": [FLAG],
    "--probes": ["2", "1", "0", "-1", Bad(""), Bad("x")],  # unused without --trace
    "--density": [FLAG],
    "--density-steps": ["4", "2", "0", "-1", Bad(""), Bad("x")],  # unused without --density
    "--per-layer": [FLAG],
    "--params": ["conv", "fc", "", Bad("["), Bad("^nothing$")],
    "--trainable-only": [FLAG],
    "--seed": SEEDS,
    "--hvp": ["forward", "reverse", Bad("bogus"), Bad("")],
    "--overwrite": [FLAG],
    "--plot": [FLAG],
    "--out": ["out.h5", OMIT, "h.h5", "existing.txt", "nodir/out.h5", Bad(""), Bad("."), Bad("empty")],
}
HESSIAN_POSITIONAL = weighted((CKPT,), 5, [("missing.pt",), ("",), (".",), ("garbage.pt",), ("empty",), ("h.h5",), ()])


@fuzz(10)
@given(c=calls("hessian", HESSIAN_POSITIONAL, HESSIAN_BASE, HESSIAN_POOL))
@example(c=cli("hessian", [CKPT], HESSIAN_BASE, seed="4611686018427387904", trace=FLAG))
@example(c=cli("hessian", [CKPT], HESSIAN_BASE, top_k=Bad(BIG)))
@example(c=cli("hessian", [CKPT], HESSIAN_BASE, trace=FLAG, probes=Bad("0")))
@example(c=cli("hessian", [CKPT], HESSIAN_BASE, density=FLAG, density_steps=Bad("0")))
@example(c=cli("hessian", [CKPT], HESSIAN_BASE, out=Bad("")))
@example(c=cli("hessian", [CKPT], HESSIAN_BASE, model_kwargs=Bad("{")))
@example(c=cli("hessian", [CKPT], HESSIAN_BASE, density=FLAG, plot=FLAG, trace=FLAG))
def test_hessian_takes_any_options(c, inputs, tmp_path, monkeypatch, memory_cap):
    run_example(c, inputs, tmp_path, monkeypatch)


SHARPNESS_BASE = {**MODEL, "--ascent-steps": "2", "--directions": "2", "--probes": "2", "--out": "sh"}
SHARPNESS_POOL = {
    **CURVATURE_POOL,
    "--epsilon": ["0.001", "0.1", "0", "1e300", Bad("-1"), Bad("nan"), Bad("inf"), Bad(""), Bad("x")],
    "--ascent-steps": ["2", "1", "0", Bad("-1"), Bad(""), Bad("x")],
    "--radius": ["0.1", "1", "0", "-1", "nan", "inf", Bad(""), Bad("x")],  # unused with --directions 0
    "--directions": ["2", "1", "0", Bad("-1"), Bad(""), Bad("x")],
    "--probes": ["2", "1", *ODD_COUNT],
    "--params": ["conv", "fc", Bad("["), Bad("^nothing$")],
    "--trainable-only": [FLAG],
    "--seed": SEEDS,
    "--overwrite": [FLAG],
    "--out": ["sh", OMIT, "empty/sh", "nodir/sh", "existing", "empty/", Bad(""), Bad(".")],
}
SHARPNESS_POSITIONAL = weighted((CKPT,), 4, [("missing.pt",), ("",), (".",), ("garbage.pt",), ("empty",), ()]) + [
    ((CKPT, RUN[0]), False), ((RUN[0], "runs2/epoch_1.pt"), False)]


@fuzz(8)
@given(c=calls("sharpness", SHARPNESS_POSITIONAL, SHARPNESS_BASE, SHARPNESS_POOL))
@example(c=cli("sharpness", [CKPT], SHARPNESS_BASE, out=Bad("")))
@example(c=cli("sharpness", [CKPT], SHARPNESS_BASE, seed="4611686018427387904"))
@example(c=cli("sharpness", [CKPT], SHARPNESS_BASE, epsilon=Bad("nan")))
@example(c=cli("sharpness", [CKPT], SHARPNESS_BASE, radius=Bad("inf")))
@example(c=cli("sharpness", [CKPT], SHARPNESS_BASE, probes=Bad("0")))
def test_sharpness_takes_any_options(c, inputs, tmp_path, monkeypatch, memory_cap):
    run_example(c, inputs, tmp_path, monkeypatch)


PLOT_BASE = {"--out": "figs"}
NUMBER = ["0", "1", "-1", "1e300", "inf", Bad("nan"), Bad(""), Bad("x")]
PLOT_POOL = {
    "--kind": ["contour", "filled", "heatmap", "surface", "line", "barcode", "vtk", "obj", "ply", "html", "all",
               "contour,filled", "", ",", "CONTOUR ", Bad("pie"), Bad("contour,pie")],
    "--metric": ["loss", "acc", "eig_max", "eig_ratio", Bad("bogus"), Bad("")],
    "--log": [FLAG],
    "--vmin": NUMBER, "--vmax": NUMBER,
    "--levels": ["1", "5", Bad(BIG), *ODD_COUNT],
    "--vlevel": ["0.5", "2", "1e-300", Bad("0"), Bad("-1"), Bad("nan"), Bad("inf"), Bad(""), Bad("x")],
    "--cmap": ["viridis", "magma", Bad("nope"), Bad("")],
    "--format": ["png", "pdf,svg", "svg", "", Bad("bogus"), Bad("png,bogus")],
    "--dpi": ["72", "10", Bad("0"), Bad("-1"), Bad(BIG), Bad(""), Bad("1e300")],
    "--size": ["4,3", "3.3,2.9", "", Bad("0,0"), Bad("-1,3"), Bad("nan,3"), Bad("inf,3"), Bad("1e300,1e300"),
               Bad("4"), Bad("4,3,2"), Bad("a,b")],
    "--out": ["figs", OMIT, "", ".", "empty", "nodir/figs", Bad("existing.txt")],
    "--title": ["t", "", "$\\frac", "%s {0} {x}", "x" * 300],
    "--elev": ["30", "-90", "1e300", Bad("nan"), Bad("inf"), Bad("")],
    "--azim": ["30", "-400", Bad("nan"), Bad("inf"), Bad("")],
    "--zmax": ["10", "inf", "0", "-1", Bad("nan"), Bad("")],
    "--epoch-labels": [FLAG],
    "--compare": [FLAG],
    "--threshold": ["0.1", "0", "-1", "1e300", Bad("nan"), Bad(""), Bad("x")],
}
PLOT_POSITIONAL = weighted(("s2.h5",), 4, [("h.h5",), ("garbage.pt",), ("missing.h5",), ("",), (".",), ("empty.h5",),
                                           ("empty",), ()]) + [
    (("s1.h5",), False), (("traj.h5",), False), (("s2.h5", "s2b.h5"), False), (("s2.h5", "s1.h5"), False)]


@fuzz(16)
@given(c=calls("plot", PLOT_POSITIONAL, PLOT_BASE, PLOT_POOL))
@example(c=cli("plot", ["s2.h5"], PLOT_BASE, levels=Bad(BIG)))
@example(c=cli("plot", ["s2.h5"], PLOT_BASE, kind=Bad("pie")))
@example(c=cli("plot", ["s2.h5"], PLOT_BASE, metric=Bad("bogus")))
@example(c=cli("plot", ["s2.h5"], PLOT_BASE, dpi=Bad(BIG)))
@example(c=cli("plot", ["s2.h5"], PLOT_BASE, size=Bad("1e300,1e300")))
@example(c=cli("plot", ["s2.h5"], PLOT_BASE, vlevel=Bad("1e-300"), vmin="0", vmax="1e300"))
@example(c=cli("plot", ["s2.h5"], PLOT_BASE, out=""))
@example(c=cli("plot", ["s2.h5"], PLOT_BASE, title="$\\frac", kind="contour"))
@example(c=cli("plot", ["s2.h5", "s2b.h5"], PLOT_BASE, compare=FLAG, kind="all"))
def test_plot_takes_any_options(c, inputs, tmp_path, monkeypatch, memory_cap):
    run_example(c, inputs, tmp_path, monkeypatch)


INFO_GOOD = [("s2.h5",), ("s1.h5",), ("h.h5",), ("traj.h5",)]
INFO_BAD = [("garbage.pt",), ("missing.h5",), ("",), (".",), ("empty",), ("empty.h5",), (CKPT,), ("existing.txt",),
            (), ("s2.h5", "s1.h5"), ("s2.h5", "--bogus"), ("s2.h5", "--kind", "x")]


@fuzz(len(INFO_GOOD) + len(INFO_BAD))  # each of them
@given(c=st.sampled_from([Call(("info", *p)) for p in INFO_GOOD]
                         + [Call(("info", *p), ("info " + shlex.join(p),)) for p in INFO_BAD]))
def test_info_takes_any_file(c, inputs, tmp_path, monkeypatch, memory_cap):
    run_example(c, inputs, tmp_path, monkeypatch)


DEMO_EPOCHS_BAD = ["-1", "0", "1", "2", "", "x", "nan", "1e300", "3.5"]
DEMO_DIRS = ["demo", "", ".", "nodir/demo", "empty", "existing.txt", "existing.txt/sub"]
DEMO_DIRS_BAD = ["existing.txt", "existing.txt/sub"]


@st.composite
def demo_calls(draw: st.DrawFn) -> Call:
    """Every demo here is refused: a demo that runs trains for tens of seconds (test_cli runs one)."""
    quiet = {"--quiet": FLAG} if draw(st.booleans()) else {}
    if draw(st.booleans()):
        drawn = {"--epochs": Bad(draw(st.sampled_from(DEMO_EPOCHS_BAD))), "--out-dir": draw(st.sampled_from(DEMO_DIRS))}
    else:
        drawn = {"--epochs": "3", "--out-dir": Bad(draw(st.sampled_from(DEMO_DIRS_BAD)))}
    return call("demo", [], {}, {**drawn, **quiet})


@fuzz(10)
@given(c=demo_calls())
def test_demo_refuses_what_it_cannot_do(c, inputs, tmp_path, monkeypatch, memory_cap):
    run_example(c, inputs, tmp_path, monkeypatch)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def test_a_million_contour_levels_are_refused_without_eating_memory(inputs, tmp_path):
    """`--levels 1000000` asks matplotlib for a million contour lines: refused up front, in a
    child process capped at 4 GB so that a regression cannot take the machine."""
    shutil.copy(inputs / "s2.h5", tmp_path / "s2.h5")
    cmd = [sys.executable, str(ROOT / "cli.py"), "plot", "s2.h5", "--kind", "contour", "--levels", "1000000",
           "--out", "figs"]
    try:
        r = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60,
                           preexec_fn=_limit_memory)
    except subprocess.TimeoutExpired:
        pytest.fail(f"$ python {shlex.join(cmd[1:])}\nstill running after 60 s (under a 4 GB memory cap)",
                    pytrace=False)
    shown = f"\n$ {shlex.join(cmd[1:])}\nexit code {r.returncode}\n--- stdout ---\n{r.stdout[-1500:]}" \
            f"--- stderr ---\n{r.stderr[-1500:]}"
    assert "Traceback" not in r.stderr and "MemoryError" not in r.stderr, shown
    lines = r.stderr.splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:"), shown
    assert not (tmp_path / "figs").exists() or not any((tmp_path / "figs").iterdir()), shown


# ================================================================ B: signals at random moments


def _env(**extra: str) -> dict[str, str]:
    """The child's environment: this process's thread count (so its values equal the in-process
    reference's bit for bit), the source checkout importable."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads()), "PYTHONPATH": path, **extra}


NETS = '''"""The tests' tiny CNN, built by a factory that leaves a mark, so a test knows when the run
got past its start-up (and, for several checkpoints, how many it has loaded)."""
import os

from landscape.models import DigitsCNN


def tiny():
    mark = os.environ.get("ROBUSTNESS_MARK")
    if mark:
        with open(mark, "a") as f:
            f.write("built\\n")
    return DigitsCNN(width=4)
'''
NET = ["--model", "nets.py:tiny", "--data", "digits", "--device", "cpu", "--quiet"]
MARK = "built.mark"


@pytest.fixture
def signal_folder(tmp_path, monkeypatch) -> Path:
    torch.save({"state_dict": tiny_model().state_dict(), "epoch": 3}, tmp_path / CKPT)
    (tmp_path / "runs").mkdir()
    for epoch in (1, 2, 3, 4):
        torch.save({"state_dict": tiny_model(seed=epoch).state_dict(), "epoch": epoch},
                   tmp_path / "runs" / f"epoch_{epoch}.pt")
    (tmp_path / "nets.py").write_text(NETS)
    monkeypatch.chdir(tmp_path)  # the in-process runs (reference, resume) see the same relative paths
    return tmp_path


@dataclass
class Moment:
    """When to send the signal: `delay` seconds after the child started, after it built the
    model `built` times (start-up is over), or after it flushed `points` points to `out`."""

    name: str
    delay: float
    built: int = 0
    points: int = 0

    def wait(self, proc: subprocess.Popen, folder: Path, out: Path) -> None:
        deadline = time.monotonic() + 180
        while proc.poll() is None and time.monotonic() < deadline:
            if self.built and _marks(folder) < self.built:
                pass
            elif self.points and _computed(out) < self.points:
                pass
            else:
                break
            time.sleep(0.02)
        time.sleep(self.delay)


def _marks(folder: Path) -> int:
    try:
        return (folder / MARK).read_text().count("built")
    except OSError:
        return 0


def _computed(out: Path) -> int:
    try:
        return int(store.read_surface(out).computed.sum())
    except Exception:  # not there yet, or being replaced: look again
        return 0


@dataclass
class Interrupted:
    cmdline: str
    signal: str
    moment: Moment
    returncode: int
    stdout: str
    stderr: str
    left: dict[str, int]  # the files of the folder afterwards

    @property
    def finished(self) -> bool:  # the run ended before the signal came
        return self.returncode == 0

    def __str__(self) -> str:
        return (f"\n$ python cli.py {self.cmdline}\n{self.signal} {self.moment}\nexit code {self.returncode}"
                f"\n--- stderr ---\n{self.stderr[-2500:]}--- stdout ---\n{self.stdout[-500:]}"
                f"--- files afterwards ---\n{sorted(self.left)}")


def interrupt(args: list[str], folder: Path, moment: Moment, sig: signal.Signals, out: Path) -> Interrupted:
    """Run `python cli.py ARGS` in `folder` and send `sig` at `moment`."""
    (folder / MARK).unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), *args], cwd=folder,
                            env=_env(ROBUSTNESS_MARK=str(folder / MARK)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        moment.wait(proc, folder, out)
        if proc.poll() is None:
            proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return Interrupted(shlex.join(args), sig.name, moment, proc.returncode, stdout, stderr, files(folder))


NOTHING_SAVED = re.compile(r"\bnothing\b[^.;]*\b(saved|written|kept)\b|\bno\b[^.;]*\b(saved|written)\b|"
                           r"\bnot (saved|written)\b", re.I)
SAVED = re.compile(r"\b(saved|written|kept|resume)\b", re.I)


def claim(r: Interrupted, history: Sequence[Interrupted] = ()) -> str:
    """Exit code 130 and one line, no traceback; returns what the line claims: 'saved' or 'nothing'."""
    before = "".join(str(h) for h in history[:-1])
    assert "Traceback" not in r.stderr, f"a traceback on interrupt{r}"
    assert r.returncode != 2 or not before, f"the run after an interrupted one was refused{r}" \
                                            f"\n--- the interrupted runs before it ---{before}"
    assert r.returncode == 130, f"an interrupted run must exit with code 130{r}"
    lines = r.stderr.splitlines()
    assert len(lines) == 1, f"an interrupted run must say one line on stderr, it said {len(lines)}{r}"
    if NOTHING_SAVED.search(lines[0]):
        return "nothing"
    assert SAVED.search(lines[0]), f"the line must say what was saved, or that nothing was{r}"
    return "saved"


def _allowed(inputs: set[str], *outputs: str) -> Callable[[str], bool]:
    """Files that may be there after an interrupted run: the inputs, the outputs, the lock."""
    return lambda name: name in inputs or name in outputs or name == MARK or name.startswith("__pycache__") or any(
        name == o + ".lock" for o in outputs)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and np.ascontiguousarray(a).tobytes() == \
        np.ascontiguousarray(b).tobytes()


def _check_surface_state(r: Interrupted, out: Path, ref: store.Surface, kind: str, inputs: set[str]) -> int:
    """After an interrupted compute or trajectory: what the line says is true. Returns the
    number of computed points the file holds."""
    leftovers = [f for f in r.left if not _allowed(inputs, out.name)(f)]
    assert not leftovers, f"half-written files left behind: {leftovers}{r}"
    if kind == "nothing" or not out.exists():
        assert not out.exists(), f"the line says nothing was saved, but {out.name} is there{r}"
        return 0
    try:
        s = store.read_surface(out)
    except Exception as e:  # noqa: BLE001: any failure to read is the finding
        pytest.fail(f"the saved file cannot be read: {type(e).__name__}: {e}{r}", pytrace=False)
    assert set(s.values) == set(ref.values), f"{sorted(s.values)} != {sorted(ref.values)}{r}"
    done = s.computed
    for name, v in s.values.items():
        assert _same_bits(v[done], ref.values[name][done]), f"saved {name} values differ from an " \
                                                             f"uninterrupted run's{r}"
    return int(done.sum())


def _resume_and_compare(args: list[str], out: Path, ref: store.Surface, done: int, history: list[Interrupted]) -> None:
    """The same command, run again (in-process, with its report), finishes what is missing and
    leaves the values of an uninterrupted run, bit for bit."""
    again = [a for a in args if a != "--quiet"]
    r = CliRunner().invoke(app, again)
    shown = f"\n$ landscape {shlex.join(again)}\nexit code {r.exit_code}\n{r.output[-2000:]}" \
            f"\n--- the interrupted runs before it ---{''.join(str(h) for h in history)}"
    assert r.exit_code == 0 and r.exception is None, f"rerunning after the interrupt failed{shown}"
    m = re.search(r"(\d+) points computed in .*?, (\d+) in the grid", r.stdout)
    assert m, f"no report of the points computed{shown}"
    assert int(m.group(1)) == int(m.group(2)) - done, f"the rerun computed {m.group(1)} points, " \
                                                      f"{done} of {m.group(2)} were saved already{shown}"
    s = store.read_surface(out)
    assert s.computed.all(), shown
    for name, v in ref.values.items():
        assert _same_bits(s.values[name], v), f"{name} after the interrupts differs from an uninterrupted run{shown}"


def _surface_interrupts(folder: Path, args: list[str], out: str, moments: list[Moment], seed: int) -> None:
    ref_out = folder / ("reference." + out)
    r = CliRunner().invoke(app, [a if a != out else ref_out.name for a in args])
    assert r.exit_code == 0, r.output
    ref = store.read_surface(ref_out)
    ref_out.unlink()
    inputs = set(files(folder))
    rng = random.Random(seed)
    sigs = [signal.SIGINT, signal.SIGTERM] * len(moments)
    rng.shuffle(sigs)
    history: list[Interrupted] = []
    done, hit = 0, 0
    for moment, sig in zip(moments, sigs):
        if moment.points:  # points flushed by this run, beyond those saved before it
            moment.points = done + 1
        r = interrupt(args, folder, moment, sig, folder / out)
        history.append(r)
        if r.finished:
            break
        hit += 1
        done = _check_surface_state(r, folder / out, ref, claim(r, history), inputs)
    assert hit, f"every signal came after the run had finished{''.join(str(h) for h in history)}"
    if not history[-1].finished:
        _resume_and_compare(args, folder / out, ref, done, history)
        return
    s = store.read_surface(folder / out)  # the last run resumed and finished by itself
    for name, v in ref.values.items():
        assert s.computed.all() and _same_bits(s.values[name], v), \
            f"{name} after the interrupts differs from an uninterrupted run{''.join(str(h) for h in history)}"


def test_compute_interrupted_at_random_moments_resumes_bit_for_bit(signal_folder):
    rng = random.Random(1712)
    args = ["compute", CKPT, *NET, "--samples", "256", "--x", "-1:1:15", "--y", "-1:1:15", "--out", "s.h5"]
    moments = [Moment("during start-up", rng.uniform(0.5, 2.0)),
               Moment("after the model was built", rng.uniform(0.0, 1.0), built=1),
               Moment("after points were flushed", rng.uniform(0.0, 0.5), points=1)]
    _surface_interrupts(signal_folder, args, "s.h5", moments, seed=1)


def test_trajectory_interrupted_at_random_moments_resumes_bit_for_bit(signal_folder):
    rng = random.Random(9)
    args = ["trajectory", "runs", *NET, "--samples", "256", "--resolution", "15", "--out", "t.h5"]
    moments = [Moment("during start-up", rng.uniform(0.5, 2.0)),
               Moment("after points were flushed", rng.uniform(0.0, 0.5), points=1)]
    _surface_interrupts(signal_folder, args, "t.h5", moments, seed=2)


def _curvature_interrupts(folder: Path, args: list[str], outputs: list[str], moments: list[Moment], seed: int,
                          readable: Callable[[Path, Interrupted], None]) -> None:
    """Interrupt at each moment, each run the next run of the one before (so what one leaves
    must not stop the next), hold each line to what is on disk, then run the command to the end."""
    inputs = set(files(folder))
    rng = random.Random(seed)
    sigs = [signal.SIGINT, signal.SIGTERM] * len(moments)
    rng.shuffle(sigs)
    history: list[Interrupted] = []
    again = list(args)
    for moment, sig in zip(moments, sigs):
        r = interrupt(again, folder, moment, sig, folder / outputs[0])
        history.append(r)
        if r.finished:  # its outputs are complete: the next run, as a user would, replaces them
            again += [] if "--overwrite" in again else ["--overwrite"]
            continue
        kind = claim(r, history)
        leftovers = [f for f in r.left if not _allowed(inputs, *outputs)(f)]
        assert not leftovers, f"half-written files left behind: {leftovers}{r}"
        there = [o for o in outputs if (folder / o).exists()]
        if kind == "nothing":
            assert not there, f"the line says nothing was saved, but {there} are there{r}"
        elif there:
            readable(folder, r)
        else:  # "saved" and nothing there: true only if nothing had been computed yet
            assert not moment.built, f"the line says what was computed is saved, but {outputs[0]} is not there{r}"
        if "--overwrite" in r.stderr and "--overwrite" not in again:  # what the line says to do next
            again.append("--overwrite")
    assert any(not h.finished for h in history), \
        f"every signal came after the run had finished{''.join(str(h) for h in history)}"
    final = [a for a in again if a != "--quiet"]
    rerun = CliRunner().invoke(app, final)
    assert rerun.exit_code == 0, f"the next run after the interrupts failed:\n$ landscape {shlex.join(final)}\n" \
                                 f"exit code {rerun.exit_code}\n{rerun.output[-1500:]}" \
                                 f"\n--- the interrupted runs before it ---{''.join(str(h) for h in history)}"


def test_hessian_interrupted_saves_what_is_finished_or_says_nothing_was(signal_folder):
    rng = random.Random(40)
    args = ["hessian", CKPT, *NET, "--samples", "64", "--steps", "40", "--trace", "--probes", "30", "--hvp", "reverse",
            "--out", "h.h5"]
    moments = [Moment("during start-up", rng.uniform(0.5, 2.0)),
               Moment("during the Hessian-vector products", rng.uniform(0.3, 1.5), built=1)]

    def readable(folder: Path, r: Interrupted) -> None:
        info = CliRunner().invoke(app, ["info", "h.h5"])
        assert info.exit_code == 0, f"the saved Hessian file cannot be read: {info.output[-800:]}{r}"

    _curvature_interrupts(signal_folder, args, ["h.h5"], moments, 3, readable)


def test_sharpness_interrupted_saves_finished_rows_or_says_nothing_was(signal_folder):
    rng = random.Random(30)
    args = ["sharpness", CKPT, "runs/epoch_1.pt", *NET, "--samples", "64", "--probes", "10", "--directions", "4",
            "--ascent-steps", "4", "--out", "sh"]
    moments = [Moment("during start-up", rng.uniform(0.5, 2.0)),
               Moment("after the first row, while the second checkpoint is measured", rng.uniform(0.0, 0.5), built=2)]

    def readable(folder: Path, r: Interrupted) -> None:
        rows = (folder / "sh.csv").read_text().strip().splitlines()
        assert len(rows) >= 2 and "tiny.pt" in rows[1], f"the saved table lacks the finished row: {rows}{r}"

    _curvature_interrupts(signal_folder, args, ["sh.csv", "sh.md", "sh.tex"], moments, 4, readable)
