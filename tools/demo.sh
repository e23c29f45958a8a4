#!/usr/bin/env bash
# Set up (or reuse) .venv and run the main job on the open body: its UV maps, their comparison,
# a short synthetic training run on the CPU, evaluation against the mean body, and prediction on
# held-out synthetic images and on one real photo, with the short run's model and with the released
# one. Outputs go to out/demo/ (or the folder given).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
OUT="${1:-out/demo}"
mkdir -p "$OUT"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
start=$SECONDS
step() { echo; echo "== [$((SECONDS - start)) s] $*"; }

step "1. the open body: topology, symmetry, rig"
uvkit info --template open
step "2. its continuous, symmetric UV map"
uvkit build-uv --template open -o "$OUT/open_body_uv.npz" --figure "$OUT/open_body_uv.png"
step "3. its native artist atlas as a UV map file"
uvkit import-uv native --template open -o "$OUT/open_body_native_uv.npz"
step "4. the two maps compared (S1/S2, distortion, round trip, figures)"
uvkit compare "$OUT/open_body_uv.npz" "$OUT/open_body_native_uv.npz" --names continuous,native \
    --template open --out "$OUT/compare" --poses 2
step "5. synthetic people facing the camera within 45 degrees: a training set and a held-out test set (96 px)"
decomr-synth --out "$OUT/synth/train" --n 1600 --seed 0 --size 96 --yaw=-45,45 --uv "$OUT/open_body_uv.npz" --no-progress
decomr-synth --out "$OUT/synth/test" --n 96 --seed 1000003 --size 96 --yaw=-45,45 --uv "$OUT/open_body_uv.npz" --no-progress
step "6. a short CPU training run (ResNet-18, configs/cpu_small.yaml)"
decomr-train --config configs/cpu_small.yaml --no-progress model.uv_map="$OUT/open_body_uv.npz" \
    data.paths="[$OUT/synth/train]" run.out_dir="$OUT/train"
step "7. evaluation on the held-out test set, next to the mean body"
decomr-eval --mean-body "$OUT/synth/train" --data "$OUT/synth/test" --out "$OUT/eval/mean_body"
decomr-eval --checkpoint "$OUT/train/checkpoints/last.pt" --data "$OUT/synth/test" --out "$OUT/eval/model" \
    --compare-to "$OUT/eval/mean_body"
step "8. prediction: held-out synthetic images and a real photo (scikit-image's astronaut)"
python - "$OUT/photos" <<'PY'
import sys
from pathlib import Path

from PIL import Image
from skimage import data

folder = Path(sys.argv[1])
folder.mkdir(parents=True, exist_ok=True)
Image.fromarray(data.astronaut()).save(folder / "astronaut.png")
PY
decomr-predict --checkpoint "$OUT/train/checkpoints/last.pt" "$OUT"/synth/test/samples/00000/0000000[0-3].png \
    "$OUT/photos/astronaut.png" --out "$OUT/predict" --texture --views \
    || echo "(decomr-predict: some images gave no result; see $OUT/predict/predictions.json)"
step "9. the released model (assets/models/decomr_open_resnet18.pt: trained longer, on people seen from every side) on the same images"
decomr-predict "$OUT"/synth/test/samples/00000/0000000[0-3].png "$OUT/photos/astronaut.png" \
    --out "$OUT/predict_released" --texture --views \
    || echo "(decomr-predict: some images gave no result; see $OUT/predict_released/predictions.json)"
step "done in $((SECONDS - start)) s; outputs:"
find "$OUT" -maxdepth 3 -not -path "$OUT/synth/*" \( -name "*.png" -o -name "*.json" -o -name "*.npz" \
    -o -name "*.obj" -o -name "*.pt" \) | sort
echo "(a ${SECONDS}-second CPU run gives a rough body; docs/training.md says how to train properly)"
