#!/usr/bin/env bash
# Regenerate the README's figures and its gallery from the demo: bash docs/figures.sh [--demo]
set -euo pipefail
cd "$(dirname "$0")/.."
python docs/gallery.py "$@"
# the schedules story's two figures (`landscape demo --schedules`, about a minute on 2 cores)
python -m landscape demo --schedules --quiet > /dev/null
cp outputs/schedules/schedules.trajectory.contour.png docs/schedules.trajectory.contour.png
cp outputs/schedules/constant+step+cosine-restarts+swa.*.sharpness.png docs/schedules.sharpness.png
