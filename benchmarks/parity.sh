#!/bin/bash
# Bit-identical outputs across a change: the demo's files, a ResNet-20 5x4 surface and a Hessian
# file, made by two commits on the same machine, every numeric array and every settings record
# (what a resumed run must match) compared by its digest.
#   bash benchmarks/parity.sh BEFORE_COMMIT [AFTER_COMMIT]   (default after: the working tree)
set -euo pipefail
before=$1; after=${2:-}
work=$(mktemp -d); trap 'git worktree remove --force "$work/before" >/dev/null 2>&1 || true' EXIT
root=$(git rev-parse --show-toplevel)
git -C "$root" worktree add -q --detach "$work/before" "$before"
if [ -n "$after" ]; then git -C "$root" worktree add -q --detach "$work/after" "$after"; else ln -s "$root" "$work/after"; fi
python - "$work" <<'PY'
import sys, numpy as np, torch
g = torch.Generator().manual_seed(0)
x, y = torch.randn(64, 3, 32, 32, generator=g), torch.randint(0, 10, (64,), generator=g)
np.savez(f"{sys.argv[1]}/cifar.npz", x=x.numpy(), y=y.numpy())
PY
for side in before after; do
  (cd "$work/$side"
   out="$work/out-$side"
   python -c "import sys, torch; sys.path.insert(0, '.'); from landscape.models import resnet20; torch.manual_seed(1); torch.save(resnet20().state_dict(), '$work/r20.pt')"
   python cli.py demo --out-dir "$out/demo" --quiet
   python cli.py compute "$work/r20.pt" --model landscape.models:resnet20 --data "$work/cifar.npz" --x -1:1:5 --y -1:1:4 \
       --out "$out/r20.surface.h5" --quiet
   python cli.py hessian "$out/demo/epoch_8.pt" --model landscape.models:digits_cnn --top-k 2 --trace --samples 200 \
       --out "$out/h.hessian.h5" --quiet > /dev/null
   python "$root/benchmarks/parity_digest.py" "$out" > "$work/$side.txt")
done
if diff "$work/before.txt" "$work/after.txt"; then
  echo "identical: $(grep -vc ':settings ' "$work/after.txt") arrays and $(grep -c ':settings ' "$work/after.txt") settings records"
else
  echo "arrays differ (above)"; exit 1
fi
