#!/usr/bin/env bash
# Set up (or reuse) .venv and run the main job on the open body; outputs go to out/demo/.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
OUT="${1:-out/demo}"
mkdir -p "$OUT"
echo "== 1. the open body: topology, symmetry, rig"
uvkit info --template open
echo "== 2. its continuous, symmetric UV map"
uvkit build-uv --template open -o "$OUT/open_body_uv.npz" --figure "$OUT/open_body_uv.png"
echo "== 3. its native artist atlas as a UV map file"
uvkit import-uv native --template open -o "$OUT/open_body_native_uv.npz"
echo "== 4. the two maps compared (S1/S2, distortion, round trip, figures)"
uvkit compare "$OUT/open_body_uv.npz" "$OUT/open_body_native_uv.npz" --names continuous,native --template open --out "$OUT/compare"
echo "== outputs"
ls -1 "$OUT" "$OUT/compare"
