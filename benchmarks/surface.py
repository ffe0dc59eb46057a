"""Time one grid point of a loss surface, the paper's way against landscape's and against the
ceiling (a BN-folded forward with fixed weights cast to the evaluation dtype, compiled with
max-autotune: what a forward costs when no per-point weights are made), and print a table.

    python benchmarks/surface.py --device cuda                      # ResNet-56, 10k CIFAR-shaped images
    python benchmarks/surface.py --device cuda --images 50000       # the paper's full training set
    python benchmarks/surface.py --device cpu --case digits         # the demo's CNN, 1,797 digits
    python benchmarks/surface.py --device cpu --images 512          # ResNet-56 rows on any machine

Every row evaluates the same points of the same plane on the same data, after a warm-up;
inputs are seeded random numbers (timing does not depend on pixel values) except for the
digits case, which uses the real digits. Columns: ms per point, images/s, speed-up over the
first row, the time of a whole 51×51 figure (at 50,000 images for CIFAR, at the case's
images for digits), and the largest relative loss difference from landscape fp32.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from landscape.inputs.data import TensorData  # noqa: E402
from landscape.plane.directions import DirectionSpec, random_directions  # noqa: E402
from landscape.engine import (Compile, EvalSettings, Evaluator, Launch, Precision, plan_for,  # noqa: E402
                              precision_context, resolve_device, tune_cpu_allocator)
from landscape.engine.fold import find_pairs, folded_model  # noqa: E402
from landscape.engine.device import cpu_has_bf16  # noqa: E402
from landscape.inputs.objective import Objective, cross_entropy  # noqa: E402
from landscape.models import DigitsCNN, resnet56  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def case_data(args: argparse.Namespace) -> tuple[torch.nn.Module, TensorData, int]:
    """(model, data on the CPU, images of the whole-figure estimate)."""
    g = torch.Generator().manual_seed(0)
    if args.case == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
        torch.manual_seed(0)
        return DigitsCNN().eval(), TensorData(x, torch.tensor(d.target)), len(x)
    torch.manual_seed(0)
    model = resnet56().eval()
    with torch.no_grad():  # trained-looking BatchNorm statistics, so folding is not a no-op
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    x = torch.randn(args.images, 3, 32, 32, generator=g)
    return model, TensorData(x, torch.randint(0, 10, (args.images,), generator=g)), 50_000


def paper_loop(model, data, dirs, coords, device, loader: bool) -> tuple[float, np.ndarray]:
    """Weights written into the model in place per point, batches of 128, `.item()` per batch;
    with `loader`, batches come from a DataLoader over CPU tensors (the paper's code)."""
    net = copy.deepcopy(model).to(device).eval()
    params = dict(net.named_parameters())
    base = {k: v.detach().clone() for k, v in params.items()}
    d1 = {k: v.to(device) for k, v in dirs.x.items()}
    d2 = {k: v.to(device) for k, v in dirs.y.items()}
    if loader:
        batches = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data.x, data.y), batch_size=128)
    else:
        xs, ys = data.x.to(device), data.y.to(device)
        batches = [(xs[s : s + 128], ys[s : s + 128]) for s in range(0, len(xs), 128)]
    losses = []
    t0 = 0.0
    with torch.no_grad():
        for i, (a, b) in enumerate(coords):
            if i == 1:
                sync(device)
                t0 = time.perf_counter()  # the first point is the warm-up
            for k, p in params.items():
                p.copy_(base[k] + a * d1[k] + b * d2[k])
            total, correct = 0.0, 0
            for xb, yb in batches:
                xb, yb = xb.to(device), yb.to(device)
                out = net(xb)
                total += F.cross_entropy(out, yb).item() * len(yb)
                correct += (out.argmax(1) == yb).sum().item()
            losses.append(total / len(data))
    return (time.perf_counter() - t0) / (len(coords) - 1), np.array(losses[1:])


