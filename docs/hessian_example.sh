#!/usr/bin/env bash
# The README's worked example of `landscape hessian`, `sharpness` and basins, on the demo's CNN:
# bash docs/hessian_example.sh   (runs the demo first if its checkpoints are missing)
set -euo pipefail
cd "$(dirname "$0")/.."
M="--model landscape.models:digits_cnn"
[ -f outputs/demo/epoch_8.pt ] || landscape demo --out-dir outputs/demo --quiet
landscape hessian outputs/demo/epoch_8.pt $M --top-k 5 --trace --density --plot --out outputs/demo/epoch_8.hessian.h5 --overwrite
landscape compute outputs/demo/epoch_8.pt $M --directions outputs/demo/epoch_8.hessian.h5 --x auto:31 --y auto:31 \
  --out outputs/demo/hessian-plane.h5 --overwrite --quiet
landscape plot outputs/demo/hessian-plane.h5 --kind contour --dpi 110 --out docs
cp outputs/demo/epoch_8.hessian.density.png docs/hessian.density.png
landscape sharpness outputs/demo/epoch_2.pt outputs/demo/epoch_4.pt outputs/demo/epoch_8.pt $M --out outputs/demo/sharpness --overwrite
landscape info outputs/demo/demo.surface.h5 | grep -E "basins|smoothness"
