"""What recording costs a training run: the wall time of a loop with a `Recorder` over the same
loop without one, for the demo's digits CNN and a small GPT-2, with sharpness every N steps.

    python benchmarks/training_overhead.py                      # N = 100, both models
    python benchmarks/training_overhead.py --every 100,300 --repeats 3

Each configuration trains the same steps from the same weights and batch order:
- plain: no recorder;
- checkpoints: a Recorder saving a checkpoint every N steps (and the per-step learning rate);
- critical only: the same plus the critical sharpness every N steps (forward passes, a gradient
  and the optimizer's virtual step) on a fixed batch of the training batch's size;
- critical + λmax: and λmax warm-started at each measurement (the training batch's size, and a
  larger batch);
- critical, λmax every 10 N: λmax at every tenth measurement only.
Two overheads, each the median of `--repeats` runs, alternated so that drifts of the machine's
speed fall on all of them alike: the time the recorder itself spent (its own clock around every
call: saving, logging, measuring) over the plain loop's time, the steadier figure; and the wall
clock, (t_recorded − t_plain) / t_plain, which also carries the machine's noise (runs of a few
seconds on a shared 2-core VM differ by ±10% from one to the next). Threads: torch's default.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from landscape.callbacks import Recorder  # noqa: E402
from landscape.inputs.data import DataSpec, load_data  # noqa: E402
from landscape.models import DigitsCNN  # noqa: E402


def cnn_setup(steps: int):
    data = load_data(DataSpec("digits"))
    g = torch.Generator().manual_seed(0)
    order = torch.cat([torch.randperm(len(data), generator=g) for _ in range(steps * 32 // len(data) + 1)])
    batches = [(data.x[order[32 * k:32 * k + 32]], data.y[order[32 * k:32 * k + 32]]) for k in range(steps)]

    def make():
        torch.manual_seed(0)
        model = DigitsCNN()
        return model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)

    def loss(model, batch):
        return F.cross_entropy(model(batch[0]), batch[1])

    fixed = {"train batch (32)": (data.x[:32], data.y[:32]), "256": (data.x[:256], data.y[:256])}
    return make, batches, loss, fixed


def gpt_setup(steps: int):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=512, n_positions=64, n_embd=128, n_layer=2, n_head=4)
    g = torch.Generator().manual_seed(0)
    batches = []
    for _ in range(steps):
        ids = torch.randint(0, 512, (8, 64), generator=g)
        batches.append({"input_ids": ids, "labels": ids})

    def make():
        torch.manual_seed(0)
        model = GPT2LMHeadModel(config)
        model.train()
        return model, torch.optim.AdamW(model.parameters(), lr=3e-4)

    def loss(model, batch):
        return model(**batch).loss

    fixed = {"train batch (8)": batches[0], "32": {k: torch.cat([b[k] for b in batches[:4]]) for k in batches[0]}}
    return make, batches, loss, fixed


def run(make, batches, loss, recorder=None) -> float:
    model, opt = make()
    t0 = time.perf_counter()
    if recorder is not None:
        recorder.start(model, opt)
    for batch in batches:
        value = loss(model, batch)
        opt.zero_grad()
        value.backward()
        opt.step()
        if recorder is not None:
            recorder.step(model, opt)
    if recorder is not None:
        recorder.close(model)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="cnn,gpt")
    ap.add_argument("--every", default="100")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {a.steps} steps, median of {a.repeats}")
    print("| model | N | recording | fixed batch | plain s | recorder's own s | overhead | wall-clock overhead "
          "| per measurement (after the first) |")
    print("|---|---:|---|---|---:|---:|---:|---:|---:|")
    for name in a.models.split(","):
        make, batches, loss, fixed = (cnn_setup if name == "cnn" else gpt_setup)(a.steps)
        run(make, batches[:20], loss)  # warm up
        for every in [int(e) for e in a.every.split(",")]:
            first = next(iter(fixed))
            configs = ([("checkpoints", None), ("critical only", first)] + [("critical + λmax", k) for k in fixed]
                       + [(f"critical, λmax every {10 * every}", first)])
            times: dict = {"plain": []}
            spent: dict = {}
            recs: dict = {}
            for _ in range(a.repeats):
                times["plain"].append(run(make, batches, loss))
                for what, key in configs:
                    with tempfile.TemporaryDirectory() as tmp:
                        eigen = 0 if what == "critical only" else 10 * every if "every" in what else None
                        rec = Recorder(Path(tmp) / "run", every=every, quiet=True, eigen_every=eigen,
                                       sharpness_every=every if key else None, batch=fixed[key] if key else None)
                        times.setdefault((what, key), []).append(run(make, batches, loss, rec))
                        spent.setdefault((what, key), []).append(rec.spent)
                        recs[(what, key)] = rec
            plain = statistics.median(times["plain"])
            for what, key in configs:
                t = statistics.median(times[(what, key)])
                rec = recs[(what, key)]
                n = len(rec.sharpness["step"])
                warm = rec.sharpness["seconds"][1:] or rec.sharpness["seconds"]  # the first λmax starts cold
                per = f"{1000 * sum(warm) / len(warm):.0f} ms" if n else "-"
                own = statistics.median(spent[(what, key)])
                print(f"| {name} | {every} | {what} | {key or '-'} | {plain:.2f} | {own:.2f} | {100 * own / plain:.1f}% | "
                      f"{100 * (t - plain) / plain:.1f}% | {per} |", flush=True)


if __name__ == "__main__":
    main()
