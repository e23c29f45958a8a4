#!/usr/bin/env bash
# Set up (or reuse) .venv and run the whole test suite. Extra arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
exec python -m pytest -n 2 "$@"
