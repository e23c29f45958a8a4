#!/usr/bin/env bash
# Set up (or reuse) .venv and run the main job on the open body; outputs go to out/demo/.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
OUT="${1:-out/demo}"
mkdir -p "$OUT"
echo "== the open body: topology and symmetry"
uvkit info --template open
