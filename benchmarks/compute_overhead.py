"""What `landscape compute` adds per point over the evaluator alone (the file, the journal,
the progress callbacks): the marginal cost of a point, (T(N2) − T(N1)) / (N2 − N1), of
`landscape.compute` on two grid sizes against the evaluator's ms per point on the same plan.

    python benchmarks/compute_overhead.py                 # the demo's CNN over the 1,437 digits
    python benchmarks/compute_overhead.py --case resnet20 --images 256
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import landscape as ls  # noqa: E402
from landscape.engine import plan_for, resolve_device, tune_cpu_allocator  # noqa: E402
from landscape.inputs.objective import Objective, cross_entropy  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", choices=["digits", "resnet20"], default="digits")
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--small", type=int, default=5, help="points per axis of the smaller grid")
    ap.add_argument("--large", type=int, default=12, help="points per axis of the larger grid")
    args = ap.parse_args()
    tune_cpu_allocator()
    folder = Path(tempfile.mkdtemp())
    if args.case == "digits":
        spec, data = ls.ModelSpec("landscape.models:digits_cnn"), ls.DataSpec("digits")
    else:
        spec = ls.ModelSpec("landscape.models:resnet20")
        g = torch.Generator().manual_seed(0)
        torch.save({"x": torch.randn(args.images, 3, 32, 32, generator=g),
                    "y": torch.randint(0, 10, (args.images,), generator=g)}, folder / "data.pt")
        data = ls.DataSpec(str(folder / "data.pt"))
    torch.manual_seed(0)
    from landscape.inputs.checkpoint import build_model
    torch.save(build_model(spec).state_dict(), folder / "m.pt")

    def run(n: int) -> float:
        job = ls.ComputeJob(folder / "m.pt", ls.Grid.linspace((-1, 1, n), (-1, 1, n)), folder / f"s{n}.h5", spec, data,
                            overwrite=True)
        t0 = time.perf_counter()
        ls.compute(job)
        return time.perf_counter() - t0

    run(3)  # warm-up: imports, first allocations
    t_small, t_large = run(args.small), run(args.large)
    marginal = (t_large - t_small) / (args.large**2 - args.small**2)

    model = ls.load_model(folder / "m.pt", spec)
    tensors = ls.load_data(data)
    device = resolve_device("auto")
    plan, objective = plan_for(model, tensors, Objective(loss=cross_entropy), ls.EvalSettings(), device, args.large**2)
    ev = ls.Evaluator(model, tensors, ls.random_directions(model), objective, plan, device)
    coords = ls.Grid.linspace((-1, 1, args.large), (-1, 1, args.large)).coords(np.arange(args.large**2))
    ev.evaluate(coords[:2])
    t0 = time.perf_counter()
    ev.evaluate(coords)
    per_point = (time.perf_counter() - t0) / len(coords)
    print(f"case {args.case}, {len(tensors)} samples, {device}, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}")
    print(f"landscape compute: {args.small}x{args.small} in {t_small:.2f} s, {args.large}x{args.large} in {t_large:.2f} s:"
          f" marginal {1e3 * marginal:.2f} ms/point")
    print(f"evaluator alone: {1e3 * per_point:.2f} ms/point; compute's marginal cost is "
          f"{100 * (marginal / per_point - 1):+.1f}% of it")


if __name__ == "__main__":
    main()