def landscape_rows(model, data, dirs, coords, settings: EvalSettings) -> tuple[float, np.ndarray, str]:
    """Per-point time of landscape's evaluator under the plan resolved from `settings`."""
    device = resolve_device(settings.device)
    plan, objective = plan_for(model, data, Objective(loss=cross_entropy), settings, device, 51 * 51)
    ev = Evaluator(model, data, dirs, objective, plan, device)
    t_setup = time.perf_counter()
    ev.evaluate(coords[:2])  # warm-up (compiles)
    setup = time.perf_counter() - t_setup
    sync(ev.device)
    t0 = time.perf_counter()
    loss, _ = ev.evaluate(coords[1:])
    per_point = (time.perf_counter() - t0) / (len(coords) - 1)
    plan_text = f"{plan.precision.value}, batch {plan.batch_size}, CL {'on' if plan.channels_last else 'off'}, " \
                f"compile {plan.compile.value}"
    return per_point, loss, f"warm-up {setup:.1f} s; {plan_text}"


def ceiling_row(model, data, coords, device: torch.device, precision: Precision, batch: int, mode: str
                ) -> tuple[float, np.ndarray, str]:
    """A BN-folded forward with fixed weights cast to the evaluation dtype, compiled: the cost of
    the forward passes alone, which per-point weights can at best match. The loss is that of the
    centre point at every point (the weights never change), so its difference column is not comparable."""
    net = folded_model(model, find_pairs(model)).to(device).eval()
    dtype = precision.autocast_dtype
    cl = data.x.dim() == 4 and (device.type == "cpu" or dtype is not None)
    if dtype is not None:
        net = net.to(dtype)
    if cl:
        net = net.to(memory_format=torch.channels_last)
    x = data.x.to(device, dtype or torch.float32)
    if cl:
        x = x.contiguous(memory_format=torch.channels_last)
    y = data.y.to(device)
    fwd = torch.compile(net, mode=mode, dynamic=False)
    n = len(x)

    def point() -> torch.Tensor:
        total = torch.zeros((), dtype=torch.float64, device=device)
        for s in range(0, n, batch):
            xb = x[s : s + batch]
            if len(xb) < batch:
                xb = torch.cat([xb, xb.new_zeros((batch - len(xb),) + xb.shape[1:])])
            out = fwd(xb)[: min(batch, n - s)].float()
            total += cross_entropy(out, y[s : s + batch]).double() * min(batch, n - s)
        return total

    t_setup = time.perf_counter()
    with torch.no_grad(), precision_context(precision, device):
        point()
        setup = time.perf_counter() - t_setup
        sync(device)
        t0 = time.perf_counter()
        losses = torch.stack([point() for _ in coords[1:]])
        sync(device)
    per_point = (time.perf_counter() - t0) / (len(coords) - 1)
    return per_point, losses.cpu().numpy() / n, f"warm-up {setup:.1f} s; {precision.value}, batch {batch}, {mode}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--case", choices=["resnet56", "digits"], default="resnet56")
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--points", type=int, default=64, help="timed grid points (after one warm-up point)")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--skip-paper", action="store_true", help="leave out the slow DataLoader row")
    ap.add_argument("--compile", action="store_true", help="add torch.compile rows (slow to compile on a CPU)")
    args = ap.parse_args()

    device = torch.device(args.device)
    model, data, figure_images = case_data(args)
    dirs = random_directions(model, DirectionSpec(seed=0))
    side = int(np.ceil(np.sqrt(args.points + 1)))
    xs = np.linspace(-1, 1, side)
    coords = np.array([(x, y) for y in xs for x in xs])[: args.points + 1]
    base = EvalSettings(device=args.device, batch_size=args.batch_size)

    rows: list[tuple[str, float, np.ndarray, str]] = []
    if not args.skip_paper:
        rows.append(("paper's loop: in-place weights, DataLoader, .item() per batch",
                     *paper_loop(model, data, dirs, coords, device, loader=True), ""))
    rows.append(("hand-written loop: in-place weights, resident data, batches of 128",
                 *paper_loop(model, data, dirs, coords, device, loader=False), ""))
    if device.type == "cpu":  # what `landscape compute` does first; shown on the loop too, to be fair
        tune_cpu_allocator()
        rows.append(("hand-written loop, glibc tuned as landscape does",
                     *paper_loop(model, data, dirs, coords, device, loader=False), ""))
    fixed = dataclasses.replace(base, compile=Compile.off)  # variants isolate one choice each, uncompiled
    low = device.type == "cuda" or cpu_has_bf16()
    variants = [
        ("landscape default (the plan's choices)", base),
        ("landscape fp32", dataclasses.replace(fixed, precision=Precision.fp32)),
        ("landscape tf32", dataclasses.replace(fixed, precision=Precision.tf32)),
        ("landscape fp32, no BN folding, no channels-last",
         dataclasses.replace(fixed, precision=Precision.fp32, fold_bn=False, channels_last=False)),
        ("landscape fp32, first-layer maps forced on", dataclasses.replace(fixed, precision=Precision.fp32,
                                                                           first_layer=True)),
    ]
    if low:
        variants.insert(3, ("landscape bf16", dataclasses.replace(fixed, precision=Precision.bf16)))
    else:
        print("note: this CPU has no native bfloat16 (emulated, ~10x slower than fp32): bf16 rows left out")
    compile_mode = Compile.cudagraphs if device.type == "cuda" else Compile.default
    if args.compile:
        variants.append((f"landscape fp32 + compile ({compile_mode.value})",
                         dataclasses.replace(base, precision=Precision.fp32, compile=compile_mode)))
        if low:
            variants.append((f"landscape bf16 + compile ({compile_mode.value})",
                             dataclasses.replace(base, precision=Precision.bf16, compile=compile_mode)))
    if device.type == "cpu":
        variants.append(("landscape fp32, vmap over 8 points", dataclasses.replace(fixed, precision=Precision.fp32,
                                                                                   launch=Launch.vmap)))
    for name, settings in variants:
        rows.append((name, *landscape_rows(model, data, dirs, coords, settings)))
    if args.compile:
        batch = args.batch_size or min(len(data), 1000 if device.type == "cuda" else 512)
        for precision in (Precision.fp32, Precision.bf16) if low else (Precision.fp32,):
            rows.append((f"ceiling: folded, fixed {precision.value} weights, max-autotune",
                         *ceiling_row(model, data, coords, device, precision, batch, "max-autotune")))

    ref_loss = next(r[2] for r in rows if r[0] == "landscape fp32")
    first = rows[0][1]
    threads = torch.get_num_threads()
    print(f"\ncase {args.case}: {len(data)} images per point, {args.points} timed points, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else f", {threads} threads")
          + f", torch {torch.__version__}, {time.strftime('%Y-%m-%d')}")
    print(f"{'way of evaluating one point':<64} {'ms/point':>9} {'images/s':>10} {'speed-up':>8} "
          f"{'51x51 figure':>13} {'max rel diff':>12}  notes")
    for name, sec, loss, notes in rows:
        figure = sec * 51 * 51 * figure_images / len(data)
        diff = float(np.max(np.abs(loss - ref_loss) / np.abs(ref_loss)))
        shown = "n/a" if name.startswith("ceiling") else f"{diff:.1e}"  # fixed weights: the centre's loss everywhere
        fig = f"{figure / 60:.1f} min" if figure >= 60 else f"{figure:.1f} s"
        print(f"{name:<64} {1e3 * sec:>9.2f} {len(data) / sec:>10.0f} {first / sec:>7.2f}x {fig:>13} {shown:>12}  {notes}")
    best = min((r for r in rows[1:] if not r[0].startswith("ceiling")), key=lambda r: r[1])
    loop = next(r[1] for r in rows if r[0].startswith("hand-written loop:"))
    default = next(r[1] for r in rows if r[0].startswith("landscape default"))
    print(f"best: {best[0]}: {first / best[1]:.2f}x the first row, {loop / best[1]:.2f}x the hand-written loop; "
          f"landscape default {loop / default:.2f}x the hand-written loop")
    ceilings = [r for r in rows if r[0].startswith("ceiling")]
    if ceilings:
        print("distance from the ceiling (ms/point over the ceiling's): "
              + "; ".join(f"{r[0].split(':')[0]} {c[0].split(',')[1].strip().split()[1]}: {r[1] / c[1]:.2f}x"
                          for c in ceilings for r in rows if r[0] in (best[0], "landscape default (the plan's choices)")))


if __name__ == "__main__":
    main()
