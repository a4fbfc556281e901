#!/usr/bin/env bash
# The embedded default, end to end. DEMO_SHORT=1 runs a short mode (CI, tests).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}" HF_HUB_OFFLINE=1
PY="${PY:-.venv/bin/python}"
OUT="${DEMO_OUT:-demo-out}"
mkdir -p "$OUT"
MM="$PY -m medmllm"

echo "== 1. Real assets: inspect a chest radiograph and CT slices, write previews to $OUT/"
XRAY=$($PY -c "from pydicom.data import get_testdata_file as g; print(g('RG1_UNCR.dcm'))")
CT=$($PY -c "from pydicom.data import get_testdata_file as g; print(g('CT_small.dcm'))")
$MM inspect "$XRAY" --preview "$OUT/rg1_xray.png"
$MM inspect "$CT" --preview "$OUT/ct_small.png"
