#!/usr/bin/env bash
# One command for a lent GPU machine (at most 9 minutes): CUDA tests, on-device synthetic people
# and training throughput (ResNet-50, batch 128, 224 px, bf16), training on the fly for the time
# left, checkpoint, evaluation and log, all under OUTDIR. Details: tools/gpu_run.py.
#
#   tools/gpu_run.sh OUTDIR                         # on a CUDA machine
#   tools/gpu_run.sh OUTDIR --device cpu --smoke    # every step at a tiny size, on a CPU
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: tools/gpu_run.sh OUTDIR [--device cpu --smoke] [--budget SECONDS]" >&2
    exit 2
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
if [ -z "${VIRTUAL_ENV:-}" ] && [ -f "$root/.venv/bin/activate" ]; then
    # shellcheck disable=SC1091
    source "$root/.venv/bin/activate"
fi
# OpenMP threads that sleep instead of spinning: on a shared or loaded CPU spinning threads
# make every parallel region wait for a descheduled peer
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
mkdir -p "$1"
exec timeout --signal=TERM --kill-after=20 560 python "$here/gpu_run.py" "$@"
