#!/usr/bin/env bash
# One-command GPU smoke test (one CUDA GPU, bf16; no network needed): LLM training throughput with
# SmolLM2-135M's architecture, then the quickstart end to end with held-out macro-F1 (see
# scripts/gpu_smoke.py). On a machine whose Python lacks medmllm's dependencies, put their wheels
# in .whl/ (pip download --no-deps ...): they are installed into a temporary folder first.
#   bash scripts/gpu_smoke.sh [--tiny] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-python3}"
if compgen -G ".whl/*.whl" >/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/medmllm-site .whl/*.whl
  export PYTHONPATH="/tmp/medmllm-site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
exec $PY scripts/gpu_smoke.py "$@"
