"""Memory of a language model's plane: resident memory (RSS) that evaluating points of a random
plane adds to a process holding a GPT-2-shaped model, with lean points and without.

    python benchmarks/lm_memory.py                                # small and 124M, fp32 and bf16
    python benchmarks/lm_memory.py --sizes small,124M,350M --dtypes fp32,bf16

Each configuration (size, dtype, lean) runs in a fresh subprocess, so that peaks do not mix. It
builds a transformers `GPT2LMHeadModel` from a `GPT2Config` (random weights, no download), 4
sequences of 128 random token ids with all-ones masks, and measures the RSS (/proc/self/statm,
sampled by a background thread every 2 ms):

- idle: after the model and the data exist (gc.collect and malloc_trim first, so that memory
  freed while building the model, e.g. the fp32 weights before a cast to bf16, is not counted);
- peak: the largest RSS from then through drawing the random directions, planning, and
  evaluating 3 points; shown also split into the peak while drawing the directions and the
  peak from then on (planning, set-up, evaluation), each above idle. The kernel's own
  high-water mark of RSS over the window (VmHWM, reset through /proc/self/clear_refs) is shown
  beside the sampled peak: it sees the short peaks that sampling misses.

A "forward pass only" row measures the activations alone: one `causal_lm` pass of the 4
sequences through the model, under no_grad, in its own process (its s / point is that pass).

The table gives P (parameters, a tied tensor once), D (bytes per parameter), P·D, peak − idle,
and (peak − idle + P·D) / (P·D): the process's memory for the model and the plane in units of
the weights (the model itself is one). A lean point should need θ, d1, d2: about 3, plus
activations; the plain path about 6. The allocator is tuned as the CLI tunes it
(`tune_cpu_allocator`), unless --default-allocator.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = {  # name: (n_layer, n_embd, n_head)
    "small": (6, 512, 8),
    "124M": (12, 768, 12),
    "350M": (24, 1024, 16),
}
DTYPES = ("fp32", "bf16")
POINTS = [[0.1, 0.2], [-0.3, 0.05], [0.0, 0.0]]
SEQUENCES, LENGTH = 4, 128
MB = 1e6


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def kernel_peak(reset: bool = False) -> int:
    """The kernel's high-water mark of RSS (VmHWM) in bytes, then optionally reset to the RSS now
    (/proc/self/clear_refs "5"); 0 where it cannot be read."""
    try:
        with open("/proc/self/status") as f:
            hwm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
        if reset:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        return hwm
    except (OSError, StopIteration):
        return 0


class PeakRSS(threading.Thread):
    """Samples RSS every `period` seconds; `peak` is the largest seen since start (and at stop).
    Beside it, the kernel's exact high-water mark over the same phases, as a check on sampling."""

    def __init__(self, period: float = 0.002):
        super().__init__(daemon=True)
        kernel_peak(reset=True)
        self.period, self.peak, self.samples = period, rss_bytes(), 0
        self.kernel: list[int] = []  # the kernel's peak of each phase
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, rss_bytes())
            self.samples += 1
            time.sleep(self.period)

    def mark(self) -> int:
        """The peak since start or the last mark; the next phase's peak starts from the RSS now."""
        peak = max(self.peak, rss_bytes())
        self.kernel.append(kernel_peak(reset=True))
        self.peak = rss_bytes()
        return peak

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        self.peak = max(self.peak, rss_bytes())
        self.kernel.append(kernel_peak())
        return self.peak


def malloc_trim() -> None:
    name = ctypes.util.find_library("c")
    if name and sys.platform == "linux":
        try:
            ctypes.CDLL(name).malloc_trim(0)
        except (OSError, AttributeError):
            pass


