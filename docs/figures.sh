#!/usr/bin/env bash
# Regenerate the README's figures from the demo: bash docs/figures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
landscape demo --out-dir outputs/demo --quiet
landscape plot outputs/demo/demo.surface.h5 --kind contour,surface --dpi 110 --out docs
landscape plot outputs/demo/demo.trajectory.h5 --kind contour --dpi 110 --out docs
landscape plot outputs/demo/demo.interpolation.h5 --dpi 110 --out docs
