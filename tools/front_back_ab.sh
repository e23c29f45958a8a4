#!/usr/bin/env bash
# What the front-back cues of the synthetic people are worth, measured on people all around:
# the same training run (configs/cpu_small.yaml: ResNet-18 from scratch, 96 px; 2000 people,
# stage 1 250 steps + stage 2 250 steps) on people painted with the cues and without them
# (decomr-synth --plain-appearance; the same bodies, poses and cameras), each scored on 128
# held-out people of its own look against the mean body. Outputs in ${OUT:-out/front_back}.
# About 8 minutes per variant on an idle 2-core machine.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
OUT="${OUT:-out/front_back}"
UV=assets/open_body_uv.npz
for variant in cues plain; do
  flag=""
  [ "$variant" = plain ] && flag="--plain-appearance"
  decomr-synth --out "$OUT/train_$variant" --n 2000 --seed 0 --size 96 --uv "$UV" $flag --no-progress
  decomr-synth --out "$OUT/test_$variant" --n 128 --seed 1000003 --size 96 --uv "$UV" $flag --no-progress
  [ -f "$OUT/mean_$variant/summary.json" ] || \
    decomr-eval --mean-body "$OUT/train_$variant" --data "$OUT/test_$variant" --out "$OUT/mean_$variant"
  resume=""
  [ -f "$OUT/runs/$variant/checkpoints/last.pt" ] && resume="run.resume=last"
  if [ ! -f "$OUT/runs/$variant/checkpoints/stage2.pt" ]; then
    decomr-train --config configs/cpu_small.yaml --no-progress "data.paths=[$OUT/train_$variant]" \
      optim.stage1_epochs=2 optim.stage2_epochs=2 "run.out_dir=$OUT/runs/$variant" $resume
  fi
  decomr-eval --checkpoint "$OUT/runs/$variant/checkpoints/stage2.pt" --data "$OUT/test_$variant" \
    --out "$OUT/eval_$variant" --compare-to "$OUT/mean_$variant"
done