def child(size: str, dtype: str, lean: bool, tune: bool) -> dict:
    """One configuration, in this process: the measurements as a dict."""
    import numpy as np
    import torch

    from landscape.engine import EvalSettings, Evaluator, plan_for
    from landscape.inputs.data import TensorData
    from landscape.inputs.objective import Objective, causal_lm
    from landscape.plane.directions import DirectionSpec, random_directions

    model, ids, mask, P, D, idle, sampler = started(size, dtype, tune)
    data = TensorData(ids, mask, "train")
    t0 = time.perf_counter()
    directions = random_directions(model, DirectionSpec(), two=True)
    t_dirs = time.perf_counter() - t0
    peak_dirs = sampler.mark()
    plan, obj = plan_for(model, data, Objective(eval_fn=causal_lm), EvalSettings(lean=lean), torch.device("cpu"),
                         len(POINTS))
    ev = Evaluator(model, data, directions, obj, plan)
    t0 = time.perf_counter()
    ev.prepare()
    t_prepare = time.perf_counter() - t0
    t0 = time.perf_counter()
    loss, _ = ev.evaluate(np.array(POINTS))
    t_eval = time.perf_counter() - t0
    peak_eval = sampler.stop()
    return {"size": size, "dtype": dtype, "lean": lean, "plan_lean": plan.lean, "P": P, "D": D, "idle": idle,
            "peak": max(peak_dirs, peak_eval), "peak_dirs": peak_dirs, "peak_eval": peak_eval,
            "kernel_peak": max(sampler.kernel), "samples": sampler.samples, "t_dirs": t_dirs, "t_prepare": t_prepare,
            "s_per_point": t_eval / len(POINTS), "loss": [float(v) for v in loss],
            "plan": {k: str(getattr(plan, k)) for k in ("precision", "batch_size", "launch", "compile",
                                                         "cast_weights", "lean")},
            "d_dtype": str(next(iter(directions.x.values())).dtype)}


def started(size: str, dtype: str, tune: bool) -> tuple:
    """The model and data built, the idle RSS read (after gc and malloc_trim), the sampler running."""
    import torch

    from landscape.engine import tune_cpu_allocator

    if tune:
        tune_cpu_allocator()
    torch.set_num_threads(os.cpu_count() or 1)
    model, ids, mask, P, D = build(size, dtype)
    gc.collect()
    malloc_trim()
    idle = rss_bytes()
    sampler = PeakRSS()
    sampler.start()
    return model, ids, mask, P, D, idle, sampler


def forward_only(size: str, dtype: str, tune: bool) -> dict:
    """The activations alone: peak − idle of one `causal_lm` pass of the whole data through the
    model itself (no directions, no evaluator), under no_grad, as the evaluator runs it."""
    import torch

    from landscape.inputs.objective import causal_lm

    model, ids, mask, P, D, idle, sampler = started(size, dtype, tune)
    t0 = time.perf_counter()
    with torch.no_grad():
        loss, n, _ = causal_lm(model, (ids, mask))
    t = time.perf_counter() - t0
    peak = sampler.stop()
    return {"size": size, "dtype": dtype, "lean": None, "P": P, "D": D, "idle": idle, "peak": peak,
            "peak_dirs": float("nan"), "peak_eval": peak, "kernel_peak": max(sampler.kernel),
            "samples": sampler.samples, "t_dirs": float("nan"), "t_prepare": float("nan"), "s_per_point": t,
            "loss": [float(loss / n)], "plan": {}, "d_dtype": ""}


