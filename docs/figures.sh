#!/usr/bin/env bash
# Regenerate the README's figures and its gallery from the demo: bash docs/figures.sh [--demo]
set -euo pipefail
cd "$(dirname "$0")/.."
python docs/gallery.py "$@"
