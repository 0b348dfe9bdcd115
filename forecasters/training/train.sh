#!/usr/bin/env bash
# Trains careflow's forecasters and writes forecasters/models/<name>/<version>/{model.onnx,card.json}
# plus the Rust parity fixtures in forecasters/tests/fixtures/.
# Usage: forecasters/training/train.sh [ed_arrivals|bed_demand|surgery_duration|scanner_no_show ...]
# (no argument: all). Creates .tools/train-venv from requirements.txt on first use.
# ed_arrivals trains ed-arrivals 1.2.0 and prints the rolling-year selection table;
# ed_arrivals_1_1_0 (not in the default list) retrains the earlier 1.1.0 recipe.
# Runs at low priority with one BLAS thread: the machine is shared, and results must not depend on threads.
set -euo pipefail
cd "$(dirname "$0")"
ROOT="$(cd ../.. && pwd)"
VENV="$ROOT/.tools/train-venv"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! cmp -s requirements.txt "$VENV/.careflow-requirements.txt"; then
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt
  cp requirements.txt "$VENV/.careflow-requirements.txt"
fi
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONHASHSEED=0
models=("$@")
[ ${#models[@]} -eq 0 ] && models=(ed_arrivals bed_demand surgery_duration scanner_no_show)
for m in "${models[@]}"; do
  echo "train.sh: training $m" >&2
  nice -n 10 "$VENV/bin/python" "$m.py"
done
