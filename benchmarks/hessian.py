"""Time the top Hessian eigenvalue (and the trace) the PyHessian way against landscape's, and print tables.

    python benchmarks/hessian.py --device cpu --case digits                 # the demo's CNN, briefly trained
    python benchmarks/hessian.py --device cpu --case resnet20 --images 256  # a small ResNet, CIFAR-shaped random images
    python benchmarks/hessian.py --device cuda --case resnet56 --images 10000 --top-k 5

Every row uses the same model and the same batches (already on the device). The anchor is
PyHessian's own loop (amirgholami/PyHessian, `hessian.eigenvalues` and `hessian.trace`):
power iteration on double-backward HVPs, one `.item()` per batch, stopping when the estimate
changes by less than `tol` = 1e-3 (relative); its trace stops the same way. landscape's rows
use `landscape.curvature.hessian()` at tol 1e-3 (Ritz residual ≤ 1e-3 · λ) with forward-over-reverse and
reverse-over-reverse HVPs, and the trace with as many probes as PyHessian used. The
"rel. err" column compares each top eigenvalue with a tightly converged one (Lanczos, tol 1e-8).

PyHessian is not a dependency of landscape: install it beside it to get its rows, e.g.
    python -m venv --system-site-packages /tmp/bench && /tmp/bench/bin/pip install --no-deps pyhessian
    /tmp/bench/bin/python benchmarks/hessian.py ...
(`--system-site-packages` reuses the installed torch; PyHessian 0.1 needs nothing else). Without
it the script says so and times landscape's rows only.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from landscape.curvature import HessianOperator, HessianSettings, HvpMode, hessian, hutchinson  # noqa: E402
from landscape.inputs.objective import batch_loss, cross_entropy  # noqa: E402
from landscape.models import DigitsCNN, resnet20, resnet56  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def case(args: argparse.Namespace, device: torch.device) -> tuple[torch.nn.Module, list[tuple]]:
    """(model in eval mode on the device, batches on the device)."""
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    if args.case == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
        y = torch.tensor(d.target)
        model = DigitsCNN()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for _ in range(5):  # a briefly trained model: its Hessian looks like a trained network's
            for idx in torch.randperm(len(x), generator=g).split(64):
                opt.zero_grad()
                F.cross_entropy(model(x[idx]), y[idx]).backward()
                opt.step()
    else:
        model = {"resnet20": resnet20, "resnet56": resnet56}[args.case]()
        with torch.no_grad():  # trained-looking BatchNorm statistics
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.1, 0.1)
                    m.running_var.uniform_(0.5, 2.0)
        x = torch.randn(args.images, 3, 32, 32, generator=g)
        y = torch.randint(0, 10, (args.images,), generator=g)
    model = model.to(device).eval()
    x, y = x.to(device), y.to(device)
    return model, [(x[s:s + args.batch_size], y[s:s + args.batch_size]) for s in range(0, len(x), args.batch_size)]


def pyhessian_jobs(model, batches, device, top_k: int, trace: bool) -> dict[str, Callable[[], tuple]]:
    """PyHessian's own loops, as jobs returning (eigenvalues, HVPs) or (trace samples,)."""
    try:
        from pyhessian import hessian as PyHessian
    except ImportError:
        print("PyHessian is not installed here: its rows are left out (see this script's docstring to add them)")
        return {}
    criterion = torch.nn.CrossEntropyLoss()

    def tidy() -> None:
        model.eval()
        for p in model.parameters():  # PyHessian leaves gradients (with their graphs) on the model
            p.grad = None

    def eigen(k: int) -> tuple:
        torch.manual_seed(0)
        h = PyHessian(model, criterion, dataloader=batches, cuda=device.type == "cuda")
        calls = [0]
        inner = h.dataloader_hv_product

        def counted(v):
            calls[0] += 1
            return inner(v)

        h.dataloader_hv_product = counted
        values, _ = h.eigenvalues(maxIter=100, tol=1e-3, top_n=k)
        tidy()
        return np.array(values), calls[0]

    def hutch() -> tuple:
        torch.manual_seed(0)
        h = PyHessian(model, criterion, dataloader=batches, cuda=device.type == "cuda")
        samples = np.array(h.trace(maxIter=100, tol=1e-3))
        tidy()
        return (samples,)

    jobs = {f"PyHessian power iteration, top {k}": (lambda k=k: eigen(k)) for k in sorted({1, top_k})}
    if trace:
        jobs["PyHessian Hutchinson"] = hutch
    return jobs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--case", choices=["digits", "resnet20", "resnet56"], default="digits")
    ap.add_argument("--images", type=int, default=256, help="CIFAR-shaped images (ResNet cases)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--top-k", type=int, default=1, help="also time the top K (PyHessian: K power iterations)")
    ap.add_argument("--probes", type=int, default=None, help="trace probes (default: as many as PyHessian used)")
    ap.add_argument("--vmap", type=int, default=4, help="vectors per pass of the batched rows (1: none)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of every row, interleaved; the fastest counts")
    ap.add_argument("--no-trace", action="store_true")
    args = ap.parse_args()
    device = torch.device(args.device)
    model, batches = case(args, device)
    fn = batch_loss(cross_entropy, classification=True)
    n = sum(len(b[1]) for b in batches)
    params = sum(p.numel() for p in model.parameters())
    print(f"case {args.case}: {params:,} parameters, {n} samples in batches of {args.batch_size}, device {device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()}, "
          f"load average {os.getloadavg()[0]:.2f} before; fastest of {args.repeat} interleaved runs per row")

    hessian(model, batches[:1], fn, HessianSettings(top_k=1, max_steps=2))  # warm-up
    ref = hessian(model, batches, fn, HessianSettings(top_k=args.top_k, max_steps=300, tol=1e-8))

    eig_jobs = {k: v for k, v in pyhessian_jobs(model, batches, device, args.top_k, not args.no_trace).items()}
    trace_jobs = {k: eig_jobs.pop(k) for k in list(eig_jobs) if "Hutchinson" in k}
    for k in sorted({1, args.top_k}):
        for mode in HvpMode:
            def job(k=k, mode=mode) -> tuple:
                r = hessian(model, batches, fn, HessianSettings(top_k=k, tol=1e-3, hvp_mode=mode))
                return r.eigenvalues, r.hvps
            eig_jobs[f"landscape Lanczos, top {k}, {mode.value}-over-reverse HVPs"] = job
    probes = [args.probes]
    if not args.no_trace:
        for mode in HvpMode:
            for per_pass in [1] + ([args.vmap] if args.vmap > 1 else []):
                op = HessianOperator(model, batches, fn, mode=mode, vectors_per_pass=per_pass)
                op.count()  # the one forward pass that counts the samples, not timed
                label = f"landscape Hutchinson, {mode.value}-over-reverse"
                label += f", {per_pass} vectors per pass" if per_pass > 1 else ""
                trace_jobs[label] = lambda op=op: (hutchinson(op, probes[0] or 100),)

    best: dict[str, float] = {}
    out: dict[str, tuple] = {}
    for _ in range(args.repeat):
        for name, job in {**eig_jobs, **trace_jobs}.items():
            sync(device)
            t0 = time.perf_counter()
            out[name] = job()
            sync(device)
            best[name] = min(best.get(name, np.inf), time.perf_counter() - t0)
            if name == "PyHessian Hutchinson" and probes[0] is None:
                probes[0] = len(out[name][0])
    print(f"load average {os.getloadavg()[0]:.2f} after")

    print(f"\nTop eigenvalue (reference λ1 = {ref.eigenvalues[0]:.6g}: Lanczos to tol 1e-8, {ref.hvps} HVPs)\n")
    print("| method | top eigenvalue(s) | rel. err of λ1 | HVPs | seconds | ms/HVP | speed-up |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    base_by_k: dict[int, float] = {}
    for name in eig_jobs:
        (values, hvps), sec = out[name], best[name]
        k = len(values)
        base_by_k.setdefault(k, sec)
        err = abs(values[0] - ref.eigenvalues[0]) / abs(ref.eigenvalues[0])
        shown = ", ".join(f"{v:.5g}" for v in values)
        print(f"| {name} | {shown} | {err:.1e} | {hvps} | {sec:.2f} | {1e3 * sec / hvps:.1f} "
              f"| {base_by_k[k] / sec:.2f}× |")
    if args.top_k > 1:
        worst = {name: np.max(np.abs(out[name][0] - ref.eigenvalues) / np.abs(ref.eigenvalues))
                 for name in eig_jobs if len(out[name][0]) == args.top_k}
        print("\nlargest rel. err over the top-k: " + "; ".join(f"{k}: {e:.1e}" for k, e in worst.items()))
    if trace_jobs:
        print(f"\nTrace ({probes[0] or 100} Rademacher probes in every landscape row)\n")
        print("| method | trace ± stderr | probes | seconds | ms/probe | speed-up |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        first = None
        for name in trace_jobs:
            res, sec = out[name][0], best[name]
            if isinstance(res, np.ndarray):  # PyHessian's samples
                value, err, count = res.mean(), res.std(ddof=1) / np.sqrt(len(res)), len(res)
            else:
                value, err, count = res.value, res.stderr, res.probes
            first = first or sec / count
            print(f"| {name} | {value:.5g} ± {err:.2g} | {count} | {sec:.2f} | {1e3 * sec / count:.1f} | "
                  f"{first / (sec / count):.2f}× |")


if __name__ == "__main__":
    main()