def build(size: str, dtype: str) -> tuple:
    """The model (random weights, seed 0), the token ids and mask, P and D."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.manual_seed(0)
    n_layer, n_embd, n_head = SIZES[size]
    model = GPT2LMHeadModel(GPT2Config(n_layer=n_layer, n_embd=n_embd, n_head=n_head)).eval()
    if dtype == "bf16":
        model = model.to(torch.bfloat16)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, model.config.vocab_size, (SEQUENCES, LENGTH), generator=g)
    P = sum(p.numel() for p in model.parameters())  # a tied tensor once
    D = next(model.parameters()).element_size()
    return model, ids, torch.ones_like(ids), P, D


def run_child(size: str, dtype: str, lean: bool | None, tune: bool) -> dict:
    """One configuration in a fresh process; lean None: the forward pass alone."""
    cmd = [sys.executable, __file__, "--child", f"{size},{dtype},{'-' if lean is None else int(lean)},{int(tune)}"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"configuration {size} {dtype} lean={lean} failed ({out.returncode})")
    return json.loads(out.stdout.strip().splitlines()[-1])


def num(v: float) -> str:
    return "" if v != v else f"{v:.2f}"


def mb(v: float) -> str:
    return "–" if v != v else f"{v / MB:,.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="small,124M", help=f"comma-separated, of {', '.join(SIZES)}")
    ap.add_argument("--dtypes", default="fp32,bf16", help="comma-separated, of fp32, bf16")
    ap.add_argument("--default-allocator", action="store_true", help="do not tune glibc malloc as the CLI does")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        size, dtype, lean, tune = args.child.split(",")
        tune_ = bool(int(tune))
        print(json.dumps(forward_only(size, dtype, tune_) if lean == "-" else child(size, dtype, bool(int(lean)), tune_)))
        return
    sizes, dtypes = args.sizes.split(","), args.dtypes.split(",")
    for s in sizes:
        if s not in SIZES:
            raise SystemExit(f"unknown size {s!r}; choose from {', '.join(SIZES)}")
    for d in dtypes:
        if d not in DTYPES:
            raise SystemExit(f"unknown dtype {d!r}; choose from {', '.join(DTYPES)}")

    rows, checks = [], []
    start = time.perf_counter()
    for s in sizes:
        for d in dtypes:
            pair = {}
            for lean in (None, False, True):
                r = run_child(s, d, lean, not args.default_allocator)
                print(f"# {s} {d} lean={lean}: {time.perf_counter() - start:.0f} s, plan {r['plan']}, directions {r['d_dtype']}, "
                      f"{r['samples']} RSS samples, losses {r['loss']}", file=sys.stderr, flush=True)
                pair[lean] = r
                rows.append(r)
            a, b = np.asarray(pair[False]["loss"]), np.asarray(pair[True]["loss"])
            at0 = abs(pair[None]["loss"][0] - a[POINTS.index([0.0, 0.0])]) / abs(a[POINTS.index([0.0, 0.0])])
            checks.append((s, d, float(np.max(np.abs(a - b) / np.abs(a))), at0))

    print("| model | P | dtype | P·D (MB) | points | idle (MB) | peak − idle (MB) | (peak − idle + P·D) / P·D "
          "| kernel's peak − idle (MB) | of it: directions / evaluation (MB) | directions (s) | set-up (s) | s / point |")
    print("| --- | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        pd = r["P"] * r["D"]
        extra = r["peak"] - r["idle"]
        print(f"| GPT-2 {r['size']} | {r['P'] / 1e6:.1f}M | {r['dtype']} | {pd / MB:,.0f} | "
              f"{'forward pass only' if r['lean'] is None else 'lean' if r['lean'] else 'plain'} | {r['idle'] / MB:,.0f} | {extra / MB:,.0f} | "
              f"{(extra + pd) / pd:.2f} | {mb(r['kernel_peak'] - r['idle']) if r['kernel_peak'] else '?'} | {mb(r['peak_dirs'] - r['idle'])} / {mb(r['peak_eval'] - r['idle'])} | "
              f"{num(r['t_dirs'])} | {num(r['t_prepare'])} | {r['s_per_point']:.2f} |")
    print()
    for s, d, rel, at0 in checks:
        print(f"- {s} {d}: max relative difference of the losses, lean against plain: {rel:.1e} "
              f"(plain at (0, 0) against the model's own loss: {at0:.1e})")


if __name__ == "__main__":
    import numpy as np

    main()
